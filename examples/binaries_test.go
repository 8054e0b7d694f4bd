// Package examples_test checks that every example works as a built binary,
// away from the repository: the way a user runs it after go install.
package examples_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// examples are the example commands, each with a line its output must hold
// when it runs against the in-process fake.
var examples = []struct {
	name string
	want string // a regular expression matched against one line
}{
	{"quickstart", `^5\. IDV task \d+: send the customer to http://127\.0\.0\.1:\d+/`},
	{"webhook", `^2 callbacks received and processed once each$`},
	{"idv-upload", `^state: Accept \(audit: Accepted\)$`},
	{"batch-screening", `^0x72a5843cc08275C8171E582972Aa4fDa8C397B2A\s+eth\s+1\s+\d+\s*$`},
}

// trimpath builds the examples with -trimpath, as a release build is made
// (source paths are not where the binary runs). It is off by default: in
// that mode go compiles the standard library again, which made a fresh
// clone's first go test ./... take a minute on a busy 2-core machine.
// .ci/run turns it on: go test ./examples -trimpath-binaries (not
// -trimpath, which go test takes as its own build flag).
var trimpath = flag.Bool("trimpath-binaries", false, "build the example binaries with -trimpath (slow on a fresh build cache)")

// TestBinariesRunAnywhere builds every example and runs each from an empty
// working directory: an example that opens a file beside its source fails
// here. With -trimpath-binaries (CI) the binaries also carry no source
// paths, so a path derived from the source tree fails too.
func TestBinariesRunAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every example's binary")
	}
	bin := buildExamples(t)
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			out := runAway(t, filepath.Join(bin, ex.name))
			assert.True(t, strings.HasPrefix(out, "KRYPTOGO_API_KEY is not set: using the in-process fake API"), "first line of:\n%s", out)
			assert.Regexp(t, "(?m)"+ex.want, out)
		})
	}
}

// buildExamples builds every example, in one go command, into a directory
// that outlives the test run (see binDir), and returns that directory. go
// build rewrites a binary only when its inputs changed, so a run after the
// first links nothing: building into t.TempDir() made go test ./... about
// 40% slower.
func buildExamples(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	bin := binDir(t)
	// -s -w: no symbol table or DWARF, which halves the link time of four
	// binaries and changes nothing the examples do.
	args := []string{"build"}
	if *trimpath {
		args = append(args, "-trimpath")
	}
	args = append(args, "-ldflags=-s -w", "-o", bin+string(filepath.Separator))
	for _, ex := range examples {
		args = append(args, "./"+ex.name)
	}
	t.Logf("go %s", strings.Join(args, " "))
	cmd := exec.CommandContext(t.Context(), goTool, args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// binDir returns the per-checkout directory the example binaries are built
// into: kryptogo-go/example-bin/<hash of the module root> under the user's
// cache directory, so two checkouts (worktrees) never share binaries. Without
// a cache directory it falls back to t.TempDir().
func binDir(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	root, err := filepath.Abs("..") // the module root: tests run in examples/
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(root))
	mode := "plain"
	if *trimpath {
		mode = "trimpath" // apart, so that switching modes relinks nothing
	}
	dir := filepath.Join(cache, "kryptogo-go", "example-bin", hex.EncodeToString(sum[:8]), mode)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return t.TempDir()
	}
	return dir
}

// runAway runs a binary from an empty working directory, without the
// variables that would point it at the real API, and returns its standard
// output once it exits 0.
func runAway(t *testing.T, binary string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // generous: 2 shared cores
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Dir = t.TempDir()
	cmd.Env = withoutKryptoGOVariables(os.Environ())
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s failed; stderr:\n%s\nstdout:\n%s", filepath.Base(binary), &stderr, &stdout)
	return stdout.String()
}

// withoutKryptoGOVariables drops KRYPTOGO_API_KEY, KRYPTOGO_BASE_URL,
// KRYPTOGO_CALLBACK_SECRET and the like, so the examples use the fake.
func withoutKryptoGOVariables(env []string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "KRYPTOGO_") {
			kept = append(kept, kv)
		}
	}
	return kept
}
