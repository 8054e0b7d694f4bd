package sqlstore

import "time"

// SetNow replaces the store's process clock (SQLite's time; PostgreSQL
// uses its own clock).
func SetNow(s *Store, now func() time.Time) { s.now = now }

// Tables returns the names of the store's tables.
func Tables(s *Store) []string {
	return []string{s.tables.keys, s.tables.callbacks, s.tables.pauses, s.tables.migrations}
}
