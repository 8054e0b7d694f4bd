// Package kryptogo is a client for the KryptoGO Compliance (KYABC) API:
// blockchain address screening (KYA), due-diligence search tasks on people
// and companies (KYC/KYB), identity document verification (IDV), and the
// callbacks that report their results.
//
//	client, err := kryptogo.NewClientFromEnv() // KRYPTOGO_API_KEY
//	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x72a5…"})
//
// Every method validates its request before sending it: a broken rule of the
// API reference is a *ValidationError (errors.Is(err, ErrInvalidRequest)) and
// no request leaves the process. A non-2xx answer is an *APIError, matched
// with errors.Is against ErrUnauthorized, ErrNotFound, ErrConflict,
// ErrRateLimited and ErrServerError.
//
// # Retries
//
// GET and PUT are retried on network errors and on 429, 500, 502, 503 and
// 504. POST creates tasks that cost points and has no idempotency key, so it
// is retried only when the request provably did not reach the API: on 429,
// and when the connection failed before any byte was written. Waits use
// exponential backoff with jitter, honour Retry-After, and never run past the
// context's deadline. Every call of a client shares one retry budget
// (WithRetryBudget), and a 429's Retry-After pauses every call of the client,
// not only the one that got it. No layer below the SDK writes a POST twice
// either, provided a RoundTripper of yours passes the request's context on
// (see WithHTTPClient).
//
// # Callbacks
//
// KryptoGO POSTs a DD task's summary to the task's callback_url when the
// task completes and each time its accepted status changes, and an IDV task
// to the IDV task's callback_url when verification completes. The vendor
// signs nothing and publishes no source addresses, so a callback body is an
// unauthenticated claim. The SDK authenticates callbacks in two layers:
//
//  1. A CallbackSigner signs the callback URL you hand to the API for one
//     customer (SignURL(url, customerReference)), over its host, path and
//     query. A request to an unsigned or altered URL is refused, and the
//     handler delivers only records whose customer_reference is the URL's.
//  2. With CallbackHandler.Confirm set, the handler ignores what the body
//     claims and passes on the record re-fetched from the API by its id,
//     after checking it is the body's record. With both, someone who learned
//     a signed URL can at most re-deliver that customer's current records.
//
// # Duplicate and out-of-order callbacks
//
// Deliveries repeat (a sender retries on any non-2xx answer) and arrive out
// of order. One DD task calls back when it completes and again whenever its
// accepted status changes, possibly weeks apart, and that status can change
// more than once (undecided, then accepted, then changed in the console).
// Make handlers idempotent: record CallbackEvent.Key and skip a key already
// processed. Do not let an older callback overwrite newer state: compare
// TaskSummary.UpdateTime (IDVTask.AuditTimestamp) with what you stored, or
// use Confirm, which always hands you the current record whatever order the
// notices came in.
//
// # Secrets and personal data
//
// The API key is sent only in its header, to the API's host: never in an
// error, a log record or the printed form of a Client. A redirect to another
// host is not followed at all, since the body would go along with it.
// WithLogger logs no bodies and no query strings,
// so names, ID numbers and images never reach a log.
package kryptogo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kyabc/kryptogo-go/internal/backoff"
	"github.com/kyabc/kryptogo-go/internal/redact"
)

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.3.0"

// maxRetryAfter is the longest Retry-After the SDK sleeps through; a longer
// one ends the call with the *APIError, whose RetryAfter tells the caller
// when to come back.
const maxRetryAfter = time.Minute

// Environment variables read by NewClientFromEnv.
const (
	EnvAPIKey  = "KRYPTOGO_API_KEY"
	EnvBaseURL = "KRYPTOGO_BASE_URL"
)

