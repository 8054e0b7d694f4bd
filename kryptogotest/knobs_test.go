package kryptogotest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

func pngImage(t *testing.T) *kryptogo.Image {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 400, 320))))
	return kryptogo.ImageFromBytes(buf.Bytes())
}

func TestIDVCreateWithAutoDDTask(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	idvCB, ddCB := newReceiver(t), newReceiver(t)
	client := srv.Client()
	img := pngImage(t)
	created, err := client.IDV.Create(ctx(t), &kryptogo.CreateIDVRequest{
		Country: "TWN", IDType: kryptogo.IDTypeIDCard, IDImage: img, IDBackImage: img, FaceImage: img,
		ExpectedName: "Jane Roe", ExpectedBirthday: "1985-01-31", CustomerReference: "c9",
		CallbackURL: idvCB.URL, AutoCreateDDTask: true, DDTaskSearchSettingID: 4, DDTaskCallbackURL: ddCB.URL,
	})
	require.NoError(t, err)
	task, err := client.IDV.Get(ctx(t), created.IDVTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVAccept, task.State)
	assert.Equal(t, kryptogo.IDVAuditAccepted, task.AuditStatus)
	assert.Equal(t, "Jane Roe", task.FullName)
	assert.Equal(t, kryptogo.IDSubTypeNationalID, task.IDSubType)
	require.NotZero(t, task.CreatedSearchTaskID)
	require.Len(t, task.DDTasks, 1)
	assert.Equal(t, task.CreatedSearchTaskID, task.DDTasks[0].ID)

	dd, err := client.Tasks.Get(ctx(t), task.CreatedSearchTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"), dd.Target)
	assert.Equal(t, created.IDVTaskID, dd.FromIDVID)
	assert.Equal(t, "c9", dd.CustomerReference)
	assert.Equal(t, ddCB.URL, dd.CallbackURL)

	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	require.Len(t, idvCB.received(), 1)
	parsed, err := kryptogo.ParseIDVCallback(idvCB.received()[0])
	require.NoError(t, err)
	assert.Equal(t, task.IDVTaskID, parsed.IDVTaskID)
	assert.JSONEq(t, string(task.RawJSON()), string(parsed.RawJSON()), "the callback is what GET /idv/{id} answers")
	require.Len(t, ddCB.received(), 1, "the DD task calls back on its own URL")
	ddSum, err := kryptogo.ParseTaskCallback(ddCB.received()[0])
	require.NoError(t, err)
	assert.Equal(t, dd.TaskID, ddSum.TaskID)

	sent := srv.Requests()[0]
	assert.Contains(t, string(sent.Body), `"id_image":"`+base64.StdEncoding.EncodeToString(mustPNG(t))[:16])
}

func mustPNG(t *testing.T) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 400, 320))))
	return buf.Bytes()
}

func TestIDVOutcomeOption(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithIDVOutcome(IDVOutcome{State: kryptogo.IDVReview,
		ReviewReasons: []kryptogo.Reason{{Code: 400, Description: "face mismatch"}}}))
	client := srv.Client()
	img := pngImage(t)
	created, err := client.IDV.Create(ctx(t), &kryptogo.CreateIDVRequest{Country: "JPN", IDType: kryptogo.IDTypePassport,
		IDImage: img, FaceImage: img, AutoCreateDDTask: true, DDTaskSearchSettingID: 1})
	require.NoError(t, err)
	task, err := client.IDV.Wait(ctx(t), created.IDVTaskID, &kryptogo.WaitOptions{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVReview, task.State)
	assert.Equal(t, kryptogo.IDVAuditPending, task.AuditStatus)
	assert.Equal(t, []kryptogo.Reason{{Code: 400, Description: "face mismatch"}}, task.ReviewReasons)
	assert.Zero(t, task.CreatedSearchTaskID, "no DD task unless accepted")
}

