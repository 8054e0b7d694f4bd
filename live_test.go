//go:build live

package kryptogo

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLive is the live conformance check: it calls the real API with the
// key of KRYPTOGO_API_KEY, only endpoints that cost nothing (GETs: the first
// page of the task history, and the tasks, IDV tasks and KYA results whose
// ids KRYPTOGO_LIVE_TASK_ID, KRYPTOGO_LIVE_IDV_ID and KRYPTOGO_LIVE_KYA_ID
// name, comma-separated), decodes every answer with the SDK and logs a
// drift report per answer. Run it with
//
//	KRYPTOGO_API_KEY=... go test -tags live -run Live -v .
//
// It fails when an answer cannot be fetched or decoded; drift alone is
// logged, not a failure, since new fields are expected.
func TestLive(t *testing.T) {
	t.Parallel()
	if os.Getenv(EnvAPIKey) == "" {
		t.Skip("set KRYPTOGO_API_KEY to run the live conformance check (it calls only endpoints that cost nothing)")
	}
	client, err := NewClientFromEnv()
	require.NoError(t, err)
	checks, err := driftChecks(os.Getenv)
	require.NoError(t, err)
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			report, err := check.run(ctx, client)
			t.Logf("GET %s, decoded into %s:\n%s", check.path, check.model, report)
			if err != nil {
				t.Error(err)
			}
		})
	}
}
