package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxResponseBytes(64))
	mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"kya_id": 1, "data": "` + strings.Repeat("x", 1<<20) + `"}`))
	})
	_, err := client.KYA.Get(t.Context(), 1)
	require.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "body exceeds 64 bytes")
}

func TestNonJSONSuccessIsAnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, shape string
	}{
		{"html", "<html><body>captive portal</body></html>", "40 bytes, markup (HTML or XML)"},
		{"empty", "", "empty"},
		{"truncated", `{"kya_id": 12, "address": "0x`, "29 bytes, a JSON object"},
		{"wrong type", `{"kya_id": {"nested": true}}`, "28 bytes, a JSON object"},
		{"array", `[1,2,3]`, "7 bytes, a JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
			got, err := client.KYA.Get(t.Context(), 1)
			assert.Nil(t, got)
			require.ErrorIs(t, err, ErrInvalidResponse)
			var rerr *ResponseError
			require.ErrorAs(t, err, &rerr)
			assert.Equal(t, "GET", rerr.Method)
			assert.Equal(t, "/kya/detail/1", rerr.Path)
			assert.Equal(t, 200, rerr.StatusCode)
			assert.Equal(t, tc.shape, rerr.Snippet)
		})
	}
}

// A 2xx body that fails to decode holds the customer's personal data: the
// error describes its shape, never its values (CallbackHandler logs it).
func TestUndecodableSuccessLeaksNoPersonalData(t *testing.T) {
	t.Parallel()
	const name, idNumber, birthday = "王又曾", "A123456789", "1964-05-17"
	for _, tc := range []struct{ name, body string }{
		{"wrong type", `{"idv_task_id": 1, "name": "` + name + `", "id_number": "` + idNumber + `", "birthday": "` + birthday + `", "state": "` + idNumber + `"}`},
		{"truncated", `{"idv_task_id": 1, "name": "` + name + `", "id_number": "` + idNumber + `", "birthday": "` + birthday + `" `},
		{"number overflow", `{"idv_task_id": 98765432101234567890, "name": "` + name + `"}`},
		{"not JSON", `not json ` + name + ` ` + idNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/idv/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
			_, err := client.IDV.Get(t.Context(), 1)
			require.ErrorIs(t, err, ErrInvalidResponse)
			for _, printed := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, secret := range []string{name, idNumber, birthday, "98765432101234567890"} {
					assert.NotContains(t, printed, secret)
				}
			}
		})
	}
}

