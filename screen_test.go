package kryptogo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ethAddresses returns n distinct eth addresses.
func ethAddresses(n int) []CreateKYARequest {
	reqs := make([]CreateKYARequest, n)
	for i := range reqs {
		reqs[i].Address = fmt.Sprintf("0x%040x", i+1)
	}
	return reqs
}

// kyaAPI is a fake POST /kya that answers with the address it was sent,
// after serve (if set) had its say, and counts requests and how many were
// in flight at once.
type kyaAPI struct {
	requests atomic.Int32
	inFlight atomic.Int32
	maxIn    atomic.Int32
	serve    func(w http.ResponseWriter, address string) bool // true: answered
}

func (api *kyaAPI) handle(t testing.TB, mux *http.ServeMux) {
	mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
		api.requests.Add(1)
		n := api.inFlight.Add(1)
		defer api.inFlight.Add(-1)
		for m := api.maxIn.Load(); n > m && !api.maxIn.CompareAndSwap(m, n); m = api.maxIn.Load() {
		}
		var req CreateKYARequest
		if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&req)) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if api.serve != nil && api.serve(w, req.Address) {
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kya_id": 7, "address": req.Address})
	})
}

func screenSetup(t testing.TB, api *kyaAPI, opts ...Option) *Client {
	client, mux := setup(t, opts...)
	api.handle(t, mux)
	return client
}

// progressLog records the calls of a Progress callback.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int
}

func (p *progressLog) record(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, [2]int{done, total})
}

func TestScreenResultsInInputOrder(t *testing.T) {
	t.Parallel()
	api := &kyaAPI{serve: func(http.ResponseWriter, string) bool {
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // finish out of order
		return false
	}}
	client := screenSetup(t, api)
	reqs := append(ethAddresses(28), CreateKYARequest{Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
		CreateKYARequest{Address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Chain: ChainBTC})
	var progress progressLog
	results := client.KYA.Screen(t.Context(), reqs, &ScreenOptions{Concurrency: 5, Progress: progress.record})

	require.Len(t, results, len(reqs))
	for i, r := range results {
		require.NoError(t, r.Err, "item %d", i)
		assert.Equal(t, reqs[i], r.Request, "item %d keeps its request", i)
		assert.Equal(t, reqs[i].Address, r.Result.Address, "item %d has its own result", i)
	}
	assert.Equal(t, int32(len(reqs)), api.requests.Load())
	require.Len(t, progress.calls, len(reqs))
	for i, call := range progress.calls {
		assert.Equal(t, [2]int{i + 1, len(reqs)}, call, "progress counts up, one call at a time")
	}
}

func TestScreenPerItemErrors(t *testing.T) {
	t.Parallel()
	const notFound, broken = "0x00000000000000000000000000000000000000aa", "0x00000000000000000000000000000000000000bb"
	api := &kyaAPI{serve: func(w http.ResponseWriter, address string) bool {
		switch address {
		case notFound:
			w.WriteHeader(http.StatusNotFound)
		case broken:
			_, _ = w.Write([]byte(`{"kya_id": "seven"`))
		default:
			return false
		}
		return true
	}}
	client := screenSetup(t, api)
	reqs := []CreateKYARequest{
		{Address: "0x0000000000000000000000000000000000000001"},
		{Address: "not-an-address"},
		{Address: notFound},
		{Address: " 0x0000000000000000000000000000000000000002"},
		{Address: broken},
		{Address: ""},
		{Address: "0x0000000000000000000000000000000000000003", Chain: ChainBTC},
		{Address: "0x0000000000000000000000000000000000000004"},
	}
	results := client.KYA.Screen(t.Context(), reqs, nil)

	require.Len(t, results, len(reqs))
	assert.NoError(t, results[0].Err)
	assert.Equal(t, []string{"chain"}, fieldsOf(t, results[1].Err))
	assert.ErrorIs(t, results[2].Err, ErrNotFound)
	assert.Equal(t, []string{"address"}, fieldsOf(t, results[3].Err))
	assert.ErrorIs(t, results[4].Err, ErrInvalidResponse)
	assert.Equal(t, []string{"address"}, fieldsOf(t, results[5].Err))
	assert.Equal(t, []string{"address"}, fieldsOf(t, results[6].Err))
	assert.NoError(t, results[7].Err)
	for _, i := range []int{1, 2, 3, 4, 5, 6} {
		assert.Nil(t, results[i].Result, "item %d failed: no result", i)
	}
	assert.Equal(t, int32(4), api.requests.Load(), "invalid requests are never sent")
}

// TestScreenConcurrencyLimit measures at the server how many screenings
// are in flight at once: never more than the limit, and the limit reached.
func TestScreenConcurrencyLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		concurrency, want int
	}{{1, 1}, {4, 4}, {0, DefaultScreenConcurrency}, {-3, DefaultScreenConcurrency}, {64, 24}} {
		t.Run(fmt.Sprint(tc.concurrency), func(t *testing.T) {
			t.Parallel()
			api := &kyaAPI{}
			api.serve = func(http.ResponseWriter, string) bool {
				// Hold each answer until the limit has been reached, however
				// late the workers start on a loaded machine: the count then
				// depends on the limit alone. The deadline only ends a run
				// whose limit is too low, which the assertion then reports.
				for deadline := time.Now().Add(30 * time.Second); api.maxIn.Load() < int32(tc.want) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				return false
			}
			client := screenSetup(t, api)
			results := client.KYA.Screen(t.Context(), ethAddresses(24), &ScreenOptions{Concurrency: tc.concurrency})
			for _, r := range results {
				require.NoError(t, r.Err)
			}
			assert.Equal(t, int32(tc.want), api.maxIn.Load(), "most screenings in flight at once")
		})
	}
}

