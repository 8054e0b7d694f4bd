package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client-wide flow control: every call of a client shares one retry budget
// and one pause gate, so that many goroutines on one client do not multiply
// the load on an API that is failing or asking them to slow down.

// DefaultRetryBudget is a new client's retry budget, in tokens.
const DefaultRetryBudget = 500

// The costs and refunds of the retry budget, in tokens (AWS SDK for Go v2).
const (
	retryCost        = 5  // a retry after an error answer or a connection failure
	timeoutRetryCost = 10 // a retry after a timeout: the API may be overloaded
	noRetryRefund    = 1  // earned by a call that succeeds without a retry
)

// retryBudget is a token bucket shared by every call of a client: a retry
// takes tokens and successes put them back. A nil budget is unlimited.
type retryBudget struct {
	mu       sync.Mutex
	tokens   int
	capacity int
	// full mirrors tokens == capacity, written under mu: the refund of a
	// call that needed no retry, most calls', reads it and writes nothing
	// when the bucket is full, so that busy callers do not all take one
	// lock and write one cache line per call.
	full atomic.Bool
}

func newRetryBudget(capacity int) *retryBudget {
	if capacity <= 0 {
		return nil
	}
	b := &retryBudget{tokens: capacity, capacity: capacity}
	b.full.Store(true)
	return b
}

