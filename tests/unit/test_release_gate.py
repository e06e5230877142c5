"""governed.odoo.release_gate's logic (release/gate.py): evidence read from files and the audit trail, every rule
reported, refusals listed with their ids."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain
from ansible_collections.governed.odoo.plugins.module_utils.release import gate
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rules.cases_release import GOOD_APPROVALS, IDENTITIES, NOW, RECORD, request

PROD_VARS = {"governed_odoo_environment": "prod", "release_identities": IDENTITIES,
             "release_timezone": "Europe/Berlin", "release_change_record_provider": "none",
             "release_registry_url": "http://127.0.0.1:9",
             "ansible_connection": "local"}


def params(**args):
    args.setdefault("target", "civil-prod")
    result = ArgumentSpecValidator(gate.argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


@pytest.fixture
def release_file(tmp_path):
    path = tmp_path / "releases" / "2026.12.1.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(RECORD))
    return path


def test_every_release_rule_is_reported_and_the_refusal_names_each_failing_rule(release_file):
    out, _hidden = gate.run(params(release=str(release_file), now="2026-12-05T09:00:00Z"), PROD_VARS)
    ids = [r["id"] for r in out["rules"]]
    assert ids == [r.id for r in engine.rules_for(layer="release")]
    failing = {r["id"] for r in out["rules"] if not r["passed"]}
    assert {"release.window", "release.approvals"} <= failing
    assert out["allowed"] is False and out["failed"] is True and out["changed"] is False
    for rule_id in failing:
        assert rule_id in out["msg"]
    assert "outside every allow window" in out["msg"]


def test_fail_on_refusal_false_returns_the_verdict_without_failing(release_file):
    out, _hidden = gate.run(
        params(release=str(release_file), now="2026-12-05T09:00:00Z", fail_on_refusal=False), PROD_VARS)
    assert out["allowed"] is False and out["failed"] is False


def test_statements_are_read_from_files_relative_to_the_base_directory(tmp_path, release_file):
    for n, signed in enumerate(GOOD_APPROVALS):
        (tmp_path / f"a{n}.json").write_text(json.dumps(signed))
    (tmp_path / "req.json").write_text(json.dumps(request()))
    out, _hidden = gate.run(
        params(release=str(release_file), now=NOW.isoformat(), approvals=["a0.json", "a1.json"],
               promotion_request="req.json"),
        PROD_VARS, basedir=str(tmp_path))
    by_id = {r["id"]: r for r in out["rules"]}
    assert by_id["release.approvals"]["passed"], by_id["release.approvals"]
    assert by_id["release.window"]["passed"], by_id["release.window"]


def test_a_duplicate_id_beside_the_record_is_refused(release_file):
    (release_file.parent / "copy.yml").write_text(yaml.safe_dump(RECORD))
    out, _hidden = gate.run(params(release=str(release_file), now=NOW.isoformat()), PROD_VARS)
    identity = next(r for r in out["rules"] if r["id"] == "release.record_identity")
    assert not identity["passed"] and "duplicate id" in identity["reasons"][0]


def test_a_target_without_an_environment_fails_without_evaluating(release_file):
    out, _hidden = gate.run(params(release=str(release_file)), {})
    assert out["failed"] and out["allowed"] is False and "governed_odoo_environment" in out["msg"]


def test_an_unreadable_release_fails(tmp_path):
    out, _hidden = gate.run(params(release=str(tmp_path / "missing.yml")), PROD_VARS)
    assert out["failed"] and "cannot read release record" in out["msg"]


def test_a_changed_record_under_an_id_the_audit_trail_knows_is_refused(tmp_path, release_file):
    signer = chain.Signer(Ed25519PrivateKey.generate())
    trail = AuditTrail(local=LocalChain(tmp_path / "audit"))
    trail.append({"kind": "promotion", "environment": "uat",
                  "release": {"id": RECORD["id"], "digest": "sha256:" + "a" * 64, "hash": "sha256:" + "0" * 64}},
                 signer, NOW - dt.timedelta(days=1))
    audit = {"local_dir": str(tmp_path / "audit"), "public_keys": [chain.public_pem(signer.public_key)]}
    out, _hidden = gate.run(params(release=str(release_file), now=NOW.isoformat(), audit=audit), PROD_VARS)
    identity = next(r for r in out["rules"] if r["id"] == "release.record_identity")
    assert not identity["passed"] and "known from audit record 1" in identity["reasons"][0]


def test_the_result_is_the_same_in_check_mode(release_file):
    p = params(release=str(release_file), now=NOW.isoformat())
    assert gate.run(p, PROD_VARS, check_mode=True) == gate.run(p, PROD_VARS, check_mode=False)


def test_the_action_reads_the_targets_templated_policy_from_the_inventory(tmp_path, release_file):
    """Through ansible-playbook: the policy is the target's inventory variables, templated under the target's own
    variables (a group variable naming the time zone), never the task's."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    group_vars = {"governed_odoo_environment": "prod", "tenant_tz": "Pacific/Auckland",
                  "release_timezone": "{{ tenant_tz }}", "release_registry_url": "http://127.0.0.1:9"}
    inventory = {"all": {"children": {"prod": {"hosts": {"civil-prod": {}}, "vars": group_vars}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"governed.odoo.release_gate": {"release": str(release_file), "target": "civil-prod",
                                        "now": "2026-12-07T19:30:00Z", "fail_on_refusal": False},
         "register": "gate", "check_mode": True},
        {"ansible.builtin.copy": {"content": "{{ gate | to_json }}", "dest": str(tmp_path / "gate.json"),
                                  "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                           str(tmp_path / "play.yml"), "-e", f"ansible_python_interpreter={sys.executable}"],
                          env=dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg")), capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    gate_result = json.loads((tmp_path / "gate.json").read_text())
    window = next(r for r in gate_result["rules"] if r["id"] == "release.window")
    # Monday 19:30 UTC is Tuesday 08:30 in Auckland: inside prod's Mon-Thu 07:00-16:00 window there, not in UTC
    assert window["passed"], window
    assert gate_result["environment"] == "prod" and gate_result["allowed"] is False


def test_the_result_names_the_deployer_the_approvers_and_an_override_to_record(tmp_path, release_file):
    from rules.cases_release import BERLIN_MONTH_END, FINANCE, statement

    (tmp_path / "finance.ics").write_text(FINANCE)
    variables = dict(PROD_VARS, release_freeze_calendars=["finance"])
    at = BERLIN_MONTH_END
    args = dict(release=str(release_file), now=at.isoformat(), calendars_dir=str(tmp_path),
                approvals=[statement("alice", at=at), statement("carol", at=at)], promotion_request=request(at=at))
    out, _hidden = gate.run(params(**args), variables)
    assert out["deployer"] == "bob" and sorted(out["approvers"]) == ["alice", "carol"]
    # the window the promotion meets, for its record and the governance report: here the freeze that blocks it
    assert out["window"]["allowed"] is False and "Month-end close" in out["window"]["name"], out["window"]
    assert out["window"]["at"] == "2026-11-30 10:00 CET"  # the instant in the environment's time zone
    assert out["override"] is None  # no override asked: the freeze refuses
    assert {"rule": "release.window", "ok": False}.items() <= next(
        g for g in out["gates"] if g["rule"] == "release.window").items()
    overrides = [statement("alice", purpose="override", at=at), statement("carol", purpose="override", at=at)]
    out, _hidden = gate.run(params(**args, override_approvals=overrides), variables)
    assert next(r for r in out["rules"] if r["id"] == "release.window")["passed"]
    event = out["override"]
    assert event["kind"] == "override" and event["deployer"] == "bob"
    assert sorted(event["approvers"]) == ["alice", "carol"]
    assert any("Month-end close" in reason for reason in event["overrode"])


def test_the_environments_observation_is_reported_and_its_tolerance_gated(release_file):
    p = params(release=str(release_file), now=NOW.isoformat(), fail_on_refusal=False)
    out, _hidden = gate.run(p, PROD_VARS)
    # no prometheus_url: promote.yml observes nothing, and the tolerance rule has nothing to check
    assert out["observation"]["enabled"] is False and out["observation"]["tolerance"] is None
    observing = dict(PROD_VARS, release_observation={"prometheus_url": "http://127.0.0.1:9090", "window_seconds": 60,
                                                     "tolerance": {"min_requests": 5}})
    out, _hidden = gate.run(p, observing)
    obs = out["observation"]
    assert obs["enabled"] is True and obs["window_seconds"] == 60 and obs["settle_seconds"] == 30
    # prod's tolerance with the policy's override on top
    assert obs["tolerance"]["min_requests"] == 5 and obs["tolerance"]["max_error_rate"] == 0.02
    ok = {r["id"]: r["passed"] for r in out["rules"]}
    assert ok["release.observation_tolerance"] and ok["release.observation_policy"]
    broken = dict(observing, release_observation={"prometheus_url": "http://127.0.0.1:9090", "window_seconds": 1,
                                                  "tolerance": {"max_error_rate": 5}})
    out, _hidden = gate.run(p, broken)
    failing = {r["id"] for r in out["rules"] if not r["passed"]}
    assert {"release.observation_tolerance", "release.observation_policy"} <= failing
    assert "max_error_rate=5" in out["msg"] and "window_seconds=1" in out["msg"]


def test_a_local_copy_behind_the_stored_chain_is_not_tampering_and_the_stored_records_are_the_evidence(
        tmp_path, monkeypatch):
    """Two controllers with their own local copies: the one that did not append last reads a copy that is behind
    the stored chain (the authority). The stored records are the evidence; a copy that differs is still refused."""
    from _audit_stored import Stored
    from ansible_collections.governed.odoo.plugins.module_utils.audit import task as audit_task

    signer = chain.Signer(Ed25519PrivateKey.generate())
    stored = Stored()
    mine = AuditTrail(local=LocalChain(tmp_path / "mine"), remote=stored)
    theirs = AuditTrail(local=LocalChain(tmp_path / "theirs"), remote=stored)
    mine.append({"kind": "note", "n": 1}, signer, NOW)
    theirs.append({"kind": "promotion", "n": 2}, signer, NOW)
    monkeypatch.setattr(audit_task, "open_trail", lambda params: mine)
    audit = {"public_keys": [chain.public_pem(signer.public_key)]}
    read = gate.read_audit(audit)
    assert read["problems"] == [] and [r["event"]["n"] for r in read["records"]] == [1, 2]
    # a local copy with a record the store does not have is not behind: the copies differ
    extra = chain.make_record(stored.records[1], {"kind": "note", "n": "x"}, signer, NOW)
    mine.local.append(extra, chain.make_head(extra, signer, NOW))
    assert "the local and the stored copy of the audit trail differ" in gate.read_audit(audit)["problems"]
