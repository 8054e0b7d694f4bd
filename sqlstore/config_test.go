package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/sqlstore"
)

// everyMethod calls each method of s once and returns their errors, by name.
func everyMethod(ctx context.Context, s *sqlstore.Store) map[string]error {
	errs := map[string]error{}
	var ok bool
	_, ok, errs["Claim"] = s.Claim(ctx, "k", "a", "fp", time.Minute)
	if ok {
		errs["Claim reported a claim"] = nil
	}
	errs["MarkInDoubt"] = s.MarkInDoubt(ctx, "k", "a", time.Now())
	_, errs["Complete"] = s.Complete(ctx, "k", "a", []byte("1"))
	errs["Release"] = s.Release(ctx, "k", "a", false)
	errs["Release in doubt"] = s.Release(ctx, "k", "a", true)
	_, ok, errs["Get"] = s.Get(ctx, "k")
	if ok {
		errs["Get found a record"] = nil
	}
	errs["Forget"] = s.Forget(ctx, "k")
	claim, err := s.ClaimCallback(ctx, "cb", "a", time.Minute)
	errs["ClaimCallback"] = err
	if claim.State != 0 {
		errs["ClaimCallback reported "+claim.State.String()] = nil
	}
	errs["CompleteCallback"] = s.CompleteCallback(ctx, "cb", "a")
	errs["ReleaseCallback"] = s.ReleaseCallback(ctx, "cb", "a")
	errs["CallbackTx"] = s.CallbackTx(ctx, "cb", func(*sql.Tx) error { panic("CallbackTx ran its function") })
	_, errs["ExtendPause"] = s.ExtendPause(ctx, "client", time.Now().Add(time.Minute))
	_, errs["PausedUntil"] = s.PausedUntil(ctx, "client")
	_, errs["Prune"] = s.Prune(ctx)
	errs["Migrate"] = s.Migrate(ctx)
	return errs
}

func TestBadConfigurationFailsEveryMethod(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "store.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	for _, tc := range []struct {
		name  string
		store *sqlstore.Store
		want  string
	}{
		{"nil db", sqlstore.New(nil, sqlstore.Postgres), "nil *sql.DB"},
		{"unknown dialect", sqlstore.New(db, sqlstore.Dialect(7)), "unknown dialect Dialect(7)"},
		{"zero dialect", sqlstore.New(db, 0), "unknown dialect"},
		{"SQL in the prefix", sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("x; DROP TABLE users; --")), "table prefix"},
		{"upper case prefix", sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("KG_")), "table prefix"},
		{"dotted prefix", sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("other.kg_")), "table prefix"},
		{"long prefix", sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix(strings.Repeat("a", 33))), "table prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for method, err := range everyMethod(t.Context(), tc.store) {
				if assert.Error(t, err, method) {
					assert.Contains(t, err.Error(), tc.want, method)
				}
			}
		})
	}
	var tables int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlite_master").Scan(&tables))
	assert.Zero(t, tables, "a misconfigured store created tables")
}

func TestGoodPrefixes(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "kg_", "_x9", strings.Repeat("a", 32)} {
		t.Run(prefix, func(t *testing.T) {
			db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "store.db")))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			require.NoError(t, sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix(prefix)).Migrate(t.Context()))
			rows, err := db.QueryContext(t.Context(), "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
			require.NoError(t, err)
			var tables []string
			for rows.Next() {
				var name string
				require.NoError(t, rows.Scan(&name))
				tables = append(tables, name)
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, []string{prefix + "callbacks", prefix + "idempotency_keys", prefix + "pauses", prefix + "schema_migrations"}, tables)
		})
	}
}

// TestBadInputIsRefusedBeforeTheDatabase: values PostgreSQL could not
// store as text, empty keys and tokens, and empty leases are refused with
// a clear error on every dialect, and nothing is written.
func TestBadInputIsRefusedBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		s, ctx := newStore(t, d.connect(t), d.dialect), t.Context()
		for _, tc := range []struct {
			name string
			call func() error
			want string
		}{
			{"empty key", func() error { _, _, err := s.Claim(ctx, "", "a", "fp", time.Minute); return err }, "empty idempotency key"},
			{"empty token", func() error { _, _, err := s.Claim(ctx, "k", "", "fp", time.Minute); return err }, "empty token"},
			{"NUL in key", func() error { _, _, err := s.Claim(ctx, "k\x00", "a", "fp", time.Minute); return err }, "NUL"},
			{"invalid UTF-8 fingerprint", func() error { _, _, err := s.Claim(ctx, "k", "a", "\xff", time.Minute); return err }, "UTF-8"},
			{"long key", func() error {
				_, _, err := s.Claim(ctx, strings.Repeat("k", sqlstore.MaxKeyBytes+1), "a", "fp", time.Minute)
				return err
			}, "longer than 1024"},
			{"zero lease", func() error { _, _, err := s.Claim(ctx, "k", "a", "fp", 0); return err }, "lease"},
			{"negative lease", func() error { _, err := s.ClaimCallback(ctx, "k", "a", -time.Second); return err }, "lease"},
			{"callback key NUL", func() error { return s.CompleteCallback(ctx, "cb\x00", "a") }, "NUL"},
			{"empty callback key in tx", func() error { return s.CompleteCallbackTx(ctx, nil, "") }, "nil *sql.Tx"},
			{"empty scope", func() error { _, err := s.ExtendPause(ctx, "", time.Now()); return err }, "empty pause scope"},
			{"invalid UTF-8 scope", func() error { _, err := s.PausedUntil(ctx, "\xc3"); return err }, "UTF-8"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
			})
		}
		_, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.False(t, ok, "a refused call wrote a record")
	})
}

// TestResultIsBinarySafe: a recorded outcome comes back byte for byte,
// NUL and invalid UTF-8 included.
func TestResultIsBinarySafe(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		s, ctx := newStore(t, d.connect(t), d.dialect), t.Context()
		result := make([]byte, 512)
		for i := range result {
			result[i] = byte(i)
		}
		rec, err := s.Complete(ctx, "bin", "a", result)
		require.NoError(t, err)
		assert.Equal(t, result, rec.Result)
		got, ok, err := s.Get(ctx, "bin")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, result, got.Result)

		rec, err = s.Complete(ctx, "empty", "a", nil)
		require.NoError(t, err)
		assert.True(t, rec.Done)
		assert.Empty(t, rec.Result)
	})
}

// TestLongestKey: a key of MaxKeyBytes (multi-byte characters included)
// is stored and found on every dialect.
func TestLongestKey(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		s, ctx := newStore(t, d.connect(t), d.dialect), t.Context()
		key := strings.Repeat("鍵", sqlstore.MaxKeyBytes/3) + "k"
		require.Len(t, key, sqlstore.MaxKeyBytes)
		_, ok, err := s.Claim(ctx, key, "a", "fp", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		claim, err := s.ClaimCallback(ctx, key, "a", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, "claimed", claim.State.String())
		_, err = s.ExtendPause(ctx, key, time.Now().Add(time.Minute))
		require.NoError(t, err)
		rec, ok, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, key, rec.Key)
	})
}