func TestWebSessionCompletesWhenOpened(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithRFC3339InitTimestamp(), WithClock(func() time.Time {
		return time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	}))
	client := srv.Client()
	session, err := client.IDV.InitWeb(ctx(t), &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypePassport,
		WorkflowID: kryptogo.WorkflowIDAndIdentity, Country: "USA", CustomerReference: "c1"})
	require.NoError(t, err)
	assert.Contains(t, string(session.RawJSON()), `"timestamp":"2026-11-25T08:00:00Z"`, "RFC 3339, like the real API")
	assert.Equal(t, time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), session.Timestamp.Time)

	task, err := client.IDV.Get(ctx(t), session.IDVTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVInitial, task.State, "nothing uploaded yet")

	resp, err := http.Get(session.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	task, err = client.IDV.Get(ctx(t), session.IDVTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVAccept, task.State)
	assert.Equal(t, int64(1795593600), task.AuditTimestamp.Unix())

	resp, err = http.Get(session.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a link works once")

	srv.SetRFC3339InitTimestamp(false)
	session, err = client.IDV.InitWeb(ctx(t), &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypePassport,
		WorkflowID: kryptogo.WorkflowIDOnly, Country: "USA", CustomerReference: "c1", SuccessURL: "https://example.com/done"})
	require.NoError(t, err)
	assert.Contains(t, string(session.RawJSON()), `"timestamp":1795593600`)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(session.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "https://example.com/done", resp.Header.Get("Location"))
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client(kryptogo.WithMaxRetries(0))
	srv.FailNext(2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		_, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
		assert.ErrorIs(t, err, kryptogo.ErrServerError)
	}
	_, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err, "only the next 2")

	srv.FailNext(1, http.StatusTooManyRequests)
	retrying := srv.Client()
	res, err := retrying.KYA.Get(ctx(t), 1)
	require.NoError(t, err, "a 429 is retried (Retry-After: 0)")
	assert.Equal(t, kryptogo.ID(1), res.KYAID)

	srv.FailNext(1, http.StatusBadGateway)
	_, err = client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
	var apiErr *kryptogo.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "injected failure", apiErr.Message)
	_, ok := srv.Task(1)
	assert.False(t, ok, "a failed request creates nothing")
}

func TestFailNextOn(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client(kryptogo.WithMaxRetries(0))
	_, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
	require.NoError(t, err)
	srv.FailNextOn("/task/1/summary", 1, http.StatusInternalServerError)
	srv.FailNextOn("/kya*", 1, http.StatusForbidden)

	_, err = client.Tasks.Get(ctx(t), 1)
	require.NoError(t, err, "another path is not affected")
	_, err = client.Tasks.Summary(ctx(t), 1)
	assert.ErrorIs(t, err, kryptogo.ErrServerError)
	_, err = client.Tasks.Summary(ctx(t), 1)
	require.NoError(t, err)
	_, err = client.KYA.Get(ctx(t), 5)
	assert.ErrorIs(t, err, kryptogo.ErrUnauthorized, "prefix match")
}

func TestLatency(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithLatency(40*time.Millisecond))
	client := srv.Client()
	start := time.Now()
	_, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)

	srv.SetLatency(2 * time.Second)
	_, err = srv.Client(kryptogo.WithTimeout(50*time.Millisecond), kryptogo.WithMaxRetries(0)).KYA.Get(ctx(t), 1)
	assert.ErrorContains(t, err, "attempt timed out")
	srv.SetLatency(0)
	start = time.Now()
	_, err = client.KYA.Get(ctx(t), 1)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "latency back to none")
}

func TestRequestsLog(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client(kryptogo.WithUserAgent("my-tests/1"))
	_, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	_, err = client.Tasks.History(ctx(t), &kryptogo.HistoryOptions{CustomerReference: "c1"})
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "POST", reqs[0].Method)
	assert.Equal(t, "/kya", reqs[0].Path)
	assert.JSONEq(t, `{"address":"`+ethAddr+`","chain":"eth"}`, string(reqs[0].Body))
	assert.Empty(t, reqs[0].Header.Get(kryptogo.DefaultAPIKeyHeader), "the key is not logged")
	assert.Contains(t, reqs[0].Header.Get("User-Agent"), "my-tests/1")
	assert.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
	assert.Equal(t, "GET", reqs[1].Method)
	assert.Equal(t, "customer_reference=c1&page_number=1&page_size=20", reqs[1].Query)
	assert.False(t, reqs[1].Time.IsZero())
	srv.ResetRequests()
	assert.Empty(t, srv.Requests())
}

