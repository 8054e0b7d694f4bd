package sqlstore_test

import (
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
	"github.com/kyabc/kryptogo-go/storetest"
)

// TestConformance runs the SDK's store conformance suite against each
// database; the stores of one database share its tables (as replicas do),
// each with the retention the suite asks for.
func TestConformance(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		prefix := uniquePrefix()
		newStore(t, db, d.dialect, sqlstore.WithTablePrefix(prefix)) // migrates, drops at the end
		store := func(opts ...sqlstore.Option) *sqlstore.Store {
			return sqlstore.New(db, d.dialect, append([]sqlstore.Option{sqlstore.WithTablePrefix(prefix)}, opts...)...)
		}
		t.Run("Idempotency", func(t *testing.T) {
			storetest.IdempotencyStore(t, func(_ *testing.T, retention time.Duration) kryptogo.IdempotencyStore {
				return store(sqlstore.WithKeyRetention(retention))
			})
		})
		t.Run("Callbacks", func(t *testing.T) {
			storetest.CallbackStore(t, func(_ *testing.T, retention time.Duration) kryptogo.CallbackStore {
				return store(sqlstore.WithCallbackRetention(retention))
			})
		})
		t.Run("Pause", func(t *testing.T) {
			storetest.PauseStore(t, func(*testing.T) kryptogo.PauseStore { return store() })
		})
	})
}
