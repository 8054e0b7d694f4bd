package kryptogo

// Endpoint contract tests: one per endpoint of the API reference. Each
// declares, as a gock mock, the exact request the API expects (method, path,
// query, headers, JSON body field for field), answers with the reference's
// sample, compares the decoded model whole with the expected value, and ends
// with gock.IsDone.
//
// gock keeps its mocks in package state, and gock.New also points
// http.DefaultTransport at gock while mocks are registered: none of these
// tests may call t.Parallel. The SDK's requests do not depend on that swap:
// they go through the client's own *http.Client, intercepted with
// gock.InterceptClient. Transport-level faults (dropped connections, TLS,
// HTTP/2) stay on httptest, where a real socket is needed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/h2non/gock.v1"
)

// gockClient returns a client for the default base URL whose own
// *http.Client gock intercepts. Below gock sits a transport that fails the
// test, so a request gock does not answer never leaves the process.
func gockClient(t *testing.T) *Client {
	t.Helper()
	hc := &http.Client{Transport: noNetwork{t}}
	gock.InterceptClient(hc) // before NewClient: the SDK keeps a copy of hc
	t.Cleanup(func() {
		gock.RestoreClient(hc)
		gock.OffAll() // mocks, unmatched requests, and http.DefaultTransport
	})
	// No retries: a request that breaks the contract fails once, loudly.
	client, err := NewClient(testKey, WithHTTPClient(hc), WithMaxRetries(0))
	require.NoError(t, err)
	return client
}

// expect starts the mock of one API call on the default base URL, with the
// headers every call carries, matched strictly. If the test ends with the
// call not made, it reports how each request it refused differed.
func expect(t *testing.T) *gock.Request {
	matcher, refused := strictly()
	mock := gock.New(DefaultBaseURL).
		SetMatcher(matcher).
		MatchHeader(DefaultAPIKeyHeader, testKey).
		MatchHeader("Accept", "application/json").
		MatchHeader("User-Agent", "kryptogo-go/"+Version+" ("+runtime.Version()+")")
	t.Cleanup(func() { // before gockClient's cleanup flushes the mock
		if !mock.Mock.Done() {
			t.Errorf("the declared %s %s was not sent; requests refused:\n%s", mock.Method, mock.URLStruct.Path, strings.Join(refused(), "\n"))
		}
	})
	return mock
}

// strictly returns a matcher that accepts only the declared request, to the
// letter, and a function listing how the requests it refused differed.
// gock's own matchers read paths, queries and headers as regular expressions
// ("/task" matches "/task/1/summary", extra query parameters pass) and
// compare JSON bodies as top-level objects only (an array never matches).
func strictly() (gock.Matcher, func() []string) {
	var mu sync.Mutex
	var refused []string
	m := gock.NewEmptyMatcher()
	m.Add(func(req *http.Request, want *gock.Request) (bool, error) {
		diffs, err := requestDiffs(req, want)
		if len(diffs) > 0 {
			mu.Lock()
			defer mu.Unlock()
			refused = append(refused, req.Method+" "+req.URL.String()+":\n"+strings.Join(diffs, "\n"))
		}
		return len(diffs) == 0, err
	})
	return m, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return refused
	}
}

// requestDiffs lists how req differs from the declared request.
func requestDiffs(req *http.Request, want *gock.Request) ([]string, error) {
	var diffs []string
	differ := func(what string, want, got any) {
		if d := cmp.Diff(want, got); d != "" {
			diffs = append(diffs, fmt.Sprintf("%s (-want +got):\n%s", what, d))
		}
	}
	differ("method", want.Method, req.Method)
	differ("origin", want.URLStruct.Scheme+"://"+want.URLStruct.Host, req.URL.Scheme+"://"+req.URL.Host)
	differ("path", want.URLStruct.Path, req.URL.Path)
	differ("query", want.URLStruct.Query(), req.URL.Query())
	for name := range want.Header {
		differ("header "+name, want.Header.Values(name), req.Header.Values(name))
	}
	diffs = append(diffs, keyOutsideItsHeader(req.Header)...)
	bodyDiffs, err := bodyDiffs(req, want)
	return append(diffs, bodyDiffs...), err
}

