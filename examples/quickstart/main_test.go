package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartAgainstFake(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	assert.Contains(t, lines[0], "KRYPTOGO_API_KEY is not set: using the in-process fake API")
	assert.Regexp(t, `^1\. KYA 1: 0x72a5843cc08275c8171e582972aa4fda8c397b2a has 1 SDN-list matches and \d transactions$`, lines[1])
	assert.Equal(t, "2. KYC task 1 created with a signed callback URL", lines[2])
	assert.Equal(t, "3. Report (from the callback): potential risk 51 (Medium), sanction matched: false", lines[3])
	assert.Equal(t, "4. Task 1 accepted", lines[4])
	assert.Regexp(t, `^5\. IDV task 1: send the customer to http://127\.0\.0\.1:\d+/idv/web/[0-9a-f]{32}$`, lines[5])
}
