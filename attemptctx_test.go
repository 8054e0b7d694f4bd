package kryptogo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttemptContext(t *testing.T) {
	t.Parallel()
	require.NotNil(t, clientTraceKey, "httptrace's key is found on this Go version")
	var parentTraced bool
	parentTrace := &httptrace.ClientTrace{PutIdleConn: func(error) { parentTraced = true }}
	for name, parent := range map[string]context.Context{
		"plain parent":  context.Background(),
		"traced parent": httptrace.WithClientTrace(context.Background(), parentTrace),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, guard := attemptContext(parent, time.Minute, http.MethodGet, true)
			assert.Same(t, guard, ctx.Value(guardKey{}))
			trace := httptrace.ContextClientTrace(ctx)
			require.NotNil(t, trace)
			trace.PutIdleConn(nil)
			assert.True(t, guard.pooled.Load(), "the guard's hook is called")
			if parent != context.Background() {
				assert.True(t, parentTraced, "the caller's hook is called too")
			}
			_, hasDeadline := ctx.Deadline()
			assert.True(t, hasDeadline)

			// A context derived from the attempt's ends with it, as net/http's
			// own does.
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			guard.end()
			select {
			case <-child.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("a derived context outlived the attempt")
			}
			assert.ErrorIs(t, ctx.Err(), context.Canceled)
		})
	}
}

func TestAttemptContextCanceledWithTheCaller(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	ctx, guard := attemptContext(parent, 0, http.MethodPost, false)
	defer guard.end()
	cancel()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
}

// The shortcut of attemptContext holds only while the guard's traces have
// no dialer hooks; one that gains them takes httptrace's own route.
func TestAttemptContextKeepsDialerHooks(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, sequential := range []bool{true, false} {
			g := newSendGuard(method, sequential, func() {})
			assert.False(t, hasNetHooks(&g.trace), "%s sequential=%v", method, sequential)
		}
	}
	var dialed bool
	trace := &httptrace.ClientTrace{ConnectStart: func(string, string) { dialed = true }}
	assert.True(t, hasNetHooks(trace))
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	actx, guard := attemptContext(ctx, time.Minute, http.MethodGet, true)
	defer guard.end()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	res, err := (&http.Transport{}).RoundTrip(req)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	assert.True(t, dialed, "the caller's dialer hook still runs under the attempt's context")
}
