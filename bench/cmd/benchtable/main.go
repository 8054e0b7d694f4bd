// Command benchtable prints the comparison table of the bench module from
// the output of its benchmarks run in rounds (scripts/bench.sh): for each
// figure, each implementation's median against the hand-written code's.
//
//	benchtable [-title T] bench-compare.out
//
// A benchmark's name is its figure and its implementation:
// BenchmarkTaskGet/body=small/impl=sdk-2 is the SDK's figure
// BenchmarkTaskGet/body=small. The n-th result of a name is taken as its
// n-th round; a time ratio is the median of the rounds' ratios (each round
// runs every implementation once, so a load that drifts between rounds
// cancels out), shown with the lowest and highest round.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	title := flag.String("title", "", "a line printed above the table")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchtable [-title T] FILE")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *title != "" {
		fmt.Println(*title)
		fmt.Println()
	}
	fmt.Print(render(res))
}

// Implementations, in the table's column order; baseline is the
// denominator of every ratio.
var columns = []string{"handwritten", "sdk", "oapi-codegen", "ogen", "limit"}

const baseline = "handwritten"

// results holds each figure's values per implementation and unit, in the
// order of the rounds.
type results map[string]map[string]map[string][]float64

// parse reads `go test -bench` output.
func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		figure, impl, ok := splitName(fields[0])
		if !ok {
			continue
		}
		if res[figure] == nil {
			res[figure] = map[string]map[string][]float64{}
		}
		if res[figure][impl] == nil {
			res[figure][impl] = map[string][]float64{}
		}
		// fields[1] is the iteration count; then value-unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %q: %w", fields[0], fields[i], err)
			}
			unit := fields[i+1]
			res[figure][impl][unit] = append(res[figure][impl][unit], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, errors.New("no benchmark results with an impl= part in their names")
	}
	return res, nil
}

// splitName splits BenchmarkX/a=b/impl=c-8 into BenchmarkX/a=b and c.
func splitName(name string) (figure, impl string, ok bool) {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	figure, impl, ok = strings.Cut(name, "/impl=")
	return figure, impl, ok && impl != "" && !strings.Contains(impl, "/")
}

// row is one line of the table: a figure's unit, shown as ratios to the
// baseline or as absolute values.
type row struct {
	label  string
	figure string
	unit   string
	// show formats the values of one implementation; base are the
	// baseline's, isBase tells whether values are the baseline's.
	show func(values, base []float64, isBase bool) string
	// baseNote is shown in the baseline's column after its value.
	baseNote string
}

var rows = []row{
	{label: "`GET /task/{id}`, 1.2 KB detail: time", figure: "BenchmarkTaskGet/body=small", unit: "ns/op", show: timeRatio},
	{label: "same: allocations", figure: "BenchmarkTaskGet/body=small", unit: "allocs/op", show: count},
	{label: "same: bytes allocated", figure: "BenchmarkTaskGet/body=small", unit: "B/op", show: bytes},
	{label: "same: CPU per call (client and loopback server)", figure: "BenchmarkTaskGet/body=small", unit: "cpu-ns/op", show: timeRatio},
	{label: "same, 1 MB detail (`result` ~1 MB of hits): time", figure: "BenchmarkTaskGet/body=1MB", unit: "ns/op", show: timeRatio},
	{label: "same, 1 MB: bytes allocated", figure: "BenchmarkTaskGet/body=1MB", unit: "B/op", show: bytes},
	{label: "same, 1 MB: allocations", figure: "BenchmarkTaskGet/body=1MB", unit: "allocs/op", show: count},
	{label: "same, nested `search_source` detail: time", figure: "BenchmarkTaskGet/body=nested", unit: "ns/op", show: timeRatio},
	{label: "same, nested: allocations", figure: "BenchmarkTaskGet/body=nested", unit: "allocs/op", show: count},
	{label: "`POST /task` (two tasks): time", figure: "BenchmarkTaskCreate", unit: "ns/op", show: timeRatio},
	{label: "same: allocations", figure: "BenchmarkTaskCreate", unit: "allocs/op", show: count},
	{label: "`GET /kya/detail/{id}`: time", figure: "BenchmarkKYAGet", unit: "ns/op", show: timeRatio},
	{label: "same: allocations", figure: "BenchmarkKYAGet", unit: "allocs/op", show: count},
	{label: "64 callers sharing one client (1.2 KB detail): requests/s", figure: "BenchmarkTaskGet64", unit: "req/s", show: rateRatio},
	{label: "64 callers: connections opened", figure: "BenchmarkTaskGet64", unit: "conns", show: countRange},
	{label: "callback handler (verify + parse), per callback: time", figure: "BenchmarkCallback/verify=signer", unit: "ns/op", show: timeRatio,
		baseNote: "HMAC check + `json.Unmarshal`"},
	{label: "same: allocations", figure: "BenchmarkCallback/verify=signer", unit: "allocs/op", show: count},
	{label: "callback handler that re-fetches the record (SDK: `Confirm`): time", figure: "BenchmarkCallback/verify=refetch", unit: "ns/op", show: timeRatio,
		baseNote: "+ GET of the summary"},
	{label: "same: allocations", figure: "BenchmarkCallback/verify=refetch", unit: "allocs/op", show: count},
}

