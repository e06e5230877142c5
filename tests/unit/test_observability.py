"""Release observation (module_utils/observability.py, module release_observation) on Prometheus answers:
hand-made ones in the API's exact shape, and answers recorded from the lab's Prometheus scraping the lab's
Traefik (tests/fixtures/observability/, written by tests/fixtures/observability/record.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils import observability as obs
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import Refused

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "observability"
NS = "civil-prod"
SVC = f"{NS}-odoo-f64079a99a713c0fc097@kubernetescrd"  # as Traefik names a route's service
BOUNDS = ["0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def answer(samples, at):
    """A Prometheus instant-query answer (a vector) of ``[(labels, value)]`` at ``at``."""
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [at, repr(float(value))]} for labels, value in samples]}}


class Recorded:
    """Prometheus answers by (query, time); any other question fails the test."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def __call__(self, query, at):
        self.asked.append((query, at))
        key = f"{query} @ {at:.3f}"
        if key not in self.answers:
            raise AssertionError(f"unexpected question {key}; known: {sorted(self.answers)}")
        return self.answers[key]


def state(at, codes, latencies):
    """The counters of one instant: ``codes`` {code: count}, ``latencies`` a list of durations (all requests)."""
    sel = obs.traefik_service_selector(NS)
    requests = [({"__name__": obs.REQUESTS_METRIC, "service": SVC, "code": c, "method": "GET"}, n)
                for c, n in codes.items()]
    buckets = []
    for b in BOUNDS:
        le = math.inf if b == "+Inf" else float(b)
        buckets.append(({"__name__": obs.DURATION_BUCKET_METRIC, "service": SVC, "le": b},
                        sum(1 for x in latencies if x <= le)))
    return {f"{obs.REQUESTS_METRIC}{{{sel}}} @ {at:.3f}": answer(requests, at),
            f"{obs.DURATION_BUCKET_METRIC}{{{sel}}} @ {at:.3f}": answer(buckets, at)}


FAST = [0.004] * 100


def timeline():
    """t=100: 100 fast 200s; t=200: 200 fast 200s; t=300: +20 more, 10 of them 500s and 10 slow (2 s)."""
    out = {}
    out.update(state(100.0, {"200": 100}, FAST))
    out.update(state(200.0, {"200": 200}, FAST * 2))
    out.update(state(300.0, {"200": 210, "500": 10}, FAST * 2 + [0.003] * 10 + [2.0] * 10))
    return out


PARAMS = {"prometheus_url": "http://prometheus.invalid:9090", "namespace": NS, "environment": "prod",
          "tolerance": {}, "fail_on_degraded": False}


def test_one_selector_for_alerts_dashboards_and_observation():
    assert obs.traefik_service_selector("civil-prod") == 'service=~"civil-prod-odoo-[0-9a-f]{20}@kubernetescrd"'
    for bad in ("Civil", "a_b", "", None, 'x"}or{'):
        with pytest.raises(obs.ObservationError, match="DNS label"):
            obs.traefik_service_selector(bad)


@pytest.mark.parametrize(("buckets", "expected"), [
    # all in the first bucket: interpolated from 0
    ({0.025: 100, 0.05: 100, math.inf: 100}, 0.95 * 0.025),
    # half fast, half between 1 and 2.5: rank 95 of 100 is 90% into (1, 2.5]
    ({0.025: 50, 1.0: 50, 2.5: 100, math.inf: 100}, 1.0 + 1.5 * 0.9),
    # the rank falls in +Inf: the highest finite bound, as Prometheus answers
    ({0.1: 10, math.inf: 100}, 0.1),
    ({0.1: 0, math.inf: 0}, None),
    ({math.inf: 5}, None),
])
def test_histogram_quantile_is_prometheus_interpolation(buckets, expected):
    got = obs.histogram_quantile(0.95, buckets)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_an_identical_window_is_ok():
    # before and after both measure 100 fast 200s: (100, 200] and again, as the same shape twice
    before = obs.measure(Recorded(timeline()), obs.traefik_service_selector(NS), 100.0, 200.0)
    assert before["requests"] == 100 and before["errors"] == 0 and before["error_rate"] == 0
    assert before["p95_seconds"] == pytest.approx(0.95 * 0.025)
    verdict, reasons = obs.compare(before, dict(before), obs.effective_tolerance("prod"))
    assert (verdict, reasons) == ("ok", [])


