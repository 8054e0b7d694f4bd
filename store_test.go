package kryptogo_test

import (
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	t.Run("Idempotency", func(t *testing.T) {
		storetest.IdempotencyStore(t, func(_ *testing.T, retention time.Duration) kryptogo.IdempotencyStore {
			return kryptogo.NewMemoryStore(kryptogo.WithKeyRetention(retention))
		})
	})
	t.Run("Callbacks", func(t *testing.T) {
		storetest.CallbackStore(t, func(_ *testing.T, retention time.Duration) kryptogo.CallbackStore {
			return kryptogo.NewMemoryStore(kryptogo.WithCallbackRetention(retention))
		})
	})
	t.Run("Pause", func(t *testing.T) {
		storetest.PauseStore(t, func(*testing.T) kryptogo.PauseStore { return kryptogo.NewMemoryStore() })
	})
}
