package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchScreeningAgainstFake(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, []string{"-concurrency", "3"}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 8, out.String())
	assert.Regexp(t, `^ADDRESS\s+CHAIN\s+SDN MATCHES\s+TRANSACTIONS\s+ERROR$`, lines[1])
	assert.Regexp(t, `^0x72a5843cc08275C8171E582972Aa4fDa8C397B2A\s+eth\s+1\s+\d\s*$`, lines[2], "the sanctioned sample")
	assert.Regexp(t, `^0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045\s+eth\s+0\s+\d\s*$`, lines[3])
	for _, l := range lines[4:7] {
		assert.Regexp(t, `\s+btc\s+0\s+\d\s*$`, l)
	}
	assert.Regexp(t, regexp.MustCompile(`^not-an-address\s+-\s+-\s+-\s+kryptogo: invalid request: chain: cannot be detected`), lines[7])
}

func TestBatchScreeningInputErrors(t *testing.T) {
	var out bytes.Buffer
	assert.ErrorContains(t, run(context.Background(), &out, []string{"-concurrency", "0"}), "at least 1")
	assert.Error(t, run(context.Background(), &out, []string{"-file", filepath.Join(t.TempDir(), "none.txt")}))

	path := filepath.Join(t.TempDir(), "list.txt")
	require.NoError(t, os.WriteFile(path, []byte("# comment\n\n  1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa  \n"), 0o600))
	got, err := readAddresses(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}, got)
}
