package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// targetFields are the documented keys of a DD task's target, whose
// decoding asks HasKeyOutside whether it needs a second pass for Extra.
var targetFields = map[string]bool{"type": true, "name": true, "birthday": true, "citizenship": true}

// hasKeyOutsideDocs are objects (and other values) whose keys the scan
// must read as encoding/json does.
var hasKeyOutsideDocs = []string{
	`{}`, ` { } `, `null`, `[]`, `"x"`, `1`,
	`{"type":1,"name":"a","birthday":"1990-06-21","citizenship":"TWN"}`,
	`{"type": 1, "name": "a \" } ,", "citizenship": null}`,
	`{"type":1,"name":"a","x":1}`,
	`{"name":"a","Name":"b"}`,
	`{"name":{"type":[1,{"x":"}"}]},"birthday":true}`,
	`{"name":[],"type":-1.5e3,"registration":{"no":"123"}}`,
	`{"n\u0061me":"a"}`,
	"{\n\t\"type\" :\r 2 ,\n \"name\" : \"Co\" \n}",
}

// HasKeyOutside decides whether a target needs its second decode (into a
// map, for Extra); it must agree with that decode on every object.
func TestHasKeyOutside(t *testing.T) {
	t.Parallel()
	for _, doc := range hasKeyOutsideDocs {
		checkHasKeyOutside(t, doc)
	}
}

func FuzzHasKeyOutside(f *testing.F) {
	for _, doc := range hasKeyOutsideDocs {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return // the scan reads what encoding/json accepted
		}
		checkHasKeyOutside(t, doc)
	})
}

// checkHasKeyOutside holds the scan against encoding/json: it never misses
// a key outside the known ones (Extra would lose it), and it reports one
// that is not there only for an escaped key, which it cannot read (a
// second decode too many, nothing lost).
func checkHasKeyOutside(t *testing.T, doc string) {
	var all map[string]any
	want := false
	if json.Unmarshal([]byte(doc), &all) == nil {
		for k := range all {
			want = want || !targetFields[k]
		}
	}
	got := HasKeyOutside([]byte(doc), targetFields)
	if want {
		assert.True(t, got, doc)
	} else if got {
		assert.Contains(t, doc, `\`, "only an escaped key takes the full decode for nothing: %s", doc)
	}
	if strings.Contains(doc, `"n\u0061me"`) {
		assert.True(t, got, "an escaped key takes the full decode: %s", doc)
	}
}

// FuzzSmallUint: what the fast path parses, encoding/json parses to the
// same number; it takes no other form. (It reads JSON that encoding/json
// accepted: a direct UnmarshalJSON call with "007" decodes as 7 on both
// paths.)
func FuzzSmallUint(f *testing.F) {
	for _, s := range []string{`0`, `12`, `999999999999999999`, `9999999999999999999`, `-1`, `1.0`, `1e3`, ` 1`, `"1"`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := SmallUint([]byte(in))
		if !ok || !json.Valid([]byte(in)) {
			return
		}
		var want int64
		require.NoError(t, json.Unmarshal([]byte(in), &want), in)
		assert.Equal(t, want, n, in)
		assert.Equal(t, strings.Trim(in, "0123456789"), "", in)
	})
}

// FuzzIsDecimalNumber: every number encoding/json accepts is decimal, and
// every decimal number parses as a float (no NaN, Inf, hex or underscore
// form gets through).
func FuzzIsDecimalNumber(f *testing.F) {
	for _, s := range []string{`0`, `-1.5e+3`, `1.`, `.5`, `NaN`, `Inf`, `0x10`, `1_000`, `01`, `1e`, `-`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := IsDecimalNumber(in)
		var n json.Number
		isJSONNumber := in != "" && (in[0] == '-' || in[0] >= '0' && in[0] <= '9') &&
			strings.TrimSpace(in) == in && json.Unmarshal([]byte(in), &n) == nil
		if isJSONNumber {
			assert.True(t, got, "a JSON number: %q", in)
		}
		if got {
			_, err := strconv.ParseFloat(in, 64)
			if err != nil {
				assert.ErrorIs(t, err, strconv.ErrRange, "%q", in)
			}
		}
	})
}

// FuzzScalarText: a JSON string reads as its trimmed text, a number as
// itself, null as null; anything else is an error.
func FuzzScalarText(f *testing.F) {
	for _, s := range []string{`12`, `"12"`, `" 7 "`, `null`, `""`, `"  "`, `true`, `{}`, `[]`, `"\u0031"`, `-0.5`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // it reads JSON values that encoding/json accepted
		}
		text, isNull, err := ScalarText([]byte(in))
		trimmed := strings.TrimSpace(in)
		var s string
		switch {
		case trimmed == "" || trimmed == "null":
			assert.True(t, isNull, in)
			assert.NoError(t, err, in)
		case json.Unmarshal([]byte(in), &s) == nil:
			require.NoError(t, err, in)
			assert.Equal(t, strings.TrimSpace(s), text, in)
			assert.Equal(t, text == "", isNull, in)
		case trimmed[0] == '-' || trimmed[0] >= '0' && trimmed[0] <= '9':
			assert.NoError(t, err, in)
			assert.Equal(t, trimmed, text, in)
		default:
			assert.Error(t, err, in)
		}
	})
}

// FuzzSmallUints: what the fast path parses, encoding/json decodes to the
// same list.
func FuzzSmallUints(f *testing.F) {
	for _, s := range []string{`[]`, `[0,1,2,3,4]`, ` [ 4 , 4 ] `, `[7]`, `[[1],2]`, `[1.0]`, `[-1]`, `[1,]`, `[,1]`, `[2147483648]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := SmallUints[int]([]byte(in))
		if !ok {
			return
		}
		require.True(t, json.Valid([]byte(in)), "read what is not JSON: %q", in)
		var want []int
		require.NoError(t, json.Unmarshal([]byte(in), &want), in)
		assert.Equal(t, want, got, in)
	})
}

