package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve sends req through h and returns the status.
func serve(h http.Handler, req *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestCallbackRoundTrip(t *testing.T) {
	signer := newSigner(t, secretA)
	var gotTask *TaskSummary
	var gotEvent *CallbackEvent
	h := &CallbackHandler{Signer: signer, Logger: discardLogger(), OnTask: func(ctx context.Context, task *TaskSummary) error {
		gotTask = task
		gotEvent, _ = CallbackFromContext(ctx)
		return nil
	}}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/kryptogo/callback?customer=42&plan=gold", fixture(t, "callback_task.json"))
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, http.StatusNoContent, serve(h, req))

	var fromAPI TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &fromAPI))
	assertDecoded(t, &fromAPI, gotTask)
	assertRaw(t, fixture(t, "callback_task.json"), gotTask)
	require.NotNil(t, gotEvent)
	assert.Equal(t, url.Values{"customer": {"42"}, "plan": {"gold"}}, gotEvent.Params, "the signature is not among the params")
	assert.True(t, gotEvent.Verified)
	assert.False(t, gotEvent.Confirmed)
	assert.Equal(t, CallbackTask, gotEvent.Kind)
	assert.Equal(t, ID(123), gotEvent.ID())
}

func TestCallbackIDVRoundTrip(t *testing.T) {
	signer := newSigner(t, secretA)
	var got *IDVTask
	h := &CallbackHandler{Signer: signer, Logger: discardLogger(), OnIDV: func(ctx context.Context, task *IDVTask) error {
		got = task
		return nil
	}}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/cb?customer=7", json.RawMessage(fixture(t, "callback_idv.json")))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assertDecoded(t, wantIDVTask(), got)
}

func TestSignedCallbackRequestOverTheNetwork(t *testing.T) {
	signer := newSigner(t, secretA)
	var got atomic.Int64
	srv := httptest.NewServer(&CallbackHandler{Signer: signer, Logger: discardLogger(),
		OnTask: func(_ context.Context, task *TaskSummary) error { got.Store(int64(task.TaskID)); return nil }})
	defer srv.Close()
	req, err := NewSignedCallbackRequest(signer, srv.URL+"/cb?customer=1", fixture(t, "callback_task.json"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, int64(123), got.Load())
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCallbackHandlerRejections(t *testing.T) {
	signer := newSigner(t, secretA)
	signed := func(rawURL string, body []byte) *http.Request {
		req, err := NewSignedCallbackRequest(signer, rawURL, body)
		require.NoError(t, err)
		return req
	}
	taskBody := fixture(t, "callback_task.json")
	tampered := signed("https://example.com/cb?customer=42", taskBody)
	tampered.URL.RawQuery = strings.Replace(tampered.URL.RawQuery, "customer=42", "customer=1", 1)
	otherSecret, err := NewSignedCallbackRequest(newSigner(t, secretB), "https://example.com/cb?customer=42", taskBody)
	require.NoError(t, err)
	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb?customer=42", taskBody)
	require.NoError(t, err)
	get := signed("https://example.com/cb", taskBody)
	get.Method = http.MethodGet

	for _, tc := range []struct {
		name    string
		handler *CallbackHandler
		req     *http.Request
		status  int
	}{
		{"GET", &CallbackHandler{Signer: signer}, get, http.StatusMethodNotAllowed},
		{"unsigned", &CallbackHandler{Signer: signer}, unsigned, http.StatusUnauthorized},
		{"tampered", &CallbackHandler{Signer: signer}, tampered, http.StatusUnauthorized},
		{"other secret", &CallbackHandler{Signer: signer}, otherSecret, http.StatusUnauthorized},
		{"too large", &CallbackHandler{Signer: signer, MaxBodyBytes: 100}, signed("https://example.com/cb", taskBody), http.StatusRequestEntityTooLarge},
		{"over default cap", &CallbackHandler{Signer: signer}, signed("https://example.com/cb", append([]byte(`{"task_id":1,"pad":"`), bytes.Repeat([]byte("x"), DefaultMaxCallbackBytes)...)), http.StatusRequestEntityTooLarge},
		{"not JSON", &CallbackHandler{Signer: signer}, signed("https://example.com/cb", []byte("hello")), http.StatusBadRequest},
		{"neither kind", &CallbackHandler{Signer: signer}, signed("https://example.com/cb", []byte(`{"kya_id":1}`)), http.StatusBadRequest},
		{"misconfigured", &CallbackHandler{}, signed("https://example.com/cb", taskBody), http.StatusInternalServerError},
	} {
		var called atomic.Int32
		tc.handler.Logger = discardLogger()
		tc.handler.OnTask = func(context.Context, *TaskSummary) error { called.Add(1); return nil }
		tc.handler.OnIDV = func(context.Context, *IDVTask) error { called.Add(1); return nil }
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, tc.req)
		assert.Equal(t, tc.status, rec.Code, tc.name)
		assert.Equal(t, int32(0), called.Load(), "%s: the user's function must not run", tc.name)
		if tc.status == http.StatusMethodNotAllowed {
			assert.Equal(t, "POST", rec.Header().Get("Allow"))
		}
	}
}

func TestCallbackHandlerFunctionOutcomes(t *testing.T) {
	signer := newSigner(t, secretA)
	req := func() *http.Request {
		r, err := NewSignedCallbackRequest(signer, "https://example.com/cb", fixture(t, "callback_task.json"))
		require.NoError(t, err)
		return r
	}
	failing := &CallbackHandler{Signer: signer, Logger: discardLogger(),
		OnTask: func(context.Context, *TaskSummary) error { return errors.New("database down") }}
	assert.Equal(t, http.StatusInternalServerError, serve(failing, req()), "a failure makes the sender retry")

	var idvCalls atomic.Int32
	onlyIDV := &CallbackHandler{Signer: signer, Logger: discardLogger(),
		OnIDV: func(context.Context, *IDVTask) error { idvCalls.Add(1); return nil }}
	assert.Equal(t, http.StatusNoContent, serve(onlyIDV, req()), "no function: acknowledged")
	assert.Equal(t, int32(0), idvCalls.Load())

	var ctxSeen context.Context
	open := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(),
		OnTask: func(ctx context.Context, _ *TaskSummary) error { ctxSeen = ctx; return nil }}
	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb?x=1", fixture(t, "callback_task.json"))
	require.NoError(t, err)
	type ctxKey struct{}
	unsigned = unsigned.WithContext(context.WithValue(unsigned.Context(), ctxKey{}, "request-scoped"))
	assert.Equal(t, http.StatusNoContent, serve(open, unsigned))
	require.NotNil(t, ctxSeen)
	assert.Equal(t, "request-scoped", ctxSeen.Value(ctxKey{}), "the function gets the request's context")
	ev, ok := CallbackFromContext(ctxSeen)
	require.True(t, ok)
	assert.False(t, ev.Verified)
	assert.Equal(t, "1", ev.Params.Get("x"))
	_, ok = CallbackFromContext(context.Background())
	assert.False(t, ok)
}

