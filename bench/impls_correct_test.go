package bench

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/bench/oapigen"
	"github.com/kyabc/kryptogo-go/bench/ogengen"
)

// The benchmarks compare like with like only if every implementation
// decodes the same values from the same body: these tests check it.

// taskFacts are the values of a task detail every implementation must
// decode alike.
type taskFacts struct {
	TaskID      int64
	TargetName  string
	CustomerRef string
	Sources     []int // flattened
	AuditTime   int64 // unix seconds
	AuditorID   int64
	Metadata    int // pairs
	ResultHits  int // entries of result.hits; -1 when there is no such array
}

func TestTaskGetDecodesAlike(t *testing.T) {
	srv := newLoopback(t)
	want := map[string]taskFacts{
		smallTaskID: {TaskID: 12345, TargetName: "王又曾", CustomerRef: "string", Sources: []int{0, 1, 2, 3, 4},
			AuditorID: 321, Metadata: 2, ResultHits: -1},
		bigTaskID: {TaskID: 12345, TargetName: "王又曾", CustomerRef: "string", Sources: []int{0, 1, 2, 3, 4},
			AuditorID: 321, Metadata: 2, ResultHits: bigHits(t, srv)},
		nestedTaskID: {TaskID: 12346, TargetName: "KryptoGO Ltd.", Sources: []int{0, 4, 2},
			AuditTime: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC).Unix(), AuditorID: 321, Metadata: 0, ResultHits: -1},
	}
	require.Greater(t, want[bigTaskID].ResultHits, 1000)
	for _, name := range implNames[:4] {
		t.Run(name, func(t *testing.T) {
			im := newImpl(t, name, srv)
			for _, body := range taskBodies {
				got, err := im.getTask(t.Context(), body.id)
				require.NoError(t, err, body.name)
				if diff := cmp.Diff(want[body.id], factsOf(t, got)); diff != "" {
					t.Errorf("%s: facts differ (-want +got):\n%s", body.name, diff)
				}
			}
		})
	}
}

func TestLimitReadsWholeBodies(t *testing.T) {
	srv := newLoopback(t)
	im := newImpl(t, implLimit, srv)
	for _, body := range taskBodies {
		n, err := im.getTask(t.Context(), body.id)
		require.NoError(t, err)
		assert.Equal(t, int64(len(srv.body("/task/"+body.id))), n, body.name)
	}
	n, err := im.createTasks(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(len(srv.body("/task"))), n)
}

func TestBigTaskDetailIsAboutOneMegabyte(t *testing.T) {
	big := bigTaskDetail(t)
	assert.True(t, json.Valid(big))
	assert.InDelta(t, 1<<20, len(big), 1<<14)
	assert.Equal(t, big, bigTaskDetail(t), "built the same way every time")
}

func TestTaskCreateAndKYAGetDecodeAlike(t *testing.T) {
	srv := newLoopback(t)
	for _, name := range implNames[:4] {
		t.Run(name, func(t *testing.T) {
			im := newImpl(t, name, srv)
			created, err := im.createTasks(t.Context())
			require.NoError(t, err)
			assert.Equal(t, []int64{123, 124}, createdIDs(t, created))
			kya, err := im.getKYA(t.Context(), kyaID)
			require.NoError(t, err)
			assert.Equal(t, int64(12), kyaIDOf(t, kya))
		})
	}
}

