# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The governance report as data (pure): evidence in, one JSON-ready dict out.

Evidence, each optional:

* ``audit``: ``{"records": [...], "verification": {"ok", "problems"}}``, the audit trail as read and as verified
  (module_utils/audit). A promotion or rollback record names ``event.environment`` and ``event.release`` (an id,
  or a dict with ``id``); ``event.approvers`` (names, or dicts with ``name``), ``event.window`` (a name, or a dict
  with ``name`` and ``start``/``end`` or ``at``, as the release gate decides it) and ``event.deployer`` are shown
  when present. A refusal record's reasons are ``event.reasons``, else the messages of its failed ``event.gates``,
  else ``event.reason``.
* ``backups``: manifest summaries (``environment``, ``db_name``, ``backup_id``, ``started_at``), read from the
  backup store (module_utils/backup).
* ``drills``: drill reports as ``dr_drill.yml`` writes them (module_utils/restore/drill.py).
* ``drift``: drift reports as ``playbooks/drift.yml`` writes them (module_utils/drift/report.py), one (a dict) or
  several (a list): their ``instances`` (a list, or a dict by instance), each with ``environment``, its findings
  (``drift``, or ``changes``/``fields``) and ``errors``. Each instance counts from the newest report that names it
  (``generated_at``); an environment that no report names is not checked (``drift`` None), one whose instances all
  compared without a finding is clean.

GitOps mode (``event.delivery`` ``gitops``): a promotion or rollback is ``committed`` to the repository and the
controller rolls it out; ``playbooks/promote_verify.yml`` then records a ``verification`` of it (``event.of.hash``
is the hash of the committed record) and, when the verification fails after the controller applied it, a
``rollback`` (outcome ``rolled back``) committed in its place. Each committed row carries its ``verification``:
``pending`` (no verification yet), ``verified``, ``failed`` (nothing applied, nothing committed) or
``rolled back`` (failed after the sync, the rollback committed).

An audit trail that fails verification comes first in ``attention``: nothing else in the report can be trusted
more than the trail it is read from.
"""

from __future__ import annotations

import datetime as _dt
import json

from ansible_collections.governed.odoo.plugins.module_utils.restore.drill import human_seconds, iso, parse_time

REPORT_VERSION = 1
DEFAULT_BACKUP_MAX_AGE = 26 * 3600  # a nightly backup, with two hours of slack
DEPLOY_KINDS = ("promotion", "rollback")


def _name(value, *keys):
    if isinstance(value, dict):
        for key in keys:
            if value.get(key):
                return str(value[key])
        return None
    return None if value in (None, "") else str(value)


def _release(event):
    return _name(event.get("release"), "id", "name", "version")


def _digest(release):
    """The image digest of a release as the records name it (``digest``, else the one ``image`` is pinned by)."""
    if not isinstance(release, dict):
        return None
    if release.get("digest"):
        return str(release["digest"])
    image = release.get("image")
    return image.rsplit("@", 1)[1] if isinstance(image, str) and "@" in image else None


def _approvers(event):
    out = []
    for item in event.get("approvers") or []:
        name = _name(item, "name", "approver", "id", "user")
        if name:
            out.append(name)
    return out


def _window(event):
    window = event.get("window")
    if isinstance(window, dict) and "allowed" in window and window.get("name"):
        # the release gate's decision ({name, allowed, at}): its name says the window and its span in the
        # environment's time zone; ``at`` is the instant of the promotion, the row's own time
        return str(window["name"]) + ("" if window["allowed"] else " (overridden)")
    if isinstance(window, dict):
        name = _name(window, "name", "id")
        span = " to ".join(str(window[k]) for k in ("start", "end") if window.get(k)) or window.get("at") or ""
        return " ".join(p for p in (name, f"({span})" if span and name else span) if p) or None
    return _name(window)


def _reasons(event):
    if event.get("reasons"):
        return [str(r) for r in event["reasons"]]
    out = []
    for gate in event.get("gates") or []:
        if not isinstance(gate, dict):
            continue
        # release_gate's results, as promote.yml records them: {id, passed, reasons: [...]}
        if gate.get("passed") is False:
            rule = gate.get("id") or gate.get("rule")
            why = [str(r) for r in gate.get("reasons") or []] or ["refused"]
            out.extend(f"{rule}: {r}" if rule else r for r in why)
        # the older shape: {rule, ok, message}
        elif gate.get("ok") is False:
            out.append(f"{gate.get('rule')}: {gate.get('message')}" if gate.get("rule") else str(gate.get("message")))
    if out:
        return out
    reason = event.get("reason") or event.get("message")
    return [str(reason)] if reason else ["no reason recorded"]


def _short(value, limit=160):
    """A declared or live value of a drift finding as the page shows it: text, at most ``limit`` characters."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def audit_section(audit):
    """The trail's verdict as the report shows it."""
    if audit is None:
        return {"checked": False, "ok": None, "length": 0, "problems": []}
    verification = audit.get("verification") or {}
    problems = [dict(p) for p in verification.get("problems") or []]
    return {
        "checked": True,
        "ok": bool(verification.get("ok")) and not problems,
        "length": len([r for r in audit.get("records") or [] if isinstance(r, dict)]),
        "problems": problems,
    }


