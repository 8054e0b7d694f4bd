package kryptogo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A confirming handler reads the body's kind and id only: the record handed
// on is the API's, so the body's other fields are not decoded, and a body
// whose other fields would not decode is confirmed like any other. The id
// itself, the JSON and the repeated keys are checked as before, before any
// request.
func TestConfirmReadsTheBodysKindAndIDOnly(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	var fetched atomic.Int32
	mux.HandleFunc("/task/123/summary", func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		serveFixture(t, "task_summary.json")(w)
	})
	mux.HandleFunc("/idv/12", func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		serveFixture(t, "idv_task.json")(w)
	})
	mux.HandleFunc("/task/999/summary", func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
	})
	var logs bytes.Buffer
	var got *TaskSummary
	var gotIDV *IDVTask
	var event *CallbackEvent
	h := &CallbackHandler{Confirm: client, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		OnTask: func(ctx context.Context, task *TaskSummary) error {
			got, event = task, nil
			event, _ = CallbackFromContext(ctx)
			return nil
		},
		OnIDV: func(_ context.Context, task *IDVTask) error { gotIDV = task; return nil },
	}
	post := func(body string) int {
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(body))
		require.NoError(t, err)
		return serve(h, req)
	}

	for _, body := range []string{
		`{"task_id": 123, "progress": "none", "target": 5, "update_time": "1965-03-16"}`, // other fields the types refuse
		`{"task_id": "123"}`,                // a numeric string, as the decoder reads it
		`{"task\u005fid": 123}`,             // an escaped key: the body is decoded for the id
		` {"progress": 0,"task_id":123.0} `, // an integral float
	} {
		got, event = nil, nil
		require.Equal(t, http.StatusNoContent, post(body), body)
		assertDecoded(t, wantTaskSummary(), got)
		require.NotNil(t, event)
		assert.True(t, event.Confirmed)
		assert.Nil(t, event.unread, "a confirmed event keeps no body")
		assert.Equal(t, got.RawJSON(), event.RawJSON())
	}
	assert.Equal(t, int32(4), fetched.Load())

	require.Equal(t, http.StatusNoContent, post(`{"idv_task_id": 12, "state": "pending"}`))
	assert.Equal(t, IDVAccept, gotIDV.State, "the API's record")
	assert.Equal(t, int32(5), fetched.Load())

	for _, body := range []string{
		`{"task_id": "abc", "progress": 100}`, // an id that is no number
		`{"task_id": 0}`, `{"task_id": null}`, // no id
		`{"idv_task_id": -3}`,                     // no id
		`{"task_id": 123, "Task_ID": 124}`,        // a repeated key
		`{"task_id": 123, "x": {"a": 1, "A": 2}}`, // a repeated key, nested
		`{"task_id": 123, "progress": }`,          // not JSON
		`{"task_id": 123, "idv_task_id": 12}`,     // both kinds
		`{"TASK_ID": 123}`,                        // neither kind
		`[{"task_id": 123}]`,                      // not an object
	} {
		require.Equal(t, http.StatusBadRequest, post(body), body)
	}
	assert.Equal(t, int32(5), fetched.Load(), "no request for a refused body")

	// A confirmation that fails logs the body's key, as when the body was
	// decoded whole.
	logs.Reset()
	require.Equal(t, http.StatusUnprocessableEntity, post(`{"task_id": 999, "progress": 100, "update_time": 1700000000}`))
	assert.Contains(t, logs.String(), `"key":"task:999:1700000000:100:undecided"`)
}

