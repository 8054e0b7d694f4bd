package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// ClaimCallback implements kryptogo.CallbackStore: one upsert, in its own
// transaction, so that the claim is visible to every replica at once.
func (s *Store) ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (kryptogo.CallbackClaim, error) {
	if err := s.check(checkText("callback key", key), checkText("token", token), checkLease(lease)); err != nil {
		return kryptogo.CallbackClaim{}, err
	}
	var (
		holder          string
		done            bool
		leaseUntil, now sql.NullInt64
	)
	err := s.queryRow(ctx, s.q.claimCallback, s.args(key, token, micros(lease)), func(row *sql.Row) error {
		return row.Scan(&holder, &done, &leaseUntil, &now)
	})
	if err != nil {
		return kryptogo.CallbackClaim{}, wrap("claim callback", err)
	}
	s.maybePrune(ctx)
	switch {
	case done:
		return kryptogo.CallbackClaim{State: kryptogo.CallbackDone}, nil
	case holder == token:
		return kryptogo.CallbackClaim{State: kryptogo.CallbackClaimed}, nil
	}
	return kryptogo.CallbackClaim{State: kryptogo.CallbackBusy, RetryAfter: fromMicros(leaseUntil).Sub(fromMicros(now))}, nil
}

// CompleteCallback implements kryptogo.CallbackStore: it records the
// callback as processed, and does nothing when it already was.
func (s *Store) CompleteCallback(ctx context.Context, key, _ string) error {
	err := retry(ctx, func() error { return s.completeCallback(ctx, s.db, key) })
	if errors.Is(err, ErrCallbackDone) {
		return nil
	}
	if err == nil {
		s.maybePrune(ctx)
	}
	return err
}

// CompleteCallbackTx records the callback key as processed inside tx, the
// caller's transaction, so that the callback's effect, written in the same
// transaction, and its completion commit together or not at all: if the
// process dies before the commit, neither happened, the claim runs out,
// and the sender's next delivery processes the callback again.
//
// It returns ErrCallbackDone when another delivery of the callback was
// recorded first (by a replica whose lease ran out while it worked, say):
// roll tx back, so that the effect does not happen twice. Call it before
// writing the effect: on PostgreSQL it locks the callback's row until tx
// ends, so that a second delivery's transaction (and a claim of the
// callback) waits for this one and then gets ErrCallbackDone (or goes
// ahead if this one rolled back); on
// SQLite, as tx's first write, it takes the database's write lock at once.
// tx must be on the store's database, and must be committed or rolled back
// before the handler returns: until then the callback's row is locked.
// Under REPEATABLE READ or SERIALIZABLE, a completion committed by another
// transaction meanwhile may surface as the database's serialization error
// instead of ErrCallbackDone: roll back either way (the sender's retry then
// finds the callback done).
//
// The key is CallbackEvent.Key(); no token is needed, since a completion
// is recorded whoever holds the claim.
func (s *Store) CompleteCallbackTx(ctx context.Context, tx *sql.Tx, key string) error {
	if tx == nil {
		return s.check(errors.New("sqlstore: CompleteCallbackTx with a nil *sql.Tx"))
	}
	return s.completeCallback(ctx, tx, key)
}

// CallbackTx runs fn in a transaction on the store's database that also
// records the callback key as processed (CompleteCallbackTx, before fn),
// and commits it when fn returns nil. It returns ErrCallbackDone, without
// calling fn, when the callback was processed before; fn's error, after a
// rollback, when fn fails.
func (s *Store) CallbackTx(ctx context.Context, key string, fn func(tx *sql.Tx) error) (err error) {
	if err := s.check(checkText("callback key", key)); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("begin callback transaction", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
		}
	}()
	if err := s.completeCallback(ctx, tx, key); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return wrap("commit callback transaction", tx.Commit())
}

// completeCallback marks key done with q; ErrCallbackDone when it was.
func (s *Store) completeCallback(ctx context.Context, q querier, key string) error {
	if err := s.check(checkText("callback key", key)); err != nil {
		return err
	}
	var done bool
	err := q.QueryRowContext(ctx, s.q.completeCallback, s.args(key, micros(s.callbackRetention))...).Scan(&done)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrCallbackDone
	}
	return wrap("complete callback", err)
}

// ReleaseCallback implements kryptogo.CallbackStore.
func (s *Store) ReleaseCallback(ctx context.Context, key, token string) error {
	if err := s.check(checkText("callback key", key), checkText("token", token)); err != nil {
		return err
	}
	_, err := s.exec(ctx, s.q.releaseCallback, s.args(key, token))
	return wrap("release callback", err)
}
