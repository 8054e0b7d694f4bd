package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// clock is a settable clock for the SQLite store (PostgreSQL keeps its own).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newSQLiteStore returns a migrated SQLite store on a clock of the test's.
func newSQLiteStore(t *testing.T, opts ...sqlstore.Option) (*sqlstore.Store, *sql.DB, *clock) {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "store.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s := sqlstore.New(db, sqlstore.SQLite, opts...)
	c := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	sqlstore.SetNow(s, c.Now)
	require.NoError(t, s.Migrate(t.Context()))
	return s, db, c
}

// rows counts the rows of each of the store's data tables.
func rows(t *testing.T, db *sql.DB, s *sqlstore.Store) [3]int {
	t.Helper()
	var n [3]int
	for i, table := range sqlstore.Tables(s)[:3] {
		require.NoError(t, db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n[i]))
	}
	return n
}

func TestPruneDeletesExpiredRowsOnly(t *testing.T) {
	t.Parallel()
	s, db, c := newSQLiteStore(t, sqlstore.WithKeyRetention(time.Hour), sqlstore.WithCallbackRetention(2*time.Hour), sqlstore.WithPruneInterval(-1))
	ctx := t.Context()
	_, _, err := s.Claim(ctx, "held", "a", "fp", time.Minute)
	require.NoError(t, err)
	_, err = s.Complete(ctx, "done", "a", []byte("1"))
	require.NoError(t, err)
	_, err = s.ClaimCallback(ctx, "claimed", "a", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.CompleteCallback(ctx, "processed", "a"))
	_, err = s.ExtendPause(ctx, "client", c.Now().Add(30*time.Second))
	require.NoError(t, err)

	n, err := s.Prune(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "pruned live rows")
	assert.Equal(t, [3]int{2, 2, 1}, rows(t, db, s))

	c.Add(time.Hour) // keys expire; the pause is over, the unfinished claim ran out
	n, err = s.Prune(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 4, n)
	assert.Equal(t, [3]int{0, 1, 0}, rows(t, db, s), "the processed callback is kept for its retention")

	c.Add(time.Hour)
	n, err = s.Prune(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	assert.Equal(t, [3]int{0, 0, 0}, rows(t, db, s))
}

func TestPruneWorksInBatches(t *testing.T) {
	t.Parallel()
	s, db, c := newSQLiteStore(t, sqlstore.WithKeyRetention(time.Minute), sqlstore.WithPruneInterval(-1))
	expire(t, db, s, c, 2500)
	n, err := s.Prune(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2500, n)
	assert.Zero(t, rows(t, db, s)[0])
}

// expire writes n done keys that expired a minute ago, in one statement
// (n writes of the store one by one take long under the race detector).
func expire(t *testing.T, db *sql.DB, s *sqlstore.Store, c *clock, n int) {
	t.Helper()
	_, err := db.ExecContext(t.Context(), "INSERT INTO "+sqlstore.Tables(s)[0]+
		" (key, fingerprint, holder, in_doubt, done, result, expires_at)"+
		" WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"+
		" SELECT ? || i, '', '', FALSE, TRUE, x'31', ? FROM n",
		n, "expired@"+c.Now().String()+"#", c.Now().Add(-time.Minute).UnixMicro())
	require.NoError(t, err)
}

// TestWritesPruneNowAndThen: a write prunes when the interval has passed,
// and keeps pruning at the next writes while full batches are left.
func TestWritesPruneNowAndThen(t *testing.T) {
	t.Parallel()
	s, db, c := newSQLiteStore(t, sqlstore.WithKeyRetention(time.Minute), sqlstore.WithPruneInterval(10*time.Minute))
	ctx := t.Context()
	write := func() {
		t.Helper()
		_, _, err := s.Claim(ctx, "live", "a", "fp", time.Minute)
		require.NoError(t, err)
	}

	write() // the first write prunes (nothing): due again in 10 minutes
	expire(t, db, s, c, 3)
	write()
	assert.Equal(t, 4, rows(t, db, s)[0], "pruned before the interval passed")
	c.Add(10 * time.Minute)
	write()
	assert.Equal(t, 1, rows(t, db, s)[0], "the write after the interval did not prune")

	expire(t, db, s, c, 1500)
	write()
	assert.Equal(t, 1500+1, rows(t, db, s)[0], "pruned before the interval passed")
	c.Add(10 * time.Minute)
	write()
	assert.Equal(t, 500+1, rows(t, db, s)[0], "one batch of 1,000")
	write()
	assert.Equal(t, 1, rows(t, db, s)[0], "the next write goes on while batches are full")
}

// TestPruneOnTheDatabaseClock: on PostgreSQL, expiry follows the
// database's clock.
func TestPruneOnTheDatabaseClock(t *testing.T) {
	t.Parallel()
	d := databases()[0]
	db := d.connect(t)
	s, ctx := newStore(t, db, d.dialect, sqlstore.WithKeyRetention(time.Second), sqlstore.WithPruneInterval(-1)), t.Context()
	_, err := s.Complete(ctx, "k", "a", []byte("1"))
	require.NoError(t, err)
	n, err := s.Prune(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	deadline := time.Now().Add(patience)
	for rows(t, db, s)[0] > 0 {
		require.False(t, time.Now().After(deadline), "the key was not pruned within %v", patience)
		time.Sleep(100 * time.Millisecond)
		_, err := s.Prune(ctx)
		require.NoError(t, err)
	}
}

// TestPruneSparesARowRenewedMeanwhile: on PostgreSQL, a prune that picked
// an expired row waits while a transaction renews it (a completion of the
// callback, here), then must leave it: deleting it would forget that the
// callback was processed.
func TestPruneSparesARowRenewedMeanwhile(t *testing.T) {
	t.Parallel()
	d := databases()[0]
	db := d.connect(t)
	s := newStore(t, db, d.dialect, sqlstore.WithPruneInterval(-1))
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	callbacks := sqlstore.Tables(s)[1]

	claim(t, s, "cb", "a", time.Millisecond) // an unfinished claim expires with its lease
	waitFor(t, "the claim to expire", func() bool {
		var expired bool
		require.NoError(t, db.QueryRowContext(ctx, "SELECT expires_at <= statement_timestamp() FROM "+callbacks+" WHERE key = 'cb'").Scan(&expired))
		return expired
	})

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	require.NoError(t, s.CompleteCallbackTx(ctx, tx, "cb"))

	pruned := make(chan error, 1)
	go func() { _, err := s.Prune(ctx); pruned <- err }()
	waitFor(t, "the prune to wait for the transaction's lock", func() bool {
		var waiting int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%DELETE FROM "+callbacks+"%'").Scan(&waiting))
		return waiting > 0
	})
	require.NoError(t, tx.Commit())
	require.NoError(t, <-pruned)

	assert.Equal(t, kryptogo.CallbackDone, claim(t, s, "cb", "b", time.Minute), "the prune deleted the completion committed while it waited")
}

// waitFor polls cond until it holds, or fails the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		require.False(t, time.Now().After(deadline), "waited %v for %s", patience, what)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHeldKeyOutlivesRetention: a record lives while a live lease holds it,
// however short the retention, and a prune spares it too.
func TestHeldKeyOutlivesRetention(t *testing.T) {
	t.Parallel()
	s, _, c := newSQLiteStore(t, sqlstore.WithKeyRetention(time.Minute), sqlstore.WithPruneInterval(-1))
	ctx := t.Context()
	_, ok, err := s.Claim(ctx, "k", "a", "fp", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	c.Add(30 * time.Minute)
	require.NoError(t, s.MarkInDoubt(ctx, "k", "a", c.Now()))
	c.Add(20 * time.Minute) // 50 minutes: past the retention of every change, within the lease

	n, err := s.Prune(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "pruned a held key")
	rec, ok, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok, "a key held by a live lease expired with the retention")
	assert.Equal(t, "a", rec.Holder)
	_, ok, err = s.Claim(ctx, "k", "b", "fp", time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "another token claimed a key held by a live lease")

	c.Add(11 * time.Minute) // the lease ran out at 60 minutes, and the record with it
	_, ok, err = s.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok, "a key outlived both its lease and its retention")
}
