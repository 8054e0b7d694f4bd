package kryptogo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// The callback inbox: with CallbackHandler.Store, a callback runs OnTask or
// OnIDV only under a claim of its key (CallbackEvent.Key) in the store, so
// that a callback delivered twice, to this process or another, runs the
// function once, and never twice at the same time.

// callbackLease is how long a claim holds a callback's key before another
// process may take it over. The claim is renewed every callbackRenewEvery
// while the function runs, so a long function keeps it; a process that
// dies loses it a lease later, and the sender's retry runs the callback
// again.
const callbackLease = 30 * time.Second

// claimLease is the lease of the handler's claims: callbackLease, or a
// test's.
func (h *CallbackHandler) claimLease() time.Duration {
	if h.lease > 0 {
		return h.lease
	}
	return callbackLease
}

// errCallbackClaimLost is the cause of the function's context when its
// claim could not be renewed before the lease ran out, or was taken over.
var errCallbackClaimLost = errors.New("kryptogo: the callback's claim in the store was lost; another delivery may run it")

// callbackStoreTimeout bounds each round trip to the store that is not
// under the request's own context (completion, release, renewal).
const callbackStoreTimeout = 5 * time.Second

// deliverOnce runs the function under a claim of the event's key: a
// processed callback is acknowledged without a call (204), one another
// caller holds is refused with a Retry-After (503), and a store that fails
// refuses the callback (503: fail closed, the function never runs without
// a claim). After the function, the key is completed (204) or, when it
// failed, released so that the sender's retry runs it again (500).
func (h *CallbackHandler) deliverOnce(ctx context.Context, e *CallbackEvent) verdict {
	if !h.hasFunction(e) {
		return h.dispatch(ctx, e) // acknowledged: nothing to run, nothing to record
	}
	key, token, claimed := e.Key(), newCallbackToken(), time.Now()
	claim, err := h.Store.ClaimCallback(ctx, key, token, h.claimLease())
	if err != nil {
		return verdict{status: http.StatusServiceUnavailable, event: e, reason: "callback store: claim: " + err.Error(), retryAfter: time.Second}
	}
	switch claim.State {
	case CallbackDone:
		return verdict{status: http.StatusNoContent, event: e, reason: "processed before: a duplicate", outcome: CallbackDuplicate}
	case CallbackBusy:
		return verdict{status: http.StatusServiceUnavailable, event: e, reason: "another delivery of this callback is being processed",
			retryAfter: min(max(claim.RetryAfter, time.Second), maxRetryAfter)} // a minute at most, as every 503 of the handler
	case CallbackClaimed:
	default:
		return verdict{status: http.StatusServiceUnavailable, event: e, reason: "callback store: claim: unknown state " + claim.State.String(), retryAfter: time.Second}
	}
	v := h.dispatchClaimed(ctx, e, key, token, claimed)
	// The completion or release must happen even when the sender hung up.
	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackStoreTimeout)
	defer cancel()
	if v.status != http.StatusNoContent {
		if err := h.Store.ReleaseCallback(storeCtx, key, token); err != nil {
			// The claim then runs out with its lease, and a retry after it runs again.
			v.reason += "; callback store: release: " + err.Error()
		}
		return v
	}
	if err := h.Store.CompleteCallback(storeCtx, key, token); err != nil {
		// The function ran, but its completion is not recorded: a 500 makes
		// the sender retry, which runs it again once the lease is over.
		return verdict{status: http.StatusInternalServerError, event: e, reason: "callback store: complete: " + err.Error(), outcome: CallbackError}
	}
	return v
}

// dispatchClaimed runs the function while renewing the claim of key. A
// function that panics stops the renewal and releases the key before the
// panic goes on (net/http recovers it and drops the connection): the
// sender's retry then runs the callback again, instead of meeting a key
// renewed for ever by a renewal nobody stops.
func (h *CallbackHandler) dispatchClaimed(ctx context.Context, e *CallbackEvent, key, token string, claimed time.Time) verdict {
	fnCtx, stop := h.renewClaim(ctx, key, token, claimed)
	panicked := true
	defer func() {
		stop()
		if panicked {
			storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackStoreTimeout)
			defer cancel()
			_ = h.Store.ReleaseCallback(storeCtx, key, token) // when it fails, the lease runs out
		}
	}()
	v := h.dispatch(fnCtx, e)
	panicked = false
	return v
}

// hasFunction reports whether the handler has a function for the event.
func (h *CallbackHandler) hasFunction(e *CallbackEvent) bool {
	return e.Kind == CallbackTask && h.OnTask != nil || e.Kind == CallbackIDV && h.OnIDV != nil
}

// renewClaim renews the claim taken at claimed every quarter of the lease
// until the returned stop is called, so that a function that runs longer
// than the lease keeps it, and returns the context the function runs
// under. When the claim is lost (another delivery took it over) or has not
// been renewed when a third of the lease is left (the store fails), that
// context is cancelled with errCallbackClaimLost before the lease runs
// out: another delivery may take the key once it has, and a function that
// heeds its context has stopped by then. One that does not heed it may
// still overlap with that delivery.
func (h *CallbackHandler) renewClaim(ctx context.Context, key, token string, claimed time.Time) (context.Context, func()) {
	lease := h.claimLease()
	fnCtx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(lease / 4)
		defer tick.Stop()
		deadline := time.NewTimer(time.Until(claimed.Add(lease - lease/3)))
		defer deadline.Stop()
		lost := func(msg string, attrs ...slog.Attr) {
			if context.Cause(fnCtx) == nil { // once
				h.logger().LogAttrs(ctx, slog.LevelWarn, msg, append(attrs, slog.String("key", key))...)
			}
			cancel(errCallbackClaimLost)
		}
		for {
			select {
			case <-done:
				return
			case <-deadline.C:
				lost("kryptogo callback: the claim could not be renewed; the function's context is cancelled")
				continue
			case <-tick.C:
			}
			// Renewals go on after a cancellation: a function that does
			// not heed its context still holds the key while it can.
			start := time.Now()
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), min(callbackStoreTimeout, lease/4))
			claim, err := h.Store.ClaimCallback(rctx, key, token, lease)
			rcancel()
			switch {
			case err == nil && claim.State == CallbackClaimed:
				deadline.Reset(time.Until(start.Add(lease - lease/3)))
			case err == nil:
				lost("kryptogo callback: the claim was taken over; the function's context is cancelled", slog.String("state", claim.State.String()))
			default:
				h.logger().LogAttrs(ctx, slog.LevelWarn, "kryptogo callback: renewing the claim failed",
					slog.String("key", key), slog.String("error", err.Error()))
			}
		}
	}()
	return fnCtx, func() {
		close(done)
		<-finished
		cancel(nil)
	}
}

// newCallbackToken returns a token naming one delivery's claim.
func newCallbackToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}