func TestCallbackHandlerConfirm(t *testing.T) {
	client, mux := setup(t)
	var fetched atomic.Int32
	mux.HandleFunc("/task/123/summary", func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		assertRequest(t, r, http.MethodGet, "/task/123/summary")
		serveFixture(t, "task_summary.json")(w)
	})
	mux.HandleFunc("/idv/12", func(w http.ResponseWriter, r *http.Request) {
		serveFixture(t, "idv_task.json")(w)
	})
	mux.HandleFunc("/task/999/summary", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
	})
	var got *TaskSummary
	var gotIDV *IDVTask
	var event *CallbackEvent
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(),
		OnTask: func(ctx context.Context, task *TaskSummary) error {
			got = task
			event, _ = CallbackFromContext(ctx)
			return nil
		},
		OnIDV: func(ctx context.Context, task *IDVTask) error { gotIDV = task; return nil },
	}
	// The body claims no progress; the API says the task completed.
	forged := []byte(`{"task_id": 123, "progress": 0, "report": {"potential_risk": 0, "accepted": true}}`)
	req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", forged)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assert.Equal(t, int32(1), fetched.Load())
	assertDecoded(t, wantTaskSummary(), got)
	assert.True(t, event.Confirmed)

	pending := []byte(`{"idv_task_id": 12, "state": 3}`)
	req, err = NewSignedCallbackRequest(nil, "https://example.com/cb", pending)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assert.Equal(t, IDVAccept, gotIDV.State, "the API's state, not the body's pending")

	got = nil
	req, err = NewSignedCallbackRequest(nil, "https://example.com/cb", []byte(`{"task_id": 999, "progress": 100}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, serve(h, req), "a failed fetch is a 5xx: the sender may retry")
	assert.Nil(t, got, "the function is not called")
}

func TestCallbackHandlerLogsNoPersonalData(t *testing.T) {
	signer := newSigner(t, secretA)
	var logs bytes.Buffer
	h := &CallbackHandler{Signer: signer, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		OnIDV: func(context.Context, *IDVTask) error { return nil }}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/cb?customer=42", fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	bad, err := NewSignedCallbackRequest(nil, "https://example.com/cb", fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, serve(h, bad))

	leaky, err := NewSignedCallbackRequest(signer, "https://example.com/cb", []byte(`{"idv_task_id": "A223456789", "full_name": "王又曾"}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, serve(h, leaky))
	leakyTime, err := NewSignedCallbackRequest(signer, "https://example.com/cb", []byte(`{"task_id": 5, "update_time": "1965-03-16"}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, serve(h, leakyTime))

	out := logs.String()
	assert.Contains(t, out, `"msg":"kryptogo callback","status":204,"kind":"idv","id":12,"key":"idv:12:0:Accepted:1641982000","verified":true,"confirmed":false`)
	assert.Contains(t, out, `"level":"WARN","msg":"kryptogo callback","status":401,"reason":"invalid callback signature: want one kg_sig parameter, got 0"`)
	for _, pii := range []string{"王又曾", "A223456789", "A123456789", "1965-03-16", "又曾"} {
		assert.NotContains(t, out, pii)
	}
}

func TestCallbackHandlerMisconfigurationLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	h := &CallbackHandler{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := 0; i < 3; i++ {
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", fixture(t, "callback_task.json"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, serve(h, req))
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "refuses every callback"))
}
