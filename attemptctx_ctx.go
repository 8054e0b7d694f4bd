package kryptogo

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// attemptCtx is the context of an attempt: the caller's, bounded by the
// attempt's timeout, ended by the attempt's end, and carrying the values
// the attempt adds: its sendGuard (for the redirect policy and
// OperationFromContext) and, when tracing, the guard's
// httptrace.ClientTrace, as httptrace.WithClientTrace would add it for a
// parent without a trace.
//
// Under a caller's context that can end (a server's request context), it
// is context.WithTimeout's (or WithCancel's, without a deadline of its
// own), held as base: only the context package's own contexts are told of
// their parent's end before the parent's cancel returns, and the send of
// a fenced create must be cut then (createonce_lease.go); context.AfterFunc
// would tell this one on a goroutine of its own, later.
//
// Under one that cannot end (context.Background, WithoutCancel), it does
// what WithTimeout did for less: WithTimeout allocated a runtime timer per
// attempt (and a closure for it); here the timer is a pooled one, re-armed
// (deadlineTimer), and the contexts derived from this one (net/http's
// transport derives one) register through its AfterFunc method, which the
// context package uses for a parent it does not know: a slice, no
// goroutine, no map.
type attemptCtx struct {
	parent  context.Context
	guard   *sendGuard
	tracing bool

	// base is WithTimeout's or WithCancel's context under a parent that
	// can end; nil: this type's own deadline and cancellation.
	base       context.Context
	baseCancel context.CancelFunc

	deadline time.Time
	done     chan struct{}
	state    atomic.Int32 // live, or why it ended (attemptCanceled...)

	mu       sync.Mutex
	funcs    []afterFunc  // registered by AfterFunc, run when it ends
	inline   [2]afterFunc // funcs' first: net/http's transport registers one
	nextFunc int
	timer    *deadlineTimer // armed for deadline; nil: none
}

// Why an attemptCtx ended.
const (
	attemptLive int32 = iota
	attemptCanceled
	attemptDeadline
)

type afterFunc struct {
	id int
	f  func()
}

// start makes c the context of an attempt of guard under parent, ending
// timeout from now (none when 0), or with the parent if that comes first.
func (c *attemptCtx) start(parent context.Context, timeout time.Duration, guard *sendGuard) {
	c.parent, c.guard = parent, guard
	switch {
	case timeout <= 0:
		c.base, c.baseCancel = context.WithCancel(parent)
		return
	case parent.Done() != nil:
		c.base, c.baseCancel = context.WithTimeout(parent, timeout)
		return
	}
	// A parent that never ends, but may have a deadline (a custom one).
	c.deadline = time.Now().Add(timeout)
	if cur, ok := parent.Deadline(); ok && cur.Before(c.deadline) {
		c.base, c.baseCancel = context.WithCancel(parent) // as WithTimeout: the parent's if sooner
		return
	}
	c.done = make(chan struct{})
	t := armDeadline(c, timeout) // for timeout, not WithTimeout's time.Until: one clock read
	c.mu.Lock()
	if c.state.Load() == attemptLive { // it may have fired already
		c.timer, t = t, nil
	}
	c.mu.Unlock()
	if t != nil {
		t.release()
	}
}

// cancel ends c for the reason why, once: its Done channel closes, the
// contexts derived from it end (synchronously, as a cancelCtx's children
// do), and its timer stops.
func (c *attemptCtx) cancel(why int32) {
	if c.base != nil {
		c.baseCancel()
		return
	}
	c.mu.Lock()
	if c.state.Load() != attemptLive {
		c.mu.Unlock()
		return
	}
	c.state.Store(why)
	funcs, timer := c.funcs, c.timer
	c.funcs, c.timer = nil, nil
	if c.done != nil { // nil only for a guard built without an attempt (tests)
		close(c.done)
	}
	c.mu.Unlock()
	if timer != nil {
		timer.release()
	}
	for _, a := range funcs {
		a.f()
	}
}

// Deadline returns the attempt's deadline, or the parent's when sooner.
func (c *attemptCtx) Deadline() (time.Time, bool) {
	if c.base != nil {
		return c.base.Deadline()
	}
	return c.deadline, true
}