func TestEveryImplSendsTheSameTasks(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got any
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		bodies = append(bodies, string(mustJSON(got)))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"task_id": 1, "timestamp": 2}, {"task_id": 3, "timestamp": 4}]`))
	}))
	t.Cleanup(srv.Close)
	l := &loopback{Server: srv}
	for _, name := range implNames {
		_, err := newImpl(t, name, l).createTasks(t.Context())
		require.NoError(t, err, name)
	}
	require.Len(t, bodies, len(implNames))
	for i := range bodies[1:] {
		assert.JSONEq(t, bodies[0], bodies[i+1], implNames[i+1])
	}
}

func bigHits(t *testing.T, srv *loopback) int {
	var detail struct {
		Result json.RawMessage `json:"result"`
	}
	require.NoError(t, json.Unmarshal(srv.body("/task/"+bigTaskID), &detail))
	return hitsOf(t, detail.Result)
}

// hitsOf counts the entries of result.hits; -1 when there is no such array.
func hitsOf(t *testing.T, raw []byte) int {
	var result struct {
		Hits []json.RawMessage `json:"hits"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &result) != nil || result.Hits == nil {
		return -1
	}
	return len(result.Hits)
}

// unixOf reads a timestamp sent as a number (n) or a string (s).
func unixOf(t *testing.T, n int64, s string) int64 {
	if s == "" {
		return n
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v
	}
	ts, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return ts.Unix()
}

func idOf(t *testing.T, n int64, s string) int64 {
	if s == "" {
		return n
	}
	v, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return v
}

func factsOf(t *testing.T, v any) taskFacts {
	t.Helper()
	switch d := v.(type) {
	case *handTaskDetail:
		return taskFacts{TaskID: d.TaskID, TargetName: d.Target.Name, CustomerRef: d.CustomerReference,
			Sources: d.SearchSource, AuditTime: d.AuditTime, AuditorID: d.AuditorEmployeeID,
			Metadata: len(d.Metadata), ResultHits: hitsOf(t, d.Result)}
	case *handTaskDetailQuirks:
		return taskFacts{TaskID: int64(d.TaskID), TargetName: d.Target.Name, CustomerRef: d.CustomerReference,
			Sources: d.SearchSource, AuditTime: int64(d.AuditTime), AuditorID: int64(d.AuditorEmployeeID),
			Metadata: len(d.Metadata), ResultHits: hitsOf(t, d.Result)}
	case *kryptogo.TaskDetail:
		f := taskFacts{TaskID: int64(d.TaskID), TargetName: d.Target.Name, CustomerRef: d.CustomerReference,
			AuditTime: d.AuditTime.Unix(), AuditorID: int64(d.AuditorEmployeeID), Metadata: len(d.Metadata),
			ResultHits: hitsOf(t, d.Result)}
		if d.AuditTime.IsZero() {
			f.AuditTime = 0
		}
		for _, s := range d.SearchSource {
			f.Sources = append(f.Sources, int(s))
		}
		return f
	case *oapigen.GetTaskResponse:
		return oapiFacts(t, d.JSON200)
	case *ogengen.TaskDetail:
		return ogenFacts(t, d)
	}
	t.Fatalf("no facts for %T", v)
	return taskFacts{}
}

func oapiFacts(t *testing.T, d *oapigen.TaskDetail) taskFacts {
	f := taskFacts{TargetName: d.Target.Name, ResultHits: hitsOf(t, mustJSON(d.Result))}
	f.TaskID = oapiID(t, d.TaskId)
	if d.CustomerReference != nil {
		f.CustomerRef = *d.CustomerReference
	}
	if d.AuditTime != nil {
		if n, err := d.AuditTime.AsTimestamp0(); err == nil {
			f.AuditTime = n
		} else {
			s, err := d.AuditTime.AsTimestamp1()
			require.NoError(t, err)
			f.AuditTime = unixOf(t, 0, s)
		}
	}
	if d.AuditorEmployeeId != nil {
		if n, err := d.AuditorEmployeeId.AsNullableID0(); err == nil {
			f.AuditorID = n
		} else {
			s, err := d.AuditorEmployeeId.AsNullableID1()
			require.NoError(t, err)
			f.AuditorID = idOf(t, 0, s)
		}
	}
	for _, s := range *d.SearchSource {
		if n, err := s.AsSearchSource0(); err == nil {
			f.Sources = append(f.Sources, n)
			continue
		}
		many, err := s.AsSearchSource1()
		require.NoError(t, err)
		f.Sources = append(f.Sources, many...)
	}
	if d.Metadata != nil {
		if m, err := d.Metadata.AsMetadata0(); err == nil {
			f.Metadata = len(m)
		} else {
			pairs, err := d.Metadata.AsMetadata1()
			require.NoError(t, err)
			f.Metadata = len(pairs)
		}
	}
	return f
}

