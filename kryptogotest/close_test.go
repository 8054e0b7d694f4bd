package kryptogotest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// Close must not race with a delivery that a completion timer starts while
// Close waits (go test -race -count=20 reproduced it on every run), and no
// callback may reach a receiver after Close returned.
func TestCloseStopsDeliveriesThatStartWhileItWaits(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	var afterClose, received atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		if closed.Load() {
			afterClose.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	for round := 0; round < 20; round++ {
		closed.Store(false)
		// Every task completes within a few milliseconds of being created,
		// so timers fire and queue callbacks while Close runs.
		srv := NewServer(WithCompletionDelay(time.Duration(round%4) * time.Millisecond))
		client := srv.Client()
		reqs := make([]kryptogo.CreateTaskRequest, 20)
		for i := range reqs {
			reqs[i] = kryptogo.CreateTaskRequest{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme"),
				CallbackURL: receiver.URL + "/cb?n=" + string(rune('a'+i))}
		}
		_, err := client.Tasks.Create(ctx(t), reqs)
		require.NoError(t, err)
		srv.Close()
		closed.Store(true)
	}
	time.Sleep(50 * time.Millisecond) // a stray delivery would land in this window
	assert.Zero(t, afterClose.Load(), "callbacks received after Close returned (of %d)", received.Load())
}
