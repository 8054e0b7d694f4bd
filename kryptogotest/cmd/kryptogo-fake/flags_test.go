package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// fakeFrom starts the fake the command would start with args, on a free
// port, and closes it when the test ends.
func fakeFrom(t *testing.T, args ...string) *kryptogotest.Server {
	t.Helper()
	s, err := parse(io.Discard, append([]string{"-addr", "127.0.0.1:0"}, args...))
	require.NoError(t, err)
	srv, err := s.serve()
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// call sends a request with plain net/http and returns the status, the
// Retry-After header and the body.
func call(t *testing.T, base, key, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(kryptogo.DefaultAPIKeyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func TestNoFlagAddsNoOption(t *testing.T) {
	t.Parallel()
	s, err := parse(io.Discard, []string{"-addr", "127.0.0.1:0"})
	require.NoError(t, err)
	assert.Empty(t, s.options, "the defaults are the package's own (its one constructor)")
	assert.Empty(t, s.risks)
	s, err = parse(io.Discard, []string{"-complete", "now", "-delay", "1s"})
	require.NoError(t, err)
	assert.Empty(t, s.options, "now is the default; -delay alone changes nothing")
}

func TestFlagKeySanctionedAndRisk(t *testing.T) {
	t.Parallel()
	const btc = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	srv := fakeFrom(t, "-key", "k9", "-sanctioned", btc, "-risk", "Jane Roe=51", "-risk", "Bad Co=90,sanctioned")
	assert.Equal(t, "k9", srv.APIKey)
	client := srv.Client()
	for _, address := range []string{btc, kryptogotest.SampleSanctionedAddress} {
		res, err := client.KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: address})
		require.NoError(t, err)
		assert.Equal(t, 1, res.SDNCount(), "%s: the flag adds to the sample", address)
	}
	created, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 1, Target: kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN")},
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Bad Co")},
	})
	require.NoError(t, err)
	jane, err := client.Tasks.Summary(ctx(t), created[0].TaskID)
	require.NoError(t, err)
	assert.Equal(t, kryptogo.TaskReport{PotentialRisk: 51, URL: jane.ConsoleURL()}, *jane.Report)
	bad, err := client.Tasks.Summary(ctx(t), created[1].TaskID)
	require.NoError(t, err)
	assert.True(t, bad.Report.SanctionMatched)
	assert.Equal(t, 90, bad.Report.PotentialRisk)
}

func TestFlagCompleteAndIDVOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		progress int
		idv      kryptogo.IDVState
	}{
		{nil, 100, kryptogo.IDVAccept},
		{[]string{"-complete", "manual"}, 0, kryptogo.IDVPending},
		{[]string{"-complete", "delay", "-delay", "1h"}, 0, kryptogo.IDVPending},
		{[]string{"-idv-outcome", "review"}, 100, kryptogo.IDVReview},
		{[]string{"-idv-outcome", "reject"}, 100, kryptogo.IDVReject},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			client := fakeFrom(t, tc.args...).Client()
			created, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme")}})
			require.NoError(t, err)
			sum, err := client.Tasks.Summary(ctx(t), created[0].TaskID)
			require.NoError(t, err)
			assert.Equal(t, tc.progress, sum.Progress)
			session, err := client.IDV.InitMobile(ctx(t), &kryptogo.InitMobileIDVRequest{Country: "TWN"})
			require.NoError(t, err)
			task, err := client.IDV.Get(ctx(t), session.IDVTaskID)
			require.NoError(t, err)
			assert.Equal(t, tc.idv, task.State)
		})
	}
}

func TestFlagRateLimit(t *testing.T) {
	t.Parallel()
	srv := fakeFrom(t, "-rate-limit", "2/1h")
	const path = "/tasks?page_size=1&page_number=1"
	for _, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		status, retryAfter, _ := call(t, srv.URL, srv.APIKey, http.MethodGet, path, "")
		assert.Equal(t, want, status)
		if want == http.StatusTooManyRequests {
			assert.Equal(t, "3600", retryAfter)
		}
	}
}

func TestFlagLatency(t *testing.T) {
	t.Parallel()
	srv := fakeFrom(t, "-latency", "2s")
	_, err := srv.Client(kryptogo.WithTimeout(50*time.Millisecond), kryptogo.WithMaxRetries(0)).KYA.Get(ctx(t), 1)
	assert.ErrorContains(t, err, "attempt timed out", "every answer waits 2 s")
}

