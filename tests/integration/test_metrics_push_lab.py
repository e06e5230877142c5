"""governed.odoo.metrics_push against the lab's real Pushgateway (Debian's prometheus-pushgateway), scraped by the
lab's real Prometheus with honor_labels, as the monitoring role's drill alerts expect.

Each test pushes a group of its own (a random odoo_instance) and deletes it afterwards. Waits poll with deadlines
of minutes; no assertion is about how long anything took.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _modrun import run_module
from node_lab import prom_query, prometheus

pytestmark = pytest.mark.lab
JOB = "governed_odoo_drill"


def http(method, url, timeout=30):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


def groups(pushgw):
    """The Pushgateway's groups: {odoo_instance: {metric name: value}} for job governed_odoo_drill."""
    out = {}
    for group in json.loads(http("GET", f"{pushgw}/api/v1/metrics")[1])["data"]:
        labels = group["labels"]
        if labels.get("job") != JOB:
            continue
        values = {}
        for name, family in group.items():
            # push_time_seconds and push_failure_time_seconds are the Pushgateway's own
            if isinstance(family, dict) and family.get("metrics") and not name.startswith("push_"):
                values[name] = float(family["metrics"][0]["value"])
        out[labels.get("odoo_instance")] = values
    return out


@pytest.fixture()
def instance():
    prom = prometheus()
    pushgw, promurl = prom["pushgateway_url"], prom["url"]
    name = f"mp{secrets.token_hex(4)}-prod"
    yield name, pushgw, promurl
    http("DELETE", f"{pushgw}/metrics/job/{JOB}/odoo_instance/{name}")


def args(pushgw, name, metrics):
    return {"url": pushgw, "job": JOB, "grouping": {"odoo_instance": name}, "metrics": metrics, "timeout": 30}


SAMPLES = [
    {"name": "governed_odoo_drill_success", "value": True, "labels": {"environment": "prod"}},
    {"name": "governed_odoo_drill_rto_seconds", "value": 812.5, "labels": {"environment": "prod"}},
    {"name": "governed_odoo_drill_rto_target_seconds", "value": 3600, "labels": {"environment": "prod"}},
]


def test_a_push_lands_on_the_pushgateway_and_prometheus_scrapes_it_with_its_own_labels(instance):
    name, pushgw, promurl = instance
    res = run_module("metrics_push", args(pushgw, name, SAMPLES))
    assert not res.get("failed") and res["changed"] and res["samples"] == 3, res
    assert groups(pushgw)[name] == {"governed_odoo_drill_success": 1.0, "governed_odoo_drill_rto_seconds": 812.5,
                                    "governed_odoo_drill_rto_target_seconds": 3600.0}
    # honor_labels: the pushed job and grouping labels, not the scrape job's
    deadline = time.monotonic() + 120
    found = []
    while time.monotonic() < deadline:
        found = prom_query(f'governed_odoo_drill_rto_seconds{{odoo_instance="{name}"}}', promurl)
        if found:
            break
        time.sleep(1)
    assert len(found) == 1, f"Prometheus never scraped the pushed group of {name}"
    assert found[0]["metric"]["job"] == JOB and found[0]["metric"]["environment"] == "prod"
    assert float(found[0]["value"][1]) == 812.5


def test_a_second_push_replaces_the_whole_group(instance):
    name, pushgw, _promurl = instance
    assert not run_module("metrics_push", args(pushgw, name, SAMPLES)).get("failed")
    failed = [{"name": "governed_odoo_drill_success", "value": False}]
    assert not run_module("metrics_push", args(pushgw, name, failed)).get("failed")
    # the RTO of the earlier run does not stand beside the failure
    assert groups(pushgw)[name] == {"governed_odoo_drill_success": 0.0}


def test_check_mode_and_refused_samples_send_nothing(instance):
    name, pushgw, _promurl = instance
    res = run_module("metrics_push", args(pushgw, name, SAMPLES), check_mode=True)
    assert res["changed"] and "governed_odoo_drill_rto_seconds{environment=\"prod\"} 812.5" in res["text"]
    bad = run_module("metrics_push", args(pushgw, name, [*SAMPLES, {"name": "drill-rto", "value": 1}]))
    assert bad["failed"] and "is not a Prometheus metric name" in bad["msg"]
    assert name not in groups(pushgw)


def test_a_pushgateway_that_is_not_there_fails_with_a_reason(instance):
    name, _pushgw, _promurl = instance
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = run_module("metrics_push", args(f"http://127.0.0.1:{port}", name, SAMPLES))
    assert res["failed"] and "did not take the metrics of governed_odoo_drill" in res["msg"], res
