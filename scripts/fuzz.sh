#!/usr/bin/env bash
# Authenticated API fuzzing of carebase with schemathesis.
#
# For each backend asked for, this starts the carebase binary on an empty
# data directory (SQLite, or a PostgreSQL database on 127.0.0.1:5432 that it
# creates and drops), with no SMTP, on a free port. It makes a system
# administrator (`carebase admin create --password-stdin`), signs in,
# creates a facility, invites that facility's administrator, reads the
# invitation code from GET /admin/outbox (the inviter sees its own
# invitation), accepts it and signs in as the facility administrator. Then
# schemathesis runs every operation of the served /openapi.json with that
# administrator's bearer token and four checks:
#
#   not_a_server_error            no 5xx
#   status_code_conformance       every status is documented for its operation
#   response_schema_conformance   every body matches its documented schema
#   content_type_conformance      every Content-Type is the documented one
#
# and the script prints, per backend, the operations and requests made and
# the failures by check. It exits non-zero if any backend had a failure.
# scripts/fuzz-results.md keeps the last run's table and what it led to.
#
#   cargo build --release && scripts/fuzz.sh                # both backends
#   scripts/fuzz.sh --db sqlite --bin target/debug/carebase
#   scripts/fuzz.sh [--bin PATH] [--db sqlite|postgres|both]
#                   [--max-examples N] [--seed N] [--keep]
#
# --max-examples (default 100) bounds each operation's generated cases in
# the fuzzing phase (the coverage phase's cases come from the schema); at
# 100 a backend takes about four minutes on two cores with a debug build,
# some 22,000 requests. --seed makes a run repeatable (default: a fixed
# seed; pass another to explore). --keep leaves the work directory (server
# log, schemathesis.log, the NDJSON and JUnit reports) in place.
#
# Needs python3 (3.10+) and curl; installs schemathesis into a virtualenv
# ($CAREBASE_FUZZ_VENV, default /work/.venv-fuzz when /work exists, else
# ~/.cache/carebase-fuzz-venv) the first time. PostgreSQL needs createdb and
# dropdb for user postgres on 127.0.0.1:5432 (trust).
#
# What is left out, and why:
#   POST /auth/sign-out    would end the very session the fuzzer uses, and
#                          every later request would be a (documented) 401.
#   DELETE /me/sessions/{session_id}, DELETE /facilities/{facility_id}/
#   memberships/{membership_id}
#                          schemathesis reuses ids it saw in earlier answers
#                          (GET /me/sessions, GET …/memberships), so it ends
#                          its own session or removes its own administrator
#                          membership, and the rest of the run is 401s/404s.
#   GET /realtime          a WebSocket upgrade, not a request/response pair;
#                          tests/api/messaging covers it.
# Every facility_id path parameter is the facility made here, so requests
# get past the facility scope into the handlers (random ids are only 404s).
# Other ids (leads, patients, …) are the generator's, plus whatever the
# stateful phase links from earlier responses.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
PASSWORD="fuzz-password-Correct-Horse-9"
CHECKS="not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres

BIN=target/release/carebase
DB=both
MAX_EXAMPLES=100
SEED=20240613
KEEP=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN="$2"; shift 2 ;;
        --db) DB="$2"; shift 2 ;;
        --max-examples) MAX_EXAMPLES="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$DB" in
    sqlite) BACKENDS=(sqlite) ;;
    postgres) BACKENDS=(postgres) ;;
    both) BACKENDS=(sqlite postgres) ;;
    *) echo "--db must be sqlite, postgres or both" >&2; exit 2 ;;
esac
if [ ! -x "$BIN" ]; then
    echo "$BIN is not an executable (cargo build --release, or pass --bin)" >&2
    exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

if [ -n "${CAREBASE_FUZZ_VENV:-}" ]; then
    VENV="$CAREBASE_FUZZ_VENV"
elif [ -d /work ]; then
    VENV=/work/.venv-fuzz
else
    VENV="$HOME/.cache/carebase-fuzz-venv"
fi
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "# installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The caller's carebase settings would win over the generated file.
for name in $(env | sed -n 's/^\(CAREBASE_[A-Z0-9_]*\)=.*/\1/p'); do unset "$name"; done
unset DATABASE_URL

WORK="$(mktemp -d "${TMPDIR:-/tmp}/carebase-fuzz.XXXXXX")"
SERVER_PID=""
PG_DB=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    if [ -n "$PG_DB" ]; then
        dropdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" --if-exists --force "$PG_DB" >/dev/null 2>&1 ||
            dropdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" --if-exists "$PG_DB" >/dev/null 2>&1 || true
    fi
    PG_DB=""
}
finish() {
    cleanup
    if [ "$KEEP" = 1 ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap finish EXIT
trap 'exit 143' TERM INT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json_field KEY...: the value at that path (object keys, list indexes) in
# the JSON on stdin, or nothing.
json_field() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    if isinstance(value, list) and key.isdigit() and int(key) < len(value):
        value = value[int(key)]
    else:
        value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)' "$@"
}

