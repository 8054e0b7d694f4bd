package kryptogo

// Issue 15, row 4: every error the SDK returns is masked in its whole
// chain. Error reporters (Sentry and the like) walk errors.Unwrap, call
// Error() on each node, record its type and print it with %+v; a user
// reaches any node with errors.As. None of them may meet the key or a
// personal value of the request, and the classification (errors.Is,
// errors.As, Timeout) stays what it was.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	chainName     = "Zelda-Quixote-Marlowe" // no space: a status line is cut at the first
	chainBirthday = "1987-07-14"
)

// echoingServer reads each request (headers and body) and answers with
// reply(echo), echo being the request's key header line and its body: a
// broken server or proxy that quotes what it got in a malformed answer.
func echoingServer(t *testing.T, reply func(echo string) string) string {
	t.Helper()
	return tcpServer(t, func(conn net.Conn) { serveEcho(conn, reply) })
}

func serveEcho(conn net.Conn, reply func(string) string) {
	r := bufio.NewReader(conn)
	var keyLine string
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "gofact-api-token":
			keyLine = line
		case "content-length":
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return
	}
	_, _ = io.WriteString(conn, reply(keyLine+" "+string(body)))
}

// malformedAnswers are the four broken answers of row 4, each quoting the
// request.
var malformedAnswers = map[string]func(echo string) string{
	"status line":       func(echo string) string { return "HTTP/1.1" + strings.ReplaceAll(echo, " ", "") + "\r\n\r\n" },
	"header line":       func(echo string) string { return "HTTP/1.1 200 OK\r\n[" + echo + "\r\n\r\n" },
	"transfer-encoding": func(echo string) string { return "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + echo + "\r\n\r\n" },
	"content-length":    func(echo string) string { return "HTTP/1.1 200 OK\r\nContent-Length: " + echo + "\r\n\r\n" },
}

// chainNodes returns err and every error below it, through Unwrap() error
// and Unwrap() []error, depth first.
func chainNodes(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chainNodes(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chainNodes(e)...)
		}
	}
	return out
}

// asTargets are pointers to every exported error type (and interface) a
// caller or a reporter may look for with errors.As.
func asTargets() []any {
	return []any{
		new(*net.OpError), new(*net.DNSError), new(*net.AddrError), new(*net.ParseError), new(net.Error),
		new(*url.Error), new(*os.SyscallError), new(*fs.PathError),
		new(*tls.CertificateVerificationError), new(tls.RecordHeaderError), new(tls.AlertError),
		new(x509.UnknownAuthorityError), new(x509.HostnameError), new(x509.CertificateInvalidError),
		new(textproto.ProtocolError), new(*textproto.Error), new(*http.MaxBytesError),
		new(*json.SyntaxError), new(*json.UnmarshalTypeError), new(*json.MarshalerError),
		new(interface{ Timeout() bool }), new(interface{ Temporary() bool }),
		new(*APIError), new(*ResponseError), new(*ValidationError), new(*WaitError),
	}
}

// chainExposure is everything a reporter or a caller can read from err's
// chain: each node's Error(), its type, its %v, %+v and %#v printings, the
// strings held anywhere inside it (read by reflection, unexported fields
// included), and the same for what errors.As finds.
func chainExposure(err error) string {
	var b strings.Builder
	dump := func(v any) {
		fmt.Fprintf(&b, "%T\n%v\n%+v\n%#v\n", v, v, v, v)
		deepStrings(&b, reflect.ValueOf(v), map[uintptr]bool{}, 0)
	}
	for _, node := range chainNodes(err) {
		b.WriteString(node.Error() + "\n")
		dump(node)
	}
	for _, target := range asTargets() {
		if errors.As(err, target) {
			dump(reflect.ValueOf(target).Elem().Interface())
		}
	}
	return b.String()
}

