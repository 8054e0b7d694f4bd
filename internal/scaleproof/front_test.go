package scaleproof

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hit is one request the front passed to the fake (or answered itself).
type hit struct {
	worker int // -1 when the User-Agent names no worker
	method string
	path   string
	at     time.Time // arrival
	read   time.Time // when the attempt's pause read started (headerRead); zero: not told
	status int
}

// front is a reverse proxy in front of the fake that records every request
// with the worker that sent it (its User-Agent), and can answer one
// request of one worker 429 with a Retry-After (trap).
type front struct {
	srv *httptest.Server

	mu   sync.Mutex
	hits []hit
	trap *trap
}

// trap answers the next request of worker 429 with Retry-After: after.
type trap struct {
	worker int
	after  int       // seconds
	sprung time.Time // when it answered; zero until then
	done   chan struct{}
}

func newFront(t *testing.T, fakeURL string) *front {
	t.Helper()
	u, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// A fault that drops the connection is a 502 to the worker, not news.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hit{worker: workerOf(r.UserAgent()), method: r.Method, path: r.URL.Path, at: time.Now(), read: readOf(r)}
		if f.spring(h) {
			w.Header().Set("Retry-After", strconv.Itoa(f.trapAfter()))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":429,"message":"rate limit exceeded"}`))
			h.status = http.StatusTooManyRequests
			f.record(h)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		h.status = rec.status
		f.record(h)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// headerRead carries, from a worker of the pause scenario, the Unix ns at
// which the attempt's read of the shared pause started.
const headerRead = "X-Scaleproof-Pause-Read"

// readOf returns the time of r's headerRead; zero when it has none.
func readOf(r *http.Request) time.Time {
	n, err := strconv.ParseInt(r.Header.Get(headerRead), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// workerOf reads the worker's number from a User-Agent of
// "scaleproof-wN/…".
func workerOf(ua string) int {
	rest, ok := strings.CutPrefix(ua, "scaleproof-w")
	if !ok {
		return -1
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return n
}

// spring reports whether the trap answers h, and disarms it if so.
func (f *front) spring(h hit) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.trap == nil || !f.trap.sprung.IsZero() || h.worker != f.trap.worker {
		return false
	}
	f.trap.sprung = h.at
	close(f.trap.done)
	return true
}

func (f *front) trapAfter() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trap.after
}

// arm sets a trap for worker's next request.
func (f *front) arm(worker, after int) *trap {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trap = &trap{worker: worker, after: after, done: make(chan struct{})}
	return f.trap
}

func (f *front) record(h hit) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits = append(f.hits, h)
}

// take returns the hits recorded so far and forgets them.
func (f *front) take() []hit {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.hits
	f.hits = nil
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets the proxy stream.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
