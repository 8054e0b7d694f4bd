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
	DefaultReconcileWait    = 10 * time.Second // WithReconcileWait
	MaxResponseBytesLimit   = 1 << 30          // the largest cap WithMaxResponseBytes takes
)

// RateLimiter paces requests, as a *golang.org/x/time/rate.Limiter does.
type RateLimiter interface {
	Wait(ctx context.Context) error
}

// Option configures a Client (given to NewClient) or one call (given last
// to a method). Options that shape the client (WithBaseURL, WithHTTPClient,
// WithAPIKeyHeader, WithInsecureHTTP, WithRetryBudget, the stores) fail a
// call; WithResponseInfo is per call only.
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

// ResponseInfo is the last answer of a call (WithResponseInfo).
type ResponseInfo struct {
	StatusCode int         // 0 when no answer came
	Header     http.Header // secrets masked, as in errors
	RequestID  string      // X-Request-Id, Request-Id, Cf-Ray…; "" if none
}

// WithResponseInfo fills info with one call's last answer, success or not.
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

// WithBaseURL sets the base URL; plain http needs loopback or WithInsecureHTTP.
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
// cross-origin redirect. A RoundTripper that wraps another must pass
// req.Context() on (README: "Your own transport").
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

// WithTimeout bounds each attempt, reading the answer included; 0: no bound.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return fmt.Errorf("kryptogo: WithTimeout: negative duration %v", d)
		}
		s.timeout = d
		return nil
	}
}

// WithUserAgent puts product in front of the SDK's User-Agent.
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		if !validHeaderValue(product) {
			return errors.New("kryptogo: WithUserAgent: invalid header value")
		}
		s.userAgent = userAgent(strings.TrimSpace(product))
		return nil
	}
}

// WithMaxRetries sets how many times a failed request may be retried.
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return fmt.Errorf("kryptogo: WithMaxRetries: negative count %d", n)
		}
		s.maxRetries = n
		return nil
	}
}

// WithRetryBackoff sets the shortest and longest wait between retries.
func WithRetryBackoff(minWait, maxWait time.Duration) Option {
	return func(s *settings) error {
		if minWait <= 0 || maxWait < minWait {
			return fmt.Errorf("kryptogo: WithRetryBackoff: need 0 < min <= max, got %v and %v", minWait, maxWait)
		}
		s.backoff = backoff.Policy{Min: minWait, Max: maxWait}
		return nil
	}
}

// WithLogger logs attempts and retries at debug level; nil silences one call.
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
// in tokens (0 disables it; README: "Retries").
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

// WithAPIKeyHeader sends the API key in the named header.
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

// WithMaxResponseBytes caps an answer; a larger 2xx is ErrInvalidResponse.
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

// WithInsecureHTTP allows a plain http:// base URL beyond loopback: the key
// then crosses the network in clear text.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithInsecureHTTP"); err != nil {
			return err
		}
		s.insecureHTTP = true
		return nil
	}
}

// WithIdempotencyStore keeps the client's idempotency keys in store instead
// of its own MemoryStore. A store serves one API account.
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

// WithReconcileWait sets how long the lookup of a task in doubt keeps looking
// in the history before it takes the task as not created; 0 looks once.
func WithReconcileWait(total time.Duration) Option {
	return func(s *settings) error {
		if total < 0 {
			return fmt.Errorf("kryptogo: WithReconcileWait: negative duration %v", total)
		}
		s.reconcileWait = total
		return nil
	}
}

// WithPollInterval sets the polls' pause, doubling up to maxInterval, for
// waits given none (and a create waiting for another holder of its key);
// meant for fakes, since it takes any positive pause.
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
