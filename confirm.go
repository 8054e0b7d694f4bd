package kryptogo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// The confirmations of a CallbackHandler are requests on the app's key that
// anyone who reaches the handler can trigger (a forged body, a leaked signed
// URL). They are bounded per client, since the key is the client's, not the
// handler value's (an app may build its handler per callback, or serve two
// on one client): a rate cap with a burst, shared by the client's handlers
// with the same ConfirmRate and ConfirmBurst; one request at a time per
// record; no retries; and a flow control shared by every confirmation of
// the client and by nothing else, so that a flood of callbacks neither
// spends the app's retry budget nor pauses its calls when the API answers
// 429, and a 429 met by one handler holds the confirmations of all.

// Defaults of CallbackHandler.ConfirmRate and ConfirmBurst.
const (
	DefaultConfirmRate  = 5.0
	DefaultConfirmBurst = 10
)

// confirmTimeout bounds one confirmation request: a sender gives up on a
// callback long before, and a pause longer than that is answered at once.
const confirmTimeout = 30 * time.Second

// confirmRetryAfter is the Retry-After of a 503 after a transient failure
// that named no time of its own (a network error, a 5xx).
const confirmRetryAfter = 5 * time.Second

// refusalReportEvery is how often refused callbacks are summarised at warn.
const refusalReportEvery = time.Second

// confirmations are the confirmation requests of every CallbackHandler of
// one client.
type confirmations struct {
	flow *flow // their own retry budget and 429 pause

	mu       sync.Mutex
	byLimits map[confirmLimits]*confirmer
}

func newConfirmations(pauses PauseStore, apiKey string) *confirmations {
	return &confirmations{flow: newFlow(DefaultRetryBudget).share(pauses, keyedScope(pauseScopeConfirm, apiKey)), byLimits: map[confirmLimits]*confirmer{}}
}

// confirmLimits are a rate cap: rate a second, after a burst.
type confirmLimits struct {
	rate  float64
	burst int
}

// newConfirmLimits returns the cap a handler's settings ask for, with the
// defaults for the unset (or meaningless) ones.
func newConfirmLimits(rate float64, burst int) confirmLimits {
	if !(rate > 0) { // NaN included
		rate = DefaultConfirmRate
	}
	if burst <= 0 {
		burst = DefaultConfirmBurst
	}
	return confirmLimits{rate: rate, burst: burst}
}

// confirmer returns the confirmations of the client's handlers whose cap is
// rate and burst: every handler with those settings shares it, however many
// handler values the app builds.
func (c *Client) confirmer(rate float64, burst int) *confirmer {
	limits := newConfirmLimits(rate, burst)
	cs := c.confirms
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cf := cs.byLimits[limits]
	if cf == nil {
		cf = newConfirmer(c, cs.flow, limits)
		cs.byLimits[limits] = cf
	}
	return cf
}

// confirmer sends the confirmations of the client's handlers with one cap.
type confirmer struct {
	client *Client
	flow   *flow    // the client's confirmations' retry budget and 429 pause
	opts   []Option // withFlow(flow), and no retries: the sender retries
	rate   float64
	burst  int

	mu       sync.Mutex
	bucket   tokenBucket
	records  map[recordKey]*recordFlights
	refusals refusalLog
}

func newConfirmer(client *Client, fl *flow, limits confirmLimits) *confirmer {
	return &confirmer{
		client:  client,
		flow:    fl,
		opts:    []Option{withFlow(fl), WithMaxRetries(0)},
		rate:    limits.rate,
		burst:   limits.burst,
		bucket:  tokenBucket{rate: limits.rate, burst: float64(limits.burst)},
		records: map[recordKey]*recordFlights{},
	}
}

// recordKey names the record a callback is about.
type recordKey struct {
	kind CallbackKind
	id   ID
}

// recordFlights are the confirmations of one record: the one in flight, and
// the next, which every callback that arrives meanwhile shares. A callback
// never shares a request sent before it arrived: that request may have read
// the state its callback announces a change of.
type recordFlights struct {
	running, next *confirmFlight
	// first is the flight of a record that had none in flight, the usual
	// case: it comes in the allocation of the record's entry.
	first confirmFlight
}

// confirmFlight is one confirmation request and the callbacks waiting for it.
type confirmFlight struct {
	done    chan struct{} // closed when record and err are set
	waiting int           // callbacks that joined it; under confirmer.mu
	taken   int           // callbacks handed its record; under confirmer.mu
	copies  sync.WaitGroup
	record  *CallbackEvent // fetched, once the request succeeded
	err     error
	fetched CallbackEvent // the request's record, in the flight's allocation
	// panicked is the panic of a request sent on a goroutine of its own
	// (join), passed on to one waiting callback (rethrown, under
	// confirmer.mu), whose server recovers it.
	panicked any
	rethrown bool
}

