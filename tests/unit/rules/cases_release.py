"""For every release rule: inputs that trigger it and inputs that pass it (see cases_redis.py).

Keys are generated in memory for the run; nothing here is a real key. Instants are fixed (no wall clock).
"""

from __future__ import annotations

import copy
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol
from ansible_collections.governed.odoo.plugins.module_utils.release import record as rec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DIGEST = "sha256:" + "a" * 64
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calendars"

RECORD = {
    "format": 1,
    "id": "2026.12.1",
    "image": "registry.lab/odoo@" + DIGEST,
    "addons": [{"name": "construction_site", "version": "17.0.1.2.0"}, {"name": "payroll_de", "version": "17.0.3.0"}],
    "config_revision": "4f1c2e9",
    "migration": {"install": ["construction_site"], "update": ["payroll_de"]},
    "evidence": {"scan_report": {"uri": "releases/2026.12.1/trivy.json", "sha256": "sha256:" + "b" * 64},
                 "signatures": [{"type": "cosign", "uri": "registry.lab/odoo:sha256-aaaa.sig"}]},
}


def changed(**changes):
    """The inputs of the record rules: RECORD with ``changes`` (None removes a key)."""
    out = copy.deepcopy(RECORD)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return {"release": out}


SIGNERS = {name: chain.Signer(Ed25519PrivateKey.generate()) for name in ("alice", "carol", "dave", "bob")}
GROUPS = {"alice": ["release-managers"], "carol": ["business-owners"], "dave": ["release-managers"],
          "bob": ["deployers"]}
IDENTITIES = {n: {"public_key": chain.public_pem(s.public_key), "groups": GROUPS[n]} for n, s in SIGNERS.items()}
NOW = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)  # a Tuesday, 10:30 in Berlin


def prod_policy(**changes):
    policy = pol.effective("prod", {"release_identities": IDENTITIES, "release_timezone": "Europe/Berlin"})
    policy.update(changes)
    return policy


def statement(name, purpose="promotion", environment="prod", hours=24, at=NOW, signer=None, **body):
    stmt = {"type": "approval", "purpose": purpose, "release": RECORD["id"], "digest": DIGEST,
            "environment": environment, "approver": name,
            "issued": appr.statement_time(at - dt.timedelta(hours=1)),
            "expires": appr.statement_time(at + dt.timedelta(hours=hours))}
    stmt.update(body)
    return appr.sign_statement(stmt, SIGNERS[signer or name])


def request(name="bob", signer=None, at=NOW, **body):
    stmt = {"type": "promotion_request", "release": RECORD["id"], "digest": DIGEST, "environment": "prod",
            "deployer": name, "issued": appr.statement_time(at - dt.timedelta(minutes=5)),
            "expires": appr.statement_time(at + dt.timedelta(hours=2))}
    stmt.update(body)
    return appr.sign_statement(stmt, SIGNERS[signer or name])


def approval_inputs(approvals, req=None, **policy):
    return {"release": RECORD, "policy": prod_policy(**policy), "approvals": approvals,
            "promotion_request": request() if req is None else req, "now": NOW}


GOOD_APPROVALS = [statement("alice"), statement("carol")]
forged = statement("alice")
forged["statement"] = dict(forged["statement"], release="2026.12.2")
intruder = chain.Signer(Ed25519PrivateKey.generate())
unknown = appr.sign_statement(statement("alice")["statement"], intruder)

FINANCE = (FIXTURES / "finance-freezes.ics").read_text()


def window_inputs(now, overrides=(), **policy):
    base = prod_policy(freeze_calendars=["finance"], **policy)
    return {"policy": base, "calendars": {"finance": FINANCE}, "now": now, "release": RECORD,
            "override_approvals": list(overrides), "promotion_request": request(at=now)}


BERLIN_MONTH_END = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # Monday, inside month-end close

