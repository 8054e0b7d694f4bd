// Package storetest holds the conformance tests that every implementation
// of the SDK's store interfaces (kryptogo.IdempotencyStore,
// kryptogo.CallbackStore, kryptogo.PauseStore) must pass: the in-memory
// store, the redisstore and sqlstore modules, and any store of your own.
//
//	func TestMyStore(t *testing.T) {
//		storetest.IdempotencyStore(t, func(t *testing.T, retention time.Duration) kryptogo.IdempotencyStore {
//			return newMyStore(t, retention)
//		})
//	}
//
// The tests use real time with short leases (a few seconds at most) and
// run their subtests in parallel; each asks newStore for a store of its
// own, and uses keys no other test uses. A store that takes its time from a
// function (the in-memory store does, in its tests) can run them on a Clock
// instead (IdempotencyStoreOnClock, CallbackStoreOnClock): leases and
// retentions then run out without the tests waiting for them.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// Durations the tests use. A long lease outlives any test step on a busy
// machine; a short one runs out within the test.
const (
	longLease  = time.Minute
	shortLease = 1500 * time.Millisecond
	retention  = 2 * time.Second
	// patience bounds every wait for a lease or a record to run out.
	patience = 20 * time.Second
	// tolerance absorbs a store's time precision (milliseconds in Redis)
	// and the clocks of a store server and the test on one machine.
	tolerance = 50 * time.Millisecond
	// contenders is how many goroutines race for one key.
	contenders = 16
)

// NewIdempotencyStore returns an empty store that keeps records for the
// given retention.
type NewIdempotencyStore func(t *testing.T, retention time.Duration) kryptogo.IdempotencyStore

// NewCallbackStore returns an empty store that remembers processed
// callbacks for the given retention.
type NewCallbackStore func(t *testing.T, retention time.Duration) kryptogo.CallbackStore

// NewPauseStore returns an empty store.
type NewPauseStore func(t *testing.T) kryptogo.PauseStore

// uniqueKey returns a key no other test uses.
func uniqueKey(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "storetest:" + t.Name() + ":" + hex.EncodeToString(b)
}

// clock is the time a test runs on: real time, or a Clock.
type clock interface {
	now() time.Time
	sleep(d time.Duration)
}

// realClock is real time.
type realClock struct{}

func (realClock) now() time.Time        { return time.Now() }
func (realClock) sleep(d time.Duration) { time.Sleep(d) }

// Clock is a time of a test's own: it stands still until the test sleeps,
// and a sleep moves it on at once. Each test of IdempotencyStoreOnClock
// and CallbackStoreOnClock gets a Clock of its own.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock returns a Clock that starts at the current time.
func newClock() *Clock { return &Clock{t: time.Now()} }

// Now returns the clock's time: give it to the store as its clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) now() time.Time { return c.Now() }

