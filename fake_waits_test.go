package kryptogo_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// recordSleeps makes c's waits return at once (or with ctx), recording them.
func recordSleeps(c *kryptogo.Client) func() []time.Duration {
	var mu sync.Mutex
	var sleeps []time.Duration
	kryptogo.SetSleepHook(c, func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		sleeps = append(sleeps, d)
		return ctx.Err()
	})
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), sleeps...)
	}
}

// The fake's client shortens every SDK wait: the polls of Tasks.Wait and
// IDV.Wait, and the looks of a lookup after a send in doubt.
func TestFakeClientShortensEveryWait(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
	c := srv.Client()
	created, err := c.Tasks.CreateOne(testCtx(t), kycTask("c1", "Jane Roe"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(testCtx(t))
	polls := 0
	kryptogo.SetSleepHook(c, func(ctx context.Context, d time.Duration) error {
		assert.LessOrEqual(t, d, 10*time.Millisecond, "poll pause")
		if polls++; polls == 5 {
			cancel()
		}
		return ctx.Err()
	})
	_, err = c.Tasks.Wait(ctx, created.TaskID, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 5, polls)

	lagging := kryptogotest.NewTestServer(t, kryptogotest.WithHistoryLag(time.Second))
	for want, srv := range map[time.Duration]*kryptogotest.Server{20 * time.Millisecond: srv, 1050 * time.Millisecond: lagging} {
		c := srv.Client()
		sleeps := recordSleeps(c)
		srv.DropNextRequest(http.MethodPost, "/task", 1)
		_, err = c.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c2", "John Doe")})
		require.NoError(t, err)
		var total time.Duration
		for _, d := range sleeps() {
			total += d
		}
		assert.Equal(t, want, total, "the looks span 20 ms, or 50 ms more than the history's lag")
	}
}

// WithPollInterval sets the pace of a wait given no interval, per client
// or per call; WaitOptions still win.
func TestWithPollInterval(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
	c := srv.Client(kryptogo.WithPollInterval(40*time.Millisecond, 80*time.Millisecond))
	created, err := c.Tasks.CreateOne(testCtx(t), kycTask("c1", "Jane Roe"))
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		opts     *kryptogo.WaitOptions
		callOpts []kryptogo.Option
		min, max time.Duration
	}{
		"client":       {nil, nil, 40 * time.Millisecond, 80 * time.Millisecond},
		"call":         {nil, []kryptogo.Option{kryptogo.WithPollInterval(time.Millisecond, 2*time.Millisecond)}, time.Millisecond, 2 * time.Millisecond},
		"wait options": {&kryptogo.WaitOptions{Interval: 300 * time.Millisecond}, nil, 300 * time.Millisecond, 600 * time.Millisecond},
	} {
		var sleeps []time.Duration
		ctx, cancel := context.WithCancel(testCtx(t))
		kryptogo.SetSleepHook(c, func(ctx context.Context, d time.Duration) error {
			if sleeps = append(sleeps, d); len(sleeps) == 6 {
				cancel()
			}
			return ctx.Err()
		})
		_, err := c.Tasks.Wait(ctx, created.TaskID, tc.opts, tc.callOpts...)
		require.ErrorIs(t, err, context.Canceled, name)
		for _, d := range sleeps {
			assert.GreaterOrEqual(t, d, tc.min, name)
			assert.LessOrEqual(t, d, tc.max, name)
		}
		cancel()
	}
	for _, bad := range [][2]time.Duration{{0, time.Second}, {-time.Second, time.Second}, {time.Second, time.Millisecond}} {
		_, err := kryptogo.NewClient("k", kryptogo.WithPollInterval(bad[0], bad[1]))
		assert.ErrorContains(t, err, "WithPollInterval", "%v", bad)
	}
}
