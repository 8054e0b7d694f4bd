package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"time"
)

// maxAttempts bounds how often a statement that PostgreSQL refused with a
// serialization failure or a deadlock is run. Those happen when the
// database's default isolation is REPEATABLE READ or SERIALIZABLE and
// replicas race for one row; the refused statement changed nothing, so it
// is safe to run again (with a fresh snapshot, it then sees the winner).
const maxAttempts = 16

// retryable reports whether err is a serialization failure (SQLSTATE
// 40001) or a deadlock (40P01). Drivers that report SQLSTATEs (pgx, lib/pq)
// do so through a SQLState method; the store imports none of them.
func retryable(err error) bool {
	var coded interface{ SQLState() string }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.SQLState() {
	case "40001", "40P01":
		return true
	}
	return false
}

// retry runs attempt until it succeeds, fails for another reason, or
// maxAttempts ran; between attempts it waits a few random milliseconds,
// growing, so that the racing replicas spread out.
func retry(ctx context.Context, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || n == maxAttempts || !retryable(err) {
			return err
		}
		wait := time.Duration(1+rand.IntN(n*2)) * time.Millisecond
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// queryRow runs a statement of one row on the store's database and scans
// it, again after a serialization failure.
func (s *Store) queryRow(ctx context.Context, query string, args []any, scan func(*sql.Row) error) error {
	return retry(ctx, func() error { return scan(s.db.QueryRowContext(ctx, query, args...)) })
}

// exec runs a statement on the store's database, again after a
// serialization failure.
func (s *Store) exec(ctx context.Context, query string, args []any) (sql.Result, error) {
	var res sql.Result
	err := retry(ctx, func() error {
		var err error
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