func (c *Clock) sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eventually calls try until it reports true, or fails the test after
// patience on c.
func eventually(t *testing.T, c clock, what string, try func() bool) {
	t.Helper()
	deadline := c.now().Add(patience)
	for !try() {
		if c.now().After(deadline) {
			t.Fatalf("%s: still not so after %v", what, patience)
		}
		c.sleep(50 * time.Millisecond)
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// onRealTime and onClock turn a store's constructor into one that also
// returns the time the tests run on.
func onRealTime[S any](newStore func(*testing.T, time.Duration) S) func(*testing.T, time.Duration) (S, clock) {
	return func(t *testing.T, retention time.Duration) (S, clock) { return newStore(t, retention), realClock{} }
}

func onClock[S any](newStore func(*testing.T, time.Duration, *Clock) S) func(*testing.T, time.Duration) (S, clock) {
	return func(t *testing.T, retention time.Duration) (S, clock) {
		c := newClock()
		return newStore(t, retention, c), c
	}
}

// IdempotencyStore runs the conformance tests of an IdempotencyStore.
func IdempotencyStore(t *testing.T, newStore NewIdempotencyStore) {
	idempotencyStore(t, onRealTime(newStore))
}

// IdempotencyStoreOnClock runs the conformance tests of an IdempotencyStore
// on a Clock of each test's own instead of real time. newStore must make
// the store take every time it uses from clock.Now.
func IdempotencyStoreOnClock(t *testing.T, newStore func(t *testing.T, retention time.Duration, clock *Clock) kryptogo.IdempotencyStore) {
	idempotencyStore(t, onClock(newStore))
}

func idempotencyStore(t *testing.T, newStore func(t *testing.T, retention time.Duration) (kryptogo.IdempotencyStore, clock)) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s kryptogo.IdempotencyStore, c clock)
	}{
		{"ClaimAbsent", claimAbsent},
		{"ClaimHeldByAnother", claimHeldByAnother},
		{"RenewBySameToken", renewBySameToken},
		{"TakeOverAfterLease", takeOverAfterLease},
		{"MarkInDoubtNeedsTheLease", markInDoubtNeedsTheLease},
		{"SentAtKeepsTheEarliest", sentAtKeepsTheEarliest},
		{"CompleteFirstOutcomeWins", completeFirstOutcomeWins},
		{"CompleteWithoutTheLease", completeWithoutTheLease},
		{"ReleaseFree", releaseFree},
		{"ReleaseInDoubt", releaseInDoubt},
		{"ReleaseByAnotherChangesNothing", releaseByAnotherChangesNothing},
		{"Forget", forget},
		{"ConcurrentClaims", concurrentClaims},
		{"ConcurrentCompletes", concurrentCompletes},
		{"EmptyTokenRefused", emptyTokenRefused},
		{"CompleteAbsentKey", completeAbsentKey},
		{"LapsedHolderStillHolds", lapsedHolderStillHolds},
		{"ForgetLapsedLease", forgetLapsedLease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newStore(t, time.Hour)
			tc.test(t, s, c)
		})
	}
	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		s, c := newStore(t, retention)
		retentionExpires(t, s, c)
	})
	t.Run("HeldKeyOutlivesRetention", func(t *testing.T) {
		t.Parallel()
		s, c := newStore(t, retention)
		heldKeyOutlivesRetention(t, s, c)
	})
}

func emptyTokenRefused(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	if _, ok, err := s.Claim(ctx, key, "", "fp", longLease); err == nil || ok {
		t.Fatalf("Claim with an empty token = %v, %v; want an error", ok, err)
	}
	if _, ok, err := s.Get(ctx, key); err != nil || ok {
		t.Fatalf("a refused Claim left a record: %v, %v", ok, err)
	}
}

func completeAbsentKey(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	rec, err := s.Complete(ctx, key, "a", []byte(`{"kya_id":9}`))
	check(t, err)
	want := kryptogo.KeyRecord{Key: key, Done: true, Result: []byte(`{"kya_id":9}`)}
	assertRecord(t, rec, want)
	got, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok {
		t.Fatal("Complete of an absent key recorded nothing")
	}
	assertRecord(t, got, want)
}

// lapsedHolderStillHolds: a token whose lease ran out still holds the key
// until another token takes it over.
func lapsedHolderStillHolds(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp", shortLease)
	check(t, err)
	eventually(t, c, "the lease runs out", func() bool {
		rec, _, err := s.Get(ctx, key)
		check(t, err)
		return c.now().After(rec.LeaseUntil.Add(tolerance))
	})
	sentAt := c.now().Truncate(time.Millisecond)
	check(t, s.MarkInDoubt(ctx, key, "a", sentAt))
	check(t, s.Release(ctx, key, "a", true))
	rec, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok {
		t.Fatal("Release(inDoubt=true) by the lapsed holder deleted the key")
	}
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp", InDoubt: true, SentAt: sentAt})
}

// forgetLapsedLease: a key whose lease ran out is forgotten (its holder
// crashed; the operator checked by hand).
func forgetLapsedLease(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp", shortLease)
	check(t, err)
	check(t, s.MarkInDoubt(ctx, key, "a", c.now()))
	eventually(t, c, "the lease runs out", func() bool {
		rec, _, err := s.Get(ctx, key)
		check(t, err)
		return c.now().After(rec.LeaseUntil.Add(tolerance))
	})
	check(t, s.Forget(ctx, key))
	if _, ok, err := s.Get(ctx, key); err != nil || ok {
		t.Fatalf("lapsed key after Forget: Get = %v, %v; want absent", ok, err)
	}
}

