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
	// DefaultReconcileWait is how long the lookup of a task create in
	// doubt keeps looking in the history (WithReconcileWait).
	DefaultReconcileWait = 10 * time.Second
	// MaxResponseBytesLimit is the largest cap WithMaxResponseBytes takes.
	MaxResponseBytesLimit = 1 << 30
)

// RateLimiter paces requests: Wait blocks until the next may go, or returns
// an error when ctx ends first. A *golang.org/x/time/rate.Limiter is one.
type RateLimiter interface {
	Wait(ctx context.Context) error
}

// Option configures a Client (given to NewClient) or one call (given last
// to a service method or Do):
//
//	client.Tasks.Get(ctx, id, kryptogo.WithTimeout(5*time.Second))
//
// WithBaseURL, WithHTTPClient, WithAPIKeyHeader, WithInsecureHTTP,
// WithRetryBudget and WithIdempotencyStore shape the client and fail a
// call they are given to; WithResponseInfo is per call only; the others
// work in both places. An invalid option is an error before anything is
// sent.
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
	keys         IdempotencyStore // WithIdempotencyStore; nil: a store of the client's own
	pauses       PauseStore       // WithPauseStore; nil: the pause stays in the process
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
	date       *time.Time    // the Date of the call's last answer (withServerDate)
	flow       *flow         // the flow control the call draws on; nil: its client's (withFlow)
	personal   []string      // masked as the request's own personal values (withPersonal)
	// reconcileWait is how long a lookup of a create in doubt keeps
	// looking (WithReconcileWait).
	reconcileWait time.Duration
	// poll is the pause between polls when a wait sets none: Tasks.Wait
	// and IDV.Wait, and a create waiting for another caller's key
	// (WithPollInterval); zero: each wait's own default.
	poll       backoff.Policy
	observer   *Observer    // WithObserver: nil when there is none
	middleware []Middleware // WithMiddleware, the first outermost
}

func defaultSettings() settings {
	return settings{
		callConfig: callConfig{
			timeout:    DefaultTimeout,
			userAgent:  userAgent(""),
			maxRetries: DefaultMaxRetries,
			backoff:    backoff.Policy{Min: DefaultMinBackoff, Max: DefaultMaxBackoff},
			maxBody:    DefaultMaxResponseBytes,

			reconcileWait: DefaultReconcileWait,
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

// ResponseInfo is the last answer of a call (WithResponseInfo), for an audit
// trail or a support ticket.
type ResponseInfo struct {
	StatusCode int         // 0 when no answer came
	Header     http.Header // secrets masked, as in errors
	RequestID  string      // X-Request-Id, Request-Id, Cf-Ray…; "" if none
}

// WithResponseInfo makes one call fill info with its last answer, whether
// the call succeeds or fails (it stays zero when none came). Give each call
// its own ResponseInfo; NewClient and KYA.Screen refuse it.
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

// WithBaseURL sets the API's base URL, which may carry a path prefix. Plain
// http is refused unless the host is loopback or WithInsecureHTTP is given.
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

// WithHTTPClient sends requests through a copy of hc that follows no
// redirect to another origin and sends no Referer (with the SDK's transport
// when hc has none); hc's Timeout bounds each attempt with WithTimeout.
//
// A POST reaches the network at most once per attempt, even through a
// transport that retries or hedges, provided a RoundTripper that wraps
// another passes req.Context() on (req.Clone or req.WithContext, never
// http.NewRequest). Through one that drops it, every failed POST matches
// ErrMaybeSent and is not retried, and the client logs a warning once.
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

// WithTimeout bounds each attempt, reading the answer included (default
// 60 s; 0 means no bound). ctx bounds the whole call, retries included.
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
// SDK's User-Agent.
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		if !validHeaderValue(product) {
			return errors.New("kryptogo: WithUserAgent: invalid header value")
		}
		s.userAgent = userAgent(strings.TrimSpace(product))
		return nil
	}
}

// WithMaxRetries sets how many times a failed request may be retried
// (default 2; 0 disables retries).
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return fmt.Errorf("kryptogo: WithMaxRetries: negative count %d", n)
		}
		s.maxRetries = n
		return nil
	}
}

