package jsonkeys

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScan(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc  string
		want Result
	}{
		"task":                  {`{"task_id": 1, "x": {"idv_task_id": 2}}`, Result{Object: true, Has: 1}},
		"idv":                   {` {"idv_task_id": 2} `, Result{Object: true, Has: 2}},
		"both":                  {`{"idv_task_id": 2, "task_id": 1}`, Result{Object: true, Has: 3}},
		"escaped name":          {`{"task\u005fid": 1}`, Result{Object: true, Has: 1}},
		"other case is no name": {`{"TASK_ID": 1}`, Result{Object: true}},
		"array":                 {`[{"task_id": 1}]`, Result{}},
		"null":                  {`null`, Result{}},
		"empty object":          {`{}`, Result{Object: true}},
		"repeat, name kept":     {`{"task_id": 1, "Task_ID": 1}`, Result{Object: true, Has: 1, Duplicate: true}},
		"repeat escaped":        {`{"a\u0062": 1, "AB": 1}`, Result{Object: true, Duplicate: true}},
		"repeat not UTF-8":      {"{\"\xff\": 1, \"\xfe\": 1}", Result{Object: true, Duplicate: true}},
		"repeat past the pairs": {manyKeys(30, "K5"), Result{Object: true, Duplicate: true}},
		"many keys, no repeat":  {manyKeys(30, "other"), Result{Object: true}},
		"numbers":               {`[0, -0, 1.5e10, -2E-3, 10, 0.0]`, Result{}},
		"escapes":               {`"\"\\\/\b\f\n\r\t\u00e9"`, Result{}},
		"deepest":               {strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), Result{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.True(t, json.Valid([]byte(tc.doc)))
			got, err := Scan([]byte(tc.doc), "task_id", "idv_task_id")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// manyKeys is an object of n keys k0…k(n-1) and last.
func manyKeys(n int, last string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		b.WriteString(`"k` + string(rune('0'+i/10)) + string(rune('0'+i%10)) + `": 1, `)
	}
	b.WriteString(`"` + last + `": 2}`)
	return strings.Replace(b.String(), `"k05"`, `"k5"`, 1)
}

func TestScanRefuses(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"empty":            ``,
		"space":            ` `,
		"two values":       `{} {}`,
		"trailing comma":   `[1,]`,
		"object comma":     `{"a": 1,}`,
		"no colon":         `{"a" 1}`,
		"bare key":         `{a: 1}`,
		"unclosed":         `{"secret": 1`,
		"unclosed string":  `"abc`,
		"control char":     "\"a\x01\"",
		"bad escape":       `"\x"`,
		"short unicode":    `"\u12"`,
		"leading zero":     `01`,
		"bare minus":       `-`,
		"dot":              `1.`,
		"exponent":         `1e`,
		"plus":             `+1`,
		"word":             `nul`,
		"closing mismatch": `[1}`,
		"too deep":         strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		"vertical tab":     "\v{}",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.False(t, json.Valid([]byte(doc)))
			_, err := Scan([]byte(doc))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

// TestScanAllocations: a callback body of plain keys is scanned without
// allocating.
func TestScanAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	body, err := os.ReadFile("../../testdata/callback_task.json")
	require.NoError(t, err)
	names := []string{"task_id", "idv_task_id"}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := Scan(body, names...); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(20, func() {
		var spans [2]Span // stays on the stack
		if _, err := ScanSpans(body, names, spans[:]); err != nil || spans[0] == (Span{}) {
			t.Fatal(err, spans)
		}
	})
	assert.Zero(t, allocs, "ScanSpans")
}

// FuzzScan compares Scan with what it replaces: json.Valid for validity,
// the token-based check for repeated keys (oracleCheckUnique), and a
// decode into a map for the top-level keys.
func FuzzScan(f *testing.F) {
	for _, name := range []string{"callback_task.json", "callback_idv.json", "task_detail.json", "idv_task_quirks.json"} {
		body, err := os.ReadFile("../../testdata/" + name)
		require.NoError(f, err)
		f.Add(body)
	}
	for _, doc := range []string{`{"task_id": 1, "TASK_id": 2}`, `{"k": 1, "\u212A": 2}`, `{"task\u005fid": 1}`,
		`[{"a":{"b":1,"B":[{}]}}]`, "{\"\xff\": 1, \"\xfe\": 1}", `{"a": 1,}`, `01`, `"\ud800"`, `{"\ud800": 1, "\udc00": 2}`,
		manyKeys(30, "k29"), manyKeys(30, "\u017F")} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Scan(data, "task_id", "idv_task_id")
		valid := json.Valid(data)
		require.Equal(t, valid, err == nil, "Scan's error %v, json.Valid %v", err, valid)
		if !valid {
			return
		}
		assert.Equal(t, oracleCheckUnique(data) == ErrDuplicate, res.Duplicate, "repeated key")
		assert.Equal(t, oracleCheckUnique(data), CheckUnique(data))
		var probe map[string]json.RawMessage
		if json.Unmarshal(data, &probe) != nil {
			probe = nil // not an object
		}
		_, isTask := probe["task_id"]
		_, isIDV := probe["idv_task_id"]
		assert.Equal(t, probe != nil, res.Object, "object")
		assert.Equal(t, isTask, res.Has&1 != 0, "task_id")
		assert.Equal(t, isIDV, res.Has&2 != 0, "idv_task_id")

		// ScanSpans learns the same, and each span it sets is the value
		// encoding/json reads for that name.
		spans := make([]Span, 2)
		again, err := ScanSpans(data, []string{"task_id", "idv_task_id"}, spans)
		require.NoError(t, err)
		assert.Equal(t, res, again)
		var ids struct {
			TaskID    json.RawMessage `json:"task_id"`
			IDVTaskID json.RawMessage `json:"idv_task_id"`
		}
		if json.Unmarshal(data, &ids) != nil {
			assert.Equal(t, make([]Span, 2), spans, "spans of what is no object")
			return
		}
		for n, raw := range []json.RawMessage{ids.TaskID, ids.IDVTaskID} {
			if spans[n] != (Span{}) {
				assert.Equal(t, string(raw), string(data[spans[n].Start:spans[n].End]))
			}
		}
	})
}