// take spends cost tokens, or reports false when fewer are left; the
// change tells an observer what it did.
func (b *retryBudget) take(cost int) (budgetChange, bool) {
	if b == nil {
		return budgetChange{}, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < cost {
		return budgetChange{exhausted: true, available: b.tokens, capacity: b.capacity}, false
	}
	b.tokens -= cost
	b.full.Store(b.tokens == b.capacity)
	return budgetChange{spent: cost, available: b.tokens, capacity: b.capacity}, true
}

// refund puts n tokens back, up to the capacity.
func (b *retryBudget) refund(n int) budgetChange {
	if b == nil {
		return budgetChange{}
	}
	if b.full.Load() {
		return budgetChange{available: b.capacity, capacity: b.capacity}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	refunded := min(n, b.capacity-b.tokens)
	b.tokens += refunded
	b.full.Store(b.tokens == b.capacity)
	return budgetChange{refunded: refunded, available: b.tokens, capacity: b.capacity}
}

// pauseGate holds the end of the pause a 429's Retry-After asked of the
// client; every attempt of every call waits for it.
type pauseGate struct {
	mu     sync.Mutex
	until  time.Time
	shared time.Time // the last end read from a PauseStore (extendShared)
	// paused is set, under mu, once a pause was ever set: until then every
	// attempt reads it and takes no lock.
	paused atomic.Bool
}

// extend makes the pause last at least until t.
func (g *pauseGate) extend(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
		g.paused.Store(true)
	}
}

// extendShared makes the pause last until the end a PauseStore holds, as
// this process's clock reads it at now. That end is by the clock of the
// process that wrote it, so it counts once, and for at most maxRetryAfter
// from now: a writer whose clock runs ahead (or a bogus record) pauses this
// process no longer than a 429 of its own would, instead of until its
// clock's end comes round. A new end (another 429) counts again.
func (g *pauseGate) extendShared(until, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.Equal(g.shared) {
		return
	}
	g.shared = until
	if limit := now.Add(maxRetryAfter); until.After(limit) {
		until = limit
	}
	if until.After(g.until) {
		g.until = until
		g.paused.Store(true)
	}
}

func (g *pauseGate) end() time.Time {
	if !g.paused.Load() {
		return time.Time{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// flow is the flow control a client's calls share. A CallbackHandler's
// confirmations have a flow of their own (withFlow), so that callbacks,
// which anyone who reaches the handler can send, never spend the app's
// retry budget nor pause its calls.
type flow struct {
	budget *retryBudget
	gate   pauseGate
	shared *sharedPause // WithPauseStore's; nil: the pause stays in this process
}

func newFlow(budget int) *flow { return &flow{budget: newRetryBudget(budget)} }

// share makes fl's pause the one store keeps under scope, shared with
// every process using the store; a nil store changes nothing.
func (fl *flow) share(store PauseStore, scope string) *flow {
	if store != nil {
		fl.shared = &sharedPause{store: store, scope: scope, retry: pauseStoreRetry}
	}
	return fl
}

// pausedFor returns what remains at now of the pause a 429 started, as
// this process last saw it; 0 when there is none.
func (fl *flow) pausedFor(now time.Time) time.Duration {
	return max(fl.gate.end().Sub(now), 0)
}

// pauseEnd returns the end of the pause in force: the shared one read
// from the store (kept in the local gate too, as of now's time), or the
// local one alone when there is no store or it fails (fail open,
// pause_store.go). The clock is read only for the store's answer.
func (fl *flow) pauseEnd(ctx context.Context, cfg *callConfig, now func() time.Time) time.Time {
	if fl.shared != nil {
		if until, ok := fl.shared.read(ctx, cfg); ok {
			fl.gate.extendShared(until, now())
		}
	}
	return fl.gate.end()
}

// startPause makes the pause last at least until end, here and in the
// store when there is one.
func (fl *flow) startPause(ctx context.Context, cfg *callConfig, now, end time.Time) {
	fl.gate.extend(end)
	if fl.shared != nil {
		if until, ok := fl.shared.extend(ctx, cfg, end); ok {
			fl.gate.extendShared(until, now)
		}
	}
}

// withFlow makes a call draw on fl instead of its client's flow control:
// its retries spend fl's budget, and it waits for and starts fl's pauses.
func withFlow(fl *flow) Option {
	return func(s *settings) error {
		s.flow = fl
		return nil
	}
}

// callFlow is one call's part in the flow control of its client (or of
// the flow its configuration names).
type callFlow struct {
	c    *Client
	flow *flow
	cfg  *callConfig // the call's configuration, for its logger
	held int         // tokens of the retry under way, returned if it succeeds
	// waited is the end of the last pause this call waited through. The
	// client's clock is compared with a pause's end only once per pause, so
	// that a frozen test clock does not make a call wait forever.
	waited time.Time
	obs    *callObservation // the call's observer, told of its pauses; nil: none
}

func (c *Client) startCall(cfg *callConfig) *callFlow {
	fl := c.flow
	if cfg.flow != nil {
		fl = cfg.flow
	}
	return &callFlow{c: c, flow: fl, cfg: cfg}
}

// beforeAttempt waits out the client's pause, if any, before an attempt is
// sent. It returns at once with an error when the pause would outlast the
// context's deadline; last is the previous attempt's failure, if any.
func (f *callFlow) beforeAttempt(ctx context.Context, method, path string, last error) error {
	for {
		end := f.flow.pauseEnd(ctx, f.cfg, f.c.now)
		if !end.After(f.waited) { // no pause (a zero end), or one waited through: no clock read
			return nil
		}
		now := f.c.now()
		left := end.Sub(now)
		if left <= 0 {
			return nil
		}
		f.obs.pauseStart(left)
		if deadline, ok := ctx.Deadline(); ok && now.Add(left).After(deadline) {
			f.obs.pauseDone(0, context.DeadlineExceeded)
			return &pauseError{method: method, path: path, left: left, last: last}
		}
		f.cfg.log(ctx, "kryptogo paused", slog.String("method", method), slog.String("path", path), slog.Duration("wait", left))
		start := time.Now()
		if err := f.c.sleep(ctx, left); err != nil {
			f.obs.pauseDone(time.Since(start), err)
			return &pauseError{method: method, path: path, left: left, ctxErr: err, last: last}
		}
		f.obs.pauseDone(left, nil)
		f.waited = end
	}
}

// observe starts a client-wide pause when the API answered 429 with a
// Retry-After, and returns how long it lasts (0: no pause). The pause lasts
// at most maxRetryAfter: after a longer Retry-After, one call finds out
// whether the API is back.
func (f *callFlow) observe(ctx context.Context, res result) time.Duration {
	if res.status != http.StatusTooManyRequests {
		return 0
	}
	if !res.hasRetryAfter {
		return 0
	}
	after := res.retryAfter
	// The pause holds every call, so its floor is the client's, not the
	// call's; the call that got the 429 sleeps at least this long itself
	// (retryWait uses the same floor).
	pause := min(max(after, f.c.cfg.backoff.Min), maxRetryAfter)
	now := f.c.now()
	end := now.Add(pause)
	f.flow.startPause(ctx, f.cfg, now, end)
	if end.After(f.waited) {
		f.waited = end
	}
	return pause
}

// takeRetry spends the budget's tokens for a retry after res, or reports
// false when the budget is spent. The retry's tokens are returned if it
// succeeds; those of a failed retry stay spent.
func (f *callFlow) takeRetry(res result) (budgetChange, bool) {
	cost := retryCost
	if isTimeout(res.err) {
		cost = timeoutRetryCost
	}
	change, ok := f.flow.budget.take(cost)
	if ok {
		f.held = cost
	}
	return change, ok
}

// succeeded refills the budget after a 2xx answer: the held retry's cost,
// or one token for a call that needed no retry.
func (f *callFlow) succeeded() budgetChange {
	return f.flow.budget.refund(max(f.held, noRetryRefund))
}

func isTimeout(err error) bool {
	var netErr net.Error
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout())
}

// budgetError is a retryable failure that was not retried because the
// client's retry budget was spent.
type budgetError struct{ err error }

func (e *budgetError) Error() string {
	return e.err.Error() + " (not retried: the client's retry budget is spent, see WithRetryBudget)"
}

// Unwrap returns the failure and ErrRetryBudgetExhausted, so errors.Is
// matches both.
func (e *budgetError) Unwrap() []error { return []error{e.err, ErrRetryBudgetExhausted} }

// pauseError ends a call that met the client's 429 pause and could not wait
// it out: its deadline comes first, or its context ended during the wait.
// Nothing was sent for the attempt it stopped.
type pauseError struct {
	method, path string
	left         time.Duration // what remained of the pause
	ctxErr       error         // the context's error, when it ended during the wait
	last         error         // the previous attempt's failure, if any
}

func (e *pauseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kryptogo: %s %s: not sent: the API asked this client to pause (429 Retry-After) for %v more", e.method, e.path, e.left.Round(time.Millisecond))
	if e.ctxErr != nil {
		b.WriteString("; the context ended during the wait: " + e.ctxErr.Error())
	} else {
		b.WriteString(", past the context's deadline")
	}
	if e.last != nil {
		b.WriteString("; previous attempt: " + e.last.Error())
	}
	return b.String()
}

// Unwrap returns ErrRateLimited, the context's error and the previous
// attempt's failure, so errors.Is matches each.
func (e *pauseError) Unwrap() []error {
	errs := []error{ErrRateLimited}
	for _, err := range []error{e.ctxErr, e.last} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
