package kryptogotest

import (
	"fmt"
	"net"
	"net/http/httptest"
	"sync"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey sets another.
const DefaultAPIKey = "kryptogotest-api-key"

// Server is a running fake KryptoGO API.
type Server struct {
	// URL is the base URL of the fake, such as http://127.0.0.1:41234.
	URL string
	// APIKey is the key the fake accepts.
	APIKey string

	cfg        config // set once by the constructor, read without the lock
	httpServer *httptest.Server
	callbacks  *deliverer // safe on its own; used only after mu is released

	// mu guards everything below: the store and the knobs. Callbacks are
	// sent and completions run after it is released.
	mu       sync.Mutex
	state    *store
	failures faults
	rate     rateWindow
	latency  time.Duration
	// historyLag delays a new task's listing in GET /tasks (WithHistoryLag).
	historyLag  time.Duration
	decideFault func(Request) Fault // SetFaultFunc
	requests    []Request
	requestNo   int
	rfc3339     bool
	closed      bool
	timers      []*time.Timer
}

// NewServer starts a fake on a loopback port. Close it when done. With
// WithAddr on an address it cannot listen on, it panics; Listen returns that
// error instead.
func NewServer(opts ...Option) *Server {
	s, err := newServer(newConfig(opts))
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Listen starts a fake listening on addr ("127.0.0.1:8787"), or returns why
// it cannot (the address is busy, say). Close it when done.
func Listen(addr string, opts ...Option) (*Server, error) {
	cfg := newConfig(opts)
	cfg.addr = addr
	return newServer(cfg)
}

func newServer(cfg config) (*Server, error) {
	s := &Server{APIKey: cfg.apiKey, cfg: cfg, latency: cfg.latency, historyLag: cfg.historyLag, rfc3339: cfg.rfc3339Init, state: newStore(),
		rate: rateWindow{n: cfg.rateN, per: cfg.ratePer}}
	s.state.addSanctioned(cfg.sanctioned)
	s.httpServer = httptest.NewUnstartedServer(s.handler())
	if cfg.addr != "" {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			s.httpServer.Close()
			return nil, fmt.Errorf("kryptogotest: listen on %s: %w", cfg.addr, err)
		}
		_ = s.httpServer.Listener.Close()
		s.httpServer.Listener = ln
	}
	s.callbacks = newDeliverer(cfg.callbackRetries, cfg.callbackBackoff)
	// URL is set before the first request can arrive: handlers read it.
	s.URL = "http://" + s.httpServer.Listener.Addr().String()
	s.httpServer.Start()
	return s, nil
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

// Client returns a kryptogo client for the fake, with every SDK wait
// shortened, so that failure injection does not slow tests down: retries
// wait 1 to 10 ms instead of 500 ms to 8 s (a 429 pause too, as the fake's
// injected 429s carry Retry-After: 0); Tasks.Wait, IDV.Wait (without
// WaitOptions intervals) and a create waiting for another caller's
// idempotency key poll every 1 to 10 ms; and the history lookup of a task
// create in doubt (CreateOnce, idempotency keys) looks for 20 ms in all, or
// 50 ms more than the history lag (WithHistoryLag) when there is one. opts
// are applied after the fake's own and may override them. Only a rate
// limit (WithRateLimit) still pauses the client for its Retry-After.
//
// opts are client options, as NewClient takes. Client panics when
// NewClient refuses one, since a test helper has no better way to report a
// broken test setup: a bad value, or an option that only a single call
// takes (kryptogo.WithResponseInfo; pass it to the call instead).
func (s *Server) Client(opts ...kryptogo.Option) *kryptogo.Client {
	s.mu.Lock()
	lag := s.historyLag
	s.mu.Unlock()
	reconcile := 20 * time.Millisecond
	if lag > 0 {
		reconcile = lag + 50*time.Millisecond // the last look comes after the lag
	}
	base := []kryptogo.Option{
		kryptogo.WithBaseURL(s.URL),
		kryptogo.WithRetryBackoff(time.Millisecond, 10*time.Millisecond),
		kryptogo.WithPollInterval(time.Millisecond, 10*time.Millisecond),
		kryptogo.WithReconcileWait(reconcile),
	}
	c, err := kryptogo.NewClient(s.APIKey, append(base, opts...)...)
	if err != nil {
		panic("kryptogotest: " + err.Error())
	}
	return c
}

// Close stops the fake, its timers and its callback deliveries. No callback
// reaches a receiver after Close returned.
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

// stamp is the fake's time, in whole seconds as the API answers it.
func (s *Server) stamp() kryptogo.Timestamp {
	return kryptogo.Timestamp{Time: s.cfg.now().UTC().Truncate(time.Second)}
}

// change runs op on the store under the lock, encodes its answer while the
// state cannot move, and carries out its effects (callbacks, completions)
// once the lock is released.
func (s *Server) change(op func(st *store, now kryptogo.Timestamp) (any, effects, error)) (any, error) {
	s.mu.Lock()
	body, fx, err := op(s.state, s.stamp())
	if err == nil {
		body, err = encode(body)
	}
	s.mu.Unlock()
	s.carryOut(fx)
	return body, err
}

// view runs a read-only op on the store under the lock and encodes its answer.
func (s *Server) view(op func(st *store) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, err := op(s.state)
	if err != nil {
		return nil, err
	}
	return encode(body)
}

// carryOut sends the callbacks a change made due and completes the tasks it
// created, per the completion mode. It runs without the lock: a completion
// at once is a change of its own.
func (s *Server) carryOut(fx effects) {
	for _, cb := range fx.callbacks {
		s.callbacks.send(cb.url, cb.kind, cb.payload)
	}
	for _, id := range fx.newTasks {
		s.schedule(func(st *store, now kryptogo.Timestamp) (effects, error) { return st.finishTaskOnItsOwn(id, now) })
	}
	for _, id := range fx.newIDV {
		s.schedule(func(st *store, now kryptogo.Timestamp) (effects, error) {
			return st.finishIDV(id, s.cfg.idvOutcome, now)
		})
	}
}

// completion finishes a task in the store and returns what that makes due.
type completion func(st *store, now kryptogo.Timestamp) (effects, error)

// schedule runs a completion per the completion mode: now, after the delay,
// or never (the test completes the task). A task the test completed first
// is left as it is, so the completion's error is dropped.
func (s *Server) schedule(finish completion) {
	switch s.cfg.completion {
	case CompleteAtOnce:
		_ = s.complete(finish)
	case CompleteAfterDelay:
		s.after(s.cfg.delay, func() { _ = s.complete(finish) })
	}
}

// complete runs a completion under the lock and carries out its effects
// after releasing it.
func (s *Server) complete(finish completion) error {
	s.mu.Lock()
	fx, err := finish(s.state, s.stamp())
	s.mu.Unlock()
	s.carryOut(fx)
	return err
}