// render prints the table in Markdown.
func render(res results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | %s |\n|---|%s\n", strings.Join(columns, " | "), strings.Repeat("---|", len(columns)))
	rounds := 0
	for _, r := range rows {
		byImpl := res[r.figure]
		if byImpl == nil {
			continue
		}
		base := byImpl[baseline][r.unit]
		rounds = max(rounds, len(base))
		cells := make([]string, len(columns))
		for i, impl := range columns {
			values := byImpl[impl][r.unit]
			if len(values) == 0 {
				continue
			}
			cells[i] = r.show(values, base, impl == baseline)
			if impl == baseline && r.baseNote != "" {
				cells[i] += " (" + r.baseNote + ")"
			}
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r.label, strings.Join(cells, " | "))
	}
	fmt.Fprintf(&b, "\nMedians of %d rounds. Time and requests/s: ratio to %s (its own value in parentheses), "+
		"the median of the rounds' ratios [lowest-highest round]; allocations and bytes: per call.\n", rounds, baseline)
	return b.String()
}

// timeRatio shows values relative to base, round by round; the baseline's
// own cell shows its median time.
func timeRatio(values, base []float64, isBase bool) string {
	if isBase {
		return "1 (" + duration(median(base)) + ")"
	}
	return ratioCell(values, base)
}

// rateRatio is timeRatio for a rate (higher is better).
func rateRatio(values, base []float64, isBase bool) string {
	if isBase {
		return fmt.Sprintf("1 (%.3gk/s)", median(base)/1000)
	}
	return ratioCell(values, base)
}

func ratioCell(values, base []float64) string {
	ratios := pairedRatios(values, base)
	if len(ratios) == 0 {
		return "?"
	}
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	return fmt.Sprintf("%.2f [%.2f-%.2f]", median(ratios), lo, hi)
}

// pairedRatios divides the n-th value by the n-th baseline value.
func pairedRatios(values, base []float64) []float64 {
	n := min(len(values), len(base))
	ratios := make([]float64, 0, n)
	for i := range n {
		if base[i] != 0 {
			ratios = append(ratios, values[i]/base[i])
		}
	}
	return ratios
}

func count(values, _ []float64, _ bool) string {
	return strconv.FormatFloat(math.Round(median(values)), 'f', -1, 64)
}

// countRange shows the median and, when the rounds differ, their range.
func countRange(values, _ []float64, _ bool) string {
	lo, hi := slices.Min(values), slices.Max(values)
	if lo == hi {
		return fmt.Sprintf("%g", lo)
	}
	return fmt.Sprintf("%g [%g-%g]", math.Round(median(values)), lo, hi)
}

func bytes(values, _ []float64, _ bool) string {
	v := median(values)
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f KB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}

func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
