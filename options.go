package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kyabc/kryptogo-go/internal/backoff"
)

// Defaults of a new Client.
const (
	DefaultBaseURL          = "https://external-api.kryptogo.com"
	DefaultAPIKeyHeader     = "GOFACT-API-TOKEN"
	DefaultTimeout          = 60 * time.Second // per attempt; an IDV upload carries up to four images
	DefaultMaxRetries       = 2
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 8 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	// MaxResponseBytesLimit is the largest cap WithMaxResponseBytes takes.
	MaxResponseBytesLimit = 1 << 30
)

// RateLimiter paces requests: Wait blocks until the next request may go, or
// returns an error when ctx ends first. A *golang.org/x/time/rate.Limiter
// satisfies it.
type RateLimiter interface {
	Wait(ctx context.Context) error
}

// Option configures a Client, or one call. Pass options to NewClient or
// NewClientFromEnv to set the client's defaults, or last to any service
// method (and to Client.Do) to override them for that call only:
//
//	client.Tasks.Get(ctx, id, kryptogo.WithTimeout(5*time.Second), kryptogo.WithMaxRetries(0))
//
// WithTimeout, WithUserAgent, WithMaxRetries, WithRetryBackoff, WithLogger,
// WithRateLimiter and WithMaxResponseBytes work in both places;
// WithResponseInfo works per call only. WithBaseURL, WithHTTPClient,
// WithAPIKeyHeader, WithInsecureHTTP and WithRetryBudget shape the client
// itself (its connections, its credentials, its shared budget): given to a
// call, they make the call return an error before anything is sent. An
// invalid option makes NewClient, or the call, return an error.
type Option func(*settings) error

// settings are the options of a client being built (perCall false) or of
// one call (perCall true, starting from the client's callConfig).
type settings struct {
	callConfig
	baseURL      string
	httpClient   *http.Client
	keyHeader    string
	insecureHTTP bool
	retryBudget  int
	perCall      bool
}

// callConfig is what one call may override. A Client holds its own,
// resolved once; a call without options uses it as is, and a call with
// options uses a copy with them applied.
type callConfig struct {
	timeout    time.Duration
	userAgent  string // the whole header value
	maxRetries int
	backoff    backoff.Policy
	logger     *slog.Logger
	limiter    RateLimiter
	maxBody    int64
	info       *ResponseInfo // per call only
	flow       *flow         // the flow control the call draws on; nil: its client's (withFlow)
	personal   []string      // masked as the request's own personal values (withPersonal)
}

func defaultSettings() settings {
	return settings{
		callConfig: callConfig{
			timeout:    DefaultTimeout,
			userAgent:  userAgent(""),
			maxRetries: DefaultMaxRetries,
			backoff:    backoff.Policy{Min: DefaultMinBackoff, Max: DefaultMaxBackoff},
			maxBody:    DefaultMaxResponseBytes,
		},
		baseURL:     DefaultBaseURL,
		keyHeader:   DefaultAPIKeyHeader,
		retryBudget: DefaultRetryBudget,
	}
}

// apply applies opts in order, skipping nil ones, and stops at the first
// error.
func (s *settings) apply(opts []Option) error {
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(s); err != nil {
			return err
		}
	}
	return nil
}

// clientOnly refuses an option that shapes the client itself when it is
// given to one call.
func (s *settings) clientOnly(name string) error {
	if s.perCall {
		return fmt.Errorf("kryptogo: %s is a client option; it cannot be given to one call (give it to NewClient)", name)
	}
	return nil
}

// config returns the configuration of a call: the client's own when opts
// is empty (no allocation on the common path), else a copy with opts
// applied. An option that cannot be given to a call is an error.
func (c *Client) config(opts []Option) (*callConfig, error) {
	if len(opts) == 0 {
		return &c.cfg, nil
	}
	s := settings{callConfig: c.cfg, perCall: true}
	if err := s.apply(opts); err != nil {
		return nil, err
	}
	return &s.callConfig, nil
}

