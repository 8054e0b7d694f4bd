package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
)

func newSigner(t *testing.T, secret []byte, previous ...[]byte) *CallbackSigner {
	s, err := NewCallbackSigner(secret, previous...)
	require.NoError(t, err)
	return s
}

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

func TestParseCallbackMatchesGETModels(t *testing.T) {
	ev, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	var summary TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &summary))
	assertDecoded(t, &summary, ev.Task)
	assert.Nil(t, ev.IDV)
	assert.Equal(t, CallbackTask, ev.Kind)

	ev, err = ParseCallback(fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assertDecoded(t, wantIDVTask(), ev.IDV)
	assert.Nil(t, ev.Task)
	assert.Equal(t, CallbackIDV, ev.Kind)
	assert.JSONEq(t, string(fixture(t, "callback_idv.json")), string(ev.RawJSON()))

	ev, err = ParseCallback([]byte(`{"task_id": 5, "future_field": {"x": 1}}`))
	require.NoError(t, err)
	assert.Contains(t, string(ev.RawJSON()), "future_field", "undocumented fields are kept")
}

func TestParseCallbackRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":       `task_id=5`,
		"array":          `[{"task_id": 5}]`,
		"null":           `null`,
		"empty object":   `{}`,
		"neither kind":   `{"kya_id": 12}`,
		"both kinds":     `{"task_id": 1, "idv_task_id": 2}`,
		"zero task id":   `{"task_id": 0}`,
		"null idv id":    `{"idv_task_id": null}`,
		"bad task field": `{"task_id": 5, "progress": "done"}`,
		"bad idv field":  `{"idv_task_id": 5, "state": "accept"}`,
		"truncated":      `{"task_id": 5,`,
	} {
		_, err := ParseCallback([]byte(body))
		assert.ErrorIs(t, err, ErrInvalidCallback, name)
	}
	_, err := ParseCallback([]byte(`{"kya_id": 12}`))
	assert.EqualError(t, err, "kryptogo: invalid callback: the body is neither a DD task (task_id) nor an IDV task (idv_task_id)")
	_, err = ParseTaskCallback(fixture(t, "callback_idv.json"))
	assert.ErrorIs(t, err, ErrInvalidCallback)
	_, err = ParseIDVCallback(fixture(t, "callback_task.json"))
	assert.ErrorIs(t, err, ErrInvalidCallback)
}

func TestSignerVerify(t *testing.T) {
	signer := newSigner(t, secretA)
	signed, err := signer.SignURL("https://example.com/cb?customer=42&b=x%20y&b=z")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(signed, "https://example.com/cb?customer=42&b=x%20y&b=z&kg_sig="), signed)
	mustParse := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	require.NoError(t, signer.VerifyURL(mustParse(signed)))

	u := mustParse(signed)
	q := u.Query()
	reencoded := *u
	reencoded.RawQuery = q.Encode() // a proxy that re-encodes and reorders the query
	assert.NoError(t, signer.VerifyURL(&reencoded))

	sig := q.Get(SignatureParam)
	for name, raw := range map[string]string{
		"changed value":      strings.Replace(u.RawQuery, "customer=42", "customer=43", 1),
		"added param":        u.RawQuery + "&admin=1",
		"removed param":      strings.Replace(u.RawQuery, "customer=42&", "", 1),
		"reordered values":   strings.Replace(u.RawQuery, "b=x%20y&b=z", "b=z&b=x%20y", 1),
		"value moved to key": strings.Replace(u.RawQuery, "customer=42", "customer42=", 1),
		"no signature":       "customer=42&b=x%20y&b=z",
		"two signatures":     u.RawQuery + "&kg_sig=" + sig,
		"malformed":          "customer=42&b=x%20y&b=z&kg_sig=not*base64",
		"short":              "customer=42&b=x%20y&b=z&kg_sig=abcd",
		"bad query":          "customer=%zz&kg_sig=" + sig,
	} {
		tampered := *u
		tampered.RawQuery = raw
		assert.ErrorIs(t, signer.VerifyURL(&tampered), ErrInvalidSignature, name)
	}
	other := newSigner(t, secretB)
	assert.ErrorIs(t, other.VerifyURL(u), ErrInvalidSignature, "another secret")
	assert.ErrorIs(t, signer.Verify(nil), ErrInvalidSignature)

	noQuery, err := signer.SignURL("https://example.com/cb")
	require.NoError(t, err)
	assert.Regexp(t, `^https://example\.com/cb\?kg_sig=[A-Za-z0-9_-]{43}$`, noQuery)
	assert.NoError(t, signer.VerifyURL(mustParse(noQuery)))
}

