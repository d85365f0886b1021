#!/usr/bin/env python3
"""Black-box acceptance walk for carebase.

Starts the binary on an empty data directory (SQLite, or a fresh PostgreSQL
database), walks the main flows over HTTP as the real roles would, then runs
the operator commands (roles, audit verify, demo). Prints one line per check,
`PASS|FAIL <name> <detail>`, and `N/M passed`; exits non-zero on any FAIL.

    cargo build --release && python3 scripts/walk.py --db sqlite
    python3 scripts/walk.py --db postgres   # needs createdb/dropdb and 127.0.0.1:5432
    python3 scripts/walk.py [--bin PATH] [--db sqlite|postgres] [--keep]

Python 3 standard library only.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

PASSWORD = "walk-password-Correct-Horse-9"
ADMIN_EMAIL = "admin@walk.test"

# Distinctive strings that must never reach the server log.
LEAD_FIRST = "Zyxwalklead"
LEAD_LAST = "Plumbrookvane"
PATIENT_FIRST = "Zyxwalkpatient"
PATIENT_LAST = "Harrowgatequill"
PATIENT_NEW_LAST = "Harrowgatequell"
DIAGNOSIS = "Qorvex syndrome"
SECRET_NOTE = "Vantrelle note"
TASK_TITLE = "Ring Zyxwalklead about Qorvex"
EMERGENCY_REASON = "Unconscious in our ER, needs allergies (walk)"
PHI_MARKERS = [LEAD_FIRST, LEAD_LAST, PATIENT_FIRST, PATIENT_LAST, PATIENT_NEW_LAST,
               "Zyxwalk", "Qorvex", SECRET_NOTE, "Harrowgate", "Plumbrook"]


# ---------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self):
        self.results = []

    def check(self, name, ok, detail=""):
        ok = bool(ok)
        self.results.append((name, ok))
        line = "%s %s %s" % ("PASS" if ok else "FAIL", name, detail)
        print(line.rstrip(), flush=True)
        return ok

    def skip_rest(self, name, why):
        """A flow could not go on: one FAIL that says why."""
        return self.check(name, False, "aborted: " + why)

    def summary(self):
        passed = sum(1 for _, ok in self.results if ok)
        total = len(self.results)
        print("%d/%d passed" % (passed, total), flush=True)
        return passed == total


def short(value, limit=400):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, method, path, sent, status, headers, raw):
        self.method = method
        self.path = path
        self.sent = sent
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    @property
    def content_type(self):
        return (self.headers.get("content-type") or "").split(";")[0].strip()

    def get(self, *keys, default=None):
        value = self.json
        for key in keys:
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
                value = value[key]
            else:
                return default
        return value

    def describe(self):
        """The exact exchange, for a FAIL line."""
        sent = "" if self.sent is None else " body=" + short(self.sent, 300)
        return "[%s %s%s -> %s %s]" % (self.method, self.path, sent, self.status, short(self.text))


class Client:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, body=None, timeout=60):
        data = None
        headers = {"accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = "Bearer " + token
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(method, path, body, answer.status,
                                {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as error:
            return Response(method, path, body, error.code,
                            {k.lower(): v for k, v in error.headers.items()}, error.read())
        except (urllib.error.URLError, OSError) as error:
            return Response(method, path, body, 0, {}, ("transport error: %s" % error).encode())


def expect(report, name, response, status, extra_ok=True, detail=""):
    """A check that `response` has `status` (and `extra_ok`)."""
    statuses = status if isinstance(status, (list, tuple)) else (status,)
    ok = response.status in statuses and extra_ok
    if ok:
        return report.check(name, True, detail or "%s %s -> %s" % (response.method, response.path, response.status))
    return report.check(name, False, (detail + " " if detail else "") + "expected %s %s" % (
        "/".join(map(str, statuses)), response.describe()))


def is_problem(response, status, kind=None):
    if response.status != status or response.content_type != "application/problem+json":
        return False
    if kind and response.get("type") != "urn:carebase:problem:" + kind:
        return False
    return True


def error_fields(response):
    return [e.get("field") for e in (response.get("errors") or []) if isinstance(e, dict)]


# ---------------------------------------------------------------------------
# Environment: config, database, server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env():
    """The caller's environment without carebase settings that would win over the file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CAREBASE_") and k != "DATABASE_URL"}
    env.setdefault("RUST_BACKTRACE", "0")
    return env


PG_HOST, PG_PORT, PG_USER = "127.0.0.1", "5432", "postgres"


