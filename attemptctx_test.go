package kryptogo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"sync/atomic"
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

// The attempt's context behaves as context.WithTimeout's did: it ends at
// its deadline with context.DeadlineExceeded, and a context derived from
// it (net/http's transport derives one) ends with it, with that cause.
func TestAttemptContextDeadline(t *testing.T) {
	t.Parallel()
	// The attempt's own context under a parent that never ends, and
	// WithTimeout's under one that can.
	for _, parent := range []context.Context{context.Background(), t.Context()} {
		testAttemptContextDeadline(t, parent)
	}
}

func testAttemptContextDeadline(t *testing.T, parent context.Context) {
	const timeout = 300 * time.Millisecond
	before := time.Now()
	ctx, guard := attemptContext(parent, timeout, http.MethodGet, true)
	after := time.Now()
	defer guard.end()
	child, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline, ok := ctx.Deadline()
	require.True(t, ok)
	assert.False(t, deadline.Before(before.Add(timeout)) || deadline.After(after.Add(timeout)),
		"deadline %v, built between %v and %v", deadline, before, after)
	// Live until its deadline (a loaded machine may take the test past it).
	if time.Now().Before(deadline) {
		assert.NoError(t, ctx.Err())
		assert.NoError(t, context.Cause(ctx))
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline did not end the attempt")
	}
	assert.False(t, time.Now().Before(deadline), "ended before its deadline")
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
	assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
	assert.ErrorIs(t, context.Cause(child), context.DeadlineExceeded)
	guard.end() // after the deadline: changes nothing
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
}

// A caller's deadline sooner than the attempt's timeout is the attempt's,
// and its end is the caller's.
func TestAttemptContextParentDeadlineFirst(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	ctx, guard := attemptContext(parent, time.Hour, http.MethodGet, true)
	defer guard.end()
	want, _ := parent.Deadline()
	got, ok := ctx.Deadline()
	require.True(t, ok)
	assert.Equal(t, want, got)
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
}

// The caller's cancellation reaches the attempt and the contexts derived
// from it, with the caller's cause; an attempt under a caller's context
// that already ended ends at once.
func TestAttemptContextParentCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("caller gave up")
	parent, cancel := context.WithCancelCause(t.Context())
	ctx, guard := attemptContext(parent, time.Minute, http.MethodGet, true)
	defer guard.end()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	cancel(cause)
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the caller's cancellation did not reach a derived context")
	}
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.ErrorIs(t, context.Cause(ctx), cause)
	assert.ErrorIs(t, context.Cause(child), cause)

	ended, guard2 := attemptContext(parent, time.Minute, http.MethodPost, false)
	defer guard2.end()
	select {
	case <-ended.Done():
	default:
		t.Fatal("an attempt under an ended context is live")
	}
	assert.ErrorIs(t, context.Cause(ended), cause)
}

// The attempt's AfterFunc (how derived contexts register) runs what it
// was given once at the end, not at all once unregistered, and at once for
// an attempt that ended.
func TestAttemptContextAfterFunc(t *testing.T) {
	t.Parallel()
	for _, parent := range []context.Context{context.Background(), t.Context()} {
		for _, timeout := range []time.Duration{time.Minute, 0} {
			testAttemptContextAfterFunc(t, parent, timeout)
		}
	}
}

func testAttemptContextAfterFunc(t *testing.T, parent context.Context, timeout time.Duration) {
	ctx, guard := attemptContext(parent, timeout, http.MethodGet, true)
	var ran, unregistered atomic.Int32
	stop := context.AfterFunc(ctx, func() { unregistered.Add(1) })
	done := make(chan struct{})
	context.AfterFunc(ctx, func() { ran.Add(1); close(done) })
	assert.True(t, stop())
	assert.False(t, stop())
	guard.end()
	<-done
	late := make(chan struct{})
	context.AfterFunc(ctx, func() { close(late) })
	<-late
	guard.end()
	assert.Equal(t, int32(1), ran.Load())
	assert.Equal(t, int32(0), unregistered.Load())
	assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
}

// Attempts leave no goroutine and no timer behind: after many calls, some
// of them ended by their deadline, the goroutines are as many as before.
func TestAttemptContextLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 2000 {
		parent := cancelable
		if i%2 == 0 {
			parent = context.Background()
		}
		timeout := time.Minute
		if i%100 == 0 {
			timeout = time.Millisecond
		}
		ctx, guard := attemptContext(parent, timeout, http.MethodGet, true)
		child, cancelChild := context.WithCancel(ctx)
		if timeout == time.Millisecond {
			<-child.Done()
		}
		cancelChild()
		guard.end()
	}
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, after, before, "goroutines left behind")
}

// An attempt's context, with the context net/http's transport derives
// from it, allocates no more than context.WithTimeout's (13, its timer
// included) or WithCancel's (11) with the guard and its trace.
func TestAttemptContextAllocs(t *testing.T) {
	for timeout, most := range map[time.Duration]float64{time.Minute: 13, 0: 11} {
		for _, parent := range []context.Context{context.Background(), t.Context()} {
			allocs := testing.AllocsPerRun(200, func() {
				ctx, guard := attemptContext(parent, timeout, http.MethodGet, true)
				child, cancelChild := context.WithCancelCause(ctx)
				_ = child.Done()
				cancelChild(nil)
				guard.end()
			})
			t.Logf("allocations per attempt context (timeout %v): %v", timeout, allocs)
			assert.LessOrEqual(t, allocs, most)
		}
	}
}