// Done returns a channel closed when the attempt ends.
func (c *attemptCtx) Done() <-chan struct{} {
	if c.base != nil {
		return c.base.Done()
	}
	return c.done
}

// Err returns why the attempt ended, as a context of WithTimeout would:
// context.DeadlineExceeded at its deadline, context.Canceled at its end,
// the parent's error when the parent ended first; nil while it runs.
func (c *attemptCtx) Err() error {
	if c.base != nil {
		return c.base.Err()
	}
	switch c.state.Load() {
	case attemptCanceled:
		return context.Canceled
	case attemptDeadline:
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers the guard's and the trace's keys, and asks base, or the
// parent, for any other; but for the context package's key of a
// cancelCtx (context.Cause asks for it), which a parent that never ends
// does not answer: Cause reports this context's Err on every Go (before
// Go 1.25, it took a cancelCtx's nil cause found behind a custom context
// for the custom context's), and a derived context registers through
// AfterFunc.
func (c *attemptCtx) Value(key any) any {
	switch {
	case key == guardKey{}:
		return c.guard
	case c.tracing && key == clientTraceKey:
		return &c.guard.trace
	case c.base != nil:
		return c.base.Value(key) // its cancelCtx: derived contexts become its children
	case key == cancelCtxKey && cancelCtxKey != nil:
		return nil
	}
	return c.parent.Value(key)
}

// AfterFunc runs f when the attempt ends (at once, on its own goroutine,
// if it has), and returns a function that unregisters f, reporting
// whether it did so before f ran. The context package finds it on a
// parent it does not know: context.WithCancel and the like register a
// derived context here.
func (c *attemptCtx) AfterFunc(f func()) func() bool {
	if c.base != nil {
		return context.AfterFunc(c.base, f)
	}
	c.mu.Lock()
	if c.state.Load() != attemptLive {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.nextFunc++
	id := c.nextFunc
	if c.funcs == nil {
		c.funcs = c.inline[:0]
	}
	c.funcs = append(c.funcs, afterFunc{id: id, f: f})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, a := range c.funcs {
			if a.id == id {
				c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
				return true
			}
		}
		return false
	}
}

// String names the context as the context package names its own.
func (c *attemptCtx) String() string { return "kryptogo.attemptContext" }

// deadlineTimer is a timer that ends an attemptCtx at its deadline,
// re-armed for attempt after attempt: creating a runtime timer per attempt
// cost as much as the rest of its context.
type deadlineTimer struct {
	t   *time.Timer
	ctx atomic.Pointer[attemptCtx]
}

var deadlineTimers sync.Pool

// armDeadline returns a timer that ends c in d.
func armDeadline(c *attemptCtx, d time.Duration) *deadlineTimer {
	t, _ := deadlineTimers.Get().(*deadlineTimer)
	if t == nil {
		t = new(deadlineTimer)
		t.ctx.Store(c)
		t.t = time.AfterFunc(d, t.fire)
		return t
	}
	t.ctx.Store(c)
	t.t.Reset(d)
	return t
}

func (t *deadlineTimer) fire() {
	if c := t.ctx.Load(); c != nil {
		c.cancel(attemptDeadline)
	}
}

// release stops the timer and pools it, unless it fired: its function may
// still be running for the attempt it was armed for, so it is dropped.
func (t *deadlineTimer) release() {
	if t.t.Stop() {
		t.ctx.Store(nil)
		deadlineTimers.Put(t)
	}
}

// cancelCtxKey is the key under which the context package finds the
// cancelCtx a context derives from, read once from a canceled context
// that records the keys context.Cause asks it for (nil if not one key).
var cancelCtxKey = func() any {
	probe := &causeProbe{keyProbe: keyProbe{Context: context.Background()}}
	_ = context.Cause(probe)
	if probe.asked != 1 {
		return nil
	}
	return probe.key
}()

// causeProbe is a canceled keyProbe: context.Cause asks a context that
// did not end for no key.
type causeProbe struct{ keyProbe }

func (*causeProbe) Err() error { return context.Canceled }
