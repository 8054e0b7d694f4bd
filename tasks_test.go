package kryptogo

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func wantTaskSummary() *TaskSummary {
	return &TaskSummary{
		TaskID: 123,
		SearchSetting: SearchSetting{
			Mode: SearchModePrecise, TimeRangeYear: -1, Language: "zh-TW",
			NegativeWords: []string{"fraud", "money laundering"}, Sites: []string{"news.example.com"}, NumberOfPages: 3,
		},
		Target:            KYCTarget("王又曾", "1990-06-21", "TWN"),
		CustomerReference: "000000123",
		Progress:          100,
		TaskOrigin:        OriginUIBatch,
		CreationTime:      ts(1623859200),
		UpdateTime:        ts(1623867890),
		AuditTime:         ts(1623859200),
		Report: &TaskReport{
			SanctionMatched: true, PotentialRisk: 51, URL: "https://app.kryptogo.com/compliance/audit/123",
			Accepted: ptr(true), Comment: "The negative news are not related to the target",
		},
		Metadata: MetadataList{{"customer_tier", "gold"}, {"region", "APAC"}},
	}
}

func TestTasksSummary(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	handleGET(t, mux, "/task/123/summary", "task_summary.json")
	got, err := client.Tasks.Summary(t.Context(), 123)
	require.NoError(t, err)
	assertDecoded(t, wantTaskSummary(), got)
	assertRaw(t, fixture(t, "task_summary.json"), got)
	assert.True(t, got.Completed())
	assert.Equal(t, RiskMedium, got.Report.Rating())
	assert.Equal(t, "https://app.kryptogo.com/compliance/audit/123", got.ConsoleURL())
}

func TestTaskSummaryQuirks(t *testing.T) {
	t.Parallel()
	var nulls TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary_nulls.json"), &nulls))
	kyb := KYBTarget("KryptoGO Ltd.")
	kyb.Extra = map[string]any{"registration_number": "12345678"}
	assertDecoded(t, &TaskSummary{
		TaskID:        124,
		SearchSetting: SearchSetting{Mode: SearchModeFuzzy, TimeRangeYear: 5, Language: "en", Sites: []string{}, NumberOfPages: 1},
		Target:        kyb,
		Progress:      40,
		TaskOrigin:    TaskOrigin(7),
		CreationTime:  ts(1623859200),
		UpdateTime:    ts(1623867890),
	}, &nulls)
	assert.False(t, nulls.Completed())
	assert.Contains(t, string(nulls.RawJSON()), "brand_new_field")

	var undecided TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary_undecided.json"), &undecided))
	assert.Nil(t, undecided.Report.Accepted, "null accepted means undecided")
	assert.Equal(t, RiskVeryHigh, undecided.Report.Rating())
	assert.True(t, undecided.AuditTime.IsZero())
	assert.Equal(t, MetadataList{{"region", "EU"}, {"score", "7"}}, undecided.Metadata, "metadata as an object")
	assert.Equal(t, "158", undecided.Target.Citizenship)
}

func wantTaskDetail() *TaskDetail {
	return &TaskDetail{
		TaskID: 12345,
		Target: KYCTarget("王又曾", "1990-06-21", "TWN"),
		SearchSetting: SearchSetting{Mode: SearchModePrecise, TimeRangeYear: -1, Language: "zh-TW",
			NegativeWords: []string{"fraud"}, Sites: []string{}, NumberOfPages: 2},
		SearchSource:           SearchSources{0, 1, 2, 3, 4},
		CallbackURL:            "string",
		CustomerReference:      "string",
		Result:                 json.RawMessage(`{"undocumented": {"hits": 3}}`),
		SanctionMatched:        true,
		CompletedSource:        3,
		PotentialRisk:          51,
		AuditStatus:            AuditUndecided,
		AuditorEmployeeID:      321,
		AuditorEmployeeName:    "Auditor Krypto",
		AuditorEmployeeAccount: "auditor@kryptogo.com",
		EmployeeID:             123,
		EmployeeName:           "Eric Hung",
		EmployeeAccount:        "eric@kryptogo.com",
		CreationTime:           ts(1700470381),
		UpdateTime:             ts(1700470389),
		CompletedTime:          ts(1700470389),
		Metadata:               MetadataList{{"customer_tier", "gold"}, {"region", "APAC"}},
		CommentLogs:            json.RawMessage(`[{"comment": "looked at it"}]`),
		AMLSummarization:       "string",
		NextReviewAt:           ts(1716345869),
	}
}