// Client calls the KryptoGO Compliance API. It is safe for concurrent use by
// many goroutines; create one and share it.
type Client struct {
	// KYA screens blockchain addresses.
	KYA *KYAService
	// Tasks creates and manages due-diligence (KYC/KYB) search tasks.
	Tasks *TaskService
	// IDV verifies identity documents.
	IDV *IDVService

	creds      *credentials
	base       *url.URL
	httpClient *http.Client
	cfg        callConfig // what a call uses unless it is given options
	flow       *flow      // retry budget and 429 pause, shared by every call
	// confirms are the confirmation requests of the CallbackHandlers whose
	// Confirm is this client: they spend its key, so they are bounded here.
	confirms *confirmations
	// blindWarned is set once the client warned that its transport hides
	// requests from the send guard (a pointer: Client is copied by value).
	blindWarned *atomic.Bool

	// Test hooks: how to wait, and what time it is.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// credentials hold the key behind a function: fmt and other reflection
// print a func as an address, so no printing of a Client, of a struct that
// holds one, or of its fields can reach the key. So does the masker of the
// key alone, built on first use and shared by the calls that send no
// personal value (see Client.scrubber).
type credentials struct {
	header    string
	canonical string // header as a key of http.Header

	key     func() string
	keyMask func() *redact.Matcher
}

func newCredentials(header, key string) *credentials {
	return &credentials{header: header, canonical: http.CanonicalHeaderKey(header), key: func() string { return key },
		keyMask: sync.OnceValue(func() *redact.Matcher { return redact.New(key) })}
}

// service is what every resource service holds: the client that sends its
// requests (go-github's pattern; the services differ only in methods).
type service struct {
	client *Client
}

// NewClient returns a client that authenticates with apiKey.
//
// The key is masked in every error and log record the client produces, in
// every spelling the SDK knows (raw, JSON, HTML, URL and base64 encoded).
// For a very short key (a few characters) the masking is best-effort: it
// still masks each occurrence, but a key that short also occurs by chance
// in ordinary text, and such a key is guessable anyway.
func NewClient(apiKey string, opts ...Option) (*Client, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return nil, errors.New("kryptogo: NewClient: empty API key")
	}
	if !validHeaderValue(apiKey) {
		return nil, errors.New("kryptogo: NewClient: the API key holds control characters")
	}
	s := defaultSettings()
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(s.baseURL, s.insecureHTTP)
	if err != nil {
		return nil, err
	}
	c := &Client{
		creds:       newCredentials(s.keyHeader, apiKey),
		base:        base,
		cfg:         s.callConfig,
		flow:        newFlow(s.retryBudget),
		confirms:    newConfirmations(),
		blindWarned: new(atomic.Bool),
		sleep:       sleepContext,
		now:         time.Now,
	}
	c.httpClient = c.guardedHTTPClient(s.httpClient)
	c.KYA = &KYAService{client: c}
	c.Tasks = &TaskService{client: c}
	c.IDV = &IDVService{client: c}
	return c, nil
}

// NewClientFromEnv returns a client whose key comes from KRYPTOGO_API_KEY
// and whose base URL comes from KRYPTOGO_BASE_URL when that is set. Options
// given here override the environment.
func NewClientFromEnv(opts ...Option) (*Client, error) {
	key := os.Getenv(EnvAPIKey)
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("kryptogo: NewClientFromEnv: %s is not set", EnvAPIKey)
	}
	if base := os.Getenv(EnvBaseURL); base != "" {
		opts = append([]Option{WithBaseURL(base)}, opts...)
	}
	return NewClient(key, opts...)
}

// BaseURL returns the base URL requests are sent to.
func (c *Client) BaseURL() string { return c.base.String() }

// String describes the client without its API key.
func (c Client) String() string {
	return fmt.Sprintf("kryptogo.Client{BaseURL: %q, APIKey: %q}", c.base.String(), "[REDACTED]")
}

// GoString is String, so %#v does not print the API key either.
func (c Client) GoString() string { return c.String() }

// Format prints String for every verb (%v, %+v, %#v, %s, %q, %x…), so no
// verb can reach the API key by reflection.
func (c Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the client as its base URL only.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.base.String()))
}

