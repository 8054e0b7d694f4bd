package kryptogotest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// The tests of this file hold the fake to the API reference
// (/work/shared/seeds: "Allow custom metadata of a key-value pair object
// array to append", the detail's sample, the required fields).

var fixedNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// rawGet answers the JSON of a GET through the SDK, as a map of fields.
func rawGet(t *testing.T, srv *Server, path string) map[string]json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, srv.Client().Do(ctx(t), http.MethodGet, path, nil, &fields))
	return fields
}

func createTask(t *testing.T, srv *Server) kryptogo.ID {
	t.Helper()
	created, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A")}})
	require.NoError(t, err)
	return created[0].TaskID
}

func TestMetadataIsAppended(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client()
	id := createTask(t, srv)
	require.NoError(t, client.Tasks.SetMetadata(ctx(t), id, []kryptogo.Metadata{{Key: "tier", Value: "gold"}, {Key: "region", Value: "APAC"}}))
	require.NoError(t, client.Tasks.SetMetadata(ctx(t), id, []kryptogo.Metadata{{Key: "tier", Value: "platinum"}}))

	sum, err := client.Tasks.Summary(ctx(t), id)
	require.NoError(t, err)
	want := kryptogo.MetadataList{{Key: "tier", Value: "gold"}, {Key: "region", Value: "APAC"}, {Key: "tier", Value: "platinum"}}
	assert.Empty(t, cmp.Diff(want, sum.Metadata), "a second value of a key is appended, not put in place of the first")
	first, ok := sum.Metadata.Get("tier")
	assert.True(t, ok)
	assert.Equal(t, "gold", first, "Get returns the first pair of the key")

	detail, err := client.Tasks.Get(ctx(t), id)
	require.NoError(t, err)
	assert.Contains(t, string(detail.RawJSON()), `"metadata":{"region":"APAC","tier":"platinum"}`,
		"the detail's object holds one value a key: the latest")

	err = client.Tasks.SetMetadata(ctx(t), 42, []kryptogo.Metadata{{Key: "a", Value: "b"}})
	assert.ErrorIs(t, err, kryptogo.ErrNotFound)
}

func TestDetailCommentFieldsAsTheReferenceShowsThem(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithClock(fixedClock))
	id := createTask(t, srv)
	path := "/task/" + id.String()

	before := rawGet(t, srv, path)
	for _, field := range []string{"comment_time", "comment_employee_id", "comment_employee_name", "comment_employee_account"} {
		assert.Equal(t, "null", string(before[field]), "%s before any comment, as in the reference's sample", field)
	}
	assert.JSONEq(t, `[]`, string(before["comment_logs"]))

	_, err := srv.Client().Tasks.Reject(ctx(t), id, "name matches a sanctioned person")
	require.NoError(t, err)
	after := rawGet(t, srv, path)
	stamp := strconv.FormatInt(fixedNow.Unix(), 10)
	assert.Equal(t, stamp, string(after["comment_time"]))
	assert.Equal(t, "1", string(after["comment_employee_id"]))
	assert.Equal(t, `"kryptogotest"`, string(after["comment_employee_name"]))
	assert.JSONEq(t, `[{"comment":"name matches a sanctioned person","accepted":false,"comment_time":`+stamp+`,"kryptogotest_invented":true}]`,
		string(after["comment_logs"]))

	stored, ok := srv.Task(id)
	require.True(t, ok)
	assert.JSONEq(t, string(after["comment_logs"]), string(stored.CommentLogs), "Task shows the logs too")
}

func TestKYACustomerReferenceIsNull(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	res, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	assert.Contains(t, string(res.RawJSON()), `"customer_reference":null`, "POST /kya")
	got := rawGet(t, srv, "/kya/detail/"+res.KYAID.String())
	assert.Equal(t, "null", string(got["customer_reference"]), "GET /kya/detail/{id}")
}

