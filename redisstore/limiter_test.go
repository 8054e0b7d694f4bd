package redisstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tat reads a limiter's stored theoretical arrival time ("" when none).
func tat(t *testing.T, rdb redis.UniversalClient, l *limiter) string {
	t.Helper()
	v, err := rdb.Get(t.Context(), l.key).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	require.NoError(t, err)
	return v
}

// assertWaitGivesTheSlotBack makes a Wait reserve the next slot (which
// must be far away), ends its context once the reservation is stored, and
// checks that Wait returns the context's error and gives the slot back.
func assertWaitGivesTheSlotBack(t *testing.T, rdb redis.UniversalClient, l *limiter) {
	t.Helper()
	before := tat(t, rdb, l)
	require.NotEmpty(t, before, "the limiter has no slot taken")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- l.Wait(ctx) }()
	eventually(t, "Wait reserves the next slot", func() bool { return tat(t, rdb, l) != before })
	cancel()
	select {
	case err := <-waited:
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, context.Canceled, err, "Wait returns the context's own error")
	case <-time.After(patience):
		t.Fatalf("Wait did not return within %v of its context's end", patience)
	}
	// The slot comes back at once, or, when the context ended before Wait
	// read the script's answer, right after.
	eventually(t, "the abandoned slot is given back", func() bool { return tat(t, rdb, l) == before })
}

// patience bounds every wait for something that should happen at once.
const patience = 20 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLimiterWaitEndsWithContext checks every way a Wait's context can
// end first.
func TestLimiterWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		l := newTestStore(t, rdb).Limiter("api", 1, time.Hour).(*limiter)
		require.NoError(t, l.Wait(t.Context()), "the first Wait goes at once")
		taken := tat(t, rdb, l)

		t.Run("cancelled while waiting", func(t *testing.T) {
			assertWaitGivesTheSlotBack(t, rdb, l)
		})
		t.Run("already cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			require.Equal(t, context.Canceled, l.Wait(ctx))
			assert.Equal(t, taken, tat(t, rdb, l), "a Wait with an ended context reserved a slot")
		})
		t.Run("deadline before the slot", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := l.Wait(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorContains(t, err, `redisstore: rate limiter "api": the next slot is`)
			assert.ErrorContains(t, err, "past the context's deadline")
			assert.Nil(t, ctx.Err(), "Wait waited for a slot it knew would come too late")
			assert.Equal(t, taken, tat(t, rdb, l), "a Wait that could not make its deadline reserved a slot")
		})
		t.Run("deadline passed", func(t *testing.T) {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			require.ErrorIs(t, l.Wait(ctx), context.DeadlineExceeded)
			assert.Equal(t, taken, tat(t, rdb, l))
		})
	})
}

// TestLimiterSlotsAreAtomic reserves slots from many goroutines on several
// clients at once: no two may share a slot or come closer than the
// interval, whatever the interleaving.
func TestLimiterSlotsAreAtomic(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		const clients, goroutines, each = 4, 8, 25
		prefix := testPrefix(t, rdb)
		var (
			mu    sync.Mutex
			slots []int64
			wg    sync.WaitGroup
		)
		interval := time.Duration(0)
		for c := range clients {
			rdb := rdb
			if c > 0 {
				rdb = dialLike(t, rdb) // a client of its own, as another process has
			}
			l := New(rdb, WithPrefix(prefix)).Limiter("api", 1000, time.Second).(*limiter)
			interval = l.interval // the same for every client; the goroutines read their own copy
			step := l.interval
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						r, err := l.reserveInRedis(t.Context(), -1)
						if !assert.NoError(t, err) || !assert.True(t, r.ok) {
							return
						}
						mu.Lock()
						slots = append(slots, r.tat-step.Microseconds())
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		require.Len(t, slots, clients*goroutines*each)
		slices.Sort(slots)
		for i := 1; i < len(slots); i++ {
			if gap := slots[i] - slots[i-1]; gap < interval.Microseconds() {
				t.Fatalf("slots %d and %d are %d µs apart, less than the interval %v", i-1, i, gap, interval)
			}
		}
	})
}