func TestCallbackRetries(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithCallbackRetries(3, time.Millisecond))
	cb := newReceiver(t)
	cb.fail.Store(2)
	_, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A"), CallbackURL: cb.URL}})
	require.NoError(t, err)
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	d := srv.Callbacks()
	require.Len(t, d, 1)
	assert.Equal(t, 3, d[0].Attempts)
	assert.True(t, d[0].Delivered)
	assert.True(t, d[0].Done)
	assert.NoError(t, d[0].Err)
	assert.Len(t, cb.received(), 1)

	cb.fail.Store(10)
	_, err = srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("B"), CallbackURL: cb.URL}})
	require.NoError(t, err)
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	d = srv.Callbacks()
	require.Len(t, d, 2)
	assert.Equal(t, 3, d[1].Attempts, "gives up after 3 attempts")
	assert.False(t, d[1].Delivered)
	assert.Equal(t, http.StatusInternalServerError, d[1].Status)
	assert.EqualError(t, d[1].Err, "callback answered 500 Internal Server Error")
}

func TestCloseStopsPendingWork(t *testing.T) {
	t.Parallel()
	cb := newReceiver(t)
	srv := NewServer(WithCompletionDelay(time.Hour))
	_, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A"), CallbackURL: cb.URL}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return")
	}
	assert.Empty(t, cb.received())
}

func TestNoCallbackAfterClose(t *testing.T) {
	t.Parallel()
	cb := newReceiver(t)
	srv := NewServer()
	srv.Close()
	srv.callbacks.send(cb.URL, kryptogo.CallbackTask, &kryptogo.TaskSummary{TaskID: 1})
	d := srv.Callbacks()
	require.Len(t, d, 1)
	assert.True(t, d[0].Done)
	assert.False(t, d[0].Delivered)
	assert.EqualError(t, d[0].Err, "kryptogotest: server closed")
	assert.Empty(t, cb.received())
}

// status GETs path with plain net/http and returns the answer's status.
func status(t *testing.T, srv *Server, path string) int {
	t.Helper()
	return get(t, srv.URL+path, srv.APIKey).StatusCode
}

// The rule of overlapping faults: a request uses the fault injected first
// among those naming its path (exactly or by prefix), and a fault on any
// path only when none names it.
func TestFaultOrder(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	srv.FailNext(2, http.StatusInternalServerError)                      // any path, injected first
	srv.FailNextOnRequest("POST", "/kya/detail/1", 1, http.StatusTeapot) // another method: never used here
	srv.FailNextOn("/kya/*", 1, http.StatusServiceUnavailable)
	srv.FailNextOnRequest("GET", "/kya/detail/1", 1, http.StatusBadGateway)

	got := []int{}
	for range 5 {
		got = append(got, status(t, srv, "/kya/detail/1"))
	}
	assert.Equal(t, []int{
		http.StatusServiceUnavailable, // per path, the first injected (a prefix counts as a path)
		http.StatusBadGateway,         // per path, the next
		http.StatusInternalServerError,
		http.StatusInternalServerError, // then any path, n = 2
		http.StatusNotFound,            // no fault left: the fake's own answer
	}, got)
}

