package kryptogo

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests of issue 15, row 5: forged callbacks to a handler with
// Confirm spent the app's key (one API request each, three while the API
// answered 503), drained the app's retry budget, and a confirmation that met
// a 429 paused the app's own calls.

// testClock is a clock a test moves by hand, for the client's now hook.
type testClock struct{ nanos atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.nanos.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) now() time.Time { return time.Unix(0, c.nanos.Load()) }

// advanceTo moves the clock forward to t; never back.
func (c *testClock) advanceTo(t time.Time) {
	for {
		cur := c.nanos.Load()
		if t.UnixNano() <= cur || c.nanos.CompareAndSwap(cur, t.UnixNano()) {
			return
		}
	}
}

// levelCounter is a slog handler that counts records per level.
type levelCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	msgs   map[string]int
}

func newLevelCounter() *levelCounter {
	return &levelCounter{counts: map[slog.Level]int{}, msgs: map[string]int{}}
}

func (l *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *levelCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[r.Level]++
	l.msgs[r.Level.String()+" "+r.Message]++
	return nil
}
func (l *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levelCounter) WithGroup(string) slog.Handler      { return l }

func (l *levelCounter) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[level]
}

// floodAPI is a fake API that counts requests: confirmations (GET of a
// task summary or an IDV task) get the answer the test sets, the app's
// screenings (POST /kya) succeed.
type floodAPI struct {
	confirms atomic.Int32
	appPosts atomic.Int32
}

