package kryptogo

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inboxRequest is the task callback fixture, unsigned (AllowUnverified).
func inboxRequest(t *testing.T) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodPost, "https://example.com/cb", bytes.NewReader(fixture(t, "callback_task.json")))
}

// inboxKey is the fixture's CallbackEvent.Key.
func inboxKey(t *testing.T) string {
	t.Helper()
	e, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	return e.Key()
}

// failingCallbackStore answers every call with err.
type failingCallbackStore struct{ err error }

func (s failingCallbackStore) ClaimCallback(context.Context, string, string, time.Duration) (CallbackClaim, error) {
	return CallbackClaim{}, s.err
}
func (s failingCallbackStore) CompleteCallback(context.Context, string, string) error { return s.err }
func (s failingCallbackStore) ReleaseCallback(context.Context, string, string) error  { return s.err }

// busyStore answers every claim busy for left.
type busyStore struct{ left time.Duration }

func (s busyStore) ClaimCallback(context.Context, string, string, time.Duration) (CallbackClaim, error) {
	return CallbackClaim{State: CallbackBusy, RetryAfter: s.left}, nil
}
func (busyStore) CompleteCallback(context.Context, string, string) error { return nil }
func (busyStore) ReleaseCallback(context.Context, string, string) error  { return nil }

func TestCallbackHandlerStore(t *testing.T) {
	t.Parallel()
	type step struct {
		status     int
		retryAfter string
		outcome    CallbackOutcome
	}
	tests := []struct {
		name  string
		store func(t *testing.T) CallbackStore
		fail  []bool // the function's result at each call: true fails
		steps []step // one delivery each
		calls int
	}{
		{
			name:  "a duplicate is acknowledged without a call",
			store: func(*testing.T) CallbackStore { return NewMemoryStore() },
			steps: []step{{http.StatusNoContent, "", CallbackDelivered}, {http.StatusNoContent, "", CallbackDuplicate}, {http.StatusNoContent, "", CallbackDuplicate}},
			calls: 1,
		},
		{
			name: "a callback another delivery holds is refused with a Retry-After",
			store: func(t *testing.T) CallbackStore {
				s := NewMemoryStore()
				_, err := s.ClaimCallback(context.Background(), inboxKey(t), "another-replica", 45*time.Second)
				require.NoError(t, err)
				return s
			},
			steps: []step{{http.StatusServiceUnavailable, "45", CallbackUnavailable}},
			calls: 0,
		},
		{
			name:  "a failed function releases the key: the retry runs it again",
			store: func(*testing.T) CallbackStore { return NewMemoryStore() },
			fail:  []bool{true, false},
			steps: []step{{http.StatusInternalServerError, "", CallbackFailed}, {http.StatusNoContent, "", CallbackDelivered}, {http.StatusNoContent, "", CallbackDuplicate}},
			calls: 2,
		},
		{
			name:  "a Retry-After is at most a minute, whatever lease the store reports",
			store: func(*testing.T) CallbackStore { return busyStore{10 * time.Hour} },
			steps: []step{{http.StatusServiceUnavailable, "60", CallbackUnavailable}},
			calls: 0,
		},
		{
			name:  "a store that fails refuses the callback without a call (fail closed)",
			store: func(*testing.T) CallbackStore { return failingCallbackStore{errors.New("connection refused")} },
			steps: []step{{http.StatusServiceUnavailable, "1", CallbackUnavailable}},
			calls: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls int
			var outcomes []CallbackOutcome
			h := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), Store: tt.store(t),
				Observer: &Observer{CallbackDone: func(_ context.Context, info CallbackDoneInfo) { outcomes = append(outcomes, info.Outcome) }},
				OnTask: func(context.Context, *TaskSummary) error {
					calls++
					if calls <= len(tt.fail) && tt.fail[calls-1] {
						return errors.New("the database is busy")
					}
					return nil
				}}
			for i, want := range tt.steps {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, inboxRequest(t))
				assert.Equal(t, want.status, rec.Code, "delivery %d", i+1)
				assert.Equal(t, want.retryAfter, rec.Header().Get("Retry-After"), "delivery %d", i+1)
				assert.Equal(t, want.outcome, outcomes[i], "delivery %d", i+1)
			}
			assert.Equal(t, tt.calls, calls)
		})
	}
}

// A completion the store does not record is a 500: the sender retries,
// and the key's lease lets the retry run the function again.
func TestCallbackHandlerStoreCompleteFails(t *testing.T) {
	t.Parallel()
	store := &completeFails{MemoryStore: NewMemoryStore()}
	h := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), Store: store,
		OnTask: func(context.Context, *TaskSummary) error { return nil }}
	assert.Equal(t, http.StatusInternalServerError, serve(h, inboxRequest(t)))
}

type completeFails struct{ *MemoryStore }

func (completeFails) CompleteCallback(context.Context, string, string) error {
	return errors.New("connection reset")
}

// Concurrent deliveries of one callback to handlers sharing a store run
// the function once, never twice at the same time.
func TestCallbackHandlerStoreConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	var running, calls atomic.Int32
	var overlapped atomic.Bool
	release := make(chan struct{})
	onTask := func(context.Context, *TaskSummary) error {
		if running.Add(1) > 1 {
			overlapped.Store(true)
		}
		calls.Add(1)
		<-release
		running.Add(-1)
		return nil
	}
	handlers := []*CallbackHandler{
		{AllowUnverified: true, Logger: discardLogger(), Store: store, OnTask: onTask},
		{AllowUnverified: true, Logger: discardLogger(), Store: store, OnTask: onTask},
	}
	statuses := make(chan int, 16)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- serve(handlers[i%2], inboxRequest(t))
		}()
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // give a second run the chance to start, were it possible
	close(release)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	assert.Equal(t, int32(1), calls.Load())
	assert.False(t, overlapped.Load())
	assert.Equal(t, 16, counts[http.StatusNoContent]+counts[http.StatusServiceUnavailable])
	assert.Equal(t, http.StatusNoContent, serve(handlers[0], inboxRequest(t)), "done: a duplicate")
	assert.Equal(t, int32(1), calls.Load())
}