func parseBaseURL(raw string, insecureOK bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("kryptogo: base URL %q must be an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return nil, errors.New("kryptogo: the base URL must not carry credentials")
	}
	if u.Scheme == "http" && !insecureOK && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("kryptogo: base URL %q is plain http on a non-loopback host; use https, or WithInsecureHTTP()", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func userAgent(product string) string {
	ua := "kryptogo-go/" + Version + " (" + runtime.Version() + ")"
	if product != "" {
		ua = product + " " + ua
	}
	return ua
}

// defaultIdleConns is how many idle connections the default transport
// keeps, per host and in all: more than the callers a client will have.
const defaultIdleConns = 1024

// defaultTransport is tuned for many concurrent calls to one host: net/http's
// default keeps only 2 idle connections per host, so a burst of screenings
// would open and close connections all the time. A pool smaller than the
// callers also makes them dial more connections than there are callers:
// net/http puts a connection back in the pool just after its caller read
// the answer, so a caller that comes back at once dials a new one, and a
// full pool closes the spare connection instead of keeping it for the next
// such race. Keeping every connection bounds N callers to N connections.
func defaultTransport() *http.Transport {
	t := baseTransport()
	t.MaxIdleConns = defaultIdleConns
	t.MaxIdleConnsPerHost = defaultIdleConns
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 0 // bounded per attempt by WithTimeout
	return t
}

// baseTransport clones net/http's default transport (proxy from the
// environment, dial timeouts, HTTP/2). Instrumentation and mocking libraries
// replace http.DefaultTransport with their own RoundTripper; the SDK then
// builds the same defaults itself rather than wrap theirs or panic.
func baseTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
}

// guardedHTTPClient returns a copy of hc (or a new client) whose redirect
// policy never follows a redirect to another origin: net/http would forward
// the body (images, names) there, and custom headers too. No redirect sends
// a Referer, which would leak the query (a customer reference). A client
// without a transport gets the SDK's tuned one rather than net/http's default.
func (c *Client) guardedHTTPClient(hc *http.Client) *http.Client {
	var guarded http.Client
	if hc != nil {
		guarded = *hc
	}
	if guarded.Transport == nil {
		guarded.Transport = defaultTransport()
	}
	if _, sequential := guarded.Transport.(*http.Transport); !sequential && guarded.Timeout > 0 {
		guarded.Transport = cancelRelay{next: guarded.Transport}
	}
	next := guarded.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		req.Header.Del("Referer")
		if guard, ok := req.Context().Value(guardKey{}).(*sendGuard); ok {
			guard.redirected()
		}
		// The 3xx becomes an *APIError. Another origin would receive the body
		// (images, names); a POST's redirect would be re-sent as a GET whose
		// answer the SDK would read as the receipt of a paid task.
		if !sameOrigin(req.URL, c.base) || via[0].Method == http.MethodPost {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &guarded
}

// CloseIdleConnections closes the idle connections of the client's
// transport, for a short-lived Client; calls in flight are not affected.
func (c *Client) CloseIdleConnections() { c.httpClient.CloseIdleConnections() }

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// Do sends a request to any endpoint, with the client's auth, retries and
// error handling: the escape hatch for what the typed methods lack, such as
// the Sumsub variant of POST /idv/init.
//
// path is relative to the base URL and may carry a query ("/tasks?page_size=10").
// body is nil for none, json.RawMessage or []byte to send as is, or any value
// to encode as JSON. out is nil to discard the answer, *json.RawMessage to
// keep it raw, or a pointer to decode the JSON answer into. opts override
// the client's options for this call (see Option).
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...Option) error {
	if !strings.HasPrefix(path, "/") {
		return invalid("path", "must start with /")
	}
	if !validHeaderName(method) {
		return invalid("method", "is not an HTTP method token")
	}
	// A typed nil pointer passes a Kind check but cannot be decoded into:
	// refuse it before a (maybe paid) request is sent.
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return invalid("out", "must be nil or a non-nil pointer, got %T", out)
	}
	pathOnly, rawQuery, _ := strings.Cut(path, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return invalid("path", "has a query that does not parse")
	}
	var rb *requestBody
	switch b := body.(type) {
	case nil:
	case json.RawMessage:
		rb = rawBody(b)
	case []byte:
		rb = rawBody(b)
	default:
		if rb, err = jsonBody(body); err != nil {
			return err
		}
	}
	cfg, err := c.config(opts)
	if err != nil {
		return err
	}
	return c.send(ctx, cfg, strings.ToUpper(method), pathOnly, query, rb, out)
}

