package kryptogo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onceRig is a fake API and a client whose waits are recorded, not slept.
type onceRig struct {
	srv     *kryptogotest.Server
	client  *kryptogo.Client
	mu      sync.Mutex
	sleeps  []time.Duration
	onSleep func(n int) // runs at the nth wait (from 1) when set
}

func newOnceRig(t *testing.T, opts ...kryptogotest.Option) *onceRig {
	r := &onceRig{srv: kryptogotest.NewTestServer(t, opts...)}
	// The default lookup, not the fake's short one: its waits are recorded.
	r.client = r.srv.Client(kryptogo.WithReconcileWait(kryptogo.DefaultReconcileWait))
	kryptogo.SetSleepHook(r.client, func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		r.sleeps = append(r.sleeps, d)
		n, hook := len(r.sleeps), r.onSleep
		r.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		return ctx.Err()
	})
	return r
}

// requests returns the requests of the fake with that method and path.
func (r *onceRig) requests(method, path string) []kryptogotest.Request {
	var out []kryptogotest.Request
	for _, req := range r.srv.Requests() {
		if req.Method == method && req.Path == path {
			out = append(out, req)
		}
	}
	return out
}

// sentNames returns the target names of each POST /task, in order.
func (r *onceRig) sentNames(t *testing.T) [][]string {
	var out [][]string
	for _, req := range r.requests(http.MethodPost, "/task") {
		var tasks []struct {
			Target struct{ Name string } `json:"target"`
		}
		require.NoError(t, json.Unmarshal(req.Body, &tasks))
		var names []string
		for _, task := range tasks {
			names = append(names, task.Target.Name)
		}
		out = append(out, names)
	}
	return out
}

// customerTasks returns the ids of the customer's tasks in the fake, oldest first.
func (r *onceRig) customerTasks(t *testing.T, ref string) []kryptogo.ID {
	page, err := r.srv.Client().Tasks.History(testCtx(t), &kryptogo.HistoryOptions{PageSize: 100, CustomerReference: ref})
	require.NoError(t, err)
	var ids []kryptogo.ID
	for i := len(page.Data) - 1; i >= 0; i-- {
		ids = append(ids, page.Data[i].TaskID)
	}
	return ids
}

func taskIDs(created []kryptogo.CreatedTask) []kryptogo.ID {
	var ids []kryptogo.ID
	for _, c := range created {
		ids = append(ids, c.TaskID)
	}
	return ids
}

func kycTask(ref, name string) kryptogo.CreateTaskRequest {
	return kryptogo.CreateTaskRequest{SearchSettingID: 7, Target: kryptogo.KYCTarget(name, "1985-01-31", "TWN"), CustomerReference: ref}
}

func kybTask(ref, name string) kryptogo.CreateTaskRequest {
	return kryptogo.CreateTaskRequest{SearchSettingID: 7, Target: kryptogo.KYBTarget(name), CustomerReference: ref}
}

func TestCreateOnceCleanCreateCostsOnePOSTAndNoLookup(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe"), kybTask("c2", "Acme Ltd.")})
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{1, 2}, taskIDs(created))
	assert.Len(t, r.srv.Requests(), 1, "one POST, no history lookup")
	assert.Empty(t, r.sleeps)
}

func TestCreateOnceDroppedAfterCreateReturnsTheTaskAndSendsNoSecondPOST(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	reqs := []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe"), kybTask("c1", "Acme Ltd."), kybTask("c2", "Beta Ltd.")}

	created, err := r.client.Tasks.CreateOnce(testCtx(t), reqs)
	require.NoError(t, err)
	require.Len(t, r.requests(http.MethodPost, "/task"), 1, "no second POST")
	assert.Equal(t, []kryptogo.ID{1, 2, 3}, taskIDs(created), "the tasks the API created, in input order")
	for _, c := range created {
		stored, ok := r.srv.Task(c.TaskID)
		require.True(t, ok)
		assert.Equal(t, stored.CreationTime, c.Timestamp)
	}
	lookups := r.requests(http.MethodGet, "/tasks")
	require.Len(t, lookups, 4, "one history lookup per customer, read to its empty page")
	assert.Contains(t, lookups[0].Query, "customer_reference=c1")
	assert.Contains(t, lookups[1].Query, "customer_reference=c1&page_number=2")
	assert.Contains(t, lookups[2].Query, "customer_reference=c2")
	assert.Contains(t, lookups[3].Query, "customer_reference=c2&page_number=2")
	assert.Empty(t, r.sleeps, "everything was found at once: no wait")
}

func TestCreateOnceDroppedBeforeCreateSendsExactlyOnceMore(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)

	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"Jane Roe"}, {"Jane Roe"}}, r.sentNames(t), "exactly one re-send")
	assert.Len(t, r.requests(http.MethodGet, "/tasks"), len(r.sleeps)+1, "a lookup before and after each wait")
	assert.Equal(t, []kryptogo.ID{1}, r.customerTasks(t, "c1"), "one task exists")
	assert.Equal(t, []kryptogo.ID{1}, taskIDs(created))

	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}, r.sleeps,
		"the history is asked again over ten seconds before the task counts as not created")
}

