#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions that run from traps and wait_ready
# Starts the real servers the store modules test against, on free loopback
# ports in a temporary directory, and stops them (and removes the
# directory) on exit:
#
#   redis          one redis-server             KRYPTOGO_REDIS_ADDR=127.0.0.1:PORT
#   redis-cluster  three redis-servers, one     KRYPTOGO_REDIS_CLUSTER_ADDRS=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#                  cluster (16384 slots split)
#   postgres       PostgreSQL (initdb, a        KRYPTOGO_POSTGRES_DSN=postgres://kgtest:PW@127.0.0.1:PORT/kryptogo?sslmode=disable
#                  password, fsync off)
#
# Usage:
#   scripts/services.sh run [SERVICE...] -- CMD [ARG...]
#       start the services (all when none is named), run CMD with the
#       variables above in its environment, stop everything when CMD ends
#       (or on SIGINT/SIGTERM/SIGHUP), and exit with CMD's status.
#   scripts/services.sh up [SERVICE...]
#       start the services, print the variables as shell exports, and keep
#       them running until interrupted (Ctrl-C); for a second terminal.
#
# redis-server is installed from the Debian package when missing (as root,
# or through sudo). PostgreSQL refuses to run as root: as root the script
# runs it as the unprivileged user "postgres" (or "nobody"). The servers
# die with the script even when it is killed with SIGKILL (their parent
# death signal), so a killed run leaves nothing listening, and every run
# picks its own ports and directory.
set -euo pipefail

die() { echo "services.sh: $*" >&2; exit 2; }
log() { echo "services.sh: $*" >&2; }

usage() {
  sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- arguments ----------------------------------------------------------
mode=${1:-}
[ "$mode" = run ] || [ "$mode" = up ] || usage
shift
want_redis=0 want_cluster=0 want_postgres=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case $1 in
    redis) want_redis=1 ;;
    redis-cluster) want_cluster=1 ;;
    postgres) want_postgres=1 ;;
    *) die "unknown service \"$1\" (redis, redis-cluster, postgres)" ;;
  esac
  shift
done
if [ $((want_redis + want_cluster + want_postgres)) -eq 0 ]; then
  want_redis=1 want_cluster=1 want_postgres=1