// A confirming handler does not decode the body's record: the body costs
// the scan and the event, not a decode (about 20 allocations for the task
// callback fixture; 9 with GOEXPERIMENT=jsonv2).
func TestConfirmingHandlerDoesNotDecodeTheBody(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	body := fixture(t, "callback_task.json")
	whole := testing.AllocsPerRun(50, func() {
		if _, err := parseCallback(callbackInput{data: body, owned: true}); err != nil {
			t.Fatal(err)
		}
	})
	idOnly := testing.AllocsPerRun(50, func() {
		if _, err := parseCallback(callbackInput{data: body, owned: true, idOnly: true}); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, idOnly, 2.0, "the event and its record")
	assert.Greater(t, whole, idOnly+5)
}

// A confirmation's bookkeeping costs two allocations for a record with
// none in flight: the record's entry, which holds its first flight, and
// the flight's channel. The fetched record comes in the flight too.
func TestConfirmFlightAllocations(t *testing.T) {
	client, err := NewClient(testKey)
	require.NoError(t, err)
	c := client.confirmer(1e9, 1000)
	key := recordKey{CallbackTask, 5}
	allocs := testing.AllocsPerRun(100, func() {
		f, refusal, _, lead := c.join(t.Context(), key)
		if refusal != nil || !lead {
			t.Fatal("the flight was not new", refusal)
		}
		c.land(key, f)
	})
	assert.LessOrEqual(t, allocs, 2.0)
	assert.Zero(t, confirmRecords(client))
}

// FuzzParseCallbackIDOnly: what a confirming handler reads of a body (its
// kind and id) is what the whole decode reads, whenever that succeeds; and
// whatever it refuses, the whole decode refuses too.
func FuzzParseCallbackIDOnly(f *testing.F) {
	for _, name := range []string{"callback_task.json", "callback_idv.json", "task_summary.json", "idv_task.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(body)
	}
	for _, body := range []string{`{"task_id": "12", "progress": "x"}`, `{"idv_task_id": 1e3}`, `{"task\u005fid": 5}`,
		`{"task_id": 5, "Task_ID": 6}`, `{"idv_task_id": null}`, `{"task_id": -1}`, `{"task_id": 5.5}`, `{"task_id": " 5"}`,
		`{"\u212Aey": 1, "task_id": 7}`, `{"task_id": 12.0e0}`} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		whole, wholeErr := parseCallback(callbackInput{data: body})
		idOnly, err := parseCallback(callbackInput{data: body, idOnly: true})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidCallback)
			require.Error(t, wholeErr, "the id-only read refused what the whole decode accepts: %v", err)
			return
		}
		require.NotNil(t, idOnly.unread)
		require.Positive(t, idOnly.ID())
		if wholeErr == nil {
			assert.Equal(t, whole.Kind, idOnly.Kind)
			assert.Equal(t, whole.ID(), idOnly.ID())
			assert.Equal(t, whole.Key(), idOnly.logKey())
		}
	})
}

// The API's record is checked for repeated keys, unless it is the body the
// handler scanned (the callback carried the record, unchanged since).
func TestConfirmChecksTheAPIsRecordUnlessItIsTheBody(t *testing.T) {
	t.Parallel()
	const record = `{"task_id": 5, "customer_reference": "c42", "progress": 100}`
	const repeats = `{"task_id": 6, "customer_reference": "c43", "Customer_Reference": "c42", "progress": 100}`
	client, mux := setup(t, WithMaxRetries(0))
	for path, body := range map[string]string{"/task/5/summary": record + "\n", "/task/6/summary": repeats} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		})
	}
	var got *TaskSummary
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(),
		OnTask: func(_ context.Context, task *TaskSummary) error { got = task; return nil }}
	post := func(body string) int {
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(body))
		require.NoError(t, err)
		return serve(h, req)
	}
	require.Equal(t, http.StatusNoContent, post(" "+record))
	assert.Equal(t, "c42", got.CustomerReference)
	got = nil
	assert.Equal(t, http.StatusForbidden, post(`{"task_id": 6}`), "the API's record repeats a key")
	assert.Equal(t, http.StatusBadRequest, post(repeats), "so does the body: refused before the request")
	assert.Nil(t, got)
	assert.False(t, sameJSON(nil, nil))
	assert.True(t, sameJSON([]byte(record+"\n"), []byte("\t"+record)))
}

