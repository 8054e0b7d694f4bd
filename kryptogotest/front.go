package kryptogotest

import (
	"bytes"
	"errors"
	"io"
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
}

// front records the request, names the answer, waits the latency and
// injects failures.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		requestID, latency, injected := s.admit(r, body)
		w.Header().Set(RequestIDHeader, requestID)
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case injected.drop == dropRequest:
			dropConnection(w)
		case injected.drop == dropResponse:
			next.ServeHTTP(httptest.NewRecorder(), r) // the fake acts; its answer never leaves
			dropConnection(w)
		case injected.status != 0:
			if injected.status == http.StatusTooManyRequests || injected.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "0")
			}
			writeError(w, injected.status, "injected failure")
		default:
			next.ServeHTTP(w, r)
		}
	})
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

// admit logs the request and returns its id, the latency and the injected
// failure it matched (the zero failure for none).
func (s *Server) admit(r *http.Request, body []byte) (string, time.Duration, failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	header := r.Header.Clone()
	header.Del(kryptogo.DefaultAPIKeyHeader)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: header, Body: body, Time: s.cfg.now()})
	s.requestNo++
	requestID := "kryptogotest-" + strconv.Itoa(s.requestNo)
	for i := range s.failures {
		f := &s.failures[i]
		if f.left > 0 && f.matches(r) {
			f.left--
			return requestID, s.latency, *f
		}
	}
	return requestID, s.latency, failure{}
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
