# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task logic of governed.odoo.release_gate: gather the evidence, evaluate every release rule.

The action plugin hands in the task's validated arguments and the target's variables (``governed_odoo_environment``
and the ``release_*`` policy variables, templated). Here the evidence is gathered, read-only: the release record
and the record files beside it, the signed statements, the freeze calendars, the audit trail (read and verified
as audit_verify does, every hash and link, signatures through its signed head) and, for the rules that need
them, the registry, cosign and the change-management provider (release/evidence.py). Then every rule of layer
``release`` is evaluated over those inputs (rules/release.py), so that every failure is reported, not the first.

Nothing is written anywhere: the result is the same in check mode.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils import observability
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit import task as audit_task
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError
from ansible_collections.governed.odoo.plugins.module_utils.release import evidence
from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol
from ansible_collections.governed.odoo.plugins.module_utils.release import record as rec
from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import is_digest

ENVIRONMENT_VAR = "governed_odoo_environment"
RECORD_SUFFIXES = (".yml", ".yaml")


def argument_spec():
    return dict(
        release=dict(type="raw", required=True),
        target=dict(type="str", required=True),
        now=dict(type="str"),
        approvals=dict(type="list", elements="raw", default=[]),
        override_approvals=dict(type="list", elements="raw", default=[]),
        promotion_request=dict(type="raw"),
        calendars_dir=dict(type="path"),
        audit=dict(type="dict", options=audit_task.verify_argument_spec()),
        cosign_path=dict(type="path"),
        fail_on_refusal=dict(type="bool", default=True),
    )


def policy_variables(variables):
    """The target's policy variables (only the names policy.py knows; the rest of its variables are not policy)."""
    return {name: variables[name] for name in pol.VARIABLES if name in (variables or {})}


def _path(value, basedir):
    path = Path(value).expanduser()
    return path if path.is_absolute() or basedir is None else Path(basedir) / path


