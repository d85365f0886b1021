#!/usr/bin/env python3
"""Prepares a running carebase for the trust-core workloads of bench/load.sh.

Signs in the system administrator made by `carebase admin create`, creates a
facility, invites a nurse (reading the invitation code from the outbox),
registers patients, and writes what the wrk scripts need to a directory:
token, facility id, patient ids and MRNs, credentials.

    bench/setup.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD OUT_DIR [PATIENTS]
"""
import json
import sys
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

base, admin_email, admin_password, out = sys.argv[1:5]
patients = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with opener.open(request) as response:
        text = response.read()
        return json.loads(text) if text else None


admin = call("POST", "/auth/sign-in", {"email": admin_email, "password": admin_password})["access_token"]
facility = call("POST", "/facilities", {"name": "Bench Clinic"}, admin)["id"]
nurse_email = f"nurse-{uuid.uuid4().hex[:8]}@bench.example"
nurse_password = "bench nurse passphrase"
call("POST", f"/facilities/{facility}/invitations", {"email": nurse_email, "role": "nurse"}, admin)
messages = call("GET", "/admin/outbox?limit=10", token=admin)["items"]
code = next(m for m in messages if m["recipient"] == nurse_email)["body"].split()[-1]
call("POST", "/auth/accept-invitation", {"token": code, "password": nurse_password})
nurse = call("POST", "/auth/sign-in", {"email": nurse_email, "password": nurse_password})["access_token"]


def register(i):
    mrn = f"B-{i:07d}"
    patient = call("POST", f"/facilities/{facility}/patients", {
        "mrn": mrn, "first_name": "Bench", "last_name": f"Patient{i}",
        "date_of_birth": "1970-01-01", "ssn": "123-45-6789", "phone": "+1 555 010 0000",
        "email": f"p{i}@bench.example", "allergies": ["none"],
        "address": {"line1": "1 Main St", "city": "Springfield"},
    }, nurse)
    return patient["id"], mrn


with ThreadPoolExecutor(8) as pool:
    registered = list(pool.map(register, range(patients)))

files = {
    "token": nurse,
    "facility": facility,
    "patients": "\n".join(pid for pid, _ in registered),
    "mrns": "\n".join(mrn for _, mrn in registered),
    "nurse_email": nurse_email,
    "nurse_password": nurse_password,
}
for name, content in files.items():
    with open(f"{out}/{name}", "w") as f:
        f.write(content + "\n")
print(f"facility {facility}, {len(registered)} patients")