func TestSmallUints(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]int{`[]`: {}, `[0,1,2,3,4]`: {0, 1, 2, 3, 4}, ` [ 4 , 4 ] `: {4, 4}} {
		got, ok := SmallUints[int]([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{`[[1],2]`, `[1.0]`, `[-1]`, `[1,]`, `[2147483648]`, `{}`, `[`, `[01]`, "\v[1]", "[1\u00a0]", "[1]\f"} {
		_, ok := SmallUints[int]([]byte(in))
		assert.False(t, ok, in)
	}
}

// FuzzStringPairs: the pairs the fast path reads are the object's, as
// encoding/json decodes it into a map (the last of repeated keys wins).
func FuzzStringPairs(f *testing.F) {
	for _, s := range []string{`{}`, `{"region":"APAC","customer_tier":"gold"}`, ` { "a" : "b" , "A" : "c" } `,
		`{"a":"b","a":"c"}`, `{"a":"\u00e9"}`, `{"a":1,"b":"x"}`, `{"a":null}`, "{\"a\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !strings.HasPrefix(in, "{") {
			return
		}
		got := map[string]string{}
		data := []byte(in)
		if !StringPairs(data[:len(data):len(data)], func(k, v string) { got[k] = v }) {
			return
		}
		require.True(t, json.Valid(data), "read what is not JSON: %q", in)
		var want map[string]string
		require.NoError(t, json.Unmarshal([]byte(in), &want), in)
		assert.Equal(t, want, got, in)
	})
}

// FuzzKeyValues holds KeyValues against encoding/json's decode into a
// slice of key-value structs: whatever it reads, it reads as json does.
func FuzzKeyValues(f *testing.F) {
	for _, s := range []string{`[]`, ` [ ] `, `[{"key":"region","value":"APAC"},{"key":"tier","value":"gold"}]`,
		`[{"value":"b","key":"a"}]`, `[ { "key" : "a" , "value" : "" } ]`, `[{"key":"a"}]`, `[{"key":"a","value":"b","x":1}]`,
		`[{"Key":"a","value":"b"}]`, `[{"key":"a","key":"b"}]`, `[{"key":"a","value":1}]`, `[{"key":"\u00e9","value":"b"}]`,
		`[null]`, `[{"key":"a","value":"b"},]`, `[{"key":"a","value":"b"} 1]`, "[{\"key\":\"\xff\",\"value\":\"b\"}]",
		`[{"key":"a{b","value":"}]"}]`} {
		f.Add(s)
	}
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !strings.HasPrefix(in, "[") {
			return
		}
		got := []kv{}
		data := []byte(in)
		if !KeyValues(data[:len(data):len(data)], "key", "value", func(k, v string) { got = append(got, kv{k, v}) }) {
			return
		}
		require.True(t, json.Valid(data), "read what is not JSON: %q", in)
		var want []kv
		require.NoError(t, json.Unmarshal([]byte(in), &want), in)
		assert.Equal(t, want, got, in)
	})
}

