package jsonkeys

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckUnique(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc  string
		want error
	}{
		"flat":                     {`{"a": 1, "b": "a", "c": null}`, nil},
		"scalar":                   {`"a"`, nil},
		"empty containers":         {`{"a": {}, "b": [], "c": [{}, []]}`, nil},
		"same key, other objects":  {`{"a": {"a": {"a": 1}}, "l": [{"a": 1}, {"a": 2}]}`, nil},
		"string value like a key":  {`{"a": "a", "b": ["a", "b"]}`, nil},
		"exact repeat":             {`{"a": 1, "a": 1}`, ErrDuplicate},
		"case":                     {`{"task_id": 1, "TASK_ID": 2}`, ErrDuplicate},
		"Kelvin sign":              {`{"k": 1, "\u212A": 2}`, ErrDuplicate},
		"long s":                   {`{"s": 1, "\u017F": 2}`, ErrDuplicate},
		"after a nested value":     {`{"a": {"b": 1}, "c": [1, 2], "A": 3}`, ErrDuplicate},
		"deep in an array":         {`[1, [{"x": {"y": 1, "Y": 2}}]]`, ErrDuplicate},
		"repeat after the closing": {`{"a": {"b": 1}, "b": 2}`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			require.True(t, json.Valid([]byte(tc.doc)), tc.doc)
			assert.Equal(t, tc.want, CheckUnique([]byte(tc.doc)))
		})
	}
	err := CheckUnique([]byte(`{"secret": 1`))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

// TestFoldMatchesEqualFold: two keys fold alike exactly when
// bytes.EqualFold, which encoding/json's key matching is, says they match.
func TestFoldMatchesEqualFold(t *testing.T) {
	t.Parallel()
	keys := []string{"k", "K", "\u212A", "s", "S", "\u017F", "i", "I", "\u0130", "\u0131", "\u00B5", "\u03BC", "\u039C",
		"task_id", "TASK_ID", "Task_Id", "taskid", "\u00DF", "ss", "\uFFFD", "\xff"}
	for _, a := range keys {
		for _, b := range keys {
			assert.Equal(t, bytes.EqualFold([]byte(a), []byte(b)), fold(a) == fold(b), "%q %q", a, b)
		}
	}
}

// BenchmarkCheckUnique compares the scan with the baseline it runs beside,
// decoding the same callback body into a map:
//
//	go test -bench CheckUnique -benchmem -run '^$' ./internal/jsonkeys
func BenchmarkCheckUnique(b *testing.B) {
	body, err := os.ReadFile("../../testdata/callback_task.json")
	require.NoError(b, err)
	b.Run("check_unique", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := CheckUnique(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_unmarshal_map", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The token-based duplicate check CheckUnique used before Scan, kept as the
// oracle the fuzz targets compare Scan with.

type oracleFrame struct {
	object  bool
	wantKey bool                // an object's next token is a key or '}'
	keys    map[string]struct{} // an object's folded keys, made at its first key
}

func oracleCheckUnique(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are skipped: no float parsing
	var stack []oracleFrame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return errNotJSON
		}
		if top := len(stack) - 1; top >= 0 && stack[top].object {
			if stack[top].wantKey {
				if key, isKey := tok.(string); isKey {
					if !stack[top].add(key) {
						return ErrDuplicate
					}
					continue
				}
			}
			stack[top].wantKey = true // tok is a value, or the closing '}'
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, oracleFrame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, oracleFrame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

func (f *oracleFrame) add(key string) bool {
	f.wantKey = false
	folded := fold(key)
	if _, seen := f.keys[folded]; seen {
		return false
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[folded] = struct{}{}
	return true
}