// confirmRefusal refuses a callback without a request: the confirmations
// are over their rate cap, or paused by a 429. The sender is told to come
// back after retryAfter.
type confirmRefusal struct {
	reason     string
	retryAfter time.Duration
}

func (e *confirmRefusal) Error() string { return "confirm: " + e.reason }

// fetch returns the API's record for a callback about kind and id, fetched
// by a request sent after the call began; the record is the caller's own
// copy. A *confirmRefusal means no request was sent for it.
func (c *confirmer) fetch(ctx context.Context, log *slog.Logger, kind CallbackKind, id ID) (*CallbackEvent, error) {
	key := recordKey{kind, id}
	f, refusal, report, lead := c.join(ctx, key)
	if lead {
		// No request of the record is in flight: the callback sends f's
		// itself, on its own goroutine (no goroutine started and grown for
		// it). As in a goroutine of its own, the request ends at
		// confirmTimeout, not when this callback's sender hangs up: the
		// callbacks that joined f wait for it.
		c.run(context.WithoutCancel(ctx), key, f, nil)
	}
	if refusal != nil {
		if report > 0 {
			log.LogAttrs(ctx, slog.LevelWarn, "kryptogo callback confirmations refused", slog.Int("refused", report),
				slog.String("reason", refusal.reason), slog.Duration("retry_after", refusal.retryAfter))
		}
		return nil, refusal
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		c.leave(f)
		return nil, ctx.Err()
	}
	if f.err != nil {
		if p := c.rethrow(f); p != nil {
			panic(p)
		}
		return nil, f.err
	}
	return c.take(f)
}

// rethrow returns the panic of f's request to the first callback that
// asks for it, nil to the others: the panic reaches a server once.
func (c *confirmer) rethrow(f *confirmFlight) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.panicked == nil || f.rethrown {
		return nil
	}
	f.rethrown = true
	return f.panicked
}

// take hands a callback that waited for f its own record: the last of the
// callbacks to take it gets the flight's record itself, once every copy of
// it is made (its function may change it); each other one a copy. A lone
// callback, the usual case, costs no copy.
func (c *confirmer) take(f *confirmFlight) (*CallbackEvent, error) {
	c.mu.Lock()
	f.taken++
	last := f.taken >= f.waiting // no callback joins a flight once it is done
	if !last {
		f.copies.Add(1)
	}
	c.mu.Unlock()
	if last {
		f.copies.Wait()
		return f.record, nil
	}
	defer f.copies.Done()
	return f.record.clone()
}

// join returns the flight the callback waits for: the record's next one if
// there is one, else a new one, which takes a token of the rate cap. While
// the confirmations are paused, or no token is left, it refuses, and
// report is how many refusals to summarise now (0: none). A new flight
// after one in flight is sent by a goroutine once that one ends; lead says
// that the flight is new and the record has none in flight: the caller
// sends it (run).
func (c *confirmer) join(ctx context.Context, key recordKey) (f *confirmFlight, refusal *confirmRefusal, report int, lead bool) {
	now := c.client.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if left := c.pausedFor(now); left > 0 {
		return nil, &confirmRefusal{reason: "confirmations paused: the API answered 429", retryAfter: left}, c.refusals.add(now), false
	}
	r := c.records[key]
	if r != nil && r.next != nil {
		r.next.waiting++
		return r.next, nil, 0, false
	}
	if wait, ok := c.bucket.take(now); !ok {
		reason := fmt.Sprintf("over the confirmation rate cap (%g a second, burst %d)", c.rate, c.burst)
		return nil, &confirmRefusal{reason: reason, retryAfter: wait}, c.refusals.add(now), false
	}
	if r == nil {
		r = &recordFlights{first: confirmFlight{done: make(chan struct{}), waiting: 1}}
		r.running = &r.first
		c.records[key] = r
		return r.running, nil, 0, true
	}
	f = &confirmFlight{done: make(chan struct{}), waiting: 1}
	prev := r.running
	r.next = f
	// The request runs for every callback that joins it: no single
	// caller's cancellation ends it, but confirmTimeout does.
	go c.run(context.WithoutCancel(ctx), key, f, prev)
	return f, nil, 0, false
}

// leave takes back a callback that stopped waiting for f.
func (c *confirmer) leave(f *confirmFlight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiting--
}

// pausedFor returns what remains of a pause of the confirmations, or of
// the app's calls: a key the API asked to slow down is not spent on
// callbacks either.
func (c *confirmer) pausedFor(now time.Time) time.Duration {
	return max(c.flow.pausedFor(now), c.client.flow.pausedFor(now))
}

