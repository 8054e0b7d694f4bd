package kryptogotest

import (
	"context"
	"encoding/json"
	"io"
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

	kryptogo "github.com/kyabc/kryptogo-go"
)

const ethAddr = "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// receiver is a callback endpoint that records what it is sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	fail   atomic.Int32 // answer 500 this many more times
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func TestNewServerBasics(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	defer srv.Close()
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	assert.Equal(t, DefaultAPIKey, srv.APIKey)

	resp, err := http.Get(srv.URL + "/kya/detail/1")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, map[string]any{"code": float64(401), "message": "invalid API token"}, body)

	wrongKey, err := kryptogo.NewClient("wrong", kryptogo.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = wrongKey.KYA.Get(ctx(t), 1)
	assert.ErrorIs(t, err, kryptogo.ErrUnauthorized)

	_, err = srv.Client().KYA.Get(ctx(t), 99)
	assert.ErrorIs(t, err, kryptogo.ErrNotFound)
	err = srv.Client().Do(ctx(t), "GET", "/nowhere", nil, nil)
	assert.ErrorIs(t, err, kryptogo.ErrNotFound)
}

func TestNewTestServerClosesOnCleanup(t *testing.T) {
	t.Parallel()
	var url string
	t.Run("inner", func(t *testing.T) {
		srv := NewTestServer(t, WithAPIKey("k2"))
		url = srv.URL
		assert.Equal(t, "k2", srv.APIKey)
		_, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
		require.NoError(t, err)
	})
	_, err := http.Get(url + "/kya/detail/1")
	assert.Error(t, err, "closed when the test ended")
}

func TestWithAddr(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	srv := NewServer(WithAddr(addr))
	defer srv.Close()
	assert.Equal(t, "http://"+addr, srv.URL)
}

func TestKYA(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithSanctionedAddresses(strings.ToLower(ethAddr)))
	client := srv.Client()
	res, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	assert.Equal(t, kryptogo.ID(1), res.KYAID)
	assert.Equal(t, strings.ToLower(ethAddr), res.Address)
	assert.Equal(t, 1, res.SDNCount(), "configured as sanctioned, whatever the case")

	again, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	assert.Equal(t, kryptogo.ID(2), again.KYAID)
	assert.JSONEq(t, string(res.TxList), string(again.TxList), "content is derived from the address")

	clean, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"})
	require.NoError(t, err)
	assert.Equal(t, 0, clean.SDNCount())

	srv.SetSanctionedAddresses("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
	now, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"})
	require.NoError(t, err)
	assert.Equal(t, 1, now.SDNCount())

	got, err := client.KYA.Get(ctx(t), 1)
	require.NoError(t, err)
	assert.Equal(t, res.Address, got.Address)
	assert.Equal(t, res.CreationTimestamp, got.CreationTimestamp)
}

// raw sends a request the SDK's validation would stop, to check the fake's.
func raw(t *testing.T, srv *Server, method, path, body string) *kryptogo.APIError {
	t.Helper()
	err := srv.Client(kryptogo.WithMaxRetries(0)).Do(ctx(t), method, path, json.RawMessage(body), nil)
	var apiErr *kryptogo.APIError
	require.ErrorAs(t, err, &apiErr, "%s %s %s", method, path, body)
	return apiErr
}

func TestRequiredFields(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	for _, tc := range []struct {
		method, path, body, message string
	}{
		{"POST", "/kya", `{}`, "invalid request: address"},
		{"POST", "/kya", `{"address":"zzz"}`, "cannot detect the chain of the address"},
		{"POST", "/kya", `{"address":"` + ethAddr + `","chain":"sol"}`, `chain "sol" is not supported (btc, eth)`},
		{"POST", "/task", `[]`, "invalid request: tasks"},
		{"POST", "/task", `[{"target":{"type":3}}]`, "invalid request: [0].search_setting_id, [0].target.type, [0].target.name, [0].search_source"},
		{"POST", "/task", `{"not":"an array"}`, ""},
		{"GET", "/tasks", ``, "invalid request: page_size, page_number"},
		{"POST", "/idv", `{"id_type":"ID_CARD"}`, "invalid request: country, id_image, id_back_image, face_image"},
		{"POST", "/idv", idvBody(t, `,"auto_create_dd_task":true`), "invalid request: dd_task_search_setting_id"},
		{"POST", "/idv/init", `{}`, "invalid request: country, id_type, workflow_id, customer_reference"},
		{"POST", "/idv/init", `{"country":"TWN","id_type":"ID_CARD","workflow_id":3,"customer_reference":"c"}`, "invalid request: workflow_id"},
		{"POST", "/idv/account", `{"workflow_id":100}`, "invalid request: country, workflow_id"},
	} {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			var apiErr *kryptogo.APIError
			if tc.method == "GET" {
				err := srv.Client(kryptogo.WithMaxRetries(0)).Do(ctx(t), tc.method, tc.path, nil, nil)
				require.ErrorAs(t, err, &apiErr)
			} else {
				apiErr = raw(t, srv, tc.method, tc.path, tc.body)
			}
			assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
			assert.Equal(t, http.StatusBadRequest, apiErr.Code)
			if tc.message != "" {
				assert.Equal(t, tc.message, apiErr.Message)
			}
		})
	}
	created, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
	require.NoError(t, err)
	id := created[0].TaskID.String()
	apiErr := raw(t, srv, "POST", "/task/"+id+"/accepted", `{"comment":"x"}`)
	assert.Equal(t, "invalid request: accepted", apiErr.Message, "accepted is required: false must be sent")
	apiErr = raw(t, srv, "POST", "/task/"+id+"/accepted", `{"accepted":false}`)
	assert.Equal(t, "invalid request: comment", apiErr.Message)
	apiErr = raw(t, srv, "PUT", "/task/"+id+"/metadata", `{"key":"a"}`)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
}