func oapiID(t *testing.T, id oapigen.ID) int64 {
	if n, err := id.AsID0(); err == nil {
		return n
	}
	s, err := id.AsID1()
	require.NoError(t, err)
	return idOf(t, 0, s)
}

func ogenFacts(t *testing.T, d *ogengen.TaskDetail) taskFacts {
	f := taskFacts{TaskID: idOf(t, d.TaskID.Int64, d.TaskID.String), TargetName: d.Target.Value.Name,
		CustomerRef: d.CustomerReference.Value, ResultHits: hitsOf(t, d.Result)}
	f.AuditTime = unixOf(t, d.AuditTime.Value.Int64, d.AuditTime.Value.String)
	f.AuditorID = idOf(t, d.AuditorEmployeeID.Value.Int64, d.AuditorEmployeeID.Value.String)
	for _, s := range d.SearchSource {
		if s.IntArray != nil {
			f.Sources = append(f.Sources, s.IntArray...)
			continue
		}
		f.Sources = append(f.Sources, s.Int)
	}
	f.Metadata = len(d.Metadata.Value.Metadata0) + len(d.Metadata.Value.MetadataPairArray)
	return f
}

func createdIDs(t *testing.T, v any) []int64 {
	var ids []int64
	switch c := v.(type) {
	case []handCreatedTask:
		for _, x := range c {
			ids = append(ids, x.TaskID)
		}
	case []kryptogo.CreatedTask:
		for _, x := range c {
			ids = append(ids, int64(x.TaskID))
		}
	case *oapigen.CreateTasksResponse:
		for _, x := range *c.JSON200 {
			ids = append(ids, oapiID(t, x.TaskId))
		}
	case []ogengen.CreatedTask:
		for _, x := range c {
			ids = append(ids, idOf(t, x.TaskID.Int64, x.TaskID.String))
		}
	default:
		t.Fatalf("no ids for %T", v)
	}
	return ids
}

func kyaIDOf(t *testing.T, v any) int64 {
	switch k := v.(type) {
	case *handKYAResult:
		return k.KYAID
	case *kryptogo.KYAResult:
		return int64(k.KYAID)
	case *oapigen.GetKYAResponse:
		return oapiID(t, k.JSON200.KyaId)
	case *ogengen.KYAResult:
		return idOf(t, k.KyaID.Int64, k.KyaID.String)
	}
	t.Fatalf("no id for %T", v)
	return 0
}

// TestCallbackHandlersRefuseForgeries: the handlers of BenchmarkCallback do
// the checks they are measured for: a URL whose customer was changed after
// signing, and a URL signed for another customer than the record's, are
// refused, with and without the re-fetch.
func TestCallbackHandlersRefuseForgeries(t *testing.T) {
	srv := newLoopback(t)
	body := srv.body("/task/" + summaryID + "/summary")
	for _, name := range []string{implHand, implSDK} {
		for _, refetch := range []bool{false, true} {
			t.Run(name+"/refetch="+strconv.FormatBool(refetch), func(t *testing.T) {
				h, sign := callbackHandler(t, name, refetch, srv)
				target := sign(customerRef)
				require.Contains(t, target, customerRef)
				assert.Equal(t, http.StatusNoContent, serveOnce(t, h, target, body))
				assert.Equal(t, http.StatusUnauthorized, serveOnce(t, h, strings.Replace(target, customerRef, "000000124", 1), body))
				assert.Equal(t, http.StatusForbidden, serveOnce(t, h, sign("000000124"), body))
			})
		}
	}
}

func serveOnce(t *testing.T, h http.Handler, target string, body []byte) int {
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}