func TestFailNextWithZeroWithdrawsThatPathsFaults(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	// The user: 10 faults meant for one test's retries, of which 3
	// were used; the other 7 must not answer the next test's calls.
	srv.FailNextOnRequest("GET", "/tasks", 10, http.StatusTooManyRequests)
	srv.DropNextRequest("GET", "/tasks", 5)
	srv.FailNextOn("/kya*", 1, http.StatusBadGateway)
	srv.FailNextOnRequest("POST", "/tasks", 1, http.StatusTeapot)
	for range 3 {
		assert.Equal(t, http.StatusTooManyRequests, status(t, srv, "/tasks?page_size=1&page_number=1"))
	}

	srv.FailNextOnRequest("get", "/tasks", 0, 0) // the method is compared case-insensitively
	assert.Equal(t, http.StatusOK, status(t, srv, "/tasks?page_size=1&page_number=1"), "the 7 left and the drops are withdrawn")
	assert.Equal(t, http.StatusBadGateway, status(t, srv, "/kya/detail/1"), "another path's fault stays")
	code, _ := rawCall(t, srv, http.MethodPost, "/tasks", "")
	assert.Equal(t, http.StatusTeapot, code, "so does another method's")

	srv.FailNext(1, http.StatusInternalServerError)
	srv.FailNextOn("/kya/detail/1", 1, http.StatusBadGateway)
	srv.FailNext(0, 0) // withdraws the faults on any path only
	assert.Equal(t, http.StatusOK, status(t, srv, "/tasks?page_size=1&page_number=1"))
	assert.Equal(t, http.StatusBadGateway, status(t, srv, "/kya/detail/1"))
	srv.DropNextResponse("GET", "/tasks", 1)
	srv.DropNextResponse("GET", "/tasks", -1) // a negative n withdraws as 0 does
	assert.Equal(t, http.StatusOK, status(t, srv, "/tasks?page_size=1&page_number=1"))
}

func TestClearFaults(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	srv.FailNext(3, http.StatusInternalServerError)
	srv.FailNextOn("/tasks", 3, http.StatusBadGateway)
	srv.FailNextOnRequest("GET", "/tasks", 3, http.StatusServiceUnavailable)
	srv.DropNextRequest("", "", 3)
	srv.DropNextResponse("GET", "/tasks", 3)
	srv.ClearFaults()
	for range 4 {
		assert.Equal(t, http.StatusOK, status(t, srv, "/tasks?page_size=1&page_number=1"))
	}
	srv.FailNext(1, http.StatusBadGateway)
	assert.Equal(t, http.StatusBadGateway, status(t, srv, "/tasks?page_size=1&page_number=1"), "faults injected after work")
}

func TestTasksListsWhatTheCodeUnderTestCreated(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	client := srv.Client()
	assert.Empty(t, srv.Tasks())
	_, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme"), CustomerReference: "cust-a"},
		{SearchSettingID: 1, Target: kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"), CustomerReference: "cust-b"},
	})
	require.NoError(t, err)
	tasks := srv.Tasks()
	require.Len(t, tasks, 2)
	assert.Equal(t, []string{"cust-a", "cust-b"}, []string{tasks[0].CustomerReference, tasks[1].CustomerReference}, "oldest first")
	assert.Equal(t, 0, tasks[0].CompletedSource)

	require.NoError(t, srv.CompleteTask(tasks[0].TaskID, TaskOutcome{PotentialRisk: 30}))
	tasks[1].Metadata = append(tasks[1].Metadata, kryptogo.Metadata{Key: "k", Value: "v"})
	again := srv.Tasks()
	assert.Equal(t, 30, again[0].PotentialRisk, "a fresh copy each call")
	assert.Empty(t, again[1].Metadata, "changing a copy changes nothing in the fake")
}

