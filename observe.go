package kryptogo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Observability: an Observer sees what the SDK does for each call (its
// attempts, retry waits, the retry budget, the client-wide pause), each
// reconciliation of a create in doubt, and each callback a CallbackHandler
// handles. It is a struct of optional funcs, as net/http/httptrace's
// ClientTrace is: a hook left nil costs nothing, a client without an
// Observer does no work and no allocation for it, and a hook added in a
// later version breaks no one (a method added to an interface would break
// every implementation). Hooks see operation names, route templates,
// statuses, request ids (masked as errors mask them), error classes,
// counts and durations: never the API key, a path with an id in it, a body
// or a personal value.

// Observer receives what the SDK does through whichever of its funcs are set
// (WithObserver; CallbackHandler.Observer). Its funcs may run concurrently and
// must return quickly. A ...Start func returns a context derived from ctx,
// which the requests and the matching ...Done func get.
type Observer struct {
	CallStart     func(ctx context.Context, info CallStartInfo) context.Context     // per method call, per KYA.Screen item
	CallDone      func(ctx context.Context, info CallDoneInfo)                      // when the call returns
	AttemptStart  func(ctx context.Context, info AttemptStartInfo) context.Context  // before each request
	AttemptDone   func(ctx context.Context, info AttemptDoneInfo)                   // its answer read, or failed
	RetryWait     func(ctx context.Context, info RetryWaitInfo)                     // before waiting to retry
	RetryBudget   func(ctx context.Context, info RetryBudgetInfo)                   // tokens spent, earned, or lacking
	PauseStart    func(ctx context.Context, info PauseStartInfo)                    // the call waits for a 429's pause
	PauseDone     func(ctx context.Context, info PauseDoneInfo)                     // and stops waiting
	Reconcile     func(ctx context.Context, info ReconcileInfo)                     // a send in doubt was looked up
	CallbackStart func(ctx context.Context, info CallbackStartInfo) context.Context // a CallbackHandler got a request
	CallbackDone  func(ctx context.Context, info CallbackDoneInfo)                  // and answered it
	Middleware    Middleware                                                        // inside WithMiddleware's, for trace headers
}

// CallStartInfo describes a call that starts.
type CallStartInfo struct {
	Operation     Operation
	ServerAddress string // the base URL's host
	ServerPort    int
}

// CallDoneInfo is the outcome of a call.
type CallDoneInfo struct {
	Operation  Operation
	Attempts   int        // requests sent; 0 when refused or paused before one
	StatusCode int        // the last answer's; 0 when none came
	RequestID  string     // the last answer's, masked; "" when none came
	ErrorClass ErrorClass // "" when it succeeded
	Duration   time.Duration
}

// AttemptStartInfo describes a request about to be sent.
type AttemptStartInfo struct {
	Operation Operation
	Attempt   int // from 1
}

// AttemptDoneInfo is the outcome of one request.
type AttemptDoneInfo struct {
	Operation  Operation
	Attempt    int
	StatusCode int           // 0 when no answer came
	RequestID  string        // masked as in APIError; "" if none
	ErrorClass ErrorClass    // "" for a 2xx answer
	Pause      time.Duration // how long its 429 paused the client's calls
	Duration   time.Duration
}

// RetryWaitInfo describes the wait before a retry.
type RetryWaitInfo struct {
	Operation  Operation
	Attempt    int           // the attempt that failed; the retry is Attempt+1
	StatusCode int           // the failed attempt's status; 0 if no answer came
	ErrorClass ErrorClass    // why it failed
	Wait       time.Duration // how long the call waits before the retry
}

// RetryBudgetInfo is a call's change of the client's retry budget.
type RetryBudgetInfo struct {
	Operation Operation
	Spent     int  // tokens a retry took
	Refunded  int  // tokens a success put back
	Exhausted bool // a retry was refused: the budget held too few tokens
	Available int  // tokens left after the change
	Capacity  int  // the budget's size
}

// PauseStartInfo describes a call that starts waiting for a 429's pause.
type PauseStartInfo struct {
	Operation Operation
	Wait      time.Duration // what remains of the pause
}

// PauseDoneInfo describes the end of a call's wait for the pause.
type PauseDoneInfo struct {
	Operation Operation
	Waited    time.Duration
	GaveUp    bool // the call ended unsent: the pause outlasts its deadline or context
}

// ReconcileOutcome is what looking a create in doubt up found.
type ReconcileOutcome string

// The outcomes of a reconciliation.
const (
	ReconcileFound   ReconcileOutcome = "found"   // every task found: none sent again
	ReconcileAbsent  ReconcileOutcome = "absent"  // some provably not created: sent again
	ReconcileUnknown ReconcileOutcome = "unknown" // the lookup failed: ErrMaybeSent
)

// ReconcileInfo describes one look in the history after a send in doubt.
type ReconcileInfo struct {
	Operation Operation
	Requests  int // tasks in doubt
	Found     int // of them found in the history
	Outcome   ReconcileOutcome
	Duration  time.Duration
}

// CallbackOutcome is what a CallbackHandler did with a callback.
type CallbackOutcome string

// The outcomes of a callback. The first three answer 204.
const (
	CallbackDelivered     CallbackOutcome = "delivered"      // OnTask or OnIDV ran and succeeded
	CallbackAcknowledged  CallbackOutcome = "acknowledged"   // no function for its kind
	CallbackDuplicate     CallbackOutcome = "duplicate"      // processed before (CallbackStore)
	CallbackBadMethod     CallbackOutcome = "bad_method"     // 405: not a POST
	CallbackUnauthorized  CallbackOutcome = "unauthorized"   // 401: no valid signature
	CallbackMalformed     CallbackOutcome = "malformed"      // 400: not a callback
	CallbackTooLarge      CallbackOutcome = "too_large"      // 413: over MaxBodyBytes
	CallbackForbidden     CallbackOutcome = "forbidden"      // 403: another customer's or record's
	CallbackUnknownRecord CallbackOutcome = "unknown_record" // 422: the API does not know the record
	CallbackUnavailable   CallbackOutcome = "unavailable"    // 503: come back later (Retry-After)
	CallbackFailed        CallbackOutcome = "failed"         // 500: OnTask or OnIDV failed
	CallbackError         CallbackOutcome = "error"          // 500: misconfigured, or Confirm refused
)

// CallbackStartInfo describes a request a CallbackHandler received.
type CallbackStartInfo struct {
	Method string
}

// CallbackDoneInfo is how a CallbackHandler answered a callback.
type CallbackDoneInfo struct {
	Kind       CallbackKind // 0 when the body was not decoded
	RecordID   ID           // the task or IDV task id; 0 when not decoded
	Outcome    CallbackOutcome
	StatusCode int
	Verified   bool // the URL's signature was checked
	Confirmed  bool // the record was re-fetched from the API
	Duration   time.Duration
}

// WithObserver makes o see the client's calls, or one call (after the client's).
func WithObserver(o *Observer) Option {
	return func(s *settings) error {
		if o == nil {
			return errors.New("kryptogo: WithObserver: nil *Observer")
		}
		s.observer = joinObservers(s.observer, o)
		if o.Middleware != nil {
			s.middleware = append(s.middleware[:len(s.middleware):len(s.middleware)], o.Middleware)
		}
		return nil
	}
}

// joinObservers returns an Observer that calls a's funcs, then b's.
func joinObservers(a, b *Observer) *Observer {
	if a == nil {
		return b
	}
	return &Observer{
		CallStart:     joinStart(a.CallStart, b.CallStart),
		CallDone:      joinHook(a.CallDone, b.CallDone),
		AttemptStart:  joinStart(a.AttemptStart, b.AttemptStart),
		AttemptDone:   joinHook(a.AttemptDone, b.AttemptDone),
		RetryWait:     joinHook(a.RetryWait, b.RetryWait),
		RetryBudget:   joinHook(a.RetryBudget, b.RetryBudget),
		PauseStart:    joinHook(a.PauseStart, b.PauseStart),
		PauseDone:     joinHook(a.PauseDone, b.PauseDone),
		Reconcile:     joinHook(a.Reconcile, b.Reconcile),
		CallbackStart: joinStart(a.CallbackStart, b.CallbackStart),
		CallbackDone:  joinHook(a.CallbackDone, b.CallbackDone),
		// The middlewares were installed one by one (WithObserver).
	}
}

func joinHook[T any](a, b func(context.Context, T)) func(context.Context, T) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, info T) {
		a(ctx, info)
		b(ctx, info)
	}
}

