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
from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError
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


def _deployer(i, release, policy, now):
    """(name, problems, how): inside AWX the user who launched the job, else the signer of the promotion request."""
    from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr

    job = i.get("awx_job")
    if isinstance(job, dict):
        name, problems = appr.awx_deployer(job, policy)
        return name, problems, "AWX launched_by"
    name, problems = appr.deployer(i.get("promotion_request"), release, policy, now)
    return name, problems, "the signed promotion request"


def _deployer_name(i, release, policy, now):
    return _deployer(i, release, policy, now)[0]


@rule(
    "release.window",
    layer="release",
    scope="release",
    reads=("policy", "calendars", "now", "release", "override_approvals", "promotion_request", "awx_job"),
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
    reads=("release", "policy", "approvals", "promotion_request", "now", "awx_job"),
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
        name, problems, _how = _deployer(i, release, policy, now)
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


# -- evidence of the audit trail: path and rehearsal -----------------------------------------------------

VERIFIED_OUTCOMES = ("verified", "succeeded", "success")


def _digest(record):
    image = record.get("image") or ""
    return image.split("@", 1)[1] if "@" in image else None


def _short(digest):
    return f"{str(digest)[:19]}..."


def _event(record):
    event = record.get("event") if isinstance(record, dict) else None
    return event if isinstance(event, dict) else {}


def _event_digest(event):
    release = event.get("release")
    return release.get("digest") if isinstance(release, dict) else None


def is_verified_deployment(event):
    """Whether an audit event says a release was deployed and verified: a ``promotion`` with ``verified: true``
    (or ``outcome`` verified/succeeded), or a ``verification`` with ``ok: true``."""
    if event.get("kind") == "promotion":
        return event.get("verified") is True or event.get("outcome") in VERIFIED_OUTCOMES
    return event.get("kind") == "verification" and event.get("ok") is True


def verified_in(records, stage, digest):
    """The audit records that show ``digest`` deployed and verified in ``stage`` and not rolled back since."""
    found = []
    for record in records:
        event = _event(record)
        if event.get("environment") != stage or _event_digest(event) != digest:
            continue
        if is_verified_deployment(event):
            found.append(record)
        elif event.get("kind") == "rollback":
            found = []
    return found


def _audit_problem(i, what):
    audit = i.get("audit")
    if not isinstance(audit, dict):
        return f"{what}: no audit trail was read (the gate's audit option): the evidence is the audit trail"
    if audit.get("problems"):
        shown = "; ".join(audit["problems"][:3])
        return f"{what}: the audit trail does not verify, so it is evidence of nothing ({shown})"
    return None


@rule(
    "release.path",
    layer="release",
    scope="release",
    reads=("release", "policy", "audit"),
    refuses=("a release whose digest was not deployed and verified in every stage before the target (dev, qa, staging,"
             " uat, prod) according to the verified audit trail, or a policy that skips a stage"),
    example="release 2026.12.1 (sha256:6c1f0a9e2b7d...) was not deployed and verified in uat (audit trail: 0 records)",
)
def path_followed(i):
    from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol

    record = _record(i)
    policy = i.get("policy") or {}
    env, source = policy.get("environment"), policy.get("promote_from")
    if not policy.get("promotes", True) or source is None or source not in pol.STAGES:
        return  # training, dev (CI builds it), an invalid stage: release.policy's findings
    stages = pol.STAGES[:pol.STAGES.index(source) + 1]
    if env in pol.STAGES and pol.STAGES.index(env) > pol.STAGES.index(source):
        skipped = pol.STAGES[pol.STAGES.index(source) + 1:pol.STAGES.index(env)]
        if skipped:
            yield (f"release_promote_from={source} in {env} skips {', '.join(skipped)}: every stage of the path"
                   f" ({' -> '.join(pol.STAGES)}) comes before {env}")
    digest = _digest(record)
    problem = _audit_problem(i, f"release {record.get('id')} to {env}")
    if problem:
        yield problem
        return
    records = i.get("audit").get("records") or []
    for stage in stages:
        if not verified_in(records, stage, digest):
            yield (f"release {record.get('id')} ({_short(digest)}) was not deployed and verified in {stage}"
                   f" (audit trail: {len(records)} records)")


def _time(record):
    from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

    try:
        return parse_instant(record.get("time"))
    except ReleaseError:  # a record without a readable time proves nothing
        return None


def is_production_copy(event):
    """Whether an audit event records a restore of a neutralized production copy that succeeded."""
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    return (event.get("kind") == "restore" and source.get("environment") == "prod"
            and event.get("neutralized") is True and event.get("ok") is True)


@rule(
    "release.rehearsal",
    layer="release",
    scope="release",
    reads=("release", "policy", "audit", "now"),
    refuses=("a release that installs or updates modules without a successful rehearsal of its digest in staging on a"
             " neutralized production copy restored no longer ago than release_rehearsal_max_age_days"),
    example=("release 2026.12.1 migrates (install construction_site; update payroll_de): its rehearsal in staging ran"
             " on civil-staging's production copy restored 2026-11-20 08:00 UTC, 18 days ago (prod allows 7)"),
)
def rehearsed(i):
    import datetime as _dt

    from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

    record = _record(i)
    policy = i.get("policy") or {}
    migration = record.get("migration") if isinstance(record.get("migration"), dict) else {}
    install = [m for m in migration.get("install") or () if isinstance(m, str)]
    update = [m for m in migration.get("update") or () if isinstance(m, str)]
    max_age = policy.get("rehearsal_max_age_days")
    if not (install or update) or max_age is None or not policy.get("promotes", True):
        return
    env = policy.get("environment")
    what = (f"release {record.get('id')} migrates (install {', '.join(install) or 'nothing'};"
            f" update {', '.join(update) or 'nothing'})")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        yield f"release_rehearsal_max_age_days={max_age} in {env} must be a number of days >= 0"
        return
    problem = _audit_problem(i, what)
    if problem:
        yield problem
        return
    try:
        now = parse_instant(i.get("now"))
    except ReleaseError as exc:
        yield f"{what}: the instant of the promotion is not valid ({exc.msg})"
        return
    digest = _digest(record)
    # one pass in the trail's order: each rehearsal with the latest production copy restored into its instance before
    rehearsals, restored_at = [], {}
    for entry in i.get("audit").get("records") or []:
        event = _event(entry)
        if event.get("environment") != "staging":
            continue
        if is_production_copy(event):
            restored_at[event.get("instance")] = _time(entry)
        elif _event_digest(event) == digest:
            if is_verified_deployment(event):
                rehearsals.append((event.get("instance"), restored_at.get(event.get("instance"))))
            elif event.get("kind") == "rollback":
                rehearsals = []
    if not rehearsals:
        yield f"{what}: no successful rehearsal of {_short(digest)} in staging in the audit trail"
        return
    limit = _dt.timedelta(days=max_age)
    copies = [(instance, at) for instance, at in rehearsals if at is not None]
    if not copies:
        where = ", ".join(sorted({str(instance) for instance, _at in rehearsals}))
        yield (f"{what}: its rehearsal in staging ({where})"
               " did not run on a neutralized production copy (no restore of a prod backup, neutralized, before it)")
        return
    best = max(copies, key=lambda c: c[1])
    if now - best[1] <= limit:
        return
    age = (now - best[1]).days
    yield (f"{what}: its rehearsal in staging ran on {best[0]}'s production copy restored"
           f" {best[1].strftime('%Y-%m-%d %H:%M')} UTC, {age} days ago ({env} allows {max_age})")


# -- change record ---------------------------------------------------------------------------------------


def _names(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v.get("name") if isinstance(v, dict) else v) for v in value]
    return []