fi
if [ "$mode" = run ]; then
  if [ "${1:-}" != -- ] || [ $# -lt 2 ]; then die "run needs a command: services.sh run [SERVICE...] -- CMD [ARG...]"; fi
  shift
fi

# ---- clean-up, set before anything starts -------------------------------
tmp=""
server_pids=()   # every server, stopped in reverse order
pg_pid=""        # PostgreSQL stops on SIGINT (fast shutdown), Redis on SIGTERM
cmd_pid=""
made_policy=""   # a policy-rc.d this script wrote for an install, removed on exit

stop_servers() {
  local pid i
  for ((i = ${#server_pids[@]} - 1; i >= 0; i--)); do
    pid=${server_pids[i]}
    if [ "$pid" = "$pg_pid" ]; then kill -INT "$pid" 2>/dev/null || true
    else kill -TERM "$pid" 2>/dev/null || true; fi
  done
  # Each server gets 15 s to stop cleanly, then SIGKILL.
  for pid in "${server_pids[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$cmd_pid" ]; then kill -TERM -- "-$cmd_pid" 2>/dev/null || true; fi
  stop_servers
  remove_policy
  if [ -n "$tmp" ]; then rm -rf -- "$tmp"; fi
  exit "$status"
}
on_signal() { log "$1: stopping"; exit $((128 + $2)); }
trap cleanup EXIT
trap 'on_signal SIGHUP 1' HUP
trap 'on_signal SIGINT 2' INT
trap 'on_signal SIGTERM 15' TERM

# ---- tools ----------------------------------------------------------------
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(); fi
fi

apt_install() {
  if [ "$(id -u)" -ne 0 ] && [ ${#as_root[@]} -eq 0 ]; then
    die "$1 is missing; install the Debian package(s) $* (apt-get install $*) or run as root"
  fi
  log "installing $* (apt-get)"
  # The package must not start its own server on the default port: a
  # policy-rc.d that refuses every service start covers the install.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    made_policy=$policy
  fi
  local apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y --no-install-recommends "$@" >/dev/null; then
    "${apt[@]}" update >/dev/null
    "${apt[@]}" install -y --no-install-recommends "$@" >/dev/null
  fi
  remove_policy
}

remove_policy() {
  if [ -n "$made_policy" ]; then "${as_root[@]}" rm -f "$made_policy"; made_policy=""; fi
}

if [ $((want_redis + want_cluster)) -gt 0 ]; then
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
  fi
fi

pg_bin=""
pg_user=""
if [ "$want_postgres" = 1 ]; then
  pg_newest() { printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r | while read -r dir; do
    if [ -x "$dir/initdb" ]; then echo "$dir"; break; fi
  done; }
  pg_bin=$(pg_newest)
  if [ -z "$pg_bin" ] && command -v initdb >/dev/null; then
    pg_bin=$(dirname "$(readlink -f "$(command -v initdb)")")
  fi
  if [ -z "$pg_bin" ]; then
    apt_install postgresql
    pg_bin=$(pg_newest)
  fi
  [ -x "$pg_bin/initdb" ] || die "PostgreSQL (initdb, postgres) is not installed"
  # PostgreSQL refuses to run as root.
  if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
  fi
fi

# pg_run runs a PostgreSQL program as the unprivileged user (when root); an
# array, not a function, so that "${pg_run[@]}" prog & starts prog itself
# as our child (its pid is the server's, and its parent death signal is
# tied to this script).
pg_run=(setpriv --pdeathsig KILL --)
if [ -n "$pg_user" ]; then
  pg_run=(setpriv --reuid "$pg_user" --regid "$(id -g "$pg_user")" --clear-groups --pdeathsig KILL --)
fi

# ---- ports ------------------------------------------------------------------
# Ports come from below the kernel's ephemeral range (where outgoing
# connections take their local ports, which a server then cannot bind), with
# room for a cluster node's bus port (port + 10000) below it too. A port is a
# candidate when nothing listens on it; a server that still fails to bind
# (another process took the port meanwhile) is started again on another.
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_low=32768
port_low=10000 port_high=$((ephemeral_low - 10001))
if [ "$port_high" -lt $((port_low + 1000)) ]; then port_high=55000; fi
listening() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 100); do
    p=$((port_low + (RANDOM * 32768 + RANDOM) % (port_high - port_low + 1)))
    if ! listening "$p" && ! listening $((p + 10000)); then echo "$p"; return; fi
  done
  die "no free loopback port found"
}

# wait_ready PID WHAT CHECK...: waits until CHECK succeeds; fails when the
# process PID exits first or after 60 s.
wait_ready() {
  local pid=$1 what=$2
  shift 2
  for _ in $(seq 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  log "$what did not become ready within 60 s"
  return 1
}

# ---- Redis ----------------------------------------------------------------------
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

# start_redis NAME [ARG...]: starts a redis-server on a free port and sets
# $port; the server's files live in $tmp/NAME.
start_redis() {
  local name=$1 pid attempt
  shift
  mkdir -p "$tmp/$name"
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    setpriv --pdeathsig KILL -- redis-server --bind 127.0.0.1 --port "$port" --dir "$tmp/$name" \
      --save '' --appendonly no --daemonize no --protected-mode yes --logfile "$tmp/$name/redis.log" \
      "$@" </dev/null &
    pid=$!
    if wait_ready "$pid" "redis-server ($name)" redis_ping "$port"; then
      server_pids+=("$pid")
      return
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "redis-server ($name) did not start on port $port (attempt $attempt of 5): $(grep -m1 -E 'Could not|Failed|error' "$tmp/$name/redis.log" 2>/dev/null)"
  done
  die "redis-server ($name) did not start"
}

cluster_ok() {
  local p
  for p in "$@"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

start_redis_cluster() {
  local ports=() addrs=() i
  for i in 1 2 3; do
    # The cluster bus listens on port+10000; the configuration file is
    # per node and per run.
    start_redis "cluster$i" --cluster-enabled yes --cluster-config-file "$tmp/cluster$i/nodes.conf" \
      --cluster-node-timeout 5000
    # The bus port is derived from the data port; pick_port checked both.
    ports+=("$port")
    addrs+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$tmp/cluster-create.log" 2>&1 ||
    { cat "$tmp/cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
  wait_ready "${server_pids[-1]}" "redis cluster" cluster_ok "${ports[@]}" || die "the Redis cluster did not reach cluster_state:ok"
  cluster_addrs=$(IFS=,; echo "${addrs[*]}")
}

# ---- PostgreSQL -------------------------------------------------------------------
pg_ready() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$1"; }

start_postgres() {
  local dir=$tmp/postgres pid attempt password
  mkdir -p "$dir"
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  chmod 600 "$dir/pwfile"
  if [ -n "$pg_user" ]; then chown -R "$pg_user" "$dir"; fi
  chmod 700 "$dir"
  "${pg_run[@]}" "$pg_bin/initdb" -D "$dir/data" -U kgtest --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1 </dev/null ||
    { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    # Throwaway data: durability off for speed. No Unix socket: loopback TCP only.
    "${pg_run[@]}" "$pg_bin/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
      -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      -c max_connections=200 >"$tmp/postgres.log" 2>&1 </dev/null &
    pid=$!
    if wait_ready "$pid" postgres pg_ready "$port"; then
      server_pids+=("$pid")
      pg_pid=$pid
      PGPASSWORD=$password "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U kgtest kryptogo ||
        die "createdb kryptogo failed"
      postgres_dsn="postgres://kgtest:$password@127.0.0.1:$port/kryptogo?sslmode=disable"
      return
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "postgres did not start on port $port (attempt $attempt of 5): $(grep -m1 -E 'FATAL|ERROR|could not' "$tmp/postgres.log")"
  done
  die "postgres did not start"
}

# ---- main ------------------------------------------------------------------------------
# A run killed with SIGKILL could not remove its directory (its servers died
# with it): remove those of runs whose script is gone.
for stale in "${TMPDIR:-/tmp}"/kryptogo-services.*/; do
  [ -f "$stale/owner" ] || continue
  owner=$(cat "$stale/owner" 2>/dev/null || true)
  case $owner in ''|*[!0-9]*) continue ;; esac
  if ! grep -qs services.sh "/proc/$owner/cmdline"; then rm -rf -- "$stale" 2>/dev/null || true; fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kryptogo-services.XXXXXX")
echo $$ >"$tmp/owner"
chmod 711 "$tmp"   # the PostgreSQL user reaches its own subdirectory only

# The servers start in the directory (PostgreSQL's user may not enter the
# caller's); the command runs where the script was called.
caller_dir=$PWD
cd "$tmp"
exports=()
if [ "$want_redis" = 1 ]; then
  start_redis redis
  exports+=("KRYPTOGO_REDIS_ADDR=127.0.0.1:$port")
fi
if [ "$want_cluster" = 1 ]; then
  start_redis_cluster
  exports+=("KRYPTOGO_REDIS_CLUSTER_ADDRS=$cluster_addrs")
fi
if [ "$want_postgres" = 1 ]; then
  start_postgres
  exports+=("KRYPTOGO_POSTGRES_DSN=$postgres_dsn")
fi

for e in "${exports[@]}"; do
  printf "export %s='%s'\n" "${e%%=*}" "${e#*=}"
  export "${e?}"
done

if [ "$mode" = up ]; then
  log "running; Ctrl-C stops the servers"
  while :; do sleep 1; done
fi

cd "$caller_dir"

# The command runs in a process group of its own (job control on while it
# starts), so that a signal to this script stops all of it, and its exit
# status is ours.
set -m
setpriv --pdeathsig TERM -- "$@" &   # TERM, should this script be killed outright
cmd_pid=$!
set +m
status=0
wait "$cmd_pid" || status=$?
cmd_pid=""
exit "$status"