def _events(audit):
    out = []
    for record in (audit or {}).get("records") or []:
        if not isinstance(record, dict) or not isinstance(record.get("event"), dict):
            continue
        when = parse_time(record.get("time"))
        if when is None:
            continue
        out.append((when, record.get("seq"), record["event"]))
    out.sort(key=lambda item: (item[0], item[1] if isinstance(item[1], int) else 0))
    return out


def _backups_of(backups, env):
    rows = []
    for summary in backups or []:
        if summary.get("environment") != env:
            continue
        when = parse_time(summary.get("started_at"))
        if when is not None:
            rows.append((when, summary))
    rows.sort(key=lambda item: item[0])
    return rows


def backup_section(backups, env, now, max_age):
    """Freshness of the environment's newest backup, and the age of the newest backup over time (a sawtooth)."""
    rows = _backups_of(backups, env)
    if not rows:
        return {
            "count": 0,
            "latest_at": None,
            "age_seconds": None,
            "target_seconds": max_age,
            "fresh": False,
            "databases": [],
            "age_series": [],
        }
    latest_at = rows[-1][0]
    age = max(0.0, (now - latest_at).total_seconds())
    # age of the newest backup: 0 at each backup, rising until the next one, and until now after the last
    series = []
    for (when, _s), nxt in zip(rows, [*(r[0] for r in rows[1:]), now], strict=True):
        series.append({"at": iso(when), "age_seconds": 0.0})
        series.append({"at": iso(nxt), "age_seconds": max(0.0, (nxt - when).total_seconds())})
    databases = sorted({s.get("db_name") for _w, s in rows if s.get("db_name")})
    per_db = []
    for db in databases:
        newest = [w for w, s in rows if s.get("db_name") == db][-1]
        db_age = (now - newest).total_seconds()
        per_db.append(
            {"db_name": db, "latest_at": iso(newest), "age_seconds": round(db_age, 1), "fresh": db_age <= max_age}
        )
    return {
        "count": len(rows),
        "latest_at": iso(latest_at),
        "age_seconds": round(age, 1),
        "target_seconds": max_age,
        # an environment is fresh when every database in it is
        "fresh": all(d["fresh"] for d in per_db) if per_db else age <= max_age,
        "databases": per_db,
        "age_series": series,
    }


def drill_section(drills, env):
    rows = []
    for report in drills or []:
        if not isinstance(report, dict) or report.get("environment") != env:
            continue
        when = parse_time(report.get("started_at"))
        if when is not None:
            rows.append((when, report))
    rows.sort(key=lambda item: item[0])
    history = [
        {
            "at": iso(when),
            "drill_id": r.get("drill_id"),
            "result": r.get("result"),
            "rto_seconds": (r.get("rto") or {}).get("seconds"),
            "rto_target_seconds": (r.get("rto") or {}).get("target_seconds"),
        }
        for when, r in rows
    ]
    if not rows:
        return {"latest": None, "history": []}
    when, last = rows[-1]
    rto, rpo = last.get("rto") or {}, last.get("rpo") or {}
    latest = {
        "at": iso(when),
        "drill_id": last.get("drill_id"),
        "result": last.get("result"),
        "failures": list(last.get("failures") or []),
        "rto_seconds": rto.get("seconds"),
        "rto_target_seconds": rto.get("target_seconds"),
        "rto_met": rto.get("met"),
        "rpo_seconds": rpo.get("seconds"),
        "rpo_target_seconds": rpo.get("target_seconds"),
        "rpo_met": rpo.get("met"),
    }
    return {"latest": latest, "history": history}


