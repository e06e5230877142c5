"""Unit tests of the restore's audit event (plugins/module_utils/restore/auditevent.py, filter restore_audit_event):
its shape, and that the migration-rehearsal gate reads it as a neutralized production copy only when it is one."""

from __future__ import annotations

import copy
import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "rules"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.governed.odoo.plugins.filter import dr  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore import auditevent  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules import release as release_rules  # noqa: E402
from cases_release import NOW, audit_record, promoted, rehearsal_inputs  # noqa: E402

# what governed.odoo.restore returns for a neutralized copy (the keys the event reads, as flow.py sets them)
RESULT = {
    "changed": True, "switched": True, "target_db": "civil_staging", "target_production": False, "copy": True,
    "neutralize_mode": "sql", "previous": "civil_staging__prev_20261207t080000z",
    "backup": {"id": "prod/civil_prod/20261207T020000Z-3fa9c1", "backup_id": "20261207T020000Z-3fa9c1",
               "environment": "prod", "created_at": "2026-12-07T02:00:00Z"},
    "neutralization": {"mode": "sql", "identity": {"secret": "renewed"},
                       "verification": {"ok": True, "checks": [{"name": "mail servers", "ok": True}]}},
}
SOURCE = {"instance": "civil-prod", "environment": "prod", "database": "civil_prod"}
TARGET = {"instance": "civil-staging", "environment": "staging", "database": "civil_staging",
          "namespace": "odoo-civil-staging", "production": False}


def result(**changes):
    out = copy.deepcopy(RESULT)
    out.update(changes)
    return out


def test_the_event_names_source_target_backup_and_neutralization():
    event = auditevent.restore_event(RESULT, SOURCE, TARGET, operator="alice", operation="restore_copy")
    assert event == {
        "kind": "restore", "operation": "restore_copy", "environment": "staging", "instance": "civil-staging",
        "ok": True, "outcome": "succeeded", "neutralized": True, "neutralize_mode": "sql", "copy": True,
        "operator": "alice",
        "source": {"instance": "civil-prod", "environment": "prod", "database": "civil_prod",
                   "backup": "prod/civil_prod/20261207T020000Z-3fa9c1", "backup_id": "20261207T020000Z-3fa9c1",
                   "backup_created_at": "2026-12-07T02:00:00Z"},
        "target": {"instance": "civil-staging", "environment": "staging", "namespace": "odoo-civil-staging",
                   "database": "civil_staging", "production": False,
                   "previous": "civil_staging__prev_20261207t080000z"},
    }


@pytest.mark.parametrize("changes", [
    {"neutralize_mode": "none", "neutralization": {"mode": "none"}},
    {"neutralization": {"mode": "sql", "verification": {"ok": False}}},
    {"neutralization": {"mode": "sql"}},  # never verified
    {"neutralize_mode": None},
])
def test_a_copy_is_neutralized_only_when_its_neutralization_verified(changes):
    assert auditevent.restore_event(result(**changes), SOURCE, TARGET)["neutralized"] is False


def test_a_production_restore_from_its_own_backups_is_not_a_copy():
    own = dict(SOURCE, namespace="odoo-civil-prod", production=True)
    event = auditevent.restore_event(result(copy=False, neutralize_mode="none", target_production=True,
                                            neutralization={"mode": "none"}), SOURCE, own)
    assert event["copy"] is False and event["neutralized"] is False and event["target"]["production"] is True
    assert event["environment"] == "prod" and event["instance"] == "civil-prod"


def test_an_unswitched_restore_is_recorded_as_not_ok():
    event = auditevent.restore_event(result(switched=False), SOURCE, TARGET)
    assert event["ok"] is False and "not switched" in event["reason"] and event["outcome"] == "failed"


def test_a_failed_restore_is_recorded_with_its_reason_and_no_secret():
    failed = {"failed": True, "msg": "pg_restore failed: connection to postgresql://admin:hunter22@db:5432/x refused "
                                     "(password=hunter22 PGPASSWORD: s3cr3t-pw) key AKIA-lab-key"}
    event = auditevent.restore_event(failed, SOURCE, TARGET, operation="dr_restore", secrets=["AKIA-lab-key"])
    assert event["ok"] is False and event["outcome"] == "failed" and event["neutralized"] is False
    assert event["source"]["backup"] is None and "pg_restore failed" in event["reason"]
    for secret in ("hunter22", "s3cr3t-pw", "AKIA-lab-key"):
        assert secret not in event["reason"], event["reason"]
    # a step after the module failed (the smoke test): the module's own result succeeded, the restore did not
    later = auditevent.restore_event(RESULT, SOURCE, TARGET, failure="Smoke test: not an Odoo database")
    assert later["ok"] is False and later["reason"] == "Smoke test: not an Odoo database"
    assert later["source"]["backup"] == RESULT["backup"]["id"] and not release_rules.is_production_copy(later)
    # the run stopped before the restore ran
    early = dr.restore_audit_event({}, SOURCE, TARGET, failure="x" * 5000)
    assert early["outcome"] == "failed" and len(early["reason"]) <= auditevent.REASON_MAX


@pytest.mark.parametrize(("res", "source", "target", "message"), [
    (result(backup={}), SOURCE, TARGET, "names no backup"),
    (RESULT, {"instance": "civil-prod"}, TARGET, "source instance needs environment, database"),
    (RESULT, SOURCE, None, "target instance must be a mapping"),
    ("done", SOURCE, TARGET, "expected the result"),
])
def test_what_is_no_restore_to_record_is_refused(res, source, target, message):
    with pytest.raises(ValueError, match=message):
        auditevent.restore_event(res, source, target)
    with pytest.raises(AnsibleFilterError, match=message):
        dr.restore_audit_event(res, source, target)


def test_the_filter_is_the_function():
    filters = dr.FilterModule().filters()
    assert filters["restore_audit_event"](RESULT, SOURCE, TARGET, operator="bob") == \
        auditevent.restore_event(RESULT, SOURCE, TARGET, operator="bob")


def rehearsal(*events, start=NOW - dt.timedelta(days=2)):
    records = [audit_record(n + 1, e, start + dt.timedelta(hours=n)) for n, e in enumerate(events)]
    rule = next(r for r in engine.rules_for(layer="release") if r.id == "release.rehearsal")
    return [f.message for f in rule.evaluate(rehearsal_inputs({"records": records, "problems": []}))]


def test_the_rehearsal_gate_accepts_the_event_of_a_neutralized_production_copy():
    event = auditevent.restore_event(RESULT, SOURCE, TARGET)
    assert release_rules.is_production_copy(event)
    assert rehearsal(event, promoted("staging", NOW)) == []


@pytest.mark.parametrize(("res", "source"), [
    (result(neutralize_mode="none", neutralization={"mode": "none"}), SOURCE),  # not neutralized
    (RESULT, dict(SOURCE, environment="uat", instance="civil-uat")),  # not a production copy
    (result(switched=False), SOURCE),  # never switched in
])
def test_the_rehearsal_gate_refuses_what_is_no_neutralized_production_copy(res, source):
    event = auditevent.restore_event(res, source, TARGET)
    assert not release_rules.is_production_copy(event)
    messages = rehearsal(event, promoted("staging", NOW))
    assert messages and "did not run on a neutralized production copy" in messages[0], messages
