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

// ErrNotHolder is returned by IdempotencyStore.MarkInDoubt when the token no
// longer holds the key's lease: the caller must not send; and by Forget when
// a live lease holds the key.
var ErrNotHolder = errors.New("kryptogo: the idempotency key's lease is held by another caller")

// errEmptyToken is a store's answer to a claim without a token, which
// would read as "no holder" and let a second caller take the key.
var errEmptyToken = errors.New("kryptogo: a store claim needs a non-empty token")

// IdempotencyStore records, per idempotency key, which caller is creating
// the request and what came of it, so that a create with a key is sent at
// most once across calls, clients and processes. Each method is one atomic
// step (compare-and-set): the storetest package checks an implementation.
//
//	absent --Claim--> held (lease) --MarkInDoubt--> held, in doubt --Complete--> done
//	held --Release(inDoubt=false)--> absent      held, in doubt --Release(inDoubt=true)--> in doubt
//	held whose lease ran out: Claim takes it over, keeping InDoubt as it was
//
// Records expire a retention after their last change (DefaultKeyRetention),
// never under a live lease. Tokens are non-empty; a token holds a key whose
// lease ran out until another takes it over.
type IdempotencyStore interface {
	// Claim takes the key for token with a lease of lease, and returns the
	// record after the call and whether token holds it: it does when the
	// key was absent (created with fingerprint), already token's (renewed),
	// or its lease ran out or was released (taken over, InDoubt and SentAt
	// kept). A done key, or one under another live lease, is unchanged.
	Claim(ctx context.Context, key, token, fingerprint string, lease time.Duration) (KeyRecord, bool, error)
	// MarkInDoubt records, right before the holder sends, that a request
	// may reach the API (SentAt keeps the earliest time); ErrNotHolder when
	// token does not hold the key.
	MarkInDoubt(ctx context.Context, key, token string, sentAt time.Time) error
	// Complete records the key's outcome and ends the lease, even when
	// token no longer holds it; the first outcome wins. It returns the
	// record after the call.
	Complete(ctx context.Context, key, token string, result []byte) (KeyRecord, error)
	// Release ends token's lease without an outcome: the record is deleted
	// (inDoubt false: nothing exists under the key) or stays in doubt
	// without a holder. A token that does not hold the key changes nothing.
	Release(ctx context.Context, key, token string, inDoubt bool) error
	// Get returns the key's record and whether there is one.
	Get(ctx context.Context, key string) (KeyRecord, bool, error)
	// Forget deletes the key's record (an operator's decision that a key
	// in doubt created nothing), except under a live lease: its holder may
	// be sending, and a caller claiming the key afresh would send again.
	// Then it changes nothing and returns ErrNotHolder.
	Forget(ctx context.Context, key string) error
}

// KeyRecord is what an IdempotencyStore holds for one key.
type KeyRecord struct {
	Key         string
	Fingerprint string    // of the request first claimed: another is refused
	Holder      string    // the token holding the lease; "" when none
	LeaseUntil  time.Time // by the store's clock
	InDoubt     bool      // a request may have reached the API, no outcome recorded
	SentAt      time.Time // the earliest MarkInDoubt; zero when none
	Done        bool      // an outcome is recorded (Complete)
	Result      []byte    // the outcome, when Done
}

// held reports whether a live lease holds the record at now.
func (r *KeyRecord) held(now time.Time) bool {
	return r.Holder != "" && now.Before(r.LeaseUntil)
}

// CallbackStore records which callbacks were processed, so that a callback
// delivered twice, to one process or several, runs the function once. Keys
// are CallbackEvent.Key values; a key is absent, claimed (a lease) or done,
// done keys kept for DefaultCallbackRetention. Tokens are non-empty.
type CallbackStore interface {
	// ClaimCallback takes the key for token with a lease of lease:
	// CallbackClaimed when it was absent, its lease ran out or token held
	// it (renewed), CallbackDone when processed before, CallbackBusy with
	// the time left when another caller holds it.
	ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (CallbackClaim, error)
	// CompleteCallback marks the key processed, even when the lease ran out.
	CompleteCallback(ctx context.Context, key, token string) error
	// ReleaseCallback frees a key token holds without marking it done (the
	// function failed; the sender's retry runs it again).
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

// PauseStore shares a 429's pause between the processes that use one API
// key. Scopes name independent pauses: the SDK asks for "client" and
// "confirm" followed by a digest of the API key (never the key), so
// clients of different keys can share one store.
type PauseStore interface {
	// ExtendPause makes the scope's pause last at least until until, and
	// returns the end of the pause now in force.
	ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error)
	// PausedUntil returns the end of the scope's pause; the zero time, or
	// a time in the past, when there is none.
	PausedUntil(ctx context.Context, scope string) (time.Time, error)
}
