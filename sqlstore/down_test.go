package sqlstore_test

import (
	"database/sql"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// TestDatabaseDownFailsClosed: with the database unreachable every method
// returns an error, and none reports a claim, a record, a processed
// callback or a pause it could not read: callers fail closed.
func TestDatabaseDownFailsClosed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		dialect sqlstore.Dialect
		db      func(t *testing.T) *sql.DB
	}{
		{"Postgres unreachable", sqlstore.Postgres, func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", "postgres://kryptogo@127.0.0.1:"+strconv.Itoa(closedPort(t))+"/kryptogo?sslmode=disable&connect_timeout=5")
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return db
		}},
		{"SQLite closed", sqlstore.SQLite, func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "store.db")))
			require.NoError(t, err)
			require.NoError(t, sqlstore.New(db, sqlstore.SQLite).Migrate(t.Context()))
			require.NoError(t, db.Close())
			return db
		}},
		{"SQLite file out of reach", sqlstore.SQLite, func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "missing", "store.db")))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return db
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sqlstore.New(tc.db(t), tc.dialect)
			for method, err := range everyMethod(t.Context(), s) {
				if assert.Error(t, err, method) {
					assert.Contains(t, err.Error(), "sqlstore: ", method)
				}
			}
		})
	}
}

// TestConnectionLostBeforeCommit: the database connection of a callback's
// transaction is lost before the commit (the server restarted, say):
// CallbackTx fails, and neither the effect nor the completion is recorded.
func TestConnectionLostBeforeCommit(t *testing.T) {
	t.Parallel()
	d := databases()[0]
	db := d.connect(t)
	s, fx, ctx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect), t.Context()
	require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "a", time.Minute))

	err := s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error {
		if err := fx.write(ctx, tx, "cb", "a"); err != nil {
			return err
		}
		var pid int
		if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
		return err
	})
	require.Error(t, err)
	assert.Zero(t, fx.count(t, "cb"))
	assert.Equal(t, kryptogo.CallbackBusy, claim(t, s, "cb", "b", time.Minute), "a lost transaction recorded the callback")
}
