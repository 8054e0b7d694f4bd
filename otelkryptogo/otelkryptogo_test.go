package otelkryptogo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/kyabc/kryptogo-go/otelkryptogo"
)

// rig is a fake API, and a client instrumented with the SDK's in-memory
// recorders.
type rig struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	opts   []otelkryptogo.Option
	srv    *kryptogotest.Server
	client *kryptogo.Client
}

func newRig(t *testing.T, clientOpts ...kryptogo.Option) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), srv: kryptogotest.NewTestServer(t)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	r.opts = []otelkryptogo.Option{otelkryptogo.WithTracerProvider(tp), otelkryptogo.WithMeterProvider(mp)}
	r.client = r.srv.Client(append([]kryptogo.Option{otelkryptogo.Instrument(r.opts...)}, clientOpts...)...)
	return r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// named returns the ended spans called name.
func (r *rig) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// children returns the ended spans whose parent is parent.
func (r *rig) children(parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// createdTask creates a task through client and forgets the spans that
// made: the id of a task to get.
func (r *rig) createdTask(ctx context.Context, t *testing.T, client *kryptogo.Client) kryptogo.ID {
	t.Helper()
	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme")}})
	require.NoError(t, err)
	r.spans.Reset()
	return created[0].TaskID
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}

// collect reads every metric recorded so far.
func (r *rig) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	return rm
}