# api METHOD PATH [TOKEN] [BODY]: the response body; fails on a non-2xx answer.
api() {
    local method="$1" path="$2" token="${3:-}" body="${4:-}"
    local args=(-sS -X "$method" -H 'accept: application/json' -w '\n%{http_code}')
    [ -n "$token" ] && args+=(-H "authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'content-type: application/json' --data "$body")
    local answer status
    answer="$(curl "${args[@]}" "$BASE$path")"
    status="${answer##*$'\n'}"
    answer="${answer%$'\n'*}"
    if [ "${status:0:1}" != 2 ]; then
        echo "setup: $method $path -> $status $answer" >&2
        return 1
    fi
    printf '%s' "$answer"
}

# The invitation code the system administrator sent to $1: the last word of
# the message body, as the outbox shows it to its sender.
invitation_code() {
    api GET "/admin/outbox?limit=200" "$2" | python3 -c '
import json, sys
for message in json.load(sys.stdin).get("items") or []:
    if message.get("recipient") == sys.argv[1] and message.get("kind") == "invitation":
        words = (message.get("body") or "").split()
        print(words[-1].rstrip(".") if words else "")
        break' "$1"
}

write_config() {
    local dir="$1" database_url="$2" port="$3"
    cat >"$dir/carebase.toml" <<EOF
listen = "127.0.0.1:$port"
data_dir = "$dir/data"
database_url = "$database_url"
log_format = "human"
log_level = "warn"
db_max_connections = 5

[identity]
# Long enough that the fuzzer's token outlives the run.
access_token_ttl_secs = 7200
session_idle_timeout_secs = 7200
session_lifetime_secs = 7200
allow_sign_up = false
EOF
}

start_server() {
    local dir="$1"
    "$BIN" --config "$dir/carebase.toml" serve >"$dir/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    for _ in $(seq 1 240); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited; log:" >&2
            cat "$dir/server.log" >&2
            return 1
        fi
        curl -sf "$BASE/health" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "server not healthy after 120 s" >&2
    return 1
}

# facility_admin_token DIR: sets FACILITY_ID and FACILITY_TOKEN.
facility_admin_token() {
    local admin_email=admin@fuzz.test facility_email=facility-admin@fuzz.test
    printf '%s\n' "$PASSWORD" |
        "$BIN" --config "$1/carebase.toml" admin create --email "$admin_email" --password-stdin >"$1/admin-create.log" 2>&1
    start_server "$1"
    local system_token code
    system_token="$(api POST /auth/sign-in "" \
        "{\"email\": \"$admin_email\", \"password\": \"$PASSWORD\"}" | json_field access_token)"
    FACILITY_ID="$(api POST /facilities "$system_token" '{"name": "Fuzz Clinic"}' | json_field id)"
    api POST "/facilities/$FACILITY_ID/invitations" "$system_token" \
        "{\"email\": \"$facility_email\", \"role\": \"administrator\", \"full_name\": \"Fuzz Admin\"}" >/dev/null
    code="$(invitation_code "$facility_email" "$system_token")"
    [ -n "$code" ] || { echo "setup: no invitation in /admin/outbox" >&2; return 1; }
    api POST /auth/accept-invitation "" \
        "{\"token\": \"$code\", \"password\": \"$PASSWORD\", \"full_name\": \"Fuzz Admin\"}" >/dev/null
    FACILITY_TOKEN="$(api POST /auth/sign-in "" \
        "{\"email\": \"$facility_email\", \"password\": \"$PASSWORD\"}" | json_field access_token)"
    [ -n "$FACILITY_TOKEN" ] || { echo "setup: facility administrator cannot sign in" >&2; return 1; }
}

# keep NAME VALUE: VALUE is one of the values the fuzzer gives the path
# parameter NAME.
keep() {
    [ -n "$2" ] && SEEDS+=("$1=$2")
}

# seed NAME METHOD PATH BODY [FIELD...]: makes one resource as the facility
# administrator and keeps its id (or FIELD...) for the path parameter NAME.
# A refusal is reported and skipped: the fuzzer then only has its own ids.
seed() {
    local name="$1" method="$2" path="$3" body="$4" answer
    shift 4
    SEED_ID=""
    SEED_ANSWER=""
    if answer="$(api "$method" "$path" "$FACILITY_TOKEN" "$body")"; then
        SEED_ANSWER="$answer"
        SEED_ID="$(printf '%s' "$answer" | json_field "${@:-id}")"
        keep "$name" "$SEED_ID"
    else
        echo "# seed $name skipped" >&2
    fi
}

# Real ids for the path parameters, so that most requests reach past the
# lookup into the handler's own rules. Never the administrator's own
# membership or session: deleting those would end the run's access.
seed_resources() {
    local f="/facilities/$FACILITY_ID" me tomorrow week='' day
    SEEDS=()
    me="$(api GET /me "$FACILITY_TOKEN" | json_field account id)"
    keep account_id "$me"
    keep provider_id "$me"
    tomorrow="$(date -u -d '+1 day' +%Y-%m-%d)"
    for day in monday tuesday wednesday thursday friday saturday sunday; do
        week+="${week:+, }{\"weekday\": \"$day\", \"start\": \"00:00\", \"end\": \"24:00\"}"
    done
    api PUT "$f/schedules/$me" "$FACILITY_TOKEN" \
        "{\"working_hours\": [$week], \"min_notice_minutes\": 0, \"time_zone\": \"UTC\"}" >/dev/null ||
        echo "# seed schedule skipped" >&2
    seed lead_id POST "$f/leads" '{"first_name": "Fuzz", "last_name": "Lead", "email": "lead@fuzz.test"}'
    local lead="$SEED_ID"
    seed patient_id POST "$f/patients" \
        '{"mrn": "FUZZ-1", "first_name": "Fuzz", "last_name": "Patient", "date_of_birth": "1980-01-01"}'
    local patient="$SEED_ID"
    seed task_id POST "$f/tasks" '{"title": "Call the lead back"}'
    seed type_id POST "$f/appointment-types" '{"name": "Fuzz consultation"}'
    seed journey_id POST "$f/patients/$patient/journeys" '{}'
    seed visit_id POST "$f/patients/$patient/history" '{"visit_date": "2024-01-02T09:30:00Z"}'
    seed session_id POST "$f/chat-sessions" "{\"lead_id\": \"$lead\"}"
    seed block_id POST "$f/availability-blocks" \
        "{\"starts_at\": \"2030-01-01T00:00:00Z\", \"ends_at\": \"2030-01-02T00:00:00Z\", \"reason\": \"Holiday\"}"
    seed feed_id POST "$f/calendar-feeds" "{\"provider_id\": \"$me\"}"
    local feed_path
    feed_path="$(printf '%s' "$SEED_ANSWER" | json_field path)"
    keep token "${feed_path##*/}"
    seed key_id POST "$f/api-keys" '{"name": "fuzz", "scopes": ["lead:read"]}'
    seed appointment_id POST "$f/appointments" \
        "{\"provider_id\": \"$me\", \"patient_id\": \"$patient\", \"starts_at\": \"${tomorrow}T10:00:00Z\"}"
    seed entry_id POST "$f/waitlist" "{\"patient_id\": \"$patient\", \"window_start\": \"${tomorrow}T00:00:00Z\", \"window_end\": \"${tomorrow}T23:00:00Z\"}"
    seed conversation_id POST "$f/conversations" \
        "{\"title\": \"Fuzz\", \"conversation_type\": \"patient_specific\", \"patient_id\": \"$patient\"}"
    local conversation="$f/conversations/$SEED_ID"
    seed message_id POST "$conversation/messages" '{"body": "hello"}'
    seed call_id POST "$conversation/calls" "{\"scheduled_for\": \"${tomorrow}T10:00:00Z\"}"
    seed link_id POST "$f/care-team-links" "{\"patient_id\": \"$patient\", \"provider_id\": \"$me\"}"
    seed attachment_id POST "$conversation/attachments/uploads" \
        '{"file_name": "note.txt", "content_type": "text/plain", "size": 5}' upload_url
    keep token "${SEED_ID##*/}"
    # A file posted with its message, for the download.
    printf 'hello' >"$WORK/note.txt"
    local posted
    if posted="$(curl -sS -f -H "authorization: Bearer $FACILITY_TOKEN" \
        -F "file=@$WORK/note.txt;type=text/plain" "$BASE$conversation/attachments")"; then
        keep attachment_id "$(printf '%s' "$posted" | json_field attachments 0 id)"
        keep message_id "$(printf '%s' "$posted" | json_field id)"
    else
        echo "# seed attachment skipped" >&2
    fi
}

run_schemathesis() {
    local dir="$1" name
    {
        echo '[parameters]'
        echo "\"path.facility_id\" = \"$FACILITY_ID\""
        # Seeded ids most of the time, the generator's the rest.
        for name in $(printf '%s\n' "${SEEDS[@]}" | sed 's/=.*//' | sort -u); do
            echo "\"path.$name\" = { dictionary = \"$name\", probability = 0.8 }"
        done
        for name in $(printf '%s\n' "${SEEDS[@]}" | sed 's/=.*//' | sort -u); do
            printf '\n[dictionaries.%s]\nvalues = [%s]\n' "$name" "$(printf '%s\n' "${SEEDS[@]}" |
                sed -n "s/^$name=\(.*\)/\"\1\"/p" | paste -sd, -)"
        done
    } >"$dir/schemathesis.toml"
    # Failures are counted from the report; the exit code only says "some".
    (cd "$dir" && "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
        --header "Authorization: Bearer $FACILITY_TOKEN" \
        --checks "$CHECKS" \
        --exclude-path /auth/sign-out --exclude-path /realtime \
        --exclude-path '/me/sessions/{session_id}' \
        --exclude-path '/facilities/{facility_id}/memberships/{membership_id}' \
        --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 \
        --generation-database none --continue-on-failure \
        --request-timeout 60 --no-color \
        --report junit,ndjson --report-dir "$dir/report" >"$dir/schemathesis.log" 2>&1) || true
}