// Review of issue 8, finding 3: a 2xx answer to a POST means the API acted
// (the task exists and cost points) even when the SDK cannot decode the
// answer; the error must tell the caller to check before re-sending.
func TestUndecodableSuccessOfAPOSTMaybeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"html", "<html>ok</html>"},
		{"invalid JSON", `[{"task_id":7`},
		{"wrong shape", `{"task_id":7}`},
		{"empty", ""},
		{"wrong count of receipts", `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			var seen atomic.Int32
			mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
			assert.Equal(t, int32(1), seen.Load())
			require.ErrorIs(t, err, ErrInvalidResponse)
			assert.ErrorIs(t, err, ErrMaybeSent)
			assert.Contains(t, err.Error(), "check before sending it again")
		})
	}
	t.Run("GET is not", func(t *testing.T) {
		client, mux := setup(t)
		mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
		_, err := client.KYA.Get(t.Context(), 1)
		require.ErrorIs(t, err, ErrInvalidResponse)
		assert.NotErrorIs(t, err, ErrMaybeSent)
	})
}

// bigDetail is testdata/task_detail.json with a result of about n bytes
// and the comment logs given.
func bigDetail(t testing.TB, n int, commentLogs string) []byte {
	small, err := os.ReadFile(filepath.Join("testdata", "task_detail.json"))
	require.NoError(t, err)
	const placeholder = `"result": {"undocumented": {"hits": 3}}`
	require.Contains(t, string(small), placeholder)
	result := []byte(`{"hits": [0`)
	for len(result) < n {
		result = append(result, `, {"title": "\"quoted\" \u00e9 王", "score": 0.5e-3, "tags": [true, false, null], "nested": {"a": {}}}`...)
	}
	result = append(result, "]}"...)
	body := bytes.Replace(small, []byte(placeholder), append([]byte(`"result": `), result...), 1)
	return bytes.Replace(body, []byte(`"metadata"`), []byte(`"comment_logs": `+commentLogs+`, "metadata"`), 1)
}

// TestDecodeCutMatchesWholeDecode: a big answer decodes, raw members kept
// out of the decode, to what decoding it as a whole gives; what the cut
// cannot vouch for is decoded as a whole.
func TestDecodeCutMatchesWholeDecode(t *testing.T) {
	t.Parallel()
	for name, body := range map[string][]byte{
		"big result":                bigDetail(t, 64<<10, `[{"text": "ok"}]`),
		"null comment logs":         bigDetail(t, 64<<10, `null`),
		"result in capitals too":    bytes.Replace(bigDetail(t, 64<<10, `[]`), []byte(`"metadata"`), []byte(`"RESULT": 1, "metadata"`), 1),
		"a bad field after":         bytes.Replace(bigDetail(t, 64<<10, `[]`), []byte(`"metadata"`), []byte(`"potential_risk": "high", "metadata"`), 1),
		"invalid after the result":  append(bigDetail(t, 64<<10, `[]`), ',', '}'),
		"small answer, not the cut": fixture(t, "task_detail.json"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want TaskDetail
			wantErr := json.Unmarshal(body, &want)
			got, err := decodeTaskDetail(body)
			if wantErr != nil {
				require.Error(t, err)
				assert.Equal(t, valueFreeDecodeError(wantErr).Error(), errors.Unwrap(err).Error())
				return
			}
			require.NoError(t, err)
			want.setRaw(bytes.Trim(body, " \t\r\n")) // decode keeps the body without its framing space
			assert.Equal(t, string(want.Result), string(got.Result))
			assert.Equal(t, string(want.CommentLogs), string(got.CommentLogs))
			assert.Equal(t, want, *got)
		})
	}
}

// decodeTaskDetail decodes a 200 answer as Tasks.Get does.
func decodeTaskDetail(body []byte) (*TaskDetail, error) {
	var out TaskDetail
	err := decode(&callConfig{maxBody: 1 << 30}, "GET", "/task/1", result{status: 200, body: body}, &out)
	return &out, err
}

// FuzzDecodeCut compares decodeCut with encoding/json decoding the body as
// a whole, for both models with raw members: the same values, the same
// raw members, and a cut only where the whole decode succeeds.
func FuzzDecodeCut(f *testing.F) {
	for _, name := range []string{"task_detail.json", "task_detail_nested_sources.json", "kya_result.json", "kya_result_matches.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(body)
	}
	f.Add(bigDetail(f, 4<<10, `[1]`))
	f.Add([]byte(`{"result": 1, "Comment_Logs": 2, "txlist": [], "data": {"x": 1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCut[TaskDetail](t, body)
		fuzzCut[KYAResult](t, body)
	})
}

func fuzzCut[T any, P interface {
	*T
	rawMembers
}](t *testing.T, body []byte) {
	var whole, cut T
	wholeErr := json.Unmarshal(body, &whole)
	if !decodeCut(body, P(&cut), P(&cut)) {
		assert.Equal(t, *new(T), cut, "a refused cut leaves the zero value")
		return
	}
	require.NoError(t, wholeErr, "cut what encoding/json refuses")
	assert.Equal(t, whole, cut)
}

// recordDate reads an answer's Date once per distinct value within a
// second of the client's clock: 64 callers getting the same Date neither
// parse it again nor write the client's lag (a cache line all of them
// share). A Date repeated for longer (a cache's), a new Date, or a clock
// that moved back is read again, as every answer was.
func TestRecordDateReadsEachDateOnce(t *testing.T) {
	c := offlineClient(t)
	date := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var now time.Time
	c.now = func() time.Time { return now }
	answer := func(raw string) time.Time { // the Date as the client read it
		c.recordDate(result{status: http.StatusOK, header: http.Header{"Date": {raw}}})
		if seen := c.clock.seen.Load(); seen.err == nil {
			return seen.date
		}
		return time.Time{}
	}
	lag := func() time.Duration { return time.Duration(c.clock.lag.Load()) }
	raw := date.Format(http.TimeFormat)

	now = date.Add(300 * time.Millisecond)
	assert.Equal(t, date, answer(raw))
	assert.Equal(t, 300*time.Millisecond, lag())
	seen := c.clock.seen.Load()

	now = date.Add(900 * time.Millisecond) // same Date, same second: nothing written
	assert.Equal(t, date, answer(raw), "the date is still the one read")
	assert.Equal(t, 300*time.Millisecond, lag())
	assert.Same(t, seen, c.clock.seen.Load())
	res := result{status: http.StatusOK, header: http.Header{"Date": {raw}}}
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.recordDate(res) }))

	now = date.Add(1500 * time.Millisecond) // the same Date a second on: read again
	answer(raw)
	assert.Equal(t, 1500*time.Millisecond, lag())

	next := date.Add(time.Second)
	assert.Equal(t, next, answer(next.Format(http.TimeFormat)))
	assert.Equal(t, 500*time.Millisecond, lag())

	now = date // the clock went back
	answer(next.Format(http.TimeFormat))
	assert.Equal(t, -time.Second, lag(), "an API clock ahead: a negative lag")

	for _, bad := range []string{"", "yesterday"} {
		assert.True(t, answer(bad).IsZero(), "%q", bad)
		assert.Equal(t, -time.Second, lag(), "%q changes nothing", bad)
	}
	now = date.Add(2 * time.Hour)
	answer(raw)
	assert.Equal(t, maxAPIClockLag, lag(), "bounded")
}