func TestReconcileWaitSpacesTheLooks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		total time.Duration
		want  []time.Duration
	}{
		{"a second", time.Second, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}},
		{"uneven", 25 * time.Millisecond, []time.Duration{2500 * time.Microsecond, 5 * time.Millisecond, 7500 * time.Microsecond, 10 * time.Millisecond}},
		{"none: one look", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newOnceRig(t)
			r.srv.DropNextRequest(http.MethodPost, "/task", 1)
			_, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")}, kryptogo.WithReconcileWait(tc.total))
			require.NoError(t, err)
			assert.Equal(t, tc.want, r.sleeps, "per call, over the client's")
			assert.Len(t, r.requests(http.MethodGet, "/tasks"), len(tc.want)+1)
		})
	}
	_, err := kryptogo.NewClient("k", kryptogo.WithReconcileWait(-time.Second))
	assert.ErrorContains(t, err, "negative")
}

func TestCreateOnceWaitsForAHistoryThatLags(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	var late kryptogo.ID
	r.onSleep = func(n int) {
		if n == 2 { // the task the API created shows up in its history only now
			got, err := r.srv.Client().Tasks.Create(t.Context(), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd.")})
			require.NoError(t, err)
			late = got[0].TaskID
		}
	}

	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd.")})
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{late}, taskIDs(created))
	assert.Len(t, r.requests(http.MethodPost, "/task"), 2, "CreateOnce's POST and the late task's; no re-send")
	assert.Len(t, r.sleeps, 2)
}

func TestCreateOnceResendsOnlyWhatTheAPIDidNotCreate(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	var beta kryptogo.ID
	r.onSleep = func(n int) {
		if n == 1 { // of the batch, only Beta shows up: the others were not created
			got, err := r.srv.Client().Tasks.Create(t.Context(), []kryptogo.CreateTaskRequest{kybTask("c1", "Beta Ltd.")})
			require.NoError(t, err)
			beta = got[0].TaskID
		}
	}
	reqs := []kryptogo.CreateTaskRequest{kybTask("c1", "Alpha Ltd."), kybTask("c1", "Beta Ltd."), kycTask("c2", "Jane Roe")}

	created, err := r.client.Tasks.CreateOnce(testCtx(t), reqs)
	require.NoError(t, err)
	sent := r.sentNames(t)
	require.Len(t, sent, 3)
	assert.Equal(t, []string{"Alpha Ltd.", "Jane Roe"}, sent[2], "the re-send holds only the tasks not found")
	assert.Equal(t, []kryptogo.ID{beta + 1, beta, beta + 2}, taskIDs(created), "input order")
	assert.Len(t, r.customerTasks(t, "c1"), 2)
	assert.Len(t, r.customerTasks(t, "c2"), 1)
}

func TestCreateOnceMatchesTheSameTargetOneToOneOldestFirst(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	first, second := kybTask("c1", "Acme Ltd."), kybTask("c1", "Acme Ltd.")
	second.SearchSettingID = 8

	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{first, second, kybTask("c1", "Acme Ltd.")})
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{1, 2, 3}, taskIDs(created), "each task matched once, the oldest to the first request")
	assert.Len(t, r.requests(http.MethodPost, "/task"), 1)
}

func TestCreateOnceIgnoresOtherTasksOfTheCustomer(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Now().Add(-10 * time.Minute)}
	r := newOnceRig(t, kryptogotest.WithClock(clock.Now))
	ctx := testCtx(t)
	other := kryptogo.KYCTarget("Jane Roe", "1990-02-02", "TWN") // same name, another birthday
	_, err := r.client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
	require.NoError(t, err, "the same target, ten minutes ago")
	clock.set(time.Now())
	for _, req := range []kryptogo.CreateTaskRequest{kycTask("c2", "Jane Roe"), kybTask("c1", "Jane Roe"), {SearchSettingID: 7, Target: other, CustomerReference: "c1"}} {
		_, err := r.client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{req})
		require.NoError(t, err, "another customer, a KYB target of that name, another birthday")
	}
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)

	created, err := r.client.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{5}, taskIDs(created), "none of the others counts as created: re-sent")
	assert.Len(t, r.requests(http.MethodPost, "/task"), 6)
}

func TestCreateOnceAllowsForClockSkew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		behind    time.Duration // how far the API's clock runs behind the local one
		wantPOSTs int
	}{
		{90 * time.Second, 1},
		// Past the allowance: the lookup reads the API's clock from its
		// Date header (it took the task as older than the send, and sent
		// it again).
		{3 * time.Minute, 1},
		{time.Hour, 1},
	} {
		t.Run(tc.behind.String(), func(t *testing.T) {
			slow := &fakeClock{now: time.Now().Add(-tc.behind)}
			r := newOnceRig(t, kryptogotest.WithClock(slow.Now))
			r.srv.DropNextResponse(http.MethodPost, "/task", 1)

			created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
			require.NoError(t, err)
			assert.Equal(t, []kryptogo.ID{1}, taskIDs(created))
			assert.Len(t, r.requests(http.MethodPost, "/task"), tc.wantPOSTs)
		})
	}
}

