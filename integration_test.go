package kryptogo_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
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
