# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of releases and their promotion gates (scope ``release``).

They read named inputs: ``release`` (the record as parsed), ``known_releases`` and ``release_source`` (the
ids already known, and the file the record came from), ``policy`` (the target environment's promotion
policy, release/policy.py), ``calendars`` (the freeze calendars' .ics texts by name), ``now`` (the instant
of the promotion, an aware datetime or ISO text), ``approvals``, ``override_approvals`` and
``promotion_request`` (signed statements, release/approvals.py). Evidence is gathered elsewhere and handed
in; nothing here reads a file or a server.
"""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.release import record as rec
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import is_digest
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_MODULE_RE = re.compile(r"^[a-z0-9_]+$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def _record(i):
    value = i.get("release")
    return value if isinstance(value, dict) else {}


@rule(
    "release.record_schema",
    layer="release",
    scope="release",
    reads=("release",),
    refuses="a release record that is not a mapping of the known keys with the right types (docs/release-format.md)",
    example="release record: config_revision is required",
)
def record_schema(i):
    record = i.get("release")
    if not isinstance(record, dict):
        yield "release record: must be a mapping"
        return
    for key in rec.REQUIRED_KEYS:
        if key not in record:
            yield f"release record: {key} is required"
    for key in sorted(set(record) - set(rec.TOP_KEYS)):
        yield f"release record: unknown key {key} (known: {', '.join(rec.TOP_KEYS)})"
    if "format" in record and record["format"] != rec.FORMAT:
        yield f"release record: format {record['format']!r} is not a known format ({rec.FORMAT})"
    rid = record.get("id")
    if "id" in record and not (isinstance(rid, str) and _ID_RE.match(rid)):
        yield f"release record: id={rid!r} must be 1-63 letters, digits, '.', '_' or '-'"
    rev = record.get("config_revision")
    if "config_revision" in record and not (isinstance(rev, str) and rev.strip()):
        yield "release record: config_revision must be a non-empty string (the configuration's git revision)"
    if "addons" in record and not isinstance(record.get("addons"), list):
        yield "release record: addons must be a list"
    if "migration" in record and not isinstance(record.get("migration"), dict):
        yield "release record: migration must be a mapping with install and update"
    if "evidence" in record and not isinstance(record.get("evidence"), dict):
        yield "release record: evidence must be a mapping with scan_report and signatures"


@rule(
    "release.record_image_digest",
    layer="release",
    scope="release",
    reads=("release",),
    refuses="a release whose Odoo image is named by tag instead of by digest",
    example="release r1: image=odoo:17 must be pinned by digest (name@sha256:<64 hex>), never by tag",
)
def record_image_digest(i):
    record = _record(i)
    image = record.get("image")
    if not is_digest(image):
        yield (f"release {record.get('id')}: image={image} must be pinned by digest (name@sha256:<64 hex>),"
               " never by tag")


@rule(
    "release.record_addons",
    layer="release",
    scope="release",
    reads=("release",),
    refuses="addons without a name or version, named twice, or with unknown keys",
    example="release r1: addons[1] repeats addon construction_site",
)
def record_addons(i):
    record = _record(i)
    addons = record.get("addons")
    if not isinstance(addons, list):
        return
    seen = set()
    for n, addon in enumerate(addons):
        where = f"release {record.get('id')}: addons[{n}]"
        if not isinstance(addon, dict):
            yield f"{where} must be a mapping with name and version"
            continue
        name, version = addon.get("name"), addon.get("version")
        if not (isinstance(name, str) and _MODULE_RE.match(name)):
            yield f"{where}: name={name!r} must be an Odoo module name (lower case, digits, _)"
        if not (isinstance(version, str) and version.strip()):
            yield f"{where} ({name}): version must be a non-empty string (quote it in YAML)"
        for key in sorted(set(addon) - {"name", "version", "source"}):
            yield f"{where}: unknown key {key} (known: name, version, source)"
        if name in seen:
            yield f"{where} repeats addon {name}"
        seen.add(name)


@rule(
    "release.record_migration",
    layer="release",
    scope="release",
    reads=("release",),
    refuses="a migration whose install/update lists are not module names, or that installs and updates one module",
    example="release r1: migration lists sale in both install and update",
)
def record_migration(i):
    record = _record(i)
    migration = record.get("migration")
    if not isinstance(migration, dict):
        return
    for key in sorted(set(migration) - set(rec.MIGRATION_KEYS)):
        yield f"release {record.get('id')}: migration has unknown key {key} (known: install, update)"
    lists = {}
    for key in rec.MIGRATION_KEYS:
        value = migration.get(key, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(m, str) and _MODULE_RE.match(m) for m in value):
            yield f"release {record.get('id')}: migration.{key} must be a list of Odoo module names"
            value = []
        lists[key] = set(value)
    for module in sorted(lists.get("install", set()) & lists.get("update", set())):
        yield f"release {record.get('id')}: migration lists {module} in both install and update"


@rule(
    "release.record_evidence",
    layer="release",
    scope="release",
    reads=("release",),
    refuses="evidence without a scan report reference and digest, or signatures that are not references",
    example="release r1: evidence.scan_report.sha256 must be sha256:<64 hex>",
)
def record_evidence(i):
    record = _record(i)
    evidence = record.get("evidence")
    if not isinstance(evidence, dict):
        return
    rid = record.get("id")
    for key in sorted(set(evidence) - set(rec.EVIDENCE_KEYS)):
        yield f"release {rid}: evidence has unknown key {key} (known: {', '.join(rec.EVIDENCE_KEYS)})"
    scan = evidence.get("scan_report")
    if not isinstance(scan, dict) or not scan.get("uri"):
        yield f"release {rid}: evidence.scan_report needs uri (where the Trivy JSON report is)"
    elif not (isinstance(scan.get("sha256"), str) and _SHA256_RE.match(scan["sha256"])):
        yield f"release {rid}: evidence.scan_report.sha256 must be sha256:<64 hex>"
    sigs = evidence.get("signatures", [])
    if not isinstance(sigs, list):
        yield f"release {rid}: evidence.signatures must be a list"
        return
    for n, sig in enumerate(sigs):
        if not isinstance(sig, dict) or sig.get("type") not in ("cosign",) or not sig.get("uri"):
            yield f"release {rid}: evidence.signatures[{n}] needs type cosign and uri"


@rule(
    "release.record_identity",
    layer="release",
    scope="release",
    reads=("release", "known_releases", "release_source"),
    refuses="a release id already used by another record file, or a changed record under a known id",
    example="release r1 changed: content sha256:ab12... differs from sha256:cd34... known from audit record 12",
)
def record_identity(i):
    record = _record(i)
    rid = record.get("id")
    if not rid:
        return
    mine = rec.content_hash(record)
    source = i.get("release_source")
    for known in i.get("known_releases") or ():
        if known.get("id") != rid:
            continue
        where = known.get("source") or "a known release"
        if str(where).startswith("audit record"):
            if known.get("hash") != mine:
                yield (f"release {rid} changed: content {mine[:19]}... differs from {str(known.get('hash'))[:19]}..."
                       f" known from {where}")
        elif where != source:
            yield f"release {rid}: duplicate id, also used by {where}"


# -- the target environment's policy ---------------------------------------------------------------------


@rule(
    "release.policy",
    layer="release",
    scope="release",
    reads=("policy",),
    refuses="a promotion into an environment that never promotes (training), or a policy with invalid values",
    example="environment training is reset from production and never promotes",
)
def policy_valid(i):
    from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol

    policy = i.get("policy")
    if not isinstance(policy, dict):
        yield "policy: the target environment's promotion policy is missing"
        return
    env = policy.get("environment")
    if not policy.get("promotes", True):
        yield f"environment {env} is reset from production and never promotes"
        return
    source = policy.get("promote_from")
    if source is not None and source not in pol.STAGES:
        yield f"release_promote_from={source} in {env} is not a stage ({', '.join(pol.STAGES)})"
    if source is not None and env in pol.STAGES and source in pol.STAGES \
            and pol.STAGES.index(source) >= pol.STAGES.index(env):
        yield f"release_promote_from={source} in {env}: a stage promotes from an earlier stage only"
    if policy.get("change_record_provider") not in pol.CHANGE_PROVIDERS:
        yield (f"release_change_record_provider={policy.get('change_record_provider')} in {env} is not one of"
               f" {', '.join(pol.CHANGE_PROVIDERS)}")
    for severity, limit in sorted((policy.get("scan_thresholds") or {}).items()):
        if severity not in pol.SEVERITIES:
            yield f"release_scan_thresholds.{severity} in {env} is not a severity ({', '.join(pol.SEVERITIES)})"
        elif limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            yield f"release_scan_thresholds.{severity}={limit} in {env} must be a count >= 0 or null (no limit)"
    for var in ("approvals", "override"):
        spec = policy.get(var) or {}
        required = spec.get("required", 0)
        minima = spec.get("groups") or {}
        if isinstance(required, bool) or not isinstance(required, int) or required < 0:
            yield f"release_{var}.required={required} in {env} must be a count >= 0"
        elif all(isinstance(n, int) for n in minima.values()) and sum(minima.values()) > required:
            yield (f"release_{var}.required={required} in {env} is less than its groups' minima"
                   f" ({sum(minima.values())})")
    if policy.get("audit_lock_mode") not in ("GOVERNANCE", "COMPLIANCE"):
        yield f"release_audit_lock_mode={policy.get('audit_lock_mode')} in {env} must be GOVERNANCE or COMPLIANCE"
    days = policy.get("audit_retention_days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        yield f"release_audit_retention_days={days} in {env} must be a number of days >= 1"
    if env == "prod" and policy.get("audit_lock_mode") != "COMPLIANCE":
        yield "release_audit_lock_mode in prod must be COMPLIANCE (GOVERNANCE retention can be bypassed)"


# -- windows and freezes ---------------------------------------------------------------------------------


def _deployer_name(i, release, policy, now):
    from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr

    name, _problems = appr.deployer(i.get("promotion_request"), release, policy, now)
    return name


@rule(
    "release.window",
    layer="release",
    scope="release",
    reads=("policy", "calendars", "now", "release", "override_approvals", "promotion_request"),
    refuses="a promotion inside a deny window or a freeze, or outside every allow window, without a valid override",
    example=("promotion at 2026-12-15 00:30 CET refused: freeze finance: Month-end close (2026-11-29 to"
             " 2026-12-02); an override needs 2 override approvals (0 valid)"),
)
def window_open(i):
    from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
    from ansible_collections.governed.odoo.plugins.module_utils.release import windows as win
    from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError

    policy = i.get("policy") or {}
    try:
        now = win.parse_instant(i.get("now"))
        decision = win.schedule(policy, i.get("calendars") or {}).decide(now)
    except ReleaseError as exc:
        yield f"windows of {policy.get('environment')}: {exc.msg}"
        return
    if decision["allowed"]:
        return
    reason = f"promotion at {decision['at']} refused: {'; '.join(decision['blocked_by'])}"
    overrides = i.get("override_approvals") or []
    if not overrides:
        yield reason
        return
    release = _record(i)
    try:
        result = appr.tally(overrides, release, policy, now, _deployer_name(i, release, policy, now),
                            purpose="override")
    except ReleaseError as exc:
        yield f"{reason}; the override cannot be checked: {exc.msg}"
        return
    problems = result["refusals"] + result["missing"]
    if problems:
        yield f"{reason}; the override is not valid: " + "; ".join(problems + result["ignored"])


# -- approvals -------------------------------------------------------------------------------------------


@rule(
    "release.approvals",
    layer="release",
    scope="release",
    reads=("release", "policy", "approvals", "promotion_request", "now"),
    refuses=("approvals that are too few, forged, for another release or digest, expired, from the deployer,"
             " or a promotion request the deployer's key did not sign"),
    example="release r1 to prod: approval 2 (bob): bob deploys this release and cannot approve it",
)
def approvals_given(i):
    from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
    from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError
    from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

    release = _record(i)
    policy = i.get("policy") or {}
    where = f"release {release.get('id')} to {policy.get('environment')}"
    try:
        now = parse_instant(i.get("now"))
        name, problems = appr.deployer(i.get("promotion_request"), release, policy, now)
        for problem in problems:
            yield f"{where}: {problem}"
        result = appr.tally(i.get("approvals") or [], release, policy, now, name)
    except ReleaseError as exc:
        yield f"{where}: {exc.msg}"
        return
    for refusal in result["refusals"]:
        yield f"{where}: {refusal.replace('promotion approval', 'approval')}"
    if result["missing"]:
        counted = ", ".join(result["counted"]) or "none"
        ignored = ("; not counted: " + "; ".join(result["ignored"])) if result["ignored"] else ""
        yield f"{where}: not enough approvals ({'; '.join(result['missing'])}; counted: {counted}){ignored}"