func TestCreateOnceNeedsACustomerReference(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd."), kybTask("", "Beta Ltd.")})
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
	assert.Nil(t, created)
	var verr *kryptogo.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Fields, 1)
	assert.Equal(t, "[1].customer_reference", verr.Fields[0].Field)
	assert.Empty(t, r.srv.Requests(), "nothing sent")

	_, err = r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{{Target: kryptogo.KYBTarget("Acme"), CustomerReference: "c1"}})
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest, "Create's rules apply too")
	_, err = r.client.Tasks.CreateOnce(testCtx(t), nil)
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
	assert.Empty(t, r.srv.Requests(), "nothing sent")
}

func TestCreateOnceFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		inject    func(srv *kryptogotest.Server)
		wantIs    []error
		wantPOSTs int
	}{
		{"a refused create is returned as is, with no lookup", func(srv *kryptogotest.Server) {
			srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusUnauthorized)
		}, []error{kryptogo.ErrUnauthorized}, 1},
		{"a failed lookup leaves the create in doubt and re-sends nothing", func(srv *kryptogotest.Server) {
			srv.DropNextRequest(http.MethodPost, "/task", 1)
			srv.FailNextOnRequest(http.MethodGet, "/tasks", 100, http.StatusBadGateway)
		}, []error{kryptogo.ErrMaybeSent, kryptogo.ErrServerError}, 1},
		{"a 5xx is in doubt: looked up, then re-sent", func(srv *kryptogotest.Server) {
			srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError)
		}, nil, 2},
		{"sends stop after three in doubt", func(srv *kryptogotest.Server) {
			srv.DropNextRequest(http.MethodPost, "/task", 100)
		}, []error{kryptogo.ErrMaybeSent}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newOnceRig(t)
			r.client = r.srv.Client(kryptogo.WithMaxRetries(0))
			kryptogo.SetSleepHook(r.client, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
			tc.inject(r.srv)

			created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd.")})
			for _, target := range tc.wantIs {
				assert.ErrorIs(t, err, target)
			}
			if tc.wantIs == nil {
				require.NoError(t, err)
				assert.Len(t, created, 1)
			} else {
				assert.Nil(t, created, "no task is known to exist")
			}
			assert.Len(t, r.requests(http.MethodPost, "/task"), tc.wantPOSTs)
		})
	}
}

func TestCreateOnceReturnsWhatItFoundWithAnError(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.client = r.srv.Client(kryptogo.WithMaxRetries(0))
	kryptogo.SetSleepHook(r.client, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	r.srv.FailNextOnRequest(http.MethodGet, "/tasks", 100, http.StatusBadGateway)
	_, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd.")})
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)

	r = newOnceRig(t)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	r.onSleep = func(n int) {
		if n == 1 {
			_, err := r.srv.Client().Tasks.Create(t.Context(), []kryptogo.CreateTaskRequest{kybTask("c1", "Beta Ltd.")})
			require.NoError(t, err)
			r.srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusForbidden) // the re-send is refused
		}
	}
	created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd."), kybTask("c1", "Beta Ltd.")})
	require.ErrorIs(t, err, kryptogo.ErrUnauthorized)
	require.Len(t, created, 2, "the receipts known, in input order")
	assert.Zero(t, created[0].TaskID, "not created")
	assert.Equal(t, kryptogo.ID(1), created[1].TaskID, "found in the history")
}

func TestCreateOnceStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	ctx, cancel := context.WithCancel(testCtx(t))
	r.onSleep = func(int) { cancel() }
	_, err := r.client.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kybTask("c1", "Acme Ltd.")})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, kryptogo.ErrMaybeSent, "still in doubt")
	assert.Len(t, r.requests(http.MethodPost, "/task"), 1, "no re-send")
}

func TestCreateOne(t *testing.T) {
	t.Parallel()
	r := newOnceRig(t)
	created, err := r.client.Tasks.CreateOne(testCtx(t), kybTask("c1", "Acme Ltd."))
	require.NoError(t, err)
	stored, ok := r.srv.Task(created.TaskID)
	require.True(t, ok)
	if diff := cmp.Diff(kryptogo.KYBTarget("Acme Ltd."), stored.Target); diff != "" {
		t.Errorf("stored target (-want +got):\n%s", diff)
	}
	assert.JSONEq(t, `[{"search_setting_id":7,"target":{"type":2,"name":"Acme Ltd."},"search_source":[0,1,2,3,4],"customer_reference":"c1"}]`,
		string(r.srv.Requests()[0].Body), "a one-element array")

	_, err = r.client.Tasks.CreateOne(testCtx(t), kryptogo.CreateTaskRequest{Target: kryptogo.KYBTarget("Acme")})
	var verr *kryptogo.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, "search_setting_id", verr.Fields[0].Field, "one task: no [0]. prefix")
	assert.Len(t, r.srv.Requests(), 1, "nothing sent")
}

