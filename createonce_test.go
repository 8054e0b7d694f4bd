package kryptogo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
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
	r.client = r.srv.Client()
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

	var waited time.Duration
	for _, d := range r.sleeps {
		waited += d
	}
	assert.NotEmpty(t, r.sleeps, "the history is asked again before the task counts as not created")
	assert.GreaterOrEqual(t, waited, 5*time.Second, "a history a few seconds behind still prevents a duplicate")
	assert.LessOrEqual(t, waited, 15*time.Second)
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
		{3 * time.Minute, 2}, // past the allowance: the task looks older than the send, and is sent again
	} {
		t.Run(tc.behind.String(), func(t *testing.T) {
			slow := &fakeClock{now: time.Now().Add(-tc.behind)}
			r := newOnceRig(t, kryptogotest.WithClock(slow.Now))
			r.srv.DropNextResponse(http.MethodPost, "/task", 1)

			created, err := r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
			require.NoError(t, err)
			assert.Equal(t, []kryptogo.ID{kryptogo.ID(tc.wantPOSTs)}, taskIDs(created))
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
