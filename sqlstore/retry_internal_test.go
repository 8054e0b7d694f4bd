package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

type stateError string

func (e stateError) Error() string    { return "database error " + string(e) }
func (e stateError) SQLState() string { return string(e) }

func TestRetryRunsSerializationFailuresAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"serialization failure", stateError("40001"), maxAttempts},
		{"deadlock", fmt.Errorf("wrapped: %w", stateError("40P01")), maxAttempts},
		{"unique violation", stateError("23505"), 1},
		{"no SQLSTATE", errors.New("connection refused"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := retry(t.Context(), func() error { calls++; return tc.err })
			assert.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.wantCalls, calls)
		})
	}
	t.Run("succeeds after failures", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retry(t.Context(), func() error {
			calls++
			if calls < 3 {
				return stateError("40001")
			}
			return nil
		})
		assert.NoError(t, err)
		assert.Equal(t, 3, calls)
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := retry(ctx, func() error { calls++; cancel(); return stateError("40001") })
		assert.Error(t, err)
		assert.Equal(t, 1, calls)
	})
}
