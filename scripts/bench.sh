#!/usr/bin/env bash
# Runs the SDK-against-hand-written benchmark pairs side by side in one run,
# compares each pair with benchstat and prints the sdk/baseline ratios:
#
#   BenchmarkTaskGet/{sdk,raw}            one Tasks.Get, full task-detail JSON
#   BenchmarkSummaryParallel/{sdk,raw}    64 callers on one client (req/s, conns)
#   BenchmarkIDVCreate/{sdk,naive}        three 5 MiB images (alloc/size)
#
# Usage: scripts/bench.sh [count]   (default 6; results kept in bench.out)
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-6}
out=bench.out
pattern='^(BenchmarkTaskGet|BenchmarkSummaryParallel|BenchmarkIDVCreate)$'

echo "== machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)"
# One round at a time, so that each pair runs close together in time: on a
# shared machine, the load drifts between one sub-benchmark's rounds and
# the next one's.
go test -c -o "$out.test" . && trap 'rm -f "$out.test"' EXIT
: > "$out"
for _ in $(seq "$count"); do
  "./$out.test" -test.run '^$' -test.bench "$pattern" -test.benchmem | tee -a "$out"
done

# benchstat compares sub-benchmarks by a key=value name part: sdk against
# the baseline (raw or naive) of the same benchmark.
cmp=$(mktemp)
trap 'rm -f "$cmp" "$out.test"' EXIT
sed -E 's#/sdk-#/impl=sdk-#; s#/(raw|naive)-#/impl=baseline-#' "$out" > "$cmp"
echo
echo "== benchstat (sdk against the baseline of each pair)"
go run golang.org/x/perf/cmd/benchstat@latest -col /impl "$cmp"

echo
echo "== ratios sdk/baseline (medians of $count runs)"
printf "%-28s %-12s %14s %14s %8s\n" benchmark unit sdk baseline ratio
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    n = split(name, parts, "/"); impl = parts[n]; bench = substr(name, 1, length(name) - length(impl) - 1)
    if (impl != "sdk") impl = "baseline"
    benches[bench] = 1
    for (i = 3; i < NF; i += 2) { key = bench SUBSEP impl SUBSEP $(i+1); vals[key] = vals[key] " " $i; units[bench SUBSEP $(i+1)] = 1 }
  }
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    for (bu in units) {
      split(bu, p, SUBSEP); b = p[1]; u = p[2]
      s = vals[b SUBSEP "sdk" SUBSEP u]; r = vals[b SUBSEP "baseline" SUBSEP u]
      if (s == "" || r == "") continue
      ms = median(s); mr = median(r)
      printf "%-28s %-12s %14.4g %14.4g %8s\n", b, u, ms, mr, (mr + 0 == 0) ? "-" : sprintf("%.3f", ms / mr)
    }
  }' "$out" | sort
