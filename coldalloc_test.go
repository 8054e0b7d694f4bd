package kryptogo

// Issue 15, row 8: memory on the first call of a process. A block pool
// warms up after the first call, so a benchmark's average hides what a
// cold process allocates; each measurement here runs in a child process
// (this test binary run again with coldCaseEnv set), which reports the
// bytes its first and second call allocated.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// coldCaseEnv names the case a child process measures.
const coldCaseEnv = "KRYPTOGO_COLD_ALLOC_CASE"

// jsonStringBody is an answer of n bytes that is one JSON string
// ("aaaa…"), of unknown length; it allocates nothing itself.
type jsonStringBody struct{ n, off int64 }

func (j *jsonStringBody) Read(p []byte) (int, error) {
	if j.off >= j.n {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), j.n-j.off))
	for i := range p[:k] {
		switch j.off + int64(i) {
		case 0, j.n - 1:
			p[i] = '"'
		default:
			p[i] = 'a'
		}
	}
	j.off += int64(k)
	return k, nil
}

// sizedTransport answers every request with status and an n-byte JSON
// string, declaring its length or not, without a network.
type sizedTransport struct {
	status   int
	n        int64
	declared bool
}

func (t sizedTransport) RoundTrip(*http.Request) (*http.Response, error) {
	length := int64(-1)
	if t.declared {
		length = t.n
	}
	return &http.Response{StatusCode: t.status, Header: http.Header{}, ContentLength: length,
		Body: io.NopCloser(&jsonStringBody{n: t.n})}, nil
}

// coldCase is one measurement: a client, and the size its allocation is
// compared with.
type coldCase struct {
	transport sizedTransport
	maxBody   int64
	unit      int64 // the cap for an over-cap answer, else the body's size
}

var coldCases = map[string]coldCase{
	"over cap, 64 MiB chunked, 16 MiB cap":  {sizedTransport{http.StatusOK, 64 << 20, false}, 16 << 20, 16 << 20},
	"over cap, 64 MiB declared, 16 MiB cap": {sizedTransport{http.StatusOK, 64 << 20, true}, 16 << 20, 16 << 20},
	"error over cap, 64 MiB chunked 500":    {sizedTransport{http.StatusInternalServerError, 64 << 20, false}, 16 << 20, 16 << 20},
	"12 MiB with Content-Length":            {sizedTransport{http.StatusOK, 12 << 20, true}, DefaultMaxResponseBytes, 12 << 20},
	"12 MiB chunked":                        {sizedTransport{http.StatusOK, 12 << 20, false}, DefaultMaxResponseBytes, 12 << 20},
	"300 KiB with Content-Length":           {sizedTransport{http.StatusOK, 300 << 10, true}, DefaultMaxResponseBytes, 300 << 10},
	// A smaller cap (WithMaxResponseBytes) is a cap all the same: an
	// answer over it was copied whole for an error that reads its first
	// byte.
	"over cap, 4 MiB chunked, 1 MiB cap":   {sizedTransport{http.StatusOK, 4 << 20, false}, 1 << 20, 1 << 20},
	"over cap, 4 MiB chunked, 256 KiB cap": {sizedTransport{http.StatusOK, 4 << 20, false}, 256 << 10, 256 << 10},
}

// TestColdAllocationChild is the child's side: it makes the case's call
// twice in a fresh process and prints the bytes each allocated. It does
// nothing in an ordinary run.
func TestColdAllocationChild(t *testing.T) {
	name := os.Getenv(coldCaseEnv)
	if name == "" {
		t.Skip("runs as a child of TestColdAllocation")
	}
	tc := coldCases[name]
	c, err := NewClient(testKey, WithHTTPClient(&http.Client{Transport: tc.transport}), WithMaxRetries(0), WithMaxResponseBytes(tc.maxBody))
	require.NoError(t, err)
	var allocated [2]uint64
	for i := range allocated {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var out json.RawMessage
		_ = c.Do(context.Background(), http.MethodGet, "/x", nil, &out)
		runtime.ReadMemStats(&after)
		allocated[i] = after.TotalAlloc - before.TotalAlloc
	}
	fmt.Printf("cold-alloc %d %d\n", allocated[0], allocated[1])
}

// coldRatios runs case name in a child process and returns the bytes its
// first (cold) and second (warm) call allocated, per unit.
func coldRatios(t *testing.T, name string) (cold, warm float64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestColdAllocationChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), coldCaseEnv+"="+name, "GOGC=off") // no collection between the calls
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for line := range strings.Lines(string(out)) {
		if fields := strings.Fields(line); len(fields) == 3 && fields[0] == "cold-alloc" {
			first, err1 := strconv.ParseUint(fields[1], 10, 64)
			second, err2 := strconv.ParseUint(fields[2], 10, 64)
			require.NoError(t, err1)
			require.NoError(t, err2)
			unit := float64(coldCases[name].unit)
			return float64(first) / unit, float64(second) / unit
		}
	}
	t.Fatalf("the child printed no measurement:\n%s", out)
	return 0, 0
}

// TestColdAllocation: an over-cap answer allocates at most 1.1 times the
// cap on the first call of a process; an answer with a Content-Length at
// most 1.1 times its size; a chunked one at most 2 times cold and 1.1
// times warm.
//
//	go test -run TestColdAllocation -v .
func TestColdAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per case")
	}
	t.Parallel()
	for name, limits := range map[string][2]float64{ // cold, warm
		"over cap, 64 MiB chunked, 16 MiB cap":  {1.1, 1.1},
		"over cap, 64 MiB declared, 16 MiB cap": {0.01, 0.01},
		"error over cap, 64 MiB chunked 500":    {0.02, 0.02},
		"12 MiB with Content-Length":            {1.1, 1.1},
		"12 MiB chunked":                        {2.01, 1.1}, // its blocks and one copy, plus 0.2% of bookkeeping
		"300 KiB with Content-Length":           {1.1, 1.1},
		"over cap, 4 MiB chunked, 1 MiB cap":    {1.1, 1.1},
		"over cap, 4 MiB chunked, 256 KiB cap":  {1.1, 1.1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cold, warm := coldRatios(t, name)
			t.Logf("%s: cold %.3fx, warm %.3fx", name, cold, warm)
			assert.LessOrEqual(t, cold, limits[0], "cold")
			assert.LessOrEqual(t, warm, limits[1], "warm")
		})
	}
}
