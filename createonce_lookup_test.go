package kryptogo_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// scriptedHistory is an API whose POST /task creates nothing and answers
// 502 (a send in doubt, which a lookup must settle), and whose GET /tasks
// answers page n with pages(n).
type scriptedHistory struct {
	mu    sync.Mutex
	posts int
	pages func(n int) string
}

func (a *scriptedHistory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/task":
		a.posts++
		w.WriteHeader(http.StatusBadGateway)
	case r.Method == http.MethodGet && r.URL.Path == "/tasks":
		n, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
		_, _ = w.Write([]byte(a.pages(n)))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (a *scriptedHistory) postCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.posts
}

// An answer of the history the lookup cannot read with certainty leaves the
// send in doubt: nothing is sent again (it was taken as "not created", and
// the task sent again after ten seconds: a second paid task when the first
// existed).
func TestLookupTakesAnAnswerItCannotReadAsUnknown(t *testing.T) {
	t.Parallel()
	task := func(id int, fields string) string {
		return fmt.Sprintf(`{"task_id":%d,"customer_reference":"c1","progress":0%s}`, id, fields)
	}
	// Recent when the page is read: a parallel subtest may wait minutes
	// for its turn on a loaded machine.
	recent := func() string { return fmt.Sprintf(`,"creation_time":%d`, time.Now().Unix()) }
	other := `,"target":{"type":2,"name":"Other Ltd."}`
	for name, pages := range map[string]func(n int) string{
		"no data":                   func(int) string { return `{}` },
		"null data":                 func(int) string { return `{"data":null}` },
		"data not an array":         func(int) string { return `{"data":{}}` },
		"a task without a creation": func(int) string { return `{"data":[` + task(5, `,"target":{"type":1,"name":"Jane Roe"}`) + `]}` },
		"a recent task without a target": func(n int) string {
			if n > 1 {
				return `{"data":[]}`
			}
			return `{"data":[` + task(5, recent()) + `]}`
		},
		"a page that repeats": func(int) string { return `{"data":[` + task(5, recent()+other) + `]}` },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := &scriptedHistory{pages: pages}
			c := newSleeplessClient(t, a)
			_, err := c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe")})
			require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			assert.Equal(t, 1, a.postCount(), "nothing sent again")
		})
	}
}

// A name is matched by meaning: the API may store it decomposed (NFD) or
// change its case, and the task it created is still found, not paid for
// twice.
func TestLookupMatchesNamesByMeaning(t *testing.T) {
	t.Parallel()
	for name, stored := range map[string]string{
		"decomposed":        "Jose\u0301 Roe",
		"upper case, NFD":   "JOSE\u0301 ROE",
		"doubled spaces":    "José  Roe",
		"no-break space":    "José\u00a0Roe",
		"composed, folded":  "JOSÉ ROE",
		"full-width letter": "José Ｒoe",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := &histAPI{post: createdThen502, store: func(_ map[string]any, t *histTask) { t.Name = stored }}
			c := newHistClient(t, a)
			got, err := c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "José Roe")})
			require.NoError(t, err)
			posts, tasks := a.counts()
			assert.Equal(t, 1, posts, "found: no second POST")
			assert.Equal(t, 1, tasks)
			assert.Equal(t, kryptogo.ID(1001), got[0].TaskID)
		})
	}
}

// Other names still do not match.
func TestLookupTellsOtherNamesApart(t *testing.T) {
	t.Parallel()
	a := &histAPI{post: func(n int) (bool, int) {
		if n == 1 {
			return false, http.StatusBadGateway // nothing created: the lookup must not take another name's task
		}
		return true, http.StatusOK
	}}
	a.addOld(1, "c1", "Jose Roe", 0, false) // no accent: another name
	c := newHistClient(t, a)
	got, err := c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "José Roe")})
	require.NoError(t, err)
	posts, tasks := a.counts()
	assert.Equal(t, 2, posts, "not found: sent again")
	assert.Equal(t, 2, tasks)
	assert.Equal(t, kryptogo.ID(1002), got[0].TaskID)
}