// Client's retries wait at most 10 ms (the SDK's default is 500 ms to 8 s),
// as its retry log says; the test reads the waits the SDK chose, not a clock.
func TestClientShortensRetryWaits(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	var logged bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv.FailNextOn("/tasks", 2, http.StatusServiceUnavailable)
	_, err := srv.Client(kryptogo.WithLogger(logger)).Tasks.History(ctx(t), &kryptogo.HistoryOptions{})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	var waits []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		var rec struct {
			Msg  string        `json:"msg"`
			Wait time.Duration `json:"wait"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Msg == "kryptogo retry" {
			waits = append(waits, rec.Wait)
		}
	}
	require.Len(t, waits, 2, "two retries:\n%s", logged.String())
	for _, w := range waits {
		assert.LessOrEqual(t, w, 10*time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// clock is a settable time for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// limited GETs path and returns the status and Retry-After of the answer.
func limited(t *testing.T, srv *Server, path string) (int, string) {
	t.Helper()
	resp := get(t, srv.URL+path, srv.APIKey)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// The window slides: a request is admitted when fewer than n were admitted
// in the span of per before it.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clk := &clock{now: start}
	srv := NewTestServer(t, WithClock(clk.Now), WithRateLimit(2, time.Minute))
	at := func(d time.Duration) { clk.Set(start.Add(d)) }
	const path = "/tasks?page_size=1&page_number=1"

	for _, step := range []struct {
		at         time.Duration
		status     int
		retryAfter string
	}{
		{0, http.StatusOK, ""},
		{30 * time.Second, http.StatusOK, ""},
		{59 * time.Second, http.StatusTooManyRequests, "1"}, // the first leaves the window at 60 s
		{59*time.Second + 500*time.Millisecond, http.StatusTooManyRequests, "1"},
		{60 * time.Second, http.StatusOK, ""},                // a fixed window would have reset here too...
		{61 * time.Second, http.StatusTooManyRequests, "29"}, // ...but not refused here: 30 s and 60 s are in
		{90 * time.Second, http.StatusOK, ""},
	} {
		at(step.at)
		code, retryAfter := limited(t, srv, path)
		assert.Equal(t, step.status, code, "at %v", step.at)
		assert.Equal(t, step.retryAfter, retryAfter, "at %v", step.at)
	}

	reqs := srv.Requests()
	require.Len(t, reqs, 7, "refused requests are logged")
	var flags []bool
	for _, r := range reqs {
		flags = append(flags, r.RateLimited)
	}
	assert.Equal(t, []bool{false, false, true, true, false, true, false}, flags)
}

func TestRateLimitCoversEveryEndpointAndTheSDKSeesIt(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	srv := NewTestServer(t, WithClock(clk.Now), WithRateLimit(1, 10*time.Second))
	assert.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/kya/detail/1", "wrong key").StatusCode, "counted: the first")
	resp := get(t, srv.URL+"/idv/web/unknown", "")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the web session page too")
	assert.Equal(t, "10", resp.Header.Get("Retry-After"))
	assert.NotEmpty(t, resp.Header.Get(RequestIDHeader))

	srv.FailNext(1, http.StatusBadGateway)
	_, err := srv.Client(kryptogo.WithMaxRetries(0)).Tasks.History(ctx(t), &kryptogo.HistoryOptions{})
	var apiErr *kryptogo.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, kryptogo.ErrRateLimited)
	assert.Equal(t, 10*time.Second, apiErr.RetryAfter)
	assert.Equal(t, "rate limit exceeded", apiErr.Message)

	srv.SetRateLimit(0, 0) // off
	assert.Equal(t, http.StatusBadGateway, status(t, srv, "/kya/detail/1"), "a refused request used no fault")
	assert.Equal(t, http.StatusNotFound, status(t, srv, "/kya/detail/1"))
	srv.SetRateLimit(1, time.Hour)
	assert.Equal(t, http.StatusNotFound, status(t, srv, "/kya/detail/1"), "a new limit counts from now")
	assert.Equal(t, http.StatusTooManyRequests, status(t, srv, "/kya/detail/1"))
}

func TestSampleAddressIsSanctionedByDefault(t *testing.T) {
	t.Parallel()
	for name, srv := range map[string]*Server{
		"no option":                 NewTestServer(t),
		"with other addresses":      NewTestServer(t, WithSanctionedAddresses("1BoatSLRHtKNngkdXEeobR76b53LETtpyT")),
		"with the sample, any case": NewTestServer(t, WithSanctionedAddresses(ethAddr)),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
			require.NoError(t, err)
			assert.Equal(t, 1, res.SDNCount(), "the reference's sample address, once")
			clean, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: "0x0000000000000000000000000000000000000001"})
			require.NoError(t, err)
			assert.Zero(t, clean.SDNCount())
		})
	}
}