// newFloodAPI serves the fake and returns a client of it whose clock is clock.
func newFloodAPI(t *testing.T, clock *testClock, confirmStatus int, retryAfter string) (*Client, *floodAPI) {
	t.Helper()
	client, mux := setup(t)
	client.now = clock.now
	api := &floodAPI{}
	confirm := func(w http.ResponseWriter, _ *http.Request) {
		api.confirms.Add(1)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, `{"message":"no"}`, confirmStatus)
	}
	mux.HandleFunc("GET /task/{id}/summary", confirm)
	mux.HandleFunc("GET /idv/{id}", confirm)
	mux.HandleFunc("POST /kya", func(w http.ResponseWriter, _ *http.Request) {
		api.appPosts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1,"address":"0x0000000000000000000000000000000000000001","chain":"eth"}`))
	})
	return client, api
}

// floodResult is what a flood of forged callbacks met.
type floodResult struct {
	statuses      map[int]int
	noRetryAfter  int // 503 answers without a Retry-After
	appErrs       []error
	appCalls      int
	handlerWarns  int
	handlerDebugs int
}

// flood sends n forged callbacks to h over a real socket within one second
// of clock's time (callback i at i/n s), from 32 senders at once, and an
// app screening every 50th callback on h.Confirm. url builds the callback
// URL of the handler's address; body the body of callback i.
func flood(t *testing.T, h *CallbackHandler, clock *testClock, n int, url func(base string) string, body func(i int) string) floodResult {
	t.Helper()
	logs := newLevelCounter()
	h.Logger = slog.New(logs)
	return floodServe(t, h, h.Confirm, logs, clock, n, url, body)
}

// floodServe is flood for any handler of callbacks: app is the client of
// the app's own calls, logs the handler's log.
func floodServe(t *testing.T, h http.Handler, appClient *Client, logs *levelCounter, clock *testClock, n int, url func(base string) string, body func(i int) string) floodResult {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	target := url(srv.URL)
	start := clock.now()

	var mu sync.Mutex
	res := floodResult{statuses: map[int]int{}}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				clock.advanceTo(start.Add(time.Duration(i) * time.Second / time.Duration(n)))
				resp, ok := sendCallback(t, srv.Client(), target, body(i))
				if !ok {
					return
				}
				var appErr error
				app := i%50 == 25
				if app {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, appErr = appClient.KYA.Create(ctx, &CreateKYARequest{Address: "0x0000000000000000000000000000000000000001"})
					cancel()
				}
				mu.Lock()
				res.statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					res.noRetryAfter++
				}
				if app {
					res.appCalls++
					if appErr != nil {
						res.appErrs = append(res.appErrs, appErr)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.handlerWarns, res.handlerDebugs = logs.count(slog.LevelWarn), logs.count(slog.LevelDebug)
	return res
}

// floodBudget is the most API requests 1,000 forged callbacks in one second
// may cost a handler with the default settings (issue 15).
const floodBudget = 20

// floodSize is how many forged callbacks a flood sends in its second:
// 1,000 with -stress (.ci/run), 250 in a plain go test (still over ten
// times the budget, so a handler that confirmed each one fails).
func floodSize() int {
	if *stress {
		return 1000
	}
	return 250
}

func TestForgedCallbackFloodCostsBoundedRequestsAndNeverPausesTheApp(t *testing.T) {
	t.Parallel()
	n := floodSize()
	signer := newSigner(t, secretA)
	apis := []struct {
		name       string
		status     int
		retryAfter string
	}{
		{"API answers 429 Retry-After 30", http.StatusTooManyRequests, "30"},
		{"API answers 503", http.StatusServiceUnavailable, ""},
		{"API does not know the ids", http.StatusNotFound, ""},
	}
	senders := []struct {
		name    string
		handler func(c *Client) *CallbackHandler
		url     func(t *testing.T, base string) string
	}{
		{"confirm without signer", func(c *Client) *CallbackHandler { return &CallbackHandler{Confirm: c} },
			func(_ *testing.T, base string) string { return base + "/cb" }},
		{"leaked signed URL", func(c *Client) *CallbackHandler { return &CallbackHandler{Signer: signer, Confirm: c} },
			func(t *testing.T, base string) string {
				return signFor(t, signer, base+"/cb?plan=gold", "c42").String()
			}},
	}
	for _, api := range apis {
		for _, sender := range senders {
			// One at a time: each sends 1,000 requests over loopback, and
			// the package's timing-sensitive tests share the machine.
			t.Run(api.name+"/"+sender.name, func(t *testing.T) {
				clock := newTestClock()
				client, counts := newFloodAPI(t, clock, api.status, api.retryAfter)
				h := sender.handler(client)
				res := flood(t, h, clock, n, func(base string) string { return sender.url(t, base) }, func(i int) string {
					if i%2 == 0 {
						return fmt.Sprintf(`{"task_id": %d, "customer_reference": "c42"}`, 100000+i)
					}
					return fmt.Sprintf(`{"idv_task_id": %d, "customer_reference": "c42"}`, 100000+i)
				})
				t.Logf("API requests for %d forged callbacks: %d; answers %v; app calls %d, failed %d; handler warn records %d",
					n, counts.confirms.Load(), res.statuses, res.appCalls, len(res.appErrs), res.handlerWarns)

				assert.LessOrEqual(t, int(counts.confirms.Load()), floodBudget, "API requests spent by forged callbacks")
				assert.Empty(t, res.appErrs, "the app's own calls during the flood")
				assert.Equal(t, res.appCalls, int(counts.appPosts.Load()), "every app call reached the API, once")
				assert.Equal(t, DefaultRetryBudget, client.flow.budget.tokens, "the app's retry budget is untouched")
				assert.True(t, client.flow.gate.end().IsZero(), "the app's calls were never paused")
				assert.Zero(t, res.noRetryAfter, "every 503 carries a Retry-After")
				assert.Equal(t, n, sum(res.statuses), "every callback was answered")
				// One record per confirmation that met the API, plus at most
				// one summary of the refused ones per second.
				assert.LessOrEqual(t, res.handlerWarns, floodBudget+2, "warn records")
			})
		}
	}
}

// sendCallback POSTs a callback body to url over the network, as a sender
// would, and returns the answer (its body closed); false when it failed.
func sendCallback(t *testing.T, client *http.Client, url, body string) (*http.Response, bool) {
	req, err := NewSignedCallbackRequest(nil, url, "", []byte(body))
	if !assert.NoError(t, err) {
		return nil, false
	}
	resp, err := client.Do(req)
	if !assert.NoError(t, err) {
		return nil, false
	}
	_ = resp.Body.Close()
	return resp, true
}

// serveTaskCallback hands h a callback about task id, in process.
func serveTaskCallback(t *testing.T, h http.Handler, id int) *http.Response {
	req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(fmt.Sprintf(`{"task_id": %d}`, id)))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func sum(m map[int]int) int {
	total := 0
	for _, v := range m {
		total += v
	}
	return total
}

// A 429 met while confirming pauses confirmations (503 with the rest of the
// pause as Retry-After, no request) and nothing else.
func TestConfirmation429PausesConfirmationsOnly(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusTooManyRequests, "30")
	h := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	post := func(id int) *http.Response { return serveTaskCallback(t, h, id) }
	first := post(1)
	assert.Equal(t, http.StatusServiceUnavailable, first.StatusCode)
	assert.Equal(t, "30", first.Header.Get("Retry-After"), "the API's Retry-After is passed on")
	clock.advanceTo(clock.now().Add(10 * time.Second))
	paused := post(2)
	assert.Equal(t, http.StatusServiceUnavailable, paused.StatusCode)
	assert.Equal(t, "20", paused.Header.Get("Retry-After"), "the rest of the pause")
	assert.Equal(t, int32(1), counts.confirms.Load(), "nothing sent during the pause")

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := client.KYA.Create(ctx, &CreateKYARequest{Address: "0x0000000000000000000000000000000000000001"})
	require.NoError(t, err, "the app's call is not paused")
	assert.Equal(t, int32(1), counts.appPosts.Load())

	clock.advanceTo(clock.now().Add(21 * time.Second))
	assert.Equal(t, http.StatusServiceUnavailable, post(3).StatusCode)
	assert.Equal(t, int32(2), counts.confirms.Load(), "after the pause, confirmations are sent again")
	assert.False(t, strings.Contains(fmt.Sprint(client), testKey))
}

// Attacks on "callbacks cannot spend the app's key" (issue 15, What to
// build 4), after the confirmations were bounded.

// The bound holds for the key, not for one handler value: an app that
// builds its handler per callback (inside a closure, a framework adapter)
// or serves two handlers on one client still spends at most the budget.
func TestForgedCallbackFloodIsBoundedWhateverTheHandlerValues(t *testing.T) {
	t.Parallel()
	n := floodSize()
	setups := []struct {
		name    string
		handler func(c *Client, log *slog.Logger) http.Handler
	}{
		{"a handler built per callback", func(c *Client, log *slog.Logger) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				(&CallbackHandler{Confirm: c, Logger: log}).ServeHTTP(w, r)
			})
		}},
		{"two handlers of one client", func(c *Client, log *slog.Logger) http.Handler {
			handlers := []*CallbackHandler{{Confirm: c, Logger: log}, {Confirm: c, Logger: log}}
			var next atomic.Int32
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The attacker alternates between the app's two endpoints.
				handlers[next.Add(1)%2].ServeHTTP(w, r)
			})
		}},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			clock := newTestClock()
			client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
			logs := newLevelCounter()
			h := setup.handler(client, slog.New(logs))
			res := floodServe(t, h, client, logs, clock, n, func(base string) string { return base + "/cb" }, func(i int) string {
				return fmt.Sprintf(`{"task_id": %d}`, 100000+i)
			})
			assert.LessOrEqual(t, int(counts.confirms.Load()), floodBudget, "API requests spent by forged callbacks")
			assert.Empty(t, res.appErrs)
			assert.Equal(t, n, sum(res.statuses), "every callback was answered")
			assert.Equal(t, DefaultRetryBudget, client.flow.budget.tokens, "the app's retry budget is untouched")
			assert.True(t, client.flow.gate.end().IsZero(), "the app's calls were never paused")
			assert.Zero(t, confirmRecords(client), "no record is left in flight once every callback was answered")
		})
	}
}

// A 429 is about the key: met by one handler's confirmation, it holds the
// confirmations of every handler of the client.
func TestConfirmation429PausesTheConfirmationsOfEveryHandlerOfTheClient(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusTooManyRequests, "30")
	tasks := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	idvs := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	assert.Equal(t, http.StatusServiceUnavailable, serveTaskCallback(t, tasks, 1).StatusCode)
	require.Equal(t, int32(1), counts.confirms.Load())

	resp := serveTaskCallback(t, idvs, 2)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	assert.Equal(t, int32(1), counts.confirms.Load(), "the other handler sends nothing during the pause")
}

// The Retry-After a 503 passes on is when the confirmations resume: an
// API's Retry-After longer than the pause they take (a minute at most) is
// not passed on, or a sender that obeys it would hold legitimate callbacks
// for a day.
func TestConfirmRetryAfterPassedOnIsThePause(t *testing.T) {
	t.Parallel()
	for _, api := range []struct {
		name   string
		status int
	}{{"429", http.StatusTooManyRequests}, {"503", http.StatusServiceUnavailable}} {
		t.Run(api.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			client, counts := newFloodAPI(t, clock, api.status, "86400")
			h := &CallbackHandler{Confirm: client, Logger: discardLogger()}
			first := serveTaskCallback(t, h, 1)
			assert.Equal(t, http.StatusServiceUnavailable, first.StatusCode)
			assert.Equal(t, "60", first.Header.Get("Retry-After"), "no longer than the SDK's longest pause")
			clock.advanceTo(clock.now().Add(61 * time.Second))
			assert.Equal(t, http.StatusServiceUnavailable, serveTaskCallback(t, h, 2).StatusCode)
			assert.Equal(t, int32(2), counts.confirms.Load(), "confirmations resume when the 503 said")
		})
	}
}

// confirmRecords returns how many records the client's confirmations hold.
func confirmRecords(c *Client) int {
	c.confirms.mu.Lock()
	defer c.confirms.mu.Unlock()
	n := 0
	for _, cf := range c.confirms.byLimits {
		cf.mu.Lock()
		n += len(cf.records)
		cf.mu.Unlock()
	}
	return n
}

// A callback that shares a confirmation with others and gives up (its
// sender hangs up) does not end the request the others wait for.
func TestSharedConfirmationOutlivesAWaiterThatGivesUp(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	gets, release := holdFirstSummary(mux, `{"task_id": 77, "progress": 100}`)
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error { return nil }}
	serve := func(ctx context.Context) <-chan int {
		done := make(chan int, 1)
		go func() {
			req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 77}`))
			if !assert.NoError(t, err) {
				done <- 0
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.WithContext(ctx))
			done <- rec.Code
		}()
		return done
	}
	first := serve(t.Context()) // its request is held
	require.Eventually(t, func() bool { return gets.Load() == 1 }, 30*time.Second, time.Millisecond)
	quitter, quit := context.WithCancel(t.Context())
	gaveUp := serve(quitter) // it starts the next request, and the next callback shares it
	require.Eventually(t, func() bool { return h.confirmsWaiting() == 1 }, 30*time.Second, time.Millisecond)
	stayed := serve(t.Context())
	require.Eventually(t, func() bool { return h.confirmsWaiting() == 2 }, 30*time.Second, time.Millisecond)
	quit()
	assert.Equal(t, http.StatusServiceUnavailable, <-gaveUp)
	close(release)
	assert.Equal(t, http.StatusNoContent, <-first)
	assert.Equal(t, http.StatusNoContent, <-stayed, "the shared request went on without the waiter that gave up")
	assert.Equal(t, int32(2), gets.Load())
}