func TestScanSpans(t *testing.T) {
	t.Parallel()
	names := []string{"task_id", "idv_task_id"}
	for name, tc := range map[string]struct {
		doc   string
		want  Result
		spans []string // the values found, "" for none
	}{
		"task":                 {`{"a": [1], "task_id" : 12 , "x": {"idv_task_id": 2}}`, Result{Object: true, Has: 1}, []string{`12`, ``}},
		"string id":            {`{"idv_task_id":"7"}`, Result{Object: true, Has: 2}, []string{``, `"7"`}},
		"both":                 {`{"idv_task_id": 2, "task_id": {"a": 1}}`, Result{Object: true, Has: 3}, []string{`{"a": 1}`, `2`}},
		"escaped name":         {`{"task\u005fid": 1}`, Result{Object: true, Has: 1}, []string{``, ``}},
		"other case":           {`{"TASK_ID": 1}`, Result{Object: true}, []string{``, ``}},
		"other case and exact": {`{"task_id": 1, "Task_ID": 2}`, Result{Object: true, Has: 1, Duplicate: true}, []string{``, ``}},
		"not an object":        {`[{"task_id": 1}]`, Result{}, []string{``, ``}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := []byte(tc.doc)
			spans := []Span{{1, 2}, {3, 4}} // cleared first
			got, err := ScanSpans(data, names, spans)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			for n, want := range tc.spans {
				assert.Equal(t, want, string(data[spans[n].Start:spans[n].End]), names[n])
			}
		})
	}
	spans := []Span{{1, 2}, {3, 4}}
	_, err := ScanSpans([]byte(`{"task_id": 1,}`), names, spans)
	require.Error(t, err)
	assert.Equal(t, make([]Span, 2), spans, "no spans for what is not JSON")
}

var memberNames = []string{"result", "comment_logs"}

// rawMembers is what encoding/json makes of the members Members finds.
type rawMembers struct {
	Result      json.RawMessage `json:"result"`
	CommentLogs json.RawMessage `json:"comment_logs"`
}

func TestMembers(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc   string
		ok    bool
		spans []string // the values found, "" for none
	}{
		"both":                {`{"a": 1, "result": {"x": [1, {"y": 2}]}, "comment_logs" :[ ] }`, true, []string{`{"x": [1, {"y": 2}]}`, `[ ]`}},
		"scalars":             {`{"result":"r","comment_logs":null}`, true, []string{`"r"`, `null`}},
		"number last":         {`{"result": -1.5e3}`, true, []string{`-1.5e3`, ``}},
		"none":                {`{"a": {"result": 1}}`, true, []string{``, ``}},
		"empty object value":  {`{"result": {}, "b": 2}`, true, []string{`{}`, ``}},
		"not an object":       {`[{"result": 1}]`, false, nil},
		"other case":          {`{"Result": 1}`, false, nil},
		"repeated":            {`{"result": 1, "result": 2}`, false, nil},
		"escaped key":         {`{"r\u0065sult": 1}`, false, nil},
		"non-ASCII key":       {`{"\u212Aey": 1, "result": 2}`, false, nil},
		"other keys in cases": {`{"A": 1, "a": 2, "result": 3}`, true, []string{`3`, ``}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := []byte(tc.doc)
			spans := make([]Span, len(memberNames))
			ok, err := Members(data, memberNames, spans)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok)
			if !ok {
				assert.Equal(t, make([]Span, len(memberNames)), spans)
				return
			}
			for n, want := range tc.spans {
				assert.Equal(t, want, string(data[spans[n].Start:spans[n].End]), memberNames[n])
			}
		})
	}
	_, err := Members([]byte(`{"result": 1,}`), memberNames, make([]Span, 2))
	require.Error(t, err)
}

