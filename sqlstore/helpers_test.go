package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/kyabc/kryptogo-go/sqlstore"
)

// The PostgreSQL tests run against a real server whose DSN is in
// KRYPTOGO_POSTGRES_DSN, as scripts/services.sh sets it. Without it they
// skip, unless KRYPTOGO_REQUIRE_SERVERS=1 (as in CI), which makes a missing
// server a failure. The SQLite tests always run.
const (
	postgresEnv = "KRYPTOGO_POSTGRES_DSN"
	requireEnv  = "KRYPTOGO_REQUIRE_SERVERS"
)

// patience bounds every wait for a lease to run out or a goroutine to finish.
const patience = 30 * time.Second

// sqliteDSN is the DSN the package doc recommends for a database file:
// WAL, so that readers do not block the writer, and a busy timeout, so that
// writers wait for each other instead of failing with SQLITE_BUSY.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// database is a kind of database the tests run against.
type database struct {
	name    string
	dialect sqlstore.Dialect
	driver  string
	// dsn returns the DSN of a database for the test: PostgreSQL's server
	// (the test is skipped without one), or a new SQLite file.
	dsn func(t testing.TB) string
}

// databases returns the databases to test: SQLite always, PostgreSQL when
// KRYPTOGO_POSTGRES_DSN is set.
func databases() []database {
	return []database{
		{name: "Postgres", dialect: sqlstore.Postgres, driver: "pgx", dsn: postgresDSN},
		{name: "SQLite", dialect: sqlstore.SQLite, driver: "sqlite", dsn: func(t testing.TB) string {
			return sqliteDSN(filepath.Join(t.TempDir(), "store.db"))
		}},
	}
}

// forEachDatabase runs test once per database, as parallel subtests.
func forEachDatabase(t *testing.T, test func(t *testing.T, d database)) {
	for _, d := range databases() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			test(t, d)
		})
	}
}

func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		msg := postgresEnv + " is not set: the PostgreSQL tests need a real server; run them as\n" +
			"\tscripts/services.sh run postgres -- sh -c 'cd sqlstore && go test ./...'"
		if os.Getenv(requireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// open returns a new pool on the database at dsn, closed when the test ends.
func (d database) open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.PingContext(t.Context()), "%s database", d.name)
	return db
}

// connect returns a pool on a database for the test.
func (d database) connect(t testing.TB) *sql.DB {
	t.Helper()
	return d.open(t, d.dsn(t))
}

// uniquePrefix returns a table prefix no other test uses, so that runs
// against one PostgreSQL server do not meet.
func uniquePrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "kgt_" + hex.EncodeToString(b) + "_"
}

// newStore returns a migrated store with tables of its own on db, dropped
// when the test ends.
func newStore(t testing.TB, db *sql.DB, dialect sqlstore.Dialect, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s := sqlstore.New(db, dialect, append([]sqlstore.Option{sqlstore.WithTablePrefix(uniquePrefix())}, opts...)...)
	require.NoError(t, s.Migrate(t.Context()))
	t.Cleanup(func() { dropTables(t, db, s) })
	return s
}

func dropTables(t testing.TB, db *sql.DB, s *sqlstore.Store) {
	for _, table := range sqlstore.Tables(s) {
		if _, err := db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	}
}