func TestTasksGet(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	handleGET(t, mux, "/task/12345", "task_detail.json")
	got, err := client.Tasks.Get(t.Context(), 12345)
	require.NoError(t, err)
	assertDecoded(t, wantTaskDetail(), got)
	assertRaw(t, fixture(t, "task_detail.json"), got)
	assert.Equal(t, RiskMedium, got.Rating())
	assert.Equal(t, "https://app.kryptogo.com/compliance/audit/12345", got.ConsoleURL())
}

func TestTaskDetailNestedSources(t *testing.T) {
	t.Parallel()
	var got TaskDetail
	require.NoError(t, json.Unmarshal(fixture(t, "task_detail_nested_sources.json"), &got))
	assertDecoded(t, &TaskDetail{
		TaskID:                 12346,
		Target:                 KYBTarget("KryptoGO Ltd."),
		SearchSetting:          SearchSetting{Mode: SearchModeFuzzy, TimeRangeYear: 3, Language: "en", NegativeWords: []string{}, Sites: []string{}, NumberOfPages: 1},
		SearchSource:           SearchSources{0, 4, 2},
		CallbackURL:            "https://example.com/cb",
		Result:                 json.RawMessage(`null`),
		CompletedSource:        5,
		AuditStatus:            AuditRejected,
		Comment:                "rejected",
		AuditTime:              Timestamp{time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)},
		AuditorEmployeeID:      321,
		AuditorEmployeeName:    "Auditor Krypto",
		AuditorEmployeeAccount: "auditor@kryptogo.com",
		EmployeeID:             123,
		EmployeeName:           "Eric Hung",
		EmployeeAccount:        "eric@kryptogo.com",
		CreationTime:           ts(1700470381),
		UpdateTime:             ts(1700470389),
		CompletedTime:          ts(1700470389),
		FromIDVID:              12,
		CommentTime:            ts(1714550400),
		CommentEmployeeID:      321,
		CommentEmployeeName:    "Auditor Krypto",
		CommentEmployeeAccount: "auditor@kryptogo.com",
		Metadata:               MetadataList{},
		CommentLogs:            json.RawMessage(`null`),
	}, &got)
	assert.Equal(t, RiskLow, got.Rating())
}

func TestTasksCreate(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/task")
		assertJSONBody(t, r, string(fixture(t, "task_create_request.json")))
		serveFixture(t, "task_create_response.json")(w)
	})
	reqs := []CreateTaskRequest{
		{
			SearchSettingID:   2,
			Target:            KYCTarget("王又曾", "1990-06-21", "TWN"),
			CallbackURL:       "https://myserver.com/send/callback/here",
			CustomerReference: "000000123",
		},
		{SearchSettingID: 2, Target: KYBTarget("KryptoGO Ltd."), SearchSource: []SearchSource{SourceSanctionList}},
	}
	got, err := client.Tasks.Create(t.Context(), reqs)
	require.NoError(t, err)
	assertDecoded(t, []CreatedTask{{TaskID: 123, Timestamp: ts(1623859200)}, {TaskID: 124, Timestamp: ts(1623859200)}}, got)
	assert.JSONEq(t, `{"task_id": 123, "timestamp": 1623859200}`, string(got[0].RawJSON()))
	assert.Nil(t, reqs[0].SearchSource, "the caller's request is not modified")
}

