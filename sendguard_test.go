package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
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

// hedgingRT is a hedging transport, as github.com/cristalhq/hedgedhttp
// builds one: it sends a request once, and a second copy after delay (both
// at once for 0), or as soon as the first copy fails, unless the first has
// answered. Both copies share the request's context, and with it the SDK's
// trace; each gets the body, buffered once, and a GetBody that rewinds it,
// as a hedger must. It returns the first response, or an error when both
// copies failed; the answer of a copy that lost the race is discarded.
type hedgingRT struct {
	next    http.RoundTripper
	delay   time.Duration
	copies  *atomic.Int32 // counts the copies it sends, when set
	waitAll bool          // answer only once both copies are back
	// traced adds a trace of the transport's own to each copy, as
	// otelhttptrace does: httptrace composes its hooks with the SDK's.
	traced bool
	failed chan<- error // receives the error of each copy that failed, when set
	// ownContexts gives each copy a context of its own, derived from the
	// request's, and cancels the other copies' once it has an answer, as
	// hedgedhttp does.
	ownContexts bool
}

type hedgeOutcome struct {
	resp *http.Response
	err  error
	copy int // the copy's index among those with a context of their own
}

func (h hedgingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := bufferRequestBody(req)
	if err != nil {
		return nil, err
	}
	outcomes := make(chan hedgeOutcome, 2)
	var mu sync.Mutex
	var cancels []context.CancelFunc // of the copies' own contexts
	var send func()
	launch := func() {
		if h.copies != nil {
			h.copies.Add(1)
		}
		go send()
	}
	send = func() {
		ctx := req.Context()
		index := -1
		if h.ownContexts {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			mu.Lock()
			index, cancels = len(cancels), append(cancels, cancel)
			mu.Unlock()
		}
		if h.traced {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GotConn: func(httptrace.GotConnInfo) {}, WroteHeaderField: func(string, []string) {}})
		}
		copyReq := req.Clone(ctx)
		setBufferedBody(copyReq, body)
		resp, err := h.next.RoundTrip(copyReq)
		if err != nil && h.failed != nil {
			h.failed <- err
		}
		outcomes <- hedgeOutcome{resp, err, index}
	}
	launch()
	sent := 1
	if h.delay == 0 {
		launch()
		sent = 2
	}
	hedge := time.NewTimer(h.delay)
	defer hedge.Stop()
	var lastErr error
	var first *http.Response // the first answer, when waiting for all
	for received := 0; received < sent; {
		select {
		case <-hedge.C:
			if sent == 1 {
				launch()
				sent = 2
			}
		case o := <-outcomes:
			received++
			if o.err == nil && !h.waitAll {
				mu.Lock()
				for i, cancel := range cancels {
					if i != o.copy {
						cancel()
					}
				}
				mu.Unlock()
				go discard(outcomes, sent-received)
				return o.resp, nil
			}
			if o.err == nil {
				if first == nil {
					first = o.resp
				} else {
					_ = o.resp.Body.Close()
				}
				continue
			}
			lastErr = o.err
			if sent == 1 { // hedgedhttp sends the next copy as soon as one fails
				launch()
				sent = 2
			}
		}
	}
	if first != nil {
		return first, nil
	}
	return nil, lastErr
}

// discard closes the answers of the copies still running when they come.
func discard(outcomes <-chan hedgeOutcome, n int) {
	for range n {
		if o := <-outcomes; o.resp != nil {
			_, _ = io.Copy(io.Discard, o.resp.Body)
			_ = o.resp.Body.Close()
		}
	}
}

// postCounter is a fake POST /kya that counts, per address, the requests
// whose whole body it received, and answers each with a KYA result.
type postCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (p *postCounter) handle(w http.ResponseWriter, r *http.Request) {
	if address, ok := p.record(w, r); ok {
		p.answer(w, address)
	}
}

// record counts the request by its address, once its whole body arrived.
func (p *postCounter) record(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in CreateKYARequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return "", false
	}
	p.mu.Lock()
	p.seen[in.Address]++
	p.mu.Unlock()
	return in.Address, true
}