// postAnswers POSTs body to path and checks that it succeeds when ok, and
// fails with the message otherwise.
func postAnswers(t *testing.T, srv *Server, path, body string, ok bool, message string) {
	t.Helper()
	err := srv.Client(kryptogo.WithMaxRetries(0)).Do(ctx(t), http.MethodPost, path, json.RawMessage(body), nil)
	if ok {
		require.NoError(t, err)
		return
	}
	var apiErr *kryptogo.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, message, apiErr.Message)
}

func TestSearchSourceIsRequired(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	const task = `"search_setting_id":1,"target":{"type":2,"name":"Acme"}`
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"absent", `[{` + task + `}]`, false},
		{"null", `[{` + task + `,"search_source":null}]`, false},
		{"unknown source", `[{` + task + `,"search_source":[0,5]}]`, false},
		{"empty: all five", `[{` + task + `,"search_source":[]}]`, true},
		{"some", `[{` + task + `,"search_source":[1,4]}]`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			postAnswers(t, srv, "/task", tc.body, tc.ok, "invalid request: [0].search_source")
		})
	}
	id := createTask(t, srv) // the SDK sends all five when none are asked for
	stored, ok := srv.Task(id)
	require.True(t, ok)
	assert.Equal(t, kryptogo.SearchSources(kryptogo.AllSearchSources), stored.SearchSource)
}

func TestWebSessionWorkflowsAreTheReferencesList(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	for _, tc := range []struct {
		workflow int
		ok       bool
	}{
		{100, true}, {101, true}, {102, true}, {200, true}, {201, true}, {202, true},
		{3, false}, {99, false}, {103, false}, {199, false}, {203, false}, {300, false},
	} {
		t.Run(strconv.Itoa(tc.workflow), func(t *testing.T) {
			body := `{"country":"TWN","id_type":"PASSPORT","customer_reference":"c1","workflow_id":` + strconv.Itoa(tc.workflow) + `}`
			postAnswers(t, srv, "/idv/init", body, tc.ok, "invalid request: workflow_id")
		})
	}
}

// get sends a GET with the given key, reads the answer and returns it.
func get(t *testing.T, url, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set(kryptogo.DefaultAPIKeyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp
}

func TestEveryAnswerCarriesARequestID(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	_, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, tc := range []struct {
		name, path, key string
		status          int
	}{
		{"ok", "/kya/detail/1", srv.APIKey, http.StatusOK},
		{"unauthorized", "/kya/detail/1", "wrong", http.StatusUnauthorized},
		{"not found", "/kya/detail/9", srv.APIKey, http.StatusNotFound},
		{"no such endpoint", "/nowhere", srv.APIKey, http.StatusNotFound},
		{"web session link", "/idv/web/unknown", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, srv.URL+tc.path, tc.key)
			assert.Equal(t, tc.status, resp.StatusCode, tc.name)
			id := resp.Header.Get(RequestIDHeader)
			assert.NotEmpty(t, id, tc.name)
			assert.False(t, seen[id], "%s: request ids are unique", tc.name)
			seen[id] = true
		})
	}
}

func TestInjectedFailuresLookLikeTheAPIs(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	for _, tc := range []struct {
		status     int
		retryAfter string
	}{
		{http.StatusTooManyRequests, "0"},
		{http.StatusServiceUnavailable, "0"},
		{http.StatusInternalServerError, ""},
		{http.StatusBadGateway, ""},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			path := "/kya/detail/" + strconv.Itoa(tc.status)
			srv.FailNextOnRequest(http.MethodGet, path, 1, tc.status)
			resp := get(t, srv.URL+path, srv.APIKey)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"))
			assert.Regexp(t, `^kryptogotest-\d+$`, resp.Header.Get(RequestIDHeader))

			srv.FailNextOnRequest(http.MethodGet, path, 1, tc.status)
			var apiErr *kryptogo.APIError
			err := srv.Client(kryptogo.WithMaxRetries(0)).Do(ctx(t), http.MethodGet, path, nil, nil)
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.Code)
			assert.Equal(t, "injected failure", apiErr.Message)
			assert.Regexp(t, `^kryptogotest-\d+$`, apiErr.RequestID, "the SDK reads the fake's request id")
		})
	}
}
