package kryptogo

// Attacks on the send guard (issue 15, item 1): transports and servers that
// the first pass did not try. Each test that tries one failed before its
// fix; the Bounds tests keep a fix from lifting a bound net/http had.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copiesRT sends copies of each request at once, each from a goroutine of
// its own, and returns the first answer (or the last error). Unlike
// hedgingRT it makes any number of copies, can give each a context of its
// own and stack traces of its own on it, and can return as soon as the
// request's context ends, as hedgedhttp does, leaving its copies running.
type copiesRT struct {
	next   http.RoundTripper
	copies int
	// detach gives each copy a context derived from the request's that the
	// request's cancellation does not reach (context.WithoutCancel): it
	// keeps the SDK's trace, as a "derived" context must.
	detach bool
	traces int // traces of its own composed on each copy's context
	// rebuild builds each copy anew with http.NewRequestWithContext (on the
	// copy's context) rather than req.Clone.
	rebuild bool
	// leaveOnDone returns the context's error as soon as it ends, without
	// waiting for the copies (hedgedhttp's waitResult does so).
	leaveOnDone bool
	running     *sync.WaitGroup // tracks the copies, when set
}

func (h copiesRT) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := bufferRequestBody(req)
	if err != nil {
		return nil, err
	}
	outcomes := make(chan hedgeOutcome, h.copies)
	for range h.copies {
		if h.running != nil {
			h.running.Add(1)
		}
		go func() {
			if h.running != nil {
				defer h.running.Done()
			}
			resp, err := h.next.RoundTrip(h.copy(req, body))
			outcomes <- hedgeOutcome{resp: resp, err: err}
		}()
	}
	var lastErr error
	for received := 0; received < h.copies; received++ {
		var o hedgeOutcome
		select {
		case o = <-outcomes:
		case <-h.done(req.Context()):
			go discard(outcomes, h.copies-received)
			return nil, req.Context().Err()
		}
		if o.err == nil {
			go discard(outcomes, h.copies-received-1)
			return o.resp, nil
		}
		lastErr = o.err
	}
	return nil, lastErr
}

// done is the request context's Done channel when the transport leaves on
// it, else nil (never ready).
func (h copiesRT) done(ctx context.Context) <-chan struct{} {
	if h.leaveOnDone {
		return ctx.Done()
	}
	return nil
}

// copy returns one copy of req, with its buffered body.
func (h copiesRT) copy(req *http.Request, body []byte) *http.Request {
	ctx := req.Context()
	if h.detach {
		ctx = context.WithoutCancel(ctx)
	}
	for range h.traces {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {}})
	}
	c := req.Clone(ctx)
	if h.rebuild {
		c, _ = http.NewRequestWithContext(ctx, req.Method, req.URL.String(), nil)
		c.Header, c.Host = req.Header.Clone(), req.Host
	}
	setBufferedBody(c, body)
	return c
}

// bufferRequestBody reads req's body, if it has one, and closes it: a
// transport that sends a request more than once must keep its body.
func bufferRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// setBufferedBody gives c, a copy of a request, a body of its own over
// body (none when nil) and a GetBody that rewinds it, as a hedging
// transport must for net/http to resend a copy by itself.
func setBufferedBody(c *http.Request, body []byte) {
	if body == nil {
		return
	}
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	c.ContentLength = int64(len(body))
}

// passThroughRT is a wrapping transport that keeps the request's context,
// as otelhttp's does: every POST through it is fully guarded.
type passThroughRT struct{ next http.RoundTripper }

func (p passThroughRT) RoundTrip(req *http.Request) (*http.Response, error) {
	return p.next.RoundTrip(req.Clone(req.Context()))
}

// startH2C starts h over unencrypted HTTP/2 (prior knowledge) and returns a
// net/http transport that speaks it; both are closed when the test ends.
func startH2C(t *testing.T, h http.Handler) (*httptest.Server, *http.Transport) {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	transport := baseTransport()
	transport.Protocols = new(http.Protocols)
	transport.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(transport.CloseIdleConnections)
	return srv, transport
}