// FuzzMembers compares Members with json.Valid and with what encoding/json
// decodes into json.RawMessage fields of those names.
func FuzzMembers(f *testing.F) {
	for _, name := range []string{"task_detail.json", "task_detail_nested_sources.json", "kya_result.json"} {
		body, err := os.ReadFile("../../testdata/" + name)
		require.NoError(f, err)
		f.Add(body)
	}
	for _, doc := range []string{`{"result": 1, "RESULT": 2}`, `{"result":{"a":[1,2,{"b":"}"}]},"comment_logs":"x"}`,
		`{"re\u017Fult": 1}`, `{"result": 1`, `[]`, `{"comment_logs": [], "x": {"result": 1}}`} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spans := make([]Span, len(memberNames))
		ok, err := Members(data, memberNames, spans)
		valid := json.Valid(data)
		require.Equal(t, valid, err == nil, "Members' error %v, json.Valid %v", err, valid)
		if !ok {
			return
		}
		var got rawMembers
		require.NoError(t, json.Unmarshal(data, &got), "ok for what encoding/json refuses")
		for n, raw := range []json.RawMessage{got.Result, got.CommentLogs} {
			span := spans[n]
			if raw == nil {
				assert.Equal(t, Span{}, span, memberNames[n])
				continue
			}
			assert.Equal(t, string(raw), string(data[span.Start:span.End]), memberNames[n])
		}
	})
}

// alikeKeyPieces are what FuzzScanAlikeKeys builds keys of: ASCII letters
// in both cases and the bytes their case bit maps to other punctuation,
// the runes that fold to ASCII letters (Kelvin sign, long s) and others
// that fold, escapes of them, invalid UTF-8 and lone surrogates, and the
// callback names.
var alikeKeyPieces = []string{"a", "A", "k", "K", "s", "S", "i", "I", "_", "0", "@", "`", "[", "{", "~", "\x7f",
	"\u212A", "\u017F", "\u0131", "\u0130", "\u00e9", "\u00c9", "\u1E9E", "\u00DF", "\u03A3", "\u03C2", "\u03C3",
	`\u0041`, `\u0061`, `\u212a`, `\u017f`, `\"`, `\\`, `\/`, "\xff", "\xfe", "\xc3", `\ud800`, `\udc00`,
	"task_id", "idv_task_id", "TASK_ID", "task_Id"}

// alikeKeysDoc builds from seed an object (with nested ones) whose keys
// are alike: few pieces from alikeKeyPieces or printable ASCII bytes, and
// earlier keys in another case, so many keys share their length, first
// and last byte, or differ only in case or in the middle.
func alikeKeysDoc(seed []byte) []byte {
	var b strings.Builder
	next := func() int {
		if len(seed) == 0 {
			return 0
		}
		c := seed[0]
		seed = seed[1:]
		return int(c)
	}
	total := 0
	var object func(depth int)
	object = func(depth int) {
		b.WriteByte('{')
		n := next()%40 + 1
		if total += n; total > 600 {
			n = 1
		}
		var keys []string
		for k := range n {
			if k > 0 {
				b.WriteByte(',')
			}
			var key []byte
			switch c := next(); {
			case c%4 == 0 && len(keys) > 0: // an earlier key, some letters in the other case
				key = []byte(keys[next()%len(keys)])
				for i, flip := range key {
					if l := flip | 0x20; l >= 'a' && l <= 'z' && next()%2 == 0 {
						key[i] ^= 0x20
					}
				}
			default:
				for range c % 8 {
					if p := next(); p < len(alikeKeyPieces) {
						key = append(key, alikeKeyPieces[p]...)
					} else if p = ' ' + p%95; p != '"' && p != '\\' {
						key = append(key, byte(p)) // any printable ASCII byte
					}
				}
			}
			keys = append(keys, string(key))
			b.WriteByte('"')
			b.Write(key)
			b.WriteString(`":`)
			switch v := next(); {
			case v%7 == 0 && depth < 3:
				object(depth + 1)
			case v%7 == 1:
				b.WriteString(`"x"`)
			default:
				b.WriteString(strings.Repeat("1", v%5+1))
			}
		}
		b.WriteByte('}')
	}
	object(0)
	return []byte(b.String())
}

// FuzzScanAlikeKeys is FuzzScan on objects of alike keys, which the
// repeated-key check tells apart by their length, first and last byte
// before comparing them: it must still find every repeat the token oracle
// finds, and no other.
func FuzzScanAlikeKeys(f *testing.F) {
	f.Add([]byte{3, 2, 1, 1, 0, 1, 1, 1})
	f.Add([]byte{30, 3, 1, 2, 3, 0, 3, 4, 2, 3, 0})
	f.Fuzz(func(t *testing.T, seed []byte) {
		data := alikeKeysDoc(seed)
		res, err := Scan(data, "task_id", "idv_task_id")
		require.Equal(t, json.Valid(data), err == nil, "Scan's error %v", err)
		if err != nil {
			return
		}
		assert.Equal(t, oracleCheckUnique(data) == ErrDuplicate, res.Duplicate, "repeated key in %q", data)
	})
}
