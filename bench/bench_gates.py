#!/usr/bin/env python3
"""Benchmark: the release gates' evaluation time, against a policy with a year of windows and 10,000 audit records.

Setup (not timed): a prod policy in Europe/Berlin with daily allow windows, a deny window per week of the
year (52 one-off windows) and a recurring one, a freeze calendar (.ics) with a year of events (payroll
cutoffs monthly with an EXDATE, month-end close all-day, and one one-off date per working week), three
approvers and a deployer with keys generated for the run; a local audit chain of --records records
(default 10,000) written by audit/store.py into a temporary directory.

Timed, --repeat times (default 7), each at another instant of the year, the median printed:

* ``gate``: read the local chain and its head, verify it as the gates do (every hash, link and key id; the
  head's signature, which covers every record before it), and evaluate every rule of layer release once
  (record, identity against the releases the audit trail knows, policy, windows with the .ics freeze
  calendar parsed, signed approvals and promotion request).
* the same once with every record's signature verified (what audit_verify does), for comparison.

Wall and CPU time are printed: the machine is shared, and the CPU time of the process is the steadier
figure. Target: gate under 1 s.

    .venv/bin/python bench/bench_gates.py [--records 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from ansible_collections.governed.odoo.plugins.module_utils.audit import chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.release import record as rec  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from rules import cases_release as world  # noqa: E402

TARGET_SECONDS = 1.0
YEAR = 2027


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


def year_policy():
    deny = [{"name": f"release train week {w}", "start": (dt.datetime(YEAR, 1, 4, 18) + dt.timedelta(weeks=w))
             .strftime("%Y-%m-%dT%H:%M"), "duration": "PT2H"} for w in range(52)]
    deny.append({"name": "nightly backup", "rrule": "FREQ=DAILY", "start": f"{YEAR}-01-01T01:00", "duration": "PT1H"})
    allow = [{"name": "working days", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "start": f"{YEAR}-01-01T06:00",
              "duration": "PT12H"}]
    return world.prod_policy(allow_windows=allow, deny_windows=deny, freeze_calendars=["finance"])


def build_chain(directory, n):
    signer = chain.Signer(Ed25519PrivateKey.generate())
    trail = AuditTrail(local=LocalChain(directory))
    start = dt.datetime(YEAR - 1, 1, 1, tzinfo=dt.UTC)
    previous, lines = None, []
    for i in range(n):
        event = {"kind": "promotion", "environment": "prod", "instance": f"tenant{i % 40}",
                 "release": {"id": f"r{i}", "digest": "sha256:" + f"{i % 16:x}" * 64, "hash": "sha256:" + "0" * 64},
                 "deployer": "bob", "approvers": ["alice", "carol"],
                 "gates": [{"rule": r, "ok": True} for r in ("release.window", "release.approvals", "release.policy")]}
        previous = chain.make_record(previous, event, signer, start + dt.timedelta(minutes=i))
        lines.append(chain.canonical(previous))
    trail.local.dir.mkdir(parents=True, exist_ok=True)
    trail.local.chain_path.write_bytes(b"\n".join(lines) + b"\n")
    trail.local.head_path.write_bytes(chain.canonical(chain.make_head(previous, signer, start)))
    return trail, chain.keyring([chain.public_pem(signer.public_key)])


def instants(count):
    """``count`` instants spread over the year, at varying hours (some inside windows, some in freezes)."""
    start = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=365 * 24 // count + 5)
    return [start + step * i for i in range(count)]


def evidence_at(now):
    """The signed statements of a promotion at ``now`` (made before the timing, as approvers would)."""
    return {"approvals": [world.statement("alice", at=now), world.statement("carol", at=now)],
            "promotion_request": world.request(at=now), "override_approvals": []}


def gate(trail, keys, policy, calendars, now, evidence, signatures="head"):
    """One gate evaluation: read and verify the audit chain, then every release rule at ``now``."""
    records, head = trail.local.read()
    verdict = chain.verify(records, keys, head=head, signatures=signatures)
    assert verdict.ok, verdict.problems[:3]
    inputs = {"release": world.RECORD, "known_releases": rec.known_from_audit(records),
              "release_source": "releases/2026.12.1.yml", "policy": policy, "calendars": calendars, "now": now,
              **evidence}
    return engine.evaluate(engine.rules_for(layer="release"), inputs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=7, help="evaluations, each at another instant of the year")
    args = parser.parse_args(argv)
    policy, calendars = year_policy(), {"finance": year_calendar()}
    moments = instants(args.repeat)
    evidence = {now: evidence_at(now) for now in moments}
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        trail, keys = build_chain(Path(tmp) / "audit", args.records)
        gate(trail, keys, policy, calendars, moments[0], evidence[moments[0]])  # warm: imports, zoneinfo
        walls, cpus, refused = [], [], 0
        for now in moments:
            w, c = time.perf_counter(), time.process_time()
            findings = gate(trail, keys, policy, calendars, now, evidence[now])
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
            refused += bool(findings)
            assert all(f.rule_id == "release.window" for f in findings), findings
        w, c = time.perf_counter(), time.process_time()
        gate(trail, keys, policy, calendars, moments[0], evidence[moments[0]], signatures="all")
        full_wall, full_cpu = time.perf_counter() - w, time.process_time() - c
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"{args.records} audit records; policy: {len(policy['allow_windows'])} allow and "
          f"{len(policy['deny_windows'])} deny windows, a freeze calendar of "
          f"{calendars['finance'].count('BEGIN:VEVENT')} events over {YEAR}; "
          f"{len(engine.rules_for(layer='release'))} release rules; {len(moments)} evaluations at instants over the"
          f" year ({refused} refused by a window or freeze, the rest passing every rule)")
    print(f"gate (read + verify the chain by its signed head + every release rule): median {wall:.3f} s wall, "
          f"{cpu:.3f} s CPU, worst {max(walls):.3f} s wall; target < {TARGET_SECONDS:.1f} s: "
          f"{'met' if wall < TARGET_SECONDS else 'NOT met (wall)'}{'' if cpu < TARGET_SECONDS else ', NOT met (CPU)'}")
    print(f"the same with every record's signature verified (as audit_verify): {full_wall:.3f} s wall, "
          f"{full_cpu:.3f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