// Extreme settings neither overflow the bucket nor the Retry-After: an
// infinite rate or the largest burst are the app's to choose, and a
// refusal still says when to come back.
func TestConfirmLimitsAtTheExtremes(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	for _, limits := range []confirmLimits{
		newConfirmLimits(math.Inf(1), 1),
		newConfirmLimits(math.MaxFloat64, 1),
		newConfirmLimits(math.SmallestNonzeroFloat64, 1),
		newConfirmLimits(1, math.MaxInt),
	} {
		t.Run(fmt.Sprintf("%g/%d", limits.rate, limits.burst), func(t *testing.T) {
			b := tokenBucket{rate: limits.rate, burst: float64(limits.burst)}
			_, ok := b.take(start)
			require.True(t, ok, "the first confirmation goes")
			for range 3 {
				if wait, ok := b.take(start); !ok {
					assert.GreaterOrEqual(t, wait, time.Duration(0))
					assert.LessOrEqual(t, wait, time.Hour)
					n, err := strconv.Atoi(retryAfterHeader(wait))
					require.NoError(t, err)
					assert.True(t, n >= 1 && n <= 3600, "Retry-After %d", n)
				}
			}
			_, ok = b.take(start.Add(time.Nanosecond))
			assert.Equal(t, limits.rate >= 1e9 || limits.burst > 3, ok, "a token comes back at the rate")
		})
	}
}

