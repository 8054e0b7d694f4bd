package kryptogo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stormBackoff keeps retry waits short so that storms of a thousand calls
// take a fraction of a second.
var stormBackoff = WithRetryBackoff(time.Millisecond, 2*time.Millisecond)

// stormAPI is a fake API whose /thing answers 503 while failing is set, and
// counts every request it sees.
type stormAPI struct {
	client   *Client
	requests atomic.Int32
	failing  atomic.Bool
	failNext atomic.Int32 // how many of the next requests answer 503
}

func newStormAPI(t *testing.T, opts ...Option) *stormAPI {
	api := &stormAPI{}
	client, mux := setup(t, append([]Option{stormBackoff}, opts...)...)
	api.client = client
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		api.requests.Add(1)
		if api.failing.Load() || api.failNext.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	return api
}

// callMany makes calls GETs of path from goroutines goroutines and returns
// their errors.
func callMany(ctx context.Context, client *Client, path string, calls, goroutines int) []error {
	errs := make([]error, calls)
	var next atomic.Int32
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < calls; i = int(next.Add(1)) - 1 {
				errs[i] = client.Do(ctx, http.MethodGet, path, nil, nil)
			}
		}()
	}
	wg.Wait()
	return errs
}

func countMatching(errs []error, target error) int {
	n := 0
	for _, err := range errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

// TestRetryBudgetCapsAStorm: 1,000 calls from 40 goroutines into a 503
// storm. Without a shared budget every call retries twice (3,000 requests);
// with the default budget of 500 tokens at 5 a retry, at most 100 retries
// are sent before retries stop.
func TestRetryBudgetCapsAStorm(t *testing.T) {
	t.Parallel()
	api := newStormAPI(t)
	api.failing.Store(true)
	errs := callMany(t.Context(), api.client, "/thing", 1000, 40)
	assert.LessOrEqual(t, api.requests.Load(), int32(1250), "requests sent into the storm")
	assert.GreaterOrEqual(t, api.requests.Load(), int32(1000), "every call is sent once")
	assert.Equal(t, 1000, countMatching(errs, ErrServerError), "each call returns the 503")
	assert.Greater(t, countMatching(errs, ErrRetryBudgetExhausted), 800, "the calls not retried say the budget is spent")
}

// limitedAPI answers its nth request with 429 and Retry-After: 1, and
// every other with 200, and counts them.
type limitedAPI struct {
	requests atomic.Int32
	limited  chan struct{} // closed once the 429 is answered
}

func rateLimitedAPI(mux *http.ServeMux, path string, nth int32) *limitedAPI {
	api := &limitedAPI{limited: make(chan struct{})}
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if api.requests.Add(1) == nth {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			close(api.limited)
			return
		}
		_, _ = w.Write([]byte(`{"kya_id": 1}`))
	})
	return api
}

// assertCallersPaused checks that the 429 pauses every one of callers:
// each ends up waiting out the whole Retry-After second (the client's clock
// is frozen and its waits are held, so no real second has to pass and no
// caller can be late), and requests resume once the waits end. Once the
// first caller waits, the pause is in force: no request reaches the API
// after that but those already in flight (one per other caller at most).
func assertCallersPaused(t *testing.T, api *limitedAPI, waits *sleepLog, callers int) {
	t.Helper()
	select {
	case <-api.limited:
	case <-time.After(30 * time.Second):
		t.Fatal("the API never answered 429")
	}
	waiting := func(n int) func() bool { return func() bool { return len(waits.list()) >= n } }
	require.Eventually(t, waiting(1), 30*time.Second, time.Millisecond, "a caller waits out the pause")
	paused := api.requests.Load()
	require.Eventually(t, waiting(callers), 30*time.Second, time.Millisecond, "every caller waits out the pause")
	held := api.requests.Load()
	assert.LessOrEqual(t, held-paused, int32(callers-1), "requests sent during the pause: only those in flight")
	assert.Len(t, waits.list(), callers, "one wait each")
	for _, d := range waits.list() {
		assert.Equal(t, time.Second, d, "each caller waits the whole Retry-After")
	}
	waits.release()
	resumed := func() bool { return api.requests.Load() > held }
	require.Eventually(t, resumed, 30*time.Second, time.Millisecond, "requests resume after the pause")
}