// ResponseInfo describes the last answer of a call, filled by
// WithResponseInfo: its status, its headers and its request id, for an
// audit trail or a support ticket.
type ResponseInfo struct {
	// StatusCode is the answer's HTTP status; 0 when no answer came (a
	// network error, or validation stopped the call before it was sent).
	StatusCode int
	// Header holds the answer's headers, with the API key and the
	// request's personal values masked in any header that echoes them.
	Header http.Header
	// RequestID is the first of the common request-id headers present
	// (X-Request-Id, Request-Id, X-Amzn-Requestid, Cf-Ray…), masked the
	// same way; "" when none is.
	RequestID string
}

// WithResponseInfo makes one call fill info with its last answer, whether
// the call succeeds or fails: a 2xx's request id is otherwise out of reach.
// It is a per-call option (NewClient refuses it); give each call its own
// ResponseInfo, since the call writes it without locking.
//
// info is reset when each request of the call is sent and filled when its
// answer comes, so after a call that retried it describes the last answer
// received, and it stays zero when no answer came. A method that sends
// several requests (Tasks.Wait, Tasks.All, Tasks.CreateOnce, IDV.Wait)
// reports the last request's answer. KYA.Screen, whose requests run
// concurrently, refuses it.
func WithResponseInfo(info *ResponseInfo) Option {
	return func(s *settings) error {
		if info == nil {
			return errors.New("kryptogo: WithResponseInfo: nil *ResponseInfo")
		}
		if !s.perCall {
			return errors.New("kryptogo: WithResponseInfo is a per-call option; give it to a call, not to NewClient")
		}
		s.info = info
		return nil
	}
}

// WithBaseURL sets the API's base URL, for a proxy, a staging host or a fake
// server. It may carry a path prefix. Plain http is refused unless the host
// is loopback or WithInsecureHTTP is given.
func WithBaseURL(baseURL string) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithBaseURL"); err != nil {
			return err
		}
		if strings.TrimSpace(baseURL) == "" {
			return errors.New("kryptogo: WithBaseURL: empty URL")
		}
		s.baseURL = baseURL
		return nil
	}
}

// WithHTTPClient sends requests through hc instead of the SDK's own client.
// The SDK does not modify hc: it uses a copy whose redirect policy never
// follows a redirect to another origin and sends no Referer, and, when hc
// has no Transport, the SDK's tuned transport. hc's Timeout, if set, bounds
// each attempt together with WithTimeout. Whatever hc's transport, a POST
// carries no GetBody, so net/http cannot re-send it by itself.
//
// The SDK sees what the transport sends through the request's context
// (net/http/httptrace), so a RoundTripper that wraps another must pass
// req.Context() on: build each outgoing request with req.Clone(ctx) or
// req.WithContext, never http.NewRequest. Then a POST reaches the network at
// most once per attempt, even through a transport that retries or hedges
// (sends copies at once): the SDK lets the first copy write and stops every
// other before its first byte, without closing a connection other calls
// share. A transport that drops the context hides its sends: the SDK then
// reports every failed POST as maybe sent (ErrMaybeSent) without retrying
// it, and logs once per client, at warn level, that the transport defeats
// its duplicate guard.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithHTTPClient"); err != nil {
			return err
		}
		if hc == nil {
			return errors.New("kryptogo: WithHTTPClient: nil client")
		}
		s.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each attempt (sending the request and reading the whole
// answer); 0 means no per-attempt bound. The context passed to a call bounds
// the call as a whole, retries included. The default is 60 s. Given to
// one call, it bounds that call's attempts only: a longer one for an
// upload, a shorter one in a request handler.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return fmt.Errorf("kryptogo: WithTimeout: negative duration %v", d)
		}
		s.timeout = d
		return nil
	}
}

// WithUserAgent puts product (such as "my-exchange/1.4") in front of the
// SDK's own User-Agent. Given to one call, it replaces the client's
// product for that call.
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		if !validHeaderValue(product) {
			return errors.New("kryptogo: WithUserAgent: invalid header value")
		}
		s.userAgent = userAgent(strings.TrimSpace(product))
		return nil
	}
}

