package kryptogo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

func TestForgedCallbackFloodCostsBoundedRequestsAndNeverPausesTheApp(t *testing.T) {
	t.Parallel()
	const n = 1000
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
