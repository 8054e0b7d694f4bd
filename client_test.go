package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  string
		opts []Option
		err  string
	}{
		{"empty key", "", nil, "empty API key"},
		{"blank key", "  \n", nil, "empty API key"},
		{"control char in key", "ab\x01cd", nil, "control characters"},
		{"relative base", "k", []Option{WithBaseURL("/v1")}, "absolute http(s) URL"},
		{"empty base", "k", []Option{WithBaseURL(" ")}, "empty URL"},
		{"ftp base", "k", []Option{WithBaseURL("ftp://example.com")}, "absolute http(s) URL"},
		{"http base", "k", []Option{WithBaseURL("http://api.example.com")}, "plain http on a non-loopback host"},
		{"credentials in base", "k", []Option{WithBaseURL("https://u:p@example.com")}, "must not carry credentials"},
		{"nil http client", "k", []Option{WithHTTPClient(nil)}, "nil client"},
		{"negative timeout", "k", []Option{WithTimeout(-time.Second)}, "negative duration"},
		{"bad user agent", "k", []Option{WithUserAgent("a\r\nX-Evil: 1")}, "invalid header value"},
		{"negative retries", "k", []Option{WithMaxRetries(-1)}, "negative count"},
		{"backoff min > max", "k", []Option{WithRetryBackoff(time.Second, time.Millisecond)}, "need 0 < min <= max"},
		{"zero backoff", "k", []Option{WithRetryBackoff(0, time.Second)}, "need 0 < min <= max"},
		{"nil limiter", "k", []Option{WithRateLimiter(nil)}, "nil limiter"},
		{"bad header name", "k", []Option{WithAPIKeyHeader("X Token")}, "invalid header name"},
		{"empty header name", "k", []Option{WithAPIKeyHeader("")}, "invalid header name"},
		{"zero max bytes", "k", []Option{WithMaxResponseBytes(0)}, "positive size"},
		{"absurd max bytes", "k", []Option{WithMaxResponseBytes(1 << 62)}, "at most 1 GiB"},
		{"max bytes just over 1 GiB", "k", []Option{WithMaxResponseBytes(1<<30 + 1)}, "at most 1 GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.key, tc.opts...)
			assert.ErrorContains(t, err, tc.err, tc.name)
		})
	}
	for _, base := range []string{"http://localhost:8080", "http://127.0.0.1:1/x", "http://[::1]:9", "http://api.localhost"} {
		_, err := NewClient("k", WithBaseURL(base))
		assert.NoError(t, err, base)
	}
	c, err := NewClient("k", WithBaseURL("http://10.0.0.5/v1/"), WithInsecureHTTP(), nil)
	require.NoError(t, err)
	assert.Equal(t, "http://10.0.0.5/v1", c.BaseURL())

	c, err = NewClient(" k\n")
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, c.BaseURL())
	assert.Equal(t, "k", c.creds.key(), "surrounding white space is trimmed")
	assert.Equal(t, DefaultAPIKeyHeader, c.creds.header)
	assert.Equal(t, DefaultMaxRetries, c.cfg.maxRetries)
	assert.Equal(t, DefaultTimeout, c.cfg.timeout)
	assert.Equal(t, int64(DefaultMaxResponseBytes), c.cfg.maxBody)
}

func TestDefaultTransportIsTunedForConcurrency(t *testing.T) {
	t.Parallel()
	c, err := NewClient("k")
	require.NoError(t, err)
	tr, ok := c.httpClient.Transport.(*http.Transport)
	require.True(t, ok)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 32, "net/http's default of 2 makes bursts reconnect")
	assert.GreaterOrEqual(t, tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	assert.NotNil(t, tr.Proxy, "HTTPS_PROXY is honoured")

	mine := &http.Client{Timeout: time.Minute}
	c, err = NewClient("k", WithHTTPClient(mine))
	require.NoError(t, err)
	assert.Nil(t, mine.Transport, "the caller's client is not modified")
	assert.Nil(t, mine.CheckRedirect)
	assert.Equal(t, time.Minute, c.httpClient.Timeout)
	_, ok = c.httpClient.Transport.(*http.Transport)
	assert.True(t, ok, "a client without a transport gets the tuned one")
}

