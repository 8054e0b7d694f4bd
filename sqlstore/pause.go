package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ExtendPause implements kryptogo.PauseStore: one upsert keeping the later
// of the stored end and until, in microseconds rounded up so the pause
// never ends before until.
func (s *Store) ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error) {
	if err := s.check(checkText("pause scope", scope)); err != nil {
		return time.Time{}, err
	}
	us := until.UnixMicro()
	if time.UnixMicro(us).Before(until) {
		us++
	}
	var end sql.NullInt64
	err := s.queryRow(ctx, s.q.extendPause, s.args(scope, us), func(row *sql.Row) error { return row.Scan(&end) })
	if err != nil {
		return time.Time{}, wrap("extend pause", err)
	}
	return fromMicros(end), nil
}

// PausedUntil implements kryptogo.PauseStore.
func (s *Store) PausedUntil(ctx context.Context, scope string) (time.Time, error) {
	if err := s.check(checkText("pause scope", scope)); err != nil {
		return time.Time{}, err
	}
	var end sql.NullInt64
	err := s.queryRow(ctx, s.q.pausedUntil, s.args(scope), func(row *sql.Row) error { return row.Scan(&end) })
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, wrap("read pause", err)
	}
	return fromMicros(end), nil
}
