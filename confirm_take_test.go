package kryptogo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The callbacks that shared a confirmation each get a record of their own:
// the last to take it gets the flight's record, once the others' copies are
// made, so that a function changing its record (run with -race) changes no
// other callback's.
func TestConfirmTakeHandsTheRecordOnceAfterTheCopies(t *testing.T) {
	t.Parallel()
	const n = 8
	task, err := ParseTaskCallback([]byte(`{"task_id": 77, "progress": 100}`))
	require.NoError(t, err)
	record := &CallbackEvent{Kind: CallbackTask, Task: task}
	c := &confirmer{}
	f := &confirmFlight{waiting: n, record: record}
	got := make(chan *CallbackEvent, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			e, err := c.take(f)
			if !assert.NoError(t, err) {
				return
			}
			assert.Equal(t, ID(77), e.Task.TaskID)
			assert.JSONEq(t, `{"task_id": 77, "progress": 100}`, string(e.Task.RawJSON()))
			raw := e.Task.RawJSON() // the function changes its record
			for i := range raw {
				raw[i] = ' '
			}
			*e.Task = TaskSummary{}
			got <- e
		}()
	}
	close(start)
	wg.Wait()
	close(got)
	seen, originals := map[*TaskSummary]bool{}, 0
	for e := range got {
		assert.False(t, seen[e.Task], "each its own")
		seen[e.Task] = true
		if e == record {
			originals++
		}
	}
	assert.Len(t, seen, n)
	assert.Equal(t, 1, originals, "the flight's record goes to one callback")
}

// A confirmation that panics (a Middleware's bug) in the callback that
// sends it, whose server recovers the panic (net/http does), leaves the
// record's confirmations usable: the next callback about it is confirmed
// instead of waiting forever for the flight that panicked.
func TestConfirmAfterAPanicInTheLeadCallback(t *testing.T) {
	t.Parallel()
	var panicked atomic.Bool
	client, mux := setup(t, WithMiddleware(func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		if panicked.CompareAndSwap(false, true) {
			panic("middleware bug")
		}
		return next(req)
	}))
	mux.HandleFunc("GET /task/{id}/summary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 9, "progress": 100}`))
	})
	var delivered atomic.Int32
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error {
		delivered.Add(1)
		return nil
	}}
	serve := func() int {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 9}`))
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		func() {
			defer func() { _ = recover() }() // as net/http's server does
			h.ServeHTTP(rec, req.WithContext(ctx))
		}()
		return rec.Code
	}
	serve()
	require.True(t, panicked.Load())
	assert.Equal(t, http.StatusNoContent, serve(), "the next callback is confirmed and delivered")
	assert.Equal(t, int32(1), delivered.Load())
}