// countingHTTP1 starts a postCounter's server over HTTP/1.1 and returns it
// with a transport of its own; both are closed when the test ends.
func countingHTTP1(t *testing.T) (*postCounter, *httptest.Server, *http.Transport) {
	counter := &postCounter{seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(counter.handle))
	t.Cleanup(srv.Close)
	transport := baseTransport()
	t.Cleanup(transport.CloseIdleConnections)
	return counter, srv, transport
}

// createConcurrently makes calls KYA.Create calls at once, each for its own
// address, and returns how many succeeded and the first error of the others.
func createConcurrently(ctx context.Context, client *Client, calls int) (int, error) {
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			_, err := client.KYA.Create(ctx, &CreateKYARequest{Address: fmt.Sprintf("0x%040x", i+1)})
			errs <- err
		}()
	}
	succeeded, first := 0, error(nil)
	for range calls {
		if err := <-errs; err == nil {
			succeeded++
		} else if first == nil {
			first = err
		}
	}
	return succeeded, first
}

// assertEachPOSTOnce makes 20 KYA.Create calls at once through hc, whose
// copiesRT tracks its copies in running, against the server that counter
// serves at url: none may reach it twice, and nearly all succeed.
func assertEachPOSTOnce(t *testing.T, url string, hc *http.Client, running *sync.WaitGroup, counter *postCounter) {
	t.Helper()
	const calls = 20
	client, err := NewClient(testKey, WithBaseURL(url), WithHTTPClient(hc))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	succeeded, failure := createConcurrently(ctx, client, calls)
	running.Wait() // every copy is over: a late one would be counted
	assert.Zero(t, counter.duplicates(), "POSTs the server received twice")
	assert.GreaterOrEqual(t, succeeded, calls*9/10, "calls that succeeded; a failure: %v", failure)
}

// A hedging transport that stacks a few traces of its own on each copy (one
// for metrics, one for logs, one for a tracer...) pushed the transport's
// frame out of the 16 frames the guard read to tell an HTTP/1 connection,
// from 5 traces on: the copy on its own HTTP/1 connection was held instead
// of closed, and net/http writes an HTTP/1 request without looking at the
// context, so once let go (here, on a context detached from the request's)
// it wrote: 20 of 20 calls reached the API twice. It is closed before it
// writes, however many traces there are.
func TestHedgingTransportWithManyTracesSendsEachPOSTOnceOverHTTP1(t *testing.T) {
	t.Parallel()
	for _, traces := range []int{6, 40} {
		t.Run(fmt.Sprint(traces, " traces"), func(t *testing.T) {
			t.Parallel()
			counter, srv, transport := countingHTTP1(t)
			var running sync.WaitGroup
			assertEachPOSTOnce(t, srv.URL, &http.Client{
				Transport: copiesRT{next: transport, copies: 2, traces: traces, detach: true, running: &running}}, &running, counter)
		})
	}
}

// A server (or a CDN in front of it) may send 103 Early Hints before the
// answer. The guard read the hint's first byte as the first copy's answer
// arriving, and 250 ms later, the hedging transport having returned nothing
// yet, ended the attempt: it cancelled the copy that wrote, and 20 of 20
// calls failed as maybe sent although the API answered each.
func TestHedgingTransportOverHTTP2KeepsTheCopyThatWritesPastEarlyHints(t *testing.T) {
	t.Parallel()
	const calls = 20
	counter := &postCounter{seen: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		time.Sleep(3 * holdGrace)
		counter.handle(w, r)
	}))
	transport := startHTTP2(t, srv)
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: hedgingRT{next: transport}}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	succeeded, failure := createConcurrently(ctx, client, calls)
	srv.Close()
	assert.GreaterOrEqual(t, succeeded, calls*9/10, "calls that succeeded; a failure: %v", failure)
	assert.Zero(t, counter.duplicates(), "POSTs the server received twice")
}

