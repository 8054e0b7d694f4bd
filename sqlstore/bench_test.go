package sqlstore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/kyabc/kryptogo-go/sqlstore"
)

// BenchmarkCallbackDelivery measures what a CallbackHandler with the store
// costs per callback: the claim and the completion, two statements.
func BenchmarkCallbackDelivery(b *testing.B) {
	benchmarkEachDatabase(b, func(b *testing.B, s *sqlstore.Store) {
		ctx := b.Context()
		for i := 0; b.Loop(); i++ {
			key := "bench:" + strconv.Itoa(i)
			if _, err := s.ClaimCallback(ctx, key, "a", time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := s.CompleteCallback(ctx, key, "a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateOnceSteps measures the store's part of a create with an
// idempotency key: claim, mark in doubt, complete.
func BenchmarkCreateOnceSteps(b *testing.B) {
	benchmarkEachDatabase(b, func(b *testing.B, s *sqlstore.Store) {
		ctx, result := b.Context(), []byte(`{"task_id":42}`)
		for i := 0; b.Loop(); i++ {
			key := "bench:" + strconv.Itoa(i)
			if _, _, err := s.Claim(ctx, key, "a", "fp", time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := s.MarkInDoubt(ctx, key, "a", time.Now()); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Complete(ctx, key, "a", result); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchmarkEachDatabase(b *testing.B, bench func(b *testing.B, s *sqlstore.Store)) {
	for _, d := range databases() {
		b.Run(d.name, func(b *testing.B) {
			bench(b, newStore(b, d.connect(b), d.dialect))
		})
	}
}