// WithMaxRetries sets how many times a failed request may be retried; 0
// disables retries. The default is 2. Which failures are retried depends on
// the method: see the package documentation.
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return fmt.Errorf("kryptogo: WithMaxRetries: negative count %d", n)
		}
		s.maxRetries = n
		return nil
	}
}

// WithRetryBackoff sets the shortest and longest wait between retries. The
// wait before retry n is random in [min, min(max, min·2ⁿ⁺¹)]. A Retry-After
// header from the API takes precedence. Defaults: 500 ms and 8 s.
func WithRetryBackoff(minWait, maxWait time.Duration) Option {
	return func(s *settings) error {
		if minWait <= 0 || maxWait < minWait {
			return fmt.Errorf("kryptogo: WithRetryBackoff: need 0 < min <= max, got %v and %v", minWait, maxWait)
		}
		s.backoff = backoff.Policy{Min: minWait, Max: maxWait}
		return nil
	}
}

// WithLogger logs each attempt at debug level: method, path (without the
// query), status, attempt number and duration, and each retry's wait. It
// never logs the API key, a request or response body, or a query string.
// Given to one call, l logs that call instead of the client's logger; a nil
// l then silences the call.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = l
		return nil
	}
}

// WithRateLimiter makes every attempt, retries included, wait for l first.
// Given to one call, l paces that call's attempts instead of the client's
// limiter.
func WithRateLimiter(l RateLimiter) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("kryptogo: WithRateLimiter: nil limiter")
		}
		s.limiter = l
		return nil
	}
}

// WithRetryBudget sizes the retry budget that every call of the client
// shares, in tokens; 0 disables the budget (each call then retries up to
// WithMaxRetries whatever its neighbours meet). A retry costs 5 tokens, 10
// after a timeout; a call that succeeds at once earns 1 back, and a retry
// that succeeds returns its cost. When the budget is spent, a failure worth
// retrying is returned at once, matching ErrRetryBudgetExhausted: when most
// calls fail, retrying them all would only triple the load on a struggling
// API. The default, DefaultRetryBudget (500, the AWS SDK's figure), allows
// 100 retries in a row of failures, and is refilled by successes.
func WithRetryBudget(tokens int) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithRetryBudget"); err != nil {
			return err
		}
		if tokens < 0 {
			return fmt.Errorf("kryptogo: WithRetryBudget: negative budget %d", tokens)
		}
		s.retryBudget = tokens
		return nil
	}
}

// WithAPIKeyHeader sends the API key in the named header instead of
// GOFACT-API-TOKEN.
func WithAPIKeyHeader(name string) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithAPIKeyHeader"); err != nil {
			return err
		}
		if !validHeaderName(name) {
			return fmt.Errorf("kryptogo: WithAPIKeyHeader: invalid header name %q", name)
		}
		s.keyHeader = name
		return nil
	}
}

// WithMaxResponseBytes caps how much of an answer is read, so a broken
// server cannot exhaust memory. A larger 2xx answer is an error matching
// ErrInvalidResponse; of an error answer, at most 64 KiB is kept. The
// default is 32 MiB; the cap itself is at most 1 GiB (MaxResponseBytesLimit),
// far above any answer of the API.
func WithMaxResponseBytes(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("kryptogo: WithMaxResponseBytes: need a positive size, got %d", n)
		}
		if n > MaxResponseBytesLimit {
			return fmt.Errorf("kryptogo: WithMaxResponseBytes: %d bytes; the cap must be at most 1 GiB", n)
		}
		s.maxBody = n
		return nil
	}
}

// WithInsecureHTTP allows a plain http:// base URL on a host other than
// loopback. The API key then crosses the network in clear text: use it only
// inside a trusted network, such as a sidecar proxy.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithInsecureHTTP"); err != nil {
			return err
		}
		s.insecureHTTP = true
		return nil
	}
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v holds no control characters, so it
// cannot split or smuggle a header.
func validHeaderValue(v string) bool {
	for _, r := range v {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}
