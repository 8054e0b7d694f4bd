package otelkryptogo

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	kryptogo "github.com/kyabc/kryptogo-go"
)

type attributeKV = attribute.KeyValue

// noSpan records nothing: the span of a context that carries none.
var noSpan = trace.SpanFromContext(context.Background())

// The attributes of this package beside the semantic conventions' ones.
const (
	keyOperation       = attribute.Key("kryptogo.operation")
	keyOutcome         = attribute.Key("kryptogo.outcome") // "ok" or the kryptogo.ErrorClass
	keyAttempts        = attribute.Key("kryptogo.attempts")
	keyAttempt         = attribute.Key("kryptogo.attempt")
	keyRequestID       = attribute.Key("kryptogo.request_id")
	keyRetryWait       = attribute.Key("kryptogo.retry.wait") // seconds
	keyBudgetChange    = attribute.Key("kryptogo.retry_budget.change")
	keyBudgetAvailable = attribute.Key("kryptogo.retry_budget.available")
	keyBudgetCapacity  = attribute.Key("kryptogo.retry_budget.capacity")
	keyPause           = attribute.Key("kryptogo.pause")        // seconds a 429 paused the client
	keyPauseWait       = attribute.Key("kryptogo.pause.wait")   // seconds left of the pause
	keyPauseWaited     = attribute.Key("kryptogo.pause.waited") // seconds the call waited
	keyPauseGaveUp     = attribute.Key("kryptogo.pause.gave_up")
	keyReconcile       = attribute.Key("kryptogo.reconcile.outcome")
	keyReconcileTasks  = attribute.Key("kryptogo.reconcile.requests")
	keyReconcileFound  = attribute.Key("kryptogo.reconcile.found")
	keyCallbackKind    = attribute.Key("kryptogo.callback.kind")
	keyCallbackOutcome = attribute.Key("kryptogo.callback.outcome")
	keyCallbackRecord  = attribute.Key("kryptogo.callback.record_id")
	keyCallbackVerify  = attribute.Key("kryptogo.callback.verified")
	keyCallbackConfirm = attribute.Key("kryptogo.callback.confirmed")
)

// The span events.
const (
	eventRetry           = "kryptogo.retry"
	eventBudgetExhausted = "kryptogo.retry_budget.exhausted"
	eventPauseStart      = "kryptogo.pause.start"
	eventPauseEnd        = "kryptogo.pause.end"
	eventClientPaused    = "kryptogo.client.paused"
	eventReconcile       = "kryptogo.reconcile"
)

// durationBuckets are the bucket bounds, in seconds, the HTTP semantic
// conventions advise for request durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// instruments are the tracer and the metric instruments of one Observer.
type instruments struct {
	tracer trace.Tracer

	calls           metric.Int64Counter
	callDuration    metric.Float64Histogram
	attempts        metric.Int64Counter
	requestDuration metric.Float64Histogram
	budgetTokens    metric.Int64Counter
	budgetExhausted metric.Int64Counter
	pauseDuration   metric.Float64Histogram
	reconciliations metric.Int64Counter
	callbacks       metric.Int64Counter
	callbackTime    metric.Float64Histogram

	// attemptNames are the names of the attempt spans, "GET /task/{task_id}",
	// built once per operation.
	namesMu      sync.RWMutex
	attemptNames map[kryptogo.Operation]string
	// The attribute sets of the metrics, built once each: a set is sorted
	// and hashed when built, which costs more than the measurement.
	callSets    setCache[callMeasure, measureOptions]
	attemptSets setCache[attemptMeasure, attemptOptions]
}

// The keys of the cached attribute sets.
type (
	callMeasure struct {
		operation string
		class     kryptogo.ErrorClass
	}
	attemptMeasure struct {
		op      kryptogo.Operation
		status  int
		class   kryptogo.ErrorClass
		address string
		port    int
	}
)

