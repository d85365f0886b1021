#!/usr/bin/env python3
"""Prepares a running carebase, loaded with `carebase demo`, for the CRM
workloads of bench/load.sh: signs in the demo's first SDR and its facility
administrator, and writes their tokens, the facility and a 90-day range
ending now to a directory.

    bench/crm_setup.py BASE_URL FACILITY_ID STAFF_PASSWORD OUT_DIR
"""
import datetime
import json
import sys
import urllib.request

base, facility, password, out = sys.argv[1:5]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign_in(email):
    request = urllib.request.Request(
        base + "/auth/sign-in",
        data=json.dumps({"email": email, "password": password}).encode(),
        method="POST",
    )
    request.add_header("content-type", "application/json")
    with opener.open(request) as response:
        return json.loads(response.read())["access_token"]


now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
start = now - datetime.timedelta(days=90)
stamp = "%Y-%m-%dT%H:%M:%SZ"
files = {
    "crm_token": sign_in("sdr1@demo.carebase.test"),
    "crm_admin_token": sign_in("admin1@demo.carebase.test"),
    "crm_facility": facility,
    "crm_range": f"from={start.strftime(stamp)}&to={now.strftime(stamp)}",
}
for name, content in files.items():
    with open(f"{out}/{name}", "w") as f:
        f.write(content + "\n")
print(f"facility {facility}: tokens and range written")
