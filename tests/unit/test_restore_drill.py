"""Unit tests of the DR drill report (plugins/module_utils/restore/drill.py) and the dr filters."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.governed.odoo.plugins.filter import dr  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore import drill  # noqa: E402

OK_DATA = {"ok": True, "tables": [{"table": "res_partner", "expected_rows": 3, "rows": 3, "hash": "3-ab", "ok": True}],
           "hashes_compared": 1, "reference": "source database"}
OK_ATT = {"ok": True, "checked": 2, "bytes": 2048, "problems": [], "reference": "byte for byte"}
CHECKS = {"ok": True, "checks": [{"name": "x", "ok": True, "detail": ""}]}


def report(**kw):
    base = dict(drill_id="20261126T020000Z", environment="prod", started_at="2026-11-26T02:00:00Z",
                verified_at="2026-11-26T02:10:00Z", finished_at="2026-11-26T02:12:00Z",
                backup={"id": "prod/acme/20261126T010000Z-abcdef", "created_at": "2026-11-26T01:00:00Z"},
                data=OK_DATA, attachments=OK_ATT, neutralization=CHECKS, smoke=CHECKS, teardown=CHECKS,
                rto_target_seconds=3600, rpo_target_seconds=86400,
                source_latest_write={"at": "2026-11-26T01:30:00", "basis": "max(write_date)"})
    base.update(kw)
    return drill.build_report(**base)


def test_rto_and_rpo():
    r = report()
    assert r["result"] == "pass" and r["failures"] == []
    assert r["rto"] == {"seconds": 600.0, "started_at": "2026-11-26T02:00:00Z", "verified_at": "2026-11-26T02:10:00Z",
                        "target_seconds": 3600, "met": True}
    assert r["rpo"]["seconds"] == 1800.0 and r["rpo"]["upper_bound_seconds"] == 3600.0 and r["rpo"]["met"]
    assert r["rpo"]["source_latest_write_at"] == "2026-11-26T01:30:00Z"  # naive times are UTC (Odoo's write_date)


def test_rpo_without_writes_after_the_backup_is_zero():
    r = report(source_latest_write={"at": "2026-11-25T23:00:00Z", "basis": "max(write_date)"})
    assert r["rpo"]["seconds"] == 0 and r["rpo"]["writes_after_backup_seconds"] == 0


def test_rpo_without_a_measurable_latest_write_is_the_upper_bound():
    r = report(source_latest_write=None)
    assert r["rpo"]["seconds"] == 3600.0 and "not measurable" in r["rpo"]["basis"]


@pytest.mark.parametrize(("kw", "failure"), [
    ({"data": dict(OK_DATA, ok=False)}, "database check failed"),
    ({"data": None}, "database was not verified"),
    ({"attachments": None}, "attachments were not verified"),
    ({"neutralization": dict(CHECKS, ok=False)}, "neutralization check failed"),
    ({"smoke": dict(CHECKS, ok=False)}, "smoke test check failed"),
    ({"teardown": dict(CHECKS, ok=False)}, "not torn down"),
    ({"rto_target_seconds": 60}, "RTO 10 min over the target 1 min"),
    ({"rpo_target_seconds": 60}, "RPO 30 min over the target"),
    ({"errors": ["Restore: boom"]}, "Restore: boom"),
])
def test_failures(kw, failure):
    r = report(**kw)
    assert r["result"] == "fail" and any(failure in f for f in r["failures"]), r["failures"]


def test_not_verified_has_no_rto():
    r = report(verified_at=None, errors=["restore failed"])
    assert r["rto"]["seconds"] is None and r["rto"]["met"] is None and r["result"] == "fail"
    assert "not reached" in drill.render_html(r)


def test_html_is_self_contained_escaped_and_readable():
    evil = '<script>alert("x")</script>'
    r = report(environment=evil, data=dict(OK_DATA, tables=[dict(OK_DATA["tables"][0], table=evil)]))
    page = drill.render_html(r)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    assert "PASS" in page and "10 min" in page and "30 min" in page
    fail = drill.render_html(report(data=dict(OK_DATA, ok=False, mismatched=["res_partner"])))
    assert "FAIL" in fail and "Why the drill failed" in fail and "Differing tables" in fail


def test_human_units():
    assert drill.human_seconds(None) == "n/a" and drill.human_seconds(5.25) == "5.2 s"
    assert drill.human_seconds(0) == "0 s"  # nothing lost
    assert drill.human_seconds(3600) == "1 h" and drill.human_seconds(600) == "10 min"  # no "1 h 0 min"
    assert drill.human_seconds(3725) == "1 h 2 min" and drill.human_seconds(90000) == "1 d 1 h"
    assert drill.human_bytes(512) == "512 B" and drill.human_bytes(3 * 2**30) == "3.0 GiB"


def test_parse_time_forms():
    assert drill.iso(drill.parse_time("2026-11-26 02:00:00")) == "2026-11-26T02:00:00Z"
    assert drill.iso(drill.parse_time("2026-11-26T03:00:00+01:00")) == "2026-11-26T02:00:00Z"
    assert drill.iso(drill.parse_time(0)) == "1970-01-01T00:00:00Z"
    assert drill.parse_time("") is None


def test_json_round_trip():
    r = report()
    assert json.loads(drill.to_json(r)) == json.loads(json.dumps(r))


# --------------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------------
def test_filters_registered():
    assert set(dr.FilterModule().filters()) == {"odoo_conf_options", "odoo_conf_set", "drill_report",
                                                "drill_report_html", "drill_metrics", "restore_audit_event"}


def test_drill_report_filter_validates():
    facts = {"drill_id": "x", "environment": "prod", "started_at": "2026-11-26T02:00:00Z",
             "verified_at": "2026-11-26T02:01:00Z", "data": OK_DATA,
             "attachments": OK_ATT}
    assert dr.drill_report(facts)["result"] == "pass"
    with pytest.raises(AnsibleFilterError, match="unknown keys bogus"):
        dr.drill_report(dict(facts, bogus=1))
    with pytest.raises(AnsibleFilterError, match="drill_id is required"):
        dr.drill_report(dict(facts, drill_id=""))
    with pytest.raises(AnsibleFilterError, match="made by the drill_report filter"):
        dr.drill_report_html({"x": 1})


def test_odoo_conf_filters():
    text = "[options]\ndb_name = a\n"
    assert dr.odoo_conf_options(dr.odoo_conf_set(text, {"db_host": "h"})) == {"db_name": "a", "db_host": "h"}
    with pytest.raises(AnsibleFilterError, match="mapping"):
        dr.odoo_conf_set(text, ["db_host"])
    with pytest.raises(AnsibleFilterError, match="single lines"):
        dr.odoo_conf_set(text, {"db_host": "a\nb"})
    with pytest.raises(AnsibleFilterError, match=r"text of an odoo\.conf"):
        dr.odoo_conf_options(None)
