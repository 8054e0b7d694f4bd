package sqlstore_test

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

func TestMigrateTwiceKeepsTheData(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		s := newStore(t, db, d.dialect)
		ctx := t.Context()
		_, ok, err := s.Claim(ctx, "k", "a", "fp", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)

		require.NoError(t, s.Migrate(ctx), "second Migrate")

		rec, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, ok, "the second Migrate lost the key")
		assert.Equal(t, "a", rec.Holder)
		var versions int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlstore.Tables(s)[3]).Scan(&versions))
		assert.Equal(t, 1, versions, "schema versions recorded")
	})
}

// TestConcurrentMigrate starts several replicas at once, each with a pool of
// its own: one migrates, the others wait and find nothing to do.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		dsn := d.dsn(t)
		migrateConcurrently(t, d, func() *sql.DB { return d.open(t, dsn) })
	})
}

func migrateConcurrently(t *testing.T, d database, open func() *sql.DB) {
	prefix := uniquePrefix()
	const replicas = 8
	stores := make([]*sqlstore.Store, replicas)
	for i := range stores {
		stores[i] = sqlstore.New(open(), d.dialect, sqlstore.WithTablePrefix(prefix))
	}
	admin := open()
	t.Cleanup(func() { dropTables(t, admin, stores[0]) })
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "replica %d", i)
	}
	_, ok, err := stores[replicas-1].Claim(t.Context(), "k", "a", "fp", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestUnmigratedStoreSaysSo(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		s := sqlstore.New(d.connect(t), d.dialect, sqlstore.WithTablePrefix(uniquePrefix()))
		_, ok, err := s.Claim(t.Context(), "k", "a", "fp", time.Minute)
		require.Error(t, err)
		assert.False(t, ok)
		assert.Contains(t, err.Error(), "Migrate")
	})
}

// TestTablePrefixIsolation: stores with different prefixes in one database
// (two API keys, say) share nothing.
func TestTablePrefixIsolation(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		one, two := newStore(t, db, d.dialect), newStore(t, db, d.dialect)
		ctx := t.Context()
		for _, s := range []*sqlstore.Store{one, two} {
			_, ok, err := s.Claim(ctx, "key", "token-"+sqlstore.Tables(s)[0], "fp", time.Minute)
			require.NoError(t, err)
			assert.True(t, ok, "a claim in one prefix's tables holds the other's")
		}
		claim, err := one.ClaimCallback(ctx, "cb", "a", time.Minute)
		require.NoError(t, err)
		require.Equal(t, kryptogo.CallbackClaimed, claim.State)
		require.NoError(t, one.CompleteCallback(ctx, "cb", "a"))
		claim, err = two.ClaimCallback(ctx, "cb", "b", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, kryptogo.CallbackClaimed, claim.State, "a callback done under one prefix is done under the other")

		until := time.Now().Add(time.Hour)
		_, err = one.ExtendPause(ctx, "client", until)
		require.NoError(t, err)
		got, err := two.PausedUntil(ctx, "client")
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "the pause of one prefix holds the other: %v", got)
	})
}

func TestDefaultTablePrefix(t *testing.T) {
	t.Parallel()
	s := sqlstore.New(nil, sqlstore.SQLite)
	assert.Equal(t, []string{"kryptogo_idempotency_keys", "kryptogo_callbacks", "kryptogo_pauses", "kryptogo_schema_migrations"}, sqlstore.Tables(s))
}
