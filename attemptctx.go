package kryptogo

import (
	"context"
	"net/http/httptrace"
	"time"
)

// attemptContext returns the context of one attempt: bounded by timeout,
// traced by a sendGuard, and ended by the guard's end. sequential says
// that the transport is net/http's own (see sendGuard.sequential).
//
// The context is the guard's attemptCtx, which carries the guard and the
// trace as values: one allocation serves the guard, its trace, its
// deadline and its cancellation.
func attemptContext(ctx context.Context, timeout time.Duration, method string, sequential bool) (context.Context, *sendGuard) {
	guard := newSendGuard(method, sequential)
	guard.actx.start(ctx, timeout, guard)
	if clientTraceKey == nil || hasNetHooks(&guard.trace) || httptrace.ContextClientTrace(ctx) != nil {
		// A trace of the caller's (or an unknown httptrace), or hooks
		// that httptrace must also hand to the dialer: composed and
		// installed by httptrace itself.
		return httptrace.WithClientTrace(&guard.actx, &guard.trace), guard
	}
	guard.actx.tracing = true
	return &guard.actx, guard
}

// hasNetHooks reports whether t has hooks of the dialer and resolver,
// which httptrace.WithClientTrace installs under a second key of its own:
// the shortcut of attemptContext adds only the trace, so it would lose them.
func hasNetHooks(t *httptrace.ClientTrace) bool {
	return t.DNSStart != nil || t.DNSDone != nil || t.ConnectStart != nil || t.ConnectDone != nil
}

// clientTraceKey is the key under which httptrace looks a trace up in a
// context (nil if it cannot be found), read once from a context that
// records the keys it is asked for, and checked: a context that answers
// it must be seen as carrying the trace.
var clientTraceKey = probeClientTraceKey()

func probeClientTraceKey() any {
	probe := &keyProbe{Context: context.Background()}
	httptrace.ContextClientTrace(probe)
	if probe.asked != 1 {
		return nil // not one key, as expected
	}
	trace := &httptrace.ClientTrace{}
	if httptrace.ContextClientTrace(&keyAnswer{Context: context.Background(), key: probe.key, value: trace}) != trace {
		return nil
	}
	return probe.key
}

// keyProbe is a context that records the keys it is asked for.
type keyProbe struct {
	context.Context
	key   any
	asked int
}

func (p *keyProbe) Value(key any) any {
	p.key, p.asked = key, p.asked+1
	return nil
}

// keyAnswer is a context that holds one value.
type keyAnswer struct {
	context.Context
	key, value any
}

func (a *keyAnswer) Value(key any) any {
	if key == a.key {
		return a.value
	}
	return a.Context.Value(key)
}