// The rate cap is the handler's to set: one confirmation a second with a
// burst of two lets at most three of 100 forged callbacks in one second
// through.
func TestConfirmRateIsSettable(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	h := &CallbackHandler{Confirm: client, ConfirmRate: 1, ConfirmBurst: 2}
	res := flood(t, h, clock, 100, func(base string) string { return base + "/cb" },
		func(i int) string { return fmt.Sprintf(`{"task_id": %d}`, 100000+i) })
	assert.LessOrEqual(t, int(counts.confirms.Load()), 3)
	assert.GreaterOrEqual(t, int(counts.confirms.Load()), 2, "the burst goes through")
	assert.Equal(t, int(counts.confirms.Load()), res.statuses[http.StatusUnprocessableEntity])
	assert.Equal(t, 100-int(counts.confirms.Load()), res.statuses[http.StatusServiceUnavailable], "the overflow is answered 503")
	assert.Zero(t, res.noRetryAfter)
	assert.Equal(t, 100, res.handlerDebugs+res.handlerWarns-overflowSummaries(res), "one record per callback")
}

// overflowSummaries is the number of warn records that are not one
// callback's: at most one summary of the refused callbacks per second.
func overflowSummaries(res floodResult) int {
	return res.handlerWarns - res.statuses[http.StatusUnprocessableEntity]
}