def test_errors_and_slow_responses_are_degraded_with_reasons():
    fetch = Recorded(timeline())
    params = dict(PARAMS, before_start=100, before_end=200, after_start=200, after_end=300,
                  tolerance={"min_requests": 10})
    result = obs.run_task(params, fetch=fetch)
    assert result["verdict"] == "degraded"
    assert result["after"]["requests"] == 20 and result["after"]["errors"] == 10
    assert result["after"]["by_code"] == {"200": 10, "500": 10}
    assert result["after"]["p95_seconds"] == pytest.approx(1.0 + 1.5 * 0.9)
    text = " | ".join(result["reasons"])
    assert "error rate after the release 50.0% (10 of 20) is above max_error_rate 2.0%" in text
    assert "error rate rose from 0.0% to 50.0%" in text
    assert "p95 latency after the release 2.350s is above max_p95_seconds 5" not in text
    assert "p95 latency rose from 0.024s to 2.350s" in text
    # exactly the four instants, never a range query
    assert sorted({at for _query, at in fetch.asked}) == [100.0, 200.0, 300.0]
    assert result["selector"] == 'service=~"civil-prod-odoo-[0-9a-f]{20}@kubernetescrd"'


def test_too_few_requests_after_is_inconclusive_and_a_small_baseline_uses_the_ceilings_only():
    fetch = Recorded(timeline())
    result = obs.run_task(dict(PARAMS, before_start=100, before_end=200, after_start=200, after_end=300), fetch=fetch)
    assert result["verdict"] == "inconclusive"  # prod wants 50 requests, 20 came
    assert result["reasons"] == ["only 20 requests after the release (min_requests 50)"]
    small = {"requests": 3, "errors": 0, "error_rate": 0.0, "p95_seconds": 0.01}
    after = {"requests": 100, "errors": 1, "error_rate": 0.01, "p95_seconds": 3.0}
    verdict, reasons = obs.compare(small, after, obs.effective_tolerance("prod"))
    assert verdict == "ok" and "compared with the ceilings only" in reasons[0]


def test_a_counter_reset_inside_the_window_counts_from_zero():
    answers = {}
    answers.update(state(100.0, {"200": 500}, [0.004] * 500))
    answers.update(state(200.0, {"200": 40}, [0.004] * 40))  # Traefik restarted: 40 since
    got = obs.measure(Recorded(answers), obs.traefik_service_selector(NS), 100.0, 200.0)
    assert got["requests"] == 40 and got["counter_resets"] > 0


def test_latency_within_the_noise_floor_is_ok():
    tol = obs.effective_tolerance("staging")
    before = {"requests": 100, "errors": 0, "error_rate": 0.0, "p95_seconds": 0.02}
    after = {"requests": 100, "errors": 0, "error_rate": 0.0, "p95_seconds": 0.2}  # 10x, but +0.18 s
    assert obs.compare(before, after, tol) == ("ok", [])
    after["p95_seconds"] = 0.5
    assert obs.compare(before, after, tol)[0] == "degraded"


def test_an_invalid_tolerance_is_refused_before_prometheus_is_asked():
    def never(query, at):
        raise AssertionError("Prometheus asked despite an invalid tolerance")

    with pytest.raises(Refused) as exc:
        obs.run_task(dict(PARAMS, before_start=1, before_end=2, after_start=2, after_end=3,
                          tolerance={"max_error_rate": 5, "surprise": 1}), fetch=never)
    rules = {f.rule_id for f in exc.value.findings}
    assert rules == {"release.observation_tolerance"}
    assert "max_error_rate=5" in str(exc.value) and "unknown key surprise" in str(exc.value)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("before_end", "yesterday", "before_end='yesterday' must be Unix seconds"),
    ("after_start", "2026-12-06T10:00:00", "has no time zone"),
    ("after_start", 1.5, "starts .* before the window before it ends"),
])
def test_bad_windows_are_refused(field, value, match):
    params = dict(PARAMS, before_start=1, before_end=2, after_start=2, after_end=3)
    params[field] = value
    with pytest.raises(obs.ObservationError, match=match):
        obs.run_task(params, fetch=Recorded({}))


def test_rfc3339_times_and_prometheus_errors():
    assert obs.parse_time("2026-12-06T10:00:00Z", "t") == 1796551200.0
    with pytest.raises(obs.ObservationError, match="Prometheus refused"):
        obs.vector({"status": "error", "error": "parse error"}, "q")
    with pytest.raises(obs.ObservationError, match="not a vector"):
        obs.vector({"status": "success", "data": {"resultType": "matrix", "result": []}}, "q")
    with pytest.raises(obs.ObservationError, match="http:// or https://"):
        obs.PrometheusClient("file:///etc/passwd")


def _recorded():
    files = sorted(FIXTURES.glob("*.json"))
    if not files:
        pytest.fail(f"no recorded Prometheus answers in {FIXTURES}")
    return [json.loads(f.read_text()) for f in files]


def test_recorded_lab_answers_give_the_recorded_verdicts():
    """Answers recorded from the lab's real Prometheus and Traefik, replayed: same questions, same verdicts."""
    for rec in _recorded():
        for case in rec["cases"]:
            fetch = Recorded(rec["answers"])
            result = obs.run_task(dict(case["params"]), fetch=fetch)
            assert result["verdict"] == case["verdict"], (case["name"], result["reasons"])
            assert result["after"]["requests"] == case["after_requests"], case["name"]