func TestSignerRotation(t *testing.T) {
	old := newSigner(t, secretA)
	signedOld, err := old.SignURL("https://example.com/cb?customer=1")
	require.NoError(t, err)
	rotated := newSigner(t, secretB, secretA)
	signedNew, err := rotated.SignURL("https://example.com/cb?customer=1")
	require.NoError(t, err)
	assert.NotEqual(t, signedOld, signedNew, "signs with the current secret")
	for _, s := range []string{signedOld, signedNew} {
		u, _ := url.Parse(s)
		assert.NoError(t, rotated.VerifyURL(u), s)
	}
	u, _ := url.Parse(signedNew)
	assert.ErrorIs(t, old.VerifyURL(u), ErrInvalidSignature)
	retired := newSigner(t, secretB)
	u, _ = url.Parse(signedOld)
	assert.ErrorIs(t, retired.VerifyURL(u), ErrInvalidSignature, "a retired secret no longer verifies")
}

func TestSignerErrors(t *testing.T) {
	_, err := NewCallbackSigner([]byte("short"))
	assert.ErrorContains(t, err, "at least 32 random bytes")
	_, err = NewCallbackSigner(secretA, []byte("short"))
	assert.ErrorContains(t, err, "callback secret 1 is 5 bytes")

	signer := newSigner(t, secretA)
	for _, bad := range []string{"/relative", "example.com/cb", "ftp://example.com/cb", "https://example.com/cb?kg_sig=x", "https://example.com/cb?a=%zz", "http://[::1"} {
		_, err := signer.SignURL(bad)
		assert.Error(t, err, bad)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, signer)
		assert.NotContains(t, out, string(secretA), verb)
		assert.NotContains(t, out, fmt.Sprintf("%x", secretA), verb)
	}
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

func TestCallbackEventKey(t *testing.T) {
	a, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	b, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	assert.Equal(t, a.Key(), b.Key(), "the same delivery twice has the same key")
	assert.Equal(t, "task:123:1623867890:100:true", a.Key())

	completed, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": null}}`))
	require.NoError(t, err)
	accepted, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": true}}`))
	require.NoError(t, err)
	rejected, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": false}}`))
	require.NoError(t, err)
	keys := map[string]bool{completed.Key(): true, accepted.Key(): true, rejected.Key(): true, a.Key(): true}
	assert.Len(t, keys, 4, "each change of the task has its own key")

	idv, err := ParseCallback(fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, "idv:12:0:Accepted:1641982000", idv.Key())
	assert.Equal(t, "", (&CallbackEvent{}).Key())
	assert.Equal(t, ID(0), (&CallbackEvent{}).ID())
	assert.Nil(t, (&CallbackEvent{}).RawJSON())
	assert.Equal(t, "CallbackKind(0)", CallbackKind(0).String())
}

func TestNewSignedCallbackRequestPayloads(t *testing.T) {
	signer := newSigner(t, secretA)
	var summary TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &summary))
	for name, payload := range map[string]any{
		"model with raw JSON": &summary,
		"bytes":               fixture(t, "task_summary.json"),
		"built in code":       &TaskSummary{TaskID: 123, Progress: 100},
		"map":                 map[string]any{"task_id": 123},
	} {
		req, err := NewSignedCallbackRequest(signer, "https://example.com/cb", payload)
		require.NoError(t, err, name)
		require.NoError(t, signer.Verify(req), name)
		var got TaskSummary
		require.NoError(t, json.NewDecoder(req.Body).Decode(&got), name)
		assert.Equal(t, ID(123), got.TaskID, name)
	}
	_, err := NewSignedCallbackRequest(signer, "not a url", nil)
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "https://example.com/cb", map[string]any{"f": func() {}})
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "http://[::1", []byte("{}"))
	assert.Error(t, err)
}

func FuzzParseCallback(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"task_id": "12", "metadata": {"a": 1}, "target": {"type": 2}}`))
	f.Add([]byte(`{"idv_task_id": 1e3, "state": -1, "audit_timestamp": "2024-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseCallback(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("error does not match ErrInvalidCallback: %v", err)
			}
			return
		}
		if (ev.Task == nil) == (ev.IDV == nil) {
			t.Fatalf("exactly one of Task and IDV must be set: %+v", ev)
		}
		if ev.ID() <= 0 {
			t.Fatalf("a parsed callback has a positive id, got %d", ev.ID())
		}
		_ = ev.Key()
	})
}
