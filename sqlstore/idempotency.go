package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// queryKey runs a statement returning the columns of keyColumns.
func (s *Store) queryKey(ctx context.Context, query string, args []any) (kryptogo.KeyRecord, error) {
	var rec kryptogo.KeyRecord
	err := s.queryRow(ctx, query, args, func(row *sql.Row) error {
		var leaseUntil, sentAt sql.NullInt64
		rec = kryptogo.KeyRecord{}
		if err := row.Scan(&rec.Key, &rec.Fingerprint, &rec.Holder, &leaseUntil, &rec.InDoubt, &sentAt, &rec.Done, &rec.Result); err != nil {
			return err
		}
		rec.LeaseUntil, rec.SentAt = fromMicros(leaseUntil), fromMicros(sentAt)
		return nil
	})
	return rec, err
}

// Claim implements kryptogo.IdempotencyStore: one upsert that creates the
// key, renews the token's lease, or takes over a lease that ran out.
func (s *Store) Claim(ctx context.Context, key, token, fingerprint string, lease time.Duration) (kryptogo.KeyRecord, bool, error) {
	if err := s.check(checkText("idempotency key", key), checkText("token", token),
		checkStorable("fingerprint", fingerprint), checkLease(lease)); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	rec, err := s.queryKey(ctx, s.q.claim, s.args(key, fingerprint, token, micros(lease), micros(s.keyRetention)))
	if err != nil {
		return kryptogo.KeyRecord{}, false, wrap("claim idempotency key", err)
	}
	s.maybePrune(ctx)
	return rec, rec.Holder == token && !rec.Done, nil
}

// MarkInDoubt implements kryptogo.IdempotencyStore.
func (s *Store) MarkInDoubt(ctx context.Context, key, token string, sentAt time.Time) error {
	if err := s.check(checkText("idempotency key", key), checkText("token", token)); err != nil {
		return err
	}
	res, err := s.exec(ctx, s.q.markInDoubt, s.args(key, token, sentAt.UnixMicro(), micros(s.keyRetention)))
	if err != nil {
		return wrap("mark idempotency key in doubt", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("mark idempotency key in doubt", err)
	}
	if n == 0 {
		return kryptogo.ErrNotHolder
	}
	return nil
}

// Complete implements kryptogo.IdempotencyStore: the first outcome
// recorded wins, whoever holds the lease.
func (s *Store) Complete(ctx context.Context, key, _ string, result []byte) (kryptogo.KeyRecord, error) {
	if err := s.check(checkText("idempotency key", key)); err != nil {
		return kryptogo.KeyRecord{}, err
	}
	if result == nil {
		result = []byte{} // a done key always has a result, if empty
	}
	rec, err := s.queryKey(ctx, s.q.complete, s.args(key, result, micros(s.keyRetention)))
	if err != nil {
		return kryptogo.KeyRecord{}, wrap("complete idempotency key", err)
	}
	s.maybePrune(ctx)
	return rec, nil
}

// Release implements kryptogo.IdempotencyStore.
func (s *Store) Release(ctx context.Context, key, token string, inDoubt bool) error {
	if err := s.check(checkText("idempotency key", key), checkText("token", token)); err != nil {
		return err
	}
	var err error
	if inDoubt {
		_, err = s.exec(ctx, s.q.releaseInDoubt, s.args(key, token, micros(s.keyRetention)))
	} else {
		_, err = s.exec(ctx, s.q.releaseFree, s.args(key, token))
	}
	return wrap("release idempotency key", err)
}

// Get implements kryptogo.IdempotencyStore.
func (s *Store) Get(ctx context.Context, key string) (kryptogo.KeyRecord, bool, error) {
	if err := s.check(checkText("idempotency key", key)); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	rec, err := s.queryKey(ctx, s.q.get, s.args(key))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return kryptogo.KeyRecord{}, false, nil
	case err != nil:
		return kryptogo.KeyRecord{}, false, wrap("get idempotency key", err)
	}
	return rec, true, nil
}

// Forget implements kryptogo.IdempotencyStore: kryptogo.ErrNotHolder when
// a live lease holds the key, which is then kept.
func (s *Store) Forget(ctx context.Context, key string) error {
	if err := s.check(checkText("idempotency key", key)); err != nil {
		return err
	}
	res, err := s.exec(ctx, s.q.forget, s.args(key))
	if err != nil {
		return wrap("forget idempotency key", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	var held int
	err = s.queryRow(ctx, s.q.heldLive, s.args(key), func(row *sql.Row) error { return row.Scan(&held) })
	switch {
	case err != nil:
		return wrap("forget idempotency key", err)
	case held > 0:
		return kryptogo.ErrNotHolder
	}
	return nil
}
