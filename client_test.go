package kryptogo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
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
	// fmt reads the client's internals, the dial gate's counters among
	// them: its connections are closed first, since a connection's close
	// (net/http's read loop, at any time) writes them.
	client.CloseIdleConnections()
	require.Eventually(t, func() bool {
		gate := client.dialGate
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return gate.conns.Load() == 0
	}, 10*time.Second, time.Millisecond)

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
