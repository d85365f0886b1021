#!/usr/bin/env bash
# Load benchmark: starts the release server on SQLite and on PostgreSQL,
# drives each workload with wrk, and prints req/s and p50/p99 latency.
# A bare axum hello world runs first as the baseline for this machine.
#
#   bench/load.sh                       # all workloads, 10 s each
#   BENCH_DURATION=30s bench/load.sh health
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# CAREBASE_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres;
# set it to "none" to skip PostgreSQL). Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
PG_ADMIN_URL=${CAREBASE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
ONLY=${1:-}

# Workloads: name, then the path to GET. Later issues add theirs here.
WORKLOADS=(
  "health /health"
  "ready /ready"
)

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin carebase --example bare_axum

WORK=$(mktemp -d)
SERVER_PID=""
PG_DB=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$PG_DB" ] && psql "$PG_ADMIN_URL" -qc "drop database if exists \"$PG_DB\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() {
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "bench: $1 did not answer" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Converts wrk's latency figure (e.g. 812.00us, 1.20ms, 2.01s) to ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else printf "%s", v }'
}

ROWS=()
run_wrk() { # target backend workload url
  local out rps p50 p99 errors
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$4")
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors=$(awk '/Non-2xx or 3xx responses:/ { print $5 } /Socket errors:/ { print "socket" }' <<<"$out" | tr '\n' ' ')
  ROWS+=("| $1 | $2 | $3 | $rps | $p50 | $p99 | ${errors:-0} |")
}

selected() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# Baseline: bare axum hello world.
if selected health; then
  PORT=$(free_port)
  target/release/examples/bare_axum "127.0.0.1:$PORT" & SERVER_PID=$!
  wait_for "http://127.0.0.1:$PORT/health"
  run_wrk "bare axum" "-" "health" "http://127.0.0.1:$PORT/health"
  stop_server
fi

run_carebase() { # backend database_url
  local port data
  port=$(free_port)
  data="$WORK/$1"
  mkdir -p "$data"
  env -i PATH="$PATH" CAREBASE_LISTEN="127.0.0.1:$port" CAREBASE_DATA_DIR="$data" \
    ${2:+CAREBASE_DATABASE_URL="$2"} target/release/carebase serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "http://127.0.0.1:$port/ready"
  for w in "${WORKLOADS[@]}"; do
    read -r name path <<<"$w"
    selected "$name" || continue
    run_wrk "carebase" "$1" "$name" "http://127.0.0.1:$port$path"
  done
  stop_server
}

run_carebase sqlite ""
if [ "$PG_ADMIN_URL" != "none" ]; then
  PG_DB="carebase_bench_$$"
  psql "$PG_ADMIN_URL" -qc "create database \"$PG_DB\"" >/dev/null
  run_carebase postgres "${PG_ADMIN_URL%/*}/$PG_DB"
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores ($(uname -m)), server and wrk on the same machine"
echo
echo "| target | backend | workload | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
