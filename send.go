package kryptogo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/kyabc/kryptogo-go/internal/backoff"
)

// maxRetryAfter is the longest Retry-After the SDK sleeps through; a longer
// one ends the call with the *APIError, whose RetryAfter tells the caller
// when to come back.
const maxRetryAfter = time.Minute

// send is the one request path of the SDK: every call of op goes through
// it, with the configuration cfg of the call (the client's, or a copy with
// the call's options applied). A call with an Observer is observed
// (observe.go); one without does no work for it.
func (c *Client) send(ctx context.Context, cfg *callConfig, op *Operation, path string, query url.Values, body *requestBody, out any) error {
	if ctx == nil {
		return errors.New("kryptogo: nil context")
	}
	if cfg.observer == nil {
		return c.sendAttempts(ctx, cfg, op, path, query, body, out, nil)
	}
	obs := c.startObservation(ctx, cfg.observer, op)
	err := c.sendAttempts(obs.ctx, cfg, op, path, query, body, out, &obs)
	obs.callDone(err)
	return err
}

// sendAttempts sends the call's attempts until one succeeds, fails for
// good, or may not be retried; obs, when not nil, is told each step.
func (c *Client) sendAttempts(ctx context.Context, cfg *callConfig, op *Operation, path string, query url.Values, body *requestBody, out any, obs *callObservation) error {
	method := op.Method
	if cfg.info != nil {
		*cfg.info = ResponseInfo{} // no stale answer of an earlier call
	}
	target := c.endpoint(path, query)
	call := c.startCall(cfg) // flow.go: the client-wide retry budget and 429 pause
	call.obs = obs
	callMask := c.maskFor(body, cfg)
	mask := &callMask
	var last error
	for attempt := 1; ; attempt++ {
		if err := call.beforeAttempt(ctx, method, path, last); err != nil {
			return err
		}
		// A rate limiter may hold the attempt past the start of a pause;
		// the pause is checked again after its wait.
		ready := func() error { return call.beforeAttempt(ctx, method, path, last) }
		res := c.attempt(ctx, cfg, op, path, target, body, mask, attempt, ready, obs)
		if res.notSent != nil {
			return res.notSent
		}
		pause := call.observe(ctx, res)
		recordResponse(cfg, res, mask)
		c.recordDate(res)
		if res.err == nil && res.status >= 200 && res.status <= 299 {
			refund := call.succeeded()
			obs.attemptDone(res, nil, pause, mask)
			obs.budget(refund)
			return answer(cfg, method, path, res, out, mask)
		}
		failure := attemptError(ctx, cfg, method, path, res, mask)
		obs.attemptDone(res, failure, pause, mask)
		if !res.retryable(method) || attempt > cfg.maxRetries {
			return failure
		}
		wait, ok := c.retryWait(ctx, cfg, attempt, res)
		if !ok {
			return failure
		}
		spent, ok := call.takeRetry(res)
		obs.budget(spent)
		if !ok {
			return &budgetError{err: failure}
		}
		last = failure
		obs.retryWait(attempt, wait, res, failure)
		cfg.log(ctx, "kryptogo retry", slog.String("method", method), slog.String("path", path),
			slog.Int("attempt", attempt), slog.Duration("wait", wait))
		if err := c.sleep(ctx, wait); err != nil {
			// Both stay reachable: errors.Is(err, context.Canceled) and the
			// failure that led to the wait.
			return fmt.Errorf("%w (retry wait after: %w)", err, failure)
		}
	}
}

func (c *Client) endpoint(path string, query url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	return &u
}

// result is what one attempt produced.
type result struct {
	status     int
	header     http.Header
	body       []byte
	truncated  bool
	err        error
	wrote      bool // any request byte was handed to the connection
	parentDone bool // the caller's context ended: never retry
	// blind marks a POST the transport did not report (it dropped the
	// request's context): it may have been sent any number of times.
	blind bool
	// retryAfter is the answer's Retry-After, when hasRetryAfter: read
	// once, for the retry's wait, the client-wide pause and the APIError.
	retryAfter    time.Duration
	hasRetryAfter bool
	// notSent ends the call before a request was sent: the client's pause
	// began while the attempt waited in the rate limiter.
	notSent error
}