// requestBody is a replayable request body: open is called once per
// attempt. personal lists the personal values it carries (names,
// birthdays, ID numbers), which no error or log record may echo.
type requestBody struct {
	open     func() io.ReadCloser
	length   int64
	personal []string
	encoded  []byte // the JSON of an encoded value; nil for other bodies
}

// personalValues returns the personal values of the body, if any.
func (b *requestBody) personalValues() []string {
	if b == nil {
		return nil
	}
	return b.personal
}

func bytesBody(b []byte) *requestBody {
	return &requestBody{
		open:   func() io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) },
		length: int64(len(b)),
	}
}

// jsonBody encodes a body given to Do, whose personal values are found by
// its type or, for a value the SDK does not know, in its JSON.
func jsonBody(v any) (*requestBody, error) {
	body, err := encodeBody(v, nil)
	if err != nil {
		return nil, err
	}
	body.personal = personalValuesOf(v, body.encoded)
	return body, nil
}

// encodeBody encodes v as a JSON request body carrying the personal values
// personal: a service method knows them and names them, so its body is not
// read back to find them.
func encodeBody(v any, personal []string) (*requestBody, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: encode request: %w", err)
	}
	body := bytesBody(b)
	body.encoded, body.personal = b, personal
	return body, nil
}

// send is the one request path of the SDK: every call goes through it,
// with the configuration cfg of the call (the client's, or a copy with the
// call's options applied).
func (c *Client) send(ctx context.Context, cfg *callConfig, method, path string, query url.Values, body *requestBody, out any) error {
	if ctx == nil {
		return errors.New("kryptogo: nil context")
	}
	if cfg.info != nil {
		*cfg.info = ResponseInfo{} // no stale answer of an earlier call
	}
	target := c.endpoint(path, query)
	call := c.startCall(cfg) // flow.go: the client-wide retry budget and 429 pause
	mask := c.maskFor(body, cfg)
	var last error
	for attempt := 1; ; attempt++ {
		if err := call.beforeAttempt(ctx, method, path, last); err != nil {
			return err
		}
		// A rate limiter may hold the attempt past the start of a pause;
		// the pause is checked again after its wait.
		ready := func() error { return call.beforeAttempt(ctx, method, path, last) }
		res := c.attempt(ctx, cfg, method, path, target, body, mask, attempt, ready)
		if res.notSent != nil {
			return res.notSent
		}
		call.observe(res)
		c.recordResponse(cfg, res, mask)
		if res.err == nil && res.status >= 200 && res.status <= 299 {
			call.succeeded()
			return c.answer(cfg, method, path, res, out, mask)
		}
		failure := c.failure(ctx, cfg, method, path, res, mask)
		if !res.retryable(method) || attempt > cfg.maxRetries {
			return failure
		}
		wait, ok := c.retryWait(ctx, cfg, attempt, res)
		if !ok {
			return failure
		}
		if !call.takeRetry(res) {
			return &budgetError{err: failure}
		}
		last = failure
		cfg.log(ctx, "kryptogo retry", slog.String("method", method), slog.String("path", path),
			slog.Int("attempt", attempt), slog.Duration("wait", wait))
		if err := c.sleep(ctx, wait); err != nil {
			// Both stay reachable: errors.Is(err, context.Canceled) and the
			// failure that led to the wait.
			return fmt.Errorf("%w (retry wait after: %w)", err, failure)
		}
	}
}