func joinStart[T any](a, b func(context.Context, T) context.Context) func(context.Context, T) context.Context {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, info T) context.Context {
		return startHook(b, startHook(a, ctx, info), info)
	}
}

// startHook calls a ...Start hook, if set, and returns its context (ctx if
// it returned none).
func startHook[T any](hook func(context.Context, T) context.Context, ctx context.Context, info T) context.Context {
	if hook == nil {
		return ctx
	}
	if out := hook(ctx, info); out != nil {
		return out
	}
	return ctx
}

// serverOf returns the host and port a base URL names, for CallStartInfo.
func serverOf(host, scheme string) (string, int) {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	if n, err := strconv.Atoi(port); err == nil {
		return name, n
	}
	if scheme == "http" {
		return name, 80
	}
	return name, 443
}

// callObservation is one observed call: what its hooks are told, gathered
// as it goes. Calls without an Observer have none (a nil pointer, whose
// methods do nothing).
type callObservation struct {
	o         *Observer
	op        *Operation
	ctx       context.Context // the call's, from CallStart
	start     time.Time
	attempts  int
	status    int
	requestID string
	// The attempt under way: its context (from AttemptStart) and start.
	attemptCtx context.Context
	attemptAt  time.Time
}

// startObservation starts observing a call of op.
func (c *Client) startObservation(ctx context.Context, o *Observer, op *Operation) callObservation {
	obs := callObservation{o: o, op: op, start: time.Now()}
	obs.ctx = startHook(o.CallStart, ctx, CallStartInfo{Operation: *op, ServerAddress: c.serverAddr, ServerPort: c.serverPort})
	return obs
}