// deepStrings writes every string and byte slice reachable from v.
func deepStrings(b *strings.Builder, v reflect.Value, seen map[uintptr]bool, depth int) {
	if !v.IsValid() || depth > 12 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		b.WriteString(v.String() + "\n")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Pointer {
			if seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
		}
		deepStrings(b, v.Elem(), seen, depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			deepStrings(b, v.Field(i), seen, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Kind() == reflect.Slice {
				b.Write(v.Bytes())
			}
			b.WriteByte('\n')
			return
		}
		for i := range min(v.Len(), 64) {
			deepStrings(b, v.Index(i), seen, depth+1)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			deepStrings(b, k, seen, depth+1)
			deepStrings(b, v.MapIndex(k), seen, depth+1)
		}
	}
}

// TestErrorChainCarriesNoSecret: a server answers malformed HTTP that
// quotes the request (the key's header line and the body with the name and
// birthday); the error's whole chain is searched.
func TestErrorChainCarriesNoSecret(t *testing.T) {
	t.Parallel()
	for name, reply := range malformedAnswers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := echoingServer(t, reply)
			c, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
			require.NoError(t, err)
			_, err = c.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1,
				Target: KYCTarget(chainName, chainBirthday, "TWN")}})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMaybeSent, "the request was written: the task may exist")
			assertAbsent(t, chainExposure(err), testKey, chainName, chainBirthday)
			assert.Greater(t, len(chainNodes(err)), 2, "the chain is kept, masked: %v", err)
		})
	}
}

// classification is what a caller can tell about an error through
// errors.Is and errors.As.
type classification struct {
	is      map[string]bool
	as      map[string]bool
	timeout bool // a net.Error found by errors.As says Timeout()
}

func classify(err error) classification {
	c := classification{is: map[string]bool{}, as: map[string]bool{}}
	for name, target := range map[string]error{
		"ErrMaybeSent": ErrMaybeSent, "ErrServerError": ErrServerError, "ErrRetryBudgetExhausted": ErrRetryBudgetExhausted,
		"ErrInvalidResponse": ErrInvalidResponse, "context.Canceled": context.Canceled,
		"context.DeadlineExceeded": context.DeadlineExceeded, "os.ErrDeadlineExceeded": os.ErrDeadlineExceeded,
		"io.EOF": io.EOF, "io.ErrUnexpectedEOF": io.ErrUnexpectedEOF, "ECONNREFUSED": syscall.ECONNREFUSED,
	} {
		c.is[name] = errors.Is(err, target)
	}
	for _, target := range asTargets() {
		if errors.As(err, target) {
			c.as[reflect.TypeOf(target).Elem().String()] = true
		}
	}
	var netErr net.Error
	c.timeout = errors.As(err, &netErr) && netErr.Timeout()
	return c
}

