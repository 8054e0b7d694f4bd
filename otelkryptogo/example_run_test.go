package otelkryptogo_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runExampleEnv makes this test binary run ExampleInstrument alone: its
// exporter writes to the process's standard output as it was at start.
const runExampleEnv = "OTELKRYPTOGO_RUN_EXAMPLE"

// ExampleInstrument prints spans whose ids and times differ on each run,
// so it has no Output comment: this test runs it in a process of its own
// and reads what it printed.
func TestExampleInstrumentPrintsTheSpans(t *testing.T) {
	if os.Getenv(runExampleEnv) == "1" {
		ExampleInstrument()
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestExampleInstrumentPrintsTheSpans$", "-test.count=1")
	cmd.Env = append(os.Environ(), runExampleEnv+"=1")
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)

	type span struct {
		Name   string
		Events []struct{ Name string }
	}
	var names []string
	var retries int
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var s span
		if err := dec.Decode(&s); err != nil {
			break // the example's own line after the spans
		}
		names = append(names, s.Name)
		for _, e := range s.Events {
			if e.Name == "kryptogo.retry" {
				retries++
			}
		}
	}
	assert.Equal(t, []string{"POST /task", "Tasks.Create", "GET /task/{task_id}/summary", "GET /task/{task_id}/summary", "Tasks.Summary"}, names,
		"each attempt ends before its call")
	assert.Equal(t, 1, retries)
	assert.Contains(t, string(out), "task 1 progress")
}
