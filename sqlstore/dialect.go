package sqlstore

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Dialect names the SQL database a Store talks to. The store imports no
// driver: open the *sql.DB with the driver you use and name its dialect.
// The store passes and reads only strings, int64s, bools and []byte (times
// cross as Unix microseconds), which every driver handles alike; it is
// tested with github.com/jackc/pgx/v5/stdlib and modernc.org/sqlite.
type Dialect int

// The dialects a Store speaks.
const (
	// Postgres is PostgreSQL (12 or newer; tested on 15). Times come from the database's
	// clock, so every replica agrees on when a lease ends.
	Postgres Dialect = iota + 1
	// SQLite is SQLite (3.35 or newer, for RETURNING), for the processes
	// of one machine sharing one database file. Times come from the
	// process clock.
	SQLite
)

// String returns "postgres", "sqlite", or Dialect(N).
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// flavor writes the parts of the store's SQL that differ between
// databases. Every time crosses the driver as int64 Unix microseconds, so
// the store works with any driver: no driver decides how a time.Time or a
// time.Duration is encoded.
type flavor struct {
	// now is the time of the statement: PostgreSQL's clock, or on SQLite
	// the process clock passed as parameter ?1.
	now string
	// timeType and blobType are the column types of times and bytes.
	timeType, blobType string
	// shift renumbers the template's $N parameters (SQLite's ?1 is now).
	shift int
	// param writes parameter n.
	param func(n int) string
	// micros turns a parameter of Unix microseconds into a time,
	// fromMicros turns a time back into Unix microseconds, and duration
	// turns a parameter of microseconds into what adds to a time.
	micros, fromMicros, duration func(expr string) string
	// greatest is the function returning the largest of its arguments.
	greatest string
}

var flavors = map[Dialect]*flavor{
	Postgres: {
		now:      "statement_timestamp()",
		timeType: "timestamptz",
		blobType: "bytea",
		param:    func(n int) string { return "$" + strconv.Itoa(n) },
		micros: func(p string) string {
			return "(timestamptz 'epoch' + " + p + "::bigint * interval '1 microsecond')"
		},
		fromMicros: func(e string) string { return "(extract(epoch from " + e + ") * 1000000)::bigint" },
		duration:   func(p string) string { return "(" + p + "::bigint * interval '1 microsecond')" },
		greatest:   "greatest",
	},
	SQLite: {
		now:        "?1",
		timeType:   "INTEGER",
		blobType:   "BLOB",
		shift:      1,
		param:      func(n int) string { return "?" + strconv.Itoa(n) },
		micros:     func(p string) string { return p },
		fromMicros: func(e string) string { return e },
		duration:   func(p string) string { return p },
		greatest:   "max",
	},
}

// tables holds the names of the store's tables, prefix included.
type tables struct {
	keys, callbacks, pauses, migrations string
}

func newTables(prefix string) tables {
	return tables{
		keys:       prefix + "idempotency_keys",
		callbacks:  prefix + "callbacks",
		pauses:     prefix + "pauses",
		migrations: prefix + "schema_migrations",
	}
}

var (
	templateToken = regexp.MustCompile(`\{(\w+)(?: ([^{}]+))?\}`)
	templateParam = regexp.MustCompile(`\$(\d+)`)
)

// sql expands a query template for the flavor and tables:
//
//	{keys} {callbacks} {pauses} {migrations}  table names
//	{now}          the time of the statement
//	{at $N}        parameter N, Unix microseconds, as a time
//	{later $N}     the time of the statement plus N microseconds
//	{micros expr}  a time as Unix microseconds
//	{max a, b}     the larger of a and b
//	{time} {blob}  column types
//	$N             parameter N
//
// Tokens nest ({micros {now}}): the innermost are expanded first.
func (f *flavor) sql(t tables, template string) string {
	expanded := template
	for {
		next := f.expandTokens(t, expanded)
		if next == expanded {
			break
		}
		expanded = next
	}
	return templateParam.ReplaceAllStringFunc(expanded, func(p string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(p, "$"))
		return f.param(n + f.shift)
	})
}

// expandTokens expands the tokens of s that hold no other token.
func (f *flavor) expandTokens(t tables, s string) string {
	return templateToken.ReplaceAllStringFunc(s, func(token string) string {
		m := templateToken.FindStringSubmatch(token)
		name, arg := m[1], m[2]
		switch name {
		case "keys":
			return t.keys
		case "callbacks":
			return t.callbacks
		case "pauses":
			return t.pauses
		case "migrations":
			return t.migrations
		case "now":
			return f.now
		case "at":
			return f.micros(arg)
		case "later":
			return "(" + f.now + " + " + f.duration(arg) + ")"
		case "micros":
			return f.fromMicros(arg)
		case "max":
			return f.greatest + "(" + arg + ")"
		case "time":
			return f.timeType
		case "blob":
			return f.blobType
		}
		panic(fmt.Sprintf("sqlstore: unknown template token %q", token))
	})
}