def _drift_changes(entry):
    for key in ("drift", "changes", "fields", "differences"):
        if isinstance(entry.get(key), list):
            return entry[key]
    return []


def _drift_reports(drift):
    """The drift reports given (one dict, or a list of them), oldest first, each with its instances as a list."""
    reports = drift if isinstance(drift, list) else [drift] if isinstance(drift, dict) else []
    out = []
    for report in reports:
        if not isinstance(report, dict):
            continue
        instances = report.get("instances") or []
        if isinstance(instances, dict):
            instances = [dict(v, instance=v.get("instance", k)) for k, v in instances.items() if isinstance(v, dict)]
        out.append((parse_time(report.get("generated_at")), report.get("generated_at"), instances))
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    out.sort(key=lambda item: item[0] or epoch)
    return out


def drift_section(drift, env):
    """The environment's drift: per instance the newest report that names it; None when no report names one."""
    newest = {}
    for _when, at, instances in _drift_reports(drift):
        for entry in instances:
            if isinstance(entry, dict) and entry.get("environment") == env:
                newest[str(entry.get("instance"))] = (at, entry)
    if not newest:
        return None
    rows, instances, errors = [], [], []
    for name in sorted(newest):
        at, entry = newest[name]
        changes = _drift_changes(entry)
        for change in changes:
            if isinstance(change, dict):
                rows.append(
                    {
                        "instance": entry.get("instance"),
                        "layer": change.get("layer"),
                        "object": change.get("object") or change.get("kind"),
                        "field": change.get("field") or change.get("path") or change.get("name"),
                        "declared": _short(change.get("declared")),
                        "live": _short(change.get("live")),
                    }
                )
            else:
                rows.append(
                    {
                        "instance": entry.get("instance"),
                        "layer": None,
                        "object": None,
                        "field": str(change),
                        "declared": None,
                        "live": None,
                    }
                )
        problems = [
            str(e.get("error") or e.get("message") or e) if isinstance(e, dict) else str(e)
            for e in entry.get("errors") or []
        ]
        errors.extend(f"{name}: {p}" for p in problems)
        instances.append(
            {
                "instance": entry.get("instance"),
                "checked_at": at,
                "findings": len(changes),
                "errors": problems,
                "verdict": "error" if problems else "drift" if changes else "clean",
            }
        )
    times = [parse_time(i["checked_at"]) for i in instances if parse_time(i["checked_at"])]
    return {
        "verdict": "error" if errors else "drift" if rows else "clean",
        "drifted": bool(rows),
        # the oldest check of the environment's instances: every instance was compared at or after it
        "checked_at": iso(min(times)) if times else None,
        "instances": instances,
        "changes": rows,
        "errors": errors,
    }


# -- GitOps: what promote_verify.yml recorded of each commit ------------------------------------------------------


def _checks_by_commit(events):
    """{hash of a committed record: [(time, seq, event)]} of the verifications and verification rollbacks naming it."""
    out = {}
    for w, s, e in events:
        of = e.get("of")
        if e.get("kind") in ("verification", "rollback") and isinstance(of, dict) and of.get("hash"):
            out.setdefault(str(of["hash"]), []).append((w, s, e))
    return out


def verification_of(event, record_hash, checks):
    """The verification of a GitOps commit (``event``, its record's hash): None for the direct mode."""
    if event.get("delivery") != "gitops":
        return None
    found = checks.get(str(record_hash), []) if record_hash else []
    rollbacks = [c for c in found if c[2].get("kind") == "rollback"]
    verifications = [c for c in found if c[2].get("kind") == "verification"]
    if rollbacks:
        w, s, e = rollbacks[-1]
        return {
            "status": "rolled back",
            "at": iso(w),
            "seq": s,
            "reason": e.get("failure"),
            "restored": e.get("restored"),
        }
    if verifications:
        w, s, e = verifications[-1]
        ok = e.get("ok") is True
        return {
            "status": "verified" if ok else "failed",
            "at": iso(w),
            "seq": s,
            "reason": None if ok else e.get("failure"),
            "applied": e.get("applied"),
        }
    return {"status": "pending", "at": None, "seq": None, "reason": None}


