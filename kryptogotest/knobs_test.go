package kryptogotest

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"net/http"
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