func ExampleTaskService_CreateOnce() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	client := srv.Client()
	// The network fails after the API created the task: Create would leave
	// the caller unsure whether to send again.
	srv.DropNextResponse("POST", "/task", 1)

	created, err := client.Tasks.CreateOnce(context.Background(), []kryptogo.CreateTaskRequest{{
		SearchSettingID:   2,
		Target:            kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"),
		CustomerReference: "customer-42", // required: the lookup is by customer
	}})
	if err != nil {
		log.Fatal(err)
	}
	posts := 0
	for _, req := range srv.Requests() {
		if req.Method == "POST" {
			posts++
		}
	}
	fmt.Printf("task %d, created with %d POST\n", created[0].TaskID, posts)
	// Output: task 1, created with 1 POST
}

// fakeClock is a settable clock for the fake.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Regression tests of the attacks on CreateOnce and the 429 pause
// (issue 12): a fake of POST /task and GET /tasks whose history order,
// page size and storage a test scripts.

// histTask is a task as the fake stores it.
type histTask struct {
	ID      int64
	Ref     string
	Type    int
	Name    string
	Created int64
	Updated int64
}

// histAPI is a fake of POST /task and GET /tasks.
type histAPI struct {
	mu      sync.Mutex
	tasks   []histTask
	next    int64
	posts   int
	order   string // "newest" (default), "oldest" or "updated"
	pageCap int    // the largest page_size honoured; 0: any
	// post decides for the nth POST (from 1) whether to create the tasks
	// and which status to answer.
	post func(n int) (create bool, status int)
	// store rewrites a task as the API stores it.
	store func(req map[string]any, t *histTask)
}

func (a *histAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/task":
		a.createTasks(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/tasks":
		a.history(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (a *histAPI) createTasks(w http.ResponseWriter, r *http.Request) {
	a.posts++
	var reqs []map[string]any
	_ = json.NewDecoder(r.Body).Decode(&reqs)
	create, status := true, http.StatusOK
	if a.post != nil {
		create, status = a.post(a.posts)
	}
	out := []map[string]any{}
	now := time.Now().Unix()
	for _, q := range reqs {
		if !create {
			break
		}
		target := q["target"].(map[string]any)
		ref, _ := q["customer_reference"].(string)
		a.next++
		t := histTask{ID: 1000 + a.next, Ref: ref, Type: int(target["type"].(float64)), Name: fmt.Sprint(target["name"]), Created: now, Updated: now}
		if a.store != nil {
			a.store(q, &t)
		}
		a.tasks = append(a.tasks, t)
		out = append(out, map[string]any{"task_id": t.ID, "timestamp": now})
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	_, _ = w.Write([]byte(`{"code":0,"message":"boom"}`))
}

func (a *histAPI) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("page_size"))
	page, _ := strconv.Atoi(q.Get("page_number"))
	if a.pageCap > 0 && size > a.pageCap {
		size = a.pageCap
	}
	var match []histTask
	for _, t := range a.tasks {
		if t.Ref == q.Get("customer_reference") {
			match = append(match, t)
		}
	}
	sort.Slice(match, func(i, j int) bool {
		switch a.order {
		case "oldest":
			return match[i].ID < match[j].ID
		case "updated":
			return match[i].Updated > match[j].Updated
		}
		return match[i].ID > match[j].ID
	})
	data := []map[string]any{}
	for i := (page - 1) * size; i >= 0 && i < len(match) && i < page*size; i++ {
		t := match[i]
		data = append(data, map[string]any{"task_id": t.ID, "customer_reference": t.Ref,
			"target":        map[string]any{"type": t.Type, "name": t.Name},
			"creation_time": t.Created, "update_time": t.Updated, "progress": 0})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "paging": map[string]int{"page_number": page, "page_size": size, "total": len(match)}})
}

// addOld stores n tasks of the customer created age ago, updated now when
// updatedNow is set.
func (a *histAPI) addOld(n int, ref, name string, age time.Duration, updatedNow bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.next++
		created := time.Now().Add(-age).Unix()
		updated := created
		if updatedNow {
			updated = time.Now().Unix()
		}
		a.tasks = append(a.tasks, histTask{ID: 1000 + a.next, Ref: ref, Type: 1, Name: name, Created: created, Updated: updated})
	}
}

func (a *histAPI) counts() (posts, tasks int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.posts, len(a.tasks)
}

// newHistClient serves a on loopback and returns a client of it that does
// not sleep.
func newHistClient(t *testing.T, a *histAPI) *kryptogo.Client {
	t.Helper()
	return newSleeplessClient(t, a)
}

// newSleeplessClient serves h on loopback and returns a client of it that
// does not sleep (its waits end at once, or with ctx).
func newSleeplessClient(t *testing.T, h http.Handler) *kryptogo.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := kryptogo.NewClient("test-key-123456", kryptogo.WithBaseURL(srv.URL))
	require.NoError(t, err)
	kryptogo.SetSleepHook(c, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
	return c
}

// createdThen502 creates the tasks of the first POST and answers 502, so the
// send is in doubt; later POSTs succeed.
func createdThen502(n int) (bool, int) {
	if n == 1 {
		return true, http.StatusBadGateway
	}
	return true, http.StatusOK
}

