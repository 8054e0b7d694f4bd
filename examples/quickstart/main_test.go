package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// quickstart runs the example and returns its output's lines.
func quickstart(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out))
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func TestQuickstartAgainstFake(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	lines := quickstart(t)
	require.Len(t, lines, 6, strings.Join(lines, "\n"))
	assert.Contains(t, lines[0], "KRYPTOGO_API_KEY is not set: using the in-process fake API")
	assert.Regexp(t, `^1\. KYA 1: 0x72a5843cc08275c8171e582972aa4fda8c397b2a has 1 SDN-list matches and \d transactions$`, lines[1])
	assert.Equal(t, "2. KYC task 1 created with a signed callback URL", lines[2])
	assert.Equal(t, "3. Report (from the callback): potential risk 0 (Low), sanction matched: false", lines[3])
	assert.Equal(t, "4. Task 1 accepted", lines[4])
	assert.Regexp(t, `^5\. IDV task 1: send the customer to http://127\.0\.0\.1:\d+/idv/web/[0-9a-f]{32}$`, lines[5])
}

// ports hides the port and the session token of the fake's URLs.
var ports = regexp.MustCompile(`127\.0\.0\.1:\d+(/idv/web/)?[0-9a-f]*`)

// The quickstart pointed at a fake started on its own (as kryptogo-fake
// starts one: no option) says it talks to a fake and prints what it prints
// against the in-process fake.
func TestQuickstartAgainstAFakeOfItsOwn(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	inProcess := quickstart(t)

	srv := kryptogotest.NewTestServer(t)
	t.Setenv("KRYPTOGO_BASE_URL", srv.URL)
	t.Setenv("KRYPTOGO_API_KEY", srv.APIKey)
	separate := quickstart(t)
	require.Len(t, separate, len(inProcess), strings.Join(separate, "\n"))
	assert.Equal(t, "Using a fake KryptoGO API at "+srv.URL+" (KRYPTOGO_BASE_URL is on loopback): no points are spent.", separate[0])
	for i := 1; i < len(inProcess); i++ {
		assert.Equal(t, ports.ReplaceAllString(inProcess[i], "<fake>"), ports.ReplaceAllString(separate[i], "<fake>"))
	}
}