def pg_command(tool, *args):
    return subprocess.run([tool, "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, *args],
                          capture_output=True, text=True, timeout=120)


def create_pg_database(report, name):
    done = pg_command("createdb", name)
    if not report.check("setup.createdb", done.returncode == 0,
                        "createdb %s rc=%s %s" % (name, done.returncode, done.stderr.strip())):
        return None
    return "postgres://%s@%s:%s/%s" % (PG_USER, PG_HOST, PG_PORT, name)


def drop_pg_database(name):
    done = pg_command("dropdb", "--if-exists", "--force", name)
    if done.returncode != 0:  # --force needs PostgreSQL 13+
        done = pg_command("dropdb", "--if-exists", name)
    if done.returncode != 0:
        print("note: could not drop database %s: %s" % (name, done.stderr.strip()), flush=True)


def write_config(directory, data_dir, database_url, port):
    path = os.path.join(directory, "carebase.toml")
    with open(path, "w") as f:
        f.write('listen = "127.0.0.1:%d"\n' % port)
        f.write('data_dir = "%s"\n' % data_dir)
        f.write('database_url = "%s"\n' % database_url)
        f.write('master_key_file = "%s"\n' % os.path.join(data_dir, "master.key"))
        f.write('log_format = "human"\n')
        f.write('log_level = "info"\n')
        f.write('db_max_connections = 5\n')
        # No [notify] smtp_url: every email waits in the outbox for the system admin.
        f.write('\n[identity]\nallow_sign_up = false\n')
    return path


def run_cli(binary, config, args, stdin=None, timeout=600):
    command = [binary, "--config", config, *args] if config else [binary, *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


class Server:
    def __init__(self, binary, config, log_path, base):
        self.log_path = log_path
        self.base = base
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen([binary, "--config", config, "serve"],
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=clean_env())

    def wait_healthy(self, limit=120):
        client = Client(self.base)
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.process.poll() is not None:
                return False, "server exited with %s" % self.process.returncode
            answer = client.call("GET", "/health", timeout=5)
            if answer.status == 200:
                return True, "GET /health -> 200 %s" % short(answer.text, 100)
            time.sleep(0.3)
        return False, "no healthy answer within %ss" % limit

    def stop(self, grace=40):
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        return self.process.returncode

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# The walk


class Walk:
    def __init__(self, report, client, tag):
        self.r = report
        self.c = client
        self.tag = tag
        self.tokens = {}
        self.accounts = {}
        self.memberships = {}
        self.inviters = {}
        self.emails = {}
        self.lead_id = None

    def email(self, who):
        return "%s.%s@walk.test" % (who, self.tag)

    def sign_in(self, who, email):
        answer = self.c.call("POST", "/auth/sign-in", body={"email": email, "password": PASSWORD})
        token = answer.get("access_token")
        expect(self.r, "signin.%s" % who, answer, 200, isinstance(token, str) and token != "")
        if token:
            self.tokens[who] = token
        return answer

    # 1 -------------------------------------------------------------------
    def flow1_system_admin(self):
        answer = self.sign_in("sysadmin", ADMIN_EMAIL)
        if "sysadmin" not in self.tokens:
            return False
        tokens = answer.json
        self.r.check("f1.token-pair", all(k in tokens for k in ("refresh_token", "session_id", "expires_in")),
                     "keys=%s" % sorted(tokens))
        me = self.c.call("GET", "/me", self.tokens["sysadmin"])
        memberships = me.get("memberships") or []
        system = [m for m in memberships if m.get("role") == "system_admin"]
        shape = bool(system) and all(k in system[0] for k in ("role", "is_primary", "assigned_at"))
        expect(self.r, "f1.me-system-admin", me, 200, shape,
               "memberships=%s" % short(memberships, 300) if shape else "")
        self.r.check("f1.me-email", me.get("account", "email") == ADMIN_EMAIL,
                     "account.email=%s" % me.get("account", "email"))
        self.accounts["sysadmin"] = me.get("account", "id")
        return True

    # 2 -------------------------------------------------------------------
    def flow2_facilities(self):
        admin = self.tokens["sysadmin"]
        for key, name in (("A", "Walk Facility A"), ("B", "Walk Facility B")):
            answer = self.c.call("POST", "/facilities", admin, {"name": "%s %s" % (name, self.tag)})
            expect(self.r, "f2.create-facility-%s" % key, answer, 201, bool(answer.get("id")))
            if not answer.get("id"):
                return False
            setattr(self, "facility_" + key, answer.get("id"))
        listed = self.c.call("GET", "/facilities", admin)
        ids = [f.get("id") for f in (listed.get("items") or [])] if isinstance(listed.json, dict) else \
              [f.get("id") for f in (listed.json or [])]
        expect(self.r, "f2.list-facilities", listed, 200,
               self.facility_A in ids and self.facility_B in ids, "")
        pipes = self.c.call("GET", "/facilities/%s/pipelines" % self.facility_A, admin)
        items = pipes.get("items") or []
        lead = [p for p in items if p.get("kind") == "lead" and p.get("is_default")]
        care = [p for p in items if p.get("kind") == "care" and p.get("is_default")]
        expect(self.r, "f2.default-pipelines", pipes, 200, bool(lead) and bool(care),
               "lead=%s care=%s" % ([(p["name"], len(p["stages"])) for p in lead],
                                   [(p["name"], len(p["stages"])) for p in care]) if lead and care else "")
        # README: "seed 001's five-stage lead pipeline and fifteen-stage care journey".
        if lead and care:
            self.r.check("f2.default-stage-counts",
                         len(lead[0]["stages"]) == 5 and len(care[0]["stages"]) == 15,
                         "lead stages=%d care stages=%d" % (len(lead[0]["stages"]), len(care[0]["stages"])))
            self.lead_pipeline = lead[0]
        return bool(lead)

    # 3 -------------------------------------------------------------------
    def invite(self, inviter, who, facility, role):
        email = self.email(who)
        self.emails[who] = email
        answer = self.c.call("POST", "/facilities/%s/invitations" % facility, self.tokens[inviter],
                             {"email": email, "role": role, "full_name": "Walk %s" % who})
        ok = answer.get("new_account") is True and answer.get("membership", "role") == role \
            and answer.get("membership", "facility_id") == facility
        expect(self.r, "f3.invite.%s" % who, answer, 201, ok)
        self.accounts[who] = answer.get("account_id")
        self.memberships[who] = answer.get("membership", "id")
        self.inviters[who] = (inviter, facility)
        return answer.status == 201

    def outbox_code(self, email, inviter, facility):
        # The outbox shows an invitation's code to whoever sent it: the
        # system admin in /admin/outbox, a facility admin in its facility's.
        path = "/admin/outbox?limit=200" if inviter == "sysadmin" else \
            "/facilities/%s/outbox?limit=200" % facility
        answer = self.c.call("GET", path, self.tokens[inviter])
        for message in answer.get("items") or []:
            if message.get("recipient") == email and message.get("kind") == "invitation":
                words = (message.get("body") or "").split()
                return answer, (words[-1].rstrip(".") if words else None), message
        return answer, None, None

    def accept(self, who):
        email = self.emails[who]
        outbox, code, message = self.outbox_code(email, *self.inviters[who])
        expect(self.r, "f3.outbox.%s" % who, outbox, 200, bool(code),
               "invitation to %s, subject=%r" % (email, message and message.get("subject")) if code else
               "no invitation message to %s" % email)
        if not code:
            return False
        answer = self.c.call("POST", "/auth/accept-invitation",
                             body={"token": code, "password": PASSWORD, "full_name": "Walk %s" % who})
        expect(self.r, "f3.accept.%s" % who, answer, 200)
        self.sign_in(who, email)
        return who in self.tokens

    def flow3_staff(self):
        A, B = self.facility_A, self.facility_B
        if not self.invite("sysadmin", "admin_a", A, "administrator"):
            return False
        # Before accepting, the invited account cannot sign in.
        early = self.c.call("POST", "/auth/sign-in",
                            body={"email": self.emails["admin_a"], "password": PASSWORD})
        expect(self.r, "f3.signin-before-accept-401", early, 401, is_problem(early, 401))
        if not self.accept("admin_a"):
            return False
        # The facility's administrator invites its staff; the system admin staffs B.
        for who, role in (("physician_a", "physician"), ("sdr", "SDR"), ("coach", "Health Coach")):
            if self.invite("admin_a", who, A, role):
                self.accept(who)
        if self.invite("sysadmin", "physician_b", B, "physician"):
            self.accept("physician_b")
        if "physician_a" in self.tokens:
            me = self.c.call("GET", "/me", self.tokens["physician_a"])
            ms = me.get("memberships") or []
            ok = len(ms) == 1 and ms[0].get("facility_id") == A and ms[0].get("role") == "physician" \
                and all(k in ms[0] for k in ("is_primary", "assigned_at"))
            expect(self.r, "f3.me-physician-one-membership", me, 200, ok,
                   "memberships=%s" % short(ms, 300) if ok else "")
        # Staff of A cannot invite into B (outside their facilities: 404).
        if "admin_a" in self.tokens:
            answer = self.c.call("POST", "/facilities/%s/invitations" % B, self.tokens["admin_a"],
                                 {"email": self.email("intruder"), "role": "physician"})
            expect(self.r, "f3.admin-a-invites-into-b-404", answer, 404, is_problem(answer, 404, "not-found"))
        return all(w in self.tokens for w in ("admin_a", "physician_a", "sdr", "coach", "physician_b"))

    # 4 -------------------------------------------------------------------
    def flow4_pathway(self):
        A = self.facility_A
        body = {"kind": "care", "name": "Walk Pathway %s" % self.tag,
                "stages": ["Walk Intake", "Walk Treatment", "Walk Follow-up"]}
        answer = self.c.call("POST", "/facilities/%s/pipelines" % A, self.tokens["admin_a"], body)
        stages = [s.get("name") for s in (answer.get("stages") or [])]
        expect(self.r, "f4.admin-creates-care-pathway", answer, 201,
               answer.get("kind") == "care" and stages == body["stages"], "stages=%s" % stages)
        self.pathway = answer.json if answer.status == 201 else None
        refused = self.c.call("POST", "/facilities/%s/pipelines" % A, self.tokens["sdr"],
                              dict(body, name="SDR pathway %s" % self.tag))
        expect(self.r, "f4.sdr-pathway-403", refused, 403, is_problem(refused, 403, "forbidden"))
        listed = self.c.call("GET", "/facilities/%s/pipelines?kind=care" % A, self.tokens["admin_a"])
        names = [p.get("name") for p in listed.get("items") or []]
        expect(self.r, "f4.pathway-listed", listed, 200, body["name"] in names and
               all(p.get("kind") == "care" for p in listed.get("items") or []), "care=%s" % names)
        return self.pathway is not None

    # 5 -------------------------------------------------------------------
    def flow5_lead_to_patient(self):
        A = self.facility_A
        sdr, admin = self.tokens["sdr"], self.tokens["admin_a"]
        body = {"first_name": LEAD_FIRST, "last_name": LEAD_LAST,
                "email": "%s.%s@example.org" % (LEAD_FIRST.lower(), self.tag),
                "phone": "+1 555 %s" % str(int(self.tag, 16) % 10000000).zfill(7),
                "source": "Newsletter", "readiness": "Warm", "notes": SECRET_NOTE,
                "health_coach_id": self.accounts.get("coach"),
                "interests": [{"procedure": "Rhinoplasty", "priority": "high", "notes": DIAGNOSIS}]}
        lead = self.c.call("POST", "/facilities/%s/leads" % A, sdr, body)
        expect(self.r, "f5.sdr-creates-lead", lead, 201,
               lead.get("owner_id") == self.accounts.get("sdr") and lead.get("first_name") == LEAD_FIRST,
               "status=%s stage=%s score=%s owner=sdr" % (lead.get("status"), lead.get("stage"), lead.get("score")))
        if lead.status != 201:
            return False
        self.lead_id = lead.get("id")
        base = "/facilities/%s/leads/%s" % (A, self.lead_id)
        moved = self.c.call("POST", base + "/status", sdr, {"status": "contacted"})
        expect(self.r, "f5.sdr-moves-status", moved, 200, str(moved.get("status")).lower() == "contacted",
               "status=%s" % moved.get("status"))
        stages = self.lead_pipeline["stages"]
        target = stages[1] if len(stages) > 1 else stages[0]
        staged = self.c.call("POST", base + "/stage", sdr, {"stage_id": target["id"]})
        expect(self.r, "f5.sdr-moves-stage", staged, 200, staged.get("stage_id") == target["id"],
               "stage=%s" % staged.get("stage"))
        bad = self.c.call("POST", base + "/status", sdr, {"status": "completed"})
        expect(self.r, "f5.invalid-transition-409", bad, 409, is_problem(bad, 409, "invalid-transition"))
        task = self.c.call("POST", "/facilities/%s/tasks" % A, sdr,
                           {"title": TASK_TITLE, "lead_id": self.lead_id, "priority": "High"})
        expect(self.r, "f5.sdr-logs-task", task, 201, task.get("lead_id") == self.lead_id,
               "priority=%s due_at=%s" % (task.get("priority"), task.get("due_at")))
        history = self.c.call("GET", base + "/history", sdr)
        expect(self.r, "f5.lead-history", history, 200, len(history.get("items") or []) >= 2,
               "moves=%d" % len(history.get("items") or []))

        mrn = "WALK-%s" % self.tag.upper()
        converted = self.c.call("POST", base + "/convert", admin,
                                {"mrn": mrn, "date_of_birth": "1980-05-17",
                                 "pathway_id": self.pathway["id"]})
        journey = converted.get("journey") or {}
        ok = converted.get("new_patient") is True and journey.get("pathway_id") == self.pathway["id"] \
            and journey.get("stage") == self.pathway["stages"][0]["name"] \
            and converted.get("lead", "patient_id") == converted.get("patient_id")
        expect(self.r, "f5.admin-converts-lead", converted, 200, ok,
               "journey stage=%s coach=%s" % (journey.get("stage"), journey.get("health_coach_id") ==
                                              self.accounts.get("coach")))
        if converted.status != 200:
            return False
        self.converted_patient = converted.get("patient_id")
        again = self.c.call("POST", base + "/convert", admin, {"mrn": mrn + "-2", "date_of_birth": "1980-05-17"})
        expect(self.r, "f5.convert-twice-409", again, 409, is_problem(again, 409))
        ppath = "/facilities/%s/patients/%s" % (A, self.converted_patient)
        patient = self.c.call("GET", ppath, admin)
        expect(self.r, "f5.patient-from-lead", patient, 200,
               patient.get("first_name") == LEAD_FIRST and patient.get("mrn") == mrn, "")
        sdr_read = self.c.call("GET", ppath, sdr)
        expect(self.r, "f5.sdr-reads-no-patient-403", sdr_read, 403, is_problem(sdr_read, 403, "forbidden"))

        timeline = self.c.call("GET", ppath + "/timeline", admin)
        entries = timeline.get("items") or []
        pairs = [(e.get("resource_type"), e.get("action")) for e in entries]
        ok = ("lead", "create") in pairs and ("patient", "create") in pairs \
            and not any(a in ("read", "patient_access") for _, a in pairs)
        expect(self.r, "f5.timeline-carries-lead-history", timeline, 200, ok, "entries=%s" % pairs)
        self.r.check("f5.timeline-no-plaintext",
                     not any(m in timeline.text for m in (LEAD_FIRST, LEAD_LAST, SECRET_NOTE, mrn)),
                     "timeline text holds no names/notes/MRN")
        reads = self.c.call("GET", ppath + "/timeline?include_reads=true", admin)
        actions = [e.get("action") for e in reads.get("items") or []]
        expect(self.r, "f5.timeline-include-reads", reads, 200,
               any(a in ("read", "patient_access") for a in actions) and len(actions) > len(entries),
               "actions=%s" % actions)
        foreign = self.c.call("GET", ppath + "/timeline", self.tokens["physician_b"])
        expect(self.r, "f5.timeline-other-facility-404", foreign, 404, is_problem(foreign, 404, "not-found"))
        return True

    # 6 -------------------------------------------------------------------
    def flow6_patients(self):
        A = self.facility_A
        admin = self.tokens["admin_a"]
        body = {"mrn": "WALKP-%s" % self.tag.upper(), "first_name": PATIENT_FIRST, "last_name": PATIENT_LAST,
                "date_of_birth": "1975-03-02", "gender": "female", "phone": "+1 555 010 4242",
                "email": "%s.%s@example.org" % (PATIENT_FIRST.lower(), self.tag),
                "allergies": ["penicillin"],
                "emergency_contact": {"name": "Zyxwalk Kin", "phone": "+1 555 010 4243"}}
        created = self.c.call("POST", "/facilities/%s/patients" % A, admin, body)
        expect(self.r, "f6.admin-creates-patient", created, 201,
               created.get("first_name") == PATIENT_FIRST and created.get("is_active") is True, "")
        if created.status != 201:
            return False
        self.patient_id = created.get("id")
        path = "/facilities/%s/patients/%s" % (A, self.patient_id)
        patched = self.c.call("PATCH", path, admin, {"last_name": PATIENT_NEW_LAST, "allergies": ["latex"]})
        expect(self.r, "f6.patch-patient", patched, 200,
               patched.get("last_name") == PATIENT_NEW_LAST and patched.get("allergies") == ["latex"]
               and patched.get("first_name") == PATIENT_FIRST, "")
        read = self.c.call("GET", path, self.tokens["physician_a"])
        expect(self.r, "f6.physician-reads-patient", read, 200, read.get("last_name") == PATIENT_NEW_LAST, "")
        dup = self.c.call("POST", "/facilities/%s/patients" % A, admin, dict(body, first_name="Other"))
        expect(self.r, "f6.duplicate-mrn-409", dup, 409, is_problem(dup, 409))
        deact = self.c.call("POST", path + "/deactivate", admin)
        expect(self.r, "f6.deactivate", deact, 200, deact.get("is_active") is False, "")
        coach_deact = self.c.call("POST", path + "/deactivate", self.tokens["coach"])
        expect(self.r, "f6.coach-deactivate-403", coach_deact, 403, is_problem(coach_deact, 403, "forbidden"))
        after = self.c.call("GET", path, admin)
        expect(self.r, "f6.get-inactive", after, 200, after.get("is_active") is False,
               "is_active=%s" % after.get("is_active"))
        bad = self.c.call("POST", "/facilities/%s/patients" % A, admin,
                          {"mrn": "WALKBAD-%s" % self.tag, "first_name": "Zyxwalkbad", "last_name": "",
                           "date_of_birth": "1975-03-02", "phone": "not a phone"})
        fields = error_fields(bad)
        expect(self.r, "f6.bad-patient-422", bad, 422,
               is_problem(bad, 422, "validation") and "last_name" in fields and "phone" in fields,
               "content-type=%s fields=%s" % (bad.content_type, fields))
        for key in ("title", "status", "detail", "instance", "request_id"):
            if key not in (bad.json or {}):
                self.r.check("f6.problem-shape", False, "missing %r %s" % (key, bad.describe()))
                break
        else:
            self.r.check("f6.problem-shape", True, "type/title/status/detail/instance/request_id/errors present")
        bad_date = self.c.call("POST", "/facilities/%s/patients" % A, admin,
                               {"mrn": "WALKBAD2-%s" % self.tag, "first_name": "Zyxwalkbad",
                                "last_name": "Zyxwalkbad", "date_of_birth": "not-a-date"})
        expect(self.r, "f6.bad-date-422", bad_date, 422,
               is_problem(bad_date, 422, "validation") and "date_of_birth" in error_fields(bad_date),
               "fields=%s" % error_fields(bad_date))
        return True

    # 7 -------------------------------------------------------------------
    def flow7_emergency(self):
        A = self.facility_A
        away = self.tokens["physician_b"]
        patient = self.converted_patient
        path = "/facilities/%s/patients/%s" % (A, patient)
        before = self.c.call("GET", path, away)
        expect(self.r, "f7.before-grant-404", before, 404, is_problem(before, 404, "not-found"))
        missing = self.c.call("POST", "/emergency-access", away, {"facility_id": A, "patient_id": patient})
        expect(self.r, "f7.no-reason-422", missing, 422, is_problem(missing, 422, "validation")
               and "reason" in error_fields(missing), "fields=%s" % error_fields(missing))
        empty = self.c.call("POST", "/emergency-access", away,
                            {"facility_id": A, "patient_id": patient, "reason": ""})
        expect(self.r, "f7.empty-reason-422", empty, 422, is_problem(empty, 422, "validation")
               and "reason" in error_fields(empty), "fields=%s" % error_fields(empty))
        sdr_ask = self.c.call("POST", "/emergency-access", self.tokens["sdr"],
                              {"facility_id": self.facility_B, "patient_id": patient, "reason": EMERGENCY_REASON})
        expect(self.r, "f7.sdr-cannot-request-403", sdr_ask, 403, is_problem(sdr_ask, 403, "forbidden"))
        grant = self.c.call("POST", "/emergency-access", away,
                            {"facility_id": A, "patient_id": patient, "reason": EMERGENCY_REASON})
        expect(self.r, "f7.grant", grant, 201,
               grant.get("patient_id") == patient and grant.get("reason") == EMERGENCY_REASON
               and bool(grant.get("expires_at")), "expires_at=%s" % grant.get("expires_at"))
        if grant.status != 201:
            return False
        read = self.c.call("GET", path, away)
        expect(self.r, "f7.read-with-grant", read, 200, read.get("id") == patient, "")
        other = self.c.call("GET", "/facilities/%s/patients/%s" % (A, self.patient_id), away)
        expect(self.r, "f7.other-patient-still-404", other, 404, is_problem(other, 404, "not-found"))
        listed = self.c.call("GET", "/facilities/%s/emergency-access" % A, self.tokens["admin_a"])
        ids = [g.get("id") for g in listed.get("items") or []]
        expect(self.r, "f7.admin-lists-grants", listed, 200, grant.get("id") in ids, "grants=%d" % len(ids))
        reviewed = self.c.call("POST", "/facilities/%s/emergency-access/%s/review" % (A, grant.get("id")),
                               self.tokens["admin_a"])
        expect(self.r, "f7.admin-reviews", reviewed, 200, bool(reviewed.get("reviewed_at"))
               and reviewed.get("reviewed_by") == self.accounts.get("admin_a"), "")
        unreviewed = self.c.call("GET", "/facilities/%s/emergency-access?unreviewed=true" % A,
                                 self.tokens["admin_a"])
        expect(self.r, "f7.unreviewed-empty", unreviewed, 200,
               grant.get("id") not in [g.get("id") for g in unreviewed.get("items") or []], "")
        return True

    # 8 -------------------------------------------------------------------
    def flow8_history(self):
        A = self.facility_A
        path = "/facilities/%s/patients/%s/history" % (A, self.converted_patient)
        when = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        visit = {"visit_date": when, "department": "Walk Cardiology", "primary_diagnosis": DIAGNOSIS,
                 "secondary_diagnoses": [DIAGNOSIS + " type II"],
                 "medications": [{"name": "Zyxwalkamycin", "dose": "5 mg"}],
                 "vital_signs": {"heart_rate_bpm": 72}, "notes": SECRET_NOTE,
                 "attending_physician_id": self.accounts.get("physician_a")}
        made = self.c.call("POST", path, self.tokens["physician_a"], visit)
        expect(self.r, "f8.physician-records-visit", made, 201,
               made.get("primary_diagnosis") == DIAGNOSIS and made.get("recorded_by") == self.accounts.get("physician_a"),
               "")
        read = self.c.call("GET", path, self.tokens["physician_a"])
        items = read.get("items") or []
        expect(self.r, "f8.physician-reads-history", read, 200,
               any(v.get("id") == made.get("id") and v.get("primary_diagnosis") == DIAGNOSIS for v in items),
               "visits=%d" % len(items))
        if made.get("id"):
            one = self.c.call("GET", "%s/%s" % (path, made.get("id")), self.tokens["physician_a"])
            expect(self.r, "f8.read-one-visit", one, 200, one.get("notes") == SECRET_NOTE, "")
        coach = self.c.call("POST", path, self.tokens["coach"], visit)
        expect(self.r, "f8.coach-write-403", coach, 403, is_problem(coach, 403, "forbidden"))
        # The emergency grant of flow 7 also opens the history (history:read).
        away = self.c.call("GET", path, self.tokens["physician_b"])
        expect(self.r, "f8.grant-reads-history", away, 200, len(away.get("items") or []) >= 1, "")
        return True

    # 9 -------------------------------------------------------------------
    def flow9_revocation(self):
        A = self.facility_A
        sdr = self.tokens["sdr"]
        leads = "/facilities/%s/leads" % A
        before = self.c.call("GET", leads, sdr)
        expect(self.r, "f9.sdr-reads-leads", before, 200,
               len(before.get("items") or []) >= (1 if self.lead_id else 0), "")
        listed = self.c.call("GET", "/facilities/%s/memberships" % A, self.tokens["admin_a"])
        mine = [m for m in listed.get("items") or [] if m.get("account_id") == self.accounts.get("sdr")]
        expect(self.r, "f9.memberships-list", listed, 200, len(mine) == 1 and mine[0].get("role") == "SDR"
               and mine[0].get("id") == self.memberships.get("sdr"),
               "members=%d" % len(listed.get("items") or []))
        membership = mine[0]["id"] if mine else self.memberships.get("sdr")
        removed = self.c.call("DELETE", "/facilities/%s/memberships/%s" % (A, membership), self.tokens["admin_a"])
        expect(self.r, "f9.remove-sdr-membership", removed, 204)
        after = self.c.call("GET", leads, sdr)
        expect(self.r, "f9.sdr-next-request-404", after, 404, is_problem(after, 404, "not-found"))
        me = self.c.call("GET", "/me", sdr)
        expect(self.r, "f9.sdr-me-no-memberships", me, 200, me.get("memberships") == [],
               "memberships=%s" % short(me.get("memberships"), 200))
        # Sign-out ends the session at once.
        coach = self.tokens["coach"]
        out = self.c.call("POST", "/auth/sign-out", coach)
        expect(self.r, "f9.sign-out", out, 204)
        gone = self.c.call("GET", "/me", coach)
        expect(self.r, "f9.signed-out-token-401", gone, 401, is_problem(gone, 401))
        return True

    # 10 ------------------------------------------------------------------
    def flow10_api_key(self):
        A = self.facility_A
        keys = "/facilities/%s/api-keys" % A
        created = self.c.call("POST", keys, self.tokens["admin_a"], {"name": "walk-reader", "scopes": ["lead:read"]})
        token = created.get("token") or ""
        expect(self.r, "f10.create-key", created, 201, token.startswith("cbak_"),
               "scopes=%s" % created.get("scopes"))
        if not token:
            return False
        leads = "/facilities/%s/leads" % A
        read = self.c.call("GET", leads, token)
        expect(self.r, "f10.key-reads-leads", read, 200,
               len(read.get("items") or []) >= (1 if self.lead_id else 0), "")
        write = self.c.call("POST", leads, token, {"first_name": "Keyed", "last_name": "Walk"})
        expect(self.r, "f10.key-create-lead-403", write, 403, is_problem(write, 403, "forbidden"))
        foreign = self.c.call("GET", "/facilities/%s/leads" % self.facility_B, token)
        expect(self.r, "f10.key-other-facility-404", foreign, 404, is_problem(foreign, 404, "not-found"))
        listed = self.c.call("GET", keys, self.tokens["admin_a"])
        expect(self.r, "f10.key-secret-never-listed", listed, 200,
               token[10:] not in listed.text and bool(listed.get("items", 0, "last_used_at")), "")
        return True


def run_walk(report, client, tag):
    walk = Walk(report, client, tag)
    steps = [("flow1", walk.flow1_system_admin, ()),
             ("flow2", walk.flow2_facilities, ("flow1",)),
             ("flow3", walk.flow3_staff, ("flow2",)),
             ("flow4", walk.flow4_pathway, ("flow3",)),
             ("flow5", walk.flow5_lead_to_patient, ("flow4",)),
             ("flow6", walk.flow6_patients, ("flow3",)),
             ("flow7", walk.flow7_emergency, ("flow5",)),
             ("flow8", walk.flow8_history, ("flow5",)),
             ("flow9", walk.flow9_revocation, ("flow3",)),
             ("flow10", walk.flow10_api_key, ("flow3",))]
    # Later flows need what earlier ones made; a flow whose prerequisite
    # failed is reported as one FAIL instead of a cascade of them.
    done = {}
    for name, step, needs in steps:
        missing = [n for n in needs if not done.get(n)]
        if missing:
            report.skip_rest(name, "prerequisite %s failed" % ",".join(missing))
            done[name] = False
            continue
        try:
            done[name] = bool(step())
        except Exception as error:  # a malformed answer must not hide the other flows
            report.check(name + ".exception", False, "%s: %s" % (type(error).__name__, error))
            done[name] = False
    return walk


# ---------------------------------------------------------------------------
# Main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/carebase")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print it")
    args = parser.parse_args()
    # A terminated walk still stops its server and drops its databases.
    signal.signal(signal.SIGTERM, lambda *_: (print("# interrupted: cleaning up", flush=True), sys.exit(143)))

    report = Report()
    binary = os.path.abspath(args.bin)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        report.check("setup.binary", False, "%s is not an executable file" % binary)
        report.summary()
        return 2

    tag = secrets.token_hex(4)
    work = tempfile.mkdtemp(prefix="carebase-walk-")
    data_dir = os.path.join(work, "data")
    demo_dir = os.path.join(work, "demo-data")
    os.makedirs(data_dir)
    os.makedirs(demo_dir)
    databases = []
    server = None
    try:
        if args.db == "postgres":
            name = "walk_%s" % tag
            url = create_pg_database(report, name)
            if not url:
                return 1
            databases.append(name)
        else:
            url = "sqlite://%s" % os.path.join(data_dir, "carebase.db")
        port = free_port()
        config = write_config(work, data_dir, url, port)
        print("# %s on %s, data %s, port %d" % (os.path.basename(binary), args.db, work, port), flush=True)

        checked = run_cli(binary, config, ["config", "check"], timeout=120)
        report.check("setup.config-check", checked.returncode == 0,
                     "rc=%s %s" % (checked.returncode, short(checked.stderr.strip(), 300)))
        created = run_cli(binary, config, ["admin", "create", "--email", ADMIN_EMAIL, "--password-stdin"],
                          stdin=PASSWORD + "\n")
        report.check("setup.admin-create", created.returncode == 0,
                     "rc=%s %s" % (created.returncode, short(created.stdout.strip() if created.returncode == 0
                                                             else created.stderr.strip(), 300)))
        report.check("setup.admin-create-no-password-echo", PASSWORD not in created.stdout + created.stderr,
                     "password not printed")

        base = "http://127.0.0.1:%d" % port
        server = Server(binary, config, os.path.join(work, "server.log"), base)
        healthy, detail = server.wait_healthy()
        report.check("setup.health", healthy, detail)
        client = Client(base)
        if healthy:
            ready = client.call("GET", "/ready")
            expect(report, "setup.ready", ready, 200, ready.get("status") is not None,
                   "database=%s migrations=%s" % (ready.get("database"), ready.get("migrations_applied")))
            unknown = client.call("GET", "/no-such-route-%s" % tag)
            expect(report, "setup.unknown-route-problem", unknown, 404, is_problem(unknown, 404))
            anonymous = client.call("GET", "/me")
            expect(report, "setup.anonymous-me-401", anonymous, 401, is_problem(anonymous, 401))
            run_walk(report, client, tag)

        code = server.stop()
        report.check("server.sigterm-exit-0", code == 0, "exit code %s" % code)
        log = server.log_text()
        leaked = [m for m in PHI_MARKERS if m.lower() in log.lower()]
        report.check("server.log-no-phi", not leaked, "log %d bytes; leaked=%s" % (len(log), leaked))
        report.check("server.log-no-panic", "panicked" not in log, "no 'panicked' in log")
        errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("ERROR")]
        report.check("server.log-no-errors", not errors, short(" | ".join(errors[:3]), 600) if errors else
                     "no ERROR lines (no 5xx)")
        server = None
        check_at_rest(report, args.db, data_dir, databases[0] if databases else None)

        # 11: operator commands.
        roles = run_cli(binary, config, ["roles"], timeout=120)
        ok = roles.returncode == 0 and all(r in roles.stdout for r in
                                           ("`physician`", "`SDR`", "`Health Coach`", "`system_admin`",
                                            "`administrator`", "lead:read"))
        report.check("f11.roles-table", ok, "rc=%s lines=%d" % (roles.returncode, roles.stdout.count("\n")))
        verify = run_cli(binary, config, ["audit", "verify"], timeout=300)
        report.check("f11.audit-verify", verify.returncode == 0,
                     "rc=%s %s" % (verify.returncode, short((verify.stdout + verify.stderr).strip(), 300)))

        if args.db == "postgres":
            name = "walk_%s_demo" % tag
            demo_url = create_pg_database(report, name)
            if demo_url:
                databases.append(name)
        else:
            demo_url = "sqlite://%s" % os.path.join(demo_dir, "carebase.db")
        if demo_url:
            demo_config = write_config(demo_dir, demo_dir, demo_url, free_port())
            started = time.time()
            demo = run_cli(binary, demo_config, ["demo", "--leads", "200", "--seed", "7"], timeout=900)
            report.check("f11.demo", demo.returncode == 0, "rc=%s in %.1fs %s" % (
                demo.returncode, time.time() - started,
                short(demo.stderr.strip(), 300) if demo.returncode else
                "stdout %d lines" % demo.stdout.count("\n")))
            again = run_cli(binary, demo_config, ["demo", "--leads", "200", "--seed", "7"], timeout=900)
            report.check("f11.demo-refuses-second-load", again.returncode != 0,
                         "rc=%s %s" % (again.returncode, last_line(again.stderr)))
            demo_verify = run_cli(binary, demo_config, ["audit", "verify"], timeout=300)
            report.check("f11.demo-audit-verify", demo_verify.returncode == 0,
                         "rc=%s %s" % (demo_verify.returncode,
                                       short((demo_verify.stdout + demo_verify.stderr).strip(), 200)))
    finally:
        if server is not None:
            server.stop(grace=10)
        ok = finish(report, work, args.keep, databases)
    return 0 if ok else 1


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return short(lines[-1], 300) if lines else ""


def check_at_rest(report, db, data_dir, pg_name):
    """Patient data is sealed before it reaches the database; the key file is private."""
    key = os.path.join(data_dir, "master.key")
    if os.path.exists(key):
        mode = os.stat(key).st_mode & 0o777
        report.check("rest.master-key-0600", mode == 0o600, "mode %o" % mode)
    else:
        report.check("rest.master-key-0600", False, "no %s" % key)
    if db == "sqlite":
        blob = b""
        for name in os.listdir(data_dir):
            if name.startswith("carebase.db"):
                with open(os.path.join(data_dir, name), "rb") as f:
                    blob += f.read()
        where = "sqlite files (%d bytes)" % len(blob)
    else:
        dump = pg_command("pg_dump", "--data-only", pg_name)
        if dump.returncode != 0:
            report.check("rest.no-plaintext-phi", False, "pg_dump failed: %s" % last_line(dump.stderr))
            return
        blob = dump.stdout.encode()
        where = "pg_dump (%d bytes)" % len(blob)
    low = blob.lower()
    found = [m for m in PHI_MARKERS if m.lower().encode() in low]
    report.check("rest.no-plaintext-phi", bool(blob) and not found, "%s; plaintext found=%s" % (where, found))


def finish(report, work, keep, databases):
    for name in databases:
        drop_pg_database(name)
    if keep:
        print("# kept %s" % work, flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
