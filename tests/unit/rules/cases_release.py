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
        ],
        "good": [approval_inputs(GOOD_APPROVALS),
                 approval_inputs([*GOOD_APPROVALS, statement("dave"), statement("alice")])],
    },
}
