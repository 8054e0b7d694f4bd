package kryptogo

import (
	"context"
	"io"
	"log"
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

	g.hold = time.Minute // from here on, no hold may run out on a loaded machine
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
// a connection another call put back), however slowly the machine runs.
func TestCallersOpenNoMoreConnectionsThanThey(t *testing.T) {
	t.Parallel()
	const callers, calls = 32, 15
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 7, "progress": 100}`))
	}))
	opened := startCountingConns(t, srv)
	for round := range 5 {
		client, err := NewClient(testKey, WithBaseURL(srv.URL))
		require.NoError(t, err)
		// A held dial whose request still has no connection dials after
		// the hold; on a loaded machine (-race, CI) a loopback request may
		// take longer than 100 ms to get one. The count under test is the
		// gate's, not the fallback's (TestDialGateNeverFailsARequestThatStillWaits).
		client.dialGate.hold = 10 * time.Second
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
		assert.LessOrEqual(t, opened.Load()-before, int64(callers), "round %d", round)
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
	_, err = client.Tasks.Summary(t.Context(), 7)
	require.NoError(t, err)
	assert.Zero(t, client.dialGate.held.Load(), "no dial held")
}

// Whatever the server does to the client's connections (closes them after
// an answer, on a 1 ms idle timeout, for a body over the cap or cut short,
// a redirect's big body, a 1xx answer, HTTP/2 and its GOAWAY) and whatever
// a Middleware does (panic), no request fails with errSurplusDial, and
// once the calls are done and the idle connections closed, the gate counts
// no attempt and no connection: no drift either way.
func TestDialGateCountsReturnToZero(t *testing.T) {
	t.Parallel()
	const callers, calls = 8, 4
	ok := []byte(`{"task_id": 7, "progress": 100}`)
	big := []byte(`{"task_id": 7, "progress": 100, "x": "` + strings.Repeat("a", 4096) + `"}`)
	plain := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(ok) }
	var panics atomic.Int32
	for name, tc := range map[string]struct {
		h       http.HandlerFunc
		tls, h2 bool
		cfg     func(*httptest.Server)
		opts    []Option
	}{
		"connection close": {h: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = w.Write(ok)
		}},
		"idle timeout": {h: plain, cfg: func(s *httptest.Server) { s.Config.IdleTimeout = time.Millisecond }},
		"over the cap": {h: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) }, opts: []Option{WithMaxResponseBytes(100)}},
		"cut short": {h: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write(ok)
		}, opts: []Option{WithRetryBackoff(time.Millisecond, 2*time.Millisecond)}},
		"redirect with a big body": {h: func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/moved") {
				w.Header().Set("Location", "/moved"+r.URL.Path)
				w.WriteHeader(http.StatusFound)
				_, _ = w.Write(big)
				return
			}
			_, _ = w.Write(ok)
		}},
		"early hints": {h: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Link", "</x>")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = w.Write(ok)
		}},
		"tls http/1.1": {h: plain, tls: true},
		"h2":           {h: plain, tls: true, h2: true},
		"h2 goaway": {h: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close") // an HTTP/2 server sends GOAWAY
			_, _ = w.Write(ok)
		}, tls: true, h2: true},
		"panicking middleware": {h: plain, opts: []Option{WithMiddleware(func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
			if panics.Add(1)%3 == 0 {
				panic("middleware bug")
			}
			return next(req)
		})}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				tc.h(w, r)
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshakes the client gave up
			if tc.cfg != nil {
				tc.cfg(srv)
			}
			srv.EnableHTTP2 = tc.h2
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			client, err := NewClient(testKey, append([]Option{WithBaseURL(srv.URL)}, tc.opts...)...)
			require.NoError(t, err)
			if tc.tls { // the SDK's own transport, trusting the test server
				tr := client.httpClient.Transport.(*http.Transport)
				tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				if !tc.h2 {
					tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
				}
			}
			concurrently(callers, calls, func() bool {
				defer func() { _ = recover() }() // the middleware's panic
				_, err := client.Tasks.Summary(t.Context(), 7)
				assert.NotErrorIs(t, err, errSurplusDial)
				return true
			})
			// An HTTP/2 connection dialled as a spare joins the pool on a
			// goroutine of net/http's: it may be idle only after a first
			// CloseIdleConnections.
			assert.Eventually(t, func() bool {
				client.CloseIdleConnections()
				return client.dialGate.inflight.Load() == 0 && client.dialGate.conns.Load() == 0
			}, 2*time.Second, 5*time.Millisecond)
		})
	}
}

// A dial that fails, or whose context ends while it dials, gives its count
// back: the next attempt without a connection dials at once.
func TestDialGateGivesBackAFailedDial(t *testing.T) {
	t.Parallel()
	g := newDialGate()
	started := make(chan struct{}, 1)
	dial := g.wrap(func(ctx context.Context, _, _ string) (net.Conn, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	g.begin(1)
	ctx, cancel := context.WithCancel(t.Context())
	failed := make(chan error, 1)
	go func() {
		_, err := dial(ctx, "tcp", "api:443")
		failed <- err
	}()
	<-started
	assert.Equal(t, int64(1), g.conns.Load(), "a dial under way counts")
	cancel()
	require.ErrorIs(t, <-failed, context.Canceled)
	assert.Equal(t, int64(0), g.conns.Load(), "and is given back when it fails")

	short, stop := context.WithTimeout(t.Context(), surplusHold/2)
	defer stop()
	go func() {
		_, err := dial(short, "tcp", "api:443")
		failed <- err
	}()
	select {
	case <-started: // admitted: the attempt still has no connection
	case err := <-failed:
		t.Fatalf("the dial waited at the gate until its context ended: %v", err)
	}
	require.ErrorIs(t, <-failed, context.DeadlineExceeded)
	g.end(1)
	assert.Equal(t, int64(0), g.conns.Load())
	assert.Equal(t, int64(0), g.inflight.Load())
}

// concurrently runs call calls times on each of callers goroutines, and
// waits for them; a goroutine stops at a call that returns false.
func concurrently(callers, calls int, call func() bool) {
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if !call() {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A dial held at the gate while another is under way must not fail while
// its request still waits: with dials slower than surplusHold (a distant
// API, a TLS handshake across the world), the dial under way is the one
// the held request will get, and failing the held one fails the request.
// Here caller 2 dials while caller 1's answer is on the way; caller 2 then
// takes caller 1's connection, and caller 1's next call waits for the
// connection caller 2 dialled, 250 ms in coming.
func TestDialGateNeverFailsARequestThatStillWaits(t *testing.T) {
	t.Parallel()
	const dialTime, serveTime = 250 * time.Millisecond, 150 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(serveTime)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 7, "progress": 100}`))
	}))
	t.Cleanup(srv.Close)
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	var d net.Dialer
	client.httpClient.Transport.(*http.Transport).DialContext = client.dialGate.wrap(func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(dialTime)
		return d.DialContext(ctx, network, addr)
	})
	call := func() error {
		_, err := client.Tasks.Summary(t.Context(), 7)
		return err
	}
	require.NoError(t, call(), "warm-up: one connection")

	second := make(chan error, 1)
	go func() {
		time.Sleep(serveTime / 5) // while caller 1's first answer is on the way
		second <- call()
	}()
	require.NoError(t, call())
	assert.NoError(t, call(), "caller 1's next call waits for caller 2's dial")
	assert.NoError(t, <-second)
}