func TestTasksCreateReceiptCountMismatch(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"task_id": 123, "timestamp": 1623859200}]`))
	})
	got, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{
		{SearchSettingID: 2, Target: KYBTarget("A")}, {SearchSettingID: 2, Target: KYBTarget("B")},
	})
	require.ErrorIs(t, err, ErrInvalidResponse)
	assert.ErrorContains(t, err, "sent 2 tasks, got 1 receipts")
	require.Len(t, got, 1, "the receipts received are returned: those tasks exist")
	assert.Equal(t, ID(123), got[0].TaskID)
}

func TestTasksCreateValidation(t *testing.T) {
	t.Parallel()
	client := offlineClient(t)
	good := CreateTaskRequest{SearchSettingID: 2, Target: KYCTarget("王又曾", "1990-06-21", "TWN")}
	with := func(mut func(*CreateTaskRequest)) []CreateTaskRequest {
		r := good
		mut(&r)
		return []CreateTaskRequest{r}
	}
	for _, tc := range []struct {
		name   string
		reqs   []CreateTaskRequest
		fields []string
	}{
		{"empty batch", nil, []string{"tasks"}},
		{"missing setting", with(func(r *CreateTaskRequest) { r.SearchSettingID = 0 }), []string{"[0].search_setting_id"}},
		{"missing target", with(func(r *CreateTaskRequest) { r.Target = Target{} }), []string{"[0].target.type", "[0].target.name"}},
		{"bad target type", with(func(r *CreateTaskRequest) { r.Target.Type = 3 }), []string{"[0].target.type"}},
		{"blank name", with(func(r *CreateTaskRequest) { r.Target.Name = "  " }), []string{"[0].target.name"}},
		{"bad birthday", with(func(r *CreateTaskRequest) { r.Target.Birthday = "1990-02-30" }), []string{"[0].target.birthday"}},
		{"bad citizenship", with(func(r *CreateTaskRequest) { r.Target.Citizenship = "Taiwan" }), []string{"[0].target.citizenship"}},
		{"lower-case citizenship", with(func(r *CreateTaskRequest) { r.Target.Citizenship = "twn" }), []string{"[0].target.citizenship"}},
		{"unknown source", with(func(r *CreateTaskRequest) { r.SearchSource = []SearchSource{0, 5} }), []string{"[0].search_source[1]"}},
		{"duplicate and unknown source", with(func(r *CreateTaskRequest) { r.SearchSource = []SearchSource{4, 4, -1} }), []string{"[0].search_source[2]"}},
		{"relative callback", with(func(r *CreateTaskRequest) { r.CallbackURL = "/cb" }), []string{"[0].callback_url"}},
		{"ftp callback", with(func(r *CreateTaskRequest) { r.CallbackURL = "ftp://example.com/cb" }), []string{"[0].callback_url"}},
		{"negative idv", with(func(r *CreateTaskRequest) { r.FromIDVID = -1 }), []string{"[0].from_idv_id"}},
		{"extra shadows field", with(func(r *CreateTaskRequest) { r.Target.Extra = map[string]any{"name": "x"} }), []string{"[0].target.name"}},
		{"every error of every task", []CreateTaskRequest{good, {Target: Target{Type: TargetKYC, Birthday: "x"}}},
			[]string{"[1].search_setting_id", "[1].target.name", "[1].target.birthday"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Tasks.Create(t.Context(), tc.reqs)
			assert.Equal(t, tc.fields, fieldsOf(t, err), tc.name)
		})
	}
	for _, good := range [][]CreateTaskRequest{
		with(func(r *CreateTaskRequest) { r.Target.Citizenship = "158" }),
		with(func(r *CreateTaskRequest) { r.Target = KYBTarget("Co.") }),
		with(func(r *CreateTaskRequest) { r.CallbackURL = "http://localhost:8080/cb?customer=42" }),
		with(func(r *CreateTaskRequest) { r.SearchSource = []SearchSource{0, 1, 2, 3, 4} }),
		// The reference forbids no repeats; the API searches a source once.
		with(func(r *CreateTaskRequest) { r.SearchSource = []SearchSource{4, 4} }),
	} {
		_, err := validateCreateTasks(good)
		assert.NoError(t, err)
	}
}

func TestTasksSetAccepted(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task/123/accepted", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/task/123/accepted")
		assertJSONBody(t, r, string(fixture(t, "task_accepted_request.json")))
		serveFixture(t, "task_accepted_response.json")(w)
	})
	got, err := client.Tasks.Accept(t.Context(), 123, "The negative news are not related to the target")
	require.NoError(t, err)
	assertDecoded(t, &SetAcceptedResult{TaskID: 123, Comment: "The negative news are not related to the target", Accepted: true}, got)
	assertRaw(t, fixture(t, "task_accepted_response.json"), got)
}

func TestTasksRejectSendsFalse(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task/7/accepted", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/task/7/accepted")
		assertJSONBody(t, r, `{"comment":"sanctioned","accepted":false}`)
		_, _ = w.Write([]byte(`{"task_id":7,"comment":"sanctioned","accepted":false}`))
	})
	got, err := client.Tasks.Reject(t.Context(), 7, "sanctioned")
	require.NoError(t, err)
	assert.False(t, got.Accepted)
}

func TestTasksSetAcceptedConflict(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc("/task/123/accepted", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"code": 409, "message": "task already accepted"}`))
	})
	_, err := client.Tasks.Reject(t.Context(), 123, "changed my mind")
	require.ErrorIs(t, err, ErrConflict)
	assert.EqualError(t, err, "kryptogo: POST /task/123/accepted: 409 Conflict (code 409): task already accepted")
	assert.Equal(t, int32(1), calls.Load(), "a 409 is not retried")
}

