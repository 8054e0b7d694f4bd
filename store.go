package kryptogo

import (
	"context"
	"errors"
	"time"
)

// The stores below hold what several calls, clients or processes must
// agree on: which call owns an idempotency key and what it created, which
// callbacks were processed, and until when the API asked the client to
// pause. NewMemoryStore implements all three for one process; the
// redisstore and sqlstore modules implement them on Redis and SQL for
// several. Each method is one atomic step (compare-and-set on the stored
// record): an implementation never reads a record into Go, changes it and
// writes it back, since two processes doing that at once would both win.
// The storetest package holds the conformance tests every implementation
// must pass.

// ErrNotHolder is returned by IdempotencyStore.MarkInDoubt when the token
// no longer holds the key's lease: another caller took the key over after
// the lease ran out. The caller must not send.
var ErrNotHolder = errors.New("kryptogo: the idempotency key's lease is held by another caller")

// errEmptyToken is a store's answer to a claim without a token, which
// would read as "no holder" and let a second caller take the key.
var errEmptyToken = errors.New("kryptogo: a store claim needs a non-empty token")

// IdempotencyStore records, per idempotency key, which caller is creating
// the request and what came of it, so that a create with a key is sent at
// most once however many calls, clients and processes retry it.
//
// A key moves through these states, each change one atomic step:
//
//	absent --Claim--> held (lease) --MarkInDoubt--> held, in doubt --Complete--> done
//	held --Release(inDoubt=false)--> absent      held, in doubt --Release(inDoubt=true)--> in doubt
//	held whose lease ran out: Claim takes it over, keeping InDoubt as it was
//
// Records expire a retention period after their last change (24 h by
// default in the SDK's stores), and never while a live lease holds them;
// an expired record is absent. Tokens are non-empty: a store refuses an
// empty one with an error. A token still holds a key whose lease ran out
// until another token takes the key over.
type IdempotencyStore interface {
	// Claim takes the key for the caller identified by token, with a lease
	// that ends after lease, and returns the record as it stands after the
	// call and whether the caller now holds it. The caller holds it when
	// the key was absent (the record is created with fingerprint), when
	// token already held it (the lease is renewed), or when the previous
	// holder's lease ran out or was released (taken over: InDoubt and
	// SentAt are kept, so the new holder knows an earlier send may have
	// reached the API). A done key, or one leased to another token until a
	// time not yet past, is returned unchanged with false.
	Claim(ctx context.Context, key, token, fingerprint string, lease time.Duration) (KeyRecord, bool, error)
	// MarkInDoubt records, right before the holder sends, that a request
	// under the key may reach the API: from now on, until Complete or
	// Release, a holder that disappears leaves the key in doubt. SentAt
	// keeps the earliest such time. It returns ErrNotHolder when token does
	// not hold the key.
	MarkInDoubt(ctx context.Context, key, token string, sentAt time.Time) error
	// Complete records the outcome of the key (the result, as the SDK
	// encodes it) and ends the lease; the key is done. The first outcome
	// recorded wins: when the key is already done, Complete changes
	// nothing. Complete records an outcome even when token no longer holds
	// the lease (a received answer is the truth, whoever holds the key
	// now). It returns the record as it stands after the call.
	Complete(ctx context.Context, key, token string, result []byte) (KeyRecord, error)
	// Release ends token's lease without an outcome. With inDoubt false the
	// holder knows that nothing exists under the key (nothing was sent, or
	// the API refused it): the record is deleted. With inDoubt true the
	// record stays, in doubt and without a holder, for the next caller to
	// reconcile. A token that does not hold the key changes nothing.
	Release(ctx context.Context, key, token string, inDoubt bool) error
	// Get returns the key's record and whether there is one.
	Get(ctx context.Context, key string) (KeyRecord, bool, error)
	// Forget deletes the key's record whatever its state: for an operator
	// who checked by hand that a key in doubt created nothing (or who
	// wants the next create with the key to be sent again).
	Forget(ctx context.Context, key string) error
}

