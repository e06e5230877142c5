#!/usr/bin/env python3
"""Benchmark: governed.odoo.release_gate's evaluation, against a policy with a year of windows and 10,000 audit records.

Setup (not timed): a prod policy in Europe/Berlin with daily allow windows, a deny window per week of the
year (52 one-off windows) and a recurring one, a freeze calendar (.ics) with a year of events (payroll
cutoffs monthly with an EXDATE, month-end close all-day, and one one-off date per working week), three
approvers and a deployer with keys generated for the run; a local audit chain of --records records
(default 10,000) written by audit/store.py into a temporary directory, ending with the release's verified
deployments in dev, qa, staging and uat and a neutralized production copy restored into staging before its
rehearsal; the release record file with its Trivy report beside it; a change record committed in a git
repository made for the run; a stand-in registry (a local HTTP server in this process answering the OCI
distribution API's HEAD of the manifest).

Timed, --repeat times (default 7), each at another instant of the year, the median printed:

* ``gate``: what the action does after templating the target's variables (release/gate.py ``run``): read the
  release record and the records beside it, the statements, the calendar; read the local chain and its head and
  verify it as the gates do (every hash, link and key id; the head's signature, which covers every record
  before it); HEAD the manifest in the registry; read the scan report; read the change record from git (two
  ``git`` child processes, their CPU time counted); evaluate every rule of layer release.
* the same once with every record's signature verified (what audit_verify does), for comparison.

The policy has no cosign keys (cosign is a child process that reaches a registry with signatures: its cost is
cosign's own, seen in tests/integration/test_release_gate_lab.py), so release.image_signature refuses in prod; the
rehearsal may be a year old here, so that every instant of the year can pass. Wall and CPU time (this process and
its children) are printed: the machine is shared, and the CPU time is the steadier figure. Target: under 1 s.

    .venv/bin/python bench/bench_gates.py [--records 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.release import gate as release_gate  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from rules import cases_release as world  # noqa: E402

TARGET_SECONDS = 1.0
YEAR = 2027
DIGEST = world.DIGEST
# refusals expected at some instants (window, freeze) or always (no cosign keys in this policy, see above)
EXPECTED = {"release.window", "release.image_signature"}


def year_calendar():
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//freezes//EN",
             "BEGIN:VEVENT", "UID:payroll", "SUMMARY:Payroll cutoff",
             f"DTSTART;TZID=Europe/Berlin:{YEAR}0120T120000", f"DTEND;TZID=Europe/Berlin:{YEAR}0122T120000",
             "RRULE:FREQ=MONTHLY;BYMONTHDAY=20", f"EXDATE;TZID=Europe/Berlin:{YEAR}0820T120000", "END:VEVENT",
             "BEGIN:VEVENT", "UID:close", "SUMMARY:Month-end close", f"DTSTART;VALUE=DATE:{YEAR}0130",
             f"DTEND;VALUE=DATE:{YEAR}0202", "RRULE:FREQ=MONTHLY;BYMONTHDAY=-2", "END:VEVENT"]
    day = dt.date(YEAR, 1, 6)
    for n in range(50):
        lines += ["BEGIN:VEVENT", f"UID:oneoff-{n}", f"SUMMARY:Inventory count {n}",
                  f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}", "END:VEVENT"]
        day += dt.timedelta(days=7)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def year_variables(registry_url, change_repo):
    """The target's variables: prod in Europe/Berlin with a year of windows, a git change record, the registry."""
    deny = [{"name": f"release train week {w}", "start": (dt.datetime(YEAR, 1, 4, 18) + dt.timedelta(weeks=w))
             .strftime("%Y-%m-%dT%H:%M"), "duration": "PT2H"} for w in range(52)]
    deny.append({"name": "nightly backup", "rrule": "FREQ=DAILY", "start": f"{YEAR}-01-01T01:00", "duration": "PT1H"})
    allow = [{"name": "working days", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "start": f"{YEAR}-01-01T06:00",
              "duration": "PT12H"}]
    return {"governed_odoo_environment": "prod", "release_identities": world.IDENTITIES,
            "release_timezone": "Europe/Berlin", "release_allow_windows": allow, "release_deny_windows": deny,
            "release_freeze_calendars": ["finance"], "release_change_record_provider": "git",
            "release_change_record": {"repo": str(change_repo), "path": "changes/{release}.yml"},
            "release_registry_url": registry_url, "release_rehearsal_max_age_days": 400}


