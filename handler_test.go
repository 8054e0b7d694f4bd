package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureRef is the customer_reference of the callback fixtures.
const fixtureRef = "000000123"

// serve sends req through h and returns the status.
func serve(h http.Handler, req *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestCallbackRoundTrip(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	var gotTask *TaskSummary
	var gotEvent *CallbackEvent
	h := &CallbackHandler{Signer: signer, Logger: discardLogger(), OnTask: func(ctx context.Context, task *TaskSummary) error {
		gotTask = task
		gotEvent, _ = CallbackFromContext(ctx)
		return nil
	}}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/kryptogo/callback?customer=42&plan=gold", fixtureRef, fixture(t, "callback_task.json"))
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, http.StatusNoContent, serve(h, req))

	var fromAPI TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &fromAPI))
	assertDecoded(t, &fromAPI, gotTask)
	assertRaw(t, fixture(t, "callback_task.json"), gotTask)
	require.NotNil(t, gotEvent)
	assert.Equal(t, url.Values{"customer": {"42"}, "plan": {"gold"}, ReferenceParam: {fixtureRef}}, gotEvent.Params, "the signature is not among the params")
	assert.Equal(t, fixtureRef, gotEvent.CustomerReference)
	assert.True(t, gotEvent.Verified)
	assert.False(t, gotEvent.Confirmed)
	assert.Equal(t, CallbackTask, gotEvent.Kind)
	assert.Equal(t, ID(123), gotEvent.ID())
}

func TestCallbackIDVRoundTrip(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	var got *IDVTask
	h := &CallbackHandler{Signer: signer, Logger: discardLogger(), OnIDV: func(ctx context.Context, task *IDVTask) error {
		got = task
		return nil
	}}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/cb?customer=7", fixtureRef, json.RawMessage(fixture(t, "callback_idv.json")))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assertDecoded(t, wantIDVTask(), got)
}

func TestSignedCallbackRequestOverTheNetwork(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	var got atomic.Int64
	srv := httptest.NewServer(&CallbackHandler{Signer: signer, Logger: discardLogger(),
		OnTask: func(_ context.Context, task *TaskSummary) error { got.Store(int64(task.TaskID)); return nil }})
	defer srv.Close()
	req, err := NewSignedCallbackRequest(signer, srv.URL+"/cb?customer=1", fixtureRef, fixture(t, "callback_task.json"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, int64(123), got.Load())
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCallbackHandlerRejections(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	signed := func(rawURL string, body []byte) *http.Request {
		req, err := NewSignedCallbackRequest(signer, rawURL, fixtureRef, body)
		require.NoError(t, err)
		return req
	}
	taskBody := fixture(t, "callback_task.json")
	tampered := signed("https://example.com/cb?customer=42", taskBody)
	tampered.URL.RawQuery = strings.Replace(tampered.URL.RawQuery, "customer=42", "customer=1", 1)
	otherSecret, err := NewSignedCallbackRequest(newSigner(t, secretB), "https://example.com/cb?customer=42", fixtureRef, taskBody)
	require.NoError(t, err)
	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb?customer=42", "", taskBody)
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
		t.Run(tc.name, func(t *testing.T) {
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
		})
	}
}

func TestCallbackHandlerFunctionOutcomes(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	req := func() *http.Request {
		r, err := NewSignedCallbackRequest(signer, "https://example.com/cb", fixtureRef, fixture(t, "callback_task.json"))
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
	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb?x=1", "", fixture(t, "callback_task.json"))
	require.NoError(t, err)
	type ctxKey struct{}
	unsigned = unsigned.WithContext(context.WithValue(unsigned.Context(), ctxKey{}, "request-scoped"))
	assert.Equal(t, http.StatusNoContent, serve(open, unsigned))
	require.NotNil(t, ctxSeen)
	assert.Equal(t, "request-scoped", ctxSeen.Value(ctxKey{}), "the function gets the request's context")
	ev, ok := CallbackFromContext(ctxSeen)
	require.True(t, ok)
	assert.False(t, ev.Verified)
	assert.Nil(t, ev.Params, "parameters of an unverified URL are not handed on")
	assert.Empty(t, ev.CustomerReference)
	_, ok = CallbackFromContext(t.Context())
	assert.False(t, ok)
}

func TestCallbackHandlerConfirm(t *testing.T) {
	t.Parallel()
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
	req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", forged)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assert.Equal(t, int32(1), fetched.Load())
	assertDecoded(t, wantTaskSummary(), got)
	assert.True(t, event.Confirmed)

	pending := []byte(`{"idv_task_id": 12, "state": 3}`)
	req, err = NewSignedCallbackRequest(nil, "https://example.com/cb", "", pending)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	assert.Equal(t, IDVAccept, gotIDV.State, "the API's state, not the body's pending")

	got = nil
	req, err = NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 999, "progress": 100}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, serve(h, req), "a record the API does not know is refused, not retried")
	assert.Nil(t, got, "the function is not called")
}

