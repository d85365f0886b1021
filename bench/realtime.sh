#!/usr/bin/env bash
# Realtime messaging benchmark: starts the release server on SQLite and on
# PostgreSQL and drives it with bench/realtime (a small Rust client, built
# into bench/realtime/target). Prints two markdown tables.
#
#   bench/realtime.sh                   # both backends
#   bench/realtime.sh sqlite            # one backend
#   BENCH_DURATION=30s bench/realtime.sh
#
# For each backend, on a fresh server and database:
#  1. Set-up: a facility and two nurses, a sender and a receiver, invited
#     through the API (codes from the outbox, as bench/setup.py does).
#  2. Idle sockets (first, so the "before" figure is a server that has only
#     served the set-up): the server's VmRSS/VmHWM (/proc/<pid>/status) and
#     open descriptors; then BENCH_RT_SOCKETS (10000) WebSockets opened as the
#     receiver, BENCH_RT_HANDSHAKES (200) handshakes at a time, each
#     subscribed to the same conversation; the figures again, and the
#     difference per socket. The sockets then stay idle BENCH_RT_HOLD (35) s,
#     past one of the server's 30 s pings, and are measured again; then
#     BENCH_RT_FANOUT (3) messages go out one at a time, each to all of them,
#     timed from the POST to the first, median and last socket; then the
#     client closes them and the server is measured once more.
#  3. Throughput, one run per BENCH_RT_LEVELS entry senders:conversations
#     (1:1 8:8 32:32 32:1): the sender starts that many conversations with
#     the receiver, the receiver opens one socket per conversation and
#     subscribes; sender task i posts to conversation i mod conversations in a
#     closed loop: POST …/messages, then wait for that message's
#     message.created on the receiving socket, then the next. BENCH_WARMUP
#     (2) s first, not counted, then BENCH_DURATION (10s). msg/s counts the
#     events that arrived in the measured window; the latency runs from just
#     before the POST is sent to the moment the event is read off the
#     receiving socket, for messages posted in the window, matched by message
#     id. Errors: HTTP failures, events missing after 10 s, events of
#     messages nobody sent, duplicates, sockets the server closed.
#
# Client and server share the machine's cores, so the client's CPU counts
# against the server's figures.
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (2), BENCH_RT_LEVELS,
# BENCH_RT_SOCKETS, BENCH_RT_HANDSHAKES, BENCH_RT_HOLD, BENCH_RT_FANOUT,
# CAREBASE_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres;
# "none" skips PostgreSQL), BENCH_PG_OPTIONS (sslmode=disable),
# BENCH_DB_MAX_CONNECTIONS (the server's pool size, CAREBASE_DB_MAX_CONNECTIONS;
# the server's default, 10, when unset), BENCH_CAREBASE_BIN (a carebase
# binary to use instead of building target/release/carebase), BENCH_KEEP=1
# (keep the servers' data and logs, and print where). The warnings and
# errors in each server's log are counted under the tables.
# Needs cargo, curl, python3 and, for PostgreSQL,
# psql. Raises the open-file limit (ulimit -n) to 65536, or to the hard
# limit when it is lower; it must leave room for BENCH_RT_SOCKETS + 1000.
set -euo pipefail
cd "$(dirname "$0")/.."
STARTED=$SECONDS