// The 503 of an overflow says when to come back; nothing is sent, and the
// refusals are summarised at warn at most once a second, each one logged at
// debug.
func TestConfirmOverflowAnswers503WithRetryAfterAndLogsOnceASecond(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	logs := newLevelCounter()
	h := &CallbackHandler{Confirm: client, ConfirmRate: 1, ConfirmBurst: 1, Logger: slog.New(logs)}
	post := func(id int) *http.Response { return serveTaskCallback(t, h, id) }
	assert.Equal(t, http.StatusUnprocessableEntity, post(1).StatusCode, "the burst")
	for id := 2; id <= 50; id++ {
		resp := post(id)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), "the next confirmation is due in a second")
	}
	assert.Equal(t, int32(1), counts.confirms.Load(), "no request for the overflow")
	warns := func() int {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		return logs.msgs["WARN kryptogo callback confirmations refused"]
	}
	assert.Equal(t, 1, warns(), "one summary for the refusals of the second")
	clock.advanceTo(clock.now().Add(1100 * time.Millisecond))
	assert.Equal(t, http.StatusUnprocessableEntity, post(51).StatusCode, "a token came back")
	assert.Equal(t, http.StatusServiceUnavailable, post(52).StatusCode)
	assert.Equal(t, 2, warns(), "the next second's summary")
	assert.Equal(t, 49+1, logs.msgs["DEBUG kryptogo callback"], "each refusal at debug")
}