def _who_deploys(i, release, policy):
    """(name, how): the AWX user who launched the job when inside AWX, else the signer of the promotion request."""
    from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

    try:
        name, _problems, how = _deployer(i, release, policy, parse_instant(i.get("now")))
        return name, how
    except ReleaseError:  # release.approvals reports a bad request or instant
        return None, "AWX launched_by" if isinstance(i.get("awx_job"), dict) else "the signed promotion request"


@rule(
    "release.change_record",
    layer="release",
    scope="release",
    reads=("release", "policy", "change_record", "promotion_request", "now", "awx_job"),
    refuses=("a promotion without an approved change record for this release and environment from the policy's provider"
             " (a file committed in git, an HTTP change-management endpoint, AWX workflow approvals), or one approved"
             " by the person who deploys"),
    example="change record CHG-1042 (http://cm.example/changes) for release 2026.12.1 in prod is pending, not approved",
)
def change_record_approved(i):
    from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

    release = _record(i)
    policy = i.get("policy") or {}
    provider = policy.get("change_record_provider")
    if provider in (None, "none") or not policy.get("promotes", True):
        return
    env, rid = policy.get("environment"), release.get("id")
    found = i.get("change_record")
    if not isinstance(found, dict):
        yield f"release {rid} to {env}: the change record ({provider}) was not read"
        return
    if found.get("error"):
        yield f"release {rid} to {env}: change record ({provider}): {found['error']}"
        return
    deployer, how = _who_deploys(i, release, policy)
    if provider == "awx":
        approvals = found.get("approvals") or []
        if not approvals:
            yield f"release {rid} to {env}: {found.get('source')} has no workflow approval node"
        for approval in approvals:
            label = f"workflow approval {approval.get('name')!r} ({found.get('source')})"
            if approval.get("status") != "successful":
                yield f"release {rid} to {env}: {label} is {approval.get('status')}, not approved"
            elif deployer is not None and approval.get("by") == deployer:
                yield f"release {rid} to {env}: {label} was approved by {deployer}, who deploys ({how})"
        if deployer is None:
            yield f"release {rid} to {env}: AWX does not say which user launched the job"
        return
    change = found.get("record") or {}
    label = f"change record {change.get('id', '(no id)')} ({found.get('source')})"
    status = str(change.get("status", "")).lower()
    if status != "approved":
        yield f"{label} for release {rid} in {env} is {change.get('status') or 'without a status'}, not approved"
    if change.get("release") != rid:
        yield f"{label} is for release {change.get('release')!r}, not {rid!r}"
    if change.get("environment") != env:
        yield f"{label} is for environment {change.get('environment')!r}, not {env!r}"
    digest = _digest(release)
    if change.get("digest") is not None and change.get("digest") != digest:
        yield f"{label} is for digest {_short(change.get('digest'))}, not the release's {_short(digest)}"
    if change.get("valid_until"):
        try:
            if parse_instant(change["valid_until"]) <= parse_instant(i.get("now")):
                yield f"{label} expired at {change['valid_until']}"
        except ReleaseError:
            yield f"{label}: valid_until={change['valid_until']!r} is not an ISO instant with an offset"
    if deployer is None:
        yield f"{label}: who deploys is not established ({how} is missing or not valid)"
        return
    if deployer in _names(change.get("approved_by")):
        yield f"{label} is approved by {deployer}, who deploys this release ({how})"
    implementer = change.get("implementer")
    if implementer and implementer != deployer:
        yield f"{label} names implementer {implementer}, but {deployer} deploys ({how})"


