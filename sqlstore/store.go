package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// DefaultTablePrefix starts the name of every table of a Store unless
// WithTablePrefix says otherwise.
const DefaultTablePrefix = "kryptogo_"

// DefaultPruneInterval is how often a Store deletes a batch of expired rows
// on its own (see WithPruneInterval).
const DefaultPruneInterval = time.Minute

// MaxKeyBytes is the longest key, token or pause scope a Store accepts: a
// PostgreSQL index cannot hold much longer text. The SDK's keys are far
// shorter (an idempotency key at most 255 characters).
const MaxKeyBytes = 1024

// maxPrefixLen keeps the longest name the store derives from a prefix
// (an index name) within PostgreSQL's 63 bytes.
const maxPrefixLen = 32

var validPrefix = regexp.MustCompile(`^([a-z_][a-z0-9_]*)?$`)

// ErrCallbackDone is returned by CompleteCallbackTx (and CallbackTx) when
// another delivery of the callback was recorded as processed first: the
// transaction must be rolled back, so that its effect does not happen
// twice.
var ErrCallbackDone = errors.New("sqlstore: the callback was already processed")

// Store keeps idempotency keys, processed callbacks and the 429 pause in a
// SQL database shared by every replica: a kryptogo.IdempotencyStore, a
// kryptogo.CallbackStore and a kryptogo.PauseStore. Each method is one SQL
// statement, atomic in the database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect Dialect
	f       *flavor
	q       queries
	tables  tables
	err     error // a configuration error every method returns

	keyRetention      time.Duration
	callbackRetention time.Duration
	pruneInterval     time.Duration
	nextPrune         atomic.Int64 // Unix nanoseconds
	now               func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithTablePrefix sets the prefix of the store's table names
// (DefaultTablePrefix by default): lower-case letters, digits and
// underscores, at most 32 bytes, or "" for none. Stores with different
// prefixes in one database are independent: give each API key its own.
func WithTablePrefix(prefix string) Option {
	return func(s *Store) {
		if len(prefix) > maxPrefixLen || !validPrefix.MatchString(prefix) {
			s.err = fmt.Errorf("sqlstore: table prefix %q is not lower-case letters, digits and underscores of at most %d bytes", prefix, maxPrefixLen)
			return
		}
		s.tables = newTables(prefix)
	}
}

// WithKeyRetention sets how long the store keeps an idempotency key after
// its last change; kryptogo.DefaultKeyRetention when d is not positive.
func WithKeyRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.keyRetention = d
		}
	}
}

// WithCallbackRetention sets how long the store remembers a processed
// callback; kryptogo.DefaultCallbackRetention when d is not positive.
func WithCallbackRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.callbackRetention = d
		}
	}
}

// WithPruneInterval sets how often the store deletes expired rows on its
// own (DefaultPruneInterval by default): at most once per interval, a
// write of the store that succeeded also deletes up to 1,000 expired rows
// of each table, and again at the next write while more are left. A
// negative interval turns this off: call Prune from a job of your own.
// Expired rows are treated as absent whether or not they were deleted.
func WithPruneInterval(d time.Duration) Option {
	return func(s *Store) {
		if d != 0 {
			s.pruneInterval = d
		}
	}
}

// New returns a Store on db, a database of the given dialect. Call Migrate
// once (at start-up, from any number of replicas) before using it. A bad
// dialect or option is reported by every method of the store.
func New(db *sql.DB, dialect Dialect, opts ...Option) *Store {
	s := &Store{
		db:                db,
		dialect:           dialect,
		tables:            newTables(DefaultTablePrefix),
		keyRetention:      kryptogo.DefaultKeyRetention,
		callbackRetention: kryptogo.DefaultCallbackRetention,
		pruneInterval:     DefaultPruneInterval,
		now:               time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	s.f = flavors[dialect]
	switch {
	case s.err != nil:
	case db == nil:
		s.err = errors.New("sqlstore: New with a nil *sql.DB")
	case s.f == nil:
		s.err = fmt.Errorf("sqlstore: unknown dialect %v; use sqlstore.Postgres or sqlstore.SQLite", dialect)
	default:
		s.q = buildQueries(s.f, s.tables)
	}
	return s
}

// querier is what runs a statement: the store's *sql.DB, or the caller's
// *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// args returns the arguments of a statement: on SQLite the process clock
// comes first (?1), as Unix microseconds.
func (s *Store) args(args ...any) []any {
	if s.f.shift == 0 {
		return args
	}
	return append([]any{s.now().UnixMicro()}, args...)
}

// micros returns d in whole microseconds, the store's precision.
func micros(d time.Duration) int64 { return d.Microseconds() }

// fromMicros turns nullable Unix microseconds into a time; zero for NULL.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64)
}

// wrap adds the failed operation to a database error, with a hint when
// the schema is missing.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist") {
		return fmt.Errorf("sqlstore: %s: %w (did you run Store.Migrate?)", op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// checkText refuses an empty or too long string, and one the database
// could not store.
func checkText(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("sqlstore: empty %s", what)
	case len(v) > MaxKeyBytes:
		return fmt.Errorf("sqlstore: %s of %d bytes is longer than %d", what, len(v), MaxKeyBytes)
	}
	return checkStorable(what, v)
}

// checkStorable refuses a string PostgreSQL cannot store as text (invalid
// UTF-8, NUL), so that every dialect accepts the same values.
func checkStorable(what, v string) error {
	switch {
	case !utf8.ValidString(v):
		return fmt.Errorf("sqlstore: %s is not valid UTF-8", what)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("sqlstore: %s contains a NUL byte", what)
	}
	return nil
}

// checkLease refuses a lease shorter than the store's precision.
func checkLease(lease time.Duration) error {
	if lease < time.Microsecond {
		return fmt.Errorf("sqlstore: lease %v is not positive", lease)
	}
	return nil
}

// check returns the store's configuration error, or the errors of the
// checks of a call's arguments.
func (s *Store) check(errs ...error) error {
	if s.err != nil {
		return s.err
	}
	return errors.Join(errs...)
}

// The store is each of the SDK's stores.
var (
	_ kryptogo.IdempotencyStore = (*Store)(nil)
	_ kryptogo.CallbackStore    = (*Store)(nil)
	_ kryptogo.PauseStore       = (*Store)(nil)
)