def _releases_by_digest(events):
    """{image digest: release id} of every record that names a release: a rollback that names only the image it went
    back to is shown as that release."""
    out = {}
    for _w, _s, e in events:
        for value in (e.get("release"), e.get("to")):
            digest, rid = _digest(value), _name(value, "id", "name", "version")
            if digest and rid:
                out[digest] = rid
    return out


def _release_of(value, by_digest):
    """A release as a record names it: its id, else the release of the digest it names (rollback.yml's record names
    the release rolled back by its image alone), else the image."""
    return _name(value, "id", "name", "version") or by_digest.get(_digest(value) or "") or _name(value, "image")


def _back_to(event, by_digest):
    """The release a rollback went back to: its id, else the release of the digest it names, else the image."""
    to = event.get("to")
    return _name(to, "id", "name", "version") or by_digest.get(_digest(to) or "") or _name(to, "image")


def environments_of(audit, backups, drills, drift, given=None):
    """The environments shown: ``given`` in its order, or every one the evidence names (production last)."""
    if given:
        return list(given)
    found = {e.get("environment") for _w, _s, e in _events(audit)}
    found |= {b.get("environment") for b in backups or []}
    found |= {d.get("environment") for d in drills or [] if isinstance(d, dict)}
    for _when, _at, instances in _drift_reports(drift):
        found |= {i.get("environment") for i in instances if isinstance(i, dict)}
    order = ("dev", "qa", "staging", "uat", "training", "prod")
    names = [str(e) for e in found if e]
    return sorted(names, key=lambda e: (order.index(e) if e in order else len(order), e))