func TestCreateOnceDoesNotAssumeTheHistoryOrder(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"newest", "oldest", "updated"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			a := &histAPI{order: order, post: createdThen502}
			a.addOld(45, "cust-1", "Someone Else", 48*time.Hour, order == "updated")
			c := newHistClient(t, a)
			got, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
			require.NoError(t, err)
			posts, tasks := a.counts()
			assert.Equal(t, 1, posts, "no second POST")
			assert.Equal(t, 46, tasks)
			assert.Equal(t, kryptogo.ID(1046), got[0].TaskID)
		})
	}
}

func TestCreateOnceReadsPagesShorterThanAskedFor(t *testing.T) {
	t.Parallel()
	a := &histAPI{pageCap: 10, post: createdThen502}
	c := newHistClient(t, a)
	var reqs []kryptogo.CreateTaskRequest
	for i := range 12 {
		reqs = append(reqs, kycTask("cust-1", fmt.Sprintf("Person %d", i)))
	}
	got, err := c.Tasks.CreateOnce(t.Context(), reqs)
	require.NoError(t, err)
	posts, tasks := a.counts()
	assert.Equal(t, 1, posts)
	assert.Equal(t, 12, tasks)
	for i, r := range got {
		assert.Equal(t, kryptogo.ID(1001+i), r.TaskID, "receipt %d", i)
	}
}

func TestCreateOnceDoesNotSendAgainWhenTheHistoryIsTooLongToCheck(t *testing.T) {
	t.Parallel()
	a := &histAPI{order: "oldest", post: createdThen502}
	a.addOld(25*20, "cust-1", "Someone Else", 48*time.Hour, false) // fills every page it may read
	c := newHistClient(t, a)
	got, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	assert.Contains(t, err.Error(), "too long to check")
	assert.Nil(t, got, "no task is known")
	posts, _ := a.counts()
	assert.Equal(t, 1, posts, "an inconclusive lookup sends nothing again")
}

func TestCreateOnceRefusesARequestFromAnIDVTask(t *testing.T) {
	t.Parallel()
	a := &histAPI{post: createdThen502, store: func(q map[string]any, t *histTask) {
		if q["from_idv_id"] != nil { // the API copies the IDV task's reference
			t.Ref = "idv-customer-9"
		}
	}}
	c := newHistClient(t, a)
	req := kycTask("my-ref-1", "Alice Wang")
	req.FromIDVID = 555
	_, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("my-ref-1", "Bob"), req})
	var verr *kryptogo.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Fields, 1)
	assert.Equal(t, "[1].from_idv_id", verr.Fields[0].Field)
	assert.Contains(t, verr.Fields[0].Message, "use Create")
	posts, _ := a.counts()
	assert.Zero(t, posts, "nothing sent")
}

func TestCreateOnceCallsOfOneClientNeverClaimTheSameTask(t *testing.T) {
	t.Parallel()
	a := &histAPI{post: func(n int) (bool, int) {
		if n <= 2 {
			return true, http.StatusBadGateway
		}
		return true, http.StatusOK
	}}
	c := newHistClient(t, a)
	var ids [2]kryptogo.ID
	var errs [2]error
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
			errs[k] = err
			if err == nil {
				ids[k] = got[0].TaskID
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs[:]...))
	posts, tasks := a.counts()
	assert.Equal(t, 2, posts)
	assert.Equal(t, 2, tasks)
	assert.ElementsMatch(t, []kryptogo.ID{1001, 1002}, ids[:], "each call reports its own task")
}

func TestCreateOnceDoesNotClaimATaskAnotherCallCreated(t *testing.T) {
	t.Parallel()
	a := &histAPI{post: func(n int) (bool, int) {
		if n == 2 {
			return false, http.StatusBadGateway // the second call's send did not create
		}
		return true, http.StatusOK
	}}
	c := newHistClient(t, a)
	first, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
	require.NoError(t, err)
	second, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
	require.NoError(t, err)
	assert.NotEqual(t, first[0].TaskID, second[0].TaskID)
	posts, tasks := a.counts()
	assert.Equal(t, 3, posts, "the second call sent again")
	assert.Equal(t, 2, tasks)
}