// Callbacks of one record that arrive while its confirmation is in flight
// share the next one: a burst of any size costs at most two requests, and
// each callback is confirmed by a request sent after it arrived.
func TestConcurrentConfirmationsOfOneRecordShareARequest(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	gets, release := holdFirstSummary(mux, `{"task_id": 77, "progress": 100}`)
	var delivered atomic.Int32
	tasks := make(chan *TaskSummary, 64)
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(_ context.Context, task *TaskSummary) error {
		delivered.Add(1)
		// What another callback's function does to its record (run with
		// -race) is not seen here, and this one's changes reach no other.
		assert.Equal(t, ID(77), task.TaskID)
		assert.JSONEq(t, `{"task_id": 77, "progress": 100}`, string(task.RawJSON()))
		raw := task.RawJSON()
		for i := range raw {
			raw[i] = ' '
		}
		task.TaskID, task.Progress = 1, 1
		tasks <- task
		return nil
	}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const n = 40
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, ok := sendCallback(t, srv.Client(), srv.URL+"/cb", `{"task_id": 77}`); ok {
				statuses <- resp.StatusCode
			}
		}()
	}
	// Release the first request once every other callback waits for the
	// next one (or, without sharing, once the API saw them all).
	require.Eventually(t, func() bool {
		return gets.Load() >= n || h.confirmsWaiting() == n-1
	}, 30*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Equal(t, http.StatusNoContent, s)
	}
	assert.Equal(t, int32(2), gets.Load(), "one request in flight, one shared by the callbacks that came during it")
	assert.Equal(t, int32(n), delivered.Load())
	close(tasks)
	seen := map[*TaskSummary]bool{}
	for task := range tasks {
		assert.False(t, seen[task], "each callback gets its own copy of the record")
		seen[task] = true
	}
}

// confirmsWaiting returns how many callbacks wait for a confirmation that
// was not sent yet.
func (h *CallbackHandler) confirmsWaiting() int {
	c := h.confirmer()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.records {
		if r.next != nil {
			n += r.next.waiting
		}
	}
	return n
}

// While the app's own calls are paused by a 429, confirmations hold back
// too: the key is rate limited, and callbacks must not spend it.
func TestConfirmationsHoldBackWhileTheAppIsPaused(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	client, counts := newFloodAPI(t, clock, http.StatusNotFound, "")
	client.flow.gate.extend(clock.now().Add(10 * time.Second))
	h := &CallbackHandler{Confirm: client, Logger: discardLogger()}
	resp := serveTaskCallback(t, h, 1)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "10", resp.Header.Get("Retry-After"))
	assert.Zero(t, counts.confirms.Load())
	clock.advanceTo(clock.now().Add(10 * time.Second))
	assert.Equal(t, http.StatusUnprocessableEntity, serveTaskCallback(t, h, 1).StatusCode, "after the pause")
	assert.Equal(t, int32(1), counts.confirms.Load())
}

