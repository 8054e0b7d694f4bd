package kryptogotest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// rawRequest sends one request with a plain http.Client (no SDK, no
// retry), and returns its status and body, or the transport's error.
func rawRequest(t *testing.T, srv *Server, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx(t), method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(kryptogo.DefaultAPIKeyHeader, srv.APIKey)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, answer, nil
}

const oneTaskBody = `[{"search_setting_id":1,"target":{"type":2,"name":"Acme"},"search_source":[],"customer_reference":"c1"}]`

// listed returns the ids GET /tasks lists for customer c1.
func listed(t *testing.T, srv *Server) []kryptogo.ID {
	status, body, err := rawRequest(t, srv, http.MethodGet, "/tasks?page_size=100&page_number=1&customer_reference=c1", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	var page struct {
		Data []struct {
			TaskID kryptogo.ID `json:"task_id"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	ids := []kryptogo.ID{}
	for _, d := range page.Data {
		ids = append(ids, d.TaskID)
	}
	return ids
}

func TestFailNextAfterHandlingActsThenFails(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)

	status, body, err := rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Contains(t, string(body), "injected failure")
	assert.Len(t, srv.Tasks(), 1, "the task was created before the 500")
	assert.Equal(t, Fault{Status: 500, AfterHandling: true}, srv.Requests()[0].Fault)

	status, _, err = rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "one request only")
	assert.Len(t, srv.Tasks(), 2)
	assert.Zero(t, srv.Requests()[1].Fault)
}

func TestSetFaultFuncDecidesPerRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fault      Fault
		wantStatus int // 0: the connection is dropped
		wantTasks  int
	}{
		{"status before handling", Fault{Status: 503}, 503, 0},
		{"status after handling", Fault{Status: 500, AfterHandling: true}, 500, 1},
		{"drop before handling", Fault{Drop: true}, 0, 0},
		{"drop after handling", Fault{Drop: true, AfterHandling: true}, 0, 1},
		{"delay only", Fault{Delay: time.Millisecond}, 200, 1},
		{"none", Fault{}, 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := NewTestServer(t)
			var seen []Request
			srv.SetFaultFunc(func(r Request) Fault {
				seen = append(seen, r)
				if r.Method == http.MethodPost {
					return tc.fault
				}
				return Fault{}
			})
			status, _, err := rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
			if tc.wantStatus == 0 {
				require.Error(t, err, "no answer")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.wantStatus, status)
			}
			assert.Len(t, srv.Tasks(), tc.wantTasks)
			require.Len(t, seen, 1)
			assert.Equal(t, "/task", seen[0].Path)
			assert.JSONEq(t, oneTaskBody, string(seen[0].Body), "decide sees the request")
			assert.Equal(t, tc.fault, srv.Requests()[0].Fault)
		})
	}
}

func TestInjectedFaultsGoBeforeTheFaultFunc(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	asked := 0
	srv.SetFaultFunc(func(Request) Fault { asked++; return Fault{Status: 502} })
	srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusTooManyRequests)

	status, _, err := rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Zero(t, asked, "the queued fault took the request")

	status, _, err = rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, 1, asked)

	srv.SetFaultFunc(nil)
	status, _, err = rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "removed")
}

func TestHistoryLagDelaysTheListingOnly(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clk := &clock{now: start}
	srv := NewTestServer(t, WithClock(clk.Now), WithHistoryLag(2*time.Second))

	status, _, err := rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, listed(t, srv), "not listed yet")
	status, _, err = rawRequest(t, srv, http.MethodGet, "/task/1/summary", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "its summary is there at once")
	status, _, err = rawRequest(t, srv, http.MethodGet, "/task/1", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "and its detail")

	clk.Set(start.Add(1999 * time.Millisecond))
	assert.Empty(t, listed(t, srv), "a millisecond short of the lag")
	clk.Set(start.Add(2 * time.Second))
	assert.Equal(t, []kryptogo.ID{1}, listed(t, srv))

	srv.SetHistoryLag(0)
	_, _, err = rawRequest(t, srv, http.MethodPost, "/task", oneTaskBody)
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{2, 1}, listed(t, srv), "a task created without lag is listed at once")
}

func TestKYAResultsListsEveryScreening(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	for _, addr := range []string{ethAddr, ethAddr, SampleSanctionedAddress} {
		status, _, err := rawRequest(t, srv, http.MethodPost, "/kya", `{"address":"`+addr+`","chain":"eth"}`)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
	}
	got := srv.KYAResults()
	require.Len(t, got, 3)
	for i, res := range got {
		assert.Equal(t, kryptogo.ID(i+1), res.KYAID, "oldest first")
	}
	assert.Equal(t, strings.ToLower(ethAddr), got[0].Address)
}

// Client sets the reconciliation wait above the history lag: a lookup
// after a send in doubt finds a task the history lists late. (The root
// package's tests check the waits themselves, through the SDK's sleep hook.)
func TestClientLooksLongerThanTheHistoryLags(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithHistoryLag(150*time.Millisecond))
	srv.DropNextResponse(http.MethodPost, "/task", 1)
	created, err := srv.Client().Tasks.CreateOnce(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme"), CustomerReference: "c1"}})
	require.NoError(t, err, "found once the history lists it")
	assert.Len(t, srv.Tasks(), 1, "no second task")
	assert.Equal(t, srv.Tasks()[0].TaskID, created[0].TaskID)
}
