#!/usr/bin/env python3
"""Prepares a running carebase for the scheduling workloads of bench/load.sh
(slot-search, booking): the issue's "open-slot search for 20 providers over
30 days with 10 000 existing appointments".

Signs in the system administrator made by `carebase admin create`, creates a
facility in America/Los_Angeles, invites a facility administrator (who sets
schedules and books for every provider; the system administrator holds no
scheduling permission) and 20 providers (invited and accepted for them: a
membership is all a schedule needs, and an invitation's role is held once
accepted), gives each provider 08:00-17:00 every
day of the week on a 15-minute grid with no minimum notice, registers
patients, and books APPOINTMENTS (10000) 30-minute appointments through the
API over 30 days starting three days from now, timing them.

Every day of the week, because the issue's 500 appointments per provider do
not fit 30 days of weekdays (22 x 18 half-hours = 396). 18 half-hours x 30
days = 540 per provider leaves 40 free half-hours each, spread at random, so
one search finds some 800 slots: fewer than the 2000 a search returns at
most, so the search returns all of them and measures the whole period.

Writes what the wrk scripts need to OUT_DIR: the administrator's token, the
facility, the search's path and query, the provider ids, patient ids, and
the UTC start of 08:00 local on each day of a booking range a year later
(far from the seeded appointments). Prints one line of key=value pairs:
seeding time, appointments/s, the slots one search returns.

    bench/schedule_setup.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD OUT_DIR [APPOINTMENTS] [SEED_THREADS]
"""
import datetime
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

base, admin_email, admin_password, out = sys.argv[1:5]
appointments = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
seed_threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1

ZONE_NAME = "America/Los_Angeles"
ZONE = ZoneInfo(ZONE_NAME)
PROVIDERS = 20
DAYS = 30
# Working hours, local, every day; appointments are 30 minutes on the hour
# and half hour, so a day holds 18.
OPEN_HOUR, CLOSE_HOUR = 8, 17
HALF_HOURS = (CLOSE_HOUR - OPEN_HOUR) * 2
DURATION = 30
PATIENTS = 200
# Days of the booking workload's range: 20 providers x 18 half-hours x 2000
# days = 720 000 distinct free slots, more than any wrk run books.
BOOKING_DAYS = 2000
if appointments > PROVIDERS * DAYS * HALF_HOURS:
    sys.exit(f"schedule_setup: at most {PROVIDERS * DAYS * HALF_HOURS} appointments fit")

url = urllib.parse.urlsplit(base)
local = threading.local()


def call(method, path, body=None, token=None, ok=(200, 201)):
    # One keep-alive connection per thread, as a booking client would hold.
    # The server closes a connection idle for http_header_timeout_secs (30 s),
    # as the main thread's is while others seed: a request that finds its
    # reused connection closed is sent again on a new one.
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(2):
        reused = getattr(local, "conn", None) is not None
        if not reused:
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        try:
            local.conn.request(method, path, body=data, headers=headers)
            response = local.conn.getresponse()
            text = response.read()
            break
        except (http.client.HTTPException, OSError):
            local.conn.close()
            local.conn = None
            if not reused or attempt == 1:
                raise
    if response.status not in ok:
        sys.exit(f"schedule_setup: {method} {path} {body} -> {response.status} {text.decode(errors='replace')}")
    return json.loads(text) if text else None


def sign_in(email, password):
    return call("POST", "/auth/sign-in", {"email": email, "password": password})["access_token"]