func TestTasksSetAcceptedValidation(t *testing.T) {
	t.Parallel()
	client := offlineClient(t)
	ctx := t.Context()
	_, err := client.Tasks.SetAccepted(ctx, 1, nil)
	assert.Equal(t, []string{"request"}, fieldsOf(t, err))
	_, err = client.Tasks.Accept(ctx, 1, " ")
	assert.Equal(t, []string{"comment"}, fieldsOf(t, err))
	_, err = client.Tasks.Reject(ctx, 0, "")
	assert.Equal(t, []string{"task_id", "comment"}, fieldsOf(t, err))
}

func TestTasksSetMetadata(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task/123/metadata", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPut, "/task/123/metadata")
		assertJSONBody(t, r, string(fixture(t, "task_metadata_request.json")))
		serveFixture(t, "task_metadata_response.json")(w)
	})
	err := client.Tasks.SetMetadata(t.Context(), 123, []Metadata{{"customer_tier", "gold"}, {"region", "APAC"}})
	require.NoError(t, err)
}

func TestTasksSetMetadataNonZeroCode(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task/123/metadata", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"code": 1003, "message": "metadata too long"}`))
	})
	err := client.Tasks.SetMetadata(t.Context(), 123, []Metadata{{"k", "v"}})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &APIError{StatusCode: 200, Code: 1003, Message: "metadata too long", Method: "PUT", Path: "/task/123/metadata",
		Body: []byte(`{"code": 1003, "message": "metadata too long"}`)}, apiErr)
}

func TestTasksSetMetadataValidation(t *testing.T) {
	t.Parallel()
	client := offlineClient(t)
	err := client.Tasks.SetMetadata(t.Context(), 0, nil)
	assert.Equal(t, []string{"task_id", "metadata"}, fieldsOf(t, err))
	err = client.Tasks.SetMetadata(t.Context(), -1, []Metadata{{"a", "1"}})
	assert.Equal(t, []string{"task_id"}, fieldsOf(t, err))
	// The reference requires neither key nor value: an empty key is sent.
	pairs := metadataPairs{{"a", "1"}, {"", "2"}}
	_, err = prepare(&pairs, pathID{"task_id", 1})
	assert.NoError(t, err)
}