def build_chain(directory, n):
    """``n`` records: promotions of other releases, then the release's path and its staging rehearsal."""
    signer = chain.Signer(Ed25519PrivateKey.generate())
    start = dt.datetime(YEAR - 1, 12, 31, tzinfo=dt.UTC) - dt.timedelta(minutes=n)
    mine = {"id": world.RECORD["id"], "digest": DIGEST}
    tail = [{"kind": "promotion", "environment": "dev", "instance": "civil-dev", "release": mine, "verified": True},
            {"kind": "promotion", "environment": "qa", "instance": "civil-qa", "release": mine, "verified": True},
            {"kind": "restore", "environment": "staging", "instance": "civil-staging", "neutralized": True, "ok": True,
             "source": {"environment": "prod", "backup": "b1"}},
            {"kind": "promotion", "environment": "staging", "instance": "civil-staging", "release": mine,
             "verified": True},
            {"kind": "promotion", "environment": "uat", "instance": "civil-uat", "release": mine, "verified": True}]
    previous, lines = None, []
    for i in range(n):
        if i >= n - len(tail):
            event = tail[i - (n - len(tail))]
        else:
            event = {"kind": "promotion", "environment": ("dev", "qa", "staging", "uat", "prod")[i % 5],
                     "instance": f"tenant{i % 40}", "verified": True,
                     "release": {"id": f"r{i}", "digest": "sha256:" + f"{i % 16:x}" * 64, "hash": "sha256:" + "0" * 64},
                     "deployer": "bob", "approvers": ["alice", "carol"],
                     "gates": [{"rule": r, "ok": True} for r in ("release.window", "release.approvals")]}
        previous = chain.make_record(previous, event, signer, start + dt.timedelta(minutes=i))
        lines.append(chain.canonical(previous))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "chain.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (directory / "head.json").write_bytes(chain.canonical(chain.make_head(previous, signer, start)))
    return [chain.public_pem(signer.public_key)]


class Registry(http.server.BaseHTTPRequestHandler):
    """A stand-in for the registry the cluster pulls from: HEAD of the release's manifest answers 200."""

    def do_HEAD(self):
        found = self.path.endswith(f"/manifests/{DIGEST}")
        self.send_response(200 if found else 404)
        if found:
            self.send_header("Docker-Content-Digest", DIGEST)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def write_world(tmp):
    """The release record file with its scan report, the calendar directory, a git repository of change records."""
    releases = tmp / "releases"
    releases.mkdir()
    report = {"SchemaVersion": 2, "ArtifactName": "127.0.0.1/odoo@" + DIGEST, "Metadata": {"RepoDigests": []},
              "Results": [{"Target": "odoo", "Vulnerabilities": [
                  {"VulnerabilityID": f"CVE-2026-{n}", "PkgName": "p", "Severity": "LOW"} for n in range(200)]}]}
    data = json.dumps(report).encode()
    (releases / "trivy.json").write_bytes(data)
    record = json.loads(json.dumps(world.RECORD))
    record["evidence"]["scan_report"] = {"uri": "trivy.json", "sha256": "sha256:" + hashlib.sha256(data).hexdigest()}
    (releases / "2026.12.1.yml").write_text(yaml.safe_dump(record))
    for n in range(30):  # the other releases of the repository
        other = dict(record, id=f"2026.{n}.1")
        (releases / f"2026.{n}.1.yml").write_text(yaml.safe_dump(other))
    (tmp / "calendars").mkdir()
    (tmp / "calendars" / "finance.ics").write_text(year_calendar())
    repo = tmp / "changes-repo"
    (repo / "changes").mkdir(parents=True)
    (repo / "changes" / "2026.12.1.yml").write_text(yaml.safe_dump(
        {"id": "CHG-1", "release": record["id"], "environment": "prod", "digest": DIGEST, "status": "approved",
         "approved_by": ["carol"], "implementer": "bob"}))
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "change records"], check=True)
    return releases / "2026.12.1.yml", tmp / "calendars", repo