// TestErrorChainKeepsClassification: over real sockets, each failure
// matches what it matched before its chain was masked.
func TestErrorChainKeepsClassification(t *testing.T) {
	t.Parallel()
	silent := func(t *testing.T) string { // accepts, reads, never answers
		return rawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	}
	refused := func(t *testing.T) string { return "http://" + refusingAddr(t) }
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) string
		opts   func(t *testing.T) []Option
		ctx    func(t *testing.T) context.Context
		post   bool
		is     []string
		as     []string
		timout bool
	}{
		{name: "attempt timeout", server: silent, opts: func(*testing.T) []Option { return []Option{WithTimeout(150 * time.Millisecond)} },
			is: []string{"context.DeadlineExceeded"}, as: []string{"net.Error", "interface { Timeout() bool }"}, timout: true},
		{name: "http.Client timeout", server: silent,
			opts: func(*testing.T) []Option {
				return []Option{WithHTTPClient(&http.Client{Timeout: 150 * time.Millisecond})}
			},
			is: []string{"context.DeadlineExceeded"}, as: []string{"net.Error"}, timout: true},
		{name: "connection deadline", server: silent, opts: func(*testing.T) []Option {
			dialer := &net.Dialer{}
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, network, addr)
				if err == nil {
					_ = conn.SetDeadline(time.Now().Add(150 * time.Millisecond))
				}
				return conn, err
			}}
			return []Option{WithHTTPClient(&http.Client{Transport: tr})}
		}, post: true, is: []string{"os.ErrDeadlineExceeded", "ErrMaybeSent"}, as: []string{"*net.OpError", "net.Error"}, timout: true},
		{name: "context deadline", server: silent, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, is: []string{"context.DeadlineExceeded"}, as: []string{"net.Error"}, timout: true},
		{name: "context canceled", server: silent, post: true, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(150*time.Millisecond, cancel)
			return ctx
		}, is: []string{"context.Canceled", "ErrMaybeSent"}},
		{name: "EOF after the request", post: true, server: func(t *testing.T) string {
			return rawServer(t, func(net.Conn) {})
		}, is: []string{"io.EOF", "ErrMaybeSent"}},
		{name: "body cut short", server: func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"task_id\":")
			})
		}, is: []string{"io.ErrUnexpectedEOF"}},
		{name: "connection refused", server: refused, is: []string{"ECONNREFUSED"}, as: []string{"*net.OpError", "*os.SyscallError"}},
		{name: "unknown host", server: func(*testing.T) string { return "http://127.0.0.1:1" }, opts: func(*testing.T) []Option {
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}}
			}}
			return []Option{WithHTTPClient(&http.Client{Transport: tr})}
		}, as: []string{"*net.OpError", "*net.DNSError", "net.Error"}},
		{name: "untrusted certificate", server: func(t *testing.T) string {
			srv := httptest.NewTLSServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			return srv.URL
		}, as: []string{"*tls.CertificateVerificationError", "x509.UnknownAuthorityError"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithBaseURL(tc.server(t)), WithMaxRetries(0)}
			if tc.opts != nil {
				opts = append(opts, tc.opts(t)...)
			}
			c, err := NewClient(testKey, opts...)
			require.NoError(t, err)
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			}
			if tc.post {
				_, err = c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget(chainName, chainBirthday, "TWN")}})
			} else {
				_, err = c.Tasks.Summary(ctx, 1)
			}
			require.Error(t, err)
			got := classify(err)
			for _, name := range tc.is {
				assert.True(t, got.is[name], "errors.Is(err, %s): %v", name, err)
			}
			for _, name := range tc.as {
				assert.True(t, got.as[name], "errors.As(err, %s): %v", name, err)
			}
			assert.Equal(t, tc.timout, got.timeout, "Timeout(): %v", err)
			if !tc.post {
				assert.False(t, got.is["ErrMaybeSent"])
			}
			assertAbsent(t, chainExposure(err), testKey, chainName, chainBirthday)
		})
	}
}

// assertAbsent fails for each secret found in a decoded form of out, and
// shows where.
func assertAbsent(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		for _, form := range decodedForms(out) {
			if i := strings.Index(form, secret); i >= 0 {
				t.Errorf("%q found: …%s…", secret, form[max(0, i-120):min(len(form), i+len(secret)+20)])
				break
			}
		}
	}
}

// TestDecodeErrorChainCarriesNoValue: encoding/json quotes a number too
// large for its field ("number 987654321"); a 2xx answer that puts a
// personal value where the model expects a small number must not reach the
// caller through the ResponseError's chain.
func TestDecodeErrorChainCarriesNoValue(t *testing.T) {
	t.Parallel()
	const idNumber = "987654321"
	for name, answer := range map[string]string{
		"type":   `{"state":` + idNumber + `}`,
		"syntax": `{"state":1,` + idNumber + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, answer)
			})
			var out struct {
				State int8 `json:"state"`
			}
			err := c.Do(t.Context(), http.MethodPost, "/idv/init", map[string]any{"expected_id_number": idNumber}, &out)
			require.ErrorIs(t, err, ErrInvalidResponse)
			assertAbsent(t, chainExposure(err), idNumber, idNumber[:6])
			if name == "type" {
				var typeErr *json.UnmarshalTypeError
				require.ErrorAs(t, err, &typeErr, "the value-free copy is still found")
				assert.Equal(t, "number", typeErr.Value)
				assert.Equal(t, "state", typeErr.Field)
			}
		})
	}
}