func TestFlagHistoryLag(t *testing.T) {
	t.Parallel()
	srv := fakeFrom(t, "-history-lag", "1h")
	status, _, _ := call(t, srv.URL, srv.APIKey, http.MethodPost, "/task", `[{"search_setting_id":1,"target":{"type":2,"name":"Acme"},"search_source":[]}]`)
	require.Equal(t, http.StatusOK, status)
	status, _, body := call(t, srv.URL, srv.APIKey, http.MethodGet, "/tasks?page_size=10&page_number=1", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"data":[]`, "the task is listed only an hour after its creation")
}

func TestFlagRFC3339Init(t *testing.T) {
	t.Parallel()
	const body = `{"country":"TWN","id_type":"PASSPORT","workflow_id":100,"customer_reference":"c"}`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`},
		{[]string{"-rfc3339-init=true"}, `"timestamp":"\d{4}-`},
		{[]string{"-rfc3339-init=false"}, `"timestamp":\d{10}[,}]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := fakeFrom(t, tc.args...)
			status, _, answer := call(t, srv.URL, srv.APIKey, http.MethodPost, "/idv/init", body)
			require.Equal(t, http.StatusOK, status, answer)
			assert.Regexp(t, tc.want, answer)
		})
	}
}

func TestFlagCallbackRetries(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(receiver.Close)
	srv := fakeFrom(t, "-callback-retries", "2", "-callback-backoff", "1ms")
	_, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A"), CallbackURL: receiver.URL}})
	require.NoError(t, err)
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	d := srv.Callbacks()
	require.Len(t, d, 1)
	assert.Equal(t, 2, d[0].Attempts)
	assert.Equal(t, int32(2), hits.Load())
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-rate-limit", "10"}, {"-rate-limit", "0/1s"}, {"-rate-limit", "10/soon"},
		{"-idv-outcome", "maybe"}, {"-risk", "Jane Roe"}, {"-risk", "=5"}, {"-risk", "A=101"},
		{"-complete", "later"}, {"extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := parse(io.Discard, args)
			assert.Error(t, err)
		})
	}
}

// normalized replaces in an answer what differs between two fakes given
// the same requests: their addresses, session tokens and clocks.
func normalized(base, answer string) string {
	answer = strings.ReplaceAll(answer, base, "<fake>")
	tokens := regexp.MustCompile(`(/idv/web/|sdk-token-)[0-9a-f]{32}`)
	answer = tokens.ReplaceAllString(answer, "$1<token>")
	rfc3339 := regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`)
	answer = rfc3339.ReplaceAllString(answer, `"<time>"`)
	unix := regexp.MustCompile(`(time|timestamp|_at)":\d{10}\b`)
	return unix.ReplaceAllString(answer, `$1":<time>`)
}

// The command with no flag and NewServer() answer the same requests alike:
// the quickstart's requests, and a refusal, in order.
func TestCommandAnswersAsNewServer(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	runCtx, cancel := context.WithCancel(t.Context())
	addr := freeAddr(t)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, &out, []string{"-addr", addr}) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "KRYPTOGO_API_KEY=") }, 10*time.Second, 10*time.Millisecond)
	command := "http://" + addr
	inProcess := kryptogotest.NewTestServer(t)

	for _, step := range []struct{ method, path, body string }{
		{"POST", "/kya", `{"address":"0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"}`},
		{"GET", "/kya/detail/1", ""},
		{"POST", "/task", `[{"search_setting_id":1,"search_source":[],"customer_reference":"customer-42",` +
			`"target":{"type":1,"name":"Jane Roe","birthday":"1985-01-31","citizenship":"TWN"}}]`},
		{"GET", "/task/1/summary", ""},
		{"POST", "/task/1/accepted", `{"comment":"negative news unrelated to the customer","accepted":true}`},
		{"PUT", "/task/1/metadata", `[{"key":"tier","value":"gold"}]`},
		{"GET", "/task/1", ""},
		{"GET", "/tasks?page_size=10&page_number=1&customer_reference=customer-42", ""},
		{"POST", "/idv/init", `{"id_type":"ID_CARD","workflow_id":200,"country":"TWN","customer_reference":"customer-42","locale":"en"}`},
		{"POST", "/idv/account", `{"workflow_id":3,"country":"TWN","auto_create_dd_task":true,"dd_task_search_setting_id":1}`},
		{"GET", "/idv/1", ""},
		{"GET", "/idv/2", ""},
		{"POST", "/task", `[{"search_setting_id":"1","search_source":[],"target":{"type":2,"name":"A"}}]`},
		{"GET", "/task/99", ""},
	} {
		cStatus, _, cAnswer := call(t, command, kryptogotest.DefaultAPIKey, step.method, step.path, step.body)
		iStatus, _, iAnswer := call(t, inProcess.URL, inProcess.APIKey, step.method, step.path, step.body)
		assert.Equal(t, iStatus, cStatus, "%s %s", step.method, step.path)
		assert.Equal(t, normalized(inProcess.URL, iAnswer), normalized(command, cAnswer), "%s %s", step.method, step.path)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	return addr
}
