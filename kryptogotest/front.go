package kryptogotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// failure is an injected answer waiting for the requests it matches: a
// status, or a connection dropped before or after handling.
type failure struct {
	method string // "" for any method
	path   string // "" for any path; a trailing * matches a prefix
	left   int
	status int
	drop   dropPoint
}

// dropPoint is when an injected failure closes the connection.
type dropPoint int

const (
	noDrop       dropPoint = iota
	dropRequest            // before handling: the request is lost
	dropResponse           // after handling: the answer is lost
)

func (f failure) matches(r *http.Request) bool {
	if f.method != "" && !strings.EqualFold(f.method, r.Method) {
		return false
	}
	if f.path == "" || f.path == r.URL.Path {
		return true
	}
	prefix, ok := strings.CutSuffix(f.path, "*")
	return ok && strings.HasPrefix(r.URL.Path, prefix)
}

// FailNext makes the next n requests, on any path, answer status.
func (s *Server) FailNext(n, status int) { s.FailNextOnRequest("", "", n, status) }

// FailNextOn makes the next n requests to path, whatever their method,
// answer status. A path ending in * matches every path with that prefix
// ("/task/*"). FailNextOnRequest also names the method.
func (s *Server) FailNextOn(path string, n, status int) { s.FailNextOnRequest("", path, n, status) }

// FailNextOnRequest makes the next n requests with the given method and
// path answer status: FailNextOnRequest("POST", "/task", 1, 503) fails a
// task creation and no confirmation GET. An empty method or path matches
// any; a path ending in * matches every path with that prefix. A 429 or 503
// carries Retry-After: 0, and every answer a request id, as the API's do.
func (s *Server) FailNextOnRequest(method, path string, n, status int) {
	s.addFailure(failure{method: method, path: path, left: n, status: status})
}

// DropNextRequest makes the next n requests with the given method and path
// lose their connection before the fake handles them: it closes the
// connection without answering, and nothing changes (no task is created).
// Method and path match as in FailNextOnRequest. The SDK sees a POST dropped
// this way as maybe sent (kryptogo.ErrMaybeSent), as it would a real one.
func (s *Server) DropNextRequest(method, path string, n int) {
	s.addFailure(failure{method: method, path: path, left: n, drop: dropRequest})
}

// DropNextResponse makes the next n requests with the given method and path
// lose their answer: the fake handles them (DropNextResponse("POST",
// "/task", 1) creates the tasks), then closes the connection without
// answering, as when a network fails after the API acted. Method and path
// match as in FailNextOnRequest.
func (s *Server) DropNextResponse(method, path string, n int) {
	s.addFailure(failure{method: method, path: path, left: n, drop: dropResponse})
}

func (s *Server) addFailure(f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f)
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
	api("POST /kya", s.createKYA)
	api("GET /kya/detail/{id}", s.getKYA)
	api("POST /task", s.createTasks)
	api("GET /task/{id}/summary", s.taskSummary)
	api("GET /task/{id}", s.taskDetail)
	api("POST /task/{id}/accepted", s.setAccepted)
	api("PUT /task/{id}/metadata", s.setMetadata)
	api("GET /tasks", s.history)
	api("POST /idv", s.createIDV)
	api("GET /idv/{id}", s.getIDV)
	api("POST /idv/init", s.initWeb)
	api("POST /idv/account", s.initMobile)
	mux.HandleFunc("GET /idv/web/{token}", s.openWebSession) // the end user's browser: no key
	mux.Handle("/", s.authenticated(func(*http.Request) (int, any) { return apiError(http.StatusNotFound, "no such endpoint") }))
	return s.front(mux)
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

// encode turns an answer into its JSON, so that it is taken while the
// store cannot change.
func encode(status int, body any) (int, any) {
	b, err := json.Marshal(body)
	if err != nil {
		return apiError(http.StatusInternalServerError, "kryptogotest: encode answer")
	}
	return status, json.RawMessage(b)
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

// pathID reads the {id} path parameter.
func pathID(r *http.Request) (kryptogo.ID, bool) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return kryptogo.ID(n), err == nil && n > 0
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("the body is not valid JSON: %v", err)
	}
	return nil
}

// missing lists the required fields a request lacks, as the API answers them.
type missing []string

func (m *missing) need(ok bool, field string) {
	if !ok {
		*m = append(*m, field)
	}
}

func (m missing) answer() (int, any) {
	return apiError(http.StatusBadRequest, "invalid request: %s", strings.Join(m, ", "))
}