// gateLimiter holds the first call that waits on it until released.
type gateLimiter struct {
	first   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateLimiter) Wait(ctx context.Context) error {
	if g.first.CompareAndSwap(false, true) {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// A call that passed the pause check and then waited in a rate limiter
// must check the pause again before it is sent.
func TestPauseHoldsCallsThatWaitedInARateLimiter(t *testing.T) {
	t.Parallel()
	for _, perCall := range []bool{false, true} {
		t.Run(fmt.Sprintf("perCall=%v", perCall), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var early []string
			var n atomic.Int32
			// The pause is over once the held call has slept it out through
			// the client's sleep hook: a request that arrives after the 429
			// and before that was sent during the pause. No real sleep.
			var pauseOver atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if n.Load() > 0 && !pauseOver.Load() {
					early = append(early, r.URL.Path)
				}
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", "3")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				_, _ = w.Write([]byte(`{"id":1,"address":"0x0000000000000000000000000000000000000001","chain":"eth"}`))
			}))
			t.Cleanup(srv.Close)
			g := &gateLimiter{entered: make(chan struct{}), release: make(chan struct{})}
			opts := []kryptogo.Option{kryptogo.WithBaseURL(srv.URL)}
			var callOpts []kryptogo.Option
			if perCall {
				callOpts = append(callOpts, kryptogo.WithRateLimiter(g))
			} else {
				opts = append(opts, kryptogo.WithRateLimiter(g))
			}
			c, err := kryptogo.NewClient("test-key-123456", opts...)
			require.NoError(t, err)
			var slept atomic.Int64
			kryptogo.SetSleepHook(c, func(ctx context.Context, d time.Duration) error {
				slept.Add(int64(d))
				pauseOver.Store(true)
				return ctx.Err()
			})
			done := make(chan error, 1)
			go func() { // passes the pause check, then waits in the limiter
				_, err := c.KYA.Get(t.Context(), 1, callOpts...)
				done <- err
			}()
			<-g.entered
			// This call gets the 429 and gives up at once: its deadline is
			// shorter than the Retry-After.
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			_, errPaused := c.KYA.Get(ctx, 2)
			cancel()
			require.ErrorIs(t, errPaused, kryptogo.ErrRateLimited)
			close(g.release)
			require.NoError(t, <-done)
			mu.Lock()
			defer mu.Unlock()
			assert.Empty(t, early, "sent during the pause")
			assert.Positive(t, slept.Load(), "the held call waited the pause out")
		})
	}
}

// Regression tests of issue 15, row 3: two CreateOnce calls of one client
// for the same customer and target (a double submit). B's task is created
// and its answer is slow; A's task is created and its answer lost. A's
// lookup found B's task in the history before B had its answer, claimed
// it, and both calls reported B's task: A's paid task was reported by
// nobody.

// racePOST is what the fake does with a POST's answer once the tasks exist.
type racePOST int

const (
	answerAtOnce racePOST = iota
	answerLate            // held until the first history page was answered, then delayed
	dropAnswer            // the connection closes without an answer
)

// raceAPI is a fake of POST /task and GET /tasks that creates each POST's
// tasks at once and answers it as plan says (by arrival order). A history
// request waits until every planned POST created its tasks, so a lookup
// always sees them all.
type raceAPI struct {
	plan  []racePOST
	delay time.Duration // of a late answer, after the first history page

	mu         sync.Mutex
	tasks      []histTask
	next       int64
	posts      int
	created    chan int      // the number of each POST, once its tasks exist
	allCreated chan struct{} // closed when every planned POST created its tasks
	read       chan struct{} // closed when the first history page was answered
	readOnce   sync.Once
	release    chan struct{} // closed to end the test: late answers give up waiting
	stopOnce   sync.Once
}

func newRaceAPI(delay time.Duration, plan ...racePOST) *raceAPI {
	return &raceAPI{plan: plan, delay: delay, created: make(chan int, len(plan)),
		allCreated: make(chan struct{}), read: make(chan struct{}), release: make(chan struct{})}
}

// stop makes late answers give up waiting, so that the server can close.
func (a *raceAPI) stop() { a.stopOnce.Do(func() { close(a.release) }) }