// echoHandler answers every request with status and a JSON body that
// quotes the request: its key header and its body.
func echoHandler(status int, header http.Header) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("X-Request-Id", "req-"+r.Header.Get("GOFACT-API-TOKEN"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"code":1,"message":`+jsonString("token "+r.Header.Get("GOFACT-API-TOKEN")+" body "+string(body))+`}`)
	}
}

// chainTarget is the KYC target every case of the error-type audit sends.
func chainTarget() []CreateTaskRequest {
	return []CreateTaskRequest{{SearchSettingID: 1, CustomerReference: "c-1", Target: KYCTarget(chainName, chainBirthday, "TWN")}}
}

// TestEveryErrorTypeMaskedInChain: each kind of error the SDK returns,
// provoked by a server that echoes the request, carries neither the key
// nor the name or birthday anywhere in its chain, and still classifies.
func TestEveryErrorTypeMaskedInChain(t *testing.T) {
	t.Parallel()
	malformed := func(t *testing.T) string { return echoingServer(t, malformedAnswers["content-length"]) }
	httpServer := func(h http.Handler) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return srv.URL
		}
	}
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) string
		opts   []Option
		call   func(ctx context.Context, c *Client) error
		check  func(t *testing.T, err error)
	}{
		{name: "APIError", server: httpServer(echoHandler(http.StatusBadRequest, nil)),
			call: func(ctx context.Context, c *Client) error { _, err := c.Tasks.Create(ctx, chainTarget()); return err },
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
			}},
		{name: "ResponseError", server: httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `[{"task_id":"`+r.Header.Get("GOFACT-API-TOKEN")+`","x":`+string(body)+`}]`)
		})), call: func(ctx context.Context, c *Client) error { _, err := c.Tasks.Create(ctx, chainTarget()); return err },
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrInvalidResponse)
				require.ErrorIs(t, err, ErrMaybeSent)
			}},
		{name: "maybeSentError", server: malformed,
			call:  func(ctx context.Context, c *Client) error { _, err := c.Tasks.Create(ctx, chainTarget()); return err },
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrMaybeSent) }},
		{name: "budgetError", server: malformed, opts: []Option{WithMaxRetries(3), WithRetryBudget(1)},
			call: func(ctx context.Context, c *Client) error {
				return c.Do(ctx, http.MethodPut, "/x", chainTarget()[0], nil)
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrRetryBudgetExhausted) }},
		{name: "pauseError", server: httpServer(echoHandler(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})),
			call: func(ctx context.Context, c *Client) error {
				_, first := c.Tasks.Create(ctx, chainTarget())
				require.ErrorIs(t, first, ErrRateLimited)
				short, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_, err := c.Tasks.Create(short, chainTarget())
				return err
			},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrRateLimited)
				assert.NotErrorIs(t, err, ErrMaybeSent, "not sent")
			}},
		{name: "retry wait ended", server: malformed, opts: []Option{WithMaxRetries(3)},
			call: func(ctx context.Context, c *Client) error {
				c.sleep = func(context.Context, time.Duration) error { return context.Canceled }
				return c.Do(ctx, http.MethodPut, "/x", chainTarget()[0], nil)
			},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				assert.Contains(t, err.Error(), "retry wait after")
			}},
		{name: "WaitError", server: malformed,
			call: func(ctx context.Context, c *Client) error {
				c.sleep = deadlineAfterSleeps(2)
				_, err := c.Tasks.Wait(ctx, 9, nil)
				return err
			},
			check: func(t *testing.T, err error) {
				var werr *WaitError
				require.ErrorAs(t, err, &werr)
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}},
		{name: "CreateOnce lookup failed", server: malformed,
			call: func(ctx context.Context, c *Client) error {
				c.sleep = func(context.Context, time.Duration) error { return nil }
				_, err := c.Tasks.CreateOnce(ctx, chainTarget())
				return err
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrMaybeSent) }},
		{name: "image file", server: malformed,
			call: func(ctx context.Context, c *Client) error {
				_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, ExpectedName: chainName,
					IDImage: ImageFromFile(t.TempDir() + "/" + chainName + "/" + chainBirthday + ".jpg"), FaceImage: ImageFromFile("/nonexistent/" + chainName)})
				return err
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrInvalidRequest) }},
		{name: "ValidationError", server: malformed,
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget(chainName, chainName+chainBirthday, chainName)}})
				return err
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrInvalidRequest) }},
		{name: "callback", server: malformed,
			call: func(context.Context, *Client) error {
				_, err := ParseCallback([]byte(`{"task_id":9,"progress":"` + chainName + `","target":{"name":` + chainBirthday + `}}`))
				return err
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, ErrInvalidCallback) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]Option{WithBaseURL(tc.server(t)), WithMaxRetries(0), WithRetryBackoff(time.Millisecond, time.Millisecond)}, tc.opts...)
			c, err := NewClient(testKey, opts...)
			require.NoError(t, err)
			err = tc.call(t.Context(), c)
			require.Error(t, err)
			tc.check(t, err)
			assertAbsent(t, chainExposure(err), testKey, chainName, chainBirthday)
		})
	}
}

// limiterErr is an error type of a caller's own rate limiter.
type limiterErr struct{ reason string }

func (e *limiterErr) Error() string { return "limiter closed: " + e.reason }

type failingLimiter struct{ err error }

func (l failingLimiter) Wait(context.Context) error { return l.err }

// TestRateLimiterErrorKeptWhole checks that the error of the caller's own
// RateLimiter reaches the caller as it was: the limiter never sees the
// request, so there is nothing of it to mask, and the caller classifies
// its own errors with errors.As and errors.Is.
func TestRateLimiterErrorKeptWhole(t *testing.T) {
	t.Parallel()
	own := &limiterErr{reason: "shutting down"}
	c, mux := setup(t, WithRateLimiter(failingLimiter{err: own}))
	mux.HandleFunc("/kya/detail/1", func(http.ResponseWriter, *http.Request) { t.Error("the request was sent") })
	_, err := c.KYA.Get(t.Context(), 1)
	require.Error(t, err)
	var got *limiterErr
	require.ErrorAs(t, err, &got)
	assert.Same(t, own, got)
	assert.ErrorIs(t, err, own)
	assert.NotContains(t, err.Error(), testKey)
}

// Attack on issue 15's "no secret behind Unwrap": the calls a method makes
// on its own. CreateOnce looks a send in doubt up in the history with GET
// /tasks, a request that carries no personal value, so its errors were
// masked of the key alone; but they are the CreateOnce call's errors, and
// the server that was just sent the customer's name and birthday can quote
// them in its answer to the lookup.

// TestCreateOnceLookupErrorMaskedOfTheRequest: the POST's answer is lost
// (the task may exist), and the lookup's 500 quotes what the POST sent;
// the error CreateOnce returns reveals neither the name nor the birthday.
func TestCreateOnceLookupErrorMaskedOfTheRequest(t *testing.T) {
	t.Parallel()
	var sent atomic.Value // the body of the POST, as the server remembers it
	sent.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			sent.Store(string(body))
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close() // the answer is lost: the task may exist
			}
			return
		}
		last := strings.ToUpper(sent.Load().(string))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Last-Request", last)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":`+jsonString("history unavailable; last request "+last)+`}`)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	c.sleep = func(context.Context, time.Duration) error { return nil }

	var info ResponseInfo
	_, err = c.Tasks.CreateOnce(t.Context(), chainTarget(), WithResponseInfo(&info))
	require.ErrorIs(t, err, ErrMaybeSent)
	require.ErrorIs(t, err, ErrServerError, "the lookup's failure is in the chain")
	require.Contains(t, sent.Load(), chainName, "the server was sent the name")
	upperName := strings.ToUpper(chainName) // as the server quotes it
	assertAbsent(t, chainExposure(err), testKey, upperName, chainBirthday)
	assert.NotEmpty(t, info.Header.Get("X-Last-Request"))
	assertAbsent(t, strings.Join(info.Header.Values("X-Last-Request"), "\n"), upperName, chainBirthday)
}

