// Package kryptogotest runs an in-memory fake of the KryptoGO Compliance
// API, for testing code that uses kryptogo-go without an account or a
// network:
//
//	srv := kryptogotest.NewServer()
//	defer srv.Close()
//	client := srv.Client()
//	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x…"})
//
// The fake serves every endpoint of the API on loopback, backed by memory and
// safe for concurrent use. It checks the API key (401), the fields the real
// API requires (400), answers 404 for unknown ids and 409 for a second
// accept or reject, pages /tasks, stores metadata, completes tasks (at once,
// after a delay, or when the test says) and POSTs real callbacks to the
// callback URLs it was given. Knobs let a test inject failures and latency
// and read back every request.
//
// It behaves like the API as its reference and public integrations describe
// it; where those are silent (error bodies, KYA result entries) its answers
// are plausible stand-ins, not the vendor's.
package kryptogotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey sets another.
const DefaultAPIKey = "kryptogotest-api-key"

// Completion is when the fake finishes DD tasks and IDV tasks.
type Completion int

// The completion modes.
const (
	// CompleteAtOnce finishes a task as soon as it is created (or, for a
	// web IDV session, as soon as its URL is opened). The default.
	CompleteAtOnce Completion = iota
	// CompleteAfterDelay finishes a task after the delay of WithCompletion.
	CompleteAfterDelay
	// CompleteManually leaves tasks pending until the test calls
	// CompleteTask or CompleteIDV.
	CompleteManually
)

// Server is a running fake KryptoGO API.
type Server struct {
	// URL is the base URL of the fake, such as http://127.0.0.1:41234.
	URL string
	// APIKey is the key the fake accepts.
	APIKey string

	httpServer *httptest.Server
	cfg        config
	callbacks  *deliverer

	mu       sync.Mutex
	state    *store
	failures []failure
	latency  time.Duration
	requests []Request
	rfc3339  bool
	closed   bool
	timers   []*time.Timer
}

type config struct {
	apiKey          string
	addr            string
	completion      Completion
	delay           time.Duration
	sanctioned      []string
	latency         time.Duration
	rfc3339Init     bool
	callbackRetries int
	callbackBackoff time.Duration
	idvOutcome      IDVOutcome
	now             func() time.Time
}

// Option configures a Server.
type Option func(*config)

// WithAPIKey sets the key the fake accepts.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithAddr listens on addr ("127.0.0.1:8787") instead of a random loopback port.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithCompletion sets when tasks finish; delay is used by CompleteAfterDelay.
func WithCompletion(mode Completion, delay time.Duration) Option {
	return func(c *config) { c.completion, c.delay = mode, delay }
}

// WithSanctionedAddresses makes KYA report the addresses as matching the
// sanctions list (compared case-insensitively).
func WithSanctionedAddresses(addresses ...string) Option {
	return func(c *config) { c.sanctioned = append(c.sanctioned, addresses...) }
}

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// WithRFC3339InitTimestamp makes POST /idv/init answer its timestamp as an
// RFC 3339 string, as the real API does; by default it answers unix seconds
// like every other endpoint.
func WithRFC3339InitTimestamp() Option { return func(c *config) { c.rfc3339Init = true } }

// WithCallbackRetries sets how many times a callback is sent before the fake
// gives up (default 3), and the pause before the first retry (default 50 ms,
// doubling).
func WithCallbackRetries(attempts int, backoff time.Duration) Option {
	return func(c *config) { c.callbackRetries, c.callbackBackoff = attempts, backoff }
}

// WithIDVOutcome sets the outcome of IDV tasks that complete on their own
// (CompleteAtOnce, CompleteAfterDelay); the default is accept.
func WithIDVOutcome(o IDVOutcome) Option { return func(c *config) { c.idvOutcome = o } }

// WithClock makes the fake read the time from now, for deterministic
// timestamps.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// NewServer starts a fake on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	cfg := config{
		apiKey:          DefaultAPIKey,
		callbackRetries: 3,
		callbackBackoff: 50 * time.Millisecond,
		idvOutcome:      IDVOutcome{State: kryptogo.IDVAccept},
		now:             time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{APIKey: cfg.apiKey, cfg: cfg, latency: cfg.latency, rfc3339: cfg.rfc3339Init}
	s.state = newStore(s, cfg)
	s.callbacks = newDeliverer(cfg.callbackRetries, cfg.callbackBackoff)
	s.httpServer = httptest.NewUnstartedServer(s.handler())
	if cfg.addr != "" {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			panic(fmt.Sprintf("kryptogotest: listen on %s: %v", cfg.addr, err))
		}
		_ = s.httpServer.Listener.Close()
		s.httpServer.Listener = ln
	}
	s.httpServer.Start()
	s.URL = s.httpServer.URL
	return s
}