CASES = {
    "release.record_schema": {
        "bad": [
            (changed(config_revision=None), "config_revision is required"),
            (changed(extra="x"), "unknown key extra"),
            (changed(format=2), "format 2"),
            (changed(id="bad id!"), "id='bad id!'"),
            (changed(addons="x"), "addons must be a list"),
            ({"release": "text"}, "must be a mapping"),
        ],
        "good": [changed(), changed(notes="hotfix for payroll")],
    },
    "release.record_image_digest": {
        "bad": [(changed(image="registry.lab/odoo:17"), "must be pinned by digest"),
                (changed(image="registry.lab/odoo@sha256:abc"), None)],
        "good": [changed()],
    },
    "release.record_addons": {
        "bad": [
            (changed(addons=[{"name": "a", "version": "1"}, {"name": "a", "version": "2"}]), "repeats addon a"),
            (changed(addons=[{"name": "Bad-Name", "version": "1"}]), "must be an Odoo module name"),
            (changed(addons=[{"name": "a", "version": 17.0}]), "version must be a non-empty string"),
            (changed(addons=[{"name": "a", "version": "1", "branch": "x"}]), "unknown key branch"),
        ],
        "good": [changed(), changed(addons=[])],
    },
    "release.record_migration": {
        "bad": [
            (changed(migration={"install": ["sale"], "update": ["sale"]}), "sale in both install and update"),
            (changed(migration={"install": "sale"}), "migration.install must be a list"),
            (changed(migration={"upgrade": []}), "unknown key upgrade"),
        ],
        "good": [changed(), changed(migration={"install": [], "update": []})],
    },
    "release.record_evidence": {
        "bad": [
            (changed(evidence={"signatures": []}), "scan_report needs uri"),
            (changed(evidence={"scan_report": {"uri": "x", "sha256": "md5:1"}}), "sha256 must be"),
            (changed(evidence={"scan_report": {"uri": "x", "sha256": "sha256:" + "b" * 64},
                               "signatures": [{"type": "gpg", "uri": "x"}]}), "needs type cosign"),
        ],
        "good": [changed()],
    },
    "release.record_identity": {
        "bad": [
            ({"release": RECORD, "release_source": "releases/2026.12.1.yml",
              "known_releases": [{"id": "2026.12.1", "hash": rec.content_hash(RECORD), "source": "releases/copy.yml"}]},
             "duplicate id, also used by releases/copy.yml"),
            ({"release": changed(config_revision="5e0aa01")["release"], "release_source": "releases/2026.12.1.yml",
              "known_releases": [{"id": "2026.12.1", "hash": rec.content_hash(RECORD), "source": "audit record 12"}]},
             "release 2026.12.1 changed"),
        ],
        "good": [
            {"release": RECORD, "release_source": "releases/2026.12.1.yml",
             "known_releases": [{"id": "2026.12.1", "hash": rec.content_hash(RECORD), "source": "audit record 12"},
                                {"id": "2026.12.1", "hash": "x", "source": "releases/2026.12.1.yml"},
                                {"id": "2026.11.4", "hash": "y", "source": "releases/2026.11.4.yml"}]},
            {"release": RECORD, "known_releases": []},
        ],
    },
    "release.policy": {
        "bad": [
            ({"policy": pol.effective("training")}, "never promotes"),
            ({"policy": pol.effective("prod", {"release_promote_from": "prod"})}, "from an earlier stage only"),
            ({"policy": pol.effective("prod", {"release_scan_thresholds": {"high": -1}})}, "high=-1"),
            ({"policy": pol.effective("prod", {"release_audit_lock_mode": "GOVERNANCE"})}, "must be COMPLIANCE"),
            ({"policy": pol.effective("qa", {"release_approvals": {"required": 1, "groups": {"a": 1, "b": 1}}})},
             "less than its groups' minima"),
            ({"policy": pol.effective("qa", {"release_change_record_provider": "jira"})}, "jira"),
            ({}, "missing"),
        ],
        "good": [{"policy": pol.effective(env)} for env in pol.STAGES],
    },
    "release.window": {
        "bad": [
            # Saturday morning in Berlin: outside the weekday allow window
            (window_inputs(dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)),
             "outside every allow window (weekday working hours); the next opens 2026-12-07 07:00 CET"),
            (window_inputs(BERLIN_MONTH_END), "freeze finance: Month-end close (2026-11-29 to 2026-12-02)"),
            # an override with one approval where two are needed
            (window_inputs(BERLIN_MONTH_END, overrides=[statement("alice", purpose="override", at=BERLIN_MONTH_END)]),
             "the override is not valid: 1 of 2 override approvals"),
            # promotion approvals do not count as an override
            (window_inputs(BERLIN_MONTH_END, overrides=[statement("alice", at=BERLIN_MONTH_END)]),
             "is for 'promotion', not override"),
        ],
        "good": [
            window_inputs(NOW),
            window_inputs(BERLIN_MONTH_END, overrides=[statement("alice", purpose="override", at=BERLIN_MONTH_END),
                                                       statement("carol", purpose="override", at=BERLIN_MONTH_END)]),
        ],
    },
    "release.approvals": {
        "bad": [
            (approval_inputs([statement("alice")]), "1 of 2 promotion approvals"),
            (approval_inputs([statement("alice"), statement("dave")]), "group business-owners needs 1"),
            (approval_inputs([statement("alice"), statement("alice"), statement("carol", hours=-2)]),
             "alice already counted (one person counts once)"),
            (approval_inputs([statement("alice"), statement("carol", hours=-2)]), "expired at"),
            (approval_inputs([forged, statement("carol")]), "does not verify with alice's key"),
            (approval_inputs([unknown, statement("carol")]), "no registered identity's key"),
            (approval_inputs([statement("alice", digest="sha256:" + "c" * 64), statement("carol")]),
             "is for digest sha256:cccccccccccc..."),
            (approval_inputs([statement("alice", release="2026.11.4"), statement("carol")]),
             "is for release '2026.11.4'"),
            (approval_inputs([statement("alice", environment="uat"), statement("carol")]), "environment 'uat'"),
            (approval_inputs([*GOOD_APPROVALS, statement("bob")]), "bob deploys this release and cannot approve it"),
            (approval_inputs([statement("alice", approver="carol", signer="alice"), statement("carol")]),
             "claims approver 'carol' but is signed by alice"),
            (approval_inputs(GOOD_APPROVALS, req={}), "no signed promotion request"),
            # a request claiming to come from dave but signed with bob's key: the key decides, not the claim
            (approval_inputs(GOOD_APPROVALS, req=request("dave", signer="bob")),
             "names deployer 'dave' but is signed by bob"),
            (approval_inputs(GOOD_APPROVALS, req=request(expires=appr.statement_time(NOW - dt.timedelta(1)))),
             "the promotion request expired"),
            (approval_inputs(GOOD_APPROVALS, req=request("alice")), "alice is in none of the deployer groups"),
            # inside AWX the deployer is the user AWX says launched the job: carol cannot approve her own run
            (dict(approval_inputs(GOOD_APPROVALS, req={}), awx_job={"job": "41", "launched_by": "carol"}),
             "carol is in none of the deployer groups"),
            (dict(approval_inputs([*GOOD_APPROVALS, statement("bob")], req={}),
                  awx_job={"job": "41", "launched_by": "bob"}),
             "bob deploys this release and cannot approve it"),
            (dict(approval_inputs(GOOD_APPROVALS, req={}), awx_job={"job": "41", "launched_by": "mallory"}),
             "AWX user mallory launched the job but is no identity of the policy"),
            (dict(approval_inputs(GOOD_APPROVALS), awx_job={"error": "the AWX API answered HTTP 401 for job 41"}),
             "who deploys cannot be read from AWX"),
        ],
        "good": [approval_inputs(GOOD_APPROVALS),
                 dict(approval_inputs(GOOD_APPROVALS, req={}), awx_job={"job": "41", "launched_by": "bob"}),
                 approval_inputs([*GOOD_APPROVALS, statement("dave"), statement("alice")])],
    },
}