// WithRetryBackoff sets the shortest and longest wait between retries
// (default 500 ms and 8 s): retry n waits a random time in
// [min, min(max, min·2ⁿ⁺¹)], or the answer's Retry-After.
func WithRetryBackoff(minWait, maxWait time.Duration) Option {
	return func(s *settings) error {
		if minWait <= 0 || maxWait < minWait {
			return fmt.Errorf("kryptogo: WithRetryBackoff: need 0 < min <= max, got %v and %v", minWait, maxWait)
		}
		s.backoff = backoff.Policy{Min: minWait, Max: maxWait}
		return nil
	}
}

// WithLogger logs each attempt and retry at debug level (method, path
// without the query, status, attempt, duration, wait), never the key, a
// body or a query. Per call, a nil l silences the call.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = l
		return nil
	}
}

// WithRateLimiter makes every attempt, retries included, wait for l first.
func WithRateLimiter(l RateLimiter) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("kryptogo: WithRateLimiter: nil limiter")
		}
		s.limiter = l
		return nil
	}
}

// WithRetryBudget sizes the retry budget every call of the client shares,
// in tokens (default DefaultRetryBudget; 0 disables it): a retry costs 5
// tokens, 10 after a timeout; a call that succeeds at once earns 1 back.
// Once it is spent, a failure worth retrying is returned at once, matching
// ErrRetryBudgetExhausted.
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

// WithMaxResponseBytes caps how much of an answer is read (default 32 MiB,
// at most MaxResponseBytesLimit). A larger 2xx answer is an error matching
// ErrInvalidResponse; of an error answer, 64 KiB is kept.
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
// loopback: the API key then crosses the network in clear text.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithInsecureHTTP"); err != nil {
			return err
		}
		s.insecureHTTP = true
		return nil
	}
}

// WithIdempotencyStore makes the client keep its idempotency keys
// (the IdempotencyKey of create requests) in store instead of a
// MemoryStore of its own: give the clients of every process that may
// create with the same keys one shared store (redisstore, sqlstore), so a
// key is sent at most once across them. A store serves one API account:
// clients of different API keys need different stores (or prefixes).
func WithIdempotencyStore(store IdempotencyStore) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithIdempotencyStore"); err != nil {
			return err
		}
		if store == nil {
			return errors.New("kryptogo: WithIdempotencyStore: nil store")
		}
		s.keys = store
		return nil
	}
}

// WithReconcileWait sets how long the lookup of a task create in doubt
// keeps looking in the customer's history before it takes the task as not
// created (default DefaultReconcileWait): five looks, at the start and
// after a tenth, three tenths, six tenths and all of total. The history may
// list a new task late; set total above the longest lag you see. 0 looks
// once. It applies to Tasks.CreateOnce and to task creates with an
// IdempotencyKey.
func WithReconcileWait(total time.Duration) Option {
	return func(s *settings) error {
		if total < 0 {
			return fmt.Errorf("kryptogo: WithReconcileWait: negative duration %v", total)
		}
		s.reconcileWait = total
		return nil
	}
}

// WithPollInterval sets the pause between polls of the waits that are not
// given one: Tasks.Wait and IDV.Wait with no WaitOptions interval (default
// 2 s, doubling with jitter up to 30 s), and a create that waits for
// another caller holding its IdempotencyKey (default 50 ms up to 1 s).
// The first pause is interval, doubling (with jitter) up to maxInterval.
// It is meant for fakes (kryptogotest sets it): unlike WaitOptions, whose
// intervals must be at least 100 ms, it takes any positive pause, and one
// that short would poll the real API many times a second.
func WithPollInterval(interval, maxInterval time.Duration) Option {
	return func(s *settings) error {
		if interval <= 0 || maxInterval < interval {
			return fmt.Errorf("kryptogo: WithPollInterval: need 0 < interval <= max, got %v and %v", interval, maxInterval)
		}
		s.poll = backoff.Policy{Min: interval, Max: maxInterval}
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
