package kryptogo_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests make the calls the unit tests check against canned answers,
// end to end against the fake server.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestIntegrationKYA(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithSanctionedAddresses("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"))
	client := srv.Client()
	ctx := testCtx(t)

	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.SDNCount())
	got, err := client.KYA.Get(ctx, res.KYAID)
	require.NoError(t, err)
	assert.JSONEq(t, string(res.RawJSON()), string(got.RawJSON()))
	assert.JSONEq(t, `{"address":"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa","chain":"btc"}`, string(srv.Requests()[0].Body), "the detected chain is sent")
}

func TestIntegrationTaskFlow(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithCompletionDelay(30*time.Millisecond))
	srv.SetTargetRisk("Jane Roe", kryptogotest.TaskOutcome{PotentialRisk: 77, SanctionMatched: true})
	client := srv.Client()
	ctx := testCtx(t)

	signer, err := kryptogo.NewCallbackSigner(bytes.Repeat([]byte("s"), 32))
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []*kryptogo.TaskSummary
	receiver := httptest.NewServer(&kryptogo.CallbackHandler{Signer: signer, Confirm: client,
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, task)
			return nil
		}})
	defer receiver.Close()
	callbackURL, err := signer.SignURL(receiver.URL+"/cb?plan=gold", "customer-42")
	require.NoError(t, err)

	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{
		SearchSettingID: 2, Target: kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"),
		CustomerReference: "customer-42", CallbackURL: callbackURL,
	}})
	require.NoError(t, err)
	id := created[0].TaskID

	sum, err := client.Tasks.Wait(ctx, id, &kryptogo.WaitOptions{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, kryptogo.RiskHigh, sum.Report.Rating())
	assert.True(t, sum.Report.SanctionMatched)

	require.NoError(t, client.Tasks.SetMetadata(ctx, id, []kryptogo.Metadata{{Key: "tier", Value: "gold"}}))
	detail, err := client.Tasks.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.MetadataList{{Key: "tier", Value: "gold"}}, detail.Metadata)
	assert.Equal(t, kryptogo.RiskHigh, detail.Rating())

	res, err := client.Tasks.Reject(ctx, id, "sanctioned")
	require.NoError(t, err)
	assert.False(t, res.Accepted)
	_, err = client.Tasks.Accept(ctx, id, "changed my mind")
	require.ErrorIs(t, err, kryptogo.ErrConflict)

	var all []kryptogo.ID
	for task, err := range client.Tasks.All(ctx, &kryptogo.HistoryOptions{CustomerReference: "customer-42"}) {
		require.NoError(t, err)
		all = append(all, task.TaskID)
	}
	assert.Equal(t, []kryptogo.ID{id}, all)

	require.NoError(t, srv.WaitCallbacks(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "completion and rejection")
	assert.Equal(t, id, seen[1].TaskID)
	require.NotNil(t, seen[1].Report.Accepted)
	assert.False(t, *seen[1].Report.Accepted)
}

func TestIntegrationIDV(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithRFC3339InitTimestamp())
	client := srv.Client()
	ctx := testCtx(t)
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 400)), nil))
	img := kryptogo.ImageFromBytes(buf.Bytes())

	created, err := client.IDV.Create(ctx, &kryptogo.CreateIDVRequest{Country: "TWN", IDType: kryptogo.IDTypeIDCard,
		IDImage: img, IDBackImage: img, IDAndFaceImage: img, ExpectedName: "王又曾"})
	require.NoError(t, err)
	task, err := client.IDV.Wait(ctx, created.IDVTaskID, nil)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVAccept, task.State)
	assert.Equal(t, "王又曾", task.FullName)

	web, err := client.IDV.InitWeb(ctx, &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypeIDCard, WorkflowID: kryptogo.WorkflowIDAndIdentity,
		Country: "TWN", CustomerReference: "c1", TWIDApplyCode: new(int), TWIDApplyDate: "1070102", TWIDIssueSiteID: "63000"})
	require.NoError(t, err)
	assert.False(t, web.Timestamp.IsZero(), "the RFC 3339 timestamp decodes")
	resp, err := http.Get(web.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	task, err = client.IDV.Wait(ctx, web.IDVTaskID, &kryptogo.WaitOptions{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVAccept, task.State)

	mobile, err := client.IDV.InitMobile(ctx, &kryptogo.InitMobileIDVRequest{Country: "TWN"})
	require.NoError(t, err)
	assert.NotEmpty(t, mobile.SDKToken)
	assert.JSONEq(t, `{"workflow_id":3,"country":"TWN"}`, string(srv.Requests()[len(srv.Requests())-1].Body))
}

func TestIntegrationRetriesAgainstInjectedFailures(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	client := srv.Client()
	ctx := testCtx(t)

	srv.FailNext(2, http.StatusServiceUnavailable)
	_, err := client.Tasks.History(ctx, nil)
	require.NoError(t, err, "a GET rides out two 503s")

	srv.FailNextOn("/task", 1, http.StatusBadGateway)
	_, err = client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Co")}})
	require.ErrorIs(t, err, kryptogo.ErrServerError, "a POST is never retried on a 5xx")
	posts := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	assert.Equal(t, 1, posts)

	srv.FailNextOn("/task", 1, http.StatusTooManyRequests)
	_, err = client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Co")}})
	require.NoError(t, err, "a POST is retried on 429")
}

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
