package kryptogo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.3.0"

// Environment variables read by NewClientFromEnv.
const (
	EnvAPIKey  = "KRYPTOGO_API_KEY"
	EnvBaseURL = "KRYPTOGO_BASE_URL"
)

// Client calls the KryptoGO Compliance API; share one between goroutines.
type Client struct {
	KYA   *KYAService  // screens blockchain addresses
	Tasks *TaskService // due-diligence (KYC/KYB) search tasks
	IDV   *IDVService  // verifies identity documents

	creds      *credentials
	base       *url.URL
	serverAddr string // base's host and port, for observers
	serverPort int
	httpClient *http.Client
	dialGate   *dialGate  // the SDK's own transport's (nil for the caller's)
	cfg        callConfig // what a call uses unless it is given options
	flow       *flow      // retry budget and 429 pause, shared by every call
	// confirms are the confirmation requests of the CallbackHandlers whose
	// Confirm is this client: they spend its key, so they are bounded here.
	confirms *confirmations
	// blindWarned is set once the client warned that its transport hides
	// requests from the send guard (a pointer: Client is copied by value).
	blindWarned *atomic.Bool
	// keys holds the idempotency keys of its creates: a MemoryStore of
	// its own unless WithIdempotencyStore shares one.
	keys IdempotencyStore
	// keyLease is how long a create holds its key between renewals.
	keyLease time.Duration
	// clock is what the client knows of the API's clock, from the Date of
	// its answers (a pointer: Client is copied by value).
	clock *apiClock

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

// NewClient returns a client that authenticates with apiKey (not empty).
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
		flow:        newFlow(s.retryBudget).share(s.pauses, keyedScope(pauseScopeClient, apiKey)),
		confirms:    newConfirmations(s.pauses, apiKey),
		blindWarned: new(atomic.Bool),
		keys:        s.keys,
		keyLease:    defaultKeyLease,
		clock:       new(apiClock),
		sleep:       sleepContext,
		now:         time.Now,
	}
	if c.keys == nil {
		c.keys = NewMemoryStore()
	}
	c.serverAddr, c.serverPort = serverOf(base.Host, base.Scheme)
	c.httpClient, c.dialGate = guardedHTTPClient(s.httpClient, base)
	c.KYA = &KYAService{client: c}
	c.Tasks = &TaskService{client: c}
	c.IDV = &IDVService{client: c}
	return c, nil
}

// NewClientFromEnv returns a client configured by KRYPTOGO_API_KEY and
// KRYPTOGO_BASE_URL; opts override them.
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

// Format prints the client as its base URL, so no verb reaches the key.
func (c Client) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "kryptogo.Client{BaseURL: %q, APIKey: %q}", c.base.String(), "[REDACTED]")
}

// LogValue logs the client as its base URL.
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

// CloseIdleConnections closes the idle connections of the client's transport.
func (c *Client) CloseIdleConnections() { c.httpClient.CloseIdleConnections() }

// Do sends a request to any endpoint with the client's auth, retries and
// errors. body is nil, bytes sent as they are, or a value sent as JSON; out
// is nil or a pointer to decode the answer into.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...Option) error {
	op := doOperation(strings.ToUpper(method))
	pathOnly, query, rb, err := doRequest(method, path, body, out)
	if err != nil {
		return c.refuse(ctx, op, opts, err)
	}
	cfg, err := c.config(opts)
	if err != nil {
		return c.refuse(ctx, op, nil, err)
	}
	return c.send(ctx, cfg, op, pathOnly, query, rb, out)
}

// doRequest checks the arguments of Do and returns its path, query and
// body.
func doRequest(method, path string, body, out any) (string, url.Values, *requestBody, error) {
	if !strings.HasPrefix(path, "/") {
		return "", nil, nil, invalid("path", "must start with /")
	}
	if !validHeaderName(method) {
		return "", nil, nil, invalid("method", "is not an HTTP method token")
	}
	// A typed nil pointer passes a Kind check but cannot be decoded into:
	// refuse it before a (maybe paid) request is sent.
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return "", nil, nil, invalid("out", "must be nil or a non-nil pointer, got %T", out)
	}
	pathOnly, rawQuery, _ := strings.Cut(path, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, nil, invalid("path", "has a query that does not parse")
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
			return "", nil, nil, err
		}
	}
	return pathOnly, query, rb, nil
}
