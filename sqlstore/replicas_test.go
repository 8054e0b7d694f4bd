package sqlstore_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// TestConcurrentClaimsFromReplicas races replicas with pools of their own.
func TestConcurrentClaimsFromReplicas(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		dsn := d.dsn(t)
		raceReplicas(t, d, func() *sql.DB { return d.open(t, dsn) })
	})
}

// TestSerializableDatabase: on a PostgreSQL whose default isolation is
// SERIALIZABLE, the racing statements of replicas fail with serialization
// errors (SQLSTATE 40001); the store runs them again (they changed
// nothing), so a race ends as under READ COMMITTED: one winner, no error.
// Migrate runs under READ COMMITTED whatever the default, so that a replica
// that waited for another's migration sees it.
func TestSerializableDatabase(t *testing.T) {
	t.Parallel()
	d := databases()[0]
	config, err := pgx.ParseConfig(d.dsn(t))
	require.NoError(t, err)
	config.RuntimeParams["default_transaction_isolation"] = "serializable"
	open := func() *sql.DB {
		db := stdlib.OpenDB(*config)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	t.Run("ConcurrentClaims", func(t *testing.T) {
		t.Parallel()
		raceReplicas(t, d, open)
	})
	t.Run("ConcurrentMigrate", func(t *testing.T) {
		t.Parallel()
		for range 3 {
			migrateConcurrently(t, d, open)
		}
	})
}

// raceReplicas races 16 replicas, each a store on a pool of one
// connection of its own, for one idempotency key and one callback at a
// time: exactly one wins each round, and every loser is told who holds it.
func raceReplicas(t *testing.T, d database, open func() *sql.DB) {
	const replicas, rounds = 16, 10
	prefix := uniquePrefix()
	newStore(t, open(), d.dialect, sqlstore.WithTablePrefix(prefix))
	stores := make([]*sqlstore.Store, replicas)
	for i := range stores {
		db := open()
		db.SetMaxOpenConns(1)
		stores[i] = sqlstore.New(db, d.dialect, sqlstore.WithTablePrefix(prefix))
	}
	for round := range rounds {
		key := fmt.Sprintf("round-%d", round)
		var (
			wg                    sync.WaitGroup
			start                 = make(chan struct{})
			mu                    sync.Mutex
			keyWinners, cbWinners []string
			holders               = map[string]int{}
		)
		for i, s := range stores {
			token := fmt.Sprintf("replica-%d", i)
			wg.Go(func() {
				<-start
				rec, ok, err := s.Claim(t.Context(), key, token, "fp", time.Minute)
				assert.NoError(t, err)
				got, cbErr := s.ClaimCallback(t.Context(), key, token, time.Minute)
				assert.NoError(t, cbErr)
				mu.Lock()
				defer mu.Unlock()
				holders[rec.Holder]++
				if ok {
					keyWinners = append(keyWinners, token)
				}
				switch got.State {
				case kryptogo.CallbackClaimed:
					cbWinners = append(cbWinners, token)
				case kryptogo.CallbackBusy:
					assert.Positive(t, got.RetryAfter)
				default:
					t.Errorf("ClaimCallback = %v", got.State)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, keyWinners, 1, "round %d: key claims won", round)
		require.Len(t, cbWinners, 1, "round %d: callback claims won", round)
		assert.Equal(t, map[string]int{keyWinners[0]: replicas}, holders, "round %d: every replica must see the winner as holder", round)
	}
}