// measureOptions are a cached attribute set as the options a counter's Add
// and a histogram's Record take: slices built once, so that a measurement
// allocates none.
type measureOptions struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// newMeasureOptions returns the options of the set of attrs.
func newMeasureOptions(attrs []attributeKV) measureOptions {
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return measureOptions{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
}

// attemptOptions are the sets of an attempt's two measurements, found by
// one lookup: http.client.request.duration's and kryptogo.client.attempts'.
type attemptOptions struct {
	request, attempt measureOptions
}

// setCache caches the attribute sets of a metric by what they are built
// from, up to maxAttributeSets: their number is the metric's cardinality,
// which the caller's own Do methods could grow.
type setCache[K comparable, V any] struct {
	mu   sync.RWMutex
	sets map[K]V
}

const maxAttributeSets = 4096

// get returns the options of key's set, built by build when new.
func (c *setCache[K, V]) get(key K, build func(K) V) V {
	c.mu.RLock()
	opts, ok := c.sets[key]
	c.mu.RUnlock()
	if ok {
		return opts
	}
	opts = build(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = map[K]V{}
	}
	if len(c.sets) < maxAttributeSets {
		c.sets[key] = opts
	}
	return opts
}

// The span kinds, as the options Start takes (built once).
var (
	clientSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	internalSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	serverSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
)

func newInstruments(cfg config) *instruments {
	version := trace.WithInstrumentationVersion(kryptogo.Version)
	ins := &instruments{tracer: cfg.tracerProvider.Tracer(ScopeName, version, trace.WithSchemaURL(semconv.SchemaURL))}
	m := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(kryptogo.Version), metric.WithSchemaURL(semconv.SchemaURL))
	ins.calls = counter(m, "kryptogo.client.calls", "{call}", "Calls of the SDK's methods, by operation and outcome.")
	ins.callDuration = histogram(m, "kryptogo.client.call.duration", "Duration of calls, retries and waits included.")
	ins.attempts = counter(m, "kryptogo.client.attempts", "{attempt}", "Requests sent, by operation, outcome and status.")
	ins.requestDuration = histogram(m, "http.client.request.duration", "Duration of HTTP client requests.")
	ins.budgetTokens = counter(m, "kryptogo.client.retry_budget.tokens", "{token}", "Tokens of the client's retry budget spent by retries and refunded by successes.")
	ins.budgetExhausted = counter(m, "kryptogo.client.retry_budget.exhausted", "{call}", "Failures not retried because the retry budget was spent.")
	ins.pauseDuration = histogram(m, "kryptogo.client.pause.duration", "Time calls waited for the client-wide pause a 429 started.")
	ins.reconciliations = counter(m, "kryptogo.client.reconciliations", "{lookup}", "Lookups of creates in doubt, by outcome.")
	ins.callbacks = counter(m, "kryptogo.callbacks", "{callback}", "Callbacks handled, by kind and outcome.")
	ins.callbackTime = histogram(m, "kryptogo.callback.duration", "Duration of callback handling.")
	return ins
}

func counter(m metric.Meter, name, unit, description string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
	if err != nil {
		otel.Handle(err)
	}
	if c == nil {
		return noop.Int64Counter{}
	}
	return c
}

func histogram(m metric.Meter, name, description string) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(description),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	if h == nil {
		return noop.Float64Histogram{}
	}
	return h
}

// callState is the context of a call: its span, and its server for the
// attempts' metrics. It is the context itself, so that one allocation
// serves both, and an Observer joined after this one cannot hide the span.
type callState struct {
	context.Context // carries span as the current span
	span            trace.Span
	address         string
	port            int
	// lastAttempt is the span of the attempt that answered 2xx, ended at
	// lastAttemptEnd: it is handed to the span processors with the call's
	// span (endLastAttempt), the two in a row. The batch processor then
	// wakes its goroutine once per call rather than once per span, which on
	// a loaded machine is most of what the spans cost.
	lastAttempt    trace.Span
	lastAttemptEnd time.Time
	endOptions     [1]trace.SpanEndOption // lastAttempt's, kept here: no slice to allocate
	// attempt is the span of the attempt under way: the attempts of a
	// call follow one another, so the call's state holds it rather than a
	// context of its own (one allocation less, one layer less for every
	// lookup net/http makes in the request's context).
	attempt trace.Span
}

// endLastAttempt ends the span of the call's last attempt, if it waits.
func (s *callState) endLastAttempt() {
	if s.lastAttempt == nil {
		return
	}
	s.endOptions[0] = trace.WithTimestamp(s.lastAttemptEnd)
	s.lastAttempt.End(s.endOptions[:]...)
	s.lastAttempt, s.endOptions[0] = nil, nil
}

type callKey struct{}

