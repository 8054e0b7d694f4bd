package kryptogo

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rate cap is the handler's to set: one confirmation a second with a
// burst of two lets at most three of 100 forged callbacks in one second
// through.
func TestConfirmRateIsSettable(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	h := &CallbackHandler{Confirm: client, ConfirmRate: 1, ConfirmBurst: 2}
	res := flood(t, h, clock, 100, func(base string) string { return base + "/cb" },
		func(i int) string { return fmt.Sprintf(`{"task_id": %d}`, 100000+i) })
	assert.LessOrEqual(t, int(counts.confirms.Load()), 3)
	assert.GreaterOrEqual(t, int(counts.confirms.Load()), 2, "the burst goes through")
	assert.Equal(t, int(counts.confirms.Load()), res.statuses[http.StatusUnprocessableEntity])
	assert.Equal(t, 100-int(counts.confirms.Load()), res.statuses[http.StatusServiceUnavailable], "the overflow is answered 503")
	assert.Zero(t, res.noRetryAfter)
	assert.Equal(t, 100, res.handlerDebugs+res.handlerWarns-overflowSummaries(res), "one record per callback")
}

// overflowSummaries is the number of warn records that are not one
// callback's: at most one summary of the refused callbacks per second.
func overflowSummaries(res floodResult) int {
	return res.handlerWarns - res.statuses[http.StatusUnprocessableEntity]
}

// The 503 of an overflow says when to come back; nothing is sent, and the
// refusals are summarised at warn at most once a second, each one logged at
// debug.
func TestConfirmOverflowAnswers503WithRetryAfterAndLogsOnceASecond(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	logs := newLevelCounter()
	h := &CallbackHandler{Confirm: client, ConfirmRate: 1, ConfirmBurst: 1, Logger: slog.New(logs)}
	post := func(id int) *http.Response { return serveTaskCallback(t, h, id) }
	assert.Equal(t, http.StatusUnprocessableEntity, post(1).StatusCode, "the burst")
	for id := 2; id <= 50; id++ {
		resp := post(id)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), "the next confirmation is due in a second")
	}
	assert.Equal(t, int32(1), counts.confirms.Load(), "no request for the overflow")
	warns := func() int {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		return logs.msgs["WARN kryptogo callback confirmations refused"]
	}
	assert.Equal(t, 1, warns(), "one summary for the refusals of the second")
	clock.advanceTo(clock.now().Add(1100 * time.Millisecond))
	assert.Equal(t, http.StatusUnprocessableEntity, post(51).StatusCode, "a token came back")
	assert.Equal(t, http.StatusServiceUnavailable, post(52).StatusCode)
	assert.Equal(t, 2, warns(), "the next second's summary")
	assert.Equal(t, 49+1, logs.msgs["DEBUG kryptogo callback"], "each refusal at debug")
}

// Callbacks of one record that arrive while its confirmation is in flight
// share the next one: a burst of any size costs at most two requests, and
// each callback is confirmed by a request sent after it arrived.
func TestConcurrentConfirmationsOfOneRecordShareARequest(t *testing.T) {
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
	var delivered atomic.Int32
	tasks := make(chan *TaskSummary, 64)
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(_ context.Context, task *TaskSummary) error {
		delivered.Add(1)
		tasks <- task
		return nil
	}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const n = 40
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, ok := sendCallback(t, srv.Client(), srv.URL+"/cb", `{"task_id": 77}`); ok {
				statuses <- resp.StatusCode
			}
		}()
	}
	// Release the first request once every other callback waits for the
	// next one (or, without sharing, once the API saw them all).
	require.Eventually(t, func() bool {
		return gets.Load() >= n || h.confirmsWaiting() == n-1
	}, 30*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Equal(t, http.StatusNoContent, s)
	}
	assert.Equal(t, int32(2), gets.Load(), "one request in flight, one shared by the callbacks that came during it")
	assert.Equal(t, int32(n), delivered.Load())
	close(tasks)
	seen := map[*TaskSummary]bool{}
	for task := range tasks {
		assert.False(t, seen[task], "each callback gets its own copy of the record")
		seen[task] = true
		assert.Equal(t, ID(77), task.TaskID)
		assert.JSONEq(t, `{"task_id": 77, "progress": 100}`, string(task.RawJSON()))
	}
}

// confirmsWaiting returns how many callbacks wait for a confirmation that
// was not sent yet.
func (h *CallbackHandler) confirmsWaiting() int {
	c := h.confirmer()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.records {
		if r.next != nil {
			n += r.next.waiting
		}
	}
	return n
}

// While the app's own calls are paused by a 429, confirmations hold back
// too: the key is rate limited, and callbacks must not spend it.
func TestConfirmationsHoldBackWhileTheAppIsPaused(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	client.flow.gate.extend(clock.now().Add(10 * time.Second))
	h := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	resp := serveTaskCallback(t, h, 1)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "10", resp.Header.Get("Retry-After"))
	assert.Zero(t, counts.confirms.Load())
	clock.advanceTo(clock.now().Add(10 * time.Second))
	assert.Equal(t, http.StatusUnprocessableEntity, serveTaskCallback(t, h, 1).StatusCode, "after the pause")
	assert.Equal(t, int32(1), counts.confirms.Load())
}

func TestConfirmTokenBucket(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	t.Run("burst, then the rate", func(t *testing.T) {
		b := tokenBucket{rate: 2, burst: 3}
		for i := range 3 {
			_, ok := b.take(start)
			assert.True(t, ok, "token %d of the burst", i)
		}
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Equal(t, 500*time.Millisecond, wait)
		_, ok = b.take(start.Add(500 * time.Millisecond))
		assert.True(t, ok, "one token comes back every 1/rate")
		_, ok = b.take(start.Add(500 * time.Millisecond))
		assert.False(t, ok)
	})
	t.Run("a clock that goes back refills nothing", func(t *testing.T) {
		b := tokenBucket{rate: 1, burst: 1}
		_, ok := b.take(start)
		require.True(t, ok)
		_, ok = b.take(start.Add(-time.Hour))
		assert.False(t, ok)
		_, ok = b.take(start.Add(999 * time.Millisecond))
		assert.False(t, ok, "time is measured from the latest reading")
	})
	t.Run("a token almost due still asks for a wait", func(t *testing.T) {
		// Refills in steps of the client's clock leave fractions: a bucket
		// one ten-billionth of a token short must not answer a zero wait,
		// which would send a 503 without Retry-After.
		b := tokenBucket{rate: 5, burst: 1, tokens: 1 - 1e-12, last: start}
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Positive(t, wait)
	})
	t.Run("a tiny rate asks for an hour at most", func(t *testing.T) {
		b := tokenBucket{rate: 1e-300, burst: 1}
		_, _ = b.take(start)
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Equal(t, time.Hour, wait)
		assert.Equal(t, "3600", retryAfterHeader(wait))
	})
	t.Run("defaults", func(t *testing.T) {
		for _, rate := range []float64{0, -1, math.NaN()} {
			assert.Equal(t, confirmLimits{rate: DefaultConfirmRate, burst: DefaultConfirmBurst}, newConfirmLimits(rate, -5))
		}
	})
}