// callDone reports the end of the call, with err its outcome.
func (obs *callObservation) callDone(err error) {
	if obs.o.CallDone == nil {
		return
	}
	obs.o.CallDone(obs.ctx, CallDoneInfo{Operation: *obs.op, Attempts: obs.attempts, StatusCode: obs.status,
		RequestID: obs.requestID, ErrorClass: ErrorClassOf(err), Duration: time.Since(obs.start)})
}

// attemptStart reports an attempt about to be sent and returns its context.
func (obs *callObservation) attemptStart(ctx context.Context) context.Context {
	obs.attempts++
	obs.attemptAt = time.Now()
	obs.attemptCtx = startHook(obs.o.AttemptStart, ctx, AttemptStartInfo{Operation: *obs.op, Attempt: obs.attempts})
	return obs.attemptCtx
}

// attemptDone reports the end of the attempt under way: res, whose failure
// (nil for a 2xx) is failure, and which paused the client for pause.
func (obs *callObservation) attemptDone(res result, failure error, pause time.Duration, mask *callMask) {
	if obs == nil || obs.attemptCtx == nil {
		return // no request went out (a RateLimiter failed)
	}
	ctx := obs.attemptCtx
	obs.attemptCtx = nil
	if res.status != 0 {
		obs.status = res.status
		obs.requestID = ""
		if id := requestIDFrom(res.header); id != "" {
			obs.requestID = mask.scrubber().text(id)
		}
	}
	if obs.o.AttemptDone == nil {
		return
	}
	obs.o.AttemptDone(ctx, AttemptDoneInfo{Operation: *obs.op, Attempt: obs.attempts, StatusCode: res.status,
		RequestID: obs.requestIDOf(res), ErrorClass: ErrorClassOf(failure), Pause: pause, Duration: time.Since(obs.attemptAt)})
}

// requestIDOf is the masked request id of res: the call's last, when res
// came with an answer.
func (obs *callObservation) requestIDOf(res result) string {
	if res.status == 0 {
		return ""
	}
	return obs.requestID
}

// retryWait reports the wait before retrying after attempt failed.
func (obs *callObservation) retryWait(attempt int, wait time.Duration, res result, failure error) {
	if obs == nil || obs.o.RetryWait == nil {
		return
	}
	obs.o.RetryWait(obs.ctx, RetryWaitInfo{Operation: *obs.op, Attempt: attempt, StatusCode: res.status,
		ErrorClass: ErrorClassOf(failure), Wait: wait})
}

// budgetChange is what a call did to its client's retry budget: what
// callFlow.takeRetry and succeeded tell the observer.
type budgetChange struct {
	spent, refunded int
	exhausted       bool
	available       int
	capacity        int // 0: no budget (WithRetryBudget(0)), nothing to report
}

// budget reports a change of the retry budget, if there was one.
func (obs *callObservation) budget(ch budgetChange) {
	if obs == nil || obs.o.RetryBudget == nil || ch.capacity == 0 || ch.spent == 0 && ch.refunded == 0 && !ch.exhausted {
		return
	}
	obs.o.RetryBudget(obs.ctx, RetryBudgetInfo{Operation: *obs.op, Spent: ch.spent, Refunded: ch.refunded,
		Exhausted: ch.exhausted, Available: ch.available, Capacity: ch.capacity})
}