func (s *callState) Value(key any) any {
	if key == (callKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// callOf returns the state of the call ctx belongs to; one with a span
// that records nothing when there is none.
func callOf(ctx context.Context) *callState {
	if s := ourCall(ctx); s != nil {
		return s
	}
	return &callState{Context: ctx, span: noSpan}
}

// ourCall returns the state of the call ctx belongs to, nil when this
// package did not start it (an Observer built of some of its hooks only).
func ourCall(ctx context.Context) *callState {
	s, _ := ctx.Value(callKey{}).(*callState)
	return s
}

// ours reports whether s is the state of a call this package started.
func (s *callState) ours() bool { return s.span != noSpan }

// spanState is the context of an attempt or a callback, as callState is
// of a call: the span this package started, found by key.
type spanState struct {
	context.Context
	key  any
	span trace.Span
}

// The keys of the spanStates.
type (
	attemptKey  struct{}
	callbackKey struct{}
)

func (s *spanState) Value(key any) any {
	if key == s.key {
		return s
	}
	return s.Context.Value(key)
}

// spanOf returns the span of the spanState key names in ctx; one that
// records nothing when there is none.
func spanOf(ctx context.Context, key any) trace.Span {
	if s, ok := ctx.Value(key).(*spanState); ok {
		return s.span
	}
	return noSpan
}

// A span's attributes are set once, when it ends, in one call: the SDK
// grows the span's list on each call, and a span is exported only once it
// ended. The list is built in a pooled buffer (the SDK copies it).
var attributeBuffers = sync.Pool{New: func() any { return new([]attributeKV) }}

// setAttributes sets the attributes build appends on span.
func setAttributes(span trace.Span, build func([]attributeKV) []attributeKV) {
	buf := attributeBuffers.Get().(*[]attributeKV)
	*buf = build((*buf)[:0])
	span.SetAttributes(*buf...)
	clear(*buf) // drop the strings for the collector
	attributeBuffers.Put(buf)
}

func (ins *instruments) callStart(ctx context.Context, info kryptogo.CallStartInfo) context.Context {
	ctx, span := ins.tracer.Start(ctx, info.Operation.Name, clientSpan...)
	return &callState{Context: ctx, span: span, address: info.ServerAddress, port: info.ServerPort}
}

func (ins *instruments) callDone(ctx context.Context, info kryptogo.CallDoneInfo) {
	call := callOf(ctx)
	if span := call.span; span.IsRecording() {
		if info.ErrorClass != "" {
			span.SetStatus(codes.Error, string(info.ErrorClass))
		}
		setAttributes(span, func(attrs []attributeKV) []attributeKV {
			attrs = appendMethod(attrs, info.Operation.Method)
			if info.Operation.Route != "" {
				attrs = append(attrs, semconv.URLTemplateKey.String(info.Operation.Route))
			}
			attrs = append(attrs, semconv.ServerAddressKey.String(call.address), semconv.ServerPortKey.Int(call.port),
				keyOperation.String(info.Operation.Name), keyAttempts.Int(info.Attempts))
			return appendOutcome(attrs, info.StatusCode, info.RequestID, info.ErrorClass)
		})
	}
	call.endLastAttempt()
	call.span.End()
	set := ins.callSets.get(callMeasure{info.Operation.Name, info.ErrorClass}, callSet)
	// Exemplars, which link a measurement to its trace, go with the
	// durations: a counter's are of little use and cost a clock read each.
	ins.calls.Add(context.Background(), 1, set.add...)
	ins.callDuration.Record(ctx, info.Duration.Seconds(), set.record...)
}

// appendOutcome appends the attributes of an answer: its status, request
// id and error class, those that are set.
func appendOutcome(attrs []attributeKV, status int, requestID string, class kryptogo.ErrorClass) []attributeKV {
	if status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(status))
	}
	if requestID != "" {
		attrs = append(attrs, keyRequestID.String(requestID))
	}
	if class != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(class)))
	}
	return attrs
}

// callSet is the set of the call metrics.
func callSet(k callMeasure) measureOptions {
	return newMeasureOptions([]attributeKV{keyOperation.String(k.operation), keyOutcome.String(outcome(k.class))})
}

// outcome is the kryptogo.outcome of an error class.
func outcome(class kryptogo.ErrorClass) string {
	if class == "" {
		return "ok"
	}
	return string(class)
}

func (ins *instruments) attemptStart(ctx context.Context, info kryptogo.AttemptStartInfo) context.Context {
	call := ourCall(ctx)
	ctx, span := ins.tracer.Start(ctx, ins.attemptName(info.Operation), internalSpan...)
	if call != nil {
		call.attempt = span
		return ctx
	}
	return &spanState{Context: ctx, key: attemptKey{}, span: span}
}