func (c *Client) endpoint(path string, query url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	return &u
}

// result is what one attempt produced.
type result struct {
	status     int
	header     http.Header
	body       []byte
	truncated  bool
	err        error
	wrote      bool // any request byte was handed to the connection
	parentDone bool // the caller's context ended: never retry
	// blind marks a POST the transport did not report (it dropped the
	// request's context): it may have been sent any number of times.
	blind bool
	// retryAfter is the answer's Retry-After, when hasRetryAfter: read
	// once, for the retry's wait, the client-wide pause and the APIError.
	retryAfter    time.Duration
	hasRetryAfter bool
	// notSent ends the call before a request was sent: the client's pause
	// began while the attempt waited in the rate limiter.
	notSent error
}

// attempt sends the request once. ready checks the client's pause again
// after a rate limiter's wait, right before the request is sent.
func (c *Client) attempt(ctx context.Context, cfg *callConfig, method, path string, target *url.URL, body *requestBody, mask *callMask, attempt int, ready func() error) (res result) {
	if cfg.logger != nil {
		start := time.Now()
		defer func() { c.logAttempt(ctx, cfg, method, path, attempt, start, res, mask) }()
	}
	if cfg.limiter != nil {
		if err := cfg.limiter.Wait(ctx); err != nil {
			return result{err: &limiterError{err: err}, parentDone: true}
		}
		if err := ready(); err != nil {
			return result{notSent: err}
		}
	}
	// net/http's own transport never overlaps the sends of one request;
	// any other RoundTripper may (a hedging one does).
	_, sequential := c.httpClient.Transport.(*http.Transport)
	actx, guard := attemptContext(ctx, cfg.timeout, method, sequential)
	defer guard.end()
	req, err := c.newRequest(actx, cfg.userAgent, method, target, body)
	if err != nil {
		return result{err: err, parentDone: true}
	}
	//lint:ignore SA1019 Cancel reaches copies whose context a transport detached from the attempt's (see sendGuard.stopped).
	req.Cancel = guard.stopped
	resp, err := c.httpClient.Do(req)
	guard.answered.Store(true) // before wrote is read (see sendGuard.mayWrite)
	res.wrote = guard.wrote.Load()
	if guard.blind(err == nil) {
		res.blind = guard.post
		res.wrote = res.wrote || guard.post
		if actx.Err() == nil { // an attempt that ended early may have sent nothing at all
			c.warnBlindTransport(ctx, cfg)
		}
	}
	if err != nil {
		if guard.replayed.Load() {
			err = errReplayed
		}
		res.err = err
		res.parentDone = ctx.Err() != nil
		return res
	}
	defer resp.Body.Close()
	res.status, res.header = resp.StatusCode, resp.Header
	if res.status < 200 || res.status > 299 { // only a failure's is read
		res.retryAfter, res.hasRetryAfter = backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	length := resp.ContentLength
	if method == http.MethodHead {
		length = 0
	}
	res.body, res.truncated, res.err = readBody(resp.Body, length, bodyLimit(cfg.maxBody, resp.StatusCode, mask))
	if res.err != nil {
		res.parentDone = ctx.Err() != nil
	} else if !res.truncated {
		guard.awaitPooled(resp)
	}
	return res
}

// newRequest builds the request of one attempt. Its URL is target itself,
// built once per call, not parsed again from text.
func (c *Client) newRequest(ctx context.Context, userAgent, method string, target *url.URL, body *requestBody) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, "", nil)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: build request: %w", err)
	}
	req.URL, req.Host = target, strings.TrimSuffix(target.Host, ":")
	values := make([]string, 4) // one allocation for the header values
	header := func(name, value string) {
		values[0] = value
		req.Header[name], values = values[:1:1], values[1:]
	}
	if body != nil {
		req.Body = body.open()
		req.ContentLength = body.length
		if body.length == 0 {
			req.Body = http.NoBody
		}
		// With GetBody, net/http re-sends the body by itself: the HTTP/2
		// transport after a reset stream, redirects on 307/308. A POST may
		// create a paid task, so only idempotent methods get it; the SDK
		// replays a POST itself, and only when nothing was written.
		if idempotent(method) {
			req.GetBody = func() (io.ReadCloser, error) { return body.open(), nil }
		}
		header("Content-Type", "application/json")
	}
	header("Accept", "application/json")
	header("User-Agent", userAgent)
	header(c.creds.canonical, c.creds.key())
	return req, nil
}

