package kryptogo_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// contextDroppingRT rebuilds each request with http.NewRequest, as some
// signing and proxy wrappers do: the request's context, and with it the
// SDK's trace, is lost, so the SDK cannot see the request being sent. It
// sends each request up to tries times (1 when 0) while the transport fails.
type contextDroppingRT struct {
	next  http.RoundTripper
	tries int
}

func (rt contextDroppingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Body
	if in == nil {
		in = http.NoBody
	}
	body, err := io.ReadAll(in)
	_ = in.Close()
	if err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		out, err := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		out.Header = req.Header.Clone()
		resp, err := rt.next.RoundTrip(out)
		if err == nil || try >= max(rt.tries, 1) {
			return resp, err
		}
	}
}

// logRecords is a slog handler that keeps every record, for the goroutines
// of a client.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

func (l *logRecords) logger() *slog.Logger { return slog.New(l) }

// warnings returns the records at WARN level about the client of baseURL.
func (l *logRecords) warnings(baseURL string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if r.Level == slog.LevelWarn && attr(r, "base_url") == baseURL {
			out = append(out, r)
		}
	}
	return out
}

// text renders every record, message and attributes.
func (l *logRecords) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.records {
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
		b.WriteString("\n")
	}
	return b.String()
}

func attr(r slog.Record, key string) string {
	var value string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			value = a.Value.String()
		}
		return true
	})
	return value
}

// blindClient returns a client of srv whose transport drops the request's
// context, logging to logs when it is not nil.
func blindClient(srv *kryptogotest.Server, tries int, logs *logRecords) *kryptogo.Client {
	opts := []kryptogo.Option{kryptogo.WithHTTPClient(&http.Client{Transport: contextDroppingRT{next: &http.Transport{}, tries: tries}})}
	if logs != nil {
		opts = append(opts, kryptogo.WithLogger(logs.logger()))
	}
	return srv.Client(opts...)
}

func postsTo(srv *kryptogotest.Server, path string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Path == path {
			n++
		}
	}
	return n
}

// Issue 15, row 2: through a transport that rebuilt the request with
// http.NewRequest, a task created with its answer lost came back as a plain
// "POST /task: EOF": no ErrMaybeSent, so a caller following the docs sent it
// again. When the SDK cannot see the send, every failure of a POST may have
// reached the API.
func TestContextDroppingTransportPOSTFailureIsMaybeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tries int // of the transport
	}{{"non-retrying transport", 1}, {"retrying transport", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := kryptogotest.NewTestServer(t)
			srv.DropNextResponse(http.MethodPost, "/task", tc.tries)
			logs := &logRecords{}
			_, err := blindClient(srv, tc.tries, logs).Tasks.Create(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme")})
			require.Error(t, err)
			assert.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			assert.Contains(t, err.Error(), "check before sending it again")
			assert.Equal(t, tc.tries, postsTo(srv, "/task"), "POSTs the API received (the transport's own)")
			assert.Len(t, logs.warnings(srv.URL), 1, "the client warns that its transport defeats the duplicate guard")
		})
	}
}

// Issue 15, row 2: CreateOnce made no lookup after the plain EOF and
// returned it. With ErrMaybeSent, it looks the task up and returns it,
// having sent one POST.
func TestContextDroppingTransportCreateOnceFindsTheTask(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	srv.DropNextResponse(http.MethodPost, "/task", 1)
	created, err := blindClient(srv, 1, nil).Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme")})
	require.NoError(t, err)
	require.Len(t, created, 1)
	assert.Equal(t, 1, postsTo(srv, "/task"), "POSTs the API received")
	task, ok := srv.Task(created[0].TaskID)
	require.True(t, ok, "the task returned is the one the API created")
	assert.Equal(t, "Acme", task.Target.Name)
}

// The warning comes once per client, at WARN, whatever the calls; it never
// holds the key.
func TestContextDroppingTransportWarnsOncePerClient(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	srv.DropNextResponse(http.MethodPost, "/task", 1)
	logs := &logRecords{}
	for range 2 {
		client := blindClient(srv, 1, logs)
		_, _ = client.Tasks.Create(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme")})
		_, err := client.Tasks.Create(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c2", "Acme")})
		require.NoError(t, err)
		_, err = client.Tasks.History(testCtx(t), nil)
		require.NoError(t, err)
	}
	warnings := logs.warnings(srv.URL)
	require.Len(t, warnings, 2, "one warning per client")
	for _, w := range warnings {
		assert.Contains(t, w.Message, "context")
	}
	assert.NotContains(t, logs.text(), srv.APIKey)
}

// A client without a logger warns through slog.Default. Not parallel: it
// replaces the default logger.
func TestContextDroppingTransportWarnsThroughDefaultLogger(t *testing.T) {
	srv := kryptogotest.NewTestServer(t)
	logs := &logRecords{}
	previous := slog.Default()
	slog.SetDefault(logs.logger())
	t.Cleanup(func() { slog.SetDefault(previous) })
	_, err := blindClient(srv, 1, nil).KYA.Create(testCtx(t), &kryptogo.CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"})
	require.NoError(t, err)
	assert.Len(t, logs.warnings(srv.URL), 1, "warnings about this client")
	assert.NotContains(t, logs.text(), srv.APIKey)
}
