package kryptogo

import (
	"context"
	"net/http/httptrace"
	"time"
)

// attemptContext returns the context of one attempt: bounded by timeout
// (WithTimeout), traced by a sendGuard, and ended by the guard's end.
// sequential says that the transport is net/http's own (see
// sendGuard.sequential).
//
// The guard and the trace are values of the guard's attemptCtx, which the
// guard holds: one allocation instead of a context.WithValue for each.
func attemptContext(ctx context.Context, timeout time.Duration, method string, sequential bool) (context.Context, *sendGuard) {
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	guard := newSendGuard(method, sequential, cancel)
	guard.ctx = ctx
	guard.actx = attemptCtx{Context: ctx, guard: guard}
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

// attemptCtx is the context of an attempt: its deadline and cancellation
// (the embedded context), and the values the attempt adds, its sendGuard
// (for the redirect policy and OperationFromContext) and, when tracing,
// the guard's httptrace.ClientTrace, as httptrace.WithClientTrace would
// add it for a parent without a trace.
type attemptCtx struct {
	context.Context
	guard   *sendGuard
	tracing bool
}

// Value answers the guard's and the trace's keys, and asks the parent for
// any other: the context package finds the embedded cancellation through
// it, so contexts derived from this one are canceled with it, as usual.
func (c *attemptCtx) Value(key any) any {
	switch {
	case key == guardKey{}:
		return c.guard
	case c.tracing && key == clientTraceKey:
		return &c.guard.trace
	}
	return c.Context.Value(key)
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
