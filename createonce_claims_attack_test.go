package kryptogo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

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