// Attack on issue 15's "no secret behind Unwrap": the chain kept TLS and
// x509 errors whole, on the ground that a handshake comes before the
// request and cannot echo it. A server that was sent the key once (the
// API host itself, or a proxy that terminates TLS) can present, on a later
// connection, a certificate whose names echo it: x509.HostnameError's
// Error() lists the certificate's DNS names, and every x509 error and
// *tls.CertificateVerificationError holds the certificates themselves
// (their DER, subject and names), which errors.As and reporters that dump
// fields reach.

// echoCert is a certificate and its key, signed by parent (self-signed
// when parent is nil).
type echoCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newEchoCert(t *testing.T, tmpl *x509.Certificate, parent *echoCert) echoCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.BasicConstraintsValid = true
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return echoCert{cert, key}
}

// echoTLSServer serves TLS with a leaf certificate, signed by a CA, whose
// subject and DNS names quote the API key and the customer's name; it
// returns the base URL (with host) and the CA.
func echoTLSServer(t *testing.T, host string) (string, *x509.Certificate) {
	t.Helper()
	ca := newEchoCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA of " + testKey}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign}, nil)
	leaf := newEchoCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: testKey + " " + chainName, Organization: []string{chainBirthday}},
		DNSNames:    []string{testKey + ".echo.example", chainName + ".echo.example"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &ca)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's refusal is logged by the server
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", host, 1), ca.cert
}