// bodyLimit is how much of an answer is read, and kept of one over it. An
// error body needs no more than APIError keeps, plus the reach of the
// masking: a spelling of the key or of a personal value that straddles the
// cut is read whole, so that it is masked rather than cut into a fragment
// that still reveals most of it. Of a 2xx over the cap only its shape is
// told (bodyShape), from its first bytes. maxBody is the call's cap
// (WithMaxResponseBytes).
func bodyLimit(maxBody int64, status int, mask *callMask) bodyCap {
	if status >= 200 && status <= 299 {
		return bodyCap{limit: maxBody, keep: overCapHead}
	}
	return wholeCap(min(maxBody, maxErrorBody) + int64(mask.reach()))
}

// overCapHead is what is kept of a 2xx answer over the cap: enough of its
// head to tell its shape.
const overCapHead = 512

// idempotent methods can be sent twice with the effect of once.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func (r result) retryable(method string) bool {
	if r.parentDone || r.blind || permanent(r.err) {
		return false
	}
	if r.err != nil {
		if idempotent(method) {
			return true
		}
		// A POST is retried only if nothing reached the server.
		return r.status == 0 && !r.wrote && isDialError(r.err)
	}
	switch r.status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent(method)
	}
	return false
}

// isDialError reports whether err happened while connecting: DNS, refused
// or unreachable, before a request could be written.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// permanent reports errors that retrying cannot fix: a host that does not
// exist, and certificate or TLS failures (a retry meets the same
// certificate; a handshake timeout is not among them).
func permanent(err error) bool {
	if err == nil {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsNotFound
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error") {
		return true // a TLS alert
	}
	return tlsFailure(err)
}

func tlsFailure(err error) bool {
	var (
		verifyErr  *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recordErr) || errors.As(err, &alertErr)
}

// retryWait returns how long to wait before the next attempt, or false when
// the wait would outlast the context or the server asks for too long a pause.
func (c *Client) retryWait(ctx context.Context, cfg *callConfig, attempt int, res result) (time.Duration, bool) {
	wait := cfg.backoff.Delay(attempt - 1)
	if res.hasRetryAfter && res.status != 0 {
		if res.retryAfter > maxRetryAfter {
			return 0, false
		}
		// "0" or a past date must not turn into a burst of retries; nor may
		// the call send before the client-wide pause its 429 started ends
		// (observe), whose floor is the client's minimum, not the call's.
		wait = max(res.retryAfter, cfg.backoff.Min, c.cfg.backoff.Min)
	}
	if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait).After(deadline) {
		return 0, false
	}
	return wait, true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// failure turns a failed attempt into the error the caller sees, its text
// masked of the key and of the request's personal values.
func (c *Client) failure(ctx context.Context, cfg *callConfig, method, path string, res result, mask *callMask) error {
	if res.err == nil {
		return maybeSentIfBlind(res, c.apiError(cfg.maxBody, method, path, res, mask))
	}
	err := res.err
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // its message repeats the URL, query included
	}
	switch {
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("attempt timed out after %v (WithTimeout): %w", cfg.timeout, err)
	}
	err = mask.scrubber().wrap("kryptogo: "+method+" "+path+": ", err)
	if !idempotent(method) && res.wrote {
		return &maybeSentError{err: err}
	}
	return err
}

