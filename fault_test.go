package kryptogo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sdkTransportTrusting returns a client on the SDK's own transport that
// trusts srv's certificate.
func sdkTransportTrusting(t *testing.T, srv *httptest.Server, opts ...Option) *Client {
	t.Helper()
	client, err := NewClient(testKey, append([]Option{WithBaseURL(srv.URL), WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	client.httpClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// usersClient returns a client on the caller's own *http.Client (as with
// otelhttp): the SDK must keep net/http from replaying a POST there too.
func usersClient(t *testing.T, srv *httptest.Server, opts ...Option) *Client {
	t.Helper()
	client, err := NewClient(testKey, append([]Option{WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	return client
}

// Issue 8, item 1: with GetBody on a POST, net/http's HTTP/2 transport
// re-sent a request whose stream was reset after the server read it.
func TestPOSTIsNeverReplayedByHTTP2(t *testing.T) {
	t.Parallel()
	for _, transport := range []struct {
		name string
		new  func(*testing.T, *httptest.Server, ...Option) *Client
	}{{"sdk transport", sdkTransportTrusting}, {"user's http.Client", usersClient}} {
		for _, retries := range []int{0, DefaultMaxRetries} {
			t.Run(transport.name+"/retries="+string(rune('0'+retries)), func(t *testing.T) {
				var seen atomic.Int32
				srv := newRawH2Server(t, h2ResetProtocol, &seen)
				client := transport.new(t, srv, WithMaxRetries(retries))
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				defer cancel()
				_, err := client.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
				require.Error(t, err)
				assert.Equal(t, int32(1), seen.Load(), "a paid POST reached the server more than once")
				assert.ErrorIs(t, err, ErrMaybeSent)
				assert.Contains(t, err.Error(), "check before sending it again")
			})
		}
	}
}

func TestPOSTHasNoGetBody(t *testing.T) {
	t.Parallel()
	c := offlineClient(t)
	for method, want := range map[string]bool{"POST": false, "PUT": true, "GET": true} {
		t.Run(method, func(t *testing.T) {
			req, err := c.newRequest(t.Context(), c.cfg.userAgent, method, c.base, bytesBody([]byte(`{}`)))
			require.NoError(t, err)
			assert.Equal(t, want, req.GetBody != nil, method)
		})
	}
}

// faultEnv is one server of the fault matrix: where it listens, what the
// client needs to reach it, and how many requests reached it.
type faultEnv struct {
	seen  atomic.Int32 // requests whose body the server read (or connections, where none gets that far)
	other atomic.Int32 // requests that reached another origin
	url   string
	opts  []Option
	// warm asks for a request to warmPath before the faulty call: the TLS
	// handshake of an HTTP/2 server must not eat a row's 100 ms attempt
	// timeout or 200 ms deadline on a loaded machine.
	warm bool
}

// warmPath is answered 204 by the counted servers, and not counted.
const warmPath = "/warm-up"

// transport returns the transport that reaches the server: the TLS servers
// hand over a client that trusts them.
func (env *faultEnv) transport(t *testing.T) http.RoundTripper {
	base := http.DefaultTransport
	for _, o := range env.opts {
		var s settings
		require.NoError(t, o(&s))
		base = s.httpClient.Transport
	}
	return base
}

// faultHandler answers the n-th request (from 1) the server saw.
type faultHandler func(w http.ResponseWriter, r *http.Request, n int32)

// serveCounted starts an httptest server over HTTP/1 or HTTP/2 (TLS) whose
// handler counts each request once its body has arrived.
func serveCounted(proto string, h faultHandler) func(*testing.T, *faultEnv) {
	return func(t *testing.T, env *faultEnv) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.URL.Path == warmPath {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h(w, r, env.seen.Add(1))
		}))
		if proto == "http2" {
			srv.EnableHTTP2 = true
			srv.StartTLS()
			env.opts = append(env.opts, WithHTTPClient(srv.Client()))
			env.warm = true
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		env.url = srv.URL
	}
}

// abortStream ends the handler so that the server resets the HTTP/2 stream
// (RST_STREAM INTERNAL_ERROR) or closes the HTTP/1 connection.
func abortStream(http.ResponseWriter, *http.Request, int32) { panic(http.ErrAbortHandler) }

func status(code int, header ...string) faultHandler {
	return func(w http.ResponseWriter, _ *http.Request, _ int32) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"message":"nope"}`))
	}
}

func body(contentType, text string) faultHandler {
	return func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(text))
	}
}

// dialing starts nothing: the client's dialer fails with err, or dials a
// closed port when err is nil, and each dial counts as a request seen.
func dialing(err error) func(*testing.T, *faultEnv) {
	return func(t *testing.T, env *faultEnv) {
		env.url = "http://" + refusingAddr(t) // every dial is refused
		transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			env.seen.Add(1)
			if err != nil {
				return nil, err
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		env.opts = append(env.opts, WithHTTPClient(&http.Client{Transport: transport}))
	}
}

func rawH2(fault h2Fault) func(*testing.T, *faultEnv) {
	return func(t *testing.T, env *faultEnv) {
		srv := newRawH2Server(t, fault, &env.seen)
		env.url = srv.URL
		env.opts = append(env.opts, WithHTTPClient(srv.Client()))
	}
}

// untrustedTLS is a TLS server whose certificate the client does not trust;
// it counts connections, since no request gets through the handshake.
func untrustedTLS(t *testing.T, env *faultEnv) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			env.seen.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	env.url = srv.URL
}

func crossOriginRedirect(t *testing.T, env *faultEnv) {
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { env.other.Add(1) }))
	t.Cleanup(other.Close)
	serveCounted("http1", func(w http.ResponseWriter, r *http.Request, _ int32) {
		http.Redirect(w, r, other.URL+"/upload", http.StatusTemporaryRedirect)
	})(t, env)
}

// is checks that err matches every target, and ErrMaybeSent exactly when
// maybeSent says so for the method.
func is(maybeSent func(method string) bool, targets ...error) func(*testing.T, string, error) {
	return func(t *testing.T, method string, err error) {
		require.Error(t, err)
		for _, target := range targets {
			assert.ErrorIs(t, err, target)
		}
		assert.Equal(t, maybeSent(method), errors.Is(err, ErrMaybeSent), "ErrMaybeSent: %v", err)
	}
}

func postOnly(method string) bool { return method == http.MethodPost }
func never(string) bool           { return false }

// waits checks the waits the client asked its sleep hook for.
func waits(lo, hi time.Duration) func(*testing.T, []time.Duration) {
	return func(t *testing.T, slept []time.Duration) {
		for _, d := range slept {
			assert.GreaterOrEqual(t, d, lo)
			assert.LessOrEqual(t, d, hi)
		}
	}
}

type faultRow struct {
	name     string
	start    func(*testing.T, *faultEnv) // when nil, serve runs over HTTP/1 and HTTP/2
	serve    faultHandler
	opts     []Option
	deadline time.Duration // of the call's context; 0 for 10 s
	now      time.Time     // the client's clock; zero for the real one
	idem     [2]int32      // requests a GET or PUT may cause: at least, at most
	post     int32         // requests a POST causes
	check    func(t *testing.T, method string, err error)
	waits    func(*testing.T, []time.Duration)
	maxTime  time.Duration // 0 for 5 s; generous: CI has 2 slow shared cores
}

var faultNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func faultRows() []faultRow {
	notFound := &net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}
	storm := func(w http.ResponseWriter, r *http.Request, n int32) {
		if n <= 2 {
			status(http.StatusServiceUnavailable)(w, r, n)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}
	return []faultRow{
		{name: "refused", start: dialing(nil), idem: [2]int32{3, 3}, post: 3, check: is(never, syscall.ECONNREFUSED)},
		{name: "DNS no such host", start: dialing(notFound), idem: [2]int32{1, 1}, post: 1, check: is(never)},
		{name: "reset before the answer", start: serveCounted("http1", func(w http.ResponseWriter, r *http.Request, _ int32) { dropAfterRequest(w, r) }),
			idem: [2]int32{3, 6}, post: 1, check: is(postOnly, io.EOF)},
		{name: "reset before the answer/http2", start: serveCounted("http2", abortStream), idem: [2]int32{3, 3}, post: 1, check: is(postOnly)},
		{name: "reset mid-body", start: serveCounted("http1", func(w http.ResponseWriter, r *http.Request, _ int32) { dropMidResponse(w, r) }),
			idem: [2]int32{3, 3}, post: 1, check: is(postOnly, io.ErrUnexpectedEOF)},
		{name: "reset mid-body/http2", start: serveCounted("http2", func(w http.ResponseWriter, r *http.Request, n int32) {
			_, _ = w.Write([]byte(`{"kya_id": 12, "addr`))
			w.(http.Flusher).Flush()
			abortStream(w, r, n)
		}), idem: [2]int32{3, 3}, post: 1, check: is(postOnly)},
		{name: "truncated (Content-Length larger than the body)", serve: func(w http.ResponseWriter, _ *http.Request, _ int32) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte(`{}`))
		}, idem: [2]int32{3, 3}, post: 1, check: is(postOnly)},
		{name: "headers never come", serve: func(_ http.ResponseWriter, r *http.Request, _ int32) { <-r.Context().Done() },
			opts: []Option{WithTimeout(100 * time.Millisecond)}, idem: [2]int32{3, 3}, post: 1, check: is(postOnly, context.DeadlineExceeded)},
		{name: "http2 RST_STREAM PROTOCOL_ERROR after the body", start: rawH2(h2ResetProtocol), opts: []Option{WithTimeout(2 * time.Second)},
			idem: [2]int32{3, 6}, post: 1, check: is(postOnly)},
		{name: "http2 GOAWAY after the body", start: rawH2(h2GoAwayClose), idem: [2]int32{3, 3}, post: 1, check: is(postOnly)},
		{name: "deadline shorter than the backoff", serve: status(http.StatusServiceUnavailable), opts: []Option{WithRetryBackoff(time.Second, 2*time.Second)},
			deadline: 200 * time.Millisecond, idem: [2]int32{1, 1}, post: 1, check: is(postOnly, ErrServerError), maxTime: time.Second},
		{name: "429 Retry-After seconds", serve: status(http.StatusTooManyRequests, "Retry-After", "1"),
			idem: [2]int32{3, 3}, post: 3, check: is(never, ErrRateLimited), waits: waits(time.Second, time.Second)},
		{name: "429 Retry-After HTTP date", serve: status(http.StatusTooManyRequests, "Retry-After", faultNow.Add(2*time.Second).Format(http.TimeFormat)),
			now: faultNow, idem: [2]int32{3, 3}, post: 3, check: is(never, ErrRateLimited), waits: waits(2*time.Second, 2*time.Second)},
		{name: "429 Retry-After 0", serve: status(http.StatusTooManyRequests, "Retry-After", "0"),
			idem: [2]int32{3, 3}, post: 3, check: is(never, ErrRateLimited), waits: waits(time.Millisecond, time.Millisecond)},
		{name: "429 Retry-After garbage", serve: status(http.StatusTooManyRequests, "Retry-After", "soon-ish"),
			idem: [2]int32{3, 3}, post: 3, check: is(never, ErrRateLimited), waits: waits(time.Millisecond, 5*time.Millisecond)},
		{name: "5xx storm that ends", serve: storm, idem: [2]int32{3, 3}, post: 1, check: func(t *testing.T, method string, err error) {
			if method == http.MethodPost {
				is(postOnly, ErrServerError)(t, method, err)
				return
			}
			assert.NoError(t, err)
		}},
		{name: "5xx that never ends", serve: status(http.StatusBadGateway), idem: [2]int32{3, 3}, post: 1, check: is(postOnly, ErrServerError)},
		{name: "2xx invalid JSON", serve: body("application/json", `{"kya_id": 1,`), idem: [2]int32{1, 1}, post: 1, check: is(postOnly, ErrInvalidResponse)},
		{name: "2xx HTML", serve: body("text/html", "<html><title>Login</title></html>"), idem: [2]int32{1, 1}, post: 1, check: is(postOnly, ErrInvalidResponse)},
		{name: "2xx empty", serve: body("application/json", ""), idem: [2]int32{1, 1}, post: 1, check: is(postOnly, ErrInvalidResponse)},
		{name: "2xx over the cap", serve: body("application/json", `{"x":"`+strings.Repeat("a", 4096)+`"}`), opts: []Option{WithMaxResponseBytes(1024)},
			idem: [2]int32{1, 1}, post: 1, check: is(postOnly, ErrInvalidResponse)},
		{name: "untrusted TLS", start: untrustedTLS, idem: [2]int32{1, 1}, post: 1, check: func(t *testing.T, method string, err error) {
			is(never)(t, method, err)
			var certErr *tls.CertificateVerificationError
			assert.ErrorAs(t, err, &certErr)
		}},
		{name: "cross-origin redirect", start: crossOriginRedirect, idem: [2]int32{1, 1}, post: 1, check: func(t *testing.T, method string, err error) {
			is(postOnly)(t, method, err) // the API answered the POST: it may have acted
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, http.StatusTemporaryRedirect, apiErr.StatusCode)
		}},
	}
}