func TestKeyValues(t *testing.T) {
	for in, want := range map[string]bool{
		`[]`: true, `[{"key":"a","value":"b"}]`: true, `[{"value":"b","key":"a"},{"key":"c","value":"d"}]`: true,
		`[{"key":"a"}]`: false, `[{"key":"a","value":"b","x":"y"}]`: false, `[{"KEY":"a","value":"b"}]`: false,
		`[{"key":"a","key":"b"}]`: false, `[{"key":"a","value":null}]`: false, `[{"key":"a\n","value":"b"}]`: false,
		`[{"key":"a","value":"b"},1]`: false, `[1]`: false, `[{"key":"a","value":"b"}]x`: false, `[{"key":"a","value":"b"}`: false,
		"[{\"key\":\"a\x01\",\"value\":\"b\"}]": false, `[{"key":"a","value":"b`: false, `[ ]]`: false,
	} {
		n := 0
		assert.Equal(t, want, KeyValues([]byte(in), "key", "value", func(string, string) { n++ }), in)
	}
}

// StringPairs reads only JSON: it may be given any bytes (a direct
// MetadataList.UnmarshalJSON call), and validates what it reads.
func TestStringPairsOnlyJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{}`: true, ` {"a":"b"}`: false, `{ "a" : "b" , "c" : "" }`: true, `{"a":"b"}x`: false, `{"a":"b"`: false,
		`{"a":"b",}`: false, `{"a":"b" "c":"d"}`: false, `{"a" "b"}`: false, "{\"a\":\"b\x1f\"}": false, `{"a":"b`: false,
		`{"a`: false, `{`: false, `{}}`: false, `{"a":"b"} `: true, "{\"a\":\"\xff\"}": false,
	} {
		data := []byte(in)
		assert.Equal(t, want, StringPairs(data[:len(data):len(data)], func(string, string) {}), in)
	}
}

// lastMemberDocs are objects whose member LastMember must find as
// encoding/json assigns it to a field: case-folded keys, repeats, escaped
// keys, the name nested or as a value, with and without backslashes.
var lastMemberDocs = []string{
	`{}`, `null`, `[]`, `"target"`, `{"target":1}`, `{"a":{"target":1}}`, `{"a":"target"}`,
	`{"task_id":1,"target":{"type":1,"name":"a"},"x":2}`,
	`{"TARGET":1,"target":2}`, `{"target":1,"Target":null}`, `{"t\u0061rget":3}`, `{"a":"\"","tArGeT":[1,{"b":"}"}]}`,
	`{"result":{"target":1},"target":{"x":"target"}}`, `{"target" : "x" , "y":true}`, `{"targets":1,"xtarget":2}`,
	`{"kind":1,"KIND":2,"` + "\u212a" + `ind":3}`, `{"a_b":1,"A_B":2}`, `{"":1}`,
	`{"a":"x\\","target":1}`, `{"a":"\"target\"","target":2}`, `{"a":"\\\"target\\\"","url":"https:\/\/x"}`,
	`{"url":"https:\/\/x","Target":{"b":"\\"}}`,
}

