package kryptogo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Unit tests of the CreateOnce registry (taskClaims); the interleavings of
// whole calls are in createonce_test.go.

func TestTaskClaimsReceiptsAreClaimedBeforeTheSendEnds(t *testing.T) {
	t.Parallel()
	var c taskClaims
	now := time.Unix(1_700_000_000, 0)
	send := c.begin([]string{"c1", "c1", "c2"})
	assert.Equal(t, []string{"c1", "c2"}, send.refs, "a customer is marked once per send")

	waited := make(chan error, 1)
	go func() { waited <- c.awaitSends(t.Context(), "c1") }()
	select {
	case err := <-waited:
		t.Fatalf("a lookup went on while a send for its customer was in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	sender, other := &createOnce{}, &createOnce{}
	c.finish(send, sender, []ID{7, 8}, now)
	require.NoError(t, <-waited)
	assert.False(t, c.take(7, other, now), "the sender's receipt is claimed before any lookup goes on")
	assert.False(t, c.take(8, other, now))
	assert.True(t, c.take(7, sender, now), "the sender's own lookup may match its receipts")
	assert.True(t, c.take(9, other, now))
	assert.False(t, c.take(9, sender, now))
	assert.Empty(t, c.sends, "no mark is left behind")
}

func TestTaskClaimsALookupWaitsOnlyForItsCustomer(t *testing.T) {
	t.Parallel()
	var c taskClaims
	other := c.begin([]string{"c2"})
	defer c.finish(other, nil, nil, time.Now())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.awaitSends(ctx, "c1"), "no send for c1 is in flight")
}

func TestTaskClaimsAWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	var c taskClaims
	send := c.begin([]string{"c1"})
	defer c.finish(send, nil, nil, time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.awaitSends(ctx, "c1")
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "another CreateOnce call's send for the same customer")
}

// A lookup waits for the sends in flight when it read the history, not
// for those that began later: a stream of new sends cannot hold it.
func TestTaskClaimsALookupIsNotHeldBySendsThatBeganLater(t *testing.T) {
	t.Parallel()
	var c taskClaims
	first := c.begin([]string{"c1"})
	read := c.inFlight("c1") // what awaitSends takes once the history was read
	later := c.begin([]string{"c1"})
	defer c.finish(later, nil, nil, time.Now())
	c.finish(first, nil, nil, time.Now())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, awaitAll(ctx, read))
	assert.Len(t, c.inFlight("c1"), 1, "the later send is still in flight")
}

// A claim is kept claimTTL past the start of the oldest call still
// running, not past its making: that call's lookups may meet its task
// however long they take. Once no such call runs, the map shrinks.
func TestTaskClaimsAreKeptWhileACallThatCanMeetThemRuns(t *testing.T) {
	t.Parallel()
	var c taskClaims
	start := time.Unix(1_700_000_000, 0)
	owner, running := &createOnce{}, &createOnce{}
	c.enter(running, start)
	require.True(t, c.take(7, owner, start))
	late := start.Add(3 * claimTTL)
	assert.False(t, c.take(7, running, late), "a call that began before the claim expired cannot take its task")
	c.leave(running)
	assert.True(t, c.take(8, owner, late))
	assert.NotContains(t, c.held, ID(7), "dropped once no running call can meet it")
	assert.Empty(t, c.calls)
}