// keyOutsideItsHeader reports any header other than the auth header that
// carries the API key.
func keyOutsideItsHeader(h http.Header) []string {
	var diffs []string
	for name, values := range h {
		if name != http.CanonicalHeaderKey(DefaultAPIKeyHeader) && strings.Contains(strings.Join(values, ","), testKey) {
			diffs = append(diffs, "the API key appears in header "+name)
		}
	}
	return diffs
}

// bodyDiffs compares the body with the declared JSON after decoding both, and
// checks Content-Length. A request declared without a body must have none,
// nor a Content-Type. The body is put back for the next matcher.
func bodyDiffs(req *http.Request, want *gock.Request) ([]string, error) {
	var got []byte
	if req.Body != nil {
		var err error
		if got, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(got))
	}
	var diffs []string
	if req.ContentLength != int64(len(got)) {
		diffs = append(diffs, fmt.Sprintf("Content-Length %d for a body of %d bytes", req.ContentLength, len(got)))
	}
	if len(want.BodyBuffer) == 0 {
		if len(got) > 0 || req.Header.Get("Content-Type") != "" {
			diffs = append(diffs, fmt.Sprintf("want no body, got %d bytes of %q", len(got), req.Header.Get("Content-Type")))
		}
		return diffs, nil
	}
	wantJSON, err := decodeJSON(want.BodyBuffer)
	if err != nil {
		return nil, fmt.Errorf("the declared body: %w", err)
	}
	gotJSON, err := decodeJSON(got)
	if err != nil {
		return append(diffs, "the body is not JSON: "+err.Error()), nil
	}
	if d := cmp.Diff(wantJSON, gotJSON); d != "" {
		diffs = append(diffs, "JSON body (-want +got):\n"+d)
	}
	return diffs, nil
}

// decodeJSON decodes one JSON value, keeping numbers as written so that 1 and
// 1.0 (or a number and a numeric string) stay different.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// requireDone fails the test unless every declared call was made.
func requireDone(t *testing.T) {
	t.Helper()
	require.True(t, gock.IsDone(), "calls declared but not made: %d", len(gock.Pending()))
}

