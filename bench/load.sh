#!/usr/bin/env bash
# Load benchmark: starts the release server on SQLite and on PostgreSQL,
# drives each workload with wrk, and prints req/s and p50/p99 latency.
# A bare axum hello world runs first as the baseline for this machine.
#
#   bench/load.sh                       # all workloads, 10 s each
#   BENCH_DURATION=30s bench/load.sh health
#   bench/load.sh patient-read          # one workload
#   bench/load.sh lead-list lead-stats  # several; `crm` names every CRM one
#   bench/load.sh schedule              # slot-search and booking
#
# The trust-core workloads (sign-in, token-check, patient-read, patient-mix)
# run against a system administrator made with `carebase admin create` and
# data that bench/setup.py registers through the API (BENCH_PATIENTS, 1000).
# The CRM workloads (lead-list, lead-active, lead-stats, speed-to-lead,
# lead-rescore) run against `carebase demo --leads BENCH_LEADS` (100000),
# loaded before the server starts, as the demo's SDR (its administrator
# for the rescore). lead-rescore is one long request: it is timed with curl
# (BENCH_RESCORE_RUNS, 3) and printed in a table of its own, with the time
# the demo took to load.
# The scheduling workloads (slot-search, booking; `schedule` names both) run
# against a facility that bench/schedule_setup.py prepares through the API:
# 20 providers working 08:00-17:00 every day, BENCH_APPOINTMENTS (10000)
# 30-minute appointments booked over 30 days starting three days ahead, by
# BENCH_SEED_THREADS (1) clients at a time, as the facility's administrator.
# slot-search asks for the open 30-minute slots of all 20 over the 30 days
# (limit=2000, which holds the whole answer); booking books a different free
# slot with every request, a year later, and prints how many were booked
# and refused. The seeding is itself a booking throughput figure: its time,
# appointments/s and the slots one search returns are printed in a table of
# their own.
#
# Recorded results, before and after the changes that moved them, are in
# bench/RESULTS.md.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# CAREBASE_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres;
# set it to "none" to skip PostgreSQL), BENCH_PG_OPTIONS (sslmode=disable).
# Needs wrk (apt-get install wrk) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
PG_ADMIN_URL=${CAREBASE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# How the server connects to that PostgreSQL. On the same host TLS buys
# nothing and costs a third of the throughput; use BENCH_PG_OPTIONS=sslmode=require
# to measure with it.
PG_OPTIONS=${BENCH_PG_OPTIONS:-sslmode=disable}
ONLY="$*"

# Workloads: name, what to request (a path to GET, or a wrk Lua script in
# bench/), and connections (- for BENCH_CONNECTIONS; several, comma-separated,
# run the workload once at each). Later issues add theirs here. Scripts read
# what bench/setup.py prepared. The statistics and the slot search also run
# on one connection: one request at a time is the latency a user waits.
WORKLOADS=(
  "health /health -"
  "ready /ready -"
  "sign-in signin.lua 4"
  "token-check facility.lua -"
  "patient-read reads.lua -"
  "patient-mix mix.lua -"
  "lead-list lead-list.lua -"
  "lead-active lead-active.lua -"
  "lead-stats lead-stats.lua 1,-"
  "speed-to-lead speed-to-lead.lua 1,-"
  "lead-rescore rescore -"
  # Four connections, not 64: when a search took some 100 ms of CPU, 64
  # would queue past wrk's 2 s timeout and censor the latencies.
  "slot-search slot-search.lua 1,4"
  "booking booking.lua -"
)
PATIENTS=${BENCH_PATIENTS:-1000}
ADMIN_EMAIL="bench-admin@bench.example"
ADMIN_PASSWORD="bench administrator passphrase"
LEADS=${BENCH_LEADS:-100000}
RESCORE_RUNS=${BENCH_RESCORE_RUNS:-3}
DEMO_PASSWORD="bench demo staff passphrase"
APPOINTMENTS=${BENCH_APPOINTMENTS:-10000}
SEED_THREADS=${BENCH_SEED_THREADS:-1}
export BENCH_LUA="$PWD/bench"

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin carebase --example bare_axum
RELEASE="${CARGO_TARGET_DIR:-target}/release"

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
NOTES=()
run_wrk() { # target backend workload url [connections] [script]
  local out rps p50 p99 errors connections=${5:-$CONNECTIONS}
  [ "$connections" = "-" ] && connections=$CONNECTIONS
  local threads=$THREADS
  [ "$connections" -lt "$threads" ] && threads=$connections
  # Scripts that split work among threads (booking.lua) need their number.
  out=$(BENCH_WRK_THREADS=$threads wrk -t"$threads" -c"$connections" -d"$DURATION" --latency ${6:+-s "bench/$6"} "$4")
  # Lines a script's done() prints as "bench: …" go under the table.
  while IFS= read -r note; do NOTES+=("$3 ($2): ${note#bench: }"); done < <(grep '^bench: ' <<<"$out" || true)
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors=$(awk '/Non-2xx or 3xx responses:/ { print $5 } /Socket errors:/ { print "socket" }' <<<"$out" | tr '\n' ' ')
  ROWS+=("| $1 | $2 | $3 | $connections | $rps | $p50 | $p99 | ${errors:-0} |")
}

is_crm() { [[ "$1" == lead-* || "$1" == speed-to-lead ]]; }
is_schedule() { [[ "$1" == slot-search || "$1" == booking ]]; }

selected() {
  [ -z "$ONLY" ] && return 0
  local only
  for only in $ONLY; do
    [ "$only" = "$1" ] && return 0
    [ "$only" = crm ] && is_crm "$1" && return 0
    [ "$only" = schedule ] && is_schedule "$1" && return 0
  done
  return 1
}

# Baseline: bare axum hello world.
if selected health; then
  PORT=$(free_port)
  "$RELEASE/examples/bare_axum" "127.0.0.1:$PORT" & SERVER_PID=$!
  wait_for "http://127.0.0.1:$PORT/health"
  run_wrk "bare axum" "-" "health" "http://127.0.0.1:$PORT/health" "-"
  stop_server
fi

needs_setup() {
  local w name target
  for w in "${WORKLOADS[@]}"; do
    read -r name target _ <<<"$w"
    [[ "$target" == *.lua ]] && ! is_crm "$name" && ! is_schedule "$name" && selected "$name" && return 0
  done
  return 1
}

needs_demo() {
  local w name
  for w in "${WORKLOADS[@]}"; do
    read -r name _ <<<"$w"
    is_crm "$name" && selected "$name" && return 0
  done
  return 1
}

needs_schedule() {
  local w name
  for w in "${WORKLOADS[@]}"; do
    read -r name _ <<<"$w"
    is_schedule "$name" && selected "$name" && return 0
  done
  return 1
}

SEED_ROWS=()
# Seeds the scheduling facility and adds its line to the seeding table.
run_schedule_setup() { # backend base_url
  local out
  out=$(python3 bench/schedule_setup.py "$2" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$BENCH_DIR" \
    "$APPOINTMENTS" "$SEED_THREADS")
  field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$out"; }
  local slots
  slots=$(field search_slots)
  [ "$(field search_truncated)" = true ] && slots+=" (truncated)"
  SEED_ROWS+=("| $1 | $(field appointments) | $(field seed_threads) | $(field seed_seconds) | $(field appointments_per_second) | $slots | $(field search_ms) |")
}

RESCORE_ROWS=()
# Times POST …/leads/rescore, one request at a time, RESCORE_RUNS times.
run_rescore() { # backend base_url demo_seconds
  local token facility runs="" out seconds changed
  token=$(cat "$BENCH_DIR/crm_admin_token")
  facility=$(cat "$BENCH_DIR/crm_facility")
  for _ in $(seq 1 "$RESCORE_RUNS"); do
    out=$(curl -s -X POST -H "Authorization: Bearer $token" -w ' %{http_code} %{time_total}' \
      "$2/facilities/$facility/leads/rescore")
    seconds=$(awk '{ printf "%.2f", $NF }' <<<"$out")
    changed=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rsplit(" ", 2)[0]).get("changed", "error"))' "$out" 2>/dev/null || echo "error")
    [ "$(awk '{ print $(NF-1) }' <<<"$out")" = 200 ] || changed="HTTP $(awk '{ print $(NF-1) }' <<<"$out")"
    runs+=" $seconds ($changed) |"
  done
  RESCORE_ROWS+=("| $1 | $LEADS | $3 |$runs")
}