DURATION=${BENCH_DURATION:-10s}
DURATION=${DURATION%s}
WARMUP=${BENCH_WARMUP:-2}
LEVELS=${BENCH_RT_LEVELS:-1:1 8:8 32:32 32:1}
SOCKETS=${BENCH_RT_SOCKETS:-10000}
HANDSHAKES=${BENCH_RT_HANDSHAKES:-200}
HOLD=${BENCH_RT_HOLD:-35}
FANOUT=${BENCH_RT_FANOUT:-3}
PG_ADMIN_URL=${CAREBASE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_OPTIONS=${BENCH_PG_OPTIONS:-sslmode=disable}
BACKENDS=${*:-sqlite postgres}
ADMIN_EMAIL="bench-admin@bench.example"
ADMIN_PASSWORD="bench administrator passphrase"
# Long enough that no token or session ends during the run (the socket of
# an expired access token is closed with 4001).
TOKEN_TTL=14400
POOL=${BENCH_DB_MAX_CONNECTIONS:-}

# Both the server and the client inherit the limit from this shell.
ulimit -n 65536 2>/dev/null || ulimit -n hard
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((SOCKETS + 1000)) ]; then
  echo "bench: ulimit -n is $NOFILE (hard limit $(ulimit -Hn)); $SOCKETS sockets need $((SOCKETS + 1000))" >&2
  exit 1
fi

if [ -n "${BENCH_CAREBASE_BIN:-}" ]; then
  CAREBASE=$BENCH_CAREBASE_BIN
else
  cargo build --release --quiet --bin carebase
  CAREBASE=target/release/carebase
fi
cargo build --release --quiet --manifest-path bench/realtime/Cargo.toml
BENCH=bench/realtime/target/release/carebase-realtime-bench

WORK=$(mktemp -d)
SERVER_PID=""
PG_DB=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$PG_DB" ] && psql "$PG_ADMIN_URL" -qc "drop database if exists \"$PG_DB\" with (force)" >/dev/null 2>&1 || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept the servers' data and logs in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() {
  for _ in $(seq 1 400); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "bench: $1 did not answer" >&2
  exit 1
}

# The server log's warnings and errors, counted by kind.
log_summary() { # backend log
  local out line
  out=$(python3 - "$2" <<'PY'
import collections, re, sys
counts = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\S+\s+(ERROR|WARN)\s+(\S+)\s+(.*)", line)
    if not m:
        continue
    level, target, rest = m.groups()
    message = re.split(r"\s[\w.]+=", rest, maxsplit=1)[0]
    why = re.search(r"\b(?:cause|error)=(\"[^\"]*\"|.*?)(?=\s[\w.]+=|$)", rest.rstrip())
    key = f"{level} {target} {message}"
    if why:
        key += f" ({why.group(1).strip(chr(34))[:160]})"
    counts[key] += 1
for key, n in counts.most_common(10):
    print(f"{n} × {key}")
if not counts:
    print("no warnings or errors")
PY
)
  while IFS= read -r line; do NOTES+=("$1 server log: $line"); done <<<"$out"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

ROWS=()
MEM_ROWS=()
NOTES=()
# Runs the bench client; keeps its ROW/MEM/NOTE lines, or notes its failure.
bench() { # backend what args...
  local backend=$1 what=$2 out status=0
  shift 2
  out=$("$BENCH" "$@" 2>"$WORK/bench.err") || status=$?
  while IFS= read -r line; do
    case "$line" in
      "ROW "*) ROWS+=("${line#ROW }") ;;
      "MEM "*) MEM_ROWS+=("${line#MEM }") ;;
      "NOTE "*) NOTES+=("${line#NOTE }") ;;
    esac
  done <<<"$out"
  if [ "$status" -ne 0 ]; then
    NOTES+=("$backend: $what failed: $(tail -n 3 "$WORK/bench.err" | tr '\n' ' ')")
  fi
  if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
    NOTES+=("$backend: the server exited during $what; its log ends: $(tail -n 5 "$DATA/server.log" | tr '\n' ' ')")
    SERVER_PID=""
    return 1
  fi
  return 0
}