// dialLike returns a new client of the same deployment as rdb.
func dialLike(t *testing.T, rdb redis.UniversalClient) redis.UniversalClient {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return newClusterClient(t)
	}
	return newServerClient(t)
}

// TestLimiterSharedLimit runs goroutines in several Stores (each with its
// own Redis client, as several processes have) through one limiter name,
// and checks the aggregate rate.
//
// The limit holds exactly on the server's slots (TestLimiterSlotsAreAtomic);
// what the test sees is when Wait returns, which a loaded machine can
// delay and bunch up: so it asserts the bound no delay can break (n grants
// take at least n-1 intervals from the start) strictly, and the count of
// grants in any window of length per with a tolerance (at most twice the
// limit: a limiter not shared by the 4 stores would allow 4 times).
func TestLimiterSharedLimit(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		const (
			limit      = 20
			per        = time.Second
			stores     = 4
			goroutines = 5
			grants     = 3 * limit // 3 s
		)
		prefix := testPrefix(t, rdb)
		var (
			mu      sync.Mutex
			times   []time.Duration
			tickets atomic.Int32 // each goroutine takes one before each Wait: exactly grants Waits
			wg      sync.WaitGroup
		)
		start := time.Now()
		for s := range stores {
			rdb := rdb
			if s > 0 {
				rdb = dialLike(t, rdb)
			}
			l := New(rdb, WithPrefix(prefix)).Limiter("api", limit, per)
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for tickets.Add(1) <= grants {
						if !assert.NoError(t, l.Wait(t.Context())) {
							return
						}
						mu.Lock()
						times = append(times, time.Since(start))
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		slices.Sort(times)
		n := len(times)
		require.Equal(t, grants, n)
		interval := per / limit
		elapsed := times[n-1]
		assert.GreaterOrEqual(t, elapsed, time.Duration(n-1)*interval,
			"%d grants in %v: faster than %d per %v", n, elapsed, limit, per)
		most := mostInWindow(times, per)
		assert.LessOrEqual(t, most, 2*limit, "grants in one window of %v", per)
		t.Logf("%d stores x %d goroutines, limit %d per %v: %d grants in %v (%.2f/s); most in any %v window: %d",
			stores, goroutines, limit, per, n, elapsed.Round(time.Millisecond), float64(n-1)/elapsed.Seconds(), per, most)
	})
}

// mostInWindow returns the largest number of sorted times within any
// half-open window of length w.
func mostInWindow(times []time.Duration, w time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for times[i]-times[j] >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestMostInWindow(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		times []time.Duration
		want  int
	}{
		{"one", ms(0), 1},
		{"just inside", ms(0, 999), 2},
		{"window is half-open", ms(0, 1000), 1},
		{"best window starts later", ms(0, 500, 999, 1000, 1001, 1499), 5},
		{"best window first", ms(0, 1, 2, 1002, 1003), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mostInWindow(tc.times, time.Second))
		})
	}
}

// TestLimiterInterval checks the interval is per/limit rounded up to the
// microsecond, never faster than asked.
func TestLimiterInterval(t *testing.T) {
	s := New(closedClient(t))
	for _, tc := range []struct {
		limit int
		per   time.Duration
		want  time.Duration
	}{
		{20, time.Second, 50 * time.Millisecond},
		{3, time.Second, 333334 * time.Microsecond},
		{1, time.Hour, time.Hour},
		{1_000_000_000, time.Second, time.Microsecond},
		{7, 7 * time.Nanosecond, time.Microsecond},
	} {
		l := s.Limiter("api", tc.limit, tc.per).(*limiter)
		assert.Equal(t, tc.want, l.interval, "%d per %v", tc.limit, tc.per)
	}
}
