package kryptogo_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/kyabc/kryptogo-go/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	// On a clock of each test's own: leases and retentions run out when
	// the test moves it on, so the conformance costs no waiting. -stress
	// also runs it on real time, as the Redis and SQL stores run it.
	t.Run("Idempotency", func(t *testing.T) {
		storetest.IdempotencyStoreOnClock(t, func(_ *testing.T, retention time.Duration, clock *storetest.Clock) kryptogo.IdempotencyStore {
			s := kryptogo.NewMemoryStore(kryptogo.WithKeyRetention(retention))
			kryptogo.SetMemoryStoreClock(s, clock.Now)
			return s
		})
	})
	t.Run("Callbacks", func(t *testing.T) {
		storetest.CallbackStoreOnClock(t, func(_ *testing.T, retention time.Duration, clock *storetest.Clock) kryptogo.CallbackStore {
			s := kryptogo.NewMemoryStore(kryptogo.WithCallbackRetention(retention))
			kryptogo.SetMemoryStoreClock(s, clock.Now)
			return s
		})
	})
	if !kryptogo.Stress() {
		return
	}
	t.Run("IdempotencyOnRealTime", func(t *testing.T) {
		storetest.IdempotencyStore(t, func(_ *testing.T, retention time.Duration) kryptogo.IdempotencyStore {
			return kryptogo.NewMemoryStore(kryptogo.WithKeyRetention(retention))
		})
	})
	t.Run("CallbacksOnRealTime", func(t *testing.T) {
		storetest.CallbackStore(t, func(_ *testing.T, retention time.Duration) kryptogo.CallbackStore {
			return kryptogo.NewMemoryStore(kryptogo.WithCallbackRetention(retention))
		})
	})
	t.Run("Pause", func(t *testing.T) {
		storetest.PauseStore(t, func(*testing.T) kryptogo.PauseStore { return kryptogo.NewMemoryStore() })
	})
}

// Forget while a call holds the key (an operator clearing a key they took
// for stuck, while its holder is still sending) must not let another
// caller claim it afresh and send again: ErrNotHolder, the key kept, and
// the other caller waits for the holder's outcome.
func TestForgetLeavesALiveLease(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
			store := kryptogo.NewMemoryStore()
			arrived := slowFirstPOST(srv, 200*time.Millisecond) // the holder's POST
			holder := srv.Client(kryptogo.WithIdempotencyStore(store))
			other := srv.Client(kryptogo.WithIdempotencyStore(store), kryptogo.WithPollInterval(time.Millisecond, 5*time.Millisecond))
			held := make(chan kryptogo.ID, 1)
			go func() {
				id, _, err := kind.create(testCtx(t), holder, "order-1", 0)
				assert.NoError(t, err)
				held <- id
			}()
			<-arrived
			require.ErrorIs(t, store.Forget(testCtx(t), "order-1"), kryptogo.ErrNotHolder)
			id, _, err := kind.create(testCtx(t), other, "order-1", 0)
			require.NoError(t, err)
			assert.Equal(t, <-held, id, "the holder's result")
			assert.Equal(t, 1, len(srv.Tasks())+len(srv.KYAResults())+len(srv.IDVTasks()), "one create")
		})
	}
}