func TestConfirmTokenBucket(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	t.Run("burst, then the rate", func(t *testing.T) {
		b := tokenBucket{rate: 2, burst: 3}
		for i := range 3 {
			_, ok := b.take(start)
			assert.True(t, ok, "token %d of the burst", i)
		}
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Equal(t, 500*time.Millisecond, wait)
		_, ok = b.take(start.Add(500 * time.Millisecond))
		assert.True(t, ok, "one token comes back every 1/rate")
		_, ok = b.take(start.Add(500 * time.Millisecond))
		assert.False(t, ok)
	})
	t.Run("a clock that goes back refills nothing", func(t *testing.T) {
		b := tokenBucket{rate: 1, burst: 1}
		_, ok := b.take(start)
		require.True(t, ok)
		_, ok = b.take(start.Add(-time.Hour))
		assert.False(t, ok)
		_, ok = b.take(start.Add(999 * time.Millisecond))
		assert.False(t, ok, "time is measured from the latest reading")
	})
	t.Run("a token almost due still asks for a wait", func(t *testing.T) {
		// Refills in steps of the client's clock leave fractions: a bucket
		// one ten-billionth of a token short must not answer a zero wait,
		// which would send a 503 without Retry-After.
		b := tokenBucket{rate: 5, burst: 1, tokens: 1 - 1e-12, last: start}
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Positive(t, wait)
	})
	t.Run("a tiny rate asks for an hour at most", func(t *testing.T) {
		b := tokenBucket{rate: 1e-300, burst: 1}
		_, _ = b.take(start)
		wait, ok := b.take(start)
		assert.False(t, ok)
		assert.Equal(t, time.Hour, wait)
		assert.Equal(t, "3600", retryAfterHeader(wait))
	})
	t.Run("defaults", func(t *testing.T) {
		for _, rate := range []float64{0, -1, math.NaN()} {
			assert.Equal(t, confirmLimits{rate: DefaultConfirmRate, burst: DefaultConfirmBurst}, newConfirmLimits(rate, -5))
		}
	})
}

// A bucket a hair under one token asked the sender to wait less than a
// nanosecond: the refusal's wait was 0, and the handler answered 503
// without a Retry-After (seen once in the forged-callback flood, where 32
// senders move the clock). A refused callback is always told when to come
// back: at least a second.
func TestRefusalWithATinyWaitCarriesRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	b := tokenBucket{rate: DefaultConfirmRate, burst: DefaultConfirmBurst, tokens: 1 - 1e-12, last: now}
	wait, ok := b.take(now)
	require.False(t, ok)
	assert.Positive(t, wait, "a refusal's wait")

	client := offlineClient(t) // the refusal sends nothing
	client.now = func() time.Time { return now }
	h := &CallbackHandler{Confirm: client}
	confirms := h.confirmer()
	confirms.mu.Lock()
	confirms.bucket = tokenBucket{rate: DefaultConfirmRate, burst: DefaultConfirmBurst, tokens: 1 - 1e-12, last: now}
	confirms.mu.Unlock()
	resp := serveTaskCallback(t, h, 7)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
}

// The callbacks that shared a confirmation each get a record of their own:
// the last to take it gets the flight's record, once the others' copies are
// made, so that a function changing its record (run with -race) changes no
// other callback's.
func TestConfirmTakeHandsTheRecordOnceAfterTheCopies(t *testing.T) {
	t.Parallel()
	const n = 8
	task, err := ParseTaskCallback([]byte(`{"task_id": 77, "progress": 100}`))
	require.NoError(t, err)
	record := &CallbackEvent{Kind: CallbackTask, Task: task}
	c := &confirmer{}
	f := &confirmFlight{waiting: n, record: record}
	got := make(chan *CallbackEvent, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			e, err := c.take(f)
			if !assert.NoError(t, err) {
				return
			}
			assert.Equal(t, ID(77), e.Task.TaskID)
			assert.JSONEq(t, `{"task_id": 77, "progress": 100}`, string(e.Task.RawJSON()))
			raw := e.Task.RawJSON() // the function changes its record
			for i := range raw {
				raw[i] = ' '
			}
			*e.Task = TaskSummary{}
			got <- e
		}()
	}
	close(start)
	wg.Wait()
	close(got)
	seen, originals := map[*TaskSummary]bool{}, 0
	for e := range got {
		assert.False(t, seen[e.Task], "each its own")
		seen[e.Task] = true
		if e == record {
			originals++
		}
	}
	assert.Len(t, seen, n)
	assert.Equal(t, 1, originals, "the flight's record goes to one callback")
}

