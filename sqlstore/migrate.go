package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one version of the schema: statements that take the
// schema from the previous version to this one. Versions are never edited
// once released; a change of schema is a new version.
type migration struct {
	version     int
	description string
	statements  []string // templates, see flavor.sql
}

var migrations = []migration{{
	version:     1,
	description: "idempotency keys, callbacks, pauses",
	statements: []string{
		`CREATE TABLE {keys} (
	key text NOT NULL PRIMARY KEY,
	fingerprint text NOT NULL,
	holder text NOT NULL,
	lease_until {time},
	in_doubt boolean NOT NULL,
	sent_at {time},
	done boolean NOT NULL,
	result {blob},
	expires_at {time} NOT NULL
)`,
		`CREATE INDEX {keys}_expires_at ON {keys} (expires_at)`,
		`CREATE TABLE {callbacks} (
	key text NOT NULL PRIMARY KEY,
	holder text NOT NULL,
	lease_until {time},
	done boolean NOT NULL,
	expires_at {time} NOT NULL
)`,
		`CREATE INDEX {callbacks}_expires_at ON {callbacks} (expires_at)`,
		`CREATE TABLE {pauses} (
	scope text NOT NULL PRIMARY KEY,
	paused_until {time} NOT NULL
)`,
		`CREATE INDEX {pauses}_paused_until ON {pauses} (paused_until)`,
	},
}}

const createMigrationsSQL = `CREATE TABLE IF NOT EXISTS {migrations} (
	version integer NOT NULL PRIMARY KEY,
	description text NOT NULL
)`

// migrationLock serialises Migrate calls on one database, as the first
// statement of the migration's transaction.
var migrationLock = map[Dialect]string{
	// A transaction-scoped advisory lock named after the store's tables.
	Postgres: `SELECT pg_advisory_xact_lock(hashtext('{migrations}'))`,
	// A write (that changes nothing) as the transaction's first statement
	// takes SQLite's write lock, waiting up to busy_timeout, before the
	// versions are read: a read first would fail with SQLITE_BUSY when
	// another Migrate wrote in between.
	SQLite: `UPDATE {migrations} SET version = version WHERE version < 0`,
}

// migrationTxOptions are the options of the migration's transaction. On
// PostgreSQL it reads the applied versions after taking the lock, so it
// runs under READ COMMITTED whatever the database's default: a snapshot
// taken before the lock (REPEATABLE READ, SERIALIZABLE) would miss the
// migration another replica committed meanwhile.
var migrationTxOptions = map[Dialect]*sql.TxOptions{
	Postgres: {Isolation: sql.LevelReadCommitted},
}

// Migrate creates the store's tables, or brings them to the schema this
// version of the package uses; it does nothing when they are up to date.
// Replicas may call it at once: one migrates, the others wait for it and
// find nothing to do. The applied versions are in the table
// <prefix>schema_migrations.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	x := func(template string) string { return s.f.sql(s.tables, template) }
	if s.dialect == SQLite {
		// SQLite creates a table under its write lock: no race to guard.
		if _, err := s.db.ExecContext(ctx, x(createMigrationsSQL)); err != nil {
			return wrap("migrate", err)
		}
	}
	tx, err := s.db.BeginTx(ctx, migrationTxOptions[s.dialect])
	if err != nil {
		return wrap("migrate", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	for _, stmt := range []string{migrationLock[s.dialect], createMigrationsSQL} {
		if _, err := tx.ExecContext(ctx, x(stmt)); err != nil {
			return wrap("migrate", err)
		}
	}
	applied, err := appliedVersions(ctx, tx, x(`SELECT version FROM {migrations}`))
	if err != nil {
		return wrap("migrate", err)
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.statements {
			if _, err := tx.ExecContext(ctx, x(stmt)); err != nil {
				return wrap(fmt.Sprintf("migrate to version %d", m.version), err)
			}
		}
		record := x(`INSERT INTO {migrations} (version, description) VALUES ($1, $2)`)
		if _, err := tx.ExecContext(ctx, record, s.args(m.version, m.description)...); err != nil {
			return wrap(fmt.Sprintf("migrate to version %d", m.version), err)
		}
	}
	return wrap("migrate", tx.Commit())
}

func appliedVersions(ctx context.Context, tx *sql.Tx, query string) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}