def instants(count):
    """``count`` instants spread over the year, at varying hours (some inside windows, some in freezes)."""
    start = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=365 * 24 // count + 5)
    return [start + step * i for i in range(count)]


def params_at(now, release, calendars, audit):
    """The task's arguments at ``now``, with the signed statements made before the timing, as approvers would."""
    args = {"release": str(release), "target": "civil-prod", "now": now.isoformat(), "calendars_dir": str(calendars),
            "approvals": [world.statement("alice", at=now), world.statement("carol", at=now)],
            "promotion_request": world.request(at=now), "audit": audit}
    result = ArgumentSpecValidator(release_gate.argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn):
    w, c = time.perf_counter(), cpu()
    out = fn()
    return out, time.perf_counter() - w, cpu() - c


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=7, help="evaluations, each at another instant of the year")
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry_url = f"http://127.0.0.1:{server.server_address[1]}"
    moments = instants(args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        tmp = Path(tmp)
        release, calendars, repo = write_world(tmp)
        keys = build_chain(tmp / "audit", args.records)
        variables = year_variables(registry_url, repo)
        audit = {"local_dir": str(tmp / "audit"), "public_keys": keys}
        params = {now: params_at(now, release, calendars, audit) for now in moments}
        release_gate.run(params[moments[0]], variables)  # warm: imports, zoneinfo
        walls, cpus, refused = [], [], 0
        for now in moments:
            (out, _hidden), wall, used = timed(lambda now=now: release_gate.run(params[now], variables))
            walls.append(wall)
            cpus.append(used)
            failing = {r["id"] for r in out["rules"] if not r["passed"]}
            assert failing <= EXPECTED, [r for r in out["rules"] if r["id"] in failing - EXPECTED]
            refused += "release.window" in failing
        full = chain.verify
        chain.verify = lambda records, k, head=None, signatures="all": full(records, k, head=head, signatures="all")
        try:
            _, full_wall, full_cpu = timed(lambda: release_gate.run(params[moments[0]], variables))
        finally:
            chain.verify = full
        server.shutdown()
    wall, used = statistics.median(walls), statistics.median(cpus)
    rules = engine.rules_for(layer="release")
    print(f"{args.records} audit records; policy: {len(variables['release_allow_windows'])} allow and "
          f"{len(variables['release_deny_windows'])} deny windows, a freeze calendar of "
          f"{year_calendar().count('BEGIN:VEVENT')} events over {YEAR}; {len(rules)} release rules; {len(moments)}"
          f" evaluations at instants over the year ({refused} refused by a window or freeze; every one by"
          f" release.image_signature, the policy has no cosign keys)")
    print(f"gate (release_gate's evaluation: evidence read, chain verified by its signed head, every release rule):"
          f" median {wall:.3f} s wall, {used:.3f} s CPU (process and children), worst {max(walls):.3f} s wall;"
          f" target < {TARGET_SECONDS:.1f} s: {'met' if used < TARGET_SECONDS else 'NOT met (CPU)'}"
          f"{'' if wall < TARGET_SECONDS else ', NOT met (wall)'}")
    print(f"the same with every record's signature verified (as audit_verify): {full_wall:.3f} s wall, "
          f"{full_cpu:.3f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
