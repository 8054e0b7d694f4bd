package kryptogo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTasksHistory(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		assertRequestQuery(t, r, http.MethodGet, "/tasks", "customer_reference=000000123&page_number=1&page_size=10")
		serveFixture(t, "tasks_history.json")(w)
	})
	got, err := client.Tasks.History(t.Context(), &HistoryOptions{PageSize: 10, PageNumber: 1, CustomerReference: "000000123"})
	require.NoError(t, err)
	assertDecoded(t, &TaskPage{
		Data: []TaskSummary{{
			TaskID:            123,
			SearchSetting:     SearchSetting{Mode: SearchModePrecise, TimeRangeYear: -1, Language: "zh-TW", NegativeWords: []string{}, Sites: []string{}, NumberOfPages: 1},
			Target:            KYCTarget("王又曾", "1990-06-21", "TWN"),
			CustomerReference: "000000123",
			Progress:          100,
			TaskOrigin:        OriginAPI,
			CreationTime:      ts(1623859200),
			UpdateTime:        ts(1623867890),
			AuditTime:         ts(1623859200),
			Report:            &TaskReport{PotentialRisk: 10, URL: "https://app.kryptogo.com/compliance/audit/123", Accepted: ptr(false), Comment: "duplicate"},
			Metadata:          MetadataList{},
		}},
		Paging: json.RawMessage(`{"page_number": 1, "page_size": 10, "total": 1}`),
	}, got)
	assertRaw(t, fixture(t, "tasks_history.json"), got)
}

func TestTasksHistoryDefaults(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "page_number=1&page_size=20", r.URL.RawQuery)
		_, _ = w.Write([]byte(`{"data":[],"paging":{}}`))
	})
	got, err := client.Tasks.History(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, got.Data)

	_, err = offlineClient(t).Tasks.History(t.Context(), &HistoryOptions{PageSize: -1, PageNumber: -2})
	assert.Equal(t, []string{"page_size", "page_number"}, fieldsOf(t, err))
}

// pagedHistory serves total tasks, numbered from 1, in pages.
func pagedHistory(t *testing.T, mux *http.ServeMux, total int, requested *[]string) {
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		*requested = append(*requested, r.URL.RawQuery)
		size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
		var data []map[string]any
		for id := (page-1)*size + 1; id <= min(page*size, total); id++ {
			data = append(data, map[string]any{"task_id": id, "progress": 100})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "paging": map[string]any{}})
	})
}

func TestTasksAll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total, size int
		pages       int
	}{{7, 3, 3}, {6, 3, 3}, {0, 3, 1}, {2, 5, 1}} {
		t.Run(fmt.Sprintf("%d items in pages of %d", tc.total, tc.size), func(t *testing.T) {
			client, mux := setup(t)
			var requested []string
			pagedHistory(t, mux, tc.total, &requested)
			var ids []ID
			for task, err := range client.Tasks.All(t.Context(), &HistoryOptions{PageSize: tc.size, CustomerReference: "c1"}) {
				require.NoError(t, err)
				ids = append(ids, task.TaskID)
			}
			assert.Len(t, ids, tc.total, "%+v", tc)
			for i, id := range ids {
				assert.Equal(t, ID(i+1), id)
			}
			assert.Len(t, requested, tc.pages, "%+v: stops after a short or empty page", tc)
			assert.Equal(t, fmt.Sprintf("customer_reference=c1&page_number=1&page_size=%d", tc.size), requested[0])
		})
	}
}

func TestTasksAllBreakStopsFetching(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var requested []string
	pagedHistory(t, mux, 100, &requested)
	n := 0
	for _, err := range client.Tasks.All(t.Context(), &HistoryOptions{PageSize: 10, PageNumber: 3}) {
		require.NoError(t, err)
		if n++; n == 12 {
			break
		}
	}
	assert.Equal(t, []string{"page_number=3&page_size=10", "page_number=4&page_size=10"}, requested)
}

func TestTasksAllYieldsErrorOnce(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page_number") == "2" {
			http.Error(w, `{"message":"boom"}`, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"data":[{"task_id":1},{"task_id":2}]}`))
	})
	var ids []ID
	var errs []error
	for task, err := range client.Tasks.All(t.Context(), &HistoryOptions{PageSize: 2}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, task.TaskID)
	}
	assert.Equal(t, []ID{1, 2}, ids)
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "400 Bad Request: boom")
}

func FuzzHistoryOptions(f *testing.F) {
	f.Add(0, 0, "")
	f.Add(50, 3, "ref&page_size=1")
	f.Add(-1, -1, "%zz\x00")
	f.Fuzz(func(t *testing.T, size, number int, ref string) {
		var got url.Values
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.URL.Query()
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{"data":[]}`)), Request: r}, nil
		})
		client, err := NewClient(testKey, WithHTTPClient(&http.Client{Transport: rt}), WithMaxRetries(0))
		require.NoError(t, err)
		_, err = client.Tasks.History(t.Context(), &HistoryOptions{PageSize: size, PageNumber: number, CustomerReference: ref})
		if errors.Is(err, ErrInvalidRequest) {
			require.Nil(t, got, "an invalid page was fetched")
			return
		}
		require.NotNil(t, got, "%v", err)
		require.Equal(t, ref, got.Get("customer_reference"), "the reference must reach the API as given")
		require.Len(t, got["page_size"], 1, "the reference must not add parameters")
	})
}

// TestTasksAllStopsWhenAPageRepeats: a proxy or fake that ignores
// page_number answers the same full page forever; All ends with an error
// instead of looping.
func TestTasksAllStopsWhenAPageRepeats(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		page    func(n int) string // the body for page_number n
		wantIDs []ID
	}{
		"page_number ignored": {
			page:    func(int) string { return `{"data":[{"task_id":1},{"task_id":2}]}` },
			wantIDs: []ID{1, 2},
		},
		"stuck on the second page": {
			page: func(n int) string {
				if n == 1 {
					return `{"data":[{"task_id":1},{"task_id":2}]}`
				}
				return `{"data":[{"task_id":3},{"task_id":4}]}`
			},
			wantIDs: []ID{1, 2, 3, 4},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
				n, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
				_, _ = w.Write([]byte(tc.page(n)))
			})
			var ids []ID
			var errs []error
			for task, err := range client.Tasks.All(t.Context(), &HistoryOptions{PageSize: 2}) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if ids = append(ids, task.TaskID); len(ids) > 20 {
					break // the old code loops forever
				}
			}
			assert.Equal(t, tc.wantIDs, ids)
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], ErrInvalidResponse)
			assert.ErrorContains(t, errs[0], "page_number")
		})
	}
}