// The hook that tells 103 Early Hints from the first copy's answer takes
// over net/http's bound on informational answers (a transport that
// reports them to a trace leaves bounding them to it): through a wrapping
// transport, a server that sends them without end holds the call no
// longer than a few of them, not to the attempt's timeout.
func TestWrappedTransportBoundsInformationalAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		for r.Context().Err() == nil {
			w.WriteHeader(http.StatusEarlyHints)
		}
	}))
	transport := startHTTP2(t, srv)
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithTimeout(3*time.Second),
		WithHTTPClient(&http.Client{Transport: passThroughRT{next: transport}}))
	require.NoError(t, err)
	_, err = client.KYA.Create(t.Context(), &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrMaybeSent)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the informational answers ran until the attempt's timeout")
}

// A hedging transport may give each copy a context derived from the
// request's that the request's end does not cancel (context.WithoutCancel):
// it keeps the SDK's trace, as the README asks of a wrapping transport.
// Over HTTP/2 the held copy, let go when the call had its answer, no longer
// saw a cancelled context and wrote the POST a second time: 20 of 20 calls
// were sent twice, over plain-text HTTP/2 (h2c) too. With a Timeout on the
// user's http.Client, which replaces the request's Cancel channel with one
// it stops watching once the answer was read, too.
func TestHedgedCopyWithADetachedContextIsNotSent(t *testing.T) {
	t.Parallel()
	http2 := func(t *testing.T, h http.Handler) (string, http.RoundTripper) {
		srv := httptest.NewUnstartedServer(h)
		return srv.URL, startHTTP2(t, srv)
	}
	for _, tc := range []struct {
		name          string
		start         func(*testing.T, http.Handler) (string, http.RoundTripper)
		clientTimeout time.Duration // of the user's http.Client
	}{
		{"http2", http2, 0},
		{"http2, http.Client with a Timeout", http2, time.Minute},
		{"h2c", func(t *testing.T, h http.Handler) (string, http.RoundTripper) {
			srv, transport := startH2C(t, h)
			return srv.URL, transport
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			counter := &postCounter{seen: map[string]int{}}
			url, transport := tc.start(t, http.HandlerFunc(counter.handle))
			var running sync.WaitGroup
			assertEachPOSTOnce(t, url, &http.Client{Timeout: tc.clientTimeout,
				Transport: copiesRT{next: transport, copies: 2, detach: true, running: &running}}, &running, counter)
		})
	}
}

// hedgedhttp's default use sends up to 3 copies of every request. The
// guard stopped an idempotent request at its third send in an attempt (a
// bound meant for net/http's own replays, which run on one goroutine), so
// every GET through such a transport failed, retries included: 10 of 10.
func TestHedgedGETsWithThreeCopiesSucceed(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"http1", "http2"} {
		for _, copies := range []int{3, 5} {
			t.Run(fmt.Sprintf("%s/%d copies", proto, copies), func(t *testing.T) {
				t.Parallel()
				h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte(`{"kya_id": 12, "address": "0x1", "data": {}, "sdnlist": [], "risk_score": 0}`))
				})
				var url string
				var transport http.RoundTripper
				if proto == "http1" {
					srv := httptest.NewServer(h)
					t.Cleanup(srv.Close)
					url, transport = srv.URL, baseTransport()
				} else {
					srv := httptest.NewUnstartedServer(h)
					transport = startHTTP2(t, srv)
					url = srv.URL
				}
				client, err := NewClient(testKey, WithBaseURL(url), WithRetryBackoff(time.Millisecond, 2*time.Millisecond),
					WithHTTPClient(&http.Client{Transport: copiesRT{next: transport, copies: copies}}))
				require.NoError(t, err)
				for range 10 {
					_, err := client.KYA.Get(t.Context(), 12)
					require.NoError(t, err)
				}
			})
		}
	}
}

// net/http's HTTP/2 transport replays a request whose stream the server
// resets with PROTOCOL_ERROR, with no limit. Through a wrapping transport
// too, the guard still bounds those replays of an idempotent request.
func TestWrappedTransportBoundsHTTP2ReplaysOfAGET(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	srv := newRawH2Server(t, h2ResetProtocol, &seen)
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithRetryBackoff(time.Millisecond, 2*time.Millisecond), WithMaxRetries(1),
		WithTimeout(5*time.Second), WithHTTPClient(&http.Client{Transport: copiesRT{next: srv.Client().Transport, copies: 1}}))
	require.NoError(t, err)
	err = client.Do(t.Context(), http.MethodGet, "/thing", nil, nil)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "replays ran until the attempt's timeout")
	assert.LessOrEqual(t, seen.Load(), int32(2*(maxSendsPerAttempt+1)), "requests the server read in 2 attempts")
}

