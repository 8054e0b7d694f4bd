package kryptogo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is the API key of test clients; tests that check redaction search
// for it in everything printed.
const testKey = "sk-test-7f3a9c1e-SECRET-KEY"

// basePath mounts the fake API under a prefix, so that a request built
// against the wrong base URL fails loudly (go-github's trick).
const basePath = "/api-v1"

// setup starts a fake API and returns a client pointed at it and the mux on
// which the test registers handlers, with paths as the API spells them.
func setup(t testing.TB, opts ...Option) (*Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	root := http.NewServeMux()
	root.Handle(basePath+"/", http.StripPrefix(basePath, mux))
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	defaults := []Option{WithBaseURL(srv.URL + basePath), WithRetryBackoff(time.Millisecond, 4*time.Millisecond)}
	c, err := NewClient(testKey, append(defaults, opts...)...)
	require.NoError(t, err)
	return c, mux
}

// fixture reads a file of testdata/.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// serveFixture answers every request with the fixture.
func serveFixture(t *testing.T, name string) func(http.ResponseWriter) {
	body := fixture(t, name)
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// handleGET answers GET path with a fixture, after checking the request.
func handleGET(t *testing.T, mux *http.ServeMux, path, fixtureName string) {
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodGet, path)
		serveFixture(t, fixtureName)(w)
	})
}

// assertRequest checks the method, path, auth and standard headers of a
// request without a query.
func assertRequest(t *testing.T, r *http.Request, method, path string) {
	t.Helper()
	assertRequestQuery(t, r, method, path, "")
}

// assertRequestQuery checks the method, path, exact query, auth and standard
// headers.
func assertRequestQuery(t *testing.T, r *http.Request, method, path, query string) {
	t.Helper()
	assert.Equal(t, method, r.Method, "method")
	assert.Equal(t, path, r.URL.Path, "path")
	assert.Equal(t, query, r.URL.RawQuery, "query")
	assert.Equal(t, testKey, r.Header.Get("GOFACT-API-TOKEN"), "auth header")
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	assert.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "kryptogo-go/"+Version+" (go"), "User-Agent %q", r.Header.Get("User-Agent"))
	if method == http.MethodGet {
		assert.Empty(t, r.Header.Get("Content-Type"), "a GET has no body")
		assert.Equal(t, int64(0), r.ContentLength)
	} else {
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}
}

// assertJSONBody checks that the request body is the expected JSON, field for
// field, and that Content-Length was right.
func assertJSONBody(t *testing.T, r *http.Request, want string) {
	t.Helper()
	got, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(len(got)), r.ContentLength, "Content-Length")
	assert.JSONEq(t, want, string(got))
}

// cmpOpts compare decoded models with literals: unexported fields (the raw
// JSON kept for RawJSON) are checked separately.
var cmpOpts = cmp.Options{
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && !unicode.IsUpper([]rune(sf.Name())[0])
	}, cmp.Ignore()),
}

// assertDecoded compares a decoded value with the literal it should equal.
func assertDecoded(t *testing.T, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("decoded value mismatch (-want +got):\n%s", diff)
	}
}

// assertRaw checks that RawJSON kept the body the value came from.
func assertRaw(t *testing.T, body []byte, v interface{ RawJSON() json.RawMessage }) {
	t.Helper()
	assert.JSONEq(t, string(body), string(v.RawJSON()))
}

func ts(sec int64) Timestamp { return Timestamp{time.Unix(sec, 0).UTC()} }

func ptr[T any](v T) *T { return &v }

// noNetwork is a transport that fails the test if any request reaches it.
type noNetwork struct{ t *testing.T }

func (n noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("a request left the process: %s %s", r.Method, r.URL.Path)
	return nil, io.EOF
}

// offlineClient returns a client that must never send a request.
func offlineClient(t *testing.T) *Client {
	c, err := NewClient(testKey, WithHTTPClient(&http.Client{Transport: noNetwork{t}}), WithMaxRetries(0))
	require.NoError(t, err)
	return c
}

// fieldsOf returns the field names of a ValidationError, failing the test if
// err is not one.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidRequest)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	names := make([]string, len(verr.Fields))
	for i, f := range verr.Fields {
		names[i] = f.Field
	}
	return names
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// rawServer answers every connection with reply once the request headers
// have arrived: a server (or proxy) that does not speak HTTP properly.
func rawServer(t *testing.T, reply func(net.Conn)) string {
	t.Helper()
	return tcpServer(t, func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		reply(conn)
	})
}

// tcpServer serves each connection with serve, which need not close it,
// and returns the server's base URL.
func tcpServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// syncBuffer is a log sink safe for the transport's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// debugJSONLogger logs everything, as JSON, into the returned buffer.
func debugJSONLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

func debugLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sleepLog records the waits a client asked for (retries, pauses, polls).
// Each wait lasts 1 ms at most and ends with the context, so a test of a
// Retry-After or a poll interval takes no real seconds.
type sleepLog struct {
	mu    sync.Mutex
	waits []time.Duration
	hold  chan struct{} // holdWaits: each wait lasts until release closes it
}

func (s *sleepLog) list() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func (s *sleepLog) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
}

// release ends the waits holdWaits holds, and lets later ones pass.
func (s *sleepLog) release() { close(s.hold) }

// holdWaits is recordWaits whose waits last until release (or the end of
// their context): a test sees who waits, and for how long, before anyone
// moves on, without a real second passing.
func holdWaits(c *Client, now time.Time) *sleepLog {
	log := recordWaits(c, now)
	log.hold = make(chan struct{})
	c.sleep = func(ctx context.Context, d time.Duration) error {
		log.add(d)
		select {
		case <-log.hold:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return log
}

// reset forgets the waits recorded so far.
func (s *sleepLog) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = nil
}

// recordWaits makes c record its waits in the returned log (see sleepLog),
// and, unless now is zero, fixes c's clock at now.
func recordWaits(c *Client, now time.Time) *sleepLog {
	log := &sleepLog{}
	if !now.IsZero() {
		c.now = func() time.Time { return now }
	}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		log.add(d)
		return sleepContext(ctx, min(d, time.Millisecond))
	}
	return log
}

// startCountingConns starts srv, closed when the test ends, and returns the
// count of the connections it has accepted.
func startCountingConns(t *testing.T, srv *httptest.Server) *atomic.Int64 {
	t.Helper()
	var opened atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &opened
}
