package kryptogo

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// N callers sharing one client use N connections once they all have one:
// the default transport keeps every connection a caller hands back, and a
// call returns only once its connection is back in the pool, so no caller
// dials while an idle connection waits to be put back. (While the first
// connections are being dialled, net/http may dial a few more than there
// are callers: a request queued behind a dial takes a connection freed
// meanwhile. Those extra connections are kept, never closed and redialled.)
func TestConcurrentCallersShareConnections(t *testing.T) {
	// Not parallel: other tests' load delays the pool and adds dials.
	const callers, calls = 64, 60
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 123, "progress": 100}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client, err := NewClient(testKey, WithBaseURL(srv.URL))
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)

	run := func(calls int) int64 {
		before := opened.Load()
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range calls {
					if _, err := client.Tasks.Summary(t.Context(), 123); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return opened.Load() - before
	}
	warm := run(1)
	for i := 0; i < 10 && opened.Load() < callers; i++ {
		warm += run(1)
	}
	require.GreaterOrEqual(t, warm, int64(callers), "the warm-up did not connect every caller")
	// Zero in most runs; a loaded machine may delay the pool's read loop
	// past awaitPooled's few yields, so allow a handful (a pool that drops
	// connections opens hundreds here).
	assert.LessOrEqual(t, run(calls), int64(4), "connections opened by %d callers that already had %d", callers, warm)
}