func TestScreenCancelStopsLaunching(t *testing.T) {
	t.Parallel()
	api := &kyaAPI{}
	client := screenSetup(t, api)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reqs := ethAddresses(10)
	reqs[6].Address = "invalid"
	var progress progressLog
	results := client.KYA.Screen(ctx, reqs, &ScreenOptions{Concurrency: 1, Progress: func(done, total int) {
		progress.record(done, total)
		if done == 4 { // the invalid item counts first, then 3 screenings
			cancel()
		}
	}})
	assert.Equal(t, int32(3), api.requests.Load(), "nothing launched after the cancellation")
	for i, r := range results {
		switch {
		case i < 3:
			assert.NoError(t, r.Err, "item %d", i)
		case i == 6:
			assert.ErrorIs(t, r.Err, ErrInvalidRequest)
		default:
			assert.ErrorIs(t, r.Err, context.Canceled, "item %d", i)
			assert.ErrorContains(t, r.Err, "kryptogo: POST /kya: not sent")
			assert.Nil(t, r.Result)
		}
	}
	assert.Len(t, progress.calls, 10, "every item is reported done")
}

// screenLimiter counts Wait calls and fails them with err when set.
type screenLimiter struct {
	waits atomic.Int32
	err   error
}

func (l *screenLimiter) Wait(context.Context) error {
	l.waits.Add(1)
	return l.err
}

func TestScreenRateLimiter(t *testing.T) {
	t.Parallel()
	t.Run("waited once an item", func(t *testing.T) {
		api := &kyaAPI{}
		client := screenSetup(t, api)
		limiter := &screenLimiter{}
		reqs := append(ethAddresses(12), CreateKYARequest{Address: "invalid"})
		results := client.KYA.Screen(t.Context(), reqs, &ScreenOptions{Concurrency: 3, RateLimiter: limiter})
		assert.Equal(t, int32(12), limiter.waits.Load(), "an invalid item costs no token")
		assert.NoError(t, results[11].Err)
	})
	t.Run("its error ends the item unsent", func(t *testing.T) {
		api := &kyaAPI{}
		client := screenSetup(t, api)
		limiter := &screenLimiter{err: errors.New("quota store unreachable")}
		results := client.KYA.Screen(t.Context(), ethAddresses(3), &ScreenOptions{RateLimiter: limiter})
		for _, r := range results {
			assert.ErrorIs(t, r.Err, limiter.err)
			assert.ErrorContains(t, r.Err, "kryptogo: POST /kya: not sent: rate limiter: quota store unreachable")
		}
		assert.Zero(t, api.requests.Load())
	})
}

// TestScreenRespectsThePause: a 429 with Retry-After: 1 in the middle of a
// batch stops every worker for that second, and the batch then completes.
func TestScreenRespectsThePause(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, stormBackoff)
	api := rateLimitedAPI(mux, "/kya", 30)
	waits := holdWaits(client, time.Now())
	done := make(chan []ScreenResult)
	go func() {
		done <- client.KYA.Screen(t.Context(), ethAddresses(400), &ScreenOptions{Concurrency: 16})
	}()
	assertCallersPaused(t, api, waits, 16)
	for i, r := range <-done {
		require.NoError(t, r.Err, "item %d", i)
	}
}

func TestScreenEdgeCases(t *testing.T) {
	t.Parallel()
	client := offlineClient(t)
	assert.Empty(t, client.KYA.Screen(t.Context(), nil, nil))
	//lint:ignore SA1012 a nil context is what this checks
	results := client.KYA.Screen(nil, ethAddresses(2), nil)
	require.Len(t, results, 2)
	for _, r := range results {
		assert.ErrorContains(t, r.Err, "nil context")
	}
}