func TestNewClientFromEnv(t *testing.T) {
	// Not parallel: t.Setenv changes the process environment.
	t.Setenv(EnvAPIKey, "")
	_, err := NewClientFromEnv()
	assert.ErrorContains(t, err, "KRYPTOGO_API_KEY is not set")

	t.Setenv(EnvAPIKey, testKey)
	t.Setenv(EnvBaseURL, "https://staging.example.com")
	c, err := NewClientFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "https://staging.example.com", c.BaseURL())

	c, err = NewClientFromEnv(WithBaseURL("https://override.example.com"))
	require.NoError(t, err)
	assert.Equal(t, "https://override.example.com", c.BaseURL(), "options override the environment")
}

func TestUserAgentAndCustomHeader(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithUserAgent("my-exchange/1.4"), WithAPIKeyHeader("X-Api-Key"))
	mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
		assert.Empty(t, r.Header.Get("GOFACT-API-TOKEN"))
		assert.Regexp(t, `^my-exchange/1\.4 kryptogo-go/\d+\.\d+\.\d+ \(go[^)]+\)$`, r.Header.Get("User-Agent"))
		serveFixture(t, "kya_result.json")(w)
	})
	_, err := client.KYA.Get(t.Context(), 1)
	require.NoError(t, err)
}