def load_statement(value, basedir=None, what="statement"):
    """A signed statement given as a mapping, or the path of its JSON file."""
    if value is None or isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ReleaseError(f"{what} must be a signed statement (a mapping) or the path of its JSON file")
    path = _path(value, basedir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReleaseError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError:
        raise ReleaseError(f"{what} {path} is not JSON") from None


def load_release(value, basedir=None):
    """(record, source path or None, known releases of the record files beside it)."""
    if isinstance(value, dict):
        return rec.parse(json.dumps(value), source="<release mapping>"), None, []
    if not isinstance(value, str):
        raise ReleaseError("release must be the path of a release record file or a mapping")
    path = _path(value, basedir)
    record = rec.load(path)
    siblings = sorted(p for p in path.parent.iterdir() if p.suffix in RECORD_SUFFIXES and p.is_file())
    return record, str(path), rec.known_from_files(siblings, exclude=path)


def load_calendars(policy, calendars_dir):
    """The .ics texts of the policy's freeze calendars (``<calendars_dir>/<name>.ics``); a missing one is left
    out, and the window rule names it."""
    out = {}
    for name in policy.get("freeze_calendars") or ():
        if not calendars_dir:
            continue
        try:
            out[name] = (Path(calendars_dir) / f"{name}.ics").read_text(encoding="utf-8")
        except OSError:
            continue
    return out


def read_audit(params):
    """{"records": [...], "problems": [reasons]}: the trail as stored, verified (hashes, links, key ids, and
    the signatures through each copy's signed head); a tampered trail is evidence of nothing."""
    trail = audit_task.open_trail(params)
    keys = chain.keyring(params["public_keys"])
    problems, records = [], []
    copies = []
    if trail.local is not None:
        local_records, head = trail.local.read()
        copies.append(("local", local_records, head, []))
    if trail.remote is not None:
        remote_records, head, listing = trail.remote.read()
        copies.append(("stored", remote_records, head, listing))
    for name, found, head, listing in copies:
        verdict = chain.verify(found, keys, head=head, signatures="head")
        if head is None and found:
            problems.append(f"{name} copy: the head is missing beside the chain")
        for problem in [*listing, *verdict.problems]:
            where = f" record {problem.seq}" if problem.seq is not None else ""
            problems.append(f"{name} copy{where}: {problem.kind}: {problem.reason}")
        if not records:
            records = [r for r in found if isinstance(r, dict)]
    if len(copies) == 2:
        local_hashes = [r.get("hash") for r in copies[0][1] if isinstance(r, dict)]
        stored_hashes = [r.get("hash") for r in copies[1][1] if isinstance(r, dict)]
        if len(local_hashes) < len(stored_hashes) and stored_hashes[:len(local_hashes)] == local_hashes:
            # the local copy is behind the stored chain, the authority (another controller appended since this one
            # last synced): the evidence is the stored chain, which the next append copies into the local one
            records = [r for r in copies[1][1] if isinstance(r, dict)]
        elif local_hashes != stored_hashes:
            problems.append("the local and the stored copy of the audit trail differ")
    return {"records": records, "problems": problems}


def gather_image(record, policy, source, basedir, cosign_path=None):
    """Evidence of the image: the registry's manifest, the cosign signature (when the policy has keys), the scan."""
    out = {"registry": None, "image_signature": None,
           "scan_report": evidence.scan_report(record, source, basedir)}
    image = record.get("image")
    if is_digest(image):
        out["registry"] = evidence.registry_manifest(image, policy.get("registry_url"))
        if out["scan_report"].get("attestation"):
            out["scan_report"] = evidence.cosign_vuln_report(image, policy.get("signing_keys"),
                                                             policy.get("registry_url"), cosign=cosign_path)
        if policy.get("signing_keys"):
            out["image_signature"] = evidence.cosign_verify(image, policy["signing_keys"], policy.get("registry_url"),
                                                            cosign=cosign_path)
    return out


def gather_change(record, policy, environ=None):
    """Evidence of the change record, and who launched the job when the run is inside AWX."""
    awx = evidence.awx_environment(environ)
    job = evidence.awx_job(awx)
    return {"awx_job": job, "change_record": evidence.change_record(policy, record, awx, job)}


def gather(params, variables, basedir=None, now=None, environ=None):
    """The named inputs of the release rules, from the task's arguments and the target's variables."""
    environment = (variables or {}).get(ENVIRONMENT_VAR)
    if not environment:
        raise ReleaseError(f"target {params['target']} has no {ENVIRONMENT_VAR}: the gate cannot know its policy")
    policy = pol.effective(environment, policy_variables(variables))
    record, source, known = load_release(params["release"], basedir)
    instant = parse_instant(params["now"]) if params.get("now") else (now or _dt.datetime.now(_dt.timezone.utc))
    audit = read_audit(params["audit"]) if params.get("audit") else None
    if audit is not None:
        known = known + rec.known_from_audit(audit["records"])
    calendars_dir = params.get("calendars_dir")
    image = gather_image(record, policy, source, basedir, params.get("cosign_path"))
    change = gather_change(record, policy, environ)
    return {
        **image,
        **change,
        "release": record,
        "release_source": source,
        "known_releases": known,
        "policy": policy,
        "calendars": load_calendars(policy, str(_path(calendars_dir, basedir)) if calendars_dir else None),
        "now": instant,
        "approvals": [load_statement(s, basedir, "approval") for s in params.get("approvals") or ()],
        "override_approvals": [load_statement(s, basedir, "override approval")
                               for s in params.get("override_approvals") or ()],
        "promotion_request": load_statement(params.get("promotion_request"), basedir, "promotion request"),
        "audit": audit,
        "target": params["target"],
        # the tolerance the promotion's observation compares with (None when the policy observes nothing)
        "observation_tolerance": observability.observation_tolerance(environment, policy.get("observation")),
    }


def evaluate(inputs, rules=None):
    """[{"id", "passed", "reasons"}] of every rule of layer release (or ``rules``), in id order."""
    out = []
    for r in rules if rules is not None else engine.rules_for(layer="release"):
        reasons = [f.message for f in r.evaluate(inputs)]
        out.append({"id": r.id, "passed": not reasons, "reasons": reasons})
    return out


def accountability(inputs):
    """{"deployer", "approvers", "window", "override"} for the audit record of the promotion: who deploys (AWX's
    launched_by inside AWX, else the signer of the promotion request), whose approvals counted, the window it lands
    in (``{"name", "at"}``: what decided at that instant, in the environment's time zone, or what blocked it), and
    the ``override`` event to record when override approvals let the promotion through a window or freeze (None
    otherwise)."""
    from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
    from ansible_collections.governed.odoo.plugins.module_utils.release import windows

    record, policy, now = inputs["release"], inputs["policy"], inputs["now"]
    out = {"deployer": None, "approvers": [], "window": None, "override": None}
    try:
        decision = windows.schedule(policy, inputs.get("calendars") or {}).decide(now)
        out["window"] = {"name": "; ".join(decision["decided_by"]), "allowed": decision["allowed"],
                         "at": decision["at"]}
    except GovernedError:
        pass  # the window rule reports what is wrong with the policy
    try:
        job = inputs.get("awx_job")
        if isinstance(job, dict):
            name, _problems = appr.awx_deployer(job, policy)
        else:
            name, _problems = appr.deployer(inputs.get("promotion_request"), record, policy, now)
        out["deployer"] = name
        out["approvers"] = appr.tally(inputs.get("approvals") or [], record, policy, now, name)["counted"]
        if inputs.get("override_approvals"):
            decision = windows.schedule(policy, inputs.get("calendars") or {}).decide(now)
            result = appr.tally(inputs["override_approvals"], record, policy, now, name, purpose="override")
            out["override"] = appr.override_event(decision, result, record, policy.get("environment"), name)
    except GovernedError:
        pass  # the rules report what is wrong; nothing is accountable then
    return out


def secrets_of(variables):
    """Values that must never appear in a result: the change-management endpoint's token."""
    spec = (variables or {}).get("release_change_record")
    token = spec.get("token") if isinstance(spec, dict) else None
    return {token} if token else set()


def run(params, variables, basedir=None, check_mode=False, now=None, environ=None):
    """(result, values to mask): the gate's verdict on the release for the target."""
    del check_mode  # pure evaluation: the same in check mode
    hidden = secrets_of(variables)
    try:
        inputs = gather(params, variables, basedir, now, environ)
    except GovernedError as exc:
        return {"failed": True, "changed": False, "allowed": False, "rules": [], "msg": exc.msg,
                **exc.as_result()}, hidden
    results = evaluate(inputs)
    failing = [r for r in results if not r["passed"]]
    allowed = not failing
    record = inputs["release"]
    out = {"changed": False, "allowed": allowed, "rules": results,
           "release": {"id": record.get("id"), "image": record.get("image"), "hash": rec.content_hash(record)},
           "environment": inputs["policy"].get("environment"), "now": chain.format_time(inputs["now"]),
           # every gate result in the shape of an audit event's "gates" (docs/audit.md), refusals too
           "gates": [{"rule": r["id"], "ok": r["passed"], "message": "; ".join(r["reasons"])} for r in results],
           # what promote.yml observes after the rollout (enabled, prometheus_url, windows, tolerance)
           "observation": dict(observability.observation_settings(inputs["policy"].get("observation")),
                               tolerance=inputs.get("observation_tolerance")),
           **accountability(inputs)}
    if allowed:
        out["msg"] = (f"release {record.get('id')} may be promoted to {params['target']}"
                      f" ({out['environment']}): {len(results)} rules passed")
    else:
        out["msg"] = (f"release {record.get('id')} to {params['target']} ({out['environment']}) refused by "
                      f"{len(failing)} rule(s): "
                      + "; ".join(f"{r['id']}: {' | '.join(r['reasons'])}" for r in failing))
        out["failed"] = bool(params.get("fail_on_refusal", True))
    return out, hidden