// heldKeyOutlivesRetention: a record is kept while a live lease holds
// it, however short the retention.
func heldKeyOutlivesRetention(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp", longLease)
	check(t, err)
	check(t, s.MarkInDoubt(ctx, key, "a", c.now()))
	c.sleep(retention + time.Second)
	rec, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok || rec.Holder != "a" {
		t.Fatalf("a key held by a live lease expired with the retention: %v, %+v", ok, rec)
	}
	if _, ok, _ := s.Claim(ctx, key, "b", "fp", longLease); ok {
		t.Fatal("another token claimed a key held by a live lease after the retention")
	}
}

func claimAbsent(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	if _, ok, err := s.Get(ctx, key); err != nil || ok {
		t.Fatalf("Get of an absent key = %v, %v; want false, nil", ok, err)
	}
	before := c.now()
	rec, ok, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	if !ok {
		t.Fatal("Claim of an absent key was refused")
	}
	want := kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Holder: "a"}
	assertRecord(t, rec, want)
	if rec.LeaseUntil.Before(before.Add(longLease-tolerance)) || rec.LeaseUntil.After(c.now().Add(longLease+tolerance)) {
		t.Fatalf("LeaseUntil = %v, want about %v after the claim", rec.LeaseUntil, longLease)
	}
	got, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok {
		t.Fatal("Get after Claim found nothing")
	}
	assertRecord(t, got, want)
}

func claimHeldByAnother(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, ok, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	if !ok {
		t.Fatal("first Claim refused")
	}
	rec, ok, err := s.Claim(ctx, key, "b", "fp-2", longLease)
	check(t, err)
	if ok {
		t.Fatal("Claim of a key leased to another token succeeded")
	}
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Holder: "a"})
}

func renewBySameToken(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	first, _, err := s.Claim(ctx, key, "a", "fp-1", shortLease)
	check(t, err)
	rec, ok, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	if !ok {
		t.Fatal("Claim by the holder's own token was refused")
	}
	if !rec.LeaseUntil.After(first.LeaseUntil) {
		t.Fatalf("renewed LeaseUntil %v is not after the first %v", rec.LeaseUntil, first.LeaseUntil)
	}
	c.sleep(shortLease + 200*time.Millisecond)
	if _, ok, err := s.Claim(ctx, key, "b", "fp-1", longLease); err != nil || ok {
		t.Fatalf("Claim by another token after the first lease's end = %v, %v; the renewed lease holds", ok, err)
	}
}

func takeOverAfterLease(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", shortLease)
	check(t, err)
	sentAt := c.now().Truncate(time.Millisecond)
	check(t, s.MarkInDoubt(ctx, key, "a", sentAt))
	if _, ok, _ := s.Claim(ctx, key, "b", "fp-2", longLease); ok {
		t.Fatal("Claim by another token succeeded within the lease")
	}
	var rec kryptogo.KeyRecord
	eventually(t, c, "another token takes over after the lease", func() bool {
		var ok bool
		rec, ok, err = s.Claim(ctx, key, "b", "fp-2", longLease)
		check(t, err)
		return ok
	})
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Holder: "b", InDoubt: true, SentAt: sentAt})
}

func markInDoubtNeedsTheLease(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	if err := s.MarkInDoubt(ctx, key, "a", c.now()); !errors.Is(err, kryptogo.ErrNotHolder) {
		t.Fatalf("MarkInDoubt of an absent key = %v, want ErrNotHolder", err)
	}
	_, _, err := s.Claim(ctx, key, "a", "fp-1", shortLease)
	check(t, err)
	if err := s.MarkInDoubt(ctx, key, "b", c.now()); !errors.Is(err, kryptogo.ErrNotHolder) {
		t.Fatalf("MarkInDoubt by a token that does not hold the key = %v, want ErrNotHolder", err)
	}
	eventually(t, c, "another token takes over", func() bool {
		_, ok, err := s.Claim(ctx, key, "b", "fp-1", longLease)
		check(t, err)
		return ok
	})
	if err := s.MarkInDoubt(ctx, key, "a", c.now()); !errors.Is(err, kryptogo.ErrNotHolder) {
		t.Fatalf("MarkInDoubt by the holder whose key was taken over = %v, want ErrNotHolder", err)
	}
	rec, _, err := s.Get(ctx, key)
	check(t, err)
	if rec.InDoubt {
		t.Fatal("a refused MarkInDoubt put the key in doubt")
	}
}

