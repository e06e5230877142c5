"""governed.odoo.release_observation against the lab's real Prometheus scraping the lab's real Traefik.

A stand-in Odoo backend binds the ClusterIP of Service ``odoo`` (port 8069) in a namespace of its own, an
IngressRoute routes to it, and the test sends real requests through Traefik. Deterministic by construction:

* after each phase of traffic the test polls Prometheus' raw samples until one scrape shows Traefik's request
  counter AND its latency histogram count equal to the baseline plus every request sent so far, and takes that
  scrape's own timestamp as the boundary between phases. Nothing is sent between the scrape and the start of
  the next phase, so each window holds exactly one phase, whatever the load;
* the module measures each window as the difference of the counters at two of those timestamps (instant
  queries at explicit times), never rate()/increase() over a range;
* contrasts are large: 0% errors and millisecond answers against 50% errors and 2 s answers, with a latency
  noise floor of 1.5 s;
* every wait polls with a deadline of minutes, and no assertion is about how long anything took.

Set OBSERVABILITY_RECORD=<file.json> to also write the Prometheus answers of the run for the unit tests
(tests/fixtures/observability/).
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from _modrun import run_module
from ansible_collections.governed.odoo.plugins.module_utils import observability as obs
from node_lab import prom_query

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
DEADLINE = 300  # seconds for every wait: minutes, so that a loaded machine only makes the test slower
# generous on purpose: healthy answers on a loaded machine must never look degraded, 2 s answers always must
TOLERANCE = {"min_requests": 10, "max_latency_ratio": 2.0, "min_latency_increase_seconds": 1.5,
             "max_error_rate_increase": 0.05, "max_error_rate": 0.10, "max_p95_seconds": None}


@pytest.fixture(scope="module")
def lab():
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up")
    conn = json.loads(path.read_text())
    for part in ("controlplane", "traefik", "prometheus"):
        if not conn.get(part):
            pytest.skip(f"lab component {part} is not in connection.json: run scripts/lab up")
    try:
        NO_PROXY.open(f"{conn['prometheus']['url']}/-/ready", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"the lab's Prometheus does not answer ({exc}): run scripts/lab up")
    return conn


class Backend:
    """Stand-in Odoo on <ClusterIP>:8069: /ok answers 200 at once, /fail 500, /slow 200 after 2 s."""

    def __init__(self, host, port):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/slow"):
                    time.sleep(2.0)
                code = 500 if self.path.startswith("/fail") else 200
                body = b"stand-in odoo\n"
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def instance(lab):
    cp = lab["controlplane"]
    base = [cp["kubectl"], "--kubeconfig", cp["kubeconfig"]]

    def kubectl(*args, stdin=None, check=True):
        res = subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, timeout=DEADLINE,
                             check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {res.stderr}")
        return res

    ns = f"obs-lab-{secrets.token_hex(3)}"
    host = f"{ns}.lab.test"
    kubectl("create", "namespace", ns)
    backend = None
    try:
        objs = [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odoo", "namespace": ns},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "odoo"}},
                      "template": {"metadata": {"labels": {"app": "odoo"}},
                                   "spec": {"containers": [{"name": "odoo", "image": "registry.invalid/odoo:1",
                                                            "ports": [{"containerPort": 8069}]}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odoo", "namespace": ns},
             "spec": {"selector": {"app": "odoo"}, "ports": [{"name": "http", "port": 8069, "targetPort": 8069}]}},
        ]
        kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
        kubectl("rollout", "status", "-n", ns, "deployment/odoo", f"--timeout={DEADLINE}s")
        cluster_ip = kubectl("get", "-n", ns, "service", "odoo", "-o", "jsonpath={.spec.clusterIP}").stdout.strip()
        backend = Backend(cluster_ip, 8069)
        # the same IngressRoute shape as roles/ingress (route to Service odoo, port 8069), on the web entry point
        route = {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
                 "metadata": {"name": "odoo", "namespace": ns},
                 "spec": {"entryPoints": ["web"],
                          "routes": [{"kind": "Rule", "match": f"Host(`{host}`)",
                                      "services": [{"name": "odoo", "port": 8069}]}]}}
        kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(route))
        yield {"ns": ns, "host": host, "backend": backend, "web": lab["traefik"]["web"],
               "prometheus": lab["prometheus"]["url"]}
    finally:
        if backend is not None:
            backend.close()
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _get(inst, path):
    req = urllib.request.Request(f"{inst['web']}{path}", headers={"Host": inst["host"]})
    try:
        with NO_PROXY.open(req, timeout=DEADLINE) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _wait_routed(inst):
    """Until Traefik routes to the backend (it watches the API server); before that it answers 404 itself."""
    deadline = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < deadline:
        try:
            last = _get(inst, "/ok")
        except OSError as exc:
            last = repr(exc)
        if last == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"Traefik never routed {inst['host']} to the stand-in backend; last answer {last!r}")


def _sums_by_timestamp(prom, query):
    """{sample timestamp: sum over the series} of the raw samples of ``query`` over the last 5 minutes."""
    out = {}
    for series in prom_query(f"{query}[5m]", prom):
        for ts, value in series["values"]:
            out[float(ts)] = out.get(float(ts), 0.0) + float(value)
    return out


def _boundary(inst, want=None, not_before=0.0):
    """(timestamp, count) of a scrape in which Traefik's request counter and latency histogram of the instance
    both count ``want`` requests (no traffic is in flight when this is called). With ``want`` None: the first
    scrape at or after ``not_before`` in which both agree (the baseline after the warm-up)."""
    sel = obs.traefik_service_selector(inst["ns"])
    deadline = time.monotonic() + DEADLINE
    seen = None
    while time.monotonic() < deadline:
        reqs = _sums_by_timestamp(inst["prometheus"], f"{obs.REQUESTS_METRIC}{{{sel}}}")
        counts = _sums_by_timestamp(inst["prometheus"], f"traefik_service_request_duration_seconds_count{{{sel}}}")
        both = sorted(ts for ts in reqs if counts.get(ts) == reqs[ts] and ts >= not_before
                      and (want is None or reqs[ts] == want))
        if both:
            ts = both[0] if want is None else both[-1]
            return ts, reqs[ts]
        seen = (max(reqs.items(), default=None), max(counts.items(), default=None))
        time.sleep(1.0)
    raise AssertionError(f"no scrape of Traefik counted {want} requests of {sel} within {DEADLINE}s; latest {seen}")


def _traffic(inst, paths, workers=1):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: _get(inst, p), paths))


def _observe(inst, before, after, record=None, name=""):
    params = {"prometheus_url": inst["prometheus"], "namespace": inst["ns"], "environment": "dev",
              "tolerance": TOLERANCE, "before_start": before[0], "before_end": before[1],
              "after_start": after[0], "after_end": after[1]}
    result = run_module("release_observation", params)
    assert not result.get("failed"), result
    if record is not None:
        client = obs.PrometheusClient(inst["prometheus"])

        def fetch(query, at):
            answer = client.fetch(query, at)
            record["answers"][f"{query} @ {at:.3f}"] = answer
            return answer

        again = obs.run_task(dict(params, fail_on_degraded=False), fetch=fetch)
        assert again["verdict"] == result["verdict"]
        params = dict(params, prometheus_url="http://prometheus.invalid:9090", fail_on_degraded=False)
        record["cases"].append({"name": name, "params": params, "verdict": result["verdict"],
                                "after_requests": result["after"]["requests"]})
    return result


def test_healthy_window_against_an_identical_one_is_ok_and_errors_with_slow_answers_are_degraded(instance):
    inst = instance
    record = {"cases": [], "answers": {}} if os.environ.get("OBSERVABILITY_RECORD") else None
    _wait_routed(inst)
    # the warm-up's requests are counted before its last answer arrives; a scrape 2 s later has them all
    b0, base = _boundary(inst, not_before=time.time() + 2.0)
    assert set(_traffic(inst, ["/ok"] * 40)) == {200}
    b1, _count = _boundary(inst, base + 40)
    assert set(_traffic(inst, ["/ok"] * 40)) == {200}
    b2, _count = _boundary(inst, base + 80)
    bad = ["/fail", "/slow"] * 10
    assert sorted(_traffic(inst, bad, workers=10)) == [200] * 10 + [500] * 10
    b3, _count = _boundary(inst, base + 100)
    assert b0 < b1 < b2 < b3

    healthy = _observe(inst, (b0, b1), (b1, b2), record, "healthy after healthy")
    assert healthy["before"]["requests"] == 40 and healthy["after"]["requests"] == 40, healthy
    assert healthy["before"]["errors"] == 0 and healthy["after"]["errors"] == 0, healthy
    assert healthy["verdict"] == "ok", healthy

    degraded = _observe(inst, (b1, b2), (b2, b3), record, "errors and slow answers after healthy")
    assert degraded["after"]["requests"] == 20 and degraded["after"]["errors"] == 10, degraded
    assert degraded["after"]["by_code"] == {"200": 10, "500": 10}, degraded
    assert degraded["after"]["p95_seconds"] >= 2.0, degraded
    assert degraded["verdict"] == "degraded", degraded
    reasons = " | ".join(degraded["reasons"])
    assert "error rate rose from 0.0% to 50.0%" in reasons and "p95 latency rose from" in reasons, reasons

    for name, r in (("healthy", healthy), ("degraded", degraded)):
        print(f"\n{name}: {r['verdict']}; before {r['before']['requests']} req, {r['before']['errors']} 5xx, p95 "
              f"{r['before']['p95_seconds']:.3f}s; after {r['after']['requests']} req, {r['after']['errors']} 5xx, p95 "
              f"{r['after']['p95_seconds']:.3f}s; windows {r['before']['end'] - r['before']['start']:.0f}s and "
              f"{r['after']['end'] - r['after']['start']:.0f}s")
    # the same windows asked again give the same numbers (the samples are in Prometheus for good)
    again = _observe(inst, (b1, b2), (b2, b3))
    assert again["before"] == degraded["before"] and again["after"] == degraded["after"]
    if record is not None:
        Path(os.environ["OBSERVABILITY_RECORD"]).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