// hedgedhttp returns the context's error as soon as the attempt's deadline
// passes, while its copies still run. A copy that had its connection but
// had not yet written its first byte when the SDK looked (a goroutine
// descheduled on a busy machine; here, a trace of the caller's that is
// slow in GotConn) then wrote the POST, and the call had already failed
// with a plain timeout: not ErrMaybeSent, so a caller following the docs
// sends it again.
func TestHedgerLeavingOnItsDeadlineReportsACopyWithAConnectionAsMaybeSent(t *testing.T) {
	t.Parallel()
	counter, srv, transport := countingHTTP1(t)
	var running sync.WaitGroup
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithTimeout(300*time.Millisecond), WithHTTPClient(&http.Client{
		Transport: copiesRT{next: transport, copies: 1, detach: true, leaveOnDone: true, running: &running}}))
	require.NoError(t, err)
	// The caller's own trace runs after the SDK's hooks: once the SDK let
	// the copy write, it holds the copy until the call is over.
	slow := make(chan struct{})
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { <-slow }})
	_, err = client.KYA.Create(ctx, &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
	close(slow)
	running.Wait()
	srv.Close()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrMaybeSent, "the server received %d POSTs", counter.count("0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"))
}

// The same transport, with a copy that gets its connection only after the
// attempt's deadline (a dialer that does not look at the context, and a
// copy rebuilt on a context detached from the attempt's): the SDK had
// already returned a plain timeout, and the copy then claimed the right to
// write and wrote the POST. A send that comes after its transport answered
// the SDK is stopped.
func TestHedgerLeavingOnItsDeadlineStopsACopyThatConnectsLate(t *testing.T) {
	t.Parallel()
	counter, srv, transport := countingHTTP1(t)
	dialed := make(chan struct{})
	transport.DialContext = func(_ context.Context, network, addr string) (net.Conn, error) {
		<-dialed // until the call returned, whatever the context
		return net.Dial(network, addr)
	}
	var running sync.WaitGroup
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithTimeout(200*time.Millisecond), WithHTTPClient(&http.Client{
		Transport: copiesRT{next: transport, copies: 1, detach: true, rebuild: true, leaveOnDone: true, running: &running}}))
	require.NoError(t, err)
	_, err = client.KYA.Create(t.Context(), &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
	close(dialed)
	running.Wait()
	srv.Close()
	require.Error(t, err)
	if !errors.Is(err, ErrMaybeSent) {
		assert.Zero(t, counter.count("0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"), "POSTs the server received after the call failed with %v", err)
	}
}

// BenchmarkKYACreateWrapped is KYA.Create through a pass-through wrapping
// transport over HTTP/1.1 and HTTP/2, against the SDK's own transport in
// the same run: the cost of guarding a POST whose sends may overlap.
//
//	go test -run '^$' -bench 'KYACreateWrapped' -benchmem -count 3 .
func BenchmarkKYACreateWrapped(b *testing.B) {
	body := benchFixture(b, "kya_result.json")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	for _, proto := range []string{"http1", "http2"} {
		srv := httptest.NewUnstartedServer(handler)
		srv.EnableHTTP2 = proto == "http2"
		srv.StartTLS()
		b.Cleanup(srv.Close)
		transport := srv.Client().Transport.(*http.Transport)
		b.Cleanup(transport.CloseIdleConnections)
		for name, rt := range map[string]http.RoundTripper{"sdk transport": transport, "wrapped": passThroughRT{next: transport}} {
			b.Run(proto+"/"+name, func(b *testing.B) {
				client, err := NewClient(testKey, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: rt}))
				require.NoError(b, err)
				req := &CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := client.KYA.Create(b.Context(), req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
