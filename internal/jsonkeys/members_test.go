package jsonkeys

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
