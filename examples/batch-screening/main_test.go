package main

import (
	"bytes"
	"context"
	"fmt"
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
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, progressOut bytes.Buffer
	require.NoError(t, run(ctx, &out, &progressOut, []string{"-concurrency", "3"}))
	assert.Empty(t, progressOut.String(), "no progress for a short list")
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

// TestBatchScreeningProgress screens a list of 45 addresses and checks the
// progress lines on stderr and one table row per address, in list order.
func TestBatchScreeningProgress(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	var list strings.Builder
	for i := range 45 {
		fmt.Fprintf(&list, "0x%040x\n", i+1)
	}
	path := filepath.Join(t.TempDir(), "list.txt")
	require.NoError(t, os.WriteFile(path, []byte(list.String()), 0o600))
	var out, progressOut bytes.Buffer
	require.NoError(t, run(t.Context(), &out, &progressOut, []string{"-file", path}))

	want := []string{"screened 4/45", "screened 8/45"}
	for done := 12; done <= 44; done += 4 {
		want = append(want, fmt.Sprintf("screened %d/45", done))
	}
	want = append(want, "screened 45/45")
	assert.Equal(t, want, strings.Split(strings.TrimSpace(progressOut.String()), "\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2+45, out.String())
	for i, line := range lines[2:] {
		assert.Regexp(t, fmt.Sprintf(`^0x%040x\s+eth\s+0\s+\d+\s*$`, i+1), line)
	}
}

func TestBatchScreeningInputErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"no concurrency", "at least 1", []string{"-concurrency", "0"}},
		{"missing file", "no such file or directory", []string{"-file", filepath.Join(t.TempDir(), "none.txt")}},
		{"unknown flag", "flag provided but not defined", []string{"-nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			assert.ErrorContains(t, run(t.Context(), &out, &out, tc.args), tc.want)
		})
	}
}

func TestReadAddresses(t *testing.T) {
	t.Parallel()
	t.Run("a file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "list.txt")
		require.NoError(t, os.WriteFile(path, []byte("# comment\n\n  1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa  \n"), 0o600))
		got, err := readAddresses(path)
		require.NoError(t, err)
		assert.Equal(t, []string{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}, got)
	})
	t.Run("the embedded sample", func(t *testing.T) {
		t.Parallel()
		got, err := readAddresses("")
		require.NoError(t, err)
		want, err := readAddresses("addresses.txt")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Len(t, got, 6)
	})
}