func TestTasksWait(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var polls atomic.Int32
	mux.HandleFunc("/task/9/summary", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodGet, "/task/9/summary")
		switch polls.Add(1) {
		case 1:
			_, _ = w.Write([]byte(`{"task_id":9,"progress":10}`))
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable) // transient: waiting goes on
		default:
			_, _ = w.Write([]byte(`{"task_id":9,"progress":100,"report":{"potential_risk":80}}`))
		}
	})
	pauses := recordWaits(client, time.Time{})
	got, err := client.Tasks.Wait(t.Context(), 9, &WaitOptions{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.True(t, got.Completed())
	assert.Equal(t, RiskHigh, got.Report.Rating())
	assert.Len(t, pauses.list(), 2)
}

func TestTasksWaitDeadline(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/task/9/summary", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"task_id":9,"progress":40}`))
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a net only: the deadline comes through the sleep hook
	defer cancel()
	client.sleep = deadlineAfterSleeps(2) // the deadline arrives in the third pause, whatever the machine's speed
	got, err := client.Tasks.Wait(ctx, 9, &WaitOptions{Interval: 100 * time.Millisecond})
	assert.Nil(t, got)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var werr *WaitError
	require.ErrorAs(t, err, &werr)
	require.NotNil(t, werr.LastTask)
	assert.Equal(t, 40, werr.LastTask.Progress)
	assert.Equal(t, 3, werr.Polls)
	assert.Contains(t, err.Error(), "waiting for task 9")
	assert.Contains(t, err.Error(), "last progress 40%")
}

func TestTasksWaitStopsOnPermanentError(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var polls atomic.Int32
	mux.HandleFunc("/task/9/summary", func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		http.Error(w, `{"message":"no such task"}`, http.StatusNotFound)
	})
	_, err := client.Tasks.Wait(t.Context(), 9, nil)
	require.ErrorIs(t, err, ErrNotFound)
	var werr *WaitError
	require.ErrorAs(t, err, &werr)
	assert.Nil(t, werr.LastTask)
	assert.Equal(t, 1, werr.Polls)
	assert.Equal(t, int32(1), polls.Load())
	assert.Contains(t, err.Error(), "no state fetched")

	_, err = client.Tasks.Wait(t.Context(), 0, nil)
	assert.Equal(t, []string{"task_id"}, fieldsOf(t, err))
}

func FuzzCreateTaskRequest(f *testing.F) {
	f.Add(int64(3), 1, "王又曾", "1987-06-05", "TWN", "https://example.com/cb", "ref-1", []byte{0, 4}, "k")
	f.Add(int64(1), 2, "Acme", "", "", "", "", []byte{}, "")
	f.Add(int64(-1), 7, "", "2023-02-30", "XXX", "ftp://x", "", []byte{9, 9}, "name")
	f.Fuzz(func(t *testing.T, setting int64, typ int, name, birthday, citizenship, callback, ref string, sources []byte, extraKey string) {
		req := CreateTaskRequest{SearchSettingID: ID(setting), Target: Target{Type: TargetType(typ), Name: name,
			Birthday: birthday, Citizenship: citizenship}, CallbackURL: callback, CustomerReference: ref}
		for _, s := range sources {
			req.SearchSource = append(req.SearchSource, SearchSource(s))
		}
		if extraKey != "" {
			req.Target.Extra = map[string]any{extraKey: name}
		}
		client, rt := fuzzClient(t)
		_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{req})
		requireValidatedOrSent(t, err, rt)
	})
}

// TestTasksSetMetadataNonZeroCodeIsAnAPIError: a 2xx answer with a
// non-zero code is the same *APIError a 4xx with that body would be: its
// request id kept, its body and message masked.
func TestTasksSetMetadataNonZeroCodeIsAnAPIError(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body      string
		requestID string
	}{
		"message echoes the key": {`{"code": 1003, "message": "bad key ` + testKey + `"}`, "req-77"},
		"code as a string":       {`{"code": "1004", "message": "metadata too long"}`, "req-78"},
		"no request id":          {`{"code": 9, "message": "no"}`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/task/123/metadata", func(w http.ResponseWriter, r *http.Request) {
				if tc.requestID != "" {
					w.Header().Set("X-Request-Id", tc.requestID)
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(tc.body))
			})
			mux.HandleFunc("/as4xx", func(w http.ResponseWriter, r *http.Request) {
				if tc.requestID != "" {
					w.Header().Set("X-Request-Id", tc.requestID)
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tc.body))
			})
			var got, want *APIError
			require.ErrorAs(t, client.Tasks.SetMetadata(t.Context(), 123, []Metadata{{"k", "v"}}), &got)
			require.ErrorAs(t, client.Do(t.Context(), http.MethodPut, "/as4xx", nil, nil), &want)
			want.StatusCode, want.Path = http.StatusOK, "/task/123/metadata"
			assert.Equal(t, want, got)
			assert.Equal(t, tc.requestID, got.RequestID)
			assert.NotZero(t, got.Code)
			assert.NotContains(t, got.Error(), testKey)
			assert.NotContains(t, string(got.Body), testKey)
		})
	}
}
