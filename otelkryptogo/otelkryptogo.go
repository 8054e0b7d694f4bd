// Package otelkryptogo traces and measures the calls of a kryptogo.Client
// and the callbacks of a kryptogo.CallbackHandler with OpenTelemetry.
//
//	client, err := kryptogo.NewClient(key, otelkryptogo.Instrument())
//	http.Handle("/kryptogo/callback", otelkryptogo.InstrumentHandler(&kryptogo.CallbackHandler{…}))
//
// Each call of the client is a span of kind client named after the SDK
// method ("Tasks.Get"), with the attributes of the OpenTelemetry HTTP client
// conventions (http.request.method, url.template, server.address,
// server.port, http.response.status_code, error.type) and kryptogo.attempts
// and kryptogo.request_id. Each request it sends is a child span (kind
// internal, named "GET /task/{task_id}"), so a transport instrumented
// below it (otelhttp) nests its own client span there. Retry waits, the
// retry budget running out and the client-wide 429 pause are events of the
// call's span. Each callback is a span of kind server with its outcome.
//
// Metrics (meter "github.com/kyabc/kryptogo-go/otelkryptogo"):
//
//	kryptogo.client.calls                 {call}    by kryptogo.operation, kryptogo.outcome
//	kryptogo.client.call.duration         s         by kryptogo.operation, kryptogo.outcome
//	kryptogo.client.attempts              {attempt} by kryptogo.operation, kryptogo.outcome, http.response.status_code
//	http.client.request.duration          s         per attempt, the HTTP semantic conventions' histogram
//	kryptogo.client.retry_budget.tokens   {token}   by kryptogo.retry_budget.change (spent, refunded)
//	kryptogo.client.retry_budget.exhausted {call}   by kryptogo.operation
//	kryptogo.client.pause.duration        s         time calls waited for the 429 pause, by kryptogo.operation
//	kryptogo.client.reconciliations       {lookup}  by kryptogo.reconcile.outcome
//	kryptogo.callbacks                    {callback} by kryptogo.callback.kind, kryptogo.callback.outcome, http.response.status_code
//	kryptogo.callback.duration            s         the same
//
// kryptogo.outcome is "ok" or the call's kryptogo.ErrorClass. No
// attribute, event or metric carries the API key, a body, a query, a path
// with an id, a customer reference or any personal value: only what the
// core's kryptogo.Observer is told (operations, route templates, statuses,
// masked request ids, error classes, counts, durations) and, on spans
// only, record ids.
//
// No trace context header is sent to the API unless WithPropagators asks
// for it: the API is a third party's.
package otelkryptogo

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/kyabc/kryptogo-go/otelkryptogo"

// Option configures Instrument, InstrumentHandler and NewObserver.
type Option func(*config)

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagators    propagation.TextMapPropagator // nil: no trace headers
}

// WithTracerProvider makes the spans with tp instead of the global
// provider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracerProvider = tp
		}
	}
}

// WithMeterProvider records the metrics with mp instead of the global
// provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	}
}

// WithPropagators sends the trace context of each request to the API in
// the headers p injects (otel.GetTextMapPropagator() for the global ones).
// Without it, no trace header leaves the process.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagators = p }
}

func newConfig(opts []Option) config {
	var c config
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	return c
}

// Instrument returns a kryptogo.Option that traces and measures every call
// of a client (given to kryptogo.NewClient), or of one call.
func Instrument(opts ...Option) kryptogo.Option {
	return kryptogo.WithObserver(NewObserver(opts...))
}

// NewObserver returns the kryptogo.Observer that Instrument and
// InstrumentHandler install, for a caller who installs it by hand. Install
// its call hooks together: the span of a call's last attempt is ended with
// the call's (CallDone), so that they reach the span processors together.
func NewObserver(opts ...Option) *kryptogo.Observer {
	cfg := newConfig(opts)
	ins := newInstruments(cfg)
	o := &kryptogo.Observer{
		CallStart:     ins.callStart,
		CallDone:      ins.callDone,
		AttemptStart:  ins.attemptStart,
		AttemptDone:   ins.attemptDone,
		RetryWait:     ins.retryWait,
		RetryBudget:   ins.retryBudget,
		PauseStart:    ins.pauseStart,
		PauseDone:     ins.pauseDone,
		Reconcile:     ins.reconcile,
		CallbackStart: ins.callbackStart,
		CallbackDone:  ins.callbackDone,
	}
	if cfg.propagators != nil {
		o.Middleware = propagate(cfg.propagators)
	}
	return o
}

// InstrumentHandler makes h report each callback as a server span and in
// the callback metrics, and returns it. It sets h.Observer, keeping the
// one already there (both see every callback): call it once, before h
// serves a request. Instrument h.Confirm's client with Instrument to see
// its confirmations too, as children of the callback's span.
func InstrumentHandler(h *kryptogo.CallbackHandler, opts ...Option) http.Handler {
	if h == nil {
		panic("otelkryptogo: InstrumentHandler: nil *kryptogo.CallbackHandler")
	}
	ours := NewObserver(opts...)
	joined := &kryptogo.Observer{CallbackStart: ours.CallbackStart, CallbackDone: ours.CallbackDone}
	if prev := h.Observer; prev != nil {
		copied := *prev
		copied.CallbackStart = joinStart(prev.CallbackStart, ours.CallbackStart)
		copied.CallbackDone = joinDone(prev.CallbackDone, ours.CallbackDone)
		joined = &copied
	}
	h.Observer = joined
	return h
}

// propagate is the middleware that injects the attempt's trace context
// into its request.
func propagate(p propagation.TextMapPropagator) kryptogo.Middleware {
	return func(req *http.Request, next kryptogo.MiddlewareNext) (*http.Response, error) {
		p.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
		return next(req)
	}
}