var lastMemberNames = []string{"target", "kind", "a_b", "x"}

func TestLastMember(t *testing.T) {
	t.Parallel()
	for _, doc := range lastMemberDocs {
		for _, name := range lastMemberNames {
			checkLastMember(t, doc, name)
		}
	}
	value, found := LastMember([]byte(`{"target":{"type":1},"TARGET" : null }`), "target")
	assert.True(t, found)
	assert.Equal(t, "null", string(value))
}

func FuzzLastMember(f *testing.F) {
	for _, doc := range lastMemberDocs {
		f.Add(doc, uint8(0))
	}
	f.Fuzz(func(t *testing.T, doc string, n uint8) {
		if !json.Valid([]byte(doc)) {
			return // LastMember reads what encoding/json accepted
		}
		checkLastMember(t, doc, lastMemberNames[int(n)%len(lastMemberNames)])
	})
}

// checkLastMember holds LastMember against encoding/json decoding doc into
// a struct with one raw field named name: the same value, found alike.
func checkLastMember(t *testing.T, doc, name string) {
	field := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[json.RawMessage](), Tag: reflect.StructTag(`json:"` + name + `"`)}})
	v := reflect.New(field)
	wantErr := json.Unmarshal([]byte(doc), v.Interface())
	want := v.Elem().Field(0).Bytes()
	got, found := LastMember([]byte(doc), name)
	if wantErr != nil {
		assert.False(t, found, "%s in %s", name, doc)
		return
	}
	assert.Equal(t, want != nil, found, "%s in %s", name, doc)
	assert.Equal(t, string(want), string(got), "%s in %s", name, doc)
}

// FuzzElements holds Elements against encoding/json's decode into
// []json.RawMessage: the same elements, each capped; false for anything
// but an array.
func FuzzElements(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a,]" , {"b":[2,3]} , null ] `, `[[],[[]]]`, `{}`, `null`, `"["`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return // Elements reads what encoding/json accepted
		}
		var got []string
		ok := Elements([]byte(in), func(elem []byte) {
			assert.Equal(t, len(elem), cap(elem), in)
			got = append(got, string(elem))
		})
		var want []json.RawMessage
		if json.Unmarshal([]byte(in), &want) != nil || want == nil {
			assert.False(t, ok && len(got) > 0, in)
			return
		}
		require.True(t, ok, in)
		require.Len(t, got, len(want), in)
		for i := range want {
			assert.Equal(t, string(want[i]), got[i], in)
		}
	})
}

// trimSpaceDocs frame values with JSON's white space and with spaces JSON
// does not know, which must stay.
var trimSpaceDocs = []string{
	"", " ", " \t\r\n", `{}`, " {} ", "\n\t{\"a\": 1}\r\n", "\v{}", "{}\f",
	"\u00a0{}", "{}\u0085", " \u2028 ", "x", " x y ",
}

func TestTrimSpace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{" \t\r\n", ""},
		{" {} ", "{}"},
		{"\n\t{\"a\": 1}\r\n", "{\"a\": 1}"},
		{" x y ", "x y"},
		{"\v{}", "\v{}"},          // a vertical tab is not JSON's
		{"{}\f", "{}\f"},          // nor a form feed
		{"\u00a0{} ", "\u00a0{}"}, // nor a no-break space
		{" {}\u0085", "{}\u0085"}, // nor a next line
		{"\t\u2028\t", "\u2028"},  // nor a line separator
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			assert.Equal(t, tt.want, string(TrimSpace([]byte(tt.in))))
		})
	}
}

// FuzzTrimSpace checks TrimSpace against bytes.Trim with JSON's white space.
func FuzzTrimSpace(f *testing.F) {
	for _, doc := range trimSpaceDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		require.Equal(t, string(bytes.Trim(data, " \t\r\n")), string(TrimSpace(data)))
	})
}