def build(
    now=None,
    audit=None,
    backups=None,
    drills=None,
    drift=None,
    environments=None,
    backup_max_age=None,
    recent=10,
    title="Odoo platform governance report",
):
    """The report (a dict that is also its JSON)."""
    now = parse_time(now) or _dt.datetime.now(_dt.timezone.utc)
    backup_max_age = backup_max_age or {}
    events = _events(audit)
    trail = audit_section(audit)
    envs = environments_of(audit, backups, drills, drift, environments)
    out_envs, attention = [], []
    if trail["checked"] and not trail["ok"]:
        shown = "; ".join(
            f"record {p.get('seq')}: {p.get('kind')}: {p.get('reason')}"
            if p.get("seq") is not None
            else f"{p.get('kind')}: {p.get('reason')}"
            for p in trail["problems"][:5]
        )
        attention.append(
            {
                "severity": "critical",
                "environment": None,
                "text": f"The audit trail fails verification: {shown or 'not verified'}",
            }
        )
    elif not trail["checked"]:
        attention.append({"severity": "warning", "environment": None, "text": "No audit trail was read"})
    # the records a verification problem names: their rows on the page say so where they are read
    failing = {}
    for problem in trail["problems"]:
        if isinstance(problem.get("seq"), int):
            failing.setdefault(problem["seq"], []).append(str(problem.get("kind")))
    months = {}
    hashes = {r.get("seq"): r.get("hash") for r in (audit or {}).get("records") or [] if isinstance(r, dict)}
    checks = _checks_by_commit(events)
    by_digest = _releases_by_digest(events)
    for env in envs:
        deploys = [(w, s, e) for w, s, e in events if e.get("environment") == env and e.get("kind") in DEPLOY_KINDS]
        refusals = [(w, s, e) for w, s, e in events if e.get("environment") == env and e.get("kind") == "refusal"]
        running = None
        if deploys:
            w, s, e = deploys[-1]
            # a rollback's release is the one rolled back; the instance runs the one it went back ``to``
            runs = e.get("to") if e.get("kind") == "rollback" else e.get("release")
            running = {
                "release": _back_to(e, by_digest)
                if e.get("kind") == "rollback"
                else _release_of(e.get("release"), by_digest),
                "digest": _digest(runs),
                # a GitOps promotion is ``committed``: approved and in the repository, the controller rolls it out
                "outcome": e.get("outcome"),
                "since": iso(w),
                "kind": e.get("kind"),
                "seq": s,
                "instance": e.get("instance"),
                "fails_verification": failing.get(s, []),
                # GitOps: what promote_verify.yml recorded of this commit after the controller's sync
                "verification": verification_of(e, hashes.get(s), checks),
            }
        promotions = [
            {
                "at": iso(w),
                "seq": s,
                "kind": e.get("kind"),
                "outcome": e.get("outcome"),
                "release": _release_of(e.get("release"), by_digest),
                "digest": _digest(e.get("release")),
                # a rollback: the release it went back to (and its digest), what the instance runs after it
                "to": _back_to(e, by_digest) if e.get("kind") == "rollback" else None,
                "to_digest": _digest(e.get("to")) if e.get("kind") == "rollback" else None,
                "instance": e.get("instance"),
                "approvers": _approvers(e),
                "window": _window(e),
                "deployer": _name(e.get("deployer"), "name", "id"),
                "fails_verification": failing.get(s, []),
                "verification": verification_of(e, hashes.get(s), checks),
            }
            for w, s, e in reversed(deploys[-recent:])
        ]
        refused = [
            {
                "at": iso(w),
                "seq": s,
                "release": _release(e),
                "digest": _digest(e.get("release")),
                "instance": e.get("instance"),
                "reasons": _reasons(e),
                "fails_verification": failing.get(s, []),
            }
            for w, s, e in reversed(refusals[-recent:])
        ]
        for w, _s, e in deploys:
            if e.get("kind") == "promotion":
                month = w.strftime("%Y-%m")
                months.setdefault(month, {}).setdefault(env, 0)
                months[month][env] += 1
        backup = backup_section(backups, env, now, int(backup_max_age.get(env) or DEFAULT_BACKUP_MAX_AGE))
        drill = drill_section(drills, env)
        drifted = drift_section(drift, env)
        if not backup["fresh"]:
            text = (
                f"{env}: no backup found"
                if not backup["count"]
                else f"{env}: newest backup is {human_seconds(backup['age_seconds'])} old "
                f"(target {human_seconds(backup['target_seconds'])})"
            )
            attention.append({"severity": "high", "environment": env, "text": text})
        latest = drill["latest"]
        if latest and (latest["result"] != "pass" or latest["rto_met"] is False or latest["rpo_met"] is False):
            attention.append(
                {
                    "severity": "high",
                    "environment": env,
                    "text": f"{env}: last DR drill {latest['result']}: "
                    + ("; ".join(latest["failures"]) or "targets missed"),
                }
            )
        if drifted and drifted["errors"]:
            attention.append(
                {
                    "severity": "high",
                    "environment": env,
                    "text": f"{env}: drift could not be checked: " + "; ".join(drifted["errors"][:3]),
                }
            )
        if drifted and drifted["drifted"]:
            attention.append(
                {
                    "severity": "medium",
                    "environment": env,
                    "text": f"{env}: {len(drifted['changes'])} field(s) drifted from the declared state",
                }
            )
        check = (running or {}).get("verification")
        if check and check["status"] == "pending":
            attention.append(
                {
                    "severity": "warning",
                    "environment": env,
                    "text": f"{env}: {running['kind']} of {running['release']} committed "
                    f"{parse_time(running['since']).strftime('%Y-%m-%d %H:%M UTC')}, "
                    "not yet verified after the GitOps controller's sync (promote_verify.yml)",
                }
            )
        elif check and check["status"] == "failed":
            attention.append(
                {
                    "severity": "high",
                    "environment": env,
                    "text": f"{env}: the committed {running['kind']} of {running['release']} failed its verification"
                    + (f": {check['reason']}" if check.get("reason") else ""),
                }
            )
        out_envs.append(
            {
                "name": env,
                "running": running,
                "promotions": promotions,
                "refusals": refused,
                "backup": backup,
                "drill": drill,
                "drift": drifted,
            }
        )
    return {
        "report_version": REPORT_VERSION,
        "title": title,
        "generated_at": iso(now),
        "audit": trail,
        "attention": attention,
        "environments": out_envs,
        "promotions_per_month": [
            {"month": m, "by_environment": months[m], "total": sum(months[m].values())} for m in sorted(months)
        ],
    }