func (a *raceAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/task":
		a.createTasks(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/tasks":
		select {
		case <-a.allCreated:
		case <-r.Context().Done():
			return
		}
		a.mu.Lock()
		(&histAPI{tasks: a.tasks}).history(w, r)
		a.mu.Unlock()
		a.readOnce.Do(func() { close(a.read) })
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (a *raceAPI) createTasks(w http.ResponseWriter, r *http.Request) {
	var reqs []map[string]any
	_ = json.NewDecoder(r.Body).Decode(&reqs)
	a.mu.Lock()
	a.posts++
	n := a.posts
	now := time.Now().Unix()
	out := []map[string]any{}
	for _, q := range reqs {
		target := q["target"].(map[string]any)
		a.next++
		task := histTask{ID: 1000 + a.next, Ref: q["customer_reference"].(string), Type: int(target["type"].(float64)),
			Name: fmt.Sprint(target["name"]), Created: now, Updated: now}
		a.tasks = append(a.tasks, task)
		out = append(out, map[string]any{"task_id": task.ID, "timestamp": now})
	}
	if n == len(a.plan) {
		close(a.allCreated)
	}
	a.mu.Unlock()
	a.created <- n

	switch a.plan[n-1] {
	case dropAnswer:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return
	case answerLate:
		select {
		case <-a.read:
		case <-a.release:
			return
		}
		select {
		case <-time.After(a.delay):
		case <-a.release:
			return
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// taskIDs returns the ids of every task the fake holds.
func (a *raceAPI) taskIDs() []kryptogo.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []kryptogo.ID
	for _, t := range a.tasks {
		ids = append(ids, kryptogo.ID(t.ID))
	}
	return ids
}

// raceClient is a client of a on loopback that does not sleep between
// lookups.
func raceClient(t *testing.T, a *raceAPI) *kryptogo.Client {
	t.Helper()
	c := newSleeplessClient(t, a)
	t.Cleanup(a.stop) // runs before the server's Close, which waits for the held answers
	return c
}

// outcome is what one CreateOnce call reported.
type outcome struct {
	ids []kryptogo.ID
	err error
}

// createOnceAsync starts a CreateOnce call of the double-submitted request.
func createOnceAsync(ctx context.Context, c *kryptogo.Client) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		got, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
		done <- outcome{ids: taskIDs(got), err: err}
	}()
	return done
}

func TestCreateOnceDoubleSubmitNeverReportsOneTaskTwice(t *testing.T) {
	t.Parallel()
	for _, delay := range []time.Duration{3 * time.Second, 300 * time.Millisecond, 60 * time.Millisecond} {
		for _, order := range []string{"slow B sent first", "lost A sent first"} {
			t.Run(fmt.Sprintf("%v/%s", delay, order), func(t *testing.T) {
				t.Parallel()
				plan := []racePOST{answerLate, dropAnswer} // B, then A
				if order == "lost A sent first" {
					plan = []racePOST{dropAnswer, answerLate}
				}
				a := newRaceAPI(delay, plan...)
				c := raceClient(t, a)
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()

				first := createOnceAsync(ctx, c)
				<-a.created // the first POST's task exists before the second is sent
				second := createOnceAsync(ctx, c)
				results := []outcome{<-first, <-second}

				var reported []kryptogo.ID
				for i, r := range results {
					if r.err != nil {
						require.ErrorIs(t, r.err, kryptogo.ErrMaybeSent, "call %d", i)
						continue
					}
					require.Len(t, r.ids, 1)
					reported = append(reported, r.ids[0])
				}
				assert.Len(t, reported, 2, "both calls learn their task: the lost answer's call waits for the slow one")
				assert.ElementsMatch(t, a.taskIDs(), reported, "every task the API created is reported, each by one call")
			})
		}
	}
}

// A lookup waits for the client's sends in flight for the same customer
// only as long as its ctx lets it; then it is in doubt and claims nothing.
func TestCreateOnceLookupWaitsForAnotherSendOnlyWhileCtxLasts(t *testing.T) {
	t.Parallel()
	a := newRaceAPI(time.Hour, answerLate, dropAnswer) // B's answer comes when the test ends
	c := raceClient(t, a)
	slow := createOnceAsync(t.Context(), c)
	<-a.created
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	lost := <-createOnceAsync(ctx, c)

	require.ErrorIs(t, lost.err, kryptogo.ErrMaybeSent)
	assert.True(t, errors.Is(lost.err, context.DeadlineExceeded), "the ctx ended the wait: %v", lost.err)
	assert.Empty(t, lost.ids, "the slow call's task is not claimed while its answer is on the way")
	select {
	case r := <-slow:
		t.Fatalf("the slow call returned before its answer: %v %v", r.ids, r.err)
	default:
	}
}

// A 2xx answer with fewer receipts than tasks is a send in doubt; its
// receipts are not claimed before this call's own lookup, which must find
// every task it created rather than send them again.
func TestCreateOnceShortAnswerIsLookedUpNotSentAgain(t *testing.T) {
	t.Parallel()
	a := &histAPI{}
	short := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			a.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, r)
		var receipts []json.RawMessage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &receipts))
		_ = json.NewEncoder(w).Encode(receipts[:len(receipts)-1])
	})
	c := newSleeplessClient(t, short)

	got, err := c.Tasks.CreateOnce(t.Context(), []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang"), kycTask("cust-1", "Bob Lee")})
	require.NoError(t, err)
	posts, tasks := a.counts()
	assert.Equal(t, 1, posts, "nothing sent again")
	assert.Equal(t, 2, tasks)
	assert.Equal(t, []kryptogo.ID{1001, 1002}, taskIDs(got))
}

// Attacks on "CreateOnce calls of one client never take the same task"
// (issue 15, What to build 2), after the claims were made atomic.

// A claim outlived by a call still running: B's send is in doubt after
// more than claimTTL (a stalled connection, a long 429 pause), and A's
// task, claimed when A's answer came, is still in B's lookup window. B
// must not take it.
func TestCreateOnceClaimOutlivesTheCallsThatCanMeetIt(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a := &histAPI{post: func(n int) (bool, int) {
		if n == 2 { // B's send: the task is created, the answer is a 502 a quarter of an hour later
			clock.Add(int64(15 * time.Minute))
			return true, http.StatusBadGateway
		}
		return true, http.StatusOK
	}}
	c := newHistClient(t, a)
	kryptogo.SetNowHook(c, now)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	first, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
	require.NoError(t, err)
	second, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
	require.NoError(t, err)

	assert.Equal(t, []kryptogo.ID{1001}, taskIDs(first))
	assert.Equal(t, []kryptogo.ID{1002}, taskIDs(second), "B reports its own task, not the one A received")
}

