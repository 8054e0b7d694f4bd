package kryptogo

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTWIDApplyCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code int
		want int
	}{
		{"not issued", TWIDNotIssued, 0},
		{"initial issue", TWIDInitialIssue, 1},
		{"reissue", TWIDReissue, 2},
		{"change", TWIDChange, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.code, "the API's code")
			p := TWIDApplyCodeOf(tc.code)
			require.NotNil(t, p)
			assert.Equal(t, tc.want, *p)

			var v validator
			taiwanIDFields{p, "1090102", "10001"}.validate(&v, true, "TWN")
			assert.NoError(t, v.err())
			body, err := json.Marshal(InitWebIDVRequest{TWIDApplyCode: p})
			require.NoError(t, err)
			var sent map[string]any
			require.NoError(t, json.Unmarshal(body, &sent))
			assert.Equal(t, float64(tc.want), sent["tw_id_apply_code"], "sent, 0 included")
		})
	}
}

func TestTWIDApplyCodeOfReturnsAFreshPointer(t *testing.T) {
	t.Parallel()
	a, b := TWIDApplyCodeOf(TWIDReissue), TWIDApplyCodeOf(TWIDReissue)
	*a = TWIDChange
	assert.Equal(t, TWIDReissue, *b, "one request's code never changes another's")
}
