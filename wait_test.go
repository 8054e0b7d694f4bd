package kryptogo

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/internal/backoff"
)

// deadlineAfterSleeps is a sleep hook that returns at once for the first n
// waits and then reports the deadline, as a context deadline arriving
// during a wait would: a Wait that polls a failing API ends after a retry
// and a poll or two, not after a real deadline.
func deadlineAfterSleeps(n int) func(context.Context, time.Duration) error {
	var slept atomic.Int32
	return func(ctx context.Context, _ time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if slept.Add(1) > int32(n) {
			return context.DeadlineExceeded
		}
		return nil
	}
}

func TestWaitOptionsRejectUnitMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  WaitOptions
		field string
		msg   string
	}{
		{"bare seconds", WaitOptions{Interval: 2}, "Interval", "is 2ns; did you mean 2*time.Second?"},
		{"negative", WaitOptions{Interval: -time.Second}, "Interval", "must not be negative, got -1s"},
		{"below the floor", WaitOptions{Interval: 50 * time.Millisecond}, "Interval", "is 50ms; the shortest is 100ms"},
		{"max bare seconds", WaitOptions{MaxInterval: 30}, "MaxInterval", "is 30ns; did you mean 30*time.Second?"},
		{"max negative", WaitOptions{MaxInterval: -1}, "MaxInterval", "must not be negative, got -1ns"},
		{"max below interval", WaitOptions{Interval: 5 * time.Second, MaxInterval: time.Second}, "MaxInterval", "is 1s, below Interval (5s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := offlineClient(t) // any request fails the test
			_, err := client.Tasks.Wait(t.Context(), 9, &tc.opts)
			require.ErrorIs(t, err, ErrInvalidRequest)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			f, ok := verr.Field(tc.field)
			require.True(t, ok, "%v", err)
			assert.Contains(t, f.Message, tc.msg)

			_, err = client.IDV.Wait(t.Context(), 9, &tc.opts)
			assert.ErrorIs(t, err, ErrInvalidRequest)
		})
	}
}

func TestWaitOptionsPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     *WaitOptions
		min, max time.Duration
	}{
		{"nil", nil, 2 * time.Second, 30 * time.Second},
		{"zero", &WaitOptions{}, 2 * time.Second, 30 * time.Second},
		{"floor", &WaitOptions{Interval: 100 * time.Millisecond}, 100 * time.Millisecond, 30 * time.Second},
		{"interval above default max", &WaitOptions{Interval: time.Minute}, time.Minute, time.Minute},
		{"max below default interval", &WaitOptions{MaxInterval: time.Second}, time.Second, time.Second},
		{"both", &WaitOptions{Interval: time.Second, MaxInterval: 4 * time.Second}, time.Second, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.opts.policy(backoff.Policy{})
			require.NoError(t, err)
			assert.Equal(t, tc.min, p.Min)
			assert.Equal(t, tc.max, p.Max)
		})
	}
}

// After a run of 503s the wait's error names the last failure, not only
// "no state fetched", and still matches the context's end.
func TestWaitErrorNamesLastFailure(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"task", "idv"} {
		t.Run(kind, func(t *testing.T) {
			client, mux := setup(t, WithMaxRetries(0))
			var polls atomic.Int32
			unavailable := func(w http.ResponseWriter, r *http.Request) {
				polls.Add(1)
				http.Error(w, `{"message":"maintenance window"}`, http.StatusServiceUnavailable)
			}
			mux.HandleFunc("/task/9/summary", unavailable)
			mux.HandleFunc("/idv/9", unavailable)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			client.sleep = func(ctx context.Context, d time.Duration) error {
				if polls.Load() >= 7 {
					cancel(context.DeadlineExceeded)
				}
				return context.Cause(ctx)
			}
			var err error
			if kind == "task" {
				_, err = client.Tasks.Wait(ctx, 9, nil)
			} else {
				_, err = client.IDV.Wait(ctx, 9, nil)
			}
			var werr *WaitError
			require.ErrorAs(t, err, &werr)
			assert.Equal(t, 7, werr.Polls)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorIs(t, err, ErrServerError)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
			assert.Contains(t, err.Error(), "last failure: ")
			assert.Contains(t, err.Error(), "503")
			assert.Contains(t, err.Error(), "maintenance window")
		})
	}
}

// A failure followed by a good poll is not reported: the last poll succeeded.
func TestWaitErrorForgetsFailureAfterSuccess(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithMaxRetries(0))
	var polls atomic.Int32
	mux.HandleFunc("/task/9/summary", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(`{"task_id":9,"progress":50}`))
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client.sleep = func(ctx context.Context, d time.Duration) error {
		if polls.Load() >= 2 {
			cancel()
		}
		return ctx.Err()
	}
	_, err := client.Tasks.Wait(ctx, 9, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrServerError)
	assert.NotContains(t, err.Error(), "last failure")
	assert.Contains(t, err.Error(), "last progress 50%")
}

func TestWaitPausesFollowTheOptions(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var polls atomic.Int32
	mux.HandleFunc("/task/9/summary", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) < 4 {
			_, _ = w.Write([]byte(`{"task_id":9,"progress":10}`))
			return
		}
		_, _ = w.Write([]byte(`{"task_id":9,"progress":100}`))
	})
	var pauses []time.Duration
	client.sleep = func(ctx context.Context, d time.Duration) error {
		pauses = append(pauses, d)
		return nil
	}
	_, err := client.Tasks.Wait(t.Context(), 9, &WaitOptions{Interval: 200 * time.Millisecond, MaxInterval: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, pauses, 3)
	for _, d := range pauses {
		assert.GreaterOrEqual(t, d, 200*time.Millisecond)
		assert.LessOrEqual(t, d, 300*time.Millisecond)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	assert.True(t, transient(&APIError{StatusCode: 503}))
	assert.True(t, transient(&APIError{StatusCode: 429}))
	assert.False(t, transient(&APIError{StatusCode: 404}))
	assert.False(t, transient(&ValidationError{}))
	assert.False(t, transient(&ResponseError{Err: errors.New("x")}))
	assert.True(t, transient(errors.New("connection reset")))
}

func TestWaitRejectsNilContext(t *testing.T) {
	t.Parallel()
	client := offlineClient(t) // no poll may be sent
	tests := map[string]func() error{
		"Tasks.Wait": func() error {
			//lint:ignore SA1012 a nil context is the mistake under test
			_, err := client.Tasks.Wait(nil, 1, nil)
			return err
		},
		"IDV.Wait": func() error {
			//lint:ignore SA1012 a nil context is the mistake under test
			_, err := client.IDV.Wait(nil, 1, nil)
			return err
		},
	}
	for name, wait := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var err error
			require.NotPanics(t, func() { err = wait() })
			assert.ErrorContains(t, err, "nil context")
		})
	}
}
