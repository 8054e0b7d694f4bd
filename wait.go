package kryptogo

import (
	"context"
	"errors"
	"time"

	"github.com/kyabc/kryptogo-go/internal/backoff"
)

// WaitOptions tunes Tasks.Wait and IDV.Wait; intervals are at least 100 ms.
type WaitOptions struct {
	Interval    time.Duration // the first pause, doubled (with jitter) each poll; 0: 2 s
	MaxInterval time.Duration // the longest pause; 0: 30 s, or Interval if longer
}

const (
	defaultPollInterval    = 2 * time.Second
	defaultMaxPollInterval = 30 * time.Second
	// minPollInterval keeps a unit mistake (Interval: 2, meant as seconds, is
	// 2 ns) from polling a paid API thousands of times a second.
	minPollInterval = 100 * time.Millisecond
)

// policy validates the options and returns the pause between polls;
// def, when set (WithPollInterval), replaces the defaults.
func (o *WaitOptions) policy(def backoff.Policy) (backoff.Policy, error) {
	var opts WaitOptions
	if o != nil {
		opts = *o
	}
	var v validator
	validatePollInterval(&v, "Interval", opts.Interval)
	validatePollInterval(&v, "MaxInterval", opts.MaxInterval)
	if opts.Interval > 0 && opts.MaxInterval > 0 && opts.MaxInterval < opts.Interval {
		v.addf("MaxInterval", "is %v, below Interval (%v)", opts.MaxInterval, opts.Interval)
	}
	if err := v.err(); err != nil {
		return backoff.Policy{}, err
	}
	p := backoff.Policy{Min: defaultPollInterval, Max: defaultMaxPollInterval}
	if def.Min > 0 {
		p = def
	}
	if opts.Interval > 0 {
		p.Min = opts.Interval
	}
	if opts.MaxInterval > 0 {
		p.Max = opts.MaxInterval
		if opts.Interval == 0 {
			p.Min = min(p.Min, p.Max)
		}
	}
	p.Max = max(p.Max, p.Min)
	return p, nil
}

// validatePollInterval rejects negative pauses and pauses below the floor,
// suggesting the unit a bare number was probably meant in.
func validatePollInterval(v *validator, field string, d time.Duration) {
	switch {
	case d < 0:
		v.addf(field, "must not be negative, got %v", d)
	case d > 0 && d < minPollInterval && d < 100_000:
		v.addf(field, "is %v; did you mean %d*time.Second? (the shortest is %v)", d, int64(d), minPollInterval)
	case d > 0 && d < minPollInterval:
		v.addf(field, "is %v; the shortest is %v", d, minPollInterval)
	}
}

// waitTarget is what the poll loop needs to know about one kind of task.
type waitTarget[T any] struct {
	kind    string // "task" or "IDV task", for WaitError
	idField string // the id's name in validation errors
	fetch   func(ctx context.Context, id ID) (*T, error)
	done    func(*T) bool
	// setLast records the last value fetched in the WaitError.
	setLast func(e *WaitError, last *T)
}

// waitFor polls target until it is done, ctx ends, or a poll fails with an
// error that another poll cannot fix. Failures it returns are *WaitError.
// callOpts, the options of each poll, are checked before the first: a poll
// would take their error for a transient one.
func waitFor[T any](ctx context.Context, c *Client, id ID, opts *WaitOptions, callOpts []Option, target waitTarget[T]) (*T, error) {
	if ctx == nil { // a poll's "nil context" would look transient, and ctx.Err() would panic
		return nil, errors.New("kryptogo: wait for " + target.kind + ": nil context")
	}
	if err := validateID(target.idField, id); err != nil {
		return nil, err
	}
	cfg, err := c.config(callOpts)
	if err != nil {
		return nil, err
	}
	pace, err := opts.policy(cfg.poll)
	if err != nil {
		return nil, err
	}
	var last *T
	var lastFailure error
	for polls := 1; ; polls++ {
		got, err := target.fetch(ctx, id)
		switch {
		case err == nil && target.done(got):
			return got, nil
		case err == nil:
			last, lastFailure = got, nil
		case !transient(err):
			return nil, newWaitError(id, polls, last, err, target)
		case ctx.Err() == nil:
			lastFailure = err // a failure of its own, not the end of ctx
		}
		if err := c.sleep(ctx, pace.Delay(polls-1)); err != nil {
			return nil, newWaitError(id, polls, last, withLastFailure(err, lastFailure), target)
		}
	}
}

func newWaitError[T any](id ID, polls int, last *T, err error, target waitTarget[T]) *WaitError {
	werr := &WaitError{ID: id, Polls: polls, Err: err, kind: target.kind}
	if last != nil {
		target.setLast(werr, last)
	}
	return werr
}

// transient reports whether a failed poll is worth repeating: the server or
// the network failed, or we were rate limited.
func transient(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return errors.Is(err, ErrServerError) || errors.Is(err, ErrRateLimited)
	}
	return !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrInvalidResponse)
}

// withLastFailure adds to the reason a wait ended (its context) the last
// failure a poll saw, so that "deadline exceeded" after a run of 503s says
// so. Both stay reachable through errors.Is and errors.As.
func withLastFailure(ended, lastFailure error) error {
	if lastFailure == nil {
		return ended
	}
	return &endedAfterFailure{ended: ended, last: lastFailure}
}

// endedAfterFailure is a wait that ended while its polls were failing.
type endedAfterFailure struct {
	ended, last error
}

// Error names why the wait ended, then the last failure.
func (e *endedAfterFailure) Error() string {
	return e.ended.Error() + "; last failure: " + e.last.Error()
}

// Unwrap returns both errors, the reason the wait ended first.
func (e *endedAfterFailure) Unwrap() []error { return []error{e.ended, e.last} }