func TestContractKYACreate(t *testing.T) {
	client := gockClient(t)
	expect(t).Post("/kya").JSON(fixture(t, "kya_create_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "kya_result.json"))

	got, err := client.KYA.Create(t.Context(), &CreateKYARequest{Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A", Chain: ChainETH})
	require.NoError(t, err)
	assertDecoded(t, wantKYAResult(), got)
	assertRaw(t, fixture(t, "kya_result.json"), got)
	requireDone(t)
}

// The GET endpoints that fetch one record by id: each sends no body and
// decodes the reference's sample.
func TestContractGetByID(t *testing.T) {
	for _, tc := range []struct {
		name, path, reply string
		call              func(context.Context, *Client) (any, error)
		want              any
	}{
		{"KYA get", "/kya/detail/12", "kya_result.json", func(ctx context.Context, c *Client) (any, error) { return c.KYA.Get(ctx, 12) }, wantKYAResult()},
		{"task summary", "/task/123/summary", "task_summary.json", func(ctx context.Context, c *Client) (any, error) { return c.Tasks.Summary(ctx, 123) }, wantTaskSummary()},
		{"task detail", "/task/12345", "task_detail.json", func(ctx context.Context, c *Client) (any, error) { return c.Tasks.Get(ctx, 12345) }, wantTaskDetail()},
		{"IDV get", "/idv/12", "idv_task.json", func(ctx context.Context, c *Client) (any, error) { return c.IDV.Get(ctx, 12) }, wantIDVTask()},
	} {
		t.Run(tc.name, func(t *testing.T) { // not parallel: gock's mocks are global
			client := gockClient(t)
			expect(t).Get(tc.path).
				Reply(http.StatusOK).JSON(fixture(t, tc.reply))

			got, err := tc.call(t.Context(), client)
			require.NoError(t, err)
			assertDecoded(t, tc.want, got)
			requireDone(t)
		})
	}
}

func TestContractTaskCreate(t *testing.T) {
	client := gockClient(t)
	expect(t).Post("/task").JSON(fixture(t, "task_create_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "task_create_response.json"))

	got, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{
		{
			SearchSettingID:   2,
			Target:            KYCTarget("王又曾", "1990-06-21", "TWN"),
			CallbackURL:       "https://myserver.com/send/callback/here",
			CustomerReference: "000000123",
		},
		{SearchSettingID: 2, Target: KYBTarget("KryptoGO Ltd."), SearchSource: []SearchSource{SourceSanctionList}},
	})
	require.NoError(t, err)
	assertDecoded(t, []CreatedTask{{TaskID: 123, Timestamp: ts(1623859200)}, {TaskID: 124, Timestamp: ts(1623859200)}}, got)
	requireDone(t)
}

func TestContractTaskSetAccepted(t *testing.T) {
	client := gockClient(t)
	expect(t).Post("/task/123/accepted").JSON(fixture(t, "task_accepted_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "task_accepted_response.json"))

	got, err := client.Tasks.SetAccepted(t.Context(), 123, &SetAcceptedRequest{Comment: "The negative news are not related to the target", Accepted: true})
	require.NoError(t, err)
	assertDecoded(t, &SetAcceptedResult{TaskID: 123, Comment: "The negative news are not related to the target", Accepted: true}, got)
	requireDone(t)
}

func TestContractTaskSetMetadata(t *testing.T) {
	client := gockClient(t)
	expect(t).Put("/task/123/metadata").JSON(fixture(t, "task_metadata_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "task_metadata_response.json"))

	err := client.Tasks.SetMetadata(t.Context(), 123, []Metadata{{"customer_tier", "gold"}, {"region", "APAC"}})
	require.NoError(t, err)
	requireDone(t)
}

func TestContractTaskHistory(t *testing.T) {
	client := gockClient(t)
	expect(t).Get("/tasks").
		MatchParams(map[string]string{"customer_reference": "000000123", "page_number": "1", "page_size": "10"}).
		Reply(http.StatusOK).JSON(fixture(t, "tasks_history.json"))

	got, err := client.Tasks.History(t.Context(), &HistoryOptions{PageSize: 10, PageNumber: 1, CustomerReference: "000000123"})
	require.NoError(t, err)
	summary := wantTaskSummary()
	summary.SearchSetting = SearchSetting{Mode: SearchModePrecise, TimeRangeYear: -1, Language: "zh-TW", NegativeWords: []string{}, Sites: []string{}, NumberOfPages: 1}
	summary.TaskOrigin = OriginAPI
	summary.Report = &TaskReport{PotentialRisk: 10, URL: "https://app.kryptogo.com/compliance/audit/123", Accepted: ptr(false), Comment: "duplicate"}
	summary.Metadata = MetadataList{}
	assertDecoded(t, &TaskPage{
		Data:   []TaskSummary{*summary},
		Paging: json.RawMessage(`{"page_number": 1, "page_size": 10, "total": 1}`),
	}, got)
	requireDone(t)
}

func TestContractIDVCreate(t *testing.T) {
	client := gockClient(t)
	img := testJPEG(t, 640, 400)
	var body map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "idv_create_request.json"), &body))
	for _, field := range []string{"id_image", "id_back_image", "face_image", "id_and_face_image"} {
		body[field] = b64(img) // the reference's sample has placeholders
	}
	expect(t).Post("/idv").JSON(body).
		Reply(http.StatusOK).JSON(fixture(t, "idv_create_response.json"))

	got, err := client.IDV.Create(t.Context(), &CreateIDVRequest{
		Country: "TWN", IDType: IDTypeIDCard,
		IDImage: ImageFromBytes(img), IDBackImage: ImageFromBytes(img), FaceImage: ImageFromBytes(img), IDAndFaceImage: ImageFromBytes(img),
		ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		ExpectedIssuingDate: "2020-03-10", ExpectedExpiryDate: "2025-03-10", ExpectedGender: GenderMale,
		CustomerReference: "000000123", AutoCreateDDTask: true,
		DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
	})
	require.NoError(t, err)
	assertDecoded(t, &CreatedIDV{IDVTaskID: 12, Timestamp: ts(1623859200)}, got)
	requireDone(t)
}

func TestContractIDVInitWeb(t *testing.T) {
	client := gockClient(t)
	expect(t).Post("/idv/init").JSON(fixture(t, "idv_init_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "idv_init_response.json"))

	got, err := client.IDV.InitWeb(t.Context(), &InitWebIDVRequest{
		IDType: IDTypeIDCard, WorkflowID: WorkflowIDAndIdentity, Country: "TWN", CustomerReference: "000000123",
		Locale: "zh-HK", ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		AutoCreateDDTask: true, DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
		TWIDApplyCode: ptr(2), TWIDApplyDate: "1070102", TWIDIssueSiteID: "10011",
	})
	require.NoError(t, err)
	assertDecoded(t, &WebIDVSession{
		IDVTaskID: 13, URL: "https://kryptogo.netverify.com/web/v4/app?locale=zh-HK&authorizationToken=xyz",
		Timestamp: ts(1641807000), // "2022-01-10T09:30:00Z"
	}, got)
	requireDone(t)
}

func TestContractIDVInitMobile(t *testing.T) {
	client := gockClient(t)
	expect(t).Post("/idv/account").JSON(fixture(t, "idv_account_request.json")).
		Reply(http.StatusOK).JSON(fixture(t, "idv_account_response.json"))

	got, err := client.IDV.InitMobile(t.Context(), &InitMobileIDVRequest{
		Country: "TWN", ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		CustomerReference: "000000123", AutoCreateDDTask: true,
		DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
		TWIDApplyCode: ptr(2), TWIDApplyDate: "1070102", TWIDIssueSiteID: "10011",
	})
	require.NoError(t, err)
	assertDecoded(t, &MobileIDVSession{IDVTaskID: 15, SDKToken: "eyJhbGciOiJIUzUxMiI...umLYOxUj4u6wXYpcodRl2qtt0oOew63L7Hwg", Timestamp: ts(1641807000)}, got)
	requireDone(t)
}

// The gock setup of these tests leaves nothing behind, and clients gock was
// not handed (httptest's) are never intercepted. http.DefaultTransport is
// intercepted while mocks are registered: that is why no contract test may
// run in parallel with another test.
func TestContractSetupLeavesOtherClientsAlone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"kya_id": 7}`)
	}))
	defer srv.Close()
	t.Run("while mocks are registered", func(t *testing.T) {
		client := gockClient(t)
		expect(t).Get("/kya/detail/12").Reply(http.StatusOK).JSON(fixture(t, "kya_result.json"))

		resp, err := srv.Client().Get(srv.URL)
		require.NoError(t, err, "httptest's own client reaches its server")
		require.NoError(t, resp.Body.Close())
		_, err = http.Get(srv.URL)
		require.ErrorIs(t, err, gock.ErrCannotMatch, "gock.New intercepts http.DefaultTransport")

		_, err = client.KYA.Get(t.Context(), 12)
		require.NoError(t, err)
		requireDone(t)
	})
	assert.False(t, gock.Intercepting(), "http.DefaultTransport is net/http's again")
	assert.Empty(t, gock.GetAll(), "no mock is left")
	assert.Empty(t, gock.GetUnmatchedRequests())

	client, err := NewClient(testKey, WithBaseURL(srv.URL))
	require.NoError(t, err)
	got, err := client.KYA.Get(t.Context(), 7)
	require.NoError(t, err)
	assert.Equal(t, ID(7), got.KYAID)
}
