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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			slept := recordWaits(client, now)
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
			assert.Equal(t, []time.Duration{tc.want}, slept.list(), tc.header)
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
			slept := recordWaits(client, time.Now())
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
			assert.Empty(t, slept.list())
			assert.Equal(t, int32(1), seen.Load())
		})
	}
}

func TestBackoffWithoutRetryAfterIsJittered(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithRetryBackoff(100*time.Millisecond, 300*time.Millisecond), WithMaxRetries(4))
	slept := recordWaits(client, time.Now())
	mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	_ = client.Do(t.Context(), "GET", "/thing", nil, nil)
	require.Len(t, slept.list(), 4)
	ceilings := []time.Duration{200, 300, 300, 300}
	for i, d := range slept.list() {
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
			// Each attempt must reach the handler, and the second be answered,
			// within the timeout, a new dial included: 200 ms was not enough
			// on a loaded machine, nor was a second under -race beside the
			// package's other parallel tests; three are.
			client, mux := setup(t, WithTimeout(3*time.Second))
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
				assert.Contains(t, err.Error(), "attempt timed out after 3s")
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

// A timeout that has passed before the request could be sent (1 ns) sends
// nothing, on a warm connection too: every call ends with
// context.DeadlineExceeded and the API sees no request, as under
// context.WithTimeout.
func TestTimeoutPassedBeforeSendSendsNothing(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithMaxRetries(0))
			var n atomic.Int32
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				_, _ = w.Write([]byte(`{}`))
			})
			require.NoError(t, client.Do(context.Background(), http.MethodGet, "/thing", nil, nil)) // a pooled connection
			n.Store(0)
			var body any
			if method == http.MethodPost {
				body = map[string]int{"x": 1}
			}
			for range 3000 {
				err := client.Do(context.Background(), method, "/thing", body, nil, WithTimeout(time.Nanosecond))
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
			assert.Zero(t, n.Load(), "requests sent after their attempt's deadline")
		})
	}
}