# -- evidence rules: path, rehearsal, change record, image -------------------------------------------------


def audit_record(seq, event, at):
    """An audit record as the gate reads it (the chain is verified before; here only the events matter)."""
    return {"seq": seq, "time": appr.statement_time(at), "event": event}


def promoted(environment, at, digest=DIGEST, instance=None, **extra):
    event = {"kind": "promotion", "environment": environment, "instance": instance or f"civil-{environment}",
             "release": {"id": RECORD["id"], "digest": digest}, "verified": True}
    event.update(extra)
    return event


def restored(at_instance="civil-staging", neutralized=True, source="prod"):
    return {"kind": "restore", "environment": "staging", "instance": at_instance, "source": {"environment": source},
            "neutralized": neutralized, "ok": True}


def trail(*events, start=NOW - dt.timedelta(days=5)):
    """Audit records of ``events`` an hour apart, starting at ``start``."""
    return {"records": [audit_record(n + 1, e, start + dt.timedelta(hours=n)) for n, e in enumerate(events)],
            "problems": []}


FULL_PATH = [promoted(s, NOW) for s in ("dev", "qa", "staging", "uat")]


def path_inputs(audit, **policy):
    return {"release": RECORD, "policy": prod_policy(**policy), "audit": audit}


def rehearsal_inputs(audit, now=NOW, release=None, **policy):
    return {"release": release or RECORD, "policy": prod_policy(**policy), "audit": audit, "now": now}


def change_inputs(found, provider="http", req=None, awx_job=None):
    return {"release": RECORD, "policy": prod_policy(change_record_provider=provider), "change_record": found,
            "promotion_request": request() if req is None else req, "now": NOW, "awx_job": awx_job}