fuzz_backend() {
    local backend="$1" dir="$WORK/$1" port database_url
    mkdir -p "$dir/data"
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    if [ "$backend" = postgres ]; then
        PG_DB="carebase_fuzz_$(date +%s)_$$"
        createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
        database_url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
    else
        database_url="sqlite://$dir/data/carebase.db"
    fi
    write_config "$dir" "$database_url" "$port"
    echo "# $backend: setting up on $BASE"
    facility_admin_token "$dir"
    seed_resources
    echo "# $backend: fuzzing (max-examples $MAX_EXAMPLES, seed $SEED); log in $dir/schemathesis.log"
    local started=$SECONDS
    run_schemathesis "$dir"
    # Counts mean little if the fuzzer locked itself out part-way.
    if ! api GET "/facilities/$FACILITY_ID" "$FACILITY_TOKEN" >/dev/null; then
        echo "# $backend: WARNING: the facility administrator lost its access during the run"
        touch "$dir/access-lost"
    fi
    echo "# $backend: done in $((SECONDS - started)) s"
    cleanup
}

for backend in "${BACKENDS[@]}"; do
    fuzz_backend "$backend"
done

# The table: per backend, operations tested, requests sent, and failures by
# check (failing requests, and distinct failures: operation × check × what).
"$VENV/bin/python" - "$WORK" "$CHECKS" "${BACKENDS[@]}" <<'EOF'
import json, os, sys
from collections import Counter