// A confirmation that panics (a Middleware's bug) in the callback that
// sends it, whose server recovers the panic (net/http does), leaves the
// record's confirmations usable: the next callback about it is confirmed
// instead of waiting forever for the flight that panicked.
func TestConfirmAfterAPanicInTheLeadCallback(t *testing.T) {
	t.Parallel()
	var panicked atomic.Bool
	client, mux := setup(t, WithMiddleware(func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		if panicked.CompareAndSwap(false, true) {
			panic("middleware bug")
		}
		return next(req)
	}))
	mux.HandleFunc("GET /task/{id}/summary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 9, "progress": 100}`))
	})
	var delivered atomic.Int32
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error {
		delivered.Add(1)
		return nil
	}}
	serve := func() int {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 9}`))
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		func() {
			defer func() { _ = recover() }() // as net/http's server does
			h.ServeHTTP(rec, req.WithContext(ctx))
		}()
		return rec.Code
	}
	serve()
	require.True(t, panicked.Load())
	assert.Equal(t, http.StatusNoContent, serve(), "the next callback is confirmed and delivered")
	assert.Equal(t, int32(1), delivered.Load())
}

// A confirmation that panics (a Middleware's bug) on the goroutine that
// sends a shared request, for callbacks that came while another request of
// the record was in flight, does not crash the process: no server recovers
// a panic there. The panic reaches a callback that waited for the request,
// whose server recovers it, as the lead callback's does; the others get a
// 503; and the record's next callback is confirmed.
func TestConfirmAfterAPanicInASharedConfirmation(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	client, mux := setup(t, WithMiddleware(func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		if requests.Add(1) == 2 {
			panic("middleware bug")
		}
		return next(req)
	}))
	gets, release := holdFirstSummary(mux, `{"task_id": 9, "progress": 100}`)
	var delivered atomic.Int32
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(), OnTask: func(context.Context, *TaskSummary) error {
		delivered.Add(1)
		return nil
	}}
	type answer struct {
		code      int
		recovered any
	}
	serve := func() <-chan answer {
		done := make(chan answer, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 9}`))
			if !assert.NoError(t, err) {
				done <- answer{}
				return
			}
			rec := httptest.NewRecorder()
			var a answer
			func() {
				defer func() { a.recovered = recover() }() // as net/http's server does
				h.ServeHTTP(rec, req.WithContext(ctx))
			}()
			a.code = rec.Code
			done <- a
		}()
		return done
	}
	first := serve() // its request is held
	require.Eventually(t, func() bool { return gets.Load() == 1 }, 30*time.Second, time.Millisecond)
	waiters := []<-chan answer{serve(), serve()} // they share the next request, which panics
	require.Eventually(t, func() bool { return h.confirmsWaiting() == 2 }, 30*time.Second, time.Millisecond)
	close(release)
	assert.Equal(t, answer{code: http.StatusNoContent}, <-first)
	var panics, unavailable int
	for _, w := range waiters {
		switch a := <-w; {
		case a.recovered != nil:
			assert.Equal(t, "middleware bug", a.recovered)
			panics++
		case a.code == http.StatusServiceUnavailable:
			unavailable++
		}
	}
	assert.Equal(t, 1, panics, "the panic reaches one waiting callback's server")
	assert.Equal(t, 1, unavailable)
	assert.Equal(t, answer{code: http.StatusNoContent}, <-serve(), "the next callback is confirmed and delivered")
	assert.Equal(t, int32(2), delivered.Load())
	assert.Zero(t, confirmRecords(client))
}

// holdFirstSummary serves record for every task summary, the first one
// once release is closed (or its request ends); gets counts the requests.
func holdFirstSummary(mux *http.ServeMux, record string) (gets *atomic.Int32, release chan struct{}) {
	gets, release = new(atomic.Int32), make(chan struct{})
	mux.HandleFunc("GET /task/{id}/summary", func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(record))
	})
	return gets, release
}
