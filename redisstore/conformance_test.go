package redisstore

import (
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/storetest"
)

// TestConformance runs the SDK's conformance suites, the ones the memory
// store passes, against a real server and a real cluster.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			rdb := tg.dial(t)
			t.Run("Idempotency", func(t *testing.T) {
				storetest.IdempotencyStore(t, func(t *testing.T, retention time.Duration) kryptogo.IdempotencyStore {
					return newTestStore(t, rdb, WithKeyRetention(retention))
				})
			})
			t.Run("Callbacks", func(t *testing.T) {
				storetest.CallbackStore(t, func(t *testing.T, retention time.Duration) kryptogo.CallbackStore {
					return newTestStore(t, rdb, WithCallbackRetention(retention))
				})
			})
			t.Run("Pause", func(t *testing.T) {
				storetest.PauseStore(t, func(t *testing.T) kryptogo.PauseStore { return newTestStore(t, rdb) })
			})
		})
	}
}
