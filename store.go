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

// ErrNotHolder is an IdempotencyStore's answer to MarkInDoubt from a token
// without the key's lease, and to Forget under a live lease.
var ErrNotHolder = errors.New("kryptogo: the idempotency key's lease is held by another caller")

// errEmptyToken is a store's answer to a claim without a token, which
// would read as "no holder" and let a second caller take the key.
var errEmptyToken = errors.New("kryptogo: a store claim needs a non-empty token")

// IdempotencyStore records per idempotency key which caller holds it (a
// lease) and what came of it. Each method is one atomic compare-and-set step;
// storetest checks an implementation. Records expire DefaultKeyRetention after
// their last change, never under a live lease. Tokens are non-empty; a token
// holds a key whose lease ran out until another takes it over.
//
//	absent --Claim--> held --MarkInDoubt--> held, in doubt --Complete--> done
//	held --Release(false)--> absent    held, in doubt --Release(true)--> in doubt
type IdempotencyStore interface {
	// Claim takes the key for token when absent (with fingerprint), token's
	// (renewed), or its lease ended or was released (InDoubt, SentAt kept); it
	// returns the record and whether token holds it.
	Claim(ctx context.Context, key, token, fingerprint string, lease time.Duration) (KeyRecord, bool, error)
	// MarkInDoubt records before a send that a request may reach the API
	// (the earliest SentAt kept: a caller may mark again with an earlier
	// time once it knows the API's clock better); ErrNotHolder when token
	// does not hold it.
	MarkInDoubt(ctx context.Context, key, token string, sentAt time.Time) error
	// Complete records the first outcome and ends the lease, holder or not.
	Complete(ctx context.Context, key, token string, result []byte) (KeyRecord, error)
	// Release ends token's lease without an outcome, deleting the record or
	// leaving it in doubt; from a token not holding the key it changes nothing.
	Release(ctx context.Context, key, token string, inDoubt bool) error
	Get(ctx context.Context, key string) (KeyRecord, bool, error) // the key's record and whether there is one
	// Forget deletes the record, except under a live lease (ErrNotHolder).
	Forget(ctx context.Context, key string) error
}

// KeyRecord is what an IdempotencyStore holds for one key.
type KeyRecord struct {
	Key         string
	Fingerprint string    // of the request first claimed: another is refused
	Holder      string    // the token holding the lease; "" when none
	LeaseUntil  time.Time // by the store's clock
	InDoubt     bool      // a request may have reached the API, no outcome recorded
	// SentAt is the earliest MarkInDoubt; zero when none. It is by the
	// API's clock as the sender knew it (its own less the lag the API's
	// Date headers told), as the API dates its tasks, so a lookup in any
	// process (FindCreated) compares it with creation times as it is.
	SentAt time.Time
	Done   bool   // an outcome is recorded (Complete)
	Result []byte // the outcome, when Done
}

// held reports whether a live lease holds the record at now.
func (r *KeyRecord) held(now time.Time) bool {
	return r.Holder != "" && now.Before(r.LeaseUntil)
}

// CallbackStore records which callbacks (CallbackEvent.Key) were processed: a
// key is absent, claimed (a lease) or done, kept DefaultCallbackRetention.
// Tokens are non-empty.
type CallbackStore interface {
	// ClaimCallback takes (or renews) the key for token unless it is done or
	// another live lease holds it (CallbackBusy, with the time left).
	ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (CallbackClaim, error)
	CompleteCallback(ctx context.Context, key, token string) error // marks it done, even after the lease
	ReleaseCallback(ctx context.Context, key, token string) error  // frees token's claim, not done
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
	State      CallbackClaimState
	RetryAfter time.Duration // what is left of the other caller's lease, when Busy
}

// PauseStore shares a 429's pause between processes; scopes (named after a
// digest of the API key) are independent pauses.
type PauseStore interface {
	// ExtendPause makes the scope's pause last at least until until and
	// returns the end now in force.
	ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error)
	PausedUntil(ctx context.Context, scope string) (time.Time, error) // zero or past: none
}