work, checks, backends = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]


def events(backend):
    path = os.path.join(work, backend, "report")
    for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        if name.endswith(".ndjson"):
            with open(os.path.join(path, name)) as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)


def tally(backend):
    operations, requests, errors = set(), 0, 0
    failing, distinct, examples = Counter(), {}, {}
    for event in events(backend):
        scenario = event.get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario["recorder"]
        if " /" in recorder["label"]:  # not the stateful phase's "Stateful tests"
            operations.add(recorder["label"])
        requests += sum(1 for i in (recorder.get("interactions") or {}).values() if i.get("response"))
        errors += scenario["status"] == "error"
        for case_id, results in (recorder.get("checks") or {}).items():
            for result in results:
                if result["status"] != "failure":
                    continue
                failure = result["failure_info"]["failure"]
                first = (failure.get("message") or "").splitlines()[:1]
                key = (recorder["label"], result["name"], failure.get("title"), tuple(first))
                failing[result["name"]] += 1
                distinct.setdefault(result["name"], set()).add(key)
                interaction = (recorder.get("interactions") or {}).get(case_id) or {}
                examples.setdefault(key, (interaction.get("request") or {}).get("method"))
    return operations, requests, errors, failing, distinct, examples


header = ["backend", "operations", "requests", "errors"] + checks
lines, bad = [], False
details = []
for backend in backends:
    operations, requests, errors, failing, distinct, examples = tally(backend)
    cells = [backend, str(len(operations)), str(requests), str(errors)]
    for check in checks:
        cells.append("%d (%d)" % (len(distinct.get(check, ())), failing[check]))
    lines.append(cells)
    lost = os.path.exists(os.path.join(work, backend, "access-lost"))
    cells[0] += " (access lost)" if lost else ""
    bad = bad or lost or errors or any(failing.values()) or not operations
    for key in sorted(set().union(*distinct.values()) if distinct else ()):
        details.append("%s: %s %s: %s %s" % (backend, key[1], key[0], key[2], " ".join(key[3])))
widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
print()
print("Failures are distinct (operation, check, failure) with failing requests in brackets.")
for row in [header, ["-" * w for w in widths]] + lines:
    print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
if details:
    print()
    print("\n".join(details))
sys.exit(1 if bad else 0)
EOF