func sentAtKeepsTheEarliest(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	early := c.now().Add(-time.Minute).Truncate(time.Millisecond)
	check(t, s.MarkInDoubt(ctx, key, "a", early))
	check(t, s.MarkInDoubt(ctx, key, "a", early.Add(30*time.Second)))
	rec, _, err := s.Get(ctx, key)
	check(t, err)
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Holder: "a", InDoubt: true, SentAt: early})
}

func completeFirstOutcomeWins(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	sentAt := c.now().Truncate(time.Millisecond)
	check(t, s.MarkInDoubt(ctx, key, "a", sentAt))
	result := []byte(`{"task_id":42,"name":"Zoë ✓"}`)
	rec, err := s.Complete(ctx, key, "a", result)
	check(t, err)
	want := kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Done: true, Result: result, SentAt: sentAt}
	assertRecord(t, rec, want)
	again, err := s.Complete(ctx, key, "b", []byte(`{"task_id":43}`))
	check(t, err)
	assertRecord(t, again, want)
	claimed, ok, err := s.Claim(ctx, key, "c", "fp-1", longLease)
	check(t, err)
	if ok {
		t.Fatal("Claim of a done key succeeded")
	}
	assertRecord(t, claimed, want)
}

func completeWithoutTheLease(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	rec, err := s.Complete(ctx, key, "z", []byte(`1`))
	check(t, err)
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Done: true, Result: []byte(`1`)})
}

func releaseFree(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	check(t, s.MarkInDoubt(ctx, key, "a", c.now()))
	check(t, s.Release(ctx, key, "a", false))
	if _, ok, err := s.Get(ctx, key); err != nil || ok {
		t.Fatalf("Get after Release(inDoubt=false) = %v, %v; want the key absent", ok, err)
	}
	rec, ok, err := s.Claim(ctx, key, "b", "fp-2", longLease)
	check(t, err)
	if !ok {
		t.Fatal("Claim after Release refused")
	}
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-2", Holder: "b"})
}

func releaseInDoubt(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	sentAt := c.now().Truncate(time.Millisecond)
	check(t, s.MarkInDoubt(ctx, key, "a", sentAt))
	check(t, s.Release(ctx, key, "a", true))
	want := kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", InDoubt: true, SentAt: sentAt}
	rec, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok {
		t.Fatal("Release(inDoubt=true) deleted the key")
	}
	assertRecord(t, rec, want)
	rec, ok, err = s.Claim(ctx, key, "b", "fp-1", longLease)
	check(t, err)
	if !ok {
		t.Fatal("Claim of a released key in doubt refused")
	}
	want.Holder = "b"
	assertRecord(t, rec, want)
}

func releaseByAnotherChangesNothing(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
	check(t, err)
	check(t, s.Release(ctx, key, "b", false))
	check(t, s.Release(ctx, key, "b", true))
	rec, ok, err := s.Get(ctx, key)
	check(t, err)
	if !ok {
		t.Fatal("Release by another token deleted the key")
	}
	assertRecord(t, rec, kryptogo.KeyRecord{Key: key, Fingerprint: "fp-1", Holder: "a"})
}

func forget(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx := t.Context()
	// A live lease is not forgotten: its holder may be sending, and a
	// caller claiming the key afresh would send again.
	held := uniqueKey(t) + "held"
	_, _, err := s.Claim(ctx, held, "a", "fp-1", longLease)
	check(t, err)
	if err := s.Forget(ctx, held); !errors.Is(err, kryptogo.ErrNotHolder) {
		t.Fatalf("Forget of a key under a live lease = %v; want ErrNotHolder", err)
	}
	if rec, ok, err := s.Get(ctx, held); err != nil || !ok || rec.Holder != "a" {
		t.Fatalf("Forget of a key under a live lease changed it: Get = %+v, %v, %v", rec, ok, err)
	}
	for _, state := range []string{"inDoubt", "done"} {
		key := uniqueKey(t) + state
		_, _, err := s.Claim(ctx, key, "a", "fp-1", longLease)
		check(t, err)
		switch state {
		case "inDoubt":
			check(t, s.MarkInDoubt(ctx, key, "a", c.now()))
			check(t, s.Release(ctx, key, "a", true))
		case "done":
			_, err = s.Complete(ctx, key, "a", []byte(`7`))
			check(t, err)
		}
		check(t, s.Forget(ctx, key))
		if _, ok, err := s.Get(ctx, key); err != nil || ok {
			t.Fatalf("%s key after Forget: Get = %v, %v; want absent", state, ok, err)
		}
	}
	check(t, s.Forget(ctx, uniqueKey(t)+"never"))
}