// metricData returns the data of the metric name, or nil.
func metricData(rm metricdata.ResourceMetrics, name string) metricdata.Aggregation {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

// sum adds up the data points of the counter name whose attributes
// include want.
func sum(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	data, ok := metricData(rm, name).(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 counter", name)
	var total int64
	for _, dp := range data.DataPoints {
		if hasAll(dp.Attributes, want) {
			total += dp.Value
		}
	}
	return total
}

// histogramCount returns how many values the histogram name recorded
// with attributes including want.
func histogramCount(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	data, ok := metricData(rm, name).(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a float64 histogram", name)
	var total uint64
	for _, dp := range data.DataPoints {
		if hasAll(dp.Attributes, want) {
			total += dp.Count
		}
	}
	return total
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func TestOneClientSpanPerCallWithTheHTTPConventionsAttributes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := testCtx(t)
	id := r.createdTask(ctx, t, r.client)
	_, err := r.client.Tasks.Get(ctx, id)
	require.NoError(t, err)

	calls := r.named("Tasks.Get")
	require.Len(t, calls, 1, "one span per call")
	call := calls[0]
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	port, err := strconv.Atoi(r.srv.URL[len("http://127.0.0.1:"):])
	require.NoError(t, err)
	a := attrs(call.Attributes())
	assert.Equal(t, "GET", a["http.request.method"].AsString())
	assert.Equal(t, "/task/{task_id}", a["url.template"].AsString())
	assert.Equal(t, "127.0.0.1", a["server.address"].AsString())
	assert.Equal(t, int64(port), a["server.port"].AsInt64())
	assert.Equal(t, int64(200), a["http.response.status_code"].AsInt64())
	assert.Equal(t, int64(1), a["kryptogo.attempts"].AsInt64())
	assert.Equal(t, "Tasks.Get", a["kryptogo.operation"].AsString())
	assert.Regexp(t, `^kryptogotest-\d+$`, a["kryptogo.request_id"].AsString())
	assert.NotContains(t, a, attribute.Key("error.type"), "a success has no error.type")
	assert.Equal(t, codes.Unset, call.Status().Code)

	attempts := r.children(call)
	require.Len(t, attempts, 1, "one child span per attempt")
	assert.Equal(t, "GET /task/{task_id}", attempts[0].Name())
	assert.Equal(t, trace.SpanKindInternal, attempts[0].SpanKind())
	assert.Equal(t, int64(200), attrs(attempts[0].Attributes())["http.response.status_code"].AsInt64())

	rm := r.collect(t)
	ok := []attribute.KeyValue{attribute.String("kryptogo.operation", "Tasks.Get"), attribute.String("kryptogo.outcome", "ok")}
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.calls", ok...))
	assert.Equal(t, uint64(1), histogramCount(t, rm, "kryptogo.client.call.duration", ok...))
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.attempts", append(ok, attribute.Int("http.response.status_code", 200))...))
	assert.Equal(t, uint64(1), histogramCount(t, rm, "http.client.request.duration",
		attribute.String("url.template", "/task/{task_id}"), attribute.String("server.address", "127.0.0.1"),
		attribute.Int("http.response.status_code", 200), attribute.String("http.request.method", "GET")))
}

// TestAnAttemptSpanEndsWhenItsAnswerCame: the span of the attempt that
// answered reaches the span processors with its call's span, yet ends when
// its answer was read, not when the call returned (here 50 ms later: an
// Observer of the call sleeps in AttemptDone).
func TestAnAttemptSpanEndsWhenItsAnswerCame(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := testCtx(t)
	id := r.createdTask(ctx, t, r.client)
	const gap = 50 * time.Millisecond
	slow := kryptogo.WithObserver(&kryptogo.Observer{AttemptDone: func(context.Context, kryptogo.AttemptDoneInfo) { time.Sleep(gap) }})
	_, err := r.client.Tasks.Get(ctx, id, slow)
	require.NoError(t, err)

	calls := r.named("Tasks.Get")
	require.Len(t, calls, 1)
	attempts := r.children(calls[0])
	require.Len(t, attempts, 1, "the attempt's span ended")
	attempt := attempts[0]
	assert.False(t, attempt.EndTime().Before(attempt.StartTime()))
	assert.GreaterOrEqual(t, calls[0].EndTime().Sub(attempt.EndTime()), gap, "the attempt ended before the observer slept")
	ended := r.spans.Ended()
	require.Len(t, ended, 2)
	assert.Equal(t, attempt.SpanContext().SpanID(), ended[0].SpanContext().SpanID(), "the child is handed over first")
}

// TestAttemptHooksAloneEndTheirSpans: an Observer made of NewObserver's
// attempt hooks only (no call span) still ends each attempt's span.
func TestAttemptHooksAloneEndTheirSpans(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	o := otelkryptogo.NewObserver(r.opts...)
	client := r.srv.Client(kryptogo.WithObserver(&kryptogo.Observer{AttemptStart: o.AttemptStart, AttemptDone: o.AttemptDone}))
	ctx := testCtx(t)
	id := r.createdTask(ctx, t, client)
	_, err := client.Tasks.Get(ctx, id)
	require.NoError(t, err)
	attempts := r.named("GET /task/{task_id}")
	require.Len(t, attempts, 1)
	assert.Equal(t, int64(200), attrs(attempts[0].Attributes())["http.response.status_code"].AsInt64())
	assert.Empty(t, r.named("Tasks.Get"))
}

func TestARetryGivesTwoAttemptSpansAndARetryEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.srv.FailNext(1, http.StatusServiceUnavailable)
	_, err := r.client.Tasks.History(testCtx(t), nil)
	require.NoError(t, err)

	calls := r.named("Tasks.History")
	require.Len(t, calls, 1)
	call := calls[0]
	assert.Equal(t, int64(2), attrs(call.Attributes())["kryptogo.attempts"].AsInt64())
	assert.Equal(t, []string{"kryptogo.retry"}, eventNames(call))
	retry := attrs(call.Events()[0].Attributes)
	assert.Equal(t, int64(1), retry["kryptogo.attempt"].AsInt64())
	assert.Equal(t, "server_error", retry["error.type"].AsString())
	assert.Equal(t, int64(503), retry["http.response.status_code"].AsInt64())
	assert.Positive(t, retry["kryptogo.retry.wait"].AsFloat64())

	attempts := r.children(call)
	require.Len(t, attempts, 2, "a 503 then a 200: two attempts")
	byAttempt := map[int64]map[attribute.Key]attribute.Value{}
	for _, s := range attempts {
		a := attrs(s.Attributes())
		byAttempt[a["kryptogo.attempt"].AsInt64()] = a
		if a["kryptogo.attempt"].AsInt64() == 1 {
			assert.Equal(t, codes.Error, s.Status().Code)
		}
	}
	assert.Equal(t, int64(503), byAttempt[1]["http.response.status_code"].AsInt64())
	assert.Equal(t, "server_error", byAttempt[1]["error.type"].AsString())
	assert.Equal(t, int64(200), byAttempt[2]["http.response.status_code"].AsInt64())
	assert.Equal(t, int64(1), byAttempt[2]["http.request.resend_count"].AsInt64())

	rm := r.collect(t)
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.attempts", attribute.String("kryptogo.outcome", "server_error")))
	assert.Equal(t, int64(5), sum(t, rm, "kryptogo.client.retry_budget.tokens", attribute.String("kryptogo.retry_budget.change", "spent")))
	assert.Equal(t, int64(5), sum(t, rm, "kryptogo.client.retry_budget.tokens", attribute.String("kryptogo.retry_budget.change", "refunded")))
}

func TestAFailedCallSpanHasItsErrorType(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	_, err := r.client.Tasks.Get(testCtx(t), 999)
	require.ErrorIs(t, err, kryptogo.ErrNotFound)
	call := r.named("Tasks.Get")[0]
	a := attrs(call.Attributes())
	assert.Equal(t, "client_error", a["error.type"].AsString())
	assert.Equal(t, int64(404), a["http.response.status_code"].AsInt64())
	assert.Equal(t, codes.Error, call.Status().Code)
	assert.Equal(t, int64(1), sum(t, r.collect(t), "kryptogo.client.calls", attribute.String("kryptogo.outcome", "client_error")))

	_, err = r.client.KYA.Create(testCtx(t), &kryptogo.CreateKYARequest{Address: "nope"})
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
	refused := r.named("KYA.Create")
	require.Len(t, refused, 1, "a call refused before sending is a span too")
	assert.Equal(t, int64(0), attrs(refused[0].Attributes())["kryptogo.attempts"].AsInt64())
	assert.Empty(t, r.children(refused[0]))
	assert.Equal(t, int64(1), sum(t, r.collect(t), "kryptogo.client.calls", attribute.String("kryptogo.outcome", "invalid_request")))
}

func TestThePauseIsSeenByEveryCall(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := testCtx(t)
	r.srv.SetRateLimit(1, time.Minute)
	_, err := r.client.Tasks.History(ctx, nil)
	require.NoError(t, err)
	// The second request in the minute is answered 429 with a Retry-After
	// of about a minute: every call of the client pauses.
	_, err = r.client.Tasks.History(ctx, nil, kryptogo.WithMaxRetries(0))
	require.ErrorIs(t, err, kryptogo.ErrRateLimited)
	paused := r.named("Tasks.History")[1]
	require.Len(t, r.children(paused), 1)
	assert.Equal(t, []string{"kryptogo.client.paused"}, eventNames(r.children(paused)[0]), "the answer that paused the client")

	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = r.client.Tasks.Get(short, 1)
	require.ErrorIs(t, err, kryptogo.ErrRateLimited)
	call := r.named("Tasks.Get")[0]
	assert.Equal(t, []string{"kryptogo.pause.start", "kryptogo.pause.end"}, eventNames(call))
	assert.Greater(t, attrs(call.Events()[0].Attributes)["kryptogo.pause.wait"].AsFloat64(), 10.0)
	assert.True(t, attrs(call.Events()[1].Attributes)["kryptogo.pause.gave_up"].AsBool())
	assert.Equal(t, "paused", attrs(call.Attributes())["error.type"].AsString())
	assert.Empty(t, r.children(call), "nothing was sent")

	rm := r.collect(t)
	assert.Equal(t, uint64(1), histogramCount(t, rm, "kryptogo.client.pause.duration",
		attribute.String("kryptogo.operation", "Tasks.Get"), attribute.Bool("kryptogo.pause.gave_up", true)))
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.calls", attribute.String("kryptogo.outcome", "paused")))
}

func TestBudgetExhaustionIsAMetric(t *testing.T) {
	t.Parallel()
	r := newRig(t, kryptogo.WithRetryBudget(5))
	r.srv.FailNext(3, http.StatusServiceUnavailable)
	_, err := r.client.Tasks.History(testCtx(t), nil)
	require.ErrorIs(t, err, kryptogo.ErrRetryBudgetExhausted)

	rm := r.collect(t)
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.retry_budget.exhausted", attribute.String("kryptogo.operation", "Tasks.History")))
	assert.Equal(t, int64(5), sum(t, rm, "kryptogo.client.retry_budget.tokens", attribute.String("kryptogo.retry_budget.change", "spent")))
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.calls", attribute.String("kryptogo.outcome", "budget_exhausted")))
	call := r.named("Tasks.History")[0]
	assert.Equal(t, []string{"kryptogo.retry", "kryptogo.retry_budget.exhausted"}, eventNames(call))
}

func TestReconciliationIsCounted(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme"), CustomerReference: "c1"}})
	require.NoError(t, err)
	rm := r.collect(t)
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.reconciliations", attribute.String("kryptogo.reconcile.outcome", "found")))
	assert.Equal(t, int64(1), sum(t, rm, "kryptogo.client.calls",
		attribute.String("kryptogo.operation", "Tasks.CreateOnce"), attribute.String("kryptogo.outcome", "maybe_sent")))
}

func TestScreenItemsAreCallsOfTheirOwn(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	results := r.client.KYA.Screen(testCtx(t), []kryptogo.CreateKYARequest{
		{Address: "0x1111111111111111111111111111111111111111"}, {Address: "bad"}, {Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}}, nil)
	require.Len(t, results, 3)
	spans := r.named("KYA.Screen")
	assert.Len(t, spans, 3, "each item, sent or not")
	var ids []string
	for _, s := range spans {
		if id := attrs(s.Attributes())["kryptogo.request_id"].AsString(); id != "" {
			ids = append(ids, id)
		}
	}
	assert.ElementsMatch(t, []string{results[0].Info.RequestID, results[2].Info.RequestID}, ids,
		"each screening is traced to its request id")
}

func TestNoTraceHeaderIsSentUnlessAsked(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	_, err := r.client.Tasks.History(testCtx(t), nil)
	require.NoError(t, err)
	for _, req := range r.srv.Requests() {
		assert.Empty(t, req.Header.Get("Traceparent"))
	}

	withHeaders := r.srv.Client(otelkryptogo.Instrument(append(r.opts, otelkryptogo.WithPropagators(propagation.TraceContext{}))...))
	_, err = withHeaders.Tasks.History(testCtx(t), nil)
	require.NoError(t, err)
	requests := r.srv.Requests()
	sent := requests[len(requests)-1].Header.Get("Traceparent")
	require.NotEmpty(t, sent, "asked for: the attempt's trace context is sent")
	attempt := r.named("GET /tasks")
	last := attempt[len(attempt)-1]
	assert.Contains(t, sent, last.SpanContext().SpanID().String(), "the attempt's span is the parent of the API's")
}

func TestCallbacksAreServerSpansAndCountedByOutcome(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	signer, err := kryptogo.NewCallbackSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	var previous []kryptogo.CallbackOutcome
	h := &kryptogo.CallbackHandler{Signer: signer, Confirm: r.client,
		OnTask: func(context.Context, *kryptogo.TaskSummary) error { return nil },
		Observer: &kryptogo.Observer{CallbackDone: func(_ context.Context, info kryptogo.CallbackDoneInfo) {
			previous = append(previous, info.Outcome)
		}},
	}
	handler := otelkryptogo.InstrumentHandler(h, r.opts...)
	ctx := testCtx(t)
	created, err := r.client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme"), CustomerReference: "c1"}})
	require.NoError(t, err)
	body := []byte(`{"task_id": ` + created[0].TaskID.String() + `, "progress": 100}`)
	send := func(ref string) int {
		req, err := kryptogo.NewSignedCallbackRequest(signer, "https://example.com/cb", ref, body)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	unsigned := func() int {
		req, err := kryptogo.NewSignedCallbackRequest(nil, "https://example.com/cb", "", body)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	r.spans.Reset()
	assert.Equal(t, http.StatusNoContent, send("c1"))
	assert.Equal(t, http.StatusForbidden, send("c2"))
	assert.Equal(t, http.StatusUnauthorized, unsigned())
	assert.Equal(t, []kryptogo.CallbackOutcome{kryptogo.CallbackDelivered, kryptogo.CallbackForbidden, kryptogo.CallbackUnauthorized},
		previous, "an Observer already set keeps seeing every callback")

	rm := r.collect(t)
	for _, tc := range []struct {
		outcome, kind string
		status        int
	}{{"delivered", "task", 204}, {"forbidden", "task", 403}, {"unauthorized", "unknown", 401}} {
		assert.Equal(t, int64(1), sum(t, rm, "kryptogo.callbacks", attribute.String("kryptogo.callback.outcome", tc.outcome),
			attribute.String("kryptogo.callback.kind", tc.kind), attribute.Int("http.response.status_code", tc.status)), tc.outcome)
	}
	servers := r.named("kryptogo.callback")
	require.Len(t, servers, 3)
	delivered := servers[0]
	assert.Equal(t, trace.SpanKindServer, delivered.SpanKind())
	a := attrs(delivered.Attributes())
	assert.Equal(t, "delivered", a["kryptogo.callback.outcome"].AsString())
	assert.Equal(t, int64(created[0].TaskID), a["kryptogo.callback.record_id"].AsInt64())
	assert.True(t, a["kryptogo.callback.verified"].AsBool())
	assert.True(t, a["kryptogo.callback.confirmed"].AsBool())
	confirmations := r.children(delivered)
	require.Len(t, confirmations, 1, "the confirmation is a child of the callback's span")
	assert.Equal(t, "Tasks.Summary", confirmations[0].Name())
}

func TestInstrumentHandlerRefusesNil(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "otelkryptogo: InstrumentHandler: nil *kryptogo.CallbackHandler", func() {
		otelkryptogo.InstrumentHandler(nil)
	})
}
