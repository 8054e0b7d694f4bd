package kryptogo

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