// The caller's cancellation reaches the attempt and the contexts derived
// from it (net/http's transport's) before the caller's cancel returns, as
// it reaches a cancelCtx's children: a fenced create's send is cut when
// its lease runs out, before another caller may take its key over.
func TestAttemptContextCallerCancelReachesAtOnce(t *testing.T) {
	t.Parallel()
	cut := errors.New("cut")
	for _, timeout := range []time.Duration{time.Minute, 0} {
		for range 100 {
			parent, cancel := context.WithCancelCause(t.Context())
			ctx, guard := attemptContext(parent, timeout, http.MethodPost, true)
			child, cancelChild := context.WithCancelCause(ctx)
			cancel(cut)
			select {
			case <-child.Done():
			default:
				t.Fatalf("timeout %v: the caller's cancellation had not reached a derived context when cancel returned", timeout)
			}
			assert.ErrorIs(t, ctx.Err(), context.Canceled)
			assert.ErrorIs(t, context.Cause(child), cut)
			cancelChild(nil)
			guard.end()
		}
	}
}

// An attempt whose timeout has passed by the time its context is built
// (1 ns) is over when attemptContext returns, as context.WithTimeout's is:
// its request is never sent (net/http's transport checks the context
// first), where a timer that fires a moment later let it go out.
func TestAttemptContextTimeoutPassedAtStart(t *testing.T) {
	t.Parallel()
	for _, parent := range []context.Context{context.Background(), t.Context()} {
		for range 100 {
			want, cancel := context.WithTimeout(parent, time.Nanosecond)
			require.Error(t, want.Err(), "context.WithTimeout's is over at once")
			cancel()
			ctx, guard := attemptContext(parent, time.Nanosecond, http.MethodPost, true)
			child, cancelChild := context.WithCancel(ctx)
			select {
			case <-ctx.Done():
			default:
				t.Fatalf("parent %v: an attempt whose deadline passed is live", parent)
			}
			select {
			case <-child.Done():
			default:
				t.Fatalf("parent %v: a context derived from an attempt whose deadline passed is live", parent)
			}
			assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
			assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
			assert.ErrorIs(t, context.Cause(child), context.DeadlineExceeded)
			cancelChild()
			guard.end()
			assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
		}
	}
}

// A context derived from the attempt's (net/http's transport derives one)
// is over when the attempt's end returns, and no goroutine waits for that
// end, as the children of context.WithTimeout's were: also when a context
// around the attempt's stands between them, httptrace's for a caller's
// trace, or one a RoundTripper other than net/http's or a Middleware adds
// (context.WithValue: a tracing transport's span).
func TestAttemptContextEndReachesDerivedAtOnce(t *testing.T) {
	type spanKey struct{}
	traced := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotFirstResponseByte: func() {}})
	for _, tc := range []struct {
		name       string
		parent     context.Context
		sequential bool // net/http's own transport, no Middleware
		wrap       func(context.Context) context.Context
	}{
		{name: "net/http's transport", parent: context.Background(), sequential: true},
		{name: "caller's trace", parent: traced, sequential: true},
		{name: "wrapping RoundTripper", parent: context.Background(), wrap: func(ctx context.Context) context.Context {
			return context.WithValue(ctx, spanKey{}, "span")
		}},
	} {
		for _, timeout := range []time.Duration{time.Minute, 0} {
			// Goroutines of earlier tests may start or end meanwhile: a
			// goroutine of the attempt's is one found on every try.
			waiting := true
			for try := 0; try < 5 && waiting; try++ {
				before := runtime.NumGoroutine()
				ctx, guard := attemptContext(tc.parent, timeout, http.MethodGet, tc.sequential)
				if tc.wrap != nil {
					ctx = tc.wrap(ctx)
				}
				child, cancelChild := context.WithCancel(ctx)
				waiting = runtime.NumGoroutine() > before
				guard.end()
				select {
				case <-child.Done():
				default:
					t.Errorf("%s, timeout %v: a derived context outlived the attempt's end", tc.name, timeout)
				}
				cancelChild()
			}
			assert.False(t, waiting, "%s, timeout %v: a goroutine waits for the attempt's end", tc.name, timeout)
		}
	}
}

// An attempt that ends at its deadline, the deadline's timer and the
// attempt's end racing, has ended its derived contexts when its end
// returns, whichever came first: as a cancelCtx's cancel, which returns
// once its children are canceled, even when another cancel got there
// first.
func TestAttemptContextEndRacingDeadline(t *testing.T) {
	t.Parallel()
	var live int
	children := make([]context.Context, 8)
	cancels := make([]context.CancelFunc, len(children))
	for i := range 20000 {
		timeout := time.Duration(10+i%20) * time.Microsecond
		ctx, guard := attemptContext(context.Background(), timeout, http.MethodGet, true)
		for j := range children {
			children[j], cancels[j] = context.WithCancel(ctx)
		}
		if ctx.Err() != nil {
			// Preempted past the deadline while the children registered:
			// the context package ends a child that registers through
			// AfterFunc with a parent that ended meanwhile on a goroutine,
			// a moment later (context.AfterFunc's contract).
			guard.end()
			continue
		}
		deadline, _ := ctx.Deadline()
		for time.Until(deadline) > 0 && ctx.Err() == nil {
		}
		guard.end()
		for j, child := range children {
			select {
			case <-child.Done():
			default:
				live++
			}
			cancels[j]()
		}
	}
	assert.Zero(t, live, "derived contexts live after the attempt's end returned")
}
