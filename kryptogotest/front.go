package kryptogotest

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// RequestIDHeader is the response header that carries the id of every
// answer, as the SDK reads it into APIError.RequestID.
const RequestIDHeader = "X-Request-Id"

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header // without the API key
	Body   []byte
	Time   time.Time
	// RateLimited is true when the request was answered 429 because it
	// went beyond WithRateLimit.
	RateLimited bool
	// Fault is the fault injected into the request (FailNext and the other
	// knobs, or SetFaultFunc); the zero Fault when none was.
	Fault Fault
}

// front records the request, names the answer, refuses what goes beyond
// the rate limit, waits the latency and injects failures.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		a := s.admit(r, body)
		w.Header().Set(RequestIDHeader, a.requestID)
		if !pause(r, a.latency+a.fault.Delay) {
			return
		}
		// The API's clock, as a real server's Date is its own (WithClock).
		w.Header().Set("Date", s.cfg.now().UTC().Format(http.TimeFormat))
		f := a.fault
		switch {
		case a.retryAfter > 0:
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(a.retryAfter.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
		case !f.answers():
			next.ServeHTTP(w, r)
		case f.AfterHandling:
			next.ServeHTTP(httptest.NewRecorder(), r) // the fake acts; its answer never leaves
			injectFailure(w, f)
		default:
			injectFailure(w, f)
		}
	})
}

// pause waits d, and reports false when the request ended first.
func pause(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

// injectFailure answers the fault's status, or drops the connection.
func injectFailure(w http.ResponseWriter, f Fault) {
	if f.Drop {
		dropConnection(w)
		return
	}
	if f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "0")
	}
	writeError(w, f.Status, "injected failure")
}

// dropConnection closes the connection without a byte of answer. Should the
// connection not be hijackable (HTTP/2), the handler aborts, which resets
// the stream: the client again gets no answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// admission is what the front decided for a request on its arrival.
type admission struct {
	requestID  string
	latency    time.Duration
	retryAfter time.Duration // > 0: beyond the rate limit, answer 429
	fault      Fault         // the injected fault it uses; zero for none
}

// admit logs the request and decides its answer: refused by the rate
// limit, or else the injected failure it uses, if any. A refused request
// uses no failure.
func (s *Server) admit(r *http.Request, body []byte) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	s.requestNo++
	a := admission{requestID: "kryptogotest-" + strconv.Itoa(s.requestNo), latency: s.latency, retryAfter: s.rate.admit(now)}
	header := r.Header.Clone()
	header.Del(kryptogo.DefaultAPIKeyHeader)
	logged := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: header, Body: body, Time: now, RateLimited: a.retryAfter > 0}
	if a.retryAfter == 0 {
		if f, ok := s.failures.take(r); ok {
			a.fault = f.fault
		} else if s.decideFault != nil {
			a.fault = s.decideFault(logged)
		}
	}
	logged.Fault = a.fault
	s.requests = append(s.requests, logged)
	return a
}

// authenticated answers 401 to a request without the fake's key, and
// otherwise what h answers: its body with 200, or its refusal with the
// status of the refusal's kind.
func (s *Server) authenticated(h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(kryptogo.DefaultAPIKeyHeader) != s.APIKey {
			writeError(w, http.StatusUnauthorized, "invalid API token")
			return
		}
		body, err := h(r)
		if err != nil {
			writeError(w, statusOf(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// statusOf is the status that answers a refusal of the store or of a
// handler's checks.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConflict):
		return http.StatusConflict
	case errors.Is(err, errInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