// apiError builds the *APIError of a non-2xx answer, without the API key
// or the personal values of the request: a proxy or debug endpoint may
// echo request headers back, and a 400 may quote the submitted name.
func (c *Client) apiError(maxBody int64, method, path string, res result, mask *callMask) *APIError {
	scrub := mask.scrubber()
	body := scrub.keep(res.body, res.truncated, int(min(maxBody, maxErrorBody)))
	resp := &http.Response{StatusCode: res.status, Header: res.header}
	e := newAPIError(method, path, resp, body, res.retryAfter)
	e.Message = scrub.text(e.Message)
	e.RequestID = scrub.text(e.RequestID)
	return e
}

// failedAnswer is an answer model whose 2xx body can still report a
// failure, as {"code": 1003, "message": "..."} does for some endpoints.
type failedAnswer interface {
	failed() bool
}

// answer decodes a 2xx answer into out; when out reports the answer as a
// failure, it is the *APIError an error status with that body would be:
// request id kept, key and personal values masked.
func (c *Client) answer(cfg *callConfig, method, path string, res result, out any, mask *callMask) error {
	if err := c.decode(cfg, method, path, res, out); err != nil {
		return maybeSentIfBlind(res, err)
	}
	if f, ok := out.(failedAnswer); ok && f.failed() {
		return maybeSentIfBlind(res, c.apiError(cfg.maxBody, method, path, res, mask))
	}
	return nil
}

// maybeSentIfBlind makes err, the failure of an answered attempt, match
// ErrMaybeSent when the transport hid the attempt from the SDK: it may have
// sent the POST before (a retrying transport keeps the last answer).
func maybeSentIfBlind(res result, err error) error {
	if res.blind && !errors.Is(err, ErrMaybeSent) {
		return &maybeSentError{err: err}
	}
	return err
}

// decode reads a 2xx answer into out, in one pass: the body is parsed once
// and a model that keeps its JSON (RawJSON) gets the body itself, with no
// copy, since readBody allocated it for this answer alone. Its errors
// describe the body by its shape only: a 2xx body holds names, ID numbers
// and birthdays, and errors end up in logs.
func (c *Client) decode(cfg *callConfig, method, path string, res result, out any) error {
	bad := func(err error) error {
		return &ResponseError{Method: method, Path: path, StatusCode: res.status,
			Snippet: bodyShape(res.body, res.truncated), Err: err}
	}
	if res.truncated {
		return bad(fmt.Errorf("body exceeds %d bytes (WithMaxResponseBytes)", cfg.maxBody))
	}
	if out == nil {
		return nil
	}
	// Only JSON's own white space: a body framed by any other space (a
	// vertical tab, a no-break space) is not JSON and must fail to decode.
	body := bytes.Trim(res.body, " \t\r\n")
	if len(body) == 0 {
		return bad(errors.New("empty body"))
	}
	if raw, ok := out.(*json.RawMessage); ok {
		if !json.Valid(body) {
			return bad(errors.New("body is not JSON"))
		}
		*raw = body
		return nil
	}
	target := out
	if m, ok := out.(plainDecoder); ok {
		target = m.decodeTarget() // skip the UnmarshalJSON that nested values need
	}
	if err := json.Unmarshal(body, target); err != nil {
		return bad(valueFreeDecodeError(err))
	}
	if m, ok := out.(rawKeeper); ok {
		m.setRaw(body)
	}
	return nil
}