func concurrentClaims(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	for round := range 5 {
		key := uniqueKey(t)
		winners := race(t, func(ctx context.Context, i int) bool {
			_, ok, err := s.Claim(ctx, key, "token-"+string(rune('a'+i)), "fp", longLease)
			if err != nil {
				t.Error(err)
			}
			return ok
		})
		if winners != 1 {
			t.Fatalf("round %d: %d of %d concurrent Claims of one key succeeded, want exactly 1", round, winners, contenders)
		}
	}
}

func concurrentCompletes(t *testing.T, s kryptogo.IdempotencyStore, _ clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp", longLease)
	check(t, err)
	var mu sync.Mutex
	results := map[string]int{}
	race(t, func(ctx context.Context, i int) bool {
		rec, err := s.Complete(ctx, key, "a", []byte{'0' + byte(i%10), 'x', byte('a' + i)})
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		results[string(rec.Result)]++
		mu.Unlock()
		return true
	})
	if len(results) != 1 {
		t.Fatalf("concurrent Completes returned %d different outcomes (%v); the first must win for all", len(results), results)
	}
	rec, _, err := s.Get(ctx, key)
	check(t, err)
	if _, ok := results[string(rec.Result)]; !ok || !rec.Done {
		t.Fatalf("stored outcome %q (done %v) is not the one every Complete returned", rec.Result, rec.Done)
	}
}

func retentionExpires(t *testing.T, s kryptogo.IdempotencyStore, c clock) {
	ctx, key := t.Context(), uniqueKey(t)
	_, _, err := s.Claim(ctx, key, "a", "fp", longLease)
	check(t, err)
	_, err = s.Complete(ctx, key, "a", []byte(`1`))
	check(t, err)
	if _, ok, err := s.Get(ctx, key); err != nil || !ok {
		t.Fatalf("done key missing right after Complete: %v, %v", ok, err)
	}
	eventually(t, c, "the done key expires after the retention", func() bool {
		_, ok, err := s.Get(ctx, key)
		check(t, err)
		return !ok
	})
	_, ok, err := s.Claim(ctx, key, "b", "fp", longLease)
	check(t, err)
	if !ok {
		t.Fatal("Claim of an expired key refused")
	}
}