// attemptName is the name of an attempt's span: "{method} {url.template}",
// or the method alone for Do, as the HTTP conventions name client spans.
func (ins *instruments) attemptName(op kryptogo.Operation) string {
	if !knownMethod(op.Method) {
		return "HTTP" // a method of the caller's (Do): not a name to keep
	}
	ins.namesMu.RLock()
	name, ok := ins.attemptNames[op]
	ins.namesMu.RUnlock()
	if ok {
		return name
	}
	name = strings.TrimSpace(op.Method + " " + op.Route)
	ins.namesMu.Lock()
	defer ins.namesMu.Unlock()
	if ins.attemptNames == nil {
		ins.attemptNames = map[kryptogo.Operation]string{}
	}
	ins.attemptNames[op] = name
	return name
}

func (ins *instruments) attemptDone(ctx context.Context, info kryptogo.AttemptDoneInfo) {
	call := callOf(ctx)
	span := call.attempt
	call.attempt = nil
	if span == nil {
		span = spanOf(ctx, attemptKey{})
	}
	key := attemptMeasure{op: info.Operation, status: info.StatusCode, class: info.ErrorClass, address: call.address, port: call.port}
	recording := span.IsRecording()
	if recording {
		if info.ErrorClass != "" {
			span.SetStatus(codes.Error, string(info.ErrorClass))
		}
		setAttributes(span, func(attrs []attributeKV) []attributeKV {
			attrs = append(attrs, keyAttempt.Int(info.Attempt))
			if info.Attempt > 1 {
				attrs = append(attrs, semconv.HTTPRequestResendCountKey.Int(info.Attempt-1))
			}
			return appendOutcome(attrs, info.StatusCode, info.RequestID, info.ErrorClass)
		})
		if info.Pause > 0 {
			span.AddEvent(eventClientPaused, trace.WithAttributes(keyPause.Float64(info.Pause.Seconds())))
		}
	}
	if info.ErrorClass == "" && recording && call.ours() {
		// The call ends right after: its span and this one go to the
		// span processors together (callState.lastAttempt).
		call.endLastAttempt()
		call.lastAttempt, call.lastAttemptEnd = span, time.Now()
	} else {
		span.End()
	}
	sets := ins.attemptSets.get(key, attemptSets)
	ins.requestDuration.Record(ctx, info.Duration.Seconds(), sets.request.record...)
	ins.attempts.Add(context.Background(), 1, sets.attempt.add...)
}

// attemptSets are the sets of an attempt's measurements.
func attemptSets(k attemptMeasure) attemptOptions {
	return attemptOptions{request: newMeasureOptions(requestAttributes(k)), attempt: newMeasureOptions(attemptAttributes(k))}
}

// requestAttributes are the attributes of http.client.request.duration,
// as the HTTP semantic conventions list them.
func requestAttributes(k attemptMeasure) []attributeKV {
	attrs := appendMethod(make([]attributeKV, 0, 7), k.op.Method)
	attrs = append(attrs, semconv.ServerAddressKey.String(k.address), semconv.ServerPortKey.Int(k.port))
	if k.op.Route != "" {
		attrs = append(attrs, semconv.URLTemplateKey.String(k.op.Route))
	}
	if k.status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(k.status))
	}
	if k.class != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(k.class)))
	}
	return attrs
}

// attemptAttributes are the attributes of kryptogo.client.attempts.
func attemptAttributes(k attemptMeasure) []attributeKV {
	attrs := []attributeKV{keyOperation.String(k.op.Name), keyOutcome.String(outcome(k.class))}
	if k.status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(k.status))
	}
	return attrs
}

func (ins *instruments) retryWait(ctx context.Context, info kryptogo.RetryWaitInfo) {
	span := callOf(ctx).span
	if !span.IsRecording() {
		return
	}
	attrs := []attributeKV{keyAttempt.Int(info.Attempt), keyRetryWait.Float64(info.Wait.Seconds()),
		semconv.ErrorTypeKey.String(string(info.ErrorClass))}
	if info.StatusCode != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(info.StatusCode))
	}
	span.AddEvent(eventRetry, trace.WithAttributes(attrs...))
}

func (ins *instruments) retryBudget(ctx context.Context, info kryptogo.RetryBudgetInfo) {
	if info.Spent > 0 {
		ins.budgetTokens.Add(ctx, int64(info.Spent), metric.WithAttributes(keyBudgetChange.String("spent")))
	}
	if info.Refunded > 0 {
		ins.budgetTokens.Add(ctx, int64(info.Refunded), metric.WithAttributes(keyBudgetChange.String("refunded")))
	}
	if !info.Exhausted {
		return
	}
	ins.budgetExhausted.Add(ctx, 1, metric.WithAttributes(keyOperation.String(info.Operation.Name)))
	if span := callOf(ctx).span; span.IsRecording() {
		span.AddEvent(eventBudgetExhausted, trace.WithAttributes(keyBudgetAvailable.Int(info.Available), keyBudgetCapacity.Int(info.Capacity)))
	}
}

