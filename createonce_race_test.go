package kryptogo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

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
