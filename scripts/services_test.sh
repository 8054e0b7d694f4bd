#!/usr/bin/env bash
# Tests scripts/services.sh: the servers answer, the command's status comes
# back, SIGTERM and SIGKILL of the script leave no server listening, and a
# run after a killed one works (and removes the killed run's directory).
#
# Usage: scripts/services_test.sh   (about 20 s; as root, or with the
# servers installed)
set -euo pipefail
cd "$(dirname "$0")/.."
services=scripts/services.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

port_of() { sed -n "s/^export $1='[^']*127\.0\.0\.1:\([0-9]*\).*/\1/p" "$out"; }
listening() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kill_run SIG: starts a run whose command sleeps, waits for its
# exports, kills the script with SIG, and checks its servers are gone.
kill_run() {
  local sig=$1 pid redis_port pg_port dir
  $services run redis postgres -- sleep 600 >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q KRYPTOGO_POSTGRES_DSN "$out" && break; sleep 0.1; done
  redis_port=$(port_of KRYPTOGO_REDIS_ADDR)
  pg_port=$(port_of KRYPTOGO_POSTGRES_DSN)
  if [ -z "$redis_port" ] || [ -z "$pg_port" ]; then cat "$out" >&2; fail "no exports from services.sh"; fi
  listening "$redis_port" || fail "redis not listening on $redis_port"
  listening "$pg_port" || fail "postgres not listening on $pg_port"
  dir=""
  for d in "${TMPDIR:-/tmp}"/kryptogo-services.*; do
    if [ "$(cat "$d/owner" 2>/dev/null)" = "$pid" ]; then dir=$d; fi
  done
  [ -n "$dir" ] || fail "no directory owned by the run"
  kill "-$sig" "$pid"
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    listening "$redis_port" || listening "$pg_port" || break
    sleep 0.1
  done
  listening "$redis_port" && fail "redis still listening after SIG$sig"
  listening "$pg_port" && fail "postgres still listening after SIG$sig"
  pass "SIG$sig: no server left listening"
  killed_dir=$dir
}

status=0
$services run redis postgres -- sh -c 'exit 7' >/dev/null 2>&1 || status=$?
[ "$status" = 7 ] || fail "the command's status 7 came back as $status"
pass "the command's exit status comes back"

kill_run TERM
[ -d "$killed_dir" ] && fail "SIGTERM left $killed_dir"
pass "SIGTERM: directory removed"

kill_run KILL
[ -d "$killed_dir" ] || fail "expected SIGKILL to leave $killed_dir for the next run to remove"

# shellcheck disable=SC2016  # expanded by the inner shell
$services run redis postgres -- sh -c '
  [ "$(redis-cli -h 127.0.0.1 -p "${KRYPTOGO_REDIS_ADDR#*:}" ping)" = PONG ] &&
  [ "$(psql "$KRYPTOGO_POSTGRES_DSN" -Atc "select 40 + 2")" = 42 ]' >/dev/null 2>&1 ||
  fail "the run after a killed one did not serve"
pass "a run after a SIGKILLed one serves Redis and PostgreSQL"
[ -d "$killed_dir" ] && fail "the killed run's directory $killed_dir is still there"
pass "the killed run's directory is removed"
echo "services_test: all passed"