def utc(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(date):
    return datetime.datetime(date.year, date.month, date.day, tzinfo=ZONE)


admin = sign_in(admin_email, admin_password)
facility = call("POST", "/facilities", {"name": "Bench Scheduling Clinic", "time_zone": ZONE_NAME}, admin)["id"]
tag = uuid.uuid4().hex[:8]
scheduler_email = f"scheduler-{tag}@bench.example"
scheduler_password = "bench scheduler passphrase"
call("POST", f"/facilities/{facility}/invitations", {"email": scheduler_email, "role": "admin"}, admin)
messages = call("GET", "/admin/outbox?limit=50", token=admin)["items"]
code = next(m for m in messages if m["recipient"] == scheduler_email)["body"].split()[-1]
call("POST", "/auth/accept-invitation", {"token": code, "password": scheduler_password})
scheduler = sign_in(scheduler_email, scheduler_password)

def provider(i):
    """Invites provider i, accepts for them (a role is held once accepted)
    and answers their account id."""
    email = f"provider{i}-{tag}@bench.example"
    call("POST", f"/facilities/{facility}/invitations",
         {"email": email, "role": "provider", "full_name": f"Provider {i}"}, admin)
    sent = call("GET", "/admin/outbox?limit=50", token=admin)["items"]
    code = next(m for m in sent if m["recipient"] == email)["body"].split()[-1]
    call("POST", "/auth/accept-invitation", {"token": code, "password": scheduler_password})
    token = sign_in(email, scheduler_password)
    return call("GET", "/me", token=token)["account"]["id"]


providers = [provider(i) for i in range(PROVIDERS)]
hours = [{"weekday": day, "start": f"{OPEN_HOUR:02d}:00", "end": f"{CLOSE_HOUR:02d}:00"}
         for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]
for provider in providers:
    call("PUT", f"/facilities/{facility}/schedules/{provider}",
         {"working_hours": hours, "slot_minutes": 15, "min_notice_minutes": 0}, scheduler)


def register(i):
    return call("POST", f"/facilities/{facility}/patients", {
        "mrn": f"S-{tag}-{i:05d}", "first_name": "Bench", "last_name": f"Scheduled{i}",
        "date_of_birth": "1970-01-01", "phone": "+1 555 010 0000", "allergies": ["none"],
    }, scheduler)["id"]


with ThreadPoolExecutor(8) as pool:
    patients = list(pool.map(register, range(PATIENTS)))

# The seeded period: 30 local days from midnight three days from now, so the
# search's start is never cut by "now".
today = datetime.datetime.now(ZONE).date()
first_day = today + datetime.timedelta(days=3)
period_from = local_midnight(first_day)
period_to = local_midnight(first_day + datetime.timedelta(days=DAYS))
starts = [
    utc(local_midnight(first_day + datetime.timedelta(days=d))
        + datetime.timedelta(hours=OPEN_HOUR, minutes=30 * h))
    for d in range(DAYS) for h in range(HALF_HOURS)
]
# Which half-hours are booked: the same every run, spread at random over
# providers and days, and booked in a random order, as bookings come.
rng = random.Random(20260)
pairs = [(p, s) for p in range(PROVIDERS) for s in range(len(starts))]
booked = rng.sample(pairs, appointments)


def book(i):
    provider, start = booked[i]
    call("POST", f"/facilities/{facility}/appointments", {
        "provider_id": providers[provider], "starts_at": starts[start],
        "duration_minutes": DURATION, "patient_id": patients[i % PATIENTS],
    }, scheduler, ok=(201,))


began = time.monotonic()
if seed_threads <= 1:
    for i in range(appointments):
        book(i)
else:
    with ThreadPoolExecutor(seed_threads) as pool:
        list(pool.map(book, range(appointments), chunksize=16))
seed_seconds = time.monotonic() - began

# A fresh token: access tokens last ten minutes and seeding took some of them.
scheduler = sign_in(scheduler_email, scheduler_password)
# limit=2000, the most a search returns: the whole period's ~800 slots come
# back, none cut.
search = (f"/facilities/{facility}/open-slots?from={utc(period_from)}&to={utc(period_to)}"
          f"&provider_ids={','.join(providers)}&duration_minutes={DURATION}&limit=2000")
began = time.monotonic()
found = call("GET", search, token=scheduler)
search_ms = (time.monotonic() - began) * 1000

booking_first = local_midnight(first_day + datetime.timedelta(days=365))
booking_days = [
    str(int((local_midnight(booking_first.date() + datetime.timedelta(days=d))
             + datetime.timedelta(hours=OPEN_HOUR)).timestamp()))
    for d in range(BOOKING_DAYS)
]

files = {
    "schedule_token": scheduler,
    "schedule_facility": facility,
    "schedule_search": search,
    "schedule_providers": "\n".join(providers),
    "schedule_patients": "\n".join(patients),
    # The UTC epoch second of 08:00 local on each day: the booking script
    # adds half hours, DST already counted.
    "schedule_booking_days": "\n".join(booking_days),
}
for name, content in files.items():
    with open(f"{out}/{name}", "w") as f:
        f.write(content + "\n")
# One line of key=value pairs that load.sh reads into its seeding table.
print(f"facility={facility} appointments={appointments} seed_threads={seed_threads} "
      f"seed_seconds={seed_seconds:.1f} appointments_per_second={appointments / seed_seconds:.0f} "
      f"search_slots={len(found['slots'])} search_truncated={str(found['truncated']).lower()} "
      f"search_ms={search_ms:.0f}")
