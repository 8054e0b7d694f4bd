package kryptogo_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// apiLag is how far the fake API's clock runs behind the clients' in the
// tests of this file: less than maxAPIClockLag (1 h), so it is taken whole,
// and more than half of it, so a lag taken twice opens the window past it.
const apiLag = 50 * time.Minute

// laggingAPI is a fake API whose clock (its Date headers and creation
// times) runs apiLag behind the real one, and further back by back.
type laggingAPI struct {
	srv  *kryptogotest.Server
	back atomic.Int64 // a further offset into the past, for older tasks
}

func newLaggingAPI(t *testing.T) *laggingAPI {
	a := &laggingAPI{}
	a.srv = kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(),
		kryptogotest.WithClock(func() time.Time { return time.Now().Add(-apiLag - time.Duration(a.back.Load())) }))
	return a
}

// olderTask creates, with a client of its own and no key, a task of ref's
// John Doe dated age before the API's now: nobody's key's.
func (a *laggingAPI) olderTask(t *testing.T, ref string, age time.Duration) kryptogo.ID {
	t.Helper()
	a.back.Store(int64(age))
	defer a.back.Store(0)
	old, err := a.srv.Client().Tasks.CreateOne(testCtx(t), kycTask(ref, "John Doe"))
	require.NoError(t, err)
	return old.TaskID
}

// heard returns a client that has heard the API's clock (a Date).
func (a *laggingAPI) heard(t *testing.T, opts ...kryptogo.Option) *kryptogo.Client {
	t.Helper()
	c := a.srv.Client(opts...)
	_, err := c.Tasks.History(testCtx(t), &kryptogo.HistoryOptions{PageSize: 1, PageNumber: 1, CustomerReference: "clock"})
	require.NoError(t, err)
	return c
}

// looker returns the client that looks up a key sender left in doubt.
type looker func(t *testing.T, a *laggingAPI, sender *kryptogo.Client, store kryptogo.IdempotencyStore) *kryptogo.Client

var (
	theSender looker = func(_ *testing.T, _ *laggingAPI, sender *kryptogo.Client, _ kryptogo.IdempotencyStore) *kryptogo.Client {
		return sender
	}
	anotherProcess looker = func(t *testing.T, a *laggingAPI, _ *kryptogo.Client, store kryptogo.IdempotencyStore) *kryptogo.Client {
		return a.heard(t, kryptogo.WithIdempotencyStore(store)) // it heard the API's clock
	}
	aFreshProcess looker = func(_ *testing.T, a *laggingAPI, _ *kryptogo.Client, store kryptogo.IdempotencyStore) *kryptogo.Client {
		return a.srv.Client(kryptogo.WithIdempotencyStore(store)) // it heard no Date
	}
)

// A key left in doubt holds its send time by the API's clock (the client's
// less the lag it knew). The lookup took the lag off it once more: its
// window opened up to twice the lag before the send, beyond the one-hour
// bound, and an older task of the same customer and target, created
// without the key, passed for the send in doubt: the key answered with a
// task of 25 minutes before instead of a new screening. The window opens
// createOnceSkew (2 min) before the send by the API's clock, and no more,
// no less: a task of 90 s before is still taken as the send's.
func TestLookupOfAKeyInDoubtTakesTheAPIClockLagOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		age   time.Duration // of the task without the key, before the send by the API's clock
		taken bool
	}{
		{"25 min before: past the window", 25 * time.Minute, false}, // in it with the lag taken twice
		{"90 s before: in the window", 90 * time.Second, true},
	} {
		for name, looker := range map[string]looker{"the sender looks it up": theSender, "another process looks it up": anotherProcess} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				a := newLaggingAPI(t)
				old := a.olderTask(t, "c4", tc.age)
				store := kryptogo.NewMemoryStore()
				sender := a.heard(t, kryptogo.WithIdempotencyStore(store))

				a.srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError) // nothing created
				_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c4", "order-4"))
				require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
				rec, found, err := store.Get(testCtx(t), "order-4")
				require.NoError(t, err)
				require.True(t, found)
				assert.WithinDuration(t, time.Now().Add(-apiLag), rec.SentAt, 5*time.Second, "the send time is by the API's clock")

				got, err := looker(t, a, sender, store).Tasks.CreateOne(testCtx(t), kycTaskKeyed("c4", "order-4"))
				require.NoError(t, err)
				if tc.taken {
					assert.Equal(t, old, got.TaskID, "taken as the send's")
					assert.Len(t, a.srv.Tasks(), 1, "nothing sent again")
					return
				}
				assert.NotEqual(t, old, got.TaskID, "the older task is not the key's")
				assert.Len(t, a.srv.Tasks(), 2, "the key's task was created")
			})
		}
	}
}

