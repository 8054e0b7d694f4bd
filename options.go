package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
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

// Option configures a Client. Pass options to NewClient or NewClientFromEnv;
// an invalid option makes them return an error.
type Option func(*settings) error

type settings struct {
	baseURL          string
	httpClient       *http.Client
	timeout          time.Duration
	userAgent        string
	maxRetries       int
	minBackoff       time.Duration
	maxBackoff       time.Duration
	logger           *slog.Logger
	limiter          RateLimiter
	keyHeader        string
	maxResponseBytes int64
	insecureHTTP     bool
	retryBudget      int
}

func defaultSettings() settings {
	return settings{
		baseURL:          DefaultBaseURL,
		timeout:          DefaultTimeout,
		maxRetries:       DefaultMaxRetries,
		minBackoff:       DefaultMinBackoff,
		maxBackoff:       DefaultMaxBackoff,
		keyHeader:        DefaultAPIKeyHeader,
		maxResponseBytes: DefaultMaxResponseBytes,
		retryBudget:      DefaultRetryBudget,
	}
}

// WithBaseURL sets the API's base URL, for a proxy, a staging host or a fake
// server. It may carry a path prefix. Plain http is refused unless the host
// is loopback or WithInsecureHTTP is given.
func WithBaseURL(baseURL string) Option {
	return func(s *settings) error {
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
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("kryptogo: WithHTTPClient: nil client")
		}
		s.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each attempt (sending the request and reading the whole
// answer); 0 means no per-attempt bound. The context passed to a call bounds
// the call as a whole, retries included. The default is 60 s.
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
// SDK's own User-Agent.
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		if !validHeaderValue(product) {
			return errors.New("kryptogo: WithUserAgent: invalid header value")
		}
		s.userAgent = strings.TrimSpace(product)
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
		s.minBackoff, s.maxBackoff = minWait, maxWait
		return nil
	}
}

// WithLogger logs each attempt at debug level: method, path (without the
// query), status, attempt number and duration, and each retry's wait. It
// never logs the API key, a request or response body, or a query string.
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
		s.maxResponseBytes = n
		return nil
	}
}

// WithInsecureHTTP allows a plain http:// base URL on a host other than
// loopback. The API key then crosses the network in clear text: use it only
// inside a trusted network, such as a sidecar proxy.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
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