run_backend() { # backend database_url
  local backend=$1 port
  port=$(free_port)
  DATA="$WORK/$backend"
  mkdir -p "$DATA"
  local env=(env -i PATH="$PATH" CAREBASE_LISTEN="127.0.0.1:$port" CAREBASE_DATA_DIR="$DATA"
    CAREBASE_ACCESS_TOKEN_TTL_SECS=$TOKEN_TTL CAREBASE_SESSION_IDLE_TIMEOUT_SECS=$TOKEN_TTL)
  [ -n "$2" ] && env+=(CAREBASE_DATABASE_URL="$2")
  [ -n "$POOL" ] && env+=(CAREBASE_DB_MAX_CONNECTIONS="$POOL")
  echo "$ADMIN_PASSWORD" | "${env[@]}" "$CAREBASE" admin create \
    --email "$ADMIN_EMAIL" --password-stdin >"$DATA/admin.log" 2>&1
  "${env[@]}" "$CAREBASE" serve >"$DATA/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "http://127.0.0.1:$port/ready"
  local base="http://127.0.0.1:$port" state="$DATA/state.json"
  echo "bench: $backend: setting up" >&2
  "$BENCH" setup --base "$base" --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
    --state "$state" >/dev/null
  if [ "$SOCKETS" -gt 0 ]; then
    echo "bench: $backend: $SOCKETS idle sockets" >&2
    bench "$backend" "the idle-socket run" idle --state "$state" --backend "$backend" \
      --server-pid "$SERVER_PID" --sockets "$SOCKETS" --concurrency "$HANDSHAKES" \
      --hold "$HOLD" --fanout-messages "$FANOUT" || { log_summary "$backend" "$DATA/server.log"; return 0; }
  fi
  local level senders conversations
  for level in $LEVELS; do
    senders=${level%%:*}
    conversations=${level#*:}
    echo "bench: $backend: $senders senders, $conversations conversations" >&2
    bench "$backend" "the $level throughput run" throughput --state "$state" --backend "$backend" \
      --senders "$senders" --conversations "$conversations" --duration "$DURATION" \
      --warmup "$WARMUP" || { log_summary "$backend" "$DATA/server.log"; return 0; }
  done
  stop_server
  log_summary "$backend" "$DATA/server.log"
}

for backend in $BACKENDS; do
  case "$backend" in
    sqlite) run_backend sqlite "" ;;
    postgres)
      [ "$PG_ADMIN_URL" = none ] && continue
      PG_DB="carebase_bench_rt_$$_$RANDOM"
      psql "$PG_ADMIN_URL" -qc "create database \"$PG_DB\"" >/dev/null
      run_backend postgres "${PG_ADMIN_URL%/*}/$PG_DB?$PG_OPTIONS"
      psql "$PG_ADMIN_URL" -qc "drop database if exists \"$PG_DB\" with (force)" >/dev/null
      PG_DB=""
      ;;
    *) echo "bench: unknown backend $backend (sqlite, postgres)" >&2; exit 1 ;;
  esac
done

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo
echo "carebase realtime messaging on $(nproc) cores ($(uname -m), ${CPU:-unknown CPU}); server and client on the same machine; ulimit -n $NOFILE; server database pool: ${POOL:-the default (10)} connections"
echo
if [ ${#ROWS[@]} -gt 0 ]; then
  echo "Send → receive: closed-loop senders (POST …/messages, then wait for its message.created on the receiver's socket), ${WARMUP} s warm-up, ${DURATION} s measured; latency in ms from just before the POST to the event read off the socket; HTTP = the POST's own answer time:"
  echo
  echo "| backend | workload | msg/s | p50 ms | p99 ms | max ms | HTTP p50 ms | HTTP p99 ms | samples / POSTs | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
fi
if [ ${#MEM_ROWS[@]} -gt 0 ]; then
  echo "Idle WebSockets (server process; per-socket cost = RSS difference / sockets open; the second per-socket figure leaves out the first tenth, so the memory the set-up's password hashing left to the allocator does not count):"
  echo
  echo "| backend | workload | figure |"
  echo "|---|---|---|"
  printf '%s\n' "${MEM_ROWS[@]}"
fi
if [ ${#NOTES[@]} -gt 0 ]; then
  echo
  printf '%s\n' "${NOTES[@]}"
fi
echo
echo "Whole run: $((SECONDS - STARTED)) s."