def change(**fields):
    body = {"id": "CHG-1042", "release": RECORD["id"], "environment": "prod", "digest": DIGEST, "status": "approved",
            "approved_by": ["carol"]}
    body.update(fields)
    return {"provider": "http", "source": "http://127.0.0.1:9/changes", "record": body}


def awx_change(*approvals):
    return {"provider": "awx", "source": "AWX workflow job 7",
            "approvals": [{"id": n, "name": f"approve {n}", "status": s, "by": by}
                          for n, (s, by) in enumerate(approvals)]}


REF = "127.0.0.1:35000/odoo@" + DIGEST


def scan(vulns=(), artifact=REF, sha=None):
    report = {"SchemaVersion": 2, "ArtifactName": artifact, "ArtifactType": "container_image",
              "Metadata": {"RepoDigests": [artifact]},
              "Results": [{"Target": "odoo (debian 12)", "Vulnerabilities": [
                  {"VulnerabilityID": f"CVE-2026-{1000 + n}", "PkgName": pkg, "Severity": sev}
                  for n, (sev, pkg) in enumerate(vulns)]}]}
    return {"path": "releases/2026.12.1/trivy.json", "sha256": sha or RECORD["evidence"]["scan_report"]["sha256"],
            "report": report}


def scan_inputs(found, **policy):
    return {"release": RECORD, "policy": prod_policy(**policy), "scan_report": found}


def signature_inputs(found, keys=("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----",), environment="prod"):
    policy = pol.effective(environment, {"release_signing_keys": list(keys)})
    return {"release": RECORD, "policy": policy, "image_signature": found}