func TestTaskLifecycleAtOnce(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	cb := newReceiver(t)
	srv.SetTargetRisk("Risky Person", TaskOutcome{PotentialRisk: 80, SanctionMatched: true})
	client := srv.Client()
	created, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 2, Target: kryptogo.KYCTarget("Risky Person", "1980-01-01", "TWN"), CallbackURL: cb.URL + "/cb?customer=1", CustomerReference: "c1"},
		{SearchSettingID: 2, Target: kryptogo.KYBTarget("Clean Co."), CustomerReference: "c2"},
	})
	require.NoError(t, err)
	require.Len(t, created, 2)
	assert.Equal(t, []kryptogo.ID{1, 2}, []kryptogo.ID{created[0].TaskID, created[1].TaskID})

	sum, err := client.Tasks.Summary(ctx(t), 1)
	require.NoError(t, err)
	assert.True(t, sum.Completed())
	require.NotNil(t, sum.Report)
	assert.Equal(t, 80, sum.Report.PotentialRisk)
	assert.True(t, sum.Report.SanctionMatched)
	assert.Nil(t, sum.Report.Accepted)
	assert.Equal(t, kryptogo.RiskHigh, sum.Report.Rating())
	assert.Equal(t, kryptogo.OriginAPI, sum.TaskOrigin)

	clean, err := client.Tasks.Summary(ctx(t), 2)
	require.NoError(t, err)
	assert.Equal(t, 0, clean.Report.PotentialRisk)

	detail, err := client.Tasks.Get(ctx(t), 1)
	require.NoError(t, err)
	assert.Equal(t, cb.URL+"/cb?customer=1", detail.CallbackURL)
	assert.Equal(t, kryptogo.SearchSources(kryptogo.AllSearchSources), detail.SearchSource)
	assert.Equal(t, 5, detail.CompletedSource)

	_, err = client.Tasks.Accept(ctx(t), 1, "checked")
	require.NoError(t, err)
	_, err = client.Tasks.Reject(ctx(t), 1, "again")
	assert.ErrorIs(t, err, kryptogo.ErrConflict)
	sum, err = client.Tasks.Summary(ctx(t), 1)
	require.NoError(t, err)
	require.NotNil(t, sum.Report.Accepted)
	assert.True(t, *sum.Report.Accepted)
	assert.Equal(t, "checked", sum.Report.Comment)

	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	bodies := cb.received()
	require.Len(t, bodies, 2, "on completion and on acceptance; the other task has no callback URL")
	first, err := kryptogo.ParseTaskCallback(bodies[0])
	require.NoError(t, err)
	assert.Nil(t, first.Report.Accepted)
	second, err := kryptogo.ParseTaskCallback(bodies[1])
	require.NoError(t, err)
	assert.JSONEq(t, string(sum.RawJSON()), string(second.RawJSON()), "the callback is what GET summary answers")

	deliveries := srv.Callbacks()
	require.Len(t, deliveries, 2)
	assert.Equal(t, kryptogo.CallbackTask, deliveries[0].Kind)
	assert.Equal(t, kryptogo.ID(1), deliveries[0].ID)
	assert.True(t, deliveries[0].Delivered)
	assert.Equal(t, 1, deliveries[0].Attempts)
	assert.Equal(t, http.StatusNoContent, deliveries[0].Status)

	_, err = client.Tasks.Accept(ctx(t), 99, "x")
	assert.ErrorIs(t, err, kryptogo.ErrNotFound)
	assert.Error(t, srv.CompleteTask(1, TaskOutcome{}), "already completed")
	assert.Error(t, srv.CompleteTask(99, TaskOutcome{}), "unknown")
}