// pauseStart reports that the call waits for the client's pause, for wait.
func (obs *callObservation) pauseStart(wait time.Duration) {
	if obs == nil || obs.o.PauseStart == nil {
		return
	}
	obs.o.PauseStart(obs.ctx, PauseStartInfo{Operation: *obs.op, Wait: wait})
}

// pauseDone reports the end of the wait: waited out when err is nil.
func (obs *callObservation) pauseDone(waited time.Duration, err error) {
	if obs == nil || obs.o.PauseDone == nil {
		return
	}
	obs.o.PauseDone(obs.ctx, PauseDoneInfo{Operation: *obs.op, Waited: waited, GaveUp: err != nil})
}

// refuse returns err, the failure of a call that ended before anything was
// sent (a request that breaks a rule, an invalid option), and reports it
// to the call's observers as a call with no attempt.
func (c *Client) refuse(ctx context.Context, op *Operation, opts []Option, err error) error {
	cfg, cfgErr := c.config(opts)
	if cfgErr != nil {
		cfg = &c.cfg // an invalid option: the client's observers see the call
	}
	return c.refuseWith(ctx, cfg, op, err)
}

// refuseWith is refuse for a call whose configuration is known.
func (c *Client) refuseWith(ctx context.Context, cfg *callConfig, op *Operation, err error) error {
	if cfg.observer == nil || ctx == nil {
		return err
	}
	obs := c.startObservation(ctx, cfg.observer, op)
	obs.callDone(err)
	return err
}

// observeReconcile reports a reconciliation of op that looked requests
// tasks up, found found of them, and failed with err (nil: the lookup
// finished), since start.
func (cfg *callConfig) observeReconcile(ctx context.Context, op *Operation, requests, found int, err error, start time.Time) {
	if cfg.observer == nil || cfg.observer.Reconcile == nil {
		return
	}
	outcome := ReconcileAbsent
	switch {
	case err != nil:
		outcome = ReconcileUnknown
	case found == requests:
		outcome = ReconcileFound
	}
	cfg.observer.Reconcile(ctx, ReconcileInfo{Operation: *op, Requests: requests, Found: found, Outcome: outcome, Duration: time.Since(start)})
}

// callbackObservation is one observed callback; without an Observer, the
// zero value, whose done does nothing.
type callbackObservation struct {
	o     *Observer
	ctx   context.Context
	start time.Time
}

// observeCallback starts observing a callback, when the handler has an
// Observer: the request it returns carries CallbackStart's context.
func (h *CallbackHandler) observeCallback(r *http.Request) (*http.Request, callbackObservation) {
	o := h.Observer
	if o == nil {
		return r, callbackObservation{}
	}
	obs := callbackObservation{o: o, start: time.Now()}
	obs.ctx = startHook(o.CallbackStart, r.Context(), CallbackStartInfo{Method: r.Method})
	if obs.ctx != r.Context() {
		r = r.WithContext(obs.ctx)
	}
	return r, obs
}

// done reports the handler's answer v.
func (obs callbackObservation) done(v verdict) {
	if obs.o == nil || obs.o.CallbackDone == nil {
		return
	}
	info := CallbackDoneInfo{Outcome: v.callbackOutcome(), StatusCode: v.status, Duration: time.Since(obs.start)}
	if e := v.event; e != nil {
		info.Kind, info.RecordID, info.Verified, info.Confirmed = e.Kind, e.ID(), e.Verified, e.Confirmed
	}
	obs.o.CallbackDone(obs.ctx, info)
}

// callbackOutcome is the outcome of the verdict: the one it names, else
// the one its status tells.
func (v verdict) callbackOutcome() CallbackOutcome {
	if v.outcome != "" {
		return v.outcome
	}
	switch v.status {
	case http.StatusNoContent:
		return CallbackDelivered
	case http.StatusMethodNotAllowed:
		return CallbackBadMethod
	case http.StatusUnauthorized:
		return CallbackUnauthorized
	case http.StatusBadRequest:
		return CallbackMalformed
	case http.StatusRequestEntityTooLarge:
		return CallbackTooLarge
	case http.StatusForbidden:
		return CallbackForbidden
	case http.StatusUnprocessableEntity:
		return CallbackUnknownRecord
	case http.StatusServiceUnavailable:
		return CallbackUnavailable
	}
	return CallbackError
}