// race runs fn in contenders goroutines released at once, and counts those
// that report true.
func race(t *testing.T, fn func(ctx context.Context, i int) bool) int {
	t.Helper()
	var (
		start sync.WaitGroup
		done  sync.WaitGroup
		mu    sync.Mutex
		wins  int
	)
	start.Add(1)
	for i := range contenders {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			if fn(t.Context(), i) {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	start.Done()
	done.Wait()
	return wins
}

// assertRecord compares a record with want, ignoring LeaseUntil (checked
// where it matters) and comparing SentAt within the stores' precision.
func assertRecord(t *testing.T, got, want kryptogo.KeyRecord) {
	t.Helper()
	if got.Key != want.Key || got.Fingerprint != want.Fingerprint || got.Holder != want.Holder ||
		got.InDoubt != want.InDoubt || got.Done != want.Done || !bytes.Equal(got.Result, want.Result) {
		t.Fatalf("record = %+v\nwant     %+v (LeaseUntil aside)", got, want)
	}
	if d := got.SentAt.Sub(want.SentAt); d < -tolerance || d > tolerance || got.SentAt.IsZero() != want.SentAt.IsZero() {
		t.Fatalf("record SentAt = %v, want %v", got.SentAt, want.SentAt)
	}
	if want.Holder != "" && got.LeaseUntil.IsZero() {
		t.Fatal("a held record has no LeaseUntil")
	}
}

// CallbackStore runs the conformance tests of a CallbackStore.
func CallbackStore(t *testing.T, newStore NewCallbackStore) {
	callbackStore(t, onRealTime(newStore))
}

// CallbackStoreOnClock runs the conformance tests of a CallbackStore on a
// Clock of each test's own instead of real time. newStore must make the
// store take every time it uses from clock.Now.
func CallbackStoreOnClock(t *testing.T, newStore func(t *testing.T, retention time.Duration, clock *Clock) kryptogo.CallbackStore) {
	callbackStore(t, onClock(newStore))
}

func callbackStore(t *testing.T, newStore func(t *testing.T, retention time.Duration) (kryptogo.CallbackStore, clock)) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s kryptogo.CallbackStore, c clock)
	}{
		{"ClaimCompleteDuplicate", callbackClaimCompleteDuplicate},
		{"Busy", callbackBusy},
		{"Release", callbackRelease},
		{"ReleaseByAnother", callbackReleaseByAnother},
		{"LeaseRunsOut", callbackLeaseRunsOut},
		{"CompleteWithoutTheLease", callbackCompleteWithoutTheLease},
		{"ConcurrentClaims", callbackConcurrentClaims},
		{"RenewBySameToken", callbackRenewBySameToken},
		{"EmptyTokenRefused", callbackEmptyTokenRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newStore(t, time.Hour)
			tc.test(t, s, c)
		})
	}
	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		s, c := newStore(t, retention)
		ctx, key := t.Context(), uniqueKey(t)
		claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
		check(t, s.CompleteCallback(ctx, key, "a"))
		claimCallback(t, s, key, "b", longLease, kryptogo.CallbackDone)
		eventually(t, c, "a processed callback is forgotten after the retention", func() bool {
			got, err := s.ClaimCallback(ctx, key, "b", longLease)
			check(t, err)
			return got.State == kryptogo.CallbackClaimed
		})
	})
}

func claimCallback(t *testing.T, s kryptogo.CallbackStore, key, token string, lease time.Duration, want kryptogo.CallbackClaimState) kryptogo.CallbackClaim {
	t.Helper()
	got, err := s.ClaimCallback(t.Context(), key, token, lease)
	check(t, err)
	if got.State != want {
		t.Fatalf("ClaimCallback(%s) = %v, want %v", token, got.State, want)
	}
	return got
}

func callbackClaimCompleteDuplicate(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	check(t, s.CompleteCallback(t.Context(), key, "a"))
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackDone)
	claimCallback(t, s, key, "b", longLease, kryptogo.CallbackDone)
}

func callbackBusy(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	got := claimCallback(t, s, key, "b", longLease, kryptogo.CallbackBusy)
	if got.RetryAfter <= 0 || got.RetryAfter > longLease+tolerance {
		t.Fatalf("Busy RetryAfter = %v, want within (0, %v]", got.RetryAfter, longLease)
	}
}

func callbackRelease(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	check(t, s.ReleaseCallback(t.Context(), key, "a"))
	claimCallback(t, s, key, "b", longLease, kryptogo.CallbackClaimed)
}

func callbackReleaseByAnother(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	check(t, s.ReleaseCallback(t.Context(), key, "b"))
	claimCallback(t, s, key, "c", longLease, kryptogo.CallbackBusy)
	check(t, s.CompleteCallback(t.Context(), key, "a"))
	check(t, s.ReleaseCallback(t.Context(), key, "a"))
	claimCallback(t, s, key, "c", longLease, kryptogo.CallbackDone)
}

func callbackLeaseRunsOut(t *testing.T, s kryptogo.CallbackStore, c clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", shortLease, kryptogo.CallbackClaimed)
	eventually(t, c, "another delivery claims the callback after the lease", func() bool {
		got, err := s.ClaimCallback(t.Context(), key, "b", longLease)
		check(t, err)
		return got.State == kryptogo.CallbackClaimed
	})
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackBusy)
}

func callbackCompleteWithoutTheLease(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	check(t, s.CompleteCallback(t.Context(), key, "z"))
	claimCallback(t, s, key, "b", longLease, kryptogo.CallbackDone)
}