// With no function for the callback's kind, nothing is claimed: the
// callback is acknowledged as without a store.
func TestCallbackHandlerStoreNoFunction(t *testing.T) {
	t.Parallel()
	h := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), Store: failingCallbackStore{errors.New("down")}}
	assert.Equal(t, http.StatusNoContent, serve(h, inboxRequest(t)))
}

// A function that runs past the lease keeps its claim: the renewal holds
// the key, so a second delivery meanwhile is refused, not run.
func TestCallbackHandlerStoreRenewsTheClaim(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	var calls atomic.Int32
	// A renewal every 100 ms keeps a 300 ms lease, with 200 ms of slack
	// for a busy machine's late ticks.
	h := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), Store: store, lease: 300 * time.Millisecond,
		OnTask: func(context.Context, *TaskSummary) error {
			calls.Add(1)
			time.Sleep(1500 * time.Millisecond) // five leases
			return nil
		}}
	first := make(chan int, 1)
	go func() { first <- serve(h, inboxRequest(t)) }()
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(time.Second) // past three leases: only the renewal holds the key
	assert.Equal(t, http.StatusServiceUnavailable, serve(h, inboxRequest(t)))
	assert.Equal(t, http.StatusNoContent, <-first)
	assert.Equal(t, int32(1), calls.Load())
}

// A function that panics must not keep its key: the claim is released
// (no renewal goes on) and the panic goes on up to net/http, so the
// sender's retry runs the callback again instead of meeting a 503 forever.
func TestCallbackHandlerStorePanicReleasesTheKey(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	var calls atomic.Int32
	h := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), Store: store, lease: 60 * time.Millisecond,
		OnTask: func(context.Context, *TaskSummary) error {
			if calls.Add(1) == 1 {
				panic("nil map in the app")
			}
			return nil
		}}
	assert.PanicsWithValue(t, "nil map in the app", func() { h.ServeHTTP(httptest.NewRecorder(), inboxRequest(t)) })
	time.Sleep(200 * time.Millisecond) // three leases: a renewal left running would still hold the key
	assert.Equal(t, http.StatusNoContent, serve(h, inboxRequest(t)), "the retry runs it")
	assert.Equal(t, int32(2), calls.Load())
	assert.Equal(t, http.StatusNoContent, serve(h, inboxRequest(t)), "then a duplicate")
	assert.Equal(t, int32(2), calls.Load())
}

// renewalFails passes the first claim of each key to the MemoryStore and
// fails every later one: the renewals of a process cut off from the store.
type renewalFails struct {
	*MemoryStore
	mu      sync.Mutex
	claimed map[string]bool
}

func (s *renewalFails) ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (CallbackClaim, error) {
	s.mu.Lock()
	again := s.claimed[key]
	s.claimed[key] = true
	s.mu.Unlock()
	if again {
		return CallbackClaim{}, errors.New("i/o timeout")
	}
	return s.MemoryStore.ClaimCallback(ctx, key, token, lease)
}

// A function whose claim cannot be renewed has its context cancelled
// before the lease runs out, so that another delivery, which may take the
// key once it has, does not run the callback at the same time as this one.
func TestCallbackHandlerStoreLostClaimCancelsTheFunction(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	var running, runs atomic.Int32
	var overlapped atomic.Bool
	var cause atomic.Value
	onTask := func(ctx context.Context, _ *TaskSummary) error {
		if running.Add(1) > 1 {
			overlapped.Store(true)
		}
		defer running.Add(-1)
		if runs.Add(1) > 1 {
			return nil // the other replica's run
		}
		select {
		case <-ctx.Done():
			cause.Store(context.Cause(ctx))
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return nil
		}
	}
	// The context is cancelled when a third of the lease is left: that
	// third is the time the function has to see it and return before
	// another delivery may take the key (with 50 ms, and with 300 ms under
	// -race beside two busy loops on 2 cores, a machine running many tests
	// at once sometimes let the runs overlap).
	lease := 2400 * time.Millisecond
	cut := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), lease: lease, OnTask: onTask,
		Store: &renewalFails{MemoryStore: store, claimed: map[string]bool{}}}
	other := &CallbackHandler{AllowUnverified: true, Logger: discardLogger(), lease: lease, OnTask: onTask, Store: store}
	first := make(chan int, 1)
	go func() { first <- serve(cut, inboxRequest(t)) }()
	require.Eventually(t, func() bool { return running.Load() == 1 }, 5*time.Second, time.Millisecond)
	var status int
	for deadline := time.Now().Add(10 * lease); time.Now().Before(deadline); { // the sender's retries, to another replica
		if status = serve(other, inboxRequest(t)); status != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, http.StatusNoContent, status, "another replica runs it once the claim is gone")
	assert.Equal(t, http.StatusInternalServerError, <-first, "the cut-off run was cancelled: a failure")
	assert.False(t, overlapped.Load(), "two runs at the same time")
	if c, ok := cause.Load().(error); assert.True(t, ok) {
		assert.ErrorIs(t, c, errCallbackClaimLost)
	}
}