// Cleaner is what NewTestServer needs of a *testing.T or *testing.B.
type Cleaner interface {
	Cleanup(func())
}

// NewTestServer starts a fake and closes it when the test ends.
func NewTestServer(t Cleaner, opts ...Option) *Server {
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// Client returns a kryptogo client for the fake, with short retry waits so
// that failure injection does not slow tests down. opts are applied after
// the fake's own and may override them.
func (s *Server) Client(opts ...kryptogo.Option) *kryptogo.Client {
	base := []kryptogo.Option{kryptogo.WithBaseURL(s.URL), kryptogo.WithRetryBackoff(time.Millisecond, 10*time.Millisecond)}
	c, err := kryptogo.NewClient(s.APIKey, append(base, opts...)...)
	if err != nil {
		panic("kryptogotest: " + err.Error())
	}
	return c
}

// Close stops the fake, its timers and its callback deliveries.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.callbacks.close()
	s.httpServer.Close()
}

// after runs fn after d, unless the server closes first.
func (s *Server) after(d time.Duration, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.timers = append(s.timers, time.AfterFunc(d, fn))
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header // without the API key
	Body   []byte
	Time   time.Time
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

type failure struct {
	path   string // "" for any path; a trailing * matches a prefix
	left   int
	status int
}

func (f failure) matches(path string) bool {
	if f.path == "" || f.path == path {
		return true
	}
	prefix, ok := strings.CutSuffix(f.path, "*")
	return ok && strings.HasPrefix(path, prefix)
}

// FailNext makes the next n requests, on any path, answer status.
func (s *Server) FailNext(n, status int) { s.FailNextOn("", n, status) }

// FailNextOn makes the next n requests to path answer status. A path ending
// in * matches every path with that prefix ("/task/*").
func (s *Server) FailNextOn(path string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{path: path, left: n, status: status})
}

// SetLatency delays every later answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetRFC3339InitTimestamp switches the timestamp form of POST /idv/init.
func (s *Server) SetRFC3339InitTimestamp(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rfc3339 = on
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(*http.Request) (int, any)) {
		mux.Handle(pattern, s.authenticated(h))
	}
	api("POST /kya", s.state.createKYA)
	api("GET /kya/detail/{id}", s.state.getKYA)
	api("POST /task", s.state.createTasks)
	api("GET /task/{id}/summary", s.state.taskSummary)
	api("GET /task/{id}", s.state.taskDetail)
	api("POST /task/{id}/accepted", s.state.setAccepted)
	api("PUT /task/{id}/metadata", s.state.setMetadata)
	api("GET /tasks", s.state.history)
	api("POST /idv", s.state.createIDV)
	api("GET /idv/{id}", s.state.getIDV)
	api("POST /idv/init", s.state.initWeb)
	api("POST /idv/account", s.state.initMobile)
	mux.HandleFunc("GET /idv/web/{token}", s.state.openWebSession) // the end user's browser: no key
	mux.Handle("/", s.authenticated(func(*http.Request) (int, any) { return apiError(http.StatusNotFound, "no such endpoint") }))
	return s.front(mux)
}

// front records the request, waits the latency and injects failures.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		latency, status := s.admit(r, body)
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "0")
			}
			writeError(w, status, "injected failure")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// admit logs the request and returns the latency and an injected status.
func (s *Server) admit(r *http.Request, body []byte) (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	header := r.Header.Clone()
	header.Del(kryptogo.DefaultAPIKeyHeader)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: header, Body: body, Time: s.cfg.now()})
	for i := range s.failures {
		f := &s.failures[i]
		if f.left > 0 && f.matches(r.URL.Path) {
			f.left--
			return s.latency, f.status
		}
	}
	return s.latency, 0
}

func (s *Server) authenticated(h func(*http.Request) (int, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(kryptogo.DefaultAPIKeyHeader) != s.APIKey {
			writeError(w, http.StatusUnauthorized, "invalid API token")
			return
		}
		status, body := h(r)
		writeJSON(w, status, body)
	})
}

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func apiError(status int, format string, args ...any) (int, any) {
	return status, errorBody{Code: status, Message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Code: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":500,"message":"kryptogotest: encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