// A confirming handler logs no personal data of the body on any path that
// reads it for its kind and id only: a refused body, a confirmation the cap
// refuses (debug), the API's refusals, a record the API answers for another
// id or customer, an API record that repeats a key. A failed confirmation
// logs the body's key, which holds none.
func TestConfirmingHandlerLogsNoPersonalData(t *testing.T) {
	t.Parallel()
	personal := []string{"王", "又曾", "A123456789", "A223456789", "1990-06-21", "1965-03-16"}
	client, mux := setup(t, WithMaxRetries(0))
	idv := string(fixture(t, "callback_idv.json"))
	task := string(fixture(t, "callback_task.json"))
	withID := func(body, key string, id int) string {
		return strings.Replace(body, fmt.Sprintf(`"%s": %d`, key, map[string]int{"task_id": 123, "idv_task_id": 12}[key]),
			fmt.Sprintf(`"%s": %d`, key, id), 1)
	}
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	for kind, body := range map[string]string{"task": task, "idv": idv} {
		prefix, key := "/task/%d/summary", "task_id"
		if kind == "idv" {
			prefix, key = "/idv/%d", "idv_task_id"
		}
		mux.HandleFunc(fmt.Sprintf(prefix, 1), answer(http.StatusNotFound, `{"message":"not found"}`))
		mux.HandleFunc(fmt.Sprintf(prefix, 2), answer(http.StatusServiceUnavailable, `{"message":"busy"}`))
		mux.HandleFunc(fmt.Sprintf(prefix, 3), answer(http.StatusBadRequest, `{"message":"bad"}`))
		// another record
		mux.HandleFunc(fmt.Sprintf(prefix, 4), answer(http.StatusOK, withID(body, key, 44)))
		// repeats a key
		mux.HandleFunc(fmt.Sprintf(prefix, 5), answer(http.StatusOK, strings.Replace(withID(body, key, 5), "{", `{"Customer_Reference": "x",`, 1)))
		// another customer
		mux.HandleFunc(fmt.Sprintf(prefix, 6), answer(http.StatusOK, strings.Replace(withID(body, key, 6), "000000123", "000000999", 1)))
	}
	var logs bytes.Buffer
	signer := newSigner(t, secretA)
	h := &CallbackHandler{Signer: signer, Confirm: client, ConfirmBurst: 12, ConfirmRate: 1e-9,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnTask: func(context.Context, *TaskSummary) error { return nil }, OnIDV: func(context.Context, *IDVTask) error { return nil }}
	post := func(body string) int {
		req, err := NewSignedCallbackRequest(signer, "https://example.com/cb", "000000123", []byte(body))
		require.NoError(t, err)
		return serve(h, req)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"task_id": "王又曾", "target": {"name": "王又曾"}}`, http.StatusBadRequest},
		{`{"idv_task_id": "A123456789", "full_name": "王又曾"}`, http.StatusBadRequest},
		{`{"idv_task_id": {"id_number": "A123456789"}}`, http.StatusBadRequest},
		{strings.Replace(idv, `"country"`, `"Full_Name": "x", "country"`, 1), http.StatusBadRequest},
		{strings.Replace(task, `"task_id": 123`, `"task_id": 123, "idv_task_id": 12`, 1), http.StatusBadRequest},
		{withID(task, "task_id", 1), http.StatusUnprocessableEntity}, {withID(idv, "idv_task_id", 1), http.StatusUnprocessableEntity},
		{withID(task, "task_id", 2), http.StatusServiceUnavailable}, {withID(idv, "idv_task_id", 2), http.StatusServiceUnavailable},
		{withID(task, "task_id", 3), http.StatusInternalServerError}, {withID(idv, "idv_task_id", 3), http.StatusInternalServerError},
		{withID(task, "task_id", 4), http.StatusForbidden}, {withID(idv, "idv_task_id", 4), http.StatusForbidden},
		{withID(task, "task_id", 5), http.StatusForbidden}, {withID(idv, "idv_task_id", 5), http.StatusForbidden},
		{withID(task, "task_id", 6), http.StatusForbidden}, {withID(idv, "idv_task_id", 6), http.StatusForbidden},
		{withID(task, "task_id", 7), http.StatusServiceUnavailable}, {withID(idv, "idv_task_id", 7), http.StatusServiceUnavailable}, // over the cap
	} {
		assert.Equal(t, tc.want, post(tc.body), tc.body[:min(len(tc.body), 60)])
	}
	out := logs.String()
	assert.Contains(t, out, `"key":"task:1:1623867890:100:true"`, "a failed confirmation logs the body's key")
	assert.Contains(t, out, `"level":"DEBUG"`, "the refusals over the cap")
	for _, p := range personal {
		assert.NotContains(t, out, p)
	}
}