// TestFaultMatrix runs GET, PUT and POST against every fault, over HTTP/1
// and HTTP/2, and checks how many requests the server saw (a POST whose
// body was read never twice), the error class and the time spent.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	for _, row := range faultRows() {
		starts := map[string]func(*testing.T, *faultEnv){"": row.start}
		if row.start == nil {
			starts = map[string]func(*testing.T, *faultEnv){"/http1": serveCounted("http1", row.serve), "/http2": serveCounted("http2", row.serve)}
		}
		for proto, start := range starts {
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPost} {
				t.Run(row.name+proto+"/"+method, func(t *testing.T) {
					t.Parallel()
					runFault(t, row, start, method)
				})
			}
		}
	}
}

func runFault(t *testing.T, row faultRow, start func(*testing.T, *faultEnv), method string) {
	env := &faultEnv{}
	start(t, env)
	opts := append([]Option{WithBaseURL(env.url), WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, env.opts...)
	client, err := NewClient(testKey, append(opts, row.opts...)...)
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	if env.warm {
		require.NoError(t, client.Do(t.Context(), http.MethodGet, warmPath, nil, nil, WithTimeout(30*time.Second)))
	}
	slept := recordWaits(client, row.now)
	deadline := cmp.Or(row.deadline, 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	var in any
	if method != http.MethodGet {
		in = map[string]string{"name": "A"}
	}
	began := time.Now()
	err = client.Do(ctx, method, "/thing", in, new(json.RawMessage))
	elapsed := time.Since(began)

	row.check(t, method, err)
	least, most := row.idem[0], row.idem[1]
	if method == http.MethodPost {
		least, most = row.post, row.post
	}
	// An attempt that timed out may reach the handler only after the call
	// returned (its bytes wait in the server's socket): on a loaded machine,
	// wait for the count rather than read it once.
	reached := func() bool { return env.seen.Load() >= least }
	assert.Eventually(t, reached, 5*time.Second, 5*time.Millisecond, "requests seen: %d, want at least %d", env.seen.Load(), least)
	assert.LessOrEqual(t, env.seen.Load(), most, "requests seen")
	assert.Zero(t, env.other.Load(), "requests that reached another origin")
	assert.Less(t, elapsed, cmp.Or(row.maxTime, 5*time.Second))
	if row.waits != nil {
		row.waits(t, slept.list())
	}
}

// sleepLog records the waits a client asked for; it sleeps 1 ms at most,
// so Retry-After rows take no real seconds.
type sleepLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepLog) list() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func recordWaits(c *Client, now time.Time) *sleepLog {
	log := &sleepLog{}
	if !now.IsZero() {
		c.now = func() time.Time { return now }
	}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		log.mu.Lock()
		log.waits = append(log.waits, d)
		log.mu.Unlock()
		return sleepContext(ctx, min(d, time.Millisecond))
	}
	return log
}