// run sends f's request once prev, the record's request in flight, ended.
func (c *confirmer) run(ctx context.Context, key recordKey, f, prev *confirmFlight) {
	if prev != nil {
		<-prev.done
	}
	c.mu.Lock()
	if prev != nil {
		r := c.records[key]
		r.running, r.next = f, nil
	}
	left := c.pausedFor(c.client.now())
	c.mu.Unlock()
	// Ended even by a panic of the request (a Middleware's), which the
	// callback that sends it passes on to its server: else the record's
	// later callbacks would wait for f forever.
	defer c.land(key, f)
	if prev != nil {
		// On a goroutine of its own (join), where no server recovers a
		// panic: it would end the process. A waiting callback passes it
		// on instead (fetch); recovered before land, which publishes it.
		defer func() {
			if p := recover(); p != nil {
				f.panicked = p
			}
		}()
	}

	if left > 0 { // a 429 came while f waited
		f.err = &confirmRefusal{reason: "confirmations paused: the API answered 429", retryAfter: left}
	} else {
		ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
		defer cancel()
		f.err = errConfirmPanicked // unless the request returns
		if f.err = c.request(ctx, key, &f.fetched); f.err == nil {
			f.record = &f.fetched
		}
	}
}

// errConfirmPanicked is the error of a confirmation whose request panicked.
var errConfirmPanicked = errors.New("kryptogo: confirm: the request panicked")

// land ends flight f of the record key: the next one, if any, may go.
func (c *confirmer) land(key recordKey, f *confirmFlight) {
	c.mu.Lock()
	if r := c.records[key]; r.next == nil {
		delete(c.records, key)
	}
	c.mu.Unlock()
	close(f.done)
}

// request fetches the record from the API, on the confirmations' flow,
// into fetched.
func (c *confirmer) request(ctx context.Context, key recordKey, fetched *CallbackEvent) error {
	var err error
	switch key.kind {
	case CallbackTask:
		var task *TaskSummary
		if task, err = c.client.Tasks.Summary(ctx, key.id, c.opts...); err == nil {
			*fetched = CallbackEvent{Kind: key.kind, Task: task}
		}
	case CallbackIDV:
		var idv *IDVTask
		if idv, err = c.client.IDV.Get(ctx, key.id, c.opts...); err == nil {
			*fetched = CallbackEvent{Kind: key.kind, IDV: idv}
		}
	default:
		err = fmt.Errorf("kryptogo: confirm: unknown callback kind %v", key.kind)
	}
	return err
}

// clone returns a copy of the event's record that shares no memory with
// it, decoded again from its JSON: the callbacks that shared a request each
// hand their function a record of their own.
func (e *CallbackEvent) clone() (*CallbackEvent, error) {
	out := &CallbackEvent{Kind: e.Kind}
	var err error
	switch {
	case e.Task != nil:
		out.Task = new(TaskSummary)
		err = json.Unmarshal(e.Task.RawJSON(), out.Task)
	case e.IDV != nil:
		out.IDV = new(IDVTask)
		err = json.Unmarshal(e.IDV.RawJSON(), out.IDV)
	}
	if err != nil {
		return nil, fmt.Errorf("kryptogo: confirm: copying the record: %w", valueFreeDecodeError(err))
	}
	return out, nil
}

// retryAfterOf is how long a refused or failed confirmation asks the sender
// to wait: the refusal's, the API's Retry-After, or confirmRetryAfter. The
// API's is passed on up to maxRetryAfter, the longest pause the
// confirmations take: a sender told to wait longer (a day, say) would hold
// legitimate callbacks long after confirmations resumed.
func retryAfterOf(err error) time.Duration {
	var refusal *confirmRefusal
	if errors.As(err, &refusal) {
		return refusal.retryAfter
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return min(apiErr.RetryAfter, maxRetryAfter)
	}
	return confirmRetryAfter
}

// retryAfterHeader renders d as whole seconds, rounded up, at least 1.
func retryAfterHeader(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

// tokenBucket is the rate cap of confirmations: burst tokens, refilled at
// rate a second. Its clock is the client's (now hook).
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take spends a token at now, or reports how long until one is due.
func (b *tokenBucket) take(now time.Time) (time.Duration, bool) {
	switch {
	case b.last.IsZero():
		b.tokens, b.last = b.burst, now
	case now.After(b.last):
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	// A tiny rate must not overflow the Duration: no sender waits an hour.
	// A token a rounding error short still asks for a wait: a zero one
	// would answer a 503 that says nothing of when to come back.
	wait := time.Duration(min((1-b.tokens)/b.rate, time.Hour.Seconds()) * float64(time.Second))
	return max(wait, time.Millisecond), false
}

// refusalLog counts refused callbacks between two warn summaries.
type refusalLog struct {
	count int
	last  time.Time // of the last summary
}

// add counts a refusal at now and returns how many to report, 0 when the
// last report is less than refusalReportEvery old.
func (l *refusalLog) add(now time.Time) int {
	l.count++
	if !l.last.IsZero() && now.Sub(l.last) < refusalReportEvery {
		return 0
	}
	n := l.count
	l.count, l.last = 0, now
	return n
}