# -- the image: registry, signature, scan ----------------------------------------------------------------


@rule(
    "release.image_present",
    layer="release",
    scope="release",
    reads=("release", "registry"),
    refuses="a release whose image digest the registry the cluster pulls from does not have",
    example="release 2026.12.1: 127.0.0.1:35000/odoo@sha256:6c1f0a9e2b7d... is not in the registry http://127.0.0.1:35000",
)
def image_present(i):
    release = _record(i)
    if not is_digest(release.get("image")):
        return  # release.record_image_digest
    found = i.get("registry")
    if not isinstance(found, dict):
        yield f"release {release.get('id')}: the registry was not asked for {release.get('image')}"
    elif found.get("error"):
        yield f"release {release.get('id')}: {found['reference']}: {found['error']}"
    elif not found.get("present"):
        yield f"release {release.get('id')}: {found.get('reference')} is not in the registry {found.get('endpoint')}"


@rule(
    "release.image_signature",
    layer="release",
    scope="release",
    reads=("release", "policy", "image_signature"),
    refuses=("a release whose image digest has no cosign signature that verifies with one of the environment's keys"
             " (release_signing_keys; prod must declare them)"),
    example=("release 2026.12.1: no cosign signature of 127.0.0.1:35000/odoo@sha256:6c1f0a9e2b7d... verifies with the"
             " keys of prod (key 1: no matching signatures)"),
)
def image_signed(i):
    release = _record(i)
    policy = i.get("policy") or {}
    env = policy.get("environment")
    if not is_digest(release.get("image")) or not policy.get("promotes", True):
        return
    keys = policy.get("signing_keys") or []
    if not keys:
        if env == "prod":
            yield "release_signing_keys is empty in prod: a production image must be signed, with keys to verify it"
        return
    found = i.get("image_signature")
    if not isinstance(found, dict):
        yield f"release {release.get('id')}: the image signature was not verified"
    elif found.get("error"):
        yield f"release {release.get('id')}: the image signature cannot be verified: {found['error']}"
    elif found.get("verified_with") is None:
        yield (f"release {release.get('id')}: no cosign signature of {found.get('reference')} verifies with the keys"
               f" of {env} ({'; '.join(found.get('errors') or ['no key verified it'])})")