func (p *postCounter) answer(w http.ResponseWriter, address string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"kya_id": 12, "address": %q, "data": {}, "sdnlist": [], "risk_score": 0}`, address)
}

// count returns how many times address was received.
func (p *postCounter) count(address string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[address]
}

// duplicates returns how many requests the server received beyond the
// first of each address.
func (p *postCounter) duplicates() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.seen {
		n += c - 1
	}
	return n
}

// startHTTP2 starts srv over TLS with HTTP/2 and returns a transport that
// trusts it; both are closed when the test ends.
func startHTTP2(t *testing.T, srv *httptest.Server) http.RoundTripper {
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	transport := srv.Client().Transport
	t.Cleanup(transport.(*http.Transport).CloseIdleConnections)
	return transport
}

// hedgeVariant is one transport under the hedging transport.
type hedgeVariant struct {
	name  string
	start func(t *testing.T, h http.Handler) (*httptest.Server, http.RoundTripper)
	// How the hedging transport makes its copies (see hedgingRT).
	traced, ownContexts bool
}

func hedgeVariants() []hedgeVariant {
	http1 := func(keepAlive bool) func(*testing.T, http.Handler) (*httptest.Server, http.RoundTripper) {
		return func(t *testing.T, h http.Handler) (*httptest.Server, http.RoundTripper) {
			srv := httptest.NewServer(h)
			transport := baseTransport()
			transport.DisableKeepAlives = !keepAlive
			t.Cleanup(transport.CloseIdleConnections)
			return srv, transport
		}
	}
	http2 := func(t *testing.T, h http.Handler) (*httptest.Server, http.RoundTripper) {
		srv := httptest.NewUnstartedServer(h)
		return srv, startHTTP2(t, srv)
	}
	return []hedgeVariant{
		{name: "http1.1 keep-alive", start: http1(true)},
		{name: "http1.1 keep-alive, transport's own trace", start: http1(true), traced: true},
		{name: "http1.1 no keep-alive", start: http1(false)},
		{name: "http2", start: http2},
		{name: "http2, copies with contexts of their own", start: http2, ownContexts: true},
	}
}

// hedgedCalls is how many KYA.Create calls go through the hedging
// transport, from hedgeWorkers goroutines.
const (
	hedgedCalls  = 200
	hedgeWorkers = 4
)

// Issue 15, row 1: through a hedging transport, the API received the POST
// twice in up to 94 of 200 calls (both copies passed the guard before either
// had written), and with a 5 ms hedge every call failed as maybe sent (the
// guard cancelled the shared context, killing the copy that wrote). Exactly
// one copy may write; the other is stopped before its first byte without
// harming the one that writes. Run with -v for the figures.
func TestHedgingTransportSendsEachPOSTOnce(t *testing.T) {
	t.Parallel()
	for _, variant := range hedgeVariants() {
		for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/hedge after %v", variant.name, delay), func(t *testing.T) {
				t.Parallel()
				counter := &postCounter{seen: map[string]int{}}
				srv, transport := variant.start(t, http.HandlerFunc(counter.handle))
				var copies atomic.Int32
				client, err := NewClient(testKey, WithBaseURL(srv.URL),
					WithHTTPClient(&http.Client{Transport: hedgingRT{next: transport, delay: delay, copies: &copies, traced: variant.traced, ownContexts: variant.ownContexts}}))
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()

				var succeeded, maybeSent atomic.Int32
				var failures sync.Map // one error per kind, for the failure message
				jobs := make(chan int)
				var wg sync.WaitGroup
				for range hedgeWorkers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range jobs {
							address := fmt.Sprintf("0x%040x", i+1)
							res, err := client.KYA.Create(ctx, &CreateKYARequest{Address: address})
							if err != nil {
								if errors.Is(err, ErrMaybeSent) {
									maybeSent.Add(1)
								}
								failures.LoadOrStore(err.Error(), err)
								continue
							}
							assert.Equal(t, address, res.Address)
							succeeded.Add(1)
						}
					}()
				}
				for i := range hedgedCalls {
					jobs <- i
				}
				close(jobs)
				wg.Wait()
				srv.Close() // waits for every request the server got: a late copy would be counted

				t.Logf("%s, hedge after %v: %d of %d calls succeeded, %d failed as maybe sent, %d duplicates; %d copies sent",
					variant.name, delay, succeeded.Load(), hedgedCalls, maybeSent.Load(), counter.duplicates(), copies.Load())
				if delay == 0 {
					assert.Equal(t, int32(2*hedgedCalls), copies.Load(), "copies the hedging transport sent")
				}
				assert.Zero(t, counter.duplicates(), "POSTs the server received twice")
				assert.GreaterOrEqual(t, int(succeeded.Load()), hedgedCalls*95/100, "calls that succeeded")
				failures.Range(func(k, _ any) bool { t.Logf("failure: %s", k); return true })
			})
		}
	}
}

// Over HTTP/1 the copy that must not write is stopped at once, on its own
// connection, not held: net/http writes an HTTP/1 request without looking
// at the context, so a held copy let go when the call ends could still
// write. The server answers the first copy only once the second has failed.
func TestHedgingTransportStopsAnHTTP1CopyAtOnce(t *testing.T) {
	t.Parallel()
	counter := &postCounter{seen: map[string]int{}}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if address, ok := counter.record(w, r); ok {
			<-release
			counter.answer(w, address)
		}
	}))
	t.Cleanup(srv.Close)
	failed := make(chan error, 16)
	client, err := NewClient(testKey, WithBaseURL(srv.URL),
		WithHTTPClient(&http.Client{Transport: hedgingRT{next: baseTransport(), failed: failed}}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := client.KYA.Create(ctx, &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
		done <- err
	}()
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		t.Error("the second copy was not stopped before the first was answered")
	}
	close(release)
	require.NoError(t, <-done)
	srv.Close()
	assert.Zero(t, counter.duplicates(), "POSTs the server received twice")
}

// A held copy waits for the answer of the copy that writes, however long it
// takes, and no transport below can make the call wait for the held copy
// beyond that. Over HTTP/2 with answers slower than any grace of the guard,
// every call succeeds. With a server that takes 8 streams at a time, the
// streams it refuses before the client learned the limit are sent again by
// net/http's HTTP/2 transport (the hedger's copies can rewind their body):
// those calls fail at once as maybe sent, none waits for its deadline, and
// nothing is sent twice.
func TestHedgingTransportOverHTTP2WaitsForSlowAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		maxStreams int // of the server; 0 for its default
		allSucceed bool
	}{{"default streams", 0, true}, {"8 streams", 8, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const calls = 24
			counter := &postCounter{seen: map[string]int{}}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(3 * holdGrace)
				counter.handle(w, r)
			}))
			if tc.maxStreams > 0 {
				srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: tc.maxStreams}
			}
			transport := startHTTP2(t, srv)
			client, err := NewClient(testKey, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: hedgingRT{next: transport}}))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			errs := make(chan error, calls)
			for i := range calls {
				go func() {
					_, err := client.KYA.Create(ctx, &CreateKYARequest{Address: fmt.Sprintf("0x%040x", i+1)})
					errs <- err
				}()
			}
			for range calls {
				if err := <-errs; tc.allSucceed {
					assert.NoError(t, err)
				} else if err != nil {
					assert.ErrorIs(t, err, ErrMaybeSent)
					assert.NotErrorIs(t, err, context.DeadlineExceeded, "a call waited for its deadline")
				}
			}
			srv.Close()
			assert.Zero(t, counter.duplicates(), "POSTs the server received twice")
		})
	}
}

// A hedging transport that sends its second copy when the first failed,
// and one that waits for both copies before it answers, hold the call no
// longer than its attempt's timeout (WithTimeout): the guard ends the
// attempt as soon as it sees the first copy over (its answer began, its
// stream ended, its connection closed); a stream reset on a connection that
// stays open shows nothing, and the timeout ends it. Nothing is sent twice.
func TestHedgingTransportHoldsTheCallNoLongerThanItsTimeout(t *testing.T) {
	t.Parallel()
	for serverName, start := range replayServers() {
		for _, waitAll := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/wait for all=%v", serverName, waitAll), func(t *testing.T) {
				t.Parallel()
				env := &faultEnv{}
				start(t, env)
				base := env.transport(t)
				delay := time.Hour // the second copy goes when the first failed
				if waitAll {
					delay = 0
				}
				client, err := NewClient(testKey, WithBaseURL(env.url), WithRetryBackoff(time.Millisecond, 2*time.Millisecond),
					WithTimeout(2*time.Second), WithHTTPClient(&http.Client{Transport: hedgingRT{next: base, delay: delay, waitAll: waitAll}}))
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				_, err = client.KYA.Create(ctx, &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
				assert.Equal(t, int32(1), env.seen.Load(), "the server read the paid POST's body more than once")
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMaybeSent)
				assert.NoError(t, ctx.Err(), "the call outlived its attempt's timeout")
			})
		}
	}
}

// Issue 15, row 9: a user's retrying transport re-sent a POST that got a
// 500 over HTTP/2, and the guard closed the shared connection: six calls of
// other callers in flight on it failed as maybe sent, although the server
// had processed them. The re-send is stopped without touching the
// connection.
func TestRetryingTransportOverHTTP2LeavesOtherCallsAlone(t *testing.T) {
	t.Parallel()
	const others = 6
	const victim = "0x00000000000000000000000000000000000000ff"
	counter := &postCounter{seen: map[string]int{}}
	arrived := make(chan struct{}, others)
	release := make(chan struct{})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		address, ok := counter.record(w, r)
		switch {
		case !ok:
			return
		case address == victim:
			status(http.StatusInternalServerError)(w, r, 0)
			return
		}
		arrived <- struct{}{}
		select { // the others wait until the victim's call is over
		case <-release:
		case <-r.Context().Done():
			return
		}
		counter.answer(w, address)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	transport := startHTTP2(t, srv)
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: retryOnceRT{next: transport}}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// One connection first, so that every call below shares it.
	require.NoError(t, client.Do(ctx, http.MethodGet, "/warm", nil, nil))

	errs := make(chan error, others)
	for i := range others {
		go func() {
			_, err := client.KYA.Create(ctx, &CreateKYARequest{Address: fmt.Sprintf("0x%040x", i+1)})
			errs <- err
		}()
	}
	for range others {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("the other calls never reached the server")
		}
	}
	_, err = client.KYA.Create(ctx, &CreateKYARequest{Address: victim})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrMaybeSent)
	close(release)
	for range others {
		assert.NoError(t, <-errs, "a call of another caller on the shared connection")
	}
	assert.Equal(t, 1, counter.count(victim), "the server received the re-sent POST")
	assert.Equal(t, int32(1), conns.Load(), "connections: every call shared one")
}

// Attacks on the send guard (issue 15, item 1): transports and servers that
// the first pass did not try. Each test that tries one failed before its
// fix; the Bounds tests keep a fix from lifting a bound net/http had.

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
