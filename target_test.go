package kryptogo

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetExtraRoundTrip(t *testing.T) {
	t.Parallel()
	target := KYBTarget("KryptoGO Ltd.")
	target.Extra = map[string]any{"registration_number": "12345678", "country": "TWN"}
	b, err := json.Marshal(target)
	require.NoError(t, err)
	assert.Equal(t, `{"type":2,"name":"KryptoGO Ltd.","country":"TWN","registration_number":"12345678"}`, string(b))

	var back Target
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, target, back)

	plain, err := json.Marshal(KYCTarget("王又曾", "1990-06-21", "TWN"))
	require.NoError(t, err)
	assert.Equal(t, `{"type":1,"name":"王又曾","birthday":"1990-06-21","citizenship":"TWN"}`, string(plain))

	shadow := KYBTarget("x")
	shadow.Extra = map[string]any{"name": "y"}
	_, err = json.Marshal(shadow)
	assert.Error(t, err)

	bad := KYBTarget("x")
	bad.Extra = map[string]any{"f": func() {}}
	_, err = json.Marshal(bad)
	assert.Error(t, err)
}
