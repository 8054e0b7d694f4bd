package kryptogo

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// JSON allows only space, tab, CR and LF around a value. A body framed by
// any other space (vertical tab, form feed, NEL, no-break space, Unicode
// line separators) is not JSON, and must not decode as if it were.
func TestBodiesFramedByNonJSONSpaceAreRefused(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"vertical tab before":   "\v{\"task_id\":7}",
		"form feed after":       "{\"task_id\":7}\f",
		"no-break space around": "\u00a0{\"task_id\":7}\u00a0",
		"NEL before null":       "\u0085null",
		"line separator after":  "{\"task_id\":7}\u2028",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/task/7/summary", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(body))
			})
			_, err := client.Tasks.Summary(t.Context(), 7)
			assert.ErrorIs(t, err, ErrInvalidResponse)

			mux.HandleFunc("/raw", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(body))
			})
			var raw json.RawMessage
			err = client.Do(t.Context(), http.MethodGet, "/raw", nil, &raw)
			assert.ErrorIs(t, err, ErrInvalidResponse)
			assert.Empty(t, raw)
		})
	}
}

// What Do hands back as raw JSON is the validated body: JSON whitespace
// around it may go, but nothing that is not JSON stays.
func TestRawAnswerIsValidJSON(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/raw", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(" \r\n[1]\n"))
	})
	var raw json.RawMessage
	require.NoError(t, client.Do(t.Context(), http.MethodGet, "/raw", nil, &raw))
	assert.True(t, json.Valid(raw))
	assert.Equal(t, "[1]", string(raw))
}

// The fast paths of the JSON types are reached by direct calls too, where
// nothing validated the input first: invalid JSON is an error there, as it
// is for encoding/json.
func TestFastPathsRefuseInvalidJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"a":"b" "c":"d"}`, `{"a":"b"`, `{"a":"`, `{`, `{"a" "b"}`, `{"a":"b",}`} {
		t.Run("metadata "+in, func(t *testing.T) {
			var m MetadataList
			assert.Error(t, m.UnmarshalJSON([]byte(in)))
		})
	}
	for _, in := range []string{`[01]`, `[1,02]`, `[1 2]`, `[1,]`, `[`} {
		t.Run("sources "+in, func(t *testing.T) {
			var s SearchSources
			assert.Error(t, s.UnmarshalJSON([]byte(in)))
		})
	}
}
