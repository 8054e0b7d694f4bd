package kryptogo

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Attacks on "callbacks cannot spend the app's key" (issue 15, What to
// build 4), after the confirmations were bounded.

// The bound holds for the key, not for one handler value: an app that
// builds its handler per callback (inside a closure, a framework adapter)
// or serves two handlers on one client still spends at most the budget.
func TestForgedCallbackFloodIsBoundedWhateverTheHandlerValues(t *testing.T) {
	t.Parallel()
	const n = 1000
	setups := []struct {
		name    string
		handler func(c *Client, log *slog.Logger) http.Handler
	}{
		{"a handler built per callback", func(c *Client, log *slog.Logger) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				(&CallbackHandler{Confirm: c, Logger: log}).ServeHTTP(w, r)
			})
		}},
		{"two handlers of one client", func(c *Client, log *slog.Logger) http.Handler {
			handlers := []*CallbackHandler{{Confirm: c, Logger: log}, {Confirm: c, Logger: log}}
			var next atomic.Int32
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The attacker alternates between the app's two endpoints.
				handlers[next.Add(1)%2].ServeHTTP(w, r)
			})
		}},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			clock := newTestClock()
			client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
			logs := newLevelCounter()
			h := setup.handler(client, slog.New(logs))
			res := floodServe(t, h, client, logs, clock, n, func(base string) string { return base + "/cb" }, func(i int) string {
				return fmt.Sprintf(`{"task_id": %d}`, 100000+i)
			})
			assert.LessOrEqual(t, int(counts.confirms.Load()), floodBudget, "API requests spent by forged callbacks")
			assert.Empty(t, res.appErrs)
			assert.Equal(t, n, sum(res.statuses), "every callback was answered")
			assert.Equal(t, DefaultRetryBudget, client.flow.budget.tokens, "the app's retry budget is untouched")
			assert.True(t, client.flow.gate.end().IsZero(), "the app's calls were never paused")
			assert.Zero(t, confirmRecords(client), "no record is left in flight once every callback was answered")
		})
	}
}

// A 429 is about the key: met by one handler's confirmation, it holds the
// confirmations of every handler of the client.
func TestConfirmation429PausesTheConfirmationsOfEveryHandlerOfTheClient(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusTooManyRequests, "30")
	tasks := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	idvs := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	assert.Equal(t, http.StatusServiceUnavailable, serveTaskCallback(t, tasks, 1).StatusCode)
	require.Equal(t, int32(1), counts.confirms.Load())

	resp := serveTaskCallback(t, idvs, 2)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	assert.Equal(t, int32(1), counts.confirms.Load(), "the other handler sends nothing during the pause")
}

// The Retry-After a 503 passes on is when the confirmations resume: an
// API's Retry-After longer than the pause they take (a minute at most) is
// not passed on, or a sender that obeys it would hold legitimate callbacks
// for a day.
func TestConfirmRetryAfterPassedOnIsThePause(t *testing.T) {
	t.Parallel()
	for _, api := range []struct {
		name   string
		status int
	}{{"429", http.StatusTooManyRequests}, {"503", http.StatusServiceUnavailable}} {
		t.Run(api.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			client, counts := newFloodAPI(t, clock, api.status, "86400")
			h := &CallbackHandler{Confirm: client, Logger: discardLogger()}
			first := serveTaskCallback(t, h, 1)
			assert.Equal(t, http.StatusServiceUnavailable, first.StatusCode)
			assert.Equal(t, "60", first.Header.Get("Retry-After"), "no longer than the SDK's longest pause")
			clock.advanceTo(clock.now().Add(61 * time.Second))
			assert.Equal(t, http.StatusServiceUnavailable, serveTaskCallback(t, h, 2).StatusCode)
			assert.Equal(t, int32(2), counts.confirms.Load(), "confirmations resume when the 503 said")
		})
	}
}

// confirmRecords returns how many records the client's confirmations hold.
func confirmRecords(c *Client) int {
	c.confirms.mu.Lock()
	defer c.confirms.mu.Unlock()
	n := 0
	for _, cf := range c.confirms.byLimits {
		cf.mu.Lock()
		n += len(cf.records)
		cf.mu.Unlock()
	}
	return n
}

// A callback that shares a confirmation with others and gives up (its
// sender hangs up) does not end the request the others wait for.
func TestSharedConfirmationOutlivesAWaiterThatGivesUp(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var gets atomic.Int32
	release := make(chan struct{})
	mux.HandleFunc("GET /task/{id}/summary", func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 77, "progress": 100}`))
	})
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error { return nil }}
	serve := func(ctx context.Context) <-chan int {
		done := make(chan int, 1)
		go func() {
			req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 77}`))
			if !assert.NoError(t, err) {
				done <- 0
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.WithContext(ctx))
			done <- rec.Code
		}()
		return done
	}
	first := serve(t.Context()) // its request is held
	require.Eventually(t, func() bool { return gets.Load() == 1 }, 30*time.Second, time.Millisecond)
	quitter, quit := context.WithCancel(t.Context())
	gaveUp := serve(quitter) // it starts the next request, and the next callback shares it
	require.Eventually(t, func() bool { return h.confirmsWaiting() == 1 }, 30*time.Second, time.Millisecond)
	stayed := serve(t.Context())
	require.Eventually(t, func() bool { return h.confirmsWaiting() == 2 }, 30*time.Second, time.Millisecond)
	quit()
	assert.Equal(t, http.StatusServiceUnavailable, <-gaveUp)
	close(release)
	assert.Equal(t, http.StatusNoContent, <-first)
	assert.Equal(t, http.StatusNoContent, <-stayed, "the shared request went on without the waiter that gave up")
	assert.Equal(t, int32(2), gets.Load())
}

// Extreme settings neither overflow the bucket nor the Retry-After: an
// infinite rate or the largest burst are the app's to choose, and a
// refusal still says when to come back.
func TestConfirmLimitsAtTheExtremes(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	for _, limits := range []confirmLimits{
		newConfirmLimits(math.Inf(1), 1),
		newConfirmLimits(math.MaxFloat64, 1),
		newConfirmLimits(math.SmallestNonzeroFloat64, 1),
		newConfirmLimits(1, math.MaxInt),
	} {
		t.Run(fmt.Sprintf("%g/%d", limits.rate, limits.burst), func(t *testing.T) {
			b := tokenBucket{rate: limits.rate, burst: float64(limits.burst)}
			_, ok := b.take(start)
			require.True(t, ok, "the first confirmation goes")
			for range 3 {
				if wait, ok := b.take(start); !ok {
					assert.GreaterOrEqual(t, wait, time.Duration(0))
					assert.LessOrEqual(t, wait, time.Hour)
					n, err := strconv.Atoi(retryAfterHeader(wait))
					require.NoError(t, err)
					assert.True(t, n >= 1 && n <= 3600, "Retry-After %d", n)
				}
			}
			_, ok = b.take(start.Add(time.Nanosecond))
			assert.Equal(t, limits.rate >= 1e9 || limits.burst > 3, ok, "a token comes back at the rate")
		})
	}
}
