package kryptogo

import (
	"context"
	"net/http"
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
