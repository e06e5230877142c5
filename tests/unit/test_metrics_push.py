"""Unit tests of the Pushgateway client (plugins/module_utils/metrics.py) and of the drill's metrics
(plugins/module_utils/restore/drill.py report_metrics, filter governed.odoo.drill_metrics). The push itself is
tested against the lab's real Pushgateway (tests/integration/test_metrics_push_lab.py)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.governed.odoo.plugins.filter import dr  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils import metrics  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore import drill  # noqa: E402


def test_exposition_groups_samples_of_a_name_under_one_header_and_escapes_label_values():
    text = metrics.exposition([
        {"name": "governed_odoo_drill_success", "value": True, "help": "1 when\nthe drill passed",
         "labels": {"tenant": 'civil "north"', "environment": "prod"}},
        {"name": "governed_odoo_drill_rto_seconds", "value": 812.5},
        {"name": "governed_odoo_drill_success", "value": 0, "labels": {"tenant": "a\\b"}},
    ])
    assert text == (
        "# HELP governed_odoo_drill_success 1 when\\nthe drill passed\n"
        "# TYPE governed_odoo_drill_success gauge\n"
        'governed_odoo_drill_success{environment="prod",tenant="civil \\"north\\""} 1\n'
        'governed_odoo_drill_success{tenant="a\\\\b"} 0\n'
        "# HELP governed_odoo_drill_rto_seconds governed_odoo_drill_rto_seconds\n"
        "# TYPE governed_odoo_drill_rto_seconds gauge\n"
        "governed_odoo_drill_rto_seconds 812.5\n"
    )


@pytest.mark.parametrize(("metric", "message"), [
    ({"name": "drill-rto", "value": 1}, "is not a Prometheus metric name"),
    ({"name": "x", "value": "12"}, "must be a number"),
    ({"name": "x", "value": None}, "must be a number"),
    ({"name": "x", "value": 1, "type": "histogram"}, "must be one of gauge, counter, untyped"),
    ({"name": "x", "value": 1, "labels": {"__name__": "y"}}, "is not a label name"),
    ({"name": "x", "value": 1, "labels": {"odoo-instance": "y"}}, "is not a label name"),
    ({"name": "x", "value": 1, "labels": ["a"]}, "labels must be a mapping"),
])
def test_exposition_refuses_what_prometheus_cannot_parse(metric, message):
    with pytest.raises(metrics.MetricsError, match=message):
        metrics.exposition([metric])


def test_exposition_needs_a_sample():
    with pytest.raises(metrics.MetricsError, match="at least one metric"):
        metrics.exposition([])


def test_special_float_values():
    text = metrics.exposition([{"name": "a", "value": float("nan")}, {"name": "b", "value": float("-inf")}])
    assert "a NaN\n" in text and "b -Inf\n" in text


def test_group_url_plain_and_base64_segments():
    url = metrics.group_url("http://pushgw:9091/", "governed_odoo_drill",
                            {"odoo_instance": "civil-prod", "path": "a/b", "empty": ""})
    enc = base64.urlsafe_b64encode(b"a/b").decode()
    assert url == (f"http://pushgw:9091/metrics/job/governed_odoo_drill/empty@base64/=/odoo_instance/civil-prod/"
                   f"path@base64/{enc}")


def test_group_url_refuses_job_in_the_grouping_and_a_bad_url():
    with pytest.raises(metrics.MetricsError, match="given as job"):
        metrics.group_url("http://pushgw:9091", "j", {"job": "x"})
    with pytest.raises(metrics.MetricsError, match="must not carry credentials"):
        metrics.group_url("http://u:p@pushgw:9091", "j")
    with pytest.raises(metrics.MetricsError, match="job must be"):
        metrics.group_url("http://pushgw:9091", "")


@pytest.mark.parametrize(("url", "problem"), [
    ("http://pushgw:9091", None),
    ("https://pushgw.example.org/base", None),
    ("ftp://pushgw", "must be an http:// or https:// URL with a host"),
    ("http://", "must be an http:// or https:// URL with a host"),
    ("http://pushgw:9091/ x", "whitespace or a control character"),
    ("http://pushgw:9091/#f", "must not have a query or a fragment"),
    ("http://pushgw:0x1", "has an invalid port"),
    (None, "must be an http:// or https:// URL"),
])
def test_url_problem(url, problem):
    found = metrics.url_problem(url)
    assert (found is None) if problem is None else (problem in found)


def _report(**kw):
    base = dict(drill_id="20261126T020000Z", environment="prod", started_at="2026-11-26T02:00:00Z",
                verified_at="2026-11-26T02:10:00Z", finished_at="2026-11-26T02:12:00Z",
                backup={"id": "prod/acme/20261126T010000Z-abcdef", "created_at": "2026-11-26T01:00:00Z"},
                data={"ok": True, "tables": [], "hashes_compared": 0},
                attachments={"ok": True, "checked": 0, "bytes": 0, "problems": []},
                rto_target_seconds=3600, rpo_target_seconds=86400,
                source_latest_write={"at": "2026-11-26T00:30:00Z", "basis": "write_date"})
    base.update(kw)
    return drill.build_report(**base)


def test_a_passed_drill_publishes_its_result_time_and_figures_with_targets():
    samples = {m["name"]: m for m in drill.report_metrics(_report(), {"environment": "prod"})}
    assert samples["governed_odoo_drill_success"]["value"] == 1
    assert samples["governed_odoo_drill_last_run_timestamp_seconds"]["value"] == 1795659120.0  # 2026-11-26T02:12:00Z
    assert samples["governed_odoo_drill_rto_seconds"]["value"] == 600.0
    assert samples["governed_odoo_drill_rto_target_seconds"]["value"] == 3600.0
    assert samples["governed_odoo_drill_rpo_seconds"]["value"] == 0.0
    assert samples["governed_odoo_drill_rpo_target_seconds"]["value"] == 86400.0
    assert all(m["labels"] == {"environment": "prod"} for m in samples.values())
    # what metrics_push would send parses
    assert "governed_odoo_drill_rto_seconds{environment=\"prod\"} 600.0" in metrics.exposition(list(samples.values()))


def test_a_drill_never_verified_publishes_failure_and_no_made_up_rto():
    names = {m["name"]: m["value"] for m in drill.report_metrics(_report(verified_at=None))}
    assert names["governed_odoo_drill_success"] == 0
    assert "governed_odoo_drill_rto_seconds" not in names
    assert names["governed_odoo_drill_rto_target_seconds"] == 3600.0


def test_drill_metrics_filter():
    assert dr.drill_metrics(_report(), {"tenant": "acme"})[0]["labels"] == {"tenant": "acme"}
    with pytest.raises(AnsibleFilterError, match="expected a report"):
        dr.drill_metrics({"rto": {}})
    with pytest.raises(AnsibleFilterError, match="labels must be a mapping"):
        dr.drill_metrics(_report(), ["tenant"])