func TestCallbackHandlerLogsNoPersonalData(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	var logs bytes.Buffer
	h := &CallbackHandler{Signer: signer, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		OnIDV: func(context.Context, *IDVTask) error { return nil }}
	req, err := NewSignedCallbackRequest(signer, "https://example.com/cb?customer=42", fixtureRef, fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, serve(h, req))
	bad, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, serve(h, bad))

	leaky, err := NewSignedCallbackRequest(signer, "https://example.com/cb", fixtureRef, []byte(`{"idv_task_id": "A223456789", "full_name": "王又曾"}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, serve(h, leaky))
	leakyTime, err := NewSignedCallbackRequest(signer, "https://example.com/cb", fixtureRef, []byte(`{"task_id": 5, "update_time": "1965-03-16"}`))
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
	t.Parallel()
	var logs bytes.Buffer
	h := &CallbackHandler{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := 0; i < 3; i++ {
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", fixture(t, "callback_task.json"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, serve(h, req))
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "refuses every callback"))
}

// attackAPI is a fake API for the attack table: customer c42's sanctioned
// task 5, customer c43's clean task 6 and IDV task 7, and answers that are
// wrong in every way a confirmation can meet.
func attackAPI(t *testing.T) *Client {
	client, mux := setup(t, WithMaxRetries(0))
	answer := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		})
	}
	fail := func(path string, status int) {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, `{"message":"no"}`, status) })
	}
	answer("/task/5/summary", `{"task_id": 5, "customer_reference": "c42", "progress": 100, "report": {"sanction_matched": true, "potential_risk": 100}}`)
	answer("/task/6/summary", `{"task_id": 6, "customer_reference": "c43", "progress": 100, "report": {"potential_risk": 0, "accepted": true}}`)
	answer("/idv/7", `{"idv_task_id": 7, "customer_reference": "c43", "state": 0}`)
	answer("/idv/8", `{"idv_task_id": 8, "customer_reference": "c42", "state": 2}`)
	answer("/task/9/summary", `{"task_id": 999, "customer_reference": "c42", "progress": 100}`)
	answer("/task/10/summary", `{"idv_task_id": 10, "customer_reference": "c42", "state": 0}`)
	answer("/task/11/summary", `{"task_id": 11, "progress": 100}`)
	answer("/task/16/summary", `{"task_id": 16, "customer_reference": "c43", "CUSTOMER_REFERENCE": "c42", "progress": 100}`)
	fail("/task/12/summary", http.StatusNotFound)
	fail("/task/13/summary", http.StatusServiceUnavailable)
	fail("/task/14/summary", http.StatusTooManyRequests)
	fail("/task/15/summary", http.StatusUnauthorized)
	return client
}

func TestCallbackHandlerAttacks(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	client := attackAPI(t)
	const hook = "https://hooks.example.com/kryptogo/cb"
	for42 := signFor(t, signer, hook+"?plan=gold", "c42")
	post := func(u *url.URL, body string) func() *http.Request {
		return func() *http.Request {
			req, err := NewSignedCallbackRequest(nil, u.String(), "", []byte(body))
			require.NoError(t, err)
			return req
		}
	}
	edited := func(edit func(*url.URL)) *url.URL { return editURL(for42, edit) }
	signerOnly := func() *CallbackHandler { return &CallbackHandler{Signer: signer} }
	confirmOnly := func() *CallbackHandler { return &CallbackHandler{Confirm: client} }
	both := func() *CallbackHandler { return &CallbackHandler{Signer: signer, Confirm: client} }
	for _, tc := range []struct {
		name    string
		handler func() *CallbackHandler
		req     func() *http.Request
		status  int
	}{
		{"cross-customer task", both, post(for42, `{"task_id": 6, "customer_reference": "c42"}`), http.StatusForbidden},
		{"cross-customer IDV on a task customer's URL", both, post(for42, `{"idv_task_id": 7, "customer_reference": "c42"}`), http.StatusForbidden},
		{"signer only: body of another customer", signerOnly, post(for42, `{"task_id": 6, "customer_reference": "c43"}`), http.StatusForbidden},
		{"signer only: IDV body of another customer", signerOnly, post(for42, `{"idv_task_id": 7, "customer_reference": "c43"}`), http.StatusForbidden},
		{"signer only: body without a customer", signerOnly, post(for42, `{"task_id": 5, "progress": 100}`), http.StatusForbidden},
		{"signer only: null customer", signerOnly, post(for42, `{"task_id": 5, "customer_reference": null}`), http.StatusForbidden},
		{"signer only: customer_reference repeated in capitals", signerOnly, post(for42,
			`{"task_id": 6, "customer_reference": "c43", "CUSTOMER_REFERENCE": "c42", "progress": 100}`), http.StatusBadRequest},
		{"signer only: IDV customer_reference twice", signerOnly, post(for42,
			`{"idv_task_id": 7, "customer_reference": "c43", "customer_reference": "c42", "state": 0}`), http.StatusBadRequest},
		{"confirm: TASK_ID after task_id names another customer's task", both, post(for42, `{"task_id": 5, "TASK_ID": 6}`), http.StatusBadRequest},
		{"confirm: the API record repeats customer_reference", both, post(for42, `{"task_id": 16, "customer_reference": "c42"}`), http.StatusForbidden},
		{"confirmed record without a customer", both, post(for42, `{"task_id": 11, "customer_reference": "c42"}`), http.StatusForbidden},
		{"confirm: the API answers 999 for 9", both, post(for42, `{"task_id": 9, "customer_reference": "c42"}`), http.StatusForbidden},
		{"confirm only: the API answers 999 for 9", confirmOnly, post(for42, `{"task_id": 9}`), http.StatusForbidden},
		{"confirm: the API answers an IDV task for a task", both, post(for42, `{"task_id": 10, "customer_reference": "c42"}`), http.StatusForbidden},
		{"confirm: 404 from the API", both, post(for42, `{"task_id": 12, "customer_reference": "c42"}`), http.StatusUnprocessableEntity},
		{"confirm: 401 from the API", both, post(for42, `{"task_id": 15, "customer_reference": "c42"}`), http.StatusInternalServerError},
		{"confirm: 503 from the API", both, post(for42, `{"task_id": 13, "customer_reference": "c42"}`), http.StatusServiceUnavailable},
		{"confirm: 429 from the API", both, post(for42, `{"task_id": 14, "customer_reference": "c42"}`), http.StatusServiceUnavailable},
		{"signature moved to another host", both, post(edited(func(u *url.URL) { u.Host = "evil.example" }), `{"task_id": 5}`), http.StatusUnauthorized},
		{"signature moved to another path", both, post(edited(func(u *url.URL) { u.Path = "/kryptogo/admin" }), `{"task_id": 5}`), http.StatusUnauthorized},
		{"signature on a URL without params", both, post(edited(func(u *url.URL) { u.RawQuery = "kg_sig=" + for42.Query().Get(SignatureParam) }), `{"task_id": 5}`), http.StatusUnauthorized},
		{"kg_ref changed to another customer", both, post(edited(func(u *url.URL) {
			u.RawQuery = strings.Replace(u.RawQuery, "kg_ref=c42", "kg_ref=c43", 1)
		}), `{"task_id": 6}`), http.StatusUnauthorized},
		{"unsigned kg_ref", signerOnly, func() *http.Request {
			req, err := NewSignedCallbackRequest(nil, hook, "c43", []byte(`{"task_id": 6, "customer_reference": "c43"}`))
			require.NoError(t, err)
			return req
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var called atomic.Int32
			h := tc.handler()
			var logs bytes.Buffer
			h.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			h.OnTask = func(context.Context, *TaskSummary) error { called.Add(1); return nil }
			h.OnIDV = func(context.Context, *IDVTask) error { called.Add(1); return nil }
			assert.Equal(t, tc.status, serve(h, tc.req()))
			assert.Equal(t, int32(0), called.Load(), "the user's function must not run")
			assert.Contains(t, logs.String(), `"level":"WARN"`)
			assert.Contains(t, logs.String(), `"reason":`, "every refusal is logged with its reason")
		})
	}
}

func TestCallbackHandlerDeliversOwnRecords(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	client := attackAPI(t)
	for42 := signFor(t, signer, "https://hooks.example.com/kryptogo/cb?plan=gold", "c42").String()
	for _, tc := range []struct {
		name      string
		handler   *CallbackHandler
		url, body string
		wantID    ID
		wantEvent CallbackEvent
	}{
		{"signer and confirm: the API's record, not the body's", &CallbackHandler{Signer: signer, Confirm: client}, for42,
			`{"task_id": 5, "customer_reference": "c42", "progress": 100, "report": {"potential_risk": 0, "accepted": true}}`, 5,
			CallbackEvent{Kind: CallbackTask, CustomerReference: "c42", Params: url.Values{"plan": {"gold"}, ReferenceParam: {"c42"}}, Verified: true, Confirmed: true}},
		{"signer and confirm: the customer's IDV", &CallbackHandler{Signer: signer, Confirm: client}, for42,
			`{"idv_task_id": 8, "customer_reference": "c42"}`, 8,
			CallbackEvent{Kind: CallbackIDV, CustomerReference: "c42", Params: url.Values{"plan": {"gold"}, ReferenceParam: {"c42"}}, Verified: true, Confirmed: true}},
		{"signer only", &CallbackHandler{Signer: signer}, for42,
			`{"task_id": 5, "customer_reference": "c42", "progress": 100}`, 5,
			CallbackEvent{Kind: CallbackTask, CustomerReference: "c42", Params: url.Values{"plan": {"gold"}, ReferenceParam: {"c42"}}, Verified: true}},
		{"confirm only: unverified params are not handed on", &CallbackHandler{Confirm: client}, "https://hooks.example.com/cb?customer=43&kg_ref=c43",
			`{"task_id": 5}`, 5, CallbackEvent{Kind: CallbackTask, Confirmed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *CallbackEvent
			deliver := func(ctx context.Context) error { got, _ = CallbackFromContext(ctx); return nil }
			h := tc.handler
			h.Logger = discardLogger()
			h.OnTask = func(ctx context.Context, _ *TaskSummary) error { return deliver(ctx) }
			h.OnIDV = func(ctx context.Context, _ *IDVTask) error { return deliver(ctx) }
			req, err := NewSignedCallbackRequest(nil, tc.url, "", []byte(tc.body))
			require.NoError(t, err)
			assert.Equal(t, http.StatusNoContent, serve(h, req))
			require.NotNil(t, got, "delivered")
			assert.Equal(t, tc.wantID, got.ID())
			gotFields := CallbackEvent{Kind: got.Kind, CustomerReference: got.CustomerReference, Params: got.Params, Verified: got.Verified, Confirmed: got.Confirmed}
			if diff := cmp.Diff(tc.wantEvent, gotFields, cmpopts.IgnoreUnexported(CallbackEvent{})); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if got.Task != nil && got.Confirmed {
				assert.True(t, got.Task.Report.SanctionMatched, "the API's record: the body claimed a clean report")
			}
		})
	}
}

func TestCallbackHandlerPublicURL(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	signed := signFor(t, signer, "https://hooks.example.com/kryptogo/callback", fixtureRef)
	var called atomic.Int32
	newHandler := func(publicURL string) *CallbackHandler {
		return &CallbackHandler{Signer: signer, PublicURL: publicURL, Logger: discardLogger(),
			OnTask: func(context.Context, *TaskSummary) error { called.Add(1); return nil }}
	}
	// Behind a proxy that strips /kryptogo and sends its own Host header.
	behindProxy := func() *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/callback?"+signed.RawQuery, bytes.NewReader(fixture(t, "callback_task.json")))
		req.Host = "backend:8080"
		return req
	}
	assert.Equal(t, http.StatusUnauthorized, serve(newHandler(""), behindProxy()), "the rewritten host and path were not signed")
	assert.Equal(t, http.StatusNoContent, serve(newHandler("https://hooks.example.com/kryptogo/callback"), behindProxy()))
	assert.Equal(t, int32(1), called.Load())
	assert.Equal(t, http.StatusUnauthorized, serve(newHandler("https://hooks.example.com/other"), behindProxy()),
		"PublicURL names one endpoint: a URL signed for another is refused")
	assert.Equal(t, http.StatusInternalServerError, serve(newHandler("/kryptogo/callback"), behindProxy()), "misconfigured")
	assert.Equal(t, int32(1), called.Load())
}

func TestReadCallbackBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 10<<10)
	for name, tc := range map[string]struct {
		body     string
		declared int64
		max      int64
		tooLarge bool
	}{
		"declared length":         {body: `{"task_id": 1}`, declared: 14, max: 1 << 20},
		"unknown length":          {body: `{"task_id": 1}`, declared: -1, max: 1 << 20},
		"bigger than the buffer":  {body: big, declared: -1, max: 1 << 20},
		"declared more than sent": {body: `{}`, declared: 1 << 20, max: 1 << 20},
		"declared less than sent": {body: big, declared: 10, max: 1 << 20},
		"over the cap":            {body: big, declared: -1, max: 1 << 10, tooLarge: true},
		"exactly the cap":         {body: big[:1<<10], declared: 1 << 10, max: 1 << 10},
		"declared over the cap":   {body: big, declared: int64(len(big)), max: 1 << 10, tooLarge: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(tc.body)), tc.max)
			got, err := readCallbackBody(r, tc.declared, tc.max)
			if tc.tooLarge {
				var tooLarge *http.MaxBytesError
				require.ErrorAs(t, err, &tooLarge)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(got))
		})
	}
}
