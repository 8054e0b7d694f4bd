package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// TestConcurrentClaimsFromReplicas races 16 replicas, each a store on a
// pool of one connection of its own, for one idempotency key and one
// callback at a time: exactly one wins each round, and every loser is
// told who holds it.
func TestConcurrentClaimsFromReplicas(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		const replicas, rounds = 16, 10
		dsn := d.dsn(t)
		prefix := uniquePrefix()
		newStore(t, d.open(t, dsn), d.dialect, sqlstore.WithTablePrefix(prefix))
		stores := make([]*sqlstore.Store, replicas)
		for i := range stores {
			db := d.open(t, dsn)
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
	})
}
