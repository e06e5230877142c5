"""Approval statements: who counts, and why the others do not (the refusals themselves are in cases_release.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import load_all
from rules.cases_release import (
    GOOD_APPROVALS,
    IDENTITIES,
    NOW,
    RECORD,
    approval_inputs,
    prod_policy,
    request,
    statement,
)


def test_the_deployer_is_the_owner_of_the_key_that_signed_the_request():
    assert appr.deployer(request(), RECORD, prod_policy(), NOW) == ("bob", [])
    name, problems = appr.deployer(request("dave", signer="bob"), RECORD, prod_policy(), NOW)
    assert name is None and problems


def test_one_person_in_two_groups_fills_one_seat():
    identities = dict(IDENTITIES, alice={**IDENTITIES["alice"], "groups": ["release-managers", "business-owners"]})
    policy = prod_policy(identities=identities)
    result = appr.tally([statement("alice")], RECORD, policy, NOW, "bob")
    assert result["counted"] == ["alice"]
    assert "1 of 2 promotion approvals" in result["missing"][0]
    # alice and dave (both release managers): alice takes the business-owners seat, dave release-managers
    result = appr.tally([statement("alice"), statement("dave")], RECORD, policy, NOW, "bob")
    assert result["missing"] == [] and sorted(result["counted"]) == ["alice", "dave"]


def test_a_person_outside_the_approving_groups_does_not_count():
    result = appr.tally([*GOOD_APPROVALS, statement("bob")], RECORD, prod_policy(), NOW, None)
    assert result["counted"] == ["alice", "carol"]
    assert any("bob is in none of the approving groups" in reason for reason in result["ignored"])


def test_the_rule_passes_with_enough_valid_statements_and_names_every_problem_otherwise():
    rule = load_all()["release.approvals"]
    assert rule.evaluate(approval_inputs(GOOD_APPROVALS)) == []
    findings = rule.evaluate(approval_inputs([statement("bob"), statement("carol", hours=-2)], req=request("alice")))
    messages = " | ".join(f.message for f in findings)
    assert "alice is in none of the deployer groups" in messages
    assert "expired at" in messages and "not enough approvals" in messages


def test_an_override_is_recorded_as_an_override():
    from ansible_collections.governed.odoo.plugins.module_utils.release import windows
    from rules.cases_release import BERLIN_MONTH_END, FINANCE

    policy = prod_policy(freeze_calendars=["finance"])
    decision = windows.schedule(policy, {"finance": FINANCE}).decide(BERLIN_MONTH_END)
    overrides = [statement(n, purpose="override", at=BERLIN_MONTH_END) for n in ("alice", "carol")]
    result = appr.tally(overrides, RECORD, policy, BERLIN_MONTH_END, "bob", purpose="override")
    event = appr.override_event(decision, result, RECORD, "prod", "bob")
    assert event["kind"] == "override" and event["approvers"] == ["alice", "carol"]
    assert event["overrode"] == ["freeze finance: Month-end close (2026-11-29 to 2026-12-02)"]
    too_few = appr.tally(overrides[:1], RECORD, policy, BERLIN_MONTH_END, "bob", purpose="override")
    assert appr.override_event(decision, too_few, RECORD, "prod", "bob") is None