// KeyRecord is what an IdempotencyStore holds for one key.
type KeyRecord struct {
	// Key is the idempotency key.
	Key string
	// Fingerprint identifies the request first claimed under the key: a
	// later request with the same key and another fingerprint is refused.
	Fingerprint string
	// Holder is the token of the caller holding the lease; "" when none.
	Holder string
	// LeaseUntil is when the holder's lease ends, by the store's clock.
	LeaseUntil time.Time
	// InDoubt reports that a request under the key may have reached the
	// API and no outcome is recorded.
	InDoubt bool
	// SentAt is the earliest time a request under the key was about to be
	// sent (MarkInDoubt); zero when none was. Complete keeps it.
	SentAt time.Time
	// Done reports that an outcome is recorded (Complete).
	Done bool
	// Result is the recorded outcome, when Done.
	Result []byte
}

// held reports whether a live lease holds the record at now.
func (r *KeyRecord) held(now time.Time) bool {
	return r.Holder != "" && now.Before(r.LeaseUntil)
}

// CallbackStore records which callbacks were processed, so that a callback
// delivered twice, to one process or to several, runs the application's
// function once. Keys are CallbackEvent.Key values.
//
// A key is absent, claimed (a lease: its callback is being processed), or
// done. Done keys are kept for the store's retention (7 days by default in
// the SDK's stores); a lease that runs out frees the key for the sender's
// next delivery. Tokens are non-empty: a store refuses an empty one.
type CallbackStore interface {
	// ClaimCallback takes the key for token with a lease of lease. It
	// reports CallbackClaimed when the key was absent, its lease had run
	// out, or token held it already (the lease is renewed), CallbackDone when it was processed before, and CallbackBusy,
	// with the time left on the other lease, when another caller is
	// processing it now.
	ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (CallbackClaim, error)
	// CompleteCallback marks the key processed. It records the completion
	// even when token's lease ran out: the effect happened.
	CompleteCallback(ctx context.Context, key, token string) error
	// ReleaseCallback frees a key token holds without marking it done:
	// the application's function failed, and the sender's retry must run
	// it again. A token that does not hold the key changes nothing.
	ReleaseCallback(ctx context.Context, key, token string) error
}

// CallbackClaimState is the outcome of CallbackStore.ClaimCallback.
type CallbackClaimState int

// The outcomes of a callback claim.
const (
	CallbackClaimed CallbackClaimState = iota + 1 // the caller processes it
	CallbackDone                                  // processed before: a duplicate
	CallbackBusy                                  // another caller is processing it now
)

var callbackClaimNames = map[CallbackClaimState]string{CallbackClaimed: "claimed", CallbackDone: "done", CallbackBusy: "busy"}

// String returns "claimed", "done", "busy", or CallbackClaimState(N).
func (s CallbackClaimState) String() string {
	return enumName(callbackClaimNames, s, "CallbackClaimState")
}

// CallbackClaim is the answer of CallbackStore.ClaimCallback.
type CallbackClaim struct {
	State CallbackClaimState
	// RetryAfter is what is left of the other caller's lease, when Busy.
	RetryAfter time.Duration
}

// PauseStore shares the pause a 429's Retry-After asks for between the
// clients of several processes that use one API key: a pause one process
// meets holds the others too. Scopes name independent pauses ("client" for
// the calls of clients, "confirm" for callback confirmations); clients of
// different API keys must use different stores (or prefixes) so that one
// key's pause does not hold another's.
type PauseStore interface {
	// ExtendPause makes the scope's pause last at least until until, and
	// returns the end of the pause now in force.
	ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error)
	// PausedUntil returns the end of the scope's pause; the zero time, or
	// a time in the past, when there is none.
	PausedUntil(ctx context.Context, scope string) (time.Time, error)
}
