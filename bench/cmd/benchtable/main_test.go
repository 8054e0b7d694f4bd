package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkTaskGet/body=small/impl=handwritten-2   1000   100000 ns/op   10000 B/op   118 allocs/op
BenchmarkTaskGet/body=small/impl=sdk-2           1000   120000 ns/op   11000 B/op   129 allocs/op
BenchmarkTaskGet64/impl=handwritten-2            1000   30000 ns/op   64 conns   30000 req/s   9000 B/op   100 allocs/op
BenchmarkTaskGet64/impl=sdk-2                    1000   40000 ns/op   64 conns   24000 req/s   9000 B/op   100 allocs/op
BenchmarkOther/sdk-2                             1000   1 ns/op
BenchmarkTaskGet/body=small/impl=handwritten-2   1000   200000 ns/op   10000 B/op   118 allocs/op
BenchmarkTaskGet/body=small/impl=sdk-2           1000   180000 ns/op   11000 B/op   131 allocs/op
BenchmarkTaskGet64/impl=handwritten-2            1000   30000 ns/op   64 conns   30000 req/s   9000 B/op   100 allocs/op
BenchmarkTaskGet64/impl=sdk-2                    1000   40000 ns/op   78 conns   30000 req/s   9000 B/op   100 allocs/op
BenchmarkTaskGet/body=small/impl=handwritten-2   1000   100000 ns/op   10000 B/op   118 allocs/op
BenchmarkTaskGet/body=small/impl=sdk-2           1000   110000 ns/op   11000 B/op   130 allocs/op
PASS
`

func TestParse(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	assert.Equal(t, []float64{120000, 180000, 110000}, res["BenchmarkTaskGet/body=small"]["sdk"]["ns/op"])
	assert.Equal(t, []float64{64, 78}, res["BenchmarkTaskGet64"]["sdk"]["conns"])
	assert.NotContains(t, res, "BenchmarkOther", "a name without impl= is not a figure of the table")
}

func TestParseRefusesOutputWithoutFigures(t *testing.T) {
	_, err := parse(strings.NewReader("PASS\n"))
	assert.Error(t, err)
	_, err = parse(strings.NewReader("BenchmarkX/impl=a-2 10 abc ns/op\n"))
	assert.Error(t, err)
}

func TestRender(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	table := render(res)
	for _, want := range []string{
		// Round ratios 1.2, 0.9, 1.1: median 1.1, range 0.9-1.2.
		"| `GET /task/{id}`, 1.2 KB detail: time | 1 (100.0 µs) | 1.10 [0.90-1.20] |",
		"| same: allocations | 118 | 130 |",
		"| same: bytes allocated | 10.0 KB | 11.0 KB |",
		"| 64 callers sharing one client (1.2 KB detail): requests/s | 1 (30k/s) | 0.90 [0.80-1.00] |",
		"| 64 callers: connections opened | 64 | 71 [64-78] |",
		"Medians of 3 rounds.",
	} {
		assert.Contains(t, table, want)
	}
	assert.NotContains(t, table, "POST /task", "a figure without results has no row")
}

func TestSplitName(t *testing.T) {
	for name, want := range map[string][2]string{
		"BenchmarkA/impl=sdk-2":          {"BenchmarkA", "sdk"},
		"BenchmarkA/b=c/impl=ogen-16":    {"BenchmarkA/b=c", "ogen"},
		"BenchmarkA/impl=oapi-codegen":   {"BenchmarkA", "oapi-codegen"},
		"BenchmarkA/impl=oapi-codegen-2": {"BenchmarkA", "oapi-codegen"},
	} {
		figure, impl, ok := splitName(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, [2]string{figure, impl}, name)
	}
	_, _, ok := splitName("BenchmarkA/sdk-2")
	assert.False(t, ok)
}