func (c *Client) logAttempt(ctx context.Context, cfg *callConfig, method, path string, attempt int, start time.Time, res result, mask *callMask) {
	if res.notSent != nil {
		return // no request: the pause's error is the call's
	}
	attrs := []slog.Attr{
		slog.String("method", method), slog.String("path", path),
		slog.Int("attempt", attempt), slog.Duration("duration", time.Since(start)),
	}
	if res.status != 0 {
		attrs = append(attrs, slog.Int("status", res.status))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", mask.scrubber().text(describeNetError(res.err))))
	}
	cfg.log(ctx, "kryptogo request", attrs...)
}

// describeNetError renders a transport error without the URL, whose query
// could carry a customer reference.
func describeNetError(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// log records msg at debug level with the call's logger, if any.
func (cfg *callConfig) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if cfg.logger == nil {
		return
	}
	cfg.logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// recordResponse fills the call's ResponseInfo (WithResponseInfo) with the
// answer of an attempt, if one came. A header that echoes the API key or a
// personal value of the request is masked as an error's text would be,
// and one whose name does is dropped. Masking is bounded per answer
// (maxMaskedHeaders): net/http accepts 10 MiB of headers, which a server
// could fill to make each call cost seconds of CPU. The shortest headers
// are masked first; the values past the bound are replaced by
// withheldHeader.
func (c *Client) recordResponse(cfg *callConfig, res result, mask *callMask) {
	if cfg.info == nil || res.status == 0 {
		return
	}
	scrub := mask.scrubber()
	header := make(http.Header, len(res.header))
	budget := maxMaskedHeaders
	for _, name := range shortestHeadersFirst(res.header) {
		if c.nameEchoes(name, mask.personal) {
			continue
		}
		values := res.header[name]
		masked := make([]string, len(values))
		for i, v := range values {
			if budget -= len(v) + headerCost; budget < 0 {
				masked[i] = withheldHeader
				continue
			}
			masked[i] = scrub.text(v)
		}
		header[name] = masked
	}
	*cfg.info = ResponseInfo{StatusCode: res.status, Header: header, RequestID: requestIDFrom(header)}
}

// nameEchoes reports whether a header name holds the API key or a personal
// value. net/http changes the case of header names, so case is ignored; a
// name holds no other spelling (no quotes, spaces or percent signs).
func (c *Client) nameEchoes(name string, personal []string) bool {
	name = strings.ToLower(name)
	if strings.Contains(name, strings.ToLower(c.creds.key())) {
		return true
	}
	for _, v := range personal {
		if maskable(v) && strings.Contains(name, strings.ToLower(v)) {
			return true
		}
	}
	return false
}

// call sends a request and decodes the answer into a new T: the last step
// of every service method (validate, encode, send). opts are the call's
// options, applied over the client's.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body *requestBody, opts []Option) (*T, error) {
	cfg, err := c.config(opts)
	if err != nil {
		return nil, err
	}
	var out T
	if err := c.send(ctx, cfg, method, path, query, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// sendJSON encodes in as the JSON body of a request, which carries the
// personal values personal (nil for none), and decodes the answer into a
// new T.
func sendJSON[T any](ctx context.Context, c *Client, method, path string, in any, personal []string, opts []Option) (*T, error) {
	body, err := encodeBody(in, personal)
	if err != nil {
		return nil, err
	}
	return call[T](ctx, c, method, path, nil, body, opts)
}

// getByID fetches the T at pattern, a path as the API reference writes it
// with one id parameter ("/task/{task_id}/summary"): the one body of every
// get-by-id method. The parameter's name names the id in a validation error.
func getByID[T any](ctx context.Context, c *Client, pattern string, id ID, opts []Option) (*T, error) {
	start, end := strings.IndexByte(pattern, '{'), strings.IndexByte(pattern, '}')
	if err := validateID(pattern[start+1:end], id); err != nil {
		return nil, err
	}
	var buf [64]byte // the path is built in one allocation
	path := append(strconv.AppendInt(append(buf[:0], pattern[:start]...), int64(id), 10), pattern[end+1:]...)
	return call[T](ctx, c, http.MethodGet, string(path), nil, nil, opts)
}
