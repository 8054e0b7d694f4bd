package kryptogo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pauseAPI answers its first request 429 with Retry-After: 1, and every
// other 200.
type pauseAPI struct {
	url      string
	requests atomic.Int32
}

func newPauseAPI(t *testing.T) *pauseAPI {
	api := &pauseAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.requests.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	api.url = srv.URL
	return api
}

// client returns a client of the API, without retries, on a clock frozen
// at now.
func (api *pauseAPI) client(t *testing.T, now time.Time, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(testKey, append([]Option{WithBaseURL(api.url), WithMaxRetries(0)}, opts...)...)
	require.NoError(t, err)
	c.now = func() time.Time { return now }
	return c
}

// failingPauseStore answers every call with an error, and counts them.
type failingPauseStore struct{ calls atomic.Int32 }

func (s *failingPauseStore) ExtendPause(context.Context, string, time.Time) (time.Time, error) {
	s.calls.Add(1)
	return time.Time{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func (s *failingPauseStore) PausedUntil(context.Context, string) (time.Time, error) {
	s.calls.Add(1)
	return time.Time{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// A 429 one client gets pauses another client on the same PauseStore (as
// another process would be): it sends nothing until the pause ends, and
// its Observer sees the wait.
func TestPauseStoreSharesThePause(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	store := NewMemoryStore()
	var starts []PauseStartInfo
	var dones []PauseDoneInfo
	a := api.client(t, now, WithPauseStore(store))
	b := api.client(t, now, WithPauseStore(store), WithObserver(&Observer{
		PauseStart: func(_ context.Context, info PauseStartInfo) { starts = append(starts, info) },
		PauseDone:  func(_ context.Context, info PauseDoneInfo) { dones = append(dones, info) },
	}))
	waits := holdWaits(b, now)

	require.ErrorIs(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
	until, err := store.PausedUntil(t.Context(), keyedScope(pauseScopeClient, testKey))
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Second), until, "the 429's pause is in the store")

	done := make(chan error, 1)
	go func() { done <- b.Do(t.Context(), http.MethodGet, "/thing", nil, nil) }()
	require.Eventually(t, func() bool { return len(waits.list()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int32(1), api.requests.Load(), "b sends nothing during a's pause")
	waits.release()
	require.NoError(t, <-done)
	assert.Equal(t, []time.Duration{time.Second}, waits.list())
	assert.Equal(t, int32(2), api.requests.Load())
	require.Len(t, starts, 1)
	assert.Equal(t, time.Second, starts[0].Wait)
	require.Len(t, dones, 1)
	assert.False(t, dones[0].GaveUp)
}

// Without a PauseStore each client keeps its pause to itself, as before.
func TestPauseWithoutStoreStaysInTheClient(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	a, b := api.client(t, now), api.client(t, now)
	waits := recordWaits(b, now)
	require.ErrorIs(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
	require.NoError(t, b.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	assert.Empty(t, waits.list())
	assert.Equal(t, int32(2), api.requests.Load())
}

// A PauseStore that fails leaves each client with the pauses it saw itself
// (fail open): the client that got the 429 still waits it out, another
// sends, and the store's loss is logged once at warn.
func TestPauseStoreFailsOpen(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	store := &failingPauseStore{}
	logger, logs := debugJSONLogger()
	a := api.client(t, now, WithPauseStore(store), WithLogger(logger))
	b := api.client(t, now, WithPauseStore(store))
	aWaits, bWaits := recordWaits(a, now), recordWaits(b, now)

	require.ErrorIs(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
	require.NoError(t, b.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	assert.Empty(t, bWaits.list(), "b knows of no pause: it sends")
	require.NoError(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	assert.Equal(t, []time.Duration{time.Second}, aWaits.list(), "a waits out its own 429's pause")
	assert.Equal(t, int32(3), api.requests.Load())
	assert.Positive(t, store.calls.Load())
	assert.Equal(t, 1, strings.Count(logs.String(), "kryptogo pause store failed"), logs.String())
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.NotContains(t, logs.String(), testKey)
}

// The store's loss is logged once, and its return once.
func TestPauseStoreReportsLossAndReturn(t *testing.T) {
	t.Parallel()
	logger, logs := debugJSONLogger()
	cfg := &callConfig{logger: logger}
	p := &sharedPause{scope: pauseScopeClient}
	boom := errors.New("down")
	for _, err := range []error{nil, boom, boom, nil, nil, boom} {
		p.report(t.Context(), cfg, "PausedUntil", err)
	}
	assert.Equal(t, 2, strings.Count(logs.String(), "kryptogo pause store failed"))
	assert.Equal(t, 1, strings.Count(logs.String(), "kryptogo pause store answers again"))
}

// A client's calls and its handlers' confirmations share their pauses
// under scopes of their own.
func TestPauseStoreScopes(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	c, err := NewClient(testKey, WithPauseStore(store))
	require.NoError(t, err)
	require.NotNil(t, c.flow.shared)
	assert.Equal(t, keyedScope(pauseScopeClient, testKey), c.flow.shared.scope)
	assert.Regexp(t, `^client:[0-9a-f]{16}$`, c.flow.shared.scope, "a digest of the key, never the key")
	require.NotNil(t, c.confirms.flow.shared)
	assert.Equal(t, keyedScope(pauseScopeConfirm, testKey), c.confirms.flow.shared.scope)

	plain, err := NewClient(testKey)
	require.NoError(t, err)
	assert.Nil(t, plain.flow.shared)
	assert.Nil(t, plain.confirms.flow.shared)
}

func TestWithPauseStoreRefusals(t *testing.T) {
	t.Parallel()
	_, err := NewClient(testKey, WithPauseStore(nil))
	require.EqualError(t, err, "kryptogo: WithPauseStore: nil store")
	c, err := NewClient(testKey)
	require.NoError(t, err)
	err = c.Do(t.Context(), http.MethodGet, "/thing", nil, nil, WithPauseStore(NewMemoryStore()))
	require.ErrorContains(t, err, "WithPauseStore is a client option")
}

// Many calls of many clients on one store, under the race detector.
func TestPauseStoreConcurrentClients(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	store := NewMemoryStore()
	var wg sync.WaitGroup
	for range 4 {
		c, err := NewClient(testKey, WithBaseURL(api.url), WithPauseStore(store), WithRetryBackoff(time.Millisecond, 2*time.Millisecond))
		require.NoError(t, err)
		recordWaits(c, time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				assert.NoError(t, c.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(41), api.requests.Load(), "one 429, retried")
}

// The store holds the end of a pause by the clock of the process that got
// the 429. A process whose clock runs ahead (or a bogus record) must not
// pause the others for longer than a pause the SDK would start itself
// (maxRetryAfter): a skew of an hour paused every replica for an hour.
func TestPauseStoreCapsASkewedEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		skew time.Duration // of the writer's clock, ahead of the reader's
		want time.Duration // the reader's wait
	}{
		{"same clocks", 0, time.Second},
		{"writer a second ahead", time.Second, 2 * time.Second},
		{"writer an hour ahead", time.Hour, maxRetryAfter},
		{"writer a year ahead", 365 * 24 * time.Hour, maxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newPauseAPI(t)
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			store := NewMemoryStore()
			a := api.client(t, now.Add(tt.skew), WithPauseStore(store))
			b := api.client(t, now, WithPauseStore(store))
			waits := &sleepLog{}
			var mu sync.Mutex
			clock := now // b's clock, advanced by each of its waits
			b.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			b.sleep = func(_ context.Context, d time.Duration) error {
				waits.add(d)
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(d)
				return nil
			}
			require.ErrorIs(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
			require.NoError(t, b.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
			require.NoError(t, b.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
			assert.Equal(t, []time.Duration{tt.want}, waits.list(), "one wait, however far ahead the end")
		})
	}
}

// Clients of different API keys on one PauseStore keep their pauses apart:
// the API limits each key, so one key's 429 must not hold another key's
// calls (a store shared by two services of one company, say).
func TestPauseStoreKeepsKeysApart(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	store := NewMemoryStore()
	a := api.client(t, now, WithPauseStore(store))
	other, err := NewClient("sk-test-another-service-key", WithBaseURL(api.url), WithMaxRetries(0), WithPauseStore(store))
	require.NoError(t, err)
	same := api.client(t, now, WithPauseStore(store))
	otherWaits, sameWaits := recordWaits(other, now), recordWaits(same, now)
	require.ErrorIs(t, a.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
	require.NoError(t, other.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	require.NoError(t, same.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	assert.Empty(t, otherWaits.list(), "another key's client is not paused")
	assert.Equal(t, []time.Duration{time.Second}, sameWaits.list(), "the same key's client is")
}

// hangingPauseStore answers nothing until the caller's context ends: a
// store behind a dropped network path. It counts the calls.
type hangingPauseStore struct{ reads, extends atomic.Int32 }

func (s *hangingPauseStore) ExtendPause(ctx context.Context, _ string, _ time.Time) (time.Time, error) {
	s.extends.Add(1)
	<-ctx.Done()
	return time.Time{}, ctx.Err()
}

func (s *hangingPauseStore) PausedUntil(ctx context.Context, _ string) (time.Time, error) {
	s.reads.Add(1)
	<-ctx.Done()
	return time.Time{}, ctx.Err()
}

// A store that hangs costs one round trip's timeout, not one per attempt:
// after a failure the client goes on without it for a while (fail open)
// instead of making every call wait pauseStoreTimeout first.
func TestPauseStoreThatHangsIsSkipped(t *testing.T) {
	t.Parallel()
	api := newPauseAPI(t)
	api.requests.Store(1) // no 429: every request 200
	store := &hangingPauseStore{}
	c := api.client(t, time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), WithPauseStore(store))
	// The calls after the first must end within the retry period, which a
	// loaded machine under -race once did not (1 s): the period is long here.
	c.flow.shared.retry = time.Minute
	for range 5 {
		require.NoError(t, c.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	}
	assert.Equal(t, int32(1), store.reads.Load(), "the store is read once, then skipped while it is down")
	assert.Equal(t, int32(6), api.requests.Load())
}

// A flood of callbacks, which anyone who reaches a handler can send, may
// make its confirmations meet a 429: the pause that starts is the
// confirmations' alone, even through a shared store, and never holds the
// app's calls in this process or another.
func TestPauseStoreConfirmationsDoNotPauseTheApp(t *testing.T) {
	t.Parallel()
	var appRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "task") { // the confirmations
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		appRequests.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	store := NewMemoryStore()
	newClient := func() *Client {
		c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0), WithPauseStore(store))
		require.NoError(t, err)
		c.now = func() time.Time { return now }
		return c
	}
	handlerSide, appSide := newClient(), newClient() // two replicas
	h := &CallbackHandler{Confirm: handlerSide, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error { return nil }}
	for range 3 {
		assert.Equal(t, http.StatusServiceUnavailable, serve(h, inboxRequest(t)))
	}
	confirmEnd, err := store.PausedUntil(t.Context(), keyedScope(pauseScopeConfirm, testKey))
	require.NoError(t, err)
	assert.Equal(t, now.Add(30*time.Second), confirmEnd, "the confirmations are paused")
	for _, c := range []*Client{handlerSide, appSide} {
		waits := recordWaits(c, now)
		require.NoError(t, c.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
		assert.Empty(t, waits.list(), "the app's calls are not")
	}
	assert.Equal(t, int32(2), appRequests.Load())
}