CASES.update({
    "release.path": {
        "bad": [
            (path_inputs(trail(*FULL_PATH[:3])), "was not deployed and verified in uat"),
            (path_inputs(None), "no audit trail was read"),
            (path_inputs(dict(trail(*FULL_PATH), problems=["local copy record 2: edited: x"])),
             "the audit trail does not verify"),
            # every stage, but uat's deployment of another digest
            (path_inputs(trail(*FULL_PATH[:3], promoted("uat", NOW, digest="sha256:" + "c" * 64))), "in uat"),
            # deployed in uat, never verified there
            (path_inputs(trail(*FULL_PATH[:3], promoted("uat", NOW, verified=False))), "in uat"),
            # verified in uat, then rolled back there
            (path_inputs(trail(*FULL_PATH, {"kind": "rollback", "environment": "uat",
                                            "release": {"id": RECORD["id"], "digest": DIGEST}})), "in uat"),
            # qa skipped on the way
            (path_inputs(trail(FULL_PATH[0], *FULL_PATH[2:])), "was not deployed and verified in qa"),
            (path_inputs(trail(*FULL_PATH), promote_from="staging"), "release_promote_from=staging in prod skips uat"),
        ],
        "good": [
            path_inputs(trail(*FULL_PATH)),
            path_inputs(trail(*FULL_PATH, {"kind": "rollback", "environment": "uat",
                                           "release": {"id": RECORD["id"], "digest": "sha256:" + "c" * 64}})),
            path_inputs(trail({"kind": "verification", "environment": "dev", "ok": True,
                               "release": {"id": RECORD["id"], "digest": DIGEST}}, *FULL_PATH[1:])),
            {"release": RECORD, "policy": pol.effective("dev"), "audit": None},
            {"release": RECORD, "policy": pol.effective("training"), "audit": None},
        ],
    },
    "release.rehearsal": {
        "bad": [
            (rehearsal_inputs(trail(*FULL_PATH)), "did not run on a neutralized production copy"),
            (rehearsal_inputs(trail(restored(), promoted("dev", NOW))), "no successful rehearsal"),
            (rehearsal_inputs(trail(restored(neutralized=False), promoted("staging", NOW))),
             "did not run on a neutralized production copy"),
            (rehearsal_inputs(trail(restored(source="uat"), promoted("staging", NOW))), "neutralized production copy"),
            # the copy was restored into another staging instance than the one the rehearsal ran on
            (rehearsal_inputs(trail(restored("civil-staging-2"), promoted("staging", NOW))), "production copy"),
            # restored after the rehearsal: the rehearsal ran on something else
            (rehearsal_inputs(trail(promoted("staging", NOW), restored())), "production copy"),
            (rehearsal_inputs(trail(restored(), promoted("staging", NOW), start=NOW - dt.timedelta(days=18))),
             "days ago (prod allows 7)"),
            (rehearsal_inputs(None), "no audit trail was read"),
        ],
        "good": [
            rehearsal_inputs(trail(restored(), promoted("staging", NOW))),
            # old restores do not matter when a recent one precedes a rehearsal
            rehearsal_inputs(trail(restored(), promoted("staging", NOW), start=NOW - dt.timedelta(days=2))),
            rehearsal_inputs(None, release=changed(migration={"install": [], "update": []})["release"]),
            rehearsal_inputs(None, rehearsal_max_age_days=None),
        ],
    },
    "release.change_record": {
        "bad": [
            (change_inputs(change(status="pending")),
             "CHG-1042 (http://127.0.0.1:9/changes) for release 2026.12.1 in prod is pending, not approved"),
            (change_inputs(change(release="2026.11.4")), "is for release '2026.11.4'"),
            (change_inputs(change(environment="uat")), "is for environment 'uat'"),
            (change_inputs(change(digest="sha256:" + "c" * 64)), "is for digest"),
            (change_inputs(change(approved_by=["bob"])), "approved by bob, who deploys"),
            (change_inputs(change(implementer="dave")), "names implementer dave, but bob deploys"),
            (change_inputs(change(valid_until="2026-12-01T00:00:00Z")), "expired at"),
            (change_inputs(change(), req={}), "who deploys is not established"),
            (change_inputs({"provider": "git", "error": "no change record changes/2026.12.1.yml is committed in /r"},
                           provider="git"), "is committed"),
            (change_inputs(None), "was not read"),
            (change_inputs(awx_change(("successful", "carol"), ("pending", None)), provider="awx",
                           awx_job={"launched_by": "bob"}), "is pending, not approved"),
            (change_inputs(awx_change(("successful", "bob")), provider="awx", awx_job={"launched_by": "bob"}),
             "was approved by bob, who deploys (AWX launched_by)"),
            (change_inputs(awx_change(), provider="awx", awx_job={"launched_by": "bob"}), "no workflow approval"),
        ],
        "good": [
            change_inputs(change()),
            change_inputs(change(status="Approved", implementer="bob", valid_until="2026-12-31T00:00:00Z")),
            change_inputs(awx_change(("successful", "carol")), provider="awx", awx_job={"launched_by": "bob"}),
            change_inputs(None, provider="none"),
        ],
    },
    "release.image_present": {
        "bad": [
            ({"release": RECORD,
              "registry": {"reference": REF, "endpoint": "http://127.0.0.1:35000", "present": False}},
             "is not in the registry http://127.0.0.1:35000"),
            ({"release": RECORD, "registry": {"reference": REF, "error": "cannot reach the registry"}}, "cannot reach"),
            ({"release": RECORD, "registry": None}, "was not asked"),
        ],
        "good": [{"release": RECORD, "registry": {"reference": REF, "present": True}},
                 {"release": changed(image="odoo:17")["release"], "registry": None}],
    },
    "release.image_signature": {
        "bad": [
            (signature_inputs({"reference": REF, "errors": ["key 1: no matching signatures"]}),
             "no cosign signature of 127.0.0.1:35000/odoo@sha256:aaaa"),
            (signature_inputs({"reference": REF, "error": "cosign is not installed"}), "cosign is not installed"),
            (signature_inputs(None, keys=()), "release_signing_keys is empty in prod"),
            (signature_inputs({"reference": REF, "errors": ["key 1: x"]}, environment="staging"), "keys of staging"),
        ],
        "good": [signature_inputs({"reference": REF, "verified_with": 0}),
                 signature_inputs(None, keys=(), environment="uat")],
    },
    "release.image_scan": {
        "bad": [
            (scan_inputs(scan([("HIGH", "openssl"), ("CRITICAL", "zlib")])), "1 high findings, at most 0 allowed"),
            (scan_inputs(scan([("CRITICAL", "zlib")])),
             "1 critical findings, at most 0 allowed (CVE-2026-1000 in zlib)"),
            (scan_inputs(scan([("MEDIUM", "x")] * 21)), "21 medium findings, at most 20"),
            (scan_inputs(scan(sha="sha256:" + "d" * 64)), "not the sha256:bbbbbbbbbbbb... the release record pins"),
            (scan_inputs(scan(artifact="127.0.0.1:35000/odoo@sha256:" + "e" * 64)), "not the release's digest"),
            (scan_inputs({"error": "cannot read the scan report x: No such file or directory"}), "cannot read"),
        ],
        "good": [scan_inputs(scan([("MEDIUM", "x")] * 20 + [("LOW", "y")] * 99)),
                 scan_inputs(scan([("HIGH", "openssl")]), scan_thresholds={"critical": 0, "high": 1})],
    },
})