// attempt sends the request once. ready checks the client's pause again
// after a rate limiter's wait, right before the request is sent.
func (c *Client) attempt(ctx context.Context, cfg *callConfig, op *Operation, path string, target *url.URL, body *requestBody, mask *callMask, attempt int, ready func() error, obs *callObservation) (res result) {
	method := op.Method
	if cfg.logger != nil {
		start := time.Now()
		defer func() { logAttempt(ctx, cfg, method, path, attempt, start, res, mask) }()
	}
	if cfg.limiter != nil {
		if err := cfg.limiter.Wait(ctx); err != nil {
			return result{err: &limiterError{err: err}, parentDone: true}
		}
		if err := ready(); err != nil {
			return result{notSent: err}
		}
	}
	if obs != nil {
		ctx = obs.attemptStart(ctx)
	}
	// net/http's own transport never overlaps the sends of one request;
	// any other RoundTripper may (a hedging one does), and so may a
	// middleware.
	_, sequential := c.httpClient.Transport.(*http.Transport)
	actx, guard := attemptContext(ctx, cfg.timeout, method, sequential && len(cfg.middleware) == 0)
	defer guard.end()
	guard.op = op // for OperationFromContext
	req, err := c.newRequest(actx, cfg.userAgent, method, target, body)
	if err != nil {
		return result{err: err, parentDone: true}
	}
	//lint:ignore SA1019 Cancel reaches copies whose context a transport detached from the attempt's (see sendGuard.stopped).
	req.Cancel = guard.stopped
	if c.dialGate != nil { // in flight until its connection is back in the pool
		sends := int64(1)
		if len(cfg.middleware) > 0 {
			sends = gateOpen // a middleware may send the request many times at once
		}
		c.dialGate.begin(sends)
		defer c.dialGate.end(sends)
	}
	resp, err := c.roundTrip(cfg.middleware, req)
	guard.answered.Store(true) // before wrote is read (see sendGuard.mayWrite)
	res.wrote = guard.wrote.Load()
	if guard.blind(err == nil) {
		res.blind = guard.post
		res.wrote = res.wrote || guard.post
		if actx.Err() == nil { // an attempt that ended early may have sent nothing at all
			c.warnBlindTransport(ctx, cfg)
		}
	}
	if err != nil {
		if guard.replayed.Load() {
			err = errReplayed
		}
		res.err = err
		res.parentDone = ctx.Err() != nil
		return res
	}
	defer resp.Body.Close()
	res.status, res.header = resp.StatusCode, resp.Header
	if res.status < 200 || res.status > 299 { // only a failure's is read
		res.retryAfter, res.hasRetryAfter = backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	length := resp.ContentLength
	if method == http.MethodHead {
		length = 0
	}
	res.body, res.truncated, res.err = readBody(resp.Body, length, bodyLimit(cfg.maxBody, resp.StatusCode, mask))
	if res.err != nil {
		res.parentDone = ctx.Err() != nil
	} else if !res.truncated {
		guard.awaitPooled(resp)
	}
	return res
}

// bodyLimit is how much of an answer is read, and kept of one over it. An
// error body needs no more than APIError keeps, plus the reach of the
// masking: a spelling of the key or of a personal value that straddles the
// cut is read whole, so that it is masked rather than cut into a fragment
// that still reveals most of it. Of a 2xx over the cap only its shape is
// told (bodyShape), from its first bytes. maxBody is the call's cap
// (WithMaxResponseBytes).
func bodyLimit(maxBody int64, status int, mask *callMask) bodyCap {
	if status >= 200 && status <= 299 {
		return bodyCap{limit: maxBody, keep: overCapHead}
	}
	return wholeCap(min(maxBody, maxErrorBody) + int64(mask.reach()))
}

// overCapHead is what is kept of a 2xx answer over the cap: enough of its
// head to tell its shape.
const overCapHead = 512

// idempotent methods can be sent twice with the effect of once.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func (r result) retryable(method string) bool {
	if r.parentDone || r.blind || permanent(r.err) {
		return false
	}
	if r.err != nil {
		if idempotent(method) {
			return true
		}
		// A POST is retried only if nothing reached the server.
		return r.status == 0 && !r.wrote && isDialError(r.err)
	}
	switch r.status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent(method)
	}
	return false
}

// isDialError reports whether err happened while connecting: DNS, refused
// or unreachable, before a request could be written.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// permanent reports errors that retrying cannot fix: a host that does not
// exist, and certificate or TLS failures (a retry meets the same
// certificate; a handshake timeout is not among them).
func permanent(err error) bool {
	if err == nil {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsNotFound
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error") {
		return true // a TLS alert
	}
	return tlsFailure(err)
}

func tlsFailure(err error) bool {
	var (
		verifyErr  *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recordErr) || errors.As(err, &alertErr)
}

// retryWait returns how long to wait before the next attempt, or false when
// the wait would outlast the context or the server asks for too long a pause.
func (c *Client) retryWait(ctx context.Context, cfg *callConfig, attempt int, res result) (time.Duration, bool) {
	wait := cfg.backoff.Delay(attempt - 1)
	if res.hasRetryAfter && res.status != 0 {
		if res.retryAfter > maxRetryAfter {
			return 0, false
		}
		// "0" or a past date must not turn into a burst of retries; nor may
		// the call send before the client-wide pause its 429 started ends
		// (observe), whose floor is the client's minimum, not the call's.
		wait = max(res.retryAfter, cfg.backoff.Min, c.cfg.backoff.Min)
	}
	if deadline, ok := ctx.Deadline(); ok && c.now().Add(wait).After(deadline) {
		return 0, false
	}
	return wait, true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func logAttempt(ctx context.Context, cfg *callConfig, method, path string, attempt int, start time.Time, res result, mask *callMask) {
	if res.notSent != nil {
		return // no request: the pause's error is the call's
	}
	attrs := []slog.Attr{
		slog.String("method", method), slog.String("path", path),
		slog.Int("attempt", attempt), slog.Duration("duration", time.Since(start)),
	}
	if res.status != 0 {
		attrs = append(attrs, slog.Int("status", res.status))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", mask.scrubber().text(describeNetError(res.err))))
	}
	cfg.log(ctx, "kryptogo request", attrs...)
}

// describeNetError renders a transport error without the URL, whose query
// could carry a customer reference.
func describeNetError(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// log records msg at debug level with the call's logger, if any.
func (cfg *callConfig) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if cfg.logger == nil {
		return
	}
	cfg.logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}
