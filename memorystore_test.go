package kryptogo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryStoreSweepsExpiredRecords checks that expired records leave
// the maps (not only read as absent), so a long-running process does not
// keep every key and callback it ever saw.
func TestMemoryStoreSweepsExpiredRecords(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := NewMemoryStore(WithKeyRetention(time.Hour), WithCallbackRetention(2*time.Hour))
	s.now = func() time.Time { return now }

	_, _, err := s.Claim(ctx, "done", "a", "fp", time.Minute)
	require.NoError(t, err)
	_, err = s.Complete(ctx, "done", "a", []byte(`1`))
	require.NoError(t, err)
	_, _, err = s.Claim(ctx, "abandoned", "a", "fp", time.Minute)
	require.NoError(t, err)
	_, err = s.ClaimCallback(ctx, "cb-done", "a", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.CompleteCallback(ctx, "cb-done", "a"))
	_, err = s.ClaimCallback(ctx, "cb-abandoned", "a", time.Minute)
	require.NoError(t, err)
	_, err = s.ExtendPause(ctx, "client", now.Add(time.Minute))
	require.NoError(t, err)

	now = now.Add(90 * time.Minute) // keys and the pause expired, the done callback not
	_, ok, err := s.Get(ctx, "done")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, s.keys, "expired keys stay in memory")
	assert.Len(t, s.callbacks, 1, "only the done callback is still retained")
	assert.Empty(t, s.pauses)

	now = now.Add(time.Hour)
	require.NoError(t, s.Forget(ctx, "x")) // any operation sweeps when one is due
	assert.Empty(t, s.callbacks)
}

// TestMemoryStoreRecordsAreCopies checks that a record returned by the
// store, or a result given to it, shares no memory with the store's copy.
func TestMemoryStoreRecordsAreCopies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewMemoryStore()
	result := []byte(`{"task_id":1}`)
	_, err := s.Complete(ctx, "k", "a", result)
	require.NoError(t, err)
	result[2] = 'X'
	rec, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	rec.Result[3] = 'Y'
	again, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, `{"task_id":1}`, string(again.Result))
}
