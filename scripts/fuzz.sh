#!/usr/bin/env bash
# Runs every Fuzz target of every package, one after another, for the given
# number of seconds each (default 30), and prints a summary line per target.
# A crash stops the run; Go writes its input under the package's
# testdata/fuzz/<Target>/, where it becomes a regression test: commit it.
#
#   scripts/fuzz.sh        # 30 s per target
#   scripts/fuzz.sh 60     # 60 s per target
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT

for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for target in $targets; do
    printf '== %s %s (%ss)\n' "$pkg" "$target" "$seconds"
    # -parallel 1 keeps the run fair on a shared machine.
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${seconds}s" -parallel 1 >"$log" 2>&1; then
      cat "$log"
      echo "FAIL: $target crashed; its input is under testdata/fuzz/$target/" >&2
      exit 1
    fi
    # The last progress line holds the totals: "fuzz: elapsed: 30s, execs: N (r/sec), new interesting: M".
    grep 'fuzz: elapsed' "$log" | tail -n 1
  done
done