// retryCase counts the attempts a fake API sees for one method and status.
func attempts(t *testing.T, method string, status int, header http.Header, opts ...Option) (int32, error) {
	client, mux := setup(t, opts...)
	var n atomic.Int32
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"message":"nope"}`))
	})
	var body any
	if method != http.MethodGet {
		body = map[string]string{"a": "b"}
	}
	err := client.Do(t.Context(), method, "/thing", body, nil)
	return n.Load(), err
}

func TestRetryMatrix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		status int
		want   int32
	}{
		{"GET", 429, 3}, {"GET", 500, 3}, {"GET", 502, 3}, {"GET", 503, 3}, {"GET", 504, 3},
		{"GET", 400, 1}, {"GET", 401, 1}, {"GET", 404, 1}, {"GET", 409, 1}, {"GET", 501, 1},
		{"PUT", 429, 3}, {"PUT", 500, 3}, {"PUT", 502, 3}, {"PUT", 503, 3}, {"PUT", 504, 3}, {"PUT", 400, 1},
		{"POST", 429, 3}, {"POST", 500, 1}, {"POST", 502, 1}, {"POST", 503, 1}, {"POST", 504, 1}, {"POST", 400, 1}, {"POST", 409, 1},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.method, tc.status), func(t *testing.T) {
			n, err := attempts(t, tc.method, tc.status, nil)
			assert.Equal(t, tc.want, n, "%s answered %d", tc.method, tc.status)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.StatusCode)
			assert.Equal(t, "nope", apiErr.Message)
		})
	}
	n, _ := attempts(t, "GET", 503, nil, WithMaxRetries(0))
	assert.Equal(t, int32(1), n, "WithMaxRetries(0) disables retries")
	n, _ = attempts(t, "GET", 503, nil, WithMaxRetries(5))
	assert.Equal(t, int32(6), n)
}

func TestRetrySucceedsAfterTransientFailure(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/kya/detail/12", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		serveFixture(t, "kya_result.json")(w)
	})
	got, err := client.KYA.Get(t.Context(), 12)
	require.NoError(t, err)
	assert.Equal(t, ID(12), got.KYAID)
	assert.Equal(t, int32(2), n.Load())
}

// recordSleeps replaces the client's sleep and clock with fakes.
func recordSleeps(c *Client, now time.Time) *[]time.Duration {
	var slept []time.Duration
	c.now = func() time.Time { return now }
	c.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err()
	}
	return &slept
}

func TestRetryAfterForms(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"3", 3 * time.Second},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		// "0" and a past date still wait the minimum backoff (1ms in setup).
		{"0", time.Millisecond},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Millisecond},
	} {
		t.Run(fmt.Sprintf("Retry-After %q", tc.header), func(t *testing.T) {
			client, mux := setup(t, WithMaxRetries(1))
			slept := recordSleeps(client, now)
			var n atomic.Int32
			mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", tc.header)
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				serveFixture(t, "task_create_response.json")(w)
			})
			_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{
				{SearchSettingID: 1, Target: KYBTarget("A")}, {SearchSettingID: 1, Target: KYBTarget("B")},
			})
			require.NoError(t, err, tc.header)
			assert.Equal(t, []time.Duration{tc.want}, *slept, tc.header)
		})
	}
}

func TestRetryAfterTooLongIsNotSlept(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]time.Duration{
		"3600": time.Hour,
		// Overflows int64: treated as very long (capped at a day), not as
		// garbage that would be retried after the backoff.
		"99999999999999999999": 24 * time.Hour,
	} {
		t.Run(header, func(t *testing.T) {
			client, mux := setup(t)
			slept := recordSleeps(client, time.Now())
			var seen atomic.Int32
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				w.Header().Set("Retry-After", header)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			err := client.Do(t.Context(), "GET", "/thing", nil, nil)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, want, apiErr.RetryAfter, "the caller learns when to come back")
			assert.Empty(t, *slept)
			assert.Equal(t, int32(1), seen.Load())
		})
	}
}

func TestBackoffWithoutRetryAfterIsJittered(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithRetryBackoff(100*time.Millisecond, 300*time.Millisecond), WithMaxRetries(4))
	slept := recordSleeps(client, time.Now())
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	_ = client.Do(t.Context(), "GET", "/thing", nil, nil)
	require.Len(t, *slept, 4)
	ceilings := []time.Duration{200, 300, 300, 300}
	for i, d := range *slept {
		assert.GreaterOrEqual(t, d, 100*time.Millisecond)
		assert.LessOrEqual(t, d, ceilings[i]*time.Millisecond)
	}
}

func TestDeadlineShorterThanBackoff(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithRetryBackoff(time.Second, 2*time.Second))
	var n atomic.Int32
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	slept := recordWaits(client, time.Time{})
	// Below the 1s backoff floor, and room for a slow first attempt.
	ctx, cancel := context.WithTimeout(t.Context(), 900*time.Millisecond)
	defer cancel()
	err := client.Do(ctx, "GET", "/thing", nil, nil)
	assert.Empty(t, slept.list(), "returns at once instead of sleeping into the deadline")
	assert.ErrorIs(t, err, ErrServerError)
	assert.Equal(t, int32(1), n.Load())
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	slept := recordWaits(client, time.Time{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := client.Do(ctx, "GET", "/thing", nil, nil)
	assert.Empty(t, slept.list(), "a Retry-After past the deadline is not slept")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 5*time.Second, apiErr.RetryAfter)
}

// TestCancelDuringBackoff cancels the call once its real backoff sleep has
// begun: the sleep ends with the context, long before the backoff would.
func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithRetryBackoff(10*time.Second, 10*time.Second))
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	ctx, cancel := context.WithCancel(t.Context())
	client.sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the call is asleep now: the real sleep below must end with it
		return sleepContext(ctx, d)
	}
	start := time.Now()
	err := client.Do(ctx, "GET", "/thing", nil, nil)
	assert.Less(t, time.Since(start), 5*time.Second, "the backoff sleep ended with the context") // generous: the backoff is 10s
	assert.ErrorIs(t, err, ErrServerError, "the last answer is returned")
}

// dropAfterRequest hijacks the connection and closes it once the request
// has been read: the server got the request but sent no answer.
func dropAfterRequest(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// dropMidResponse sends headers and half the body, then closes.
func dropMidResponse(w http.ResponseWriter, _ *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"kya_id\": 12, \"addr")
	_ = buf.Flush()
	_ = conn.Close()
}

func TestConnectionDroppedMidResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		want   int32
	}{{"GET", 2}, {"POST", 1}} {
		t.Run(tc.method, func(t *testing.T) {
			client, mux := setup(t)
			var n atomic.Int32
			mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					dropMidResponse(w, r)
					return
				}
				serveFixture(t, "kya_result.json")(w)
			})
			var out KYAResult
			var body any
			if tc.method == "POST" {
				body = CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a", Chain: ChainETH}
			}
			err := client.Do(t.Context(), tc.method, "/kya", body, &out)
			assert.Equal(t, tc.want, n.Load(), tc.method)
			if tc.method == "GET" {
				require.NoError(t, err)
				assert.Equal(t, ID(12), out.KYAID)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "may have reached the API")
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			}
		})
	}
}

func TestPOSTNotRetriedAfterRequestWasSent(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		dropAfterRequest(w, r)
	})
	_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
	require.Error(t, err)
	assert.Equal(t, int32(1), n.Load(), "a task that may exist is never created twice")
	assert.Contains(t, err.Error(), "kryptogo: POST /task:")
	assert.Contains(t, err.Error(), "may have reached the API")

	var g atomic.Int32
	mux.HandleFunc("/task/5/summary", func(w http.ResponseWriter, r *http.Request) {
		if g.Add(1) == 1 {
			dropAfterRequest(w, r)
			return
		}
		serveFixture(t, "task_summary.json")(w)
	})
	_, err = client.Tasks.Summary(t.Context(), 5)
	require.NoError(t, err)
	assert.Equal(t, int32(2), g.Load(), "a GET is retried after a dropped connection")
}

func TestPOSTRetriedWhenConnectionNeverOpened(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assertJSONBody(t, r, `[{"search_setting_id":1,"target":{"type":2,"name":"A"},"search_source":[0,1,2,3,4]}]`)
		_, _ = w.Write([]byte(`[{"task_id": 1, "timestamp": 1}]`))
	}))
	defer srv.Close()
	var dials atomic.Int32
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	client, err := NewClient(testKey, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: transport}),
		WithRetryBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	got, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
	require.NoError(t, err)
	assert.Equal(t, ID(1), got[0].TaskID)
	assert.Equal(t, int32(2), dials.Load())
}

func TestPOSTRetriedOnRefusedConnection(t *testing.T) {
	t.Parallel()
	addr := refusingAddr(t) // every dial is refused
	client, err := NewClient(testKey, WithBaseURL("http://"+addr), WithRetryBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	var buf bytes.Buffer
	client.cfg.logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err = client.KYA.Create(t.Context(), &CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "may have reached", "nothing was sent")
	assert.Equal(t, 3, strings.Count(buf.String(), "msg=\"kryptogo request\""), "1 attempt + 2 retries")
}

func TestPerAttemptTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		want   int32
	}{{"GET", 2}, {"POST", 1}} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithTimeout(200*time.Millisecond)) // generous: the second attempt must answer within it on a loaded machine
			var n atomic.Int32
			// The first attempt hangs until the client gives up on it; the
			// server's side of a canceled request may learn of it late, so
			// the handler is also released when the call returns.
			called := make(chan struct{})
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					select {
					case <-r.Context().Done():
					case <-called:
					}
					return
				}
				_, _ = w.Write([]byte(`{}`))
			})
			var body any
			if tc.method == "POST" {
				body = map[string]int{"x": 1}
			}
			err := client.Do(t.Context(), tc.method, "/thing", body, nil)
			close(called)
			assert.Equal(t, tc.want, n.Load(), tc.method)
			if tc.method == "POST" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "attempt timed out after 200ms")
				assert.Contains(t, err.Error(), "may have reached the API")
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestCanceledContextIsNotRetried(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var n atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		cancel()
		<-r.Context().Done()
	})
	err := client.Do(ctx, "GET", "/thing", nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int32(1), n.Load())
}

func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxResponseBytes(64))
	mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"kya_id": 1, "data": "` + strings.Repeat("x", 1<<20) + `"}`))
	})
	_, err := client.KYA.Get(t.Context(), 1)
	require.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "body exceeds 64 bytes")
}

func TestNonJSONSuccessIsAnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, shape string
	}{
		{"html", "<html><body>captive portal</body></html>", "40 bytes, markup (HTML or XML)"},
		{"empty", "", "empty"},
		{"truncated", `{"kya_id": 12, "address": "0x`, "29 bytes, a JSON object"},
		{"wrong type", `{"kya_id": {"nested": true}}`, "28 bytes, a JSON object"},
		{"array", `[1,2,3]`, "7 bytes, a JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
			got, err := client.KYA.Get(t.Context(), 1)
			assert.Nil(t, got)
			require.ErrorIs(t, err, ErrInvalidResponse)
			var rerr *ResponseError
			require.ErrorAs(t, err, &rerr)
			assert.Equal(t, "GET", rerr.Method)
			assert.Equal(t, "/kya/detail/1", rerr.Path)
			assert.Equal(t, 200, rerr.StatusCode)
			assert.Equal(t, tc.shape, rerr.Snippet)
		})
	}
}

// A 2xx body that fails to decode holds the customer's personal data: the
// error describes its shape, never its values (CallbackHandler logs it).
func TestUndecodableSuccessLeaksNoPersonalData(t *testing.T) {
	t.Parallel()
	const name, idNumber, birthday = "王又曾", "A123456789", "1964-05-17"
	for _, tc := range []struct{ name, body string }{
		{"wrong type", `{"idv_task_id": 1, "name": "` + name + `", "id_number": "` + idNumber + `", "birthday": "` + birthday + `", "state": "` + idNumber + `"}`},
		{"truncated", `{"idv_task_id": 1, "name": "` + name + `", "id_number": "` + idNumber + `", "birthday": "` + birthday + `" `},
		{"number overflow", `{"idv_task_id": 98765432101234567890, "name": "` + name + `"}`},
		{"not JSON", `not json ` + name + ` ` + idNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/idv/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
			_, err := client.IDV.Get(t.Context(), 1)
			require.ErrorIs(t, err, ErrInvalidResponse)
			for _, printed := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, secret := range []string{name, idNumber, birthday, "98765432101234567890"} {
					assert.NotContains(t, printed, secret)
				}
			}
		})
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/idv/init", func(w http.ResponseWriter, r *http.Request) {
		assertRequestQuery(t, r, http.MethodPost, "/idv/init", "engine=sumsub")
		assertJSONBody(t, r, `{"level_name":"basic-kyc","customer_reference":"c1"}`)
		_, _ = w.Write([]byte(`{"idv_task_id": 44, "url": "https://sumsub.example/x", "timestamp": "2024-01-01T00:00:00Z"}`))
	})
	var session WebIDVSession
	err := client.Do(t.Context(), "post", "/idv/init?engine=sumsub",
		map[string]string{"level_name": "basic-kyc", "customer_reference": "c1"}, &session)
	require.NoError(t, err)
	assert.Equal(t, ID(44), session.IDVTaskID)

	var raw json.RawMessage
	err = client.Do(t.Context(), "POST", "/idv/init?engine=sumsub", json.RawMessage(`{"level_name":"basic-kyc","customer_reference":"c1"}`), &raw)
	require.NoError(t, err)
	assert.JSONEq(t, `{"idv_task_id": 44, "url": "https://sumsub.example/x", "timestamp": "2024-01-01T00:00:00Z"}`, string(raw))

	err = client.Do(t.Context(), "POST", "/idv/init?engine=sumsub", []byte(`{"level_name":"basic-kyc","customer_reference":"c1"}`), nil)
	require.NoError(t, err)

	offline := offlineClient(t)
	assert.Equal(t, []string{"path"}, fieldsOf(t, offline.Do(t.Context(), "GET", "tasks", nil, nil)))
	assert.Equal(t, []string{"method"}, fieldsOf(t, offline.Do(t.Context(), "GE T", "/tasks", nil, nil)))
	assert.Equal(t, []string{"path"}, fieldsOf(t, offline.Do(t.Context(), "GET", "/tasks?%zz", nil, nil)))
	assert.Equal(t, []string{"out"}, fieldsOf(t, offline.Do(t.Context(), "GET", "/tasks", nil, WebIDVSession{})))
	assert.ErrorContains(t, offline.Do(t.Context(), "POST", "/x", map[string]any{"f": func() {}}, nil), "encode request")
	//lint:ignore SA1012 a nil context is the mistake under test
	assert.ErrorContains(t, offline.Do(nil, "GET", "/x", nil, nil), "nil context")
}

