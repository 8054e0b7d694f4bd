#!/usr/bin/env bash
# Runs the benchmarks that compare the SDK with other code side by side, in
# alternating rounds (each round runs every implementation once, so a load
# that drifts on a shared machine hits them all alike), and prints medians.
#
# Suites:
#   pairs    the root package's SDK-against-hand-written pairs, compared with
#            benchstat, and their sdk/baseline ratios (the README's
#            Performance table):
#              BenchmarkTaskGet/{sdk,raw}            one Tasks.Get, full task-detail JSON
#              BenchmarkSummaryParallel/{sdk,raw}    64 callers on one client (req/s, conns)
#              BenchmarkIDVCreate/{sdk,naive}        three 5 MiB images (alloc/size)
#   compare  the bench/ module: hand-written net/http, the SDK, the
#            oapi-codegen and ogen clients and the physical limit (read the
#            answer, no decoding) against one loopback server on the same
#            recorded bodies, printed as a table of ratios to the
#            hand-written code (bench/cmd/benchtable).
#
# Usage: scripts/bench.sh [-n rounds] [-t benchtime] [-j v1|v2|both] [suite...]
#        scripts/bench.sh [rounds]          (the former form: both suites)
#   -n  rounds, at least 6 for the figures of the README (default 6)
#   -t  -test.benchtime of each benchmark in a round (default 1s)
#   -j  encoding/json as it is (v1, the default), built with
#       GOEXPERIMENT=jsonv2 (v2: Go's coming JSON engine behind the same
#       API), or both, alternating within each round
# Results are kept in bench.out and bench-compare.out (with -jsonv2 before
# .out for the v2 build).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=6 benchtime=1s json=v1
while getopts "n:t:j:h" opt; do
  case $opt in
    n) rounds=$OPTARG ;;
    t) benchtime=$OPTARG ;;
    j) json=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -eq 1 && $1 =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(pairs compare)
case $json in
  v1) variants=(v1) ;; v2) variants=(v2) ;; both) variants=(v1 v2) ;;
  *) echo "-j: v1, v2 or both, not $json" >&2; exit 2 ;;
esac
for s in "${suites[@]}"; do
  [[ $s == pairs || $s == compare ]] || { echo "unknown suite $s (pairs, compare)" >&2; exit 2; }
done

pairs_pattern='^(BenchmarkTaskGet|BenchmarkSummaryParallel|BenchmarkIDVCreate)$'
compare_pattern='^(BenchmarkTaskGet|BenchmarkTaskCreate|BenchmarkKYAGet|BenchmarkTaskGet64|BenchmarkCallback)$'

suffix() { [[ $1 == v2 ]] && echo "-jsonv2" || true; }
out_file() { if [[ $1 == pairs ]]; then echo "bench$(suffix "$2").out"; else echo "bench-compare$(suffix "$2").out"; fi; }
root=$PWD
bin_file() { echo "$root/bench-$1$(suffix "$2").test"; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)"
echo "== load average before: $(loadavg) (other jobs on the machine slow every implementation alike within a round)"

# Build every test binary first, so that no build runs between rounds.
binaries=()
trap 'rm -f "${binaries[@]}"' EXIT
for s in "${suites[@]}"; do
  for v in "${variants[@]}"; do
    bin=$(bin_file "$s" "$v")
    env=()
    [[ $v == v2 ]] && env=(GOEXPERIMENT=jsonv2)
    if [[ $s == pairs ]]; then
      env "${env[@]}" go test -c -o "$bin" .
    else
      (cd bench && env "${env[@]}" go test -c -o "$bin" .)
    fi
    binaries+=("$bin")
    : > "$(out_file "$s" "$v")"
  done
done

# run_once runs one suite's benchmarks once, from the directory of its
# package (the benchmarks read testdata relative to it).
run_once() {
  local s=$1 v=$2 dir=. pattern=$pairs_pattern
  [[ $s == compare ]] && dir=bench pattern=$compare_pattern
  (cd "$dir" && "$(bin_file "$s" "$v")" -test.run '^$' -test.bench "$pattern" -test.benchmem \
    -test.benchtime "$benchtime") | tee -a "$(out_file "$s" "$v")"
}

for r in $(seq "$rounds"); do
  echo "== round $r of $rounds (load average $(loadavg))"
  order=("${variants[@]}")
  # With both JSON builds, each goes first every other round.
  if (( r % 2 == 0 && ${#variants[@]} == 2 )); then order=(v2 v1); fi
  for s in "${suites[@]}"; do
    for v in "${order[@]}"; do
      echo "-- $s, encoding/json $v"
      run_once "$s" "$v"
    done
  done
done
echo "== load average after: $(loadavg)"

# pairs_report compares each pair with benchstat and prints the
# sdk/baseline ratios of the medians.
pairs_report() {
  local out=$1 cmp
  cmp=$(mktemp)
  # benchstat compares sub-benchmarks by a key=value name part: sdk against
  # the baseline (raw or naive) of the same benchmark.
  sed -E 's#/sdk-#/impl=sdk-#; s#/(raw|naive)-#/impl=baseline-#' "$out" > "$cmp"
  echo
  echo "== benchstat (sdk against the baseline of each pair; $out)"
  go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl "$cmp"
  rm -f "$cmp"
  echo
  echo "== ratios sdk/baseline (medians of $rounds runs; $out)"
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
}

for s in "${suites[@]}"; do
  for v in "${variants[@]}"; do
    out=$(out_file "$s" "$v")
    if [[ $s == pairs ]]; then
      pairs_report "$out"
    else
      echo
      echo "== the SDK against hand-written code, generated clients and the limit ($out)"
      echo
      (cd bench && go run ./cmd/benchtable -title "encoding/json: $([[ $v == v2 ]] && echo 'GOEXPERIMENT=jsonv2' || echo 'as shipped')" "../$out")
    fi
  done
done