// retryOnceRT is a user's retry middleware in the go-retryablehttp style:
// it buffers the body and re-sends once on a 5xx or a transport error.
type retryOnceRT struct{ next http.RoundTripper }

func (rt retryOnceRT) RoundTrip(req *http.Request) (*http.Response, error) {
	var buf []byte
	if req.Body != nil {
		buf, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	for i := 0; ; i++ {
		again := req.Clone(req.Context())
		if buf != nil {
			again.Body = io.NopCloser(bytes.NewReader(buf))
			again.ContentLength = int64(len(buf))
		}
		resp, err := rt.next.RoundTrip(again)
		if i == 0 && (err != nil || resp.StatusCode >= 500) {
			if resp != nil {
				_ = resp.Body.Close()
			}
			continue
		}
		return resp, err
	}
}

// paidCalls are the POSTs of the typed surface, each with a valid request.
func paidCalls(t *testing.T) map[string]func(context.Context, *Client) error {
	face := testPNG(t, 400, 400)
	return map[string]func(context.Context, *Client) error{
		"Tasks.Create": func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget("John Doe", "1990-01-02", "TWN")}})
			return err
		},
		"IDV.Create": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "JPN", IDType: IDTypePassport,
				IDImage: ImageFromBytes(face), FaceImage: ImageFromBase64(b64(face))})
			return err
		},
		"Tasks.Accept": func(ctx context.Context, c *Client) error { _, err := c.Tasks.Accept(ctx, 3, "ok"); return err },
		"KYA.Create": func(ctx context.Context, c *Client) error {
			_, err := c.KYA.Create(ctx, &CreateKYARequest{Address: "0x72a5000000000000000000000000000000000000"})
			return err
		},
		"IDV.InitWeb": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: 100, CustomerReference: "c1"})
			return err
		},
		"IDV.InitMobile": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", CustomerReference: "c1"})
			return err
		},
	}
}

