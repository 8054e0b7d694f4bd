#!/usr/bin/env bash
# Counts, per call, the instructions and the level-1 cache misses of the
# SDK and of the hand-written client on one bench/ benchmark, under
# valgrind's cachegrind (a simulated cache, so the counts barely move with
# the machine's load, unlike times). A call's figure is the difference
# between a run of 5,000 calls and one of 1,000, divided by 4,000: the
# test binary's start and the benchmark's set-up cancel out. The loopback
# server's work is included, alike for both. GOMAXPROCS=1: one simulated
# core runs client and server.
#
# Usage: scripts/cachesim.sh [benchmark]   (default: the 1.2 KB detail)
#   e.g. scripts/cachesim.sh 'BenchmarkTaskCreate/impl='
# The benchmark is a -test.bench pattern that ends where the
# implementation's name follows. Needs valgrind (Debian: valgrind).
#
# The estimate is a plain cost model: half a cycle per instruction (two per
# cycle) and 14 cycles per level-1 miss served by the level-2 cache.
set -euo pipefail
cd "$(dirname "$0")/../bench"
bench=${1:-'BenchmarkTaskGet$/body=small/impl='}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" .

# counts IMPL N prints the run's instructions, I1 misses and D1 misses.
counts() {
  GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=cachegrind --cache-sim=yes \
    --cachegrind-out-file=/dev/null "$bin" -test.run '^$' -test.bench "${bench}$1\$" \
    -test.benchtime "$2x" 2>&1 >/dev/null |
    awk '{ gsub(",", "") }
      / I +refs:/   { ir = $4 }
      / D1 +misses:/ { d1 = $4 }
      / LL refs:/   { ll = $4 }
      END { print ir, ll - d1, d1 }' # LL refs are the I1 and D1 misses
}

printf "%-12s %14s %12s %12s %16s\n" impl instructions "I1 misses" "D1 misses" "model cycles"
for impl in handwritten sdk; do
  read -r ir1 i11 d11 <<<"$(counts "$impl" 1000)"
  read -r ir5 i15 d15 <<<"$(counts "$impl" 5000)"
  awk -v impl="$impl" -v ir=$((ir5 - ir1)) -v i1=$((i15 - i11)) -v d1=$((d15 - d11)) 'BEGIN {
    n = 4000; printf "%-12s %14.0f %12.0f %12.0f %16.0f\n", impl, ir / n, i1 / n, d1 / n, (ir / 2 + 14 * (i1 + d1)) / n }'
done