run_carebase() { # backend database_url
  local port data
  port=$(free_port)
  data="$WORK/$1"
  mkdir -p "$data/bench"
  local env=(env -i PATH="$PATH" CAREBASE_LISTEN="127.0.0.1:$port" CAREBASE_DATA_DIR="$data")
  [ -n "$2" ] && env+=(CAREBASE_DATABASE_URL="$2")
  echo "$ADMIN_PASSWORD" | "${env[@]}" "$RELEASE/carebase" admin create \
    --email "$ADMIN_EMAIL" --password-stdin >"$data/admin.log" 2>&1
  local facility="" demo_seconds="-"
  if needs_demo; then
    echo "$DEMO_PASSWORD" | "${env[@]}" "$RELEASE/carebase" demo --leads "$LEADS" \
      --password-stdin >"$data/demo.log" 2>&1
    facility=$(sed -n 's/.*(facility \([0-9a-f-]*\)).*/\1/p' "$data/demo.log")
    demo_seconds=$(sed -n 's/.* in \([0-9.]*\) s:.*/\1/p' "$data/demo.log")
    # The rescore of BENCH_LEADS is one request that may outlast the
    # default 30 s request timeout.
    env+=(CAREBASE_HTTP_REQUEST_TIMEOUT_SECS=600)
  fi
  "${env[@]}" "$RELEASE/carebase" serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "http://127.0.0.1:$port/ready"
  if needs_setup; then
    python3 bench/setup.py "http://127.0.0.1:$port" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$data/bench" "$PATIENTS" >/dev/null
  fi
  if needs_demo; then
    python3 bench/crm_setup.py "http://127.0.0.1:$port" "$facility" "$DEMO_PASSWORD" "$data/bench" >/dev/null
  fi
  export BENCH_DIR="$data/bench"
  if needs_schedule; then
    run_schedule_setup "$1" "http://127.0.0.1:$port"
  fi
  for w in "${WORKLOADS[@]}"; do
    read -r name target connections <<<"$w"
    selected "$name" || continue
    if [ "$target" = rescore ]; then
      run_rescore "$1" "http://127.0.0.1:$port" "$demo_seconds"
    else
      local count done=""
      for count in ${connections//,/ }; do
        [ "$count" = "-" ] && count=$CONNECTIONS
        [[ " $done " == *" $count "* ]] && continue
        done+=" $count"
        if [[ "$target" == *.lua ]]; then
          run_wrk "carebase" "$1" "$name" "http://127.0.0.1:$port" "$count" "$target"
        else
          run_wrk "carebase" "$1" "$name" "http://127.0.0.1:$port$target" "$count"
        fi
      done
    fi
  done
  stop_server
}

run_carebase sqlite ""
if [ "$PG_ADMIN_URL" != "none" ]; then
  PG_DB="carebase_bench_$$"
  psql "$PG_ADMIN_URL" -qc "create database \"$PG_DB\"" >/dev/null
  run_carebase postgres "${PG_ADMIN_URL%/*}/$PG_DB?$PG_OPTIONS"
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores ($(uname -m)), server and wrk on the same machine"
echo
echo "| target | backend | workload | connections | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
if [ ${#RESCORE_ROWS[@]} -gt 0 ]; then
  echo
  echo "Demo load and score recomputation (POST /facilities/{f}/leads/rescore, one request at a time; seconds, leads changed):"
  echo
  header="| backend | leads | demo load s |"
  rule="|---|---:|---:|"
  for i in $(seq 1 "$RESCORE_RUNS"); do header+=" rescore $i s |"; rule+="---:|"; done
  echo "$header"
  echo "$rule"
  printf '%s\n' "${RESCORE_ROWS[@]}"
fi
if [ ${#SEED_ROWS[@]} -gt 0 ]; then
  echo
  echo "Scheduling seed (POST /facilities/{f}/appointments through the API, one client per seeding thread; then one open-slot search, 20 providers, 30 days, limit=2000):"
  echo
  echo "| backend | appointments | seeding threads | seed s | appointments/s | slots in one search | search ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${SEED_ROWS[@]}"
fi
if [ ${#NOTES[@]} -gt 0 ]; then
  echo
  printf '%s\n' "${NOTES[@]}"
fi
