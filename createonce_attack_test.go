package kryptogo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

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