func TestHistoryPagingAndFilter(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client()
	var reqs []kryptogo.CreateTaskRequest
	for i := 0; i < 7; i++ {
		ref := "even"
		if i%2 == 1 {
			ref = "odd"
		}
		reqs = append(reqs, kryptogo.CreateTaskRequest{SearchSettingID: 1, Target: kryptogo.KYBTarget("Co"), CustomerReference: ref})
	}
	_, err := client.Tasks.Create(ctx(t), reqs)
	require.NoError(t, err)

	page, err := client.Tasks.History(ctx(t), &kryptogo.HistoryOptions{PageSize: 3, PageNumber: 1})
	require.NoError(t, err)
	require.Len(t, page.Data, 3)
	assert.Equal(t, kryptogo.ID(7), page.Data[0].TaskID, "newest first")
	assert.JSONEq(t, `{"page_number":1,"page_size":3,"total":7,"kryptogotest_invented":true}`, string(page.Paging))

	var ids []kryptogo.ID
	for task, err := range client.Tasks.All(ctx(t), &kryptogo.HistoryOptions{PageSize: 2, CustomerReference: "even"}) {
		require.NoError(t, err)
		ids = append(ids, task.TaskID)
	}
	assert.Equal(t, []kryptogo.ID{7, 5, 3, 1}, ids)
}

func TestDelayedCompletionAndWait(t *testing.T) {
	t.Parallel()
	const delay = time.Second
	srv := NewTestServer(t, WithCompletionDelay(delay))
	client := srv.Client()
	// A task is pending until delay after it was created: a summary fetched
	// less than delay after the create began must show it pending. A loaded
	// machine may take longer between the two; that task proves nothing,
	// and another one is tried.
	var created []kryptogo.CreatedTask
	var sum *kryptogo.TaskSummary
	for try := 1; ; try++ {
		start := time.Now()
		var err error
		created, err = client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
		require.NoError(t, err)
		sum, err = client.Tasks.Summary(ctx(t), created[0].TaskID)
		require.NoError(t, err)
		if time.Since(start) < delay {
			break
		}
		require.Less(t, try, 10, "every summary took longer than %v to fetch", delay)
	}
	assert.Equal(t, 0, sum.Progress)
	require.NotNil(t, sum.Report, "the report is an object before completion, as in the reference")
	assert.Equal(t, kryptogo.TaskReport{URL: sum.ConsoleURL()}, *sum.Report, "zero risk, undecided")
	done, err := client.Tasks.Wait(ctx(t), created[0].TaskID, &kryptogo.WaitOptions{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.True(t, done.Completed())
}

func TestManualCompletion(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	client := srv.Client()
	created, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
	require.NoError(t, err)
	sum, err := client.Tasks.Summary(ctx(t), created[0].TaskID)
	require.NoError(t, err)
	assert.False(t, sum.Completed())
	require.NoError(t, srv.CompleteTask(created[0].TaskID, TaskOutcome{PotentialRisk: 100, SanctionMatched: true}))
	sum, err = client.Tasks.Summary(ctx(t), created[0].TaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.RiskVeryHigh, sum.Report.Rating())

	idv, err := client.IDV.InitMobile(ctx(t), &kryptogo.InitMobileIDVRequest{Country: "TWN"})
	require.NoError(t, err)
	got, err := client.IDV.Get(ctx(t), idv.IDVTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVPending, got.State)
	assert.Error(t, srv.CompleteIDV(idv.IDVTaskID, IDVOutcome{State: kryptogo.IDVPending}), "not a final state")
	require.NoError(t, srv.CompleteIDV(idv.IDVTaskID, IDVOutcome{
		State:         kryptogo.IDVReject,
		RejectReasons: []kryptogo.Reason{{Code: 106, Description: "fake"}},
	}))
	got, err = client.IDV.Get(ctx(t), idv.IDVTaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.IDVReject, got.State)
	assert.Equal(t, kryptogo.IDVAuditRejected, got.AuditStatus)
	assert.Equal(t, []kryptogo.Reason{{Code: 106, Description: "fake"}}, got.RejectReasons)
	assert.Error(t, srv.CompleteIDV(idv.IDVTaskID, IDVOutcome{State: kryptogo.IDVAccept}), "already done")
	assert.Error(t, srv.CompleteIDV(99, IDVOutcome{State: kryptogo.IDVAccept}), "unknown")
	stored, ok := srv.IDVTask(idv.IDVTaskID)
	require.True(t, ok)
	assert.Equal(t, kryptogo.IDVReject, stored.State)
	_, ok = srv.IDVTask(99)
	assert.False(t, ok)
	task, ok := srv.Task(created[0].TaskID)
	require.True(t, ok)
	assert.Equal(t, 100, task.PotentialRisk)
	_, ok = srv.Task(99)
	assert.False(t, ok)
}

// TestClientPanicsOnRefusedOption pins Client's documented panic: an
// option NewClient refuses is a broken test setup.
func TestClientPanicsOnRefusedOption(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	tests := map[string]kryptogo.Option{
		"per-call only": kryptogo.WithResponseInfo(&kryptogo.ResponseInfo{}),
		"bad value":     kryptogo.WithMaxRetries(-1),
	}
	for name, opt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { srv.Client(opt) })
		})
	}
	assert.NotPanics(t, func() { srv.Client(kryptogo.WithMaxRetries(1)) })
}