func TestRateLimiterWaitsBeforeEveryAttempt(t *testing.T) {
	t.Parallel()
	limiter := &countingLimiter{}
	client, mux := setup(t, WithRateLimiter(limiter))
	var n atomic.Int32
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	require.NoError(t, client.Do(t.Context(), "GET", "/thing", nil, nil))
	assert.Equal(t, int32(3), limiter.n.Load())

	limiter.err = errors.New("rate: Wait(n=1) would exceed context deadline")
	err := client.Do(t.Context(), "GET", "/thing", nil, nil)
	assert.ErrorContains(t, err, "rate limiter: rate: Wait")
	assert.Equal(t, int32(3), n.Load(), "no request when the limiter refuses")
}

type countingLimiter struct {
	n   atomic.Int32
	err error
}

func (l *countingLimiter) Wait(context.Context) error { l.n.Add(1); return l.err }

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/kya/detail/", func(w http.ResponseWriter, r *http.Request) { serveFixture(t, "kya_result.json")(w) })
	var wg sync.WaitGroup
	for i := 1; i <= 32; i++ {
		wg.Add(1)
		go func(id ID) {
			defer wg.Done()
			_, err := client.KYA.Get(t.Context(), id)
			assert.NoError(t, err)
		}(ID(i))
	}
	wg.Wait()
}

func TestAPIKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// A misbehaving proxy that echoes the request headers back.
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": "bad: " + r.Header.Get("GOFACT-API-TOKEN"), "headers": r.Header})
	})
	mux.HandleFunc("/echo200", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("not json " + r.Header.Get("GOFACT-API-TOKEN")))
	})
	var logs bytes.Buffer
	client.cfg.logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	errEcho := client.Do(t.Context(), "GET", "/echo", nil, nil)
	require.Error(t, errEcho)
	err200 := client.Do(t.Context(), "GET", "/echo200", nil, &struct{}{})
	require.Error(t, err200)

	var printed []string
	type holder struct {
		c Client // a struct that embeds a client in an unexported field
		p *Client
	}
	for _, v := range []any{client, *client, client.KYA, client.Tasks, client.IDV, *client.KYA, client.creds, errEcho, err200, holder{*client, client}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			printed = append(printed, fmt.Sprintf(verb, v))
		}
	}
	var apiErr *APIError
	require.ErrorAs(t, errEcho, &apiErr)
	printed = append(printed, string(apiErr.Body), apiErr.Message, logs.String())
	slog.New(slog.NewTextHandler(&logs, nil)).Info("client", "c", client)
	printed = append(printed, logs.String())
	hexKey := fmt.Sprintf("%x", testKey)
	for _, out := range printed {
		assert.NotContains(t, out, testKey)
		assert.NotContains(t, strings.ToLower(out), hexKey)
	}
	assert.Contains(t, apiErr.Message, "[REDACTED]")
	assert.Equal(t, fmt.Sprintf("kryptogo.Client{BaseURL: %q, APIKey: \"[REDACTED]\"}", client.BaseURL()), fmt.Sprint(client))
}

