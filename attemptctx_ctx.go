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
// It does what context.WithTimeout did for less: WithTimeout allocated a
// runtime timer per attempt (and a closure for it). Here the timer is a
// pooled one, re-armed (deadlineTimer), and the contexts derived from
// this one (net/http's transport derives one) register through its
// AfterFunc method, which the context package uses for a parent it does
// not know: a slice, no goroutine. An attempt without a deadline of its
// own needs no timer, and is context.WithCancel's context (base), as
// WithTimeout's would be.
type attemptCtx struct {
	parent  context.Context
	guard   *sendGuard
	tracing bool

	deadline time.Time // the attempt's own, when sooner than the parent's
	own      bool      // deadline is set
	done     chan struct{}
	state    atomic.Int32 // live, or why it ended (attemptCanceled...)

	// base is the context of an attempt without a deadline of its own
	// (none, or the parent's is sooner): context.WithCancel's, as
	// WithTimeout would return, whose children cost less than AfterFunc's
	// registrations (a map, once); nil when the attempt has a deadline.
	base       context.Context
	baseCancel context.CancelFunc

	mu         sync.Mutex
	funcs      []afterFunc  // registered by AfterFunc, run when it ends
	inline     [2]afterFunc // funcs' first: net/http's transport registers one
	nextFunc   int
	stopParent func() bool    // ends the wait for the parent's end
	timer      *deadlineTimer // armed for deadline; nil: none
}

// Why an attemptCtx ended.
const (
	attemptLive int32 = iota
	attemptCanceled
	attemptDeadline
	attemptParentDone // Err and the cause are the parent's
)

type afterFunc struct {
	id int
	f  func()
}

// start makes c the context of an attempt of guard under parent, ending
// timeout from now (none when 0), or with the parent if that comes first.
func (c *attemptCtx) start(parent context.Context, timeout time.Duration, guard *sendGuard) {
	c.parent, c.guard = parent, guard
	if timeout > 0 {
		c.deadline = time.Now().Add(timeout)
		cur, ok := parent.Deadline()
		c.own = !ok || !cur.Before(c.deadline) // as WithTimeout: the parent's if sooner
	}
	if !c.own {
		c.base, c.baseCancel = context.WithCancel(parent)
		return
	}
	c.done = make(chan struct{})
	if pdone := parent.Done(); pdone != nil {
		select {
		case <-pdone:
			c.cancel(attemptParentDone)
			return
		default:
		}
		// The parent's end reaches this context through a goroutine that
		// context.AfterFunc starts then, and at once for a parent that is
		// no context of the context package's (it waits on a goroutine).
		stop := context.AfterFunc(parent, c.parentDone)
		c.mu.Lock()
		if c.state.Load() == attemptLive {
			c.stopParent = stop
			stop = nil
		}
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	t := armDeadline(c, timeout) // for timeout, not WithTimeout's time.Until: one clock read
	c.mu.Lock()
	if c.state.Load() == attemptLive {
		c.timer, t = t, nil
	}
	c.mu.Unlock()
	if t != nil {
		t.release()
	}
}

func (c *attemptCtx) parentDone() { c.cancel(attemptParentDone) }

// cancel ends c for the reason why, once: its Done channel closes, the
// contexts derived from it end (synchronously, as a cancelCtx's children
// do), and its timer and its wait for the parent stop.
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
	funcs, stop, timer := c.funcs, c.stopParent, c.timer
	c.funcs, c.stopParent, c.timer = nil, nil, nil
	if c.done != nil { // nil only for a guard built without an attempt (tests)
		close(c.done)
	}
	c.mu.Unlock()
	if stop != nil && why != attemptParentDone {
		stop()
	}
	if timer != nil {
		timer.release()
	}
	for _, a := range funcs {
		a.f()
	}
}

// Deadline returns the attempt's deadline, or the parent's when sooner.
func (c *attemptCtx) Deadline() (time.Time, bool) {
	if c.own {
		return c.deadline, true
	}
	return c.parent.Deadline()
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
	case attemptParentDone:
		return c.parent.Err()
	}
	return nil
}

// Value answers the guard's and the trace's keys, and asks the parent for
// any other but the context package's key of a cancelCtx (context.Cause
// asks for it): that one finds the parent's cancelCtx only once the
// parent ended this context, so that Cause reports the parent's cause
// then and this context's Err otherwise, on every Go (before Go 1.25,
// Cause took the parent's nil cause for this context's). A context
// derived from this one registers through AfterFunc either way (the
// parent's cancelCtx is not this one's Done).
func (c *attemptCtx) Value(key any) any {
	switch {
	case key == guardKey{}:
		return c.guard
	case c.tracing && key == clientTraceKey:
		return &c.guard.trace
	case c.base != nil:
		return c.base.Value(key) // its cancelCtx: derived contexts become its children
	case key == cancelCtxKey && cancelCtxKey != nil && c.state.Load() != attemptParentDone:
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
