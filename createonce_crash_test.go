package kryptogo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// newStoreClock gives store a settable clock: a lease runs out when the
// test moves it.
func newStoreClock(store *kryptogo.MemoryStore) *fakeClock {
	c := &fakeClock{now: time.Now()}
	kryptogo.SetMemoryStoreClock(store, c.Now)
	return c
}

// crashable is a store a process uses until it crashes: from then on,
// every call fails, as the process is gone (its lease is never renewed or
// released).
type crashable struct {
	*flakyStore
}

func (s crashable) crash() {
	for _, m := range []string{"Claim", "MarkInDoubt", "Complete", "Release", "Get"} {
		s.failOn(m, fmt.Errorf("the process crashed"))
	}
}

// A call whose owner stops after the API created the task leaves its key
// held in doubt; once the lease runs out, a call from another client takes
// the key over, finds the task, and sends no second POST. With a callback
// URL the lookup is exact; without, by target.
func TestKeyCrashAfterSendIsResolvedByTheNextOwner(t *testing.T) {
	t.Parallel()
	for name, callbackURL := range map[string]string{"exact": "https://example.com/cb", "by target": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
			shared := kryptogo.NewMemoryStore()
			clock := newStoreClock(shared)
			dying := crashable{&flakyStore{MemoryStore: shared, fail: map[string]error{}, claims: map[string]int{}}}
			owner := srv.Client(kryptogo.WithIdempotencyStore(dying))
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			// The API creates the task; then the owner's process dies and
			// the connection with it.
			srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
				if r.Method == http.MethodPost {
					dying.crash()
					cancel()
					return kryptogotest.Fault{Drop: true, AfterHandling: true}
				}
				return kryptogotest.Fault{}
			})
			req := keyedTask("order-1", callbackURL)
			_, err := owner.Tasks.CreateOne(ctx, req)
			require.Error(t, err)
			srv.SetFaultFunc(nil)
			// The owner returned at its cancel; the fake may still be creating.
			require.Eventually(t, func() bool { return len(srv.Tasks()) == 1 }, 10*time.Second, time.Millisecond, "the API created the task")
			rec, _, err := shared.Get(testCtx(t), "order-1")
			require.NoError(t, err)
			require.True(t, rec.InDoubt && rec.Holder != "", "held in doubt by the dead owner: %+v", rec)

			next := srv.Client(kryptogo.WithIdempotencyStore(shared))
			busy, cancelBusy := context.WithTimeout(testCtx(t), 30*time.Millisecond)
			defer cancelBusy()
			_, err = next.Tasks.CreateOne(busy, req)
			require.ErrorIs(t, err, context.DeadlineExceeded, "the lease still holds: it waits")

			clock.set(clock.Now().Add(3 * time.Minute)) // past the owner's lease
			got, err := next.Tasks.CreateOne(testCtx(t), req)
			require.NoError(t, err)
			assert.Equal(t, srv.Tasks()[0].TaskID, got.TaskID)
			posts := 0
			for _, r := range srv.Requests() {
				if r.Method == http.MethodPost {
					posts++
				}
			}
			assert.Equal(t, 1, posts, "no second POST")
			rec, _, err = shared.Get(testCtx(t), "order-1")
			require.NoError(t, err)
			assert.True(t, rec.Done)
		})
	}
}

// A call cancelled after the API created the task releases its key in
// doubt at once (its store calls outlive its ctx): the next call needs no
// lease to run out.
func TestKeyCancelledCallReleasesItsKeyInDoubt(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 2, kryptogotest.WithManualCompletion())
	ctx, cancel := context.WithCancel(testCtx(t))
	r.srv.SetFaultFunc(func(req kryptogotest.Request) kryptogotest.Fault {
		if req.Method == http.MethodPost {
			cancel()
			return kryptogotest.Fault{Drop: true, AfterHandling: true}
		}
		return kryptogotest.Fault{}
	})
	req := keyedTask("order-1", "")
	_, err := r.clients[0].Tasks.CreateOne(ctx, req)
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	r.srv.SetFaultFunc(nil)
	// The call returned at its cancel; the fake may still be creating.
	require.Eventually(t, func() bool { return len(r.srv.Tasks()) == 1 }, 10*time.Second, time.Millisecond, "the API created the task")
	rec, _, err := r.store.Get(testCtx(t), "order-1")
	require.NoError(t, err)
	assert.True(t, rec.InDoubt && rec.Holder == "", "released in doubt: %+v", rec)

	got, err := r.clients[1].Tasks.CreateOne(testCtx(t), req)
	require.NoError(t, err)
	assert.Equal(t, r.srv.Tasks()[0].TaskID, got.TaskID)
	assert.Equal(t, 1, r.posts("/task"))
}