func TestLoggerRecordsNoBodiesOrQueries(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var logs bytes.Buffer
	client.cfg.logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var n atomic.Int32
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"message":"王又曾 A123456789"}`))
			return
		}
		serveFixture(t, "tasks_history.json")(w)
	})
	_, err := client.Tasks.History(t.Context(), &HistoryOptions{CustomerReference: "cust-secret-ref"})
	require.NoError(t, err)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 3, "attempt, retry wait, attempt")
	var first, retry, second map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &retry))
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &second))
	assert.Equal(t, "DEBUG", first["level"])
	assert.Equal(t, "kryptogo request", first["msg"])
	assert.Equal(t, "GET", first["method"])
	assert.Equal(t, "/tasks", first["path"])
	assert.Equal(t, float64(503), first["status"])
	assert.Equal(t, float64(1), first["attempt"])
	assert.Contains(t, first, "duration")
	assert.Equal(t, "kryptogo retry", retry["msg"])
	assert.Contains(t, retry, "wait")
	assert.Equal(t, float64(200), second["status"])
	assert.Equal(t, float64(2), second["attempt"])
	for _, secret := range []string{"cust-secret-ref", "王又曾", "A123456789", testKey, "page_size"} {
		assert.NotContains(t, logs.String(), secret)
	}
}

func TestRedirectToAnotherOriginIsNotFollowed(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		serveFixture(t, "kya_result.json")(w)
	}))
	defer other.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, method := range []string{"GET", "POST", "PUT"} {
			t.Run(fmt.Sprintf("%s %d", method, status), func(t *testing.T) {
				client, mux := setup(t)
				var n atomic.Int32
				mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
					n.Add(1)
					http.Redirect(w, r, other.URL+"/elsewhere?customer_reference=cust-7", status)
				})
				err := client.Do(t.Context(), method, "/thing", map[string]string{"name": "王又曾"}, nil)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, status, apiErr.StatusCode)
				assert.Equal(t, int32(1), n.Load(), "a redirect is an answer, not retried")
				assert.Contains(t, err.Error(), "redirect to "+other.URL+" not followed")
				assert.NotContains(t, err.Error(), "cust-7", "the target's query is not repeated")
				assert.Equal(t, method == "POST", errors.Is(err, ErrMaybeSent),
					"a POST answered with a redirect reached the API, which may have acted on it")
			})
		}
	}
	assert.Zero(t, reached.Load(), "nothing, neither body nor key, reaches another origin")
}

// A POST creates a paid task: a redirect answer to it (even to the API's own
// origin) is not followed. net/http would turn a 302/303 into a GET and the
// SDK would decode that answer as the POST's receipt; a 307/308 would need
// the body again, which the SDK never hands to net/http.
func TestPOSTNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			client, mux := setup(t)
			var posted, followed atomic.Int32
			mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
				posted.Add(1)
				http.Redirect(w, r, basePath+"/task/99/summary", status)
			})
			mux.HandleFunc("/task/99/summary", func(w http.ResponseWriter, r *http.Request) {
				followed.Add(1)
				_, _ = w.Write([]byte(`[{"task_id": 99, "timestamp": 1700000000}]`))
			})
			created, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{
				SearchSettingID: 2, Target: KYBTarget("Acme Ltd"),
			}})
			require.Error(t, err)
			assert.Nil(t, created)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.StatusCode)
			assert.ErrorIs(t, err, ErrMaybeSent)
			assert.Equal(t, int32(1), posted.Load())
			assert.Zero(t, followed.Load(), "the redirect is not followed")
		})
	}
}

func TestSameOriginRedirectSendsNoReferer(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, basePath+"/tasks2", http.StatusFound)
	})
	mux.HandleFunc("/tasks2", func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Referer"), "the Referer would carry the customer reference")
		assert.Equal(t, testKey, r.Header.Get("GOFACT-API-TOKEN"), "same-origin redirects keep the key")
		serveFixture(t, "tasks_history.json")(w)
	})
	_, err := client.Tasks.History(t.Context(), &HistoryOptions{CustomerReference: "cust-secret-ref"})
	require.NoError(t, err)
}

func TestUserCheckRedirectStillApplies(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithHTTPClient(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}), WithMaxRetries(0))
	mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/x", http.StatusFound)
	})
	_, err := client.KYA.Get(t.Context(), 1)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusFound, apiErr.StatusCode)
}

func TestValidationSendsNothing(t *testing.T) {
	t.Parallel()
	// Every method with a bad request, on a client whose transport fails the
	// test if it is ever used.
	client := offlineClient(t)
	ctx := t.Context()
	calls := map[string]error{}
	calls["KYA.Create"] = func() error { _, err := client.KYA.Create(ctx, &CreateKYARequest{}); return err }()
	calls["KYA.Get"] = func() error { _, err := client.KYA.Get(ctx, 0); return err }()
	calls["Tasks.Create"] = func() error { _, err := client.Tasks.Create(ctx, []CreateTaskRequest{{}}); return err }()
	calls["Tasks.Summary"] = func() error { _, err := client.Tasks.Summary(ctx, 0); return err }()
	calls["Tasks.Get"] = func() error { _, err := client.Tasks.Get(ctx, 0); return err }()
	calls["Tasks.Accept"] = func() error { _, err := client.Tasks.Accept(ctx, 1, ""); return err }()
	calls["Tasks.SetMetadata"] = client.Tasks.SetMetadata(ctx, 1, nil)
	calls["Tasks.History"] = func() error { _, err := client.Tasks.History(ctx, &HistoryOptions{PageSize: -1}); return err }()
	calls["Tasks.Wait"] = func() error { _, err := client.Tasks.Wait(ctx, 0, nil); return err }()
	calls["IDV.Create"] = func() error { _, err := client.IDV.Create(ctx, &CreateIDVRequest{}); return err }()
	calls["IDV.Get"] = func() error { _, err := client.IDV.Get(ctx, 0); return err }()
	calls["IDV.InitWeb"] = func() error { _, err := client.IDV.InitWeb(ctx, &InitWebIDVRequest{}); return err }()
	calls["IDV.InitMobile"] = func() error { _, err := client.IDV.InitMobile(ctx, &InitMobileIDVRequest{}); return err }()
	calls["IDV.Wait"] = func() error { _, err := client.IDV.Wait(ctx, 0, nil); return err }()
	calls["Do"] = client.Do(ctx, "GET", "no-slash", nil, nil)
	for name, err := range calls {
		assert.ErrorIs(t, err, ErrInvalidRequest, name)
	}
}

// hiddenLength hides a reader's length, as a chunked answer does.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

// Review of issue 8, finding 5: a declared Content-Length was allocated
// before reading, so 16 slow answers that had sent one byte each pinned
// 512 MiB. Reading allocates what arrived plus a bounded block.
func TestReadBodyAllocatesWhatArrived(t *testing.T) {
	// Not parallel: runtime.MemStats counts every goroutine's allocations.
	for _, length := range []int64{DefaultMaxResponseBytes - 1, 1 << 40} {
		t.Run(fmt.Sprint(length), func(t *testing.T) {
			slow := io.MultiReader(strings.NewReader("{"), iotest.ErrReader(io.ErrUnexpectedEOF))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			body, _, err := readBody(slow, length, wholeCap(1<<62))
			runtime.ReadMemStats(&after)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Equal(t, "{", string(body))
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated for one byte received")
		})
	}
}

func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	var open atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	client, err := NewClient(testKey, WithBaseURL(srv.URL))
	require.NoError(t, err)
	require.NoError(t, client.Do(t.Context(), "GET", "/x", nil, nil))
	assert.Equal(t, int32(1), open.Load(), "the connection is kept for reuse")
	client.CloseIdleConnections()
	assert.Eventually(t, func() bool { return open.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
}

// roundTripperFunc lets a test stand in for http.DefaultTransport.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Instrumentation (otelhttp) and mocking libraries (gock) replace
// http.DefaultTransport with their own RoundTripper; NewClient must not
// assume it is an *http.Transport.
func TestNewClientWhenDefaultTransportIsReplaced(t *testing.T) {
	// Not parallel: it replaces http.DefaultTransport.
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	http.DefaultTransport = roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("the wrapped default transport must not be used")
	})

	var c *Client
	require.NotPanics(t, func() {
		var err error
		c, err = NewClient("k")
		require.NoError(t, err)
	})
	tr, ok := c.httpClient.Transport.(*http.Transport)
	require.True(t, ok, "the SDK builds its own tuned transport")
	assert.NotNil(t, tr.Proxy, "HTTPS_PROXY is still honoured")
	assert.NotNil(t, tr.DialContext)
}

// Review of issue 8, finding 9: the send guard counted the hops of
// same-origin redirects as replays and failed a GET after two of them.
func TestSameOriginRedirectChains(t *testing.T) {
	t.Parallel()
	for _, hops := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d hops", hops), func(t *testing.T) {
			c, mux := setup(t)
			var seen atomic.Int32
			mux.HandleFunc("/task/1/summary", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				http.Redirect(w, r, basePath+"/hop/1", http.StatusMovedPermanently)
			})
			mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				n, _ := strconv.Atoi(r.PathValue("n"))
				if n < hops {
					http.Redirect(w, r, fmt.Sprintf("%s/hop/%d", basePath, n+1), http.StatusMovedPermanently)
					return
				}
				serveFixture(t, "task_summary.json")(w)
			})
			got, err := c.Tasks.Summary(t.Context(), 1)
			require.NoError(t, err)
			assert.NotNil(t, got)
			assert.Equal(t, int32(hops+1), seen.Load(), "one request per hop, none replayed")
		})
	}
}

// Review of issue 8, finding 3: a 2xx answer to a POST means the API acted
// (the task exists and cost points) even when the SDK cannot decode the
// answer; the error must tell the caller to check before re-sending.
func TestUndecodableSuccessOfAPOSTMaybeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"html", "<html>ok</html>"},
		{"invalid JSON", `[{"task_id":7`},
		{"wrong shape", `{"task_id":7}`},
		{"empty", ""},
		{"wrong count of receipts", `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			var seen atomic.Int32
			mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
			assert.Equal(t, int32(1), seen.Load())
			require.ErrorIs(t, err, ErrInvalidResponse)
			assert.ErrorIs(t, err, ErrMaybeSent)
			assert.Contains(t, err.Error(), "check before sending it again")
		})
	}
	t.Run("GET is not", func(t *testing.T) {
		client, mux := setup(t)
		mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
		_, err := client.KYA.Get(t.Context(), 1)
		require.ErrorIs(t, err, ErrInvalidResponse)
		assert.NotErrorIs(t, err, ErrMaybeSent)
	})
}

func TestDoRejectsUnusableOutBeforeSending(t *testing.T) {
	t.Parallel()
	offline := offlineClient(t) // a request would fail the test
	tests := map[string]any{
		"typed nil pointer": (*WebIDVSession)(nil),
		"typed nil raw":     (*json.RawMessage)(nil),
		"struct value":      WebIDVSession{},
		"map value":         map[string]any{},
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := offline.Do(t.Context(), "POST", "/task", map[string]int{"points": 1}, out)
			assert.Equal(t, []string{"out"}, fieldsOf(t, err))
		})
	}
}

func TestRetryWaitCancelledReportsCancellation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cause  error
		status int
	}{
		"cancelled during wait after 503": {context.Canceled, http.StatusServiceUnavailable},
		"deadline during wait after 502":  {context.DeadlineExceeded, http.StatusBadGateway},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithMaxRetries(3))
			client.sleep = func(context.Context, time.Duration) error { return tc.cause }
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) })
			err := client.Do(t.Context(), "GET", "/thing", nil, nil)
			require.ErrorIs(t, err, tc.cause)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr, "the failure before the wait stays reachable")
			assert.Equal(t, tc.status, apiErr.StatusCode)
		})
	}
}