// The window still reaches a task the send created, dated right at the
// send by the API's clock, with the lag taken once on every path: the
// call's own lookup, and a key in doubt looked up by the sender or another
// process, whether the sender had heard the API's clock before the send
// or only from the send's answer, or not at all (the answer lost).
func TestLookupFindsTheSendsTaskWithTheAPIClockLagTakenOnce(t *testing.T) {
	t.Parallel()
	type fault func(srv *kryptogotest.Server)
	failAfter := func(srv *kryptogotest.Server) {
		srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
	}
	dropAnswer := func(srv *kryptogotest.Server) { srv.DropNextResponse(http.MethodPost, "/task", 1) }
	for _, tc := range []struct {
		name  string
		heard bool // the sender heard the API's clock before the send
		fault fault
	}{
		{"heard before the send, 500 after creating", true, failAfter},
		{"heard before the send, answer lost", true, dropAnswer},
		{"heard from the send's 500", false, failAfter},
		{"heard nothing, answer lost", false, dropAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for look, looker := range map[string]looker{"the sender": theSender, "another process": anotherProcess,
				"a fresh process": aFreshProcess, "its own CreateOnce": nil} {
				for api, offset := range map[string]time.Duration{"API behind": -apiLag, "API ahead": 30 * time.Minute} {
					t.Run(look+"/"+api, func(t *testing.T) {
						t.Parallel()
						a := aheadAPI(t, offset)
						store := kryptogo.NewMemoryStore()
						sender := a.srv.Client(kryptogo.WithIdempotencyStore(store))
						if tc.heard {
							sender = a.heard(t, kryptogo.WithIdempotencyStore(store))
						}
						tc.fault(a.srv)
						if looker == nil {
							got, err := sender.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTaskKeyed("c5", "order-5")})
							require.NoError(t, err)
							require.Len(t, a.srv.Tasks(), 1, "found, not sent again")
							assert.Equal(t, a.srv.Tasks()[0].TaskID, got[0].TaskID)
							return
						}
						_, err := sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c5", "order-5"))
						require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
						findsTheOneTask(t, a, looker(t, a, sender, store), kycTaskKeyed("c5", "order-5"))
					})
				}
			}
		})
	}
}

// CreateOnce without keys, on a client that has heard no Date when its
// send's answer is lost, learns the API's clock from the lookup's first
// page and still finds the task.
func TestCreateOnceOfAFreshClientFindsATaskOfALaggingAPI(t *testing.T) {
	t.Parallel()
	a := newLaggingAPI(t)
	c := a.srv.Client()
	a.srv.DropNextResponse(http.MethodPost, "/task", 1)
	got, err := c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c6", "John Doe")})
	require.NoError(t, err)
	require.Len(t, a.srv.Tasks(), 1, "found, not sent again")
	assert.Equal(t, a.srv.Tasks()[0].TaskID, got[0].TaskID)
}

// FindCreated reads since by the API's clock, as the API dates its tasks
// and a key's record holds its send time (KeyRecord.SentAt): it took the
// client's lag off it again, and returned a task 20 minutes older than
// since as created since.
func TestFindCreatedReadsSinceByTheAPIClock(t *testing.T) {
	t.Parallel()
	a := newLaggingAPI(t)
	c := a.heard(t)
	old := a.olderTask(t, "c7", 20*time.Minute)
	since := time.Now().Add(-apiLag - time.Minute) // a minute ago by the API's clock
	recent, err := c.Tasks.CreateOne(testCtx(t), kycTask("c7", "John Doe"))
	require.NoError(t, err)

	found, err := c.Tasks.FindCreated(testCtx(t), kycTask("c7", "John Doe"), since)
	require.NoError(t, err)
	require.Len(t, found, 1, "not the task of 20 minutes before (%d)", old)
	assert.Equal(t, recent.TaskID, found[0].TaskID)

	found, err = c.Tasks.FindCreated(testCtx(t), kycTask("c7", "John Doe"), recent.Timestamp.Time)
	require.NoError(t, err)
	require.Len(t, found, 1, "a task dated since itself is found")
	assert.Equal(t, recent.TaskID, found[0].TaskID)
}

// A client that has heard no Date marked its key by its own clock, and
// moved the time to the API's only after the send's answer (or a question
// after it lost the answer). A process that died between its POST and
// that left the key's send time by its own clock, which a lookup takes as
// the API's: with the API's clock 50 minutes behind, the task the POST
// created was dated before the window, and the next process sent the
// request again (a second paid task). The client asks for the API's clock
// before the send, and the key holds the API's time before any POST.
func TestKeyOfAProcessThatDiedAfterItsPostHoldsTheAPIClock(t *testing.T) {
	t.Parallel()
	a, r := newLaggingAPI(t), newDeathRig(t)
	sender := a.srv.Client(kryptogo.WithIdempotencyStore(r.dying)) // it heard no Date
	dyingPost(a.srv, r.dying, r.cancel, nil)                       // after the API created the task, the sender's process dies
	_, err := sender.Tasks.CreateOne(r.ctx, kycTaskKeyed("c8", "order-8"))
	require.Error(t, err)
	a.srv.SetFaultFunc(nil)
	require.Eventually(t, func() bool { return len(a.srv.Tasks()) == 1 }, 10*time.Second, time.Millisecond, "the API created the task")
	rec, found, getErr := r.shared.Get(testCtx(t), "order-8")
	require.NoError(t, getErr)
	require.True(t, found)
	require.True(t, rec.InDoubt)
	assert.WithinDuration(t, time.Now().Add(-apiLag), rec.SentAt, 5*time.Second, "the send time is by the API's clock")
	nextProcessFindsOrSendsOnce(t, a, r, err, kycTaskKeyed("c8", "order-8"))
}