// holdingAPI answers POST /task only once released, and GET /tasks with
// an empty history.
type holdingAPI struct {
	posts   atomic.Int32
	arrived chan struct{}
	release chan struct{}
}

func (a *holdingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost:
		if a.posts.Add(1) == 1 {
			close(a.arrived)
		}
		<-a.release
		_, _ = fmt.Fprintf(w, `[{"task_id":%d,"timestamp":1764669600}]`, 76+a.posts.Load())
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{}})
	}
}

// A call longer than a lease keeps its key, renewed: another caller that
// comes meanwhile waits for its result instead of taking the key over and
// sending again.
func TestKeyLeaseIsRenewedWhileTheCallRuns(t *testing.T) {
	t.Parallel()
	api := &holdingAPI{arrived: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-api.release:
		default:
			close(api.release)
		}
	})
	store := newFlakyStore()
	clock := newStoreClock(store.MemoryStore)
	newClient := func() *kryptogo.Client {
		c, err := kryptogo.NewClient("test-key-123456", kryptogo.WithBaseURL(srv.URL), kryptogo.WithIdempotencyStore(store),
			kryptogo.WithReconcileWait(0), kryptogo.WithPollInterval(time.Millisecond, 5*time.Millisecond))
		require.NoError(t, err)
		// Renewed every 100 ms; a send is cut when no renewal confirmed
		// the lease for 270 ms of real time (a loaded machine stalls less).
		kryptogo.SetKeyLease(c, 300*time.Millisecond)
		return c
	}
	owner, other := newClient(), newClient()
	req := keyedTask("order-1", "")
	done := make(chan *kryptogo.CreatedTask, 1)
	go func() {
		got, err := owner.Tasks.CreateOne(testCtx(t), req)
		assert.NoError(t, err)
		done <- got
	}()
	<-api.arrived
	// Past the first lease four times over, each step after a renewal.
	for range 4 {
		renewals := store.totalClaims()
		clock.set(clock.Now().Add(200 * time.Millisecond))
		require.Eventually(t, func() bool { return store.totalClaims() > renewals }, 10*time.Second, time.Millisecond, "renewed")
	}
	waiting := make(chan *kryptogo.CreatedTask, 1)
	go func() {
		got, err := other.Tasks.CreateOne(testCtx(t), req)
		assert.NoError(t, err)
		waiting <- got
	}()
	require.Eventually(t, func() bool { return store.claimants() == 2 }, 10*time.Second, time.Millisecond, "the other caller came")
	close(api.release)
	first, second := <-done, <-waiting
	assert.Equal(t, kryptogo.ID(77), first.TaskID)
	assert.Equal(t, first.TaskID, second.TaskID, "the owner's result")
	assert.Equal(t, int32(1), api.posts.Load(), "one POST")
}

func (s *flakyStore) totalClaims() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.claims {
		n += c
	}
	return n
}

func (s *flakyStore) claimants() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.claims)
}

// Matched by target, a task another key created is that key's: a key in
// doubt whose request was lost does not take it, in any process sharing
// the store, and sends its own.
func TestKeyLookupByTargetLeavesAnotherKeysTask(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 2, kryptogotest.WithManualCompletion())
	done, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", ""))
	require.NoError(t, err)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	_, err = r.clients[1].Tasks.CreateOne(testCtx(t), keyedTask("order-2", ""))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := r.clients[1].Tasks.CreateOne(testCtx(t), keyedTask("order-2", ""))
	require.NoError(t, err)
	assert.NotEqual(t, done.TaskID, got.TaskID, "its own task, not order-1's")
	assert.Len(t, r.srv.Tasks(), 2)
}