// An API whose clock runs behind the client's dates its tasks before the
// send by the client's clock, beyond the two minutes the window allows: a
// send in doubt was not found, and sent again. The lookup reads the API's
// clock from its Date header and opens the window that much earlier.
func TestLookupFindsATaskOfAnAPIWhoseClockRunsBehind(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{-time.Hour, -10 * time.Minute, -3 * time.Minute, time.Minute, 10 * time.Minute} {
		for mode, callbackURL := range map[string]string{"exact": "https://example.com/cb", "by target": ""} {
			t.Run(fmt.Sprintf("%v/%s", skew, mode), func(t *testing.T) {
				t.Parallel()
				srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(),
					kryptogotest.WithClock(func() time.Time { return time.Now().Add(skew) }))
				c := srv.Client()
				srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
				_, err := c.Tasks.CreateOne(testCtx(t), keyedTask("order-1", callbackURL))
				require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
				got, err := c.Tasks.CreateOne(testCtx(t), keyedTask("order-1", callbackURL))
				require.NoError(t, err)
				require.Len(t, srv.Tasks(), 1, "found, not sent again")
				assert.Equal(t, srv.Tasks()[0].TaskID, got.TaskID)

				// CreateOnce looks its own send up in the same call.
				srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
				once, err := c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c2", "John Doe")})
				require.NoError(t, err)
				require.Len(t, srv.Tasks(), 2, "found, not sent again")
				assert.Equal(t, srv.Tasks()[1].TaskID, once[0].TaskID)
			})
		}
	}
}

// A key left in doubt by a process whose clock runs ahead of the API's is
// looked up by another whose clock agrees with the API: the send time the
// store holds is by the first's clock, so the second's window, opened from
// it, began after the task and missed it. A client records a send time by
// the API's clock as far as it knows it (the Date of its answers).
func TestLookupOfAKeyInDoubtSentByAClockAhead(t *testing.T) {
	t.Parallel()
	const ahead = 10 * time.Minute
	apiClock := func() time.Time { return time.Now().Add(-ahead) }
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(), kryptogotest.WithClock(apiClock))
	store := kryptogo.NewMemoryStore()
	sender := srv.Client(kryptogo.WithIdempotencyStore(store)) // by the real clock: ahead of the API's
	looker := srv.Client(kryptogo.WithIdempotencyStore(store))
	kryptogo.SetNowHook(looker, apiClock)
	_, err := sender.Tasks.CreateOne(testCtx(t), keyedTask("order-0", "")) // the sender has heard from the API
	require.NoError(t, err)

	srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
	_, err = sender.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c2", "order-1"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := looker.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c2", "order-1"))
	require.NoError(t, err)
	require.Len(t, srv.Tasks(), 2, "found, not sent again")
	assert.Equal(t, srv.Tasks()[1].TaskID, got.TaskID)
}

func kycTaskKeyed(ref, key string) kryptogo.CreateTaskRequest {
	req := kycTask(ref, "John Doe")
	req.IdempotencyKey = key
	return req
}

// A Date header far in the past (a caching proxy's, or a broken clock)
// must not open the lookup window so wide that an older task of the same
// customer and target, created without this key, passes for the send in
// doubt: the correction for the API's clock is bounded.
func TestLookupWindowIsNotOpenedByAStaleDate(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(),
		kryptogotest.WithClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	staleDate := kryptogo.WithMiddleware(func(req *http.Request, next kryptogo.MiddlewareNext) (*http.Response, error) {
		res, err := next(req)
		if res != nil {
			res.Header.Set("Date", time.Now().Add(-24*time.Hour).UTC().Format(http.TimeFormat))
		}
		return res, err
	})
	c := srv.Client(staleDate)

	offset.Store(int64(-3 * time.Hour))
	old, err := c.Tasks.CreateOne(testCtx(t), kycTask("c3", "John Doe")) // no key: nobody's
	require.NoError(t, err)
	offset.Store(0)

	srv.FailNextOnRequest(http.MethodPost, "/task", 1, http.StatusInternalServerError) // refused before creating
	_, err = c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c3", "order-3"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := c.Tasks.CreateOne(testCtx(t), kycTaskKeyed("c3", "order-3"))
	require.NoError(t, err)
	assert.NotEqual(t, old.TaskID, got.TaskID, "the task of three hours ago is not this key's")
	assert.Len(t, srv.Tasks(), 2)
}
