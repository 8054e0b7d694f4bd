package kryptogotest

import (
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// Completion is when the fake finishes DD tasks and IDV tasks.
type Completion int

// The completion modes.
const (
	// CompleteAtOnce finishes a task as soon as it is created (or, for a
	// web IDV session, as soon as its URL is opened). The default.
	CompleteAtOnce Completion = iota
	// CompleteAfterDelay finishes a task after the delay of
	// WithCompletionDelay.
	CompleteAfterDelay
	// CompleteManually leaves tasks pending until the test calls
	// CompleteTask or CompleteIDV; see WithManualCompletion.
	CompleteManually
)

// config is what the options set. The constructor reads it once; the
// Server keeps it unchanged for its life, the store never sees it.
type config struct {
	apiKey          string
	addr            string
	completion      Completion
	delay           time.Duration
	sanctioned      []string
	latency         time.Duration
	historyLag      time.Duration
	rateN           int
	ratePer         time.Duration
	rfc3339Init     bool
	callbackRetries int
	callbackBackoff time.Duration
	idvOutcome      IDVOutcome
	now             func() time.Time
}

// newConfig is the one place of the fake's defaults: NewServer, Listen and
// the kryptogo-fake command (which adds options only for the flags given)
// all start from it, so they answer the same requests alike.
func newConfig(opts []Option) config {
	cfg := config{
		apiKey:          DefaultAPIKey,
		sanctioned:      []string{SampleSanctionedAddress},
		rfc3339Init:     true,
		callbackRetries: 3,
		callbackBackoff: 50 * time.Millisecond,
		idvOutcome:      IDVOutcome{State: kryptogo.IDVAccept},
		now:             time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	return cfg
}

// Option configures a Server.
type Option func(*config)

// WithAPIKey sets the key the fake accepts.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithAddr listens on addr ("127.0.0.1:8787") instead of a random loopback
// port. NewServer panics when it cannot listen there; Listen(addr) returns
// the error.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithCompletionDelay makes tasks finish d after they are created (a web IDV
// session: d after its URL is opened).
func WithCompletionDelay(d time.Duration) Option {
	return func(c *config) { c.completion, c.delay = CompleteAfterDelay, d }
}

// WithManualCompletion leaves tasks pending until the test calls
// CompleteTask or CompleteIDV.
func WithManualCompletion() Option {
	return func(c *config) { c.completion, c.delay = CompleteManually, 0 }
}

// WithCompletion sets when tasks finish; delay is used by CompleteAfterDelay.
//
// Deprecated: use WithCompletionDelay or WithManualCompletion; finishing at
// once is the default.
func WithCompletion(mode Completion, delay time.Duration) Option {
	return func(c *config) { c.completion, c.delay = mode, delay }
}

// SampleSanctionedAddress is the address of the reference's KYA samples.
// Every fake reports it as a sanctions-list match from the start, so that
// screening the sample shows a match whichever way the fake was started.
const SampleSanctionedAddress = "0x72a5843cc08275c8171e582972aa4fda8c397b2a"

// WithSanctionedAddresses makes KYA report the addresses as matching the
// sanctions list (compared case-insensitively), besides
// SampleSanctionedAddress. SetSanctionedAddresses adds more on a running
// fake.
func WithSanctionedAddresses(addresses ...string) Option {
	return func(c *config) { c.sanctioned = append(c.sanctioned, addresses...) }
}

// WithLatency delays every answer by d; SetLatency changes it later.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// WithHistoryLag makes a new task show in GET /tasks only d after its
// creation, as a search index that lags behind the API does (the task's
// summary and detail are there at once). It tests code that looks tasks up
// after a create in doubt: Client sets the SDK's reconciliation wait above
// d. SetHistoryLag changes it later.
func WithHistoryLag(d time.Duration) Option { return func(c *config) { c.historyLag = d } }

// WithRateLimit makes the fake answer 429 Too Many Requests, with
// Retry-After in whole seconds, to a request beyond n in any span of per (a
// sliding window: n requests were admitted within per before it), for
// testing your throttling. It covers every endpoint. A refused request does
// not count toward the limit, uses no injected failure, and shows in
// Requests with RateLimited set. SetRateLimit changes it later; n of 0 or
// less turns it off.
func WithRateLimit(n int, per time.Duration) Option {
	return func(c *config) { c.rateN, c.ratePer = n, per }
}

// WithRFC3339InitTimestamp makes POST /idv/init answer its timestamp as an
// RFC 3339 string, as the real API does (API-NOTES). It is the default;
// WithUnixInitTimestamp and SetRFC3339InitTimestamp(false) give unix seconds.
func WithRFC3339InitTimestamp() Option { return func(c *config) { c.rfc3339Init = true } }

// WithUnixInitTimestamp makes POST /idv/init answer its timestamp in unix
// seconds, as the reference's other endpoints do, instead of the RFC 3339
// string the real API sends.
func WithUnixInitTimestamp() Option { return func(c *config) { c.rfc3339Init = false } }

// WithCallbackRetries sets how many times a callback is sent before the fake
// gives up (default 3), and the pause before the first retry (default 50 ms,
// doubling).
func WithCallbackRetries(attempts int, backoff time.Duration) Option {
	return func(c *config) { c.callbackRetries, c.callbackBackoff = attempts, backoff }
}

// WithIDVOutcome sets the outcome of IDV tasks that complete on their own
// (at once or after the delay); the default is accept.
func WithIDVOutcome(o IDVOutcome) Option { return func(c *config) { c.idvOutcome = o } }

// WithClock makes the fake read the time from now, for deterministic
// timestamps.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
