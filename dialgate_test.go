package kryptogo

import (
	"context"
	"net"
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

// pipeDial is a dial that counts its dials and returns one end of a pipe.
func pipeDial(dials *atomic.Int32) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		a, b := net.Pipe()
		_ = b.Close()
		return a, nil
	}
}

// The gate lets a dial through while the attempts in flight outnumber the
// connections, holds one that no attempt needs until one does, and fails
// it, undialled, after surplusHold.
func TestDialGateDialsOnlyForAnAttemptWithoutAConnection(t *testing.T) {
	t.Parallel()
	g := newDialGate()
	var dials atomic.Int32
	dial := g.wrap(pipeDial(&dials))
	ctx := t.Context()

	g.begin(1)
	first, err := dial(ctx, "tcp", "api:443")
	require.NoError(t, err, "an attempt without a connection dials")

	start := time.Now()
	_, err = dial(ctx, "tcp", "api:443")
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "a dial error, which the SDK may retry")
	assert.Equal(t, "dial", opErr.Op)
	assert.ErrorIs(t, err, errSurplusDial)
	assert.GreaterOrEqual(t, time.Since(start), surplusHold)
	assert.Equal(t, int32(1), dials.Load(), "the surplus dial dialled nothing")

	held := make(chan error, 1)
	go func() {
		_, err := dial(ctx, "tcp", "api:443")
		held <- err
	}()
	time.Sleep(surplusHold / 4)
	g.begin(1) // a second attempt: now a connection is needed
	require.NoError(t, <-held, "the held dial goes through for it")
	assert.Equal(t, int32(2), dials.Load())

	g.end(1)
	g.end(1)
	require.NoError(t, first.Close())
	require.NoError(t, first.Close())
	assert.Equal(t, int64(1), g.conns.Load(), "a connection counts once, closed twice")
	g.begin(1)
	g.begin(1) // two attempts, one connection
	_, err = dial(ctx, "tcp", "api:443")
	require.NoError(t, err, "a closed connection leaves room for a dial")

	g.begin(gateOpen) // an attempt through a middleware: any number of sends
	for range 3 {
		_, err = dial(ctx, "tcp", "api:443")
		require.NoError(t, err)
	}
	g.end(gateOpen)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = dial(canceled, "tcp", "api:443")
	assert.ErrorIs(t, err, context.Canceled)
}

// N callers on one client open at most N connections, round after round
// (net/http alone opens more when a request whose dial is under way takes
// a connection another call put back).
func TestCallersOpenNoMoreConnectionsThanThey(t *testing.T) {
	t.Parallel()
	const callers, calls = 32, 15
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 7, "progress": 100}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	for round := range 5 {
		client, err := NewClient(testKey, WithBaseURL(srv.URL))
		require.NoError(t, err)
		before := opened.Load()
		var wg sync.WaitGroup
		start := make(chan struct{})
		failed := make(chan error, callers)
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range calls {
					if _, err := client.Tasks.Summary(t.Context(), 7); err != nil {
						failed <- err
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(failed)
		for err := range failed {
			assert.NoError(t, err)
		}
		client.CloseIdleConnections()
		assert.LessOrEqual(t, opened.Load()-before, int32(callers), "round %d", round)
	}
}

// A redirect to the same origin spelt in another case is followed (the
// origin is the same) but net/http files its connections under another
// key: the connection the first answer used cannot serve it. The gate must
// not take that connection for one the redirect can use (it would hold the
// redirect's dial and fail it, and every retry the same way).
func TestDialGateLetsASameOriginRedirectInAnotherCaseDial(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/moved") {
			http.Redirect(w, r, "http://LOCALHOST:"+r.Host[strings.LastIndexByte(r.Host, ':')+1:]+"/moved"+r.URL.Path, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 7, "progress": 100}`))
	}))
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	client, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
	require.NoError(t, err)
	start := time.Now()
	_, err = client.Tasks.Summary(t.Context(), 7)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), surplusHold, "no dial held")
}
