package kryptogotest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// postTaskRaw posts one KYB task with a raw http.Client, so the test sees
// exactly what the fake does to the connection, with no SDK retry between.
func postTaskRaw(t *testing.T, srv *Server) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, srv.URL+"/task",
		strings.NewReader(`[{"search_setting_id":1,"target":{"type":2,"name":"Acme"},"search_source":[]}]`))
	require.NoError(t, err)
	req.Header.Set(kryptogo.DefaultAPIKeyHeader, srv.APIKey)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

func storedTasks(t *testing.T, srv *Server) int {
	page, err := srv.Client().Tasks.History(ctx(t), &kryptogo.HistoryOptions{PageSize: 100})
	require.NoError(t, err)
	return len(page.Data)
}

func TestDropNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		drop      func(srv *Server)
		wantTasks int
	}{
		{"request: the task is not created", func(srv *Server) { srv.DropNextRequest("POST", "/task", 1) }, 0},
		{"response: the task is created", func(srv *Server) { srv.DropNextResponse("POST", "/task", 1) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewTestServer(t)
			tc.drop(srv)

			_, err := postTaskRaw(t, srv)
			require.Error(t, err, "the connection closes without an answer")
			assert.Equal(t, tc.wantTasks, storedTasks(t, srv))
			require.Len(t, srv.Requests(), 2, "the dropped request is logged")
			assert.Equal(t, "/task", srv.Requests()[0].Path)

			resp, err := postTaskRaw(t, srv)
			require.NoError(t, err, "the knob drops only n requests")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

func TestDropNextMatchesMethodAndPath(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	srv.DropNextRequest("GET", "/task", 1)  // another method: POST /task passes
	srv.DropNextResponse("POST", "/kya", 1) // another path
	resp, err := postTaskRaw(t, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, storedTasks(t, srv))
}

// The SDK sees a dropped answer to a POST as maybe sent: the point of the knob.
func TestDropNextResponseIsMaybeSentToTheSDK(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	srv.DropNextResponse("POST", "/task", 1)
	_, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme")}})
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	assert.Equal(t, 1, storedTasks(t, srv))
}