// TestRateLimitPausesEveryCaller: while one call waits out a 429's
// Retry-After, the 15 other callers of the same client send nothing.
func TestRateLimitPausesEveryCaller(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, stormBackoff)
	api := rateLimitedAPI(mux, "/thing", 40)
	waits := holdWaits(client, time.Now())
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := client.Do(t.Context(), http.MethodGet, "/thing", nil, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	assertCallersPaused(t, api, waits, 16)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestRetryBudgetDisabled(t *testing.T) {
	t.Parallel()
	api := newStormAPI(t, WithRetryBudget(0))
	api.failing.Store(true)
	errs := callMany(t.Context(), api.client, "/thing", 200, 40)
	assert.Equal(t, int32(600), api.requests.Load(), "WithRetryBudget(0): every call retries twice")
	assert.Zero(t, countMatching(errs, ErrRetryBudgetExhausted))
}

// loneFailure makes one call whose first request fails with 503, and
// returns how many requests it sent and its error.
func (api *stormAPI) loneFailure(t *testing.T) (int32, error) {
	t.Helper()
	before := api.requests.Load()
	api.failNext.Store(1)
	err := api.client.Do(t.Context(), http.MethodGet, "/thing", nil, nil)
	return api.requests.Load() - before, err
}

// TestRetryBudgetRecovers: after a storm spent the budget, successes earn
// it back, and a lone failure is retried again.
func TestRetryBudgetRecovers(t *testing.T) {
	t.Parallel()
	api := newStormAPI(t)
	api.failing.Store(true)
	callMany(t.Context(), api.client, "/thing", 1000, 40)
	api.failing.Store(false)

	sent, err := api.loneFailure(t)
	require.ErrorIs(t, err, ErrRetryBudgetExhausted, "the storm spent the budget")
	require.ErrorIs(t, err, ErrServerError)
	assert.Contains(t, err.Error(), "retry budget is spent")
	assert.Equal(t, int32(1), sent)

	callMany(t.Context(), api.client, "/thing", 5, 1) // 5 successes earn one retry's 5 tokens
	for i := range 3 {                                // a successful retry returns its cost
		sent, err = api.loneFailure(t)
		require.NoError(t, err, "lone failure %d after recovery", i)
		assert.Equal(t, int32(2), sent, "lone failure %d is retried", i)
	}
}

// TestRetryBudgetSmall: a budget of one retry is spent by one failed
// retry, and not by a retry that succeeds.
func TestRetryBudgetSmall(t *testing.T) {
	t.Parallel()
	api := newStormAPI(t, WithRetryBudget(5))
	for range 5 {
		sent, err := api.loneFailure(t)
		require.NoError(t, err)
		require.Equal(t, int32(2), sent)
	}
	api.failNext.Store(3)
	require.ErrorIs(t, api.client.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrServerError)
	assert.Equal(t, int32(10+2), api.requests.Load(), "the second retry found the budget spent")
	sent, err := api.loneFailure(t)
	assert.ErrorIs(t, err, ErrRetryBudgetExhausted)
	assert.Equal(t, int32(1), sent)
}

func TestRetryCosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		res  result
		cost int
	}{
		{"503", result{status: http.StatusServiceUnavailable}, 5},
		{"429", result{status: http.StatusTooManyRequests}, 5},
		{"connection refused", result{err: errors.New("connect: connection refused")}, 5},
		{"attempt timeout", result{err: context.DeadlineExceeded}, 10},
		{"net timeout", result{err: &net.OpError{Op: "read", Err: timeoutErr{}}}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(testKey, WithRetryBudget(12))
			require.NoError(t, err)
			call := c.startCall(&c.cfg)
			spent, ok := call.takeRetry(tc.res)
			require.True(t, ok)
			assert.Equal(t, 12-tc.cost, c.flow.budget.tokens)
			assert.Equal(t, budgetChange{spent: tc.cost, available: 12 - tc.cost, capacity: 12}, spent, "what an observer is told")
			refund := call.succeeded()
			assert.Equal(t, 12, c.flow.budget.tokens, "a retry that succeeds returns its cost")
			assert.Equal(t, budgetChange{refunded: tc.cost, available: 12, capacity: 12}, refund)
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestWithRetryBudgetRejectsNegative(t *testing.T) {
	t.Parallel()
	_, err := NewClient(testKey, WithRetryBudget(-1))
	assert.ErrorContains(t, err, "WithRetryBudget: negative budget -1")
}

// TestPauseOutlastingTheDeadline: a call whose deadline ends before the
// client's pause does returns at once, sends nothing, and says why.
func TestPauseOutlastingTheDeadline(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	// The client's clock stands still an hour ahead, so the pause always
	// outlasts the 200 ms deadline, however slow the machine.
	slept := recordWaits(client, time.Now().Add(time.Hour))
	api := rateLimitedAPI(mux, "/thing", 1)
	require.ErrorIs(t, client.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrRateLimited)
	<-api.limited

	ctx, cancel := context.WithDeadline(t.Context(), client.now().Add(200*time.Millisecond))
	defer cancel()
	err := client.Do(ctx, http.MethodGet, "/thing", nil, nil)
	assert.Empty(t, slept.list(), "returns at once instead of waiting into the deadline")
	require.ErrorIs(t, err, ErrRateLimited)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the context has not ended")
	assert.Regexp(t, `^kryptogo: GET /thing: not sent: the API asked this client to pause \(429 Retry-After\) for \S+ more, past the context's deadline$`, err.Error())
	assert.Equal(t, int32(1), api.requests.Load(), "nothing sent after the 429")

	ctx, cancel = context.WithCancel(t.Context())
	client.sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the call waits out the pause now: end it mid-wait
		return sleepContext(ctx, d)
	}
	err = client.Do(ctx, http.MethodGet, "/thing", nil, nil)
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int32(1), api.requests.Load(), "nothing sent after the 429")
}