func (ins *instruments) pauseStart(ctx context.Context, info kryptogo.PauseStartInfo) {
	if span := callOf(ctx).span; span.IsRecording() {
		span.AddEvent(eventPauseStart, trace.WithAttributes(keyPauseWait.Float64(info.Wait.Seconds())))
	}
}

func (ins *instruments) pauseDone(ctx context.Context, info kryptogo.PauseDoneInfo) {
	if span := callOf(ctx).span; span.IsRecording() {
		span.AddEvent(eventPauseEnd, trace.WithAttributes(keyPauseWaited.Float64(info.Waited.Seconds()), keyPauseGaveUp.Bool(info.GaveUp)))
	}
	ins.pauseDuration.Record(ctx, info.Waited.Seconds(),
		metric.WithAttributes(keyOperation.String(info.Operation.Name), keyPauseGaveUp.Bool(info.GaveUp)))
}

// reconcile records a reconciliation, as an event of the caller's span
// (CreateOnce makes no span of its own: its requests are calls).
func (ins *instruments) reconcile(ctx context.Context, info kryptogo.ReconcileInfo) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(eventReconcile, trace.WithAttributes(keyOperation.String(info.Operation.Name),
			keyReconcile.String(string(info.Outcome)), keyReconcileTasks.Int(info.Requests), keyReconcileFound.Int(info.Found)))
	}
	ins.reconciliations.Add(ctx, 1, metric.WithAttributes(keyOperation.String(info.Operation.Name), keyReconcile.String(string(info.Outcome))))
}

func (ins *instruments) callbackStart(ctx context.Context, info kryptogo.CallbackStartInfo) context.Context {
	ctx, span := ins.tracer.Start(ctx, "kryptogo.callback", serverSpan...)
	span.SetAttributes(appendMethod(nil, info.Method)...)
	return &spanState{Context: ctx, key: callbackKey{}, span: span}
}

func (ins *instruments) callbackDone(ctx context.Context, info kryptogo.CallbackDoneInfo) {
	kind := "unknown"
	if info.Kind != 0 {
		kind = info.Kind.String()
	}
	attrs := []attributeKV{keyCallbackKind.String(kind), keyCallbackOutcome.String(string(info.Outcome)),
		semconv.HTTPResponseStatusCodeKey.Int(info.StatusCode)}
	if span := spanOf(ctx, callbackKey{}); span.IsRecording() {
		span.SetAttributes(attrs...)
		span.SetAttributes(keyCallbackVerify.Bool(info.Verified), keyCallbackConfirm.Bool(info.Confirmed))
		if info.RecordID != 0 {
			span.SetAttributes(keyCallbackRecord.Int64(int64(info.RecordID)))
		}
		if info.StatusCode >= 500 { // a server span's 4xx is the sender's error, not ours
			span.SetAttributes(semconv.ErrorTypeKey.String(string(info.Outcome)))
			span.SetStatus(codes.Error, string(info.Outcome))
		}
		span.End()
	}
	set := metric.WithAttributes(attrs...)
	ins.callbacks.Add(ctx, 1, set)
	ins.callbackTime.Record(ctx, info.Duration.Seconds(), set)
}

// appendMethod appends the semantic conventions' attributes of an HTTP
// method: a method they do not list is "_OTHER", with the original beside.
func appendMethod(attrs []attributeKV, method string) []attributeKV {
	if knownMethod(method) {
		return append(attrs, semconv.HTTPRequestMethodKey.String(method))
	}
	return append(attrs, semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginalKey.String(method))
}

func knownMethod(method string) bool {
	switch method {
	case http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace:
		return true
	}
	return false
}

// joinStart and joinDone call a's hook, then b's.
func joinStart[T any](a, b func(context.Context, T) context.Context) func(context.Context, T) context.Context {
	if a == nil {
		return b
	}
	return func(ctx context.Context, info T) context.Context {
		if out := a(ctx, info); out != nil {
			ctx = out
		}
		return b(ctx, info)
	}
}

func joinDone[T any](a, b func(context.Context, T)) func(context.Context, T) {
	if a == nil {
		return b
	}
	return func(ctx context.Context, info T) {
		a(ctx, info)
		b(ctx, info)
	}
}