// replayServers are servers that read a POST's whole body and then fail in
// a way a retrying layer below the SDK would answer by re-sending it.
func replayServers() map[string]func(*testing.T, *faultEnv) {
	rstAfterBody := func(proto string) func(*testing.T, *faultEnv) {
		return serveCounted(proto, func(w http.ResponseWriter, r *http.Request, n int32) {
			if proto == "http1" {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
			abortStream(w, r, n)
		})
	}
	return map[string]func(*testing.T, *faultEnv){
		"502 then 200": serveCounted("http1", func(w http.ResponseWriter, _ *http.Request, n int32) {
			if n == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			_, _ = w.Write([]byte(`[{"task_id":7}]`))
		}),
		"http1 reset after the body": rstAfterBody("http1"),
		"http2 reset after the body": rstAfterBody("http2"),
		"http2 RST PROTOCOL_ERROR":   rawH2(h2ResetProtocol),
		"http2 GOAWAY":               rawH2(h2GoAwayClose),
	}
}

// Review of issue 8, finding 2: a user's retrying RoundTripper re-sent a
// paid POST, since the send guard allowed two sends of every method.
func TestUserRetryingTransportNeverReplaysAPOST(t *testing.T) {
	t.Parallel()
	for serverName, start := range replayServers() {
		for callName, call := range paidCalls(t) {
			t.Run(serverName+"/"+callName, func(t *testing.T) {
				t.Parallel()
				env := &faultEnv{}
				start(t, env)
				client, err := NewClient(testKey, WithBaseURL(env.url), WithRetryBackoff(time.Millisecond, 2*time.Millisecond),
					WithHTTPClient(&http.Client{Transport: retryOnceRT{next: env.transport(t)}}))
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				err = call(ctx, client)
				assert.Equal(t, int32(1), env.seen.Load(), "the server read the paid POST's body more than once")
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMaybeSent)
			})
		}
	}
}