// TestPauseWaitsTheRemainder: a call that meets another call's pause sleeps
// what is left of it, through the client's clock and sleep, once.
func TestPauseWaitsTheRemainder(t *testing.T) {
	t.Parallel()
	api := newStormAPI(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	slept := recordWaits(api.client, now)
	api.client.flow.gate.extend(now.Add(2 * time.Second))
	require.NoError(t, api.client.Do(t.Context(), http.MethodGet, "/thing", nil, nil))
	assert.Equal(t, []time.Duration{2 * time.Second}, slept.list())
	assert.Equal(t, int32(1), api.requests.Load())
}

// TestPauseIsCapped: a Retry-After of an hour pauses the client for
// maxRetryAfter at most; the call that got it returns the *APIError.
func TestPauseIsCapped(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	recordWaits(client, now)
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	err := client.Do(t.Context(), http.MethodGet, "/thing", nil, nil)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, time.Hour, apiErr.RetryAfter)
	assert.Equal(t, now.Add(maxRetryAfter), client.flow.gate.end())
}

// TestRetryAfterOn503DoesNotPause: only a 429 pauses the whole client.
func TestRetryAfterOn503DoesNotPause(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	require.ErrorIs(t, client.Do(t.Context(), http.MethodGet, "/thing", nil, nil), ErrServerError)
	assert.True(t, client.flow.gate.end().IsZero())
}

// TestRateLimitedCallWaitsOutItsOwnPause: a call whose per-call backoff
// minimum is below the client's waits, after a 429 with a short or past
// Retry-After, at least the pause it started for every call (whose floor is
// the client's minimum), so it does not send while the others wait.
func TestRateLimitedCallWaitsOutItsOwnPause(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := map[string]string{
		"zero":      "0",
		"past date": now.Add(-time.Minute).Format(http.TimeFormat),
		"at floor":  "1", // the control: already as long as the pause
	}
	for name, retryAfter := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithRetryBackoff(time.Second, 2*time.Second))
			slept := recordWaits(client, now)
			var n atomic.Int32
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", retryAfter)
					w.WriteHeader(http.StatusTooManyRequests)
				}
			})
			err := client.Do(t.Context(), http.MethodGet, "/thing", nil, nil, WithRetryBackoff(time.Millisecond, time.Millisecond))
			require.NoError(t, err)
			var waited time.Duration
			for _, d := range slept.list() {
				waited += d
			}
			end := client.flow.gate.end()
			require.False(t, end.IsZero(), "the 429 paused the client")
			assert.GreaterOrEqual(t, waited, end.Sub(now), "the retry was sent before the client's pause ended")
			assert.Equal(t, int32(2), n.Load())
		})
	}
}

// The budget's refund after a call without retry, most calls', writes
// nothing while the bucket is full; the bucket still counts every token.
func TestRetryBudgetFullFastPath(t *testing.T) {
	t.Parallel()
	b := newRetryBudget(10)
	assert.Equal(t, budgetChange{available: 10, capacity: 10}, b.refund(noRetryRefund))
	change, ok := b.take(5)
	require.True(t, ok)
	assert.Equal(t, budgetChange{spent: 5, available: 5, capacity: 10}, change)
	assert.False(t, b.full.Load())
	assert.Equal(t, budgetChange{refunded: 1, available: 6, capacity: 10}, b.refund(1))
	assert.Equal(t, budgetChange{refunded: 4, available: 10, capacity: 10}, b.refund(5))
	assert.True(t, b.full.Load())
	assert.Equal(t, budgetChange{available: 10, capacity: 10}, b.refund(1))
	_, ok = b.take(10)
	require.True(t, ok)
	_, ok = b.take(1)
	assert.False(t, ok)
}

// The pause gate reads no lock until a pause was ever set, and then
// reports it.
func TestPauseGateBeforeAnyPause(t *testing.T) {
	t.Parallel()
	var g pauseGate
	assert.True(t, g.end().IsZero())
	assert.False(t, g.paused.Load())
	end := time.Now().Add(time.Second)
	g.extend(end)
	assert.Equal(t, end, g.end())
	var shared pauseGate
	shared.extendShared(end, time.Now())
	assert.Equal(t, end, shared.end())
}
