package kryptogo

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Attacks on "callbacks cannot spend the app's key" (issue 15, What to
// build 4), after the confirmations were bounded.

// The bound holds for the key, not for one handler value: an app that
// builds its handler per callback (inside a closure, a framework adapter)
// or serves two handlers on one client still spends at most the budget.
func TestForgedCallbackFloodIsBoundedWhateverTheHandlerValues(t *testing.T) {
	t.Parallel()
	const n = 1000
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