// TestTLSCertificateEchoMaskedInChain: over real TLS sockets, a
// certificate that quotes the key and the name fails the handshake; the
// error's chain reveals neither, and errors.As still finds the TLS and
// x509 errors a caller classifies with.
func TestTLSCertificateEchoMaskedInChain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		host    string // the base URL's host: a name the certificate does not hold fails its hostname check
		trustCA bool
		as      func(t *testing.T, err error) string // the found error's Error()
	}{
		{name: "hostname mismatch", host: "localhost", trustCA: true, as: func(t *testing.T, err error) string {
			var hostErr x509.HostnameError
			require.ErrorAs(t, err, &hostErr)
			assert.Equal(t, "localhost", hostErr.Host)
			assert.Contains(t, hostErr.Error(), "certificate is valid for", "the error still says why")
			return hostErr.Error()
		}},
		{name: "unknown authority", host: "127.0.0.1", trustCA: false, as: func(t *testing.T, err error) string {
			var authErr x509.UnknownAuthorityError
			require.ErrorAs(t, err, &authErr)
			return authErr.Error()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, ca := echoTLSServer(t, tc.host)
			roots := x509.NewCertPool()
			if tc.trustCA {
				roots.AddCert(ca)
			}
			transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			c, err := NewClient(testKey, WithBaseURL(base), WithHTTPClient(&http.Client{Transport: transport}), WithMaxRetries(0))
			require.NoError(t, err)
			_, err = c.Tasks.Create(t.Context(), chainTarget())
			require.Error(t, err)

			found := tc.as(t, err)
			var verifyErr *tls.CertificateVerificationError
			require.ErrorAs(t, err, &verifyErr, "still a certificate failure")
			assert.True(t, permanent(err), "still not worth retrying")
			assert.NotErrorIs(t, err, ErrMaybeSent, "nothing was written")
			assertAbsent(t, found, testKey, chainName, chainBirthday)
			assertAbsent(t, chainExposure(err), testKey, chainName, chainBirthday)
		})
	}
}

// TestTLSErrorWithoutEchoKeptWhole: a certificate that echoes nothing is
// handed on as it came, with its DER, so a caller can still inspect it.
func TestTLSErrorWithoutEchoKeptWhole(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Tasks.Create(t.Context(), chainTarget())
	var verifyErr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verifyErr)
	require.NotEmpty(t, verifyErr.UnverifiedCertificates)
	assert.Equal(t, srv.Certificate().Raw, verifyErr.UnverifiedCertificates[0].Raw)
	var authErr x509.UnknownAuthorityError
	require.ErrorAs(t, err, &authErr)
}