func callbackConcurrentClaims(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	for round := range 5 {
		key := uniqueKey(t)
		winners := race(t, func(ctx context.Context, i int) bool {
			got, err := s.ClaimCallback(ctx, key, "token-"+string(rune('a'+i)), longLease)
			if err != nil {
				t.Error(err)
			}
			if got.State != kryptogo.CallbackClaimed && got.State != kryptogo.CallbackBusy {
				t.Errorf("concurrent ClaimCallback = %v, want claimed or busy", got.State)
			}
			return got.State == kryptogo.CallbackClaimed
		})
		if winners != 1 {
			t.Fatalf("round %d: %d of %d concurrent ClaimCallbacks succeeded, want exactly 1", round, winners, contenders)
		}
	}
}

func callbackRenewBySameToken(t *testing.T, s kryptogo.CallbackStore, c clock) {
	key := uniqueKey(t)
	claimCallback(t, s, key, "a", shortLease, kryptogo.CallbackClaimed)
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
	c.sleep(shortLease + 200*time.Millisecond)
	claimCallback(t, s, key, "b", longLease, kryptogo.CallbackBusy)
}

func callbackEmptyTokenRefused(t *testing.T, s kryptogo.CallbackStore, _ clock) {
	key := uniqueKey(t)
	if got, err := s.ClaimCallback(t.Context(), key, "", longLease); err == nil {
		t.Fatalf("ClaimCallback with an empty token = %v; want an error", got.State)
	}
	claimCallback(t, s, key, "a", longLease, kryptogo.CallbackClaimed)
}

// PauseStore runs the conformance tests of a PauseStore.
func PauseStore(t *testing.T, newStore NewPauseStore) {
	t.Run("ExtendKeepsTheLatest", func(t *testing.T) {
		t.Parallel()
		s, ctx, scope := newStore(t), t.Context(), uniqueKey(t)
		if until, err := s.PausedUntil(ctx, scope); err != nil || until.After(time.Now()) {
			t.Fatalf("PausedUntil of a new scope = %v, %v; want no pause", until, err)
		}
		later := time.Now().Add(30 * time.Second).Truncate(time.Millisecond)
		got, err := s.ExtendPause(ctx, scope, later)
		check(t, err)
		assertTime(t, "ExtendPause", got, later)
		got, err = s.ExtendPause(ctx, scope, later.Add(-10*time.Second))
		check(t, err)
		assertTime(t, "ExtendPause with an earlier end", got, later)
		got, err = s.PausedUntil(ctx, scope)
		check(t, err)
		assertTime(t, "PausedUntil", got, later)
		other, err := s.PausedUntil(ctx, scope+":other")
		check(t, err)
		if other.After(time.Now()) {
			t.Fatalf("another scope is paused until %v", other)
		}
	})
	t.Run("NeverEndsEarly", func(t *testing.T) {
		t.Parallel()
		s, ctx, scope := newStore(t), t.Context(), uniqueKey(t)
		// An end between two ticks of the store's clock (a millisecond,
		// a microsecond) is kept at the later tick: a pause that ended
		// before the Retry-After would let a request through early.
		until := time.Now().Add(30 * time.Second).Truncate(time.Millisecond).Add(time.Nanosecond)
		got, err := s.ExtendPause(ctx, scope, until)
		check(t, err)
		if got.Before(until) {
			t.Fatalf("ExtendPause(%v) = %v: the pause ends early", until, got)
		}
		got, err = s.PausedUntil(ctx, scope)
		check(t, err)
		if got.Before(until) {
			t.Fatalf("PausedUntil after ExtendPause(%v) = %v: the pause ends early", until, got)
		}
		assertTime(t, "PausedUntil", got, until)
	})
	t.Run("ConcurrentExtends", func(t *testing.T) {
		t.Parallel()
		s, scope := newStore(t), uniqueKey(t)
		base := time.Now().Add(time.Minute).Truncate(time.Millisecond)
		race(t, func(ctx context.Context, i int) bool {
			_, err := s.ExtendPause(ctx, scope, base.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Error(err)
			}
			return true
		})
		got, err := s.PausedUntil(t.Context(), scope)
		check(t, err)
		assertTime(t, "PausedUntil after concurrent extends", got, base.Add(time.Duration(contenders-1)*time.Second))
	})
}

func assertTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -tolerance || d > tolerance {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