// A short answer (fewer receipts than tasks) is a send in doubt, but the
// receipts it holds are tasks this call's POST created: another call's
// lookup must not take one of them. Here A sends X and Y for one customer
// and its answer, late, holds X's receipt only; B sends X too and loses
// its answer, and its lookup reads the history while A's answer is on the
// way.
func TestCreateOnceShortAnswerReceiptsAreNotHandedToAnotherCall(t *testing.T) {
	t.Parallel()
	a := &histAPI{}
	aCreated, bRead, releaseA := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var posts atomic.Int32
	var readOnce sync.Once
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			a.ServeHTTP(w, r)
			readOnce.Do(func() { close(bRead) })
			return
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, r)
		if posts.Add(1) == 2 { // B: created, answer lost
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		close(aCreated)
		select { // A: created, answer late and short
		case <-releaseA:
		case <-r.Context().Done():
			return
		}
		var receipts []json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &receipts); err != nil || len(receipts) != 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(receipts[:1])
	})
	c := newSleeplessClient(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	aDone := make(chan outcome, 1)
	go func() {
		got, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang"), kycTask("cust-1", "Bob Lee")})
		aDone <- outcome{ids: taskIDs(got), err: err}
	}()
	<-aCreated // X = 1001, Y = 1002 exist; A's answer is held
	bDone := make(chan outcome, 1)
	go func() {
		got, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kycTask("cust-1", "Alice Wang")})
		bDone <- outcome{ids: taskIDs(got), err: err}
	}()
	select {
	case <-bRead: // B's lookup read the history: 1001, 1002, 1003
	case <-ctx.Done():
		t.Fatal("B never read the history")
	}
	close(releaseA)
	resA, resB := <-aDone, <-bDone
	require.NoError(t, resA.err)
	require.NoError(t, resB.err)

	assert.Equal(t, []kryptogo.ID{1001, 1002}, resA.ids, "A keeps the task its answer named")
	assert.Equal(t, []kryptogo.ID{1003}, resB.ids, "B takes its own task, not one A received")
	postsSent, tasks := a.counts()
	assert.Equal(t, 2, postsSent, "nothing sent again")
	assert.Equal(t, 3, tasks)
}

// Three and four calls of one client double-submit one request, their
// answers late or lost in every order: each task is reported by one call.
func TestCreateOnceManyCallsNeverReportOneTaskTwice(t *testing.T) {
	t.Parallel()
	plans := [][]racePOST{
		{answerLate, dropAnswer, dropAnswer},
		{dropAnswer, answerLate, dropAnswer},
		{dropAnswer, dropAnswer, answerLate},
		{answerLate, answerLate, dropAnswer},
		{dropAnswer, answerLate, answerLate, dropAnswer},
		{dropAnswer, dropAnswer, dropAnswer, answerLate},
		{answerAtOnce, dropAnswer, answerLate, dropAnswer},
	}
	for _, plan := range plans {
		t.Run(fmt.Sprint(plan), func(t *testing.T) {
			t.Parallel()
			a := newRaceAPI(50*time.Millisecond, plan...)
			c := raceClient(t, a)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			calls := make([]<-chan outcome, len(plan))
			for i := range plan {
				calls[i] = createOnceAsync(ctx, c)
				<-a.created // POSTs reach the API in plan order
			}
			var reported []kryptogo.ID
			for i, call := range calls {
				r := <-call
				require.NoError(t, r.err, "call %d", i)
				require.Len(t, r.ids, 1)
				reported = append(reported, r.ids[0])
			}
			assert.ElementsMatch(t, a.taskIDs(), reported, "every task the API created is reported, each by one call")
		})
	}
}

// Two API accounts (production and staging, two teams) whose clients share
// one IdempotencyStore each number their tasks from 1: the record that task
// 1 of one account is key a-1's must not make the lookup of another
// account's key pass over its own task 1, find nothing, and create it again.
func TestKeyTaskOwnersOfTwoAccountsSharingAStore(t *testing.T) {
	t.Parallel()
	store := kryptogo.NewMemoryStore()
	srvA := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(), kryptogotest.WithAPIKey("account-a-key-1"))
	srvB := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(), kryptogotest.WithAPIKey("account-b-key-2"))
	a := srvA.Client(kryptogo.WithIdempotencyStore(store))
	b := srvB.Client(kryptogo.WithIdempotencyStore(store))
	first, err := a.Tasks.CreateOne(testCtx(t), keyedTask("a-1", ""))
	require.NoError(t, err)
	srvB.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
	_, err = b.Tasks.CreateOne(testCtx(t), keyedTask("b-1", ""))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	require.Len(t, srvB.Tasks(), 1, "the API created it")
	require.Equal(t, first.TaskID, srvB.Tasks()[0].TaskID, "both accounts number from one")

	got, err := b.Tasks.CreateOne(testCtx(t), keyedTask("b-1", ""))
	require.NoError(t, err)
	assert.Equal(t, srvB.Tasks()[0].TaskID, got.TaskID, "B's task, found")
	assert.Len(t, srvB.Tasks(), 1, "no second task")
}