def scan_counts(report):
    """{severity: [(id, package)]} of a Trivy JSON report's findings."""
    counts = {}
    for result in report.get("Results") or ():
        for vuln in (result or {}).get("Vulnerabilities") or ():
            severity = str((vuln or {}).get("Severity") or "UNKNOWN").lower()
            counts.setdefault(severity, []).append((vuln.get("VulnerabilityID"), vuln.get("PkgName")))
    return counts


def _report_digests(report):
    metadata = report.get("Metadata") if isinstance(report.get("Metadata"), dict) else {}
    names = [str(report.get("ArtifactName") or ""), *[str(d) for d in metadata.get("RepoDigests") or ()]]
    return {n.split("@", 1)[1] for n in names if "@" in n}


@rule(
    "release.image_scan",
    layer="release",
    scope="release",
    reads=("release", "policy", "scan_report"),
    refuses=("a release whose Trivy report is missing, not the one the record pins, for another image, or over the"
             " environment's thresholds by severity (release_scan_thresholds)"),
    example=("release 2026.12.1 to prod: 2 high findings, at most 0 allowed (CVE-2026-1001 in openssl,"
             " CVE-2026-1002 in zlib)"),
)
def image_scanned(i):
    release = _record(i)
    policy = i.get("policy") or {}
    if not policy.get("promotes", True):
        return
    env, rid = policy.get("environment"), release.get("id")
    found = i.get("scan_report")
    if not isinstance(found, dict):
        yield f"release {rid} to {env}: the scan report was not read"
        return
    if found.get("error"):
        yield f"release {rid} to {env}: {found['error']}"
        return
    pinned = ((release.get("evidence") or {}).get("scan_report") or {}).get("sha256")
    # a vuln attestation is bound to the digest by its signature (the environment's key); a file by the record's pin
    if not found.get("attested") and found.get("sha256") != pinned:
        yield (f"release {rid}: the scan report {found.get('path')} is {_short(found.get('sha256'))}, not the"
               f" {_short(pinned)} the release record pins (a changed or another report)")
    report = found.get("report") or {}
    digest = _digest(release)
    named = _report_digests(report)
    if digest not in named:
        yield (f"release {rid}: the scan report is for {report.get('ArtifactName') or 'an unnamed artifact'}, not the"
               f" release's digest {_short(digest)}")
    counts = scan_counts(report)
    for severity, limit in (policy.get("scan_thresholds") or {}).items():
        if limit is None or isinstance(limit, bool) or not isinstance(limit, int):
            continue
        findings = counts.get(severity, [])
        if len(findings) > limit:
            shown = ", ".join(f"{v} in {p}" for v, p in findings[:5]) + (" ..." if len(findings) > 5 else "")
            yield f"release {rid} to {env}: {len(findings)} {severity} findings, at most {limit} allowed ({shown})"
