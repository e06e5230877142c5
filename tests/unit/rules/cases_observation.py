"""For the release observation rule: tolerances that trigger it and tolerances that pass it (see cases_redis.py)."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.observability import DEFAULT_TOLERANCE


def _tol(**kw):
    return {"observation_tolerance": dict(DEFAULT_TOLERANCE["prod"], **kw)}


def _obs(**kw):
    return {"policy": {"observation": dict({"prometheus_url": "http://prometheus.monitoring.svc:9090"}, **kw)}}


CASES = {
    "release.observation_tolerance": {
        "bad": [
            (_tol(max_error_rate=5), "observation tolerance: max_error_rate=5 must be a number from 0 to 1"),
            (_tol(max_error_rate_increase=-0.1), "max_error_rate_increase=-0.1 must be a number from 0 to 1"),
            (_tol(max_error_rate="0.1"), None),
            (_tol(max_latency_ratio=0.5), "max_latency_ratio=0.5 must be a number of at least 1"),
            (_tol(max_latency_ratio=True), None),
            (_tol(min_latency_increase_seconds=-1), "min_latency_increase_seconds=-1 must be a number of seconds"),
            (_tol(max_p95_seconds=0), "max_p95_seconds=0 must be a number of seconds above 0, or null"),
            (_tol(min_requests=2.5), "min_requests=2.5 must be a whole number of at least 1"),
            (_tol(min_requests=0), None),
            (_tol(max_error_rate=float("nan")), None),
            (_tol(error_budget=0.1), "observation tolerance: unknown key error_budget"),
            ({"observation_tolerance": "strict"}, "observation tolerance: must be a mapping"),
        ],
        "good": [
            *({"observation_tolerance": dict(t)} for t in DEFAULT_TOLERANCE.values()),
            _tol(max_p95_seconds=None, max_latency_ratio=1, min_latency_increase_seconds=0, max_error_rate=1),
            {"observation_tolerance": {}},
            {},
        ],
    },
    "release.observation_policy": {
        "bad": [
            (_obs(window_seconds=5), "release_observation.window_seconds=5 must be a whole number of seconds from 10"),
            (_obs(window_seconds="300"), "window_seconds='300' must be a whole number"),
            (_obs(window_seconds=True), "window_seconds=True"),
            (_obs(settle_seconds=-1), "release_observation.settle_seconds=-1 must be a whole number"),
            (_obs(prometheus_url="prometheus:9090"), "prometheus_url='prometheus:9090' must be an http:// or https://"),
            (_obs(prometheus_url="http://p\n:9090"), "must be an http:// or https:// URL"),
            (_obs(prometheus_url=9090), "prometheus_url=9090"),
            (_obs(require_traffic="yes"), "release_observation.require_traffic='yes' must be true or false"),
            (_obs(timeout=0), "release_observation.timeout=0 must be a number of seconds above 0"),
            (_obs(window=300), "release_observation: unknown key window (known: prometheus_url"),
            ({"policy": {"observation": "on"}}, "release_observation must be a mapping"),
        ],
        "good": [
            _obs(),
            _obs(window_seconds=10, settle_seconds=0, require_traffic=True, timeout=5,
                 tolerance={"min_requests": 3}),
            _obs(prometheus_url="", window_seconds=86400, settle_seconds=3600),
            {"policy": {"observation": {}}},
            {"policy": {}},
            {},
        ],
    },
}
