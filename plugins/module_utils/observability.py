# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release observation: the error rate and p95 latency of an instance's web traffic through Traefik, for a
window before and a window after a release, compared with the environment's tolerance.

One definition of "the instance's web traffic": :func:`traefik_service_selector`, the Traefik services of the
instance's IngressRoutes (roles/ingress: Service ``odoo``, ports 8069 and 8072). The monitoring role's alert
rules and dashboards take it from here too (the filter ``governed.odoo.traefik_service_selector``).

Each window ``[start, end]`` is measured from the counters' values at exactly two instants, read with instant
queries at explicit evaluation times (``/api/v1/query?time=``): requests by status code from
``traefik_service_requests_total`` and the latency histogram from
``traefik_service_request_duration_seconds_bucket``, series by series, so that a counter reset inside the window
(Traefik restarted) counts from zero instead of going negative. The p95 comes from the bucket differences with
Prometheus' own ``histogram_quantile`` interpolation. No ``rate()`` or ``increase()`` over a range: their
extrapolation depends on where the scrapes fall, the difference of two instants does not, so the same windows
always give the same numbers once Prometheus holds the samples.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import urllib.error
import urllib.parse

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError

REQUESTS_METRIC = "traefik_service_requests_total"
DURATION_BUCKET_METRIC = "traefik_service_request_duration_seconds_bucket"
# the Traefik services of an instance's routes (plugins/module_utils/manifests/ingress.py): the routes of IngressRoute
# "odoo" go to Service "odoo" on 8069 (HTTP) and 8072 (websocket). Traefik's CRD provider (default naming, no
# safeNaming) names a route's service "<namespace>-<IngressRoute>-<first 10 bytes of sha256(match), hex>"
# (pkg/provider/kubernetes/crd/name_builder.go, makeServiceKey), e.g. civil-prod-odoo-f64079a99a713c0fc097. The
# redirect-only route of IngressRoute "odoo-http" (<namespace>-odoo-http-<hex>) never reaches a service.
TRAEFIK_SERVICE_PATTERN = "{namespace}-odoo-[0-9a-f]{{20}}@kubernetescrd"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

VERDICTS = ("ok", "degraded", "inconclusive")

# tolerance key -> what it means (docs and the rule release.observation_tolerance)
TOLERANCE_KEYS = {
    "max_error_rate_increase": "the most the share of 5xx responses may rise, in points of 0-1 (0.01 = 1 point)",
    "max_error_rate": "the highest share of 5xx responses after the release, 0-1",
    "max_latency_ratio": "the most the p95 latency may grow, as a factor of the p95 before (at least 1)",
    "min_latency_increase_seconds": "a p95 growth smaller than this many seconds is never a degradation (noise)",
    "max_p95_seconds": "the highest p95 latency after the release, in seconds; null for no ceiling",
    "min_requests": "fewer requests than this in a window make it inconclusive (a whole number)",
}

_BASE_TOLERANCE = {
    "max_error_rate_increase": 0.05,
    "max_error_rate": 0.10,
    "max_latency_ratio": 2.0,
    "min_latency_increase_seconds": 0.5,
    "max_p95_seconds": None,
    "min_requests": 10,
}
# stricter towards production: prod tolerates one point more errors and 20% more p95 latency
DEFAULT_TOLERANCE = {
    "dev": dict(_BASE_TOLERANCE),
    "qa": dict(_BASE_TOLERANCE),
    "training": dict(_BASE_TOLERANCE),
    "staging": dict(_BASE_TOLERANCE, max_error_rate_increase=0.02, max_error_rate=0.05, max_latency_ratio=1.5,
                    min_latency_increase_seconds=0.25, min_requests=20),
    "uat": dict(_BASE_TOLERANCE, max_error_rate_increase=0.02, max_error_rate=0.05, max_latency_ratio=1.5,
                min_latency_increase_seconds=0.25, min_requests=20),
    "prod": dict(_BASE_TOLERANCE, max_error_rate_increase=0.01, max_error_rate=0.02, max_latency_ratio=1.2,
                 min_latency_increase_seconds=0.25, max_p95_seconds=5.0, min_requests=50),
}


# the environment policy's observation (release_observation): key -> (default, what it means)
OBSERVATION_KEYS = {
    "prometheus_url": ("", "base URL of the Prometheus HTTP API that scrapes the ingress; empty: no observation"),
    "window_seconds": (300, "length of each window, before the release and after it (seconds, 10-86400)"),
    "settle_seconds": (30, "seconds after the verified rollout before the window after it starts (0-3600)"),
    "tolerance": ({}, "overrides of the environment's tolerance (rule release.observation_tolerance)"),
    "require_traffic": (False, "an inconclusive comparison (too few requests) fails the promotion too"),
    "timeout": (30.0, "seconds to wait for each Prometheus answer"),
}


def observation_settings(observation):
    """The policy's observation with its defaults: ``enabled`` when a prometheus_url is set. Only valid input is
    expected (rule release.observation_policy refuses the rest first)."""
    given = observation if isinstance(observation, dict) else {}
    out = {key: given.get(key, default) for key, (default, _what) in OBSERVATION_KEYS.items()}
    out["enabled"] = bool(out["prometheus_url"])
    return out


def observation_tolerance(environment, observation):
    """The tolerance a promotion to ``environment`` compares with, for rule release.observation_tolerance: None when
    the policy observes nothing; the overrides as given when they are not a mapping (the rule names that)."""
    settings = observation_settings(observation)
    if not settings["enabled"]:
        return None
    tolerance = settings["tolerance"]
    if not isinstance(tolerance, dict) or environment not in DEFAULT_TOLERANCE:
        return tolerance
    return effective_tolerance(environment, tolerance)


class ObservationError(GovernedError):
    """Prometheus cannot be read, or answered something that is not a Prometheus answer."""

    kind = "observation"


def traefik_service_selector(namespace):
    """The PromQL label matcher of an instance's Traefik services:
    ``service=~"<namespace>-odoo-[0-9a-f]{20}@kubernetescrd"``."""
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
        raise ObservationError(f"namespace={namespace!r} must be a Kubernetes namespace name (a DNS label)")
    return 'service=~"' + TRAEFIK_SERVICE_PATTERN.format(namespace=namespace) + '"'


def effective_tolerance(environment, overrides=None):
    """The environment's default tolerance with ``overrides`` on top (checked by rule
    release.observation_tolerance, not here)."""
    if environment not in DEFAULT_TOLERANCE:
        raise ObservationError(f"environment={environment!r} is not one of {', '.join(DEFAULT_TOLERANCE)}")
    out = dict(DEFAULT_TOLERANCE[environment])
    out.update(overrides or {})
    return out


def parse_time(value, name):
    """Unix seconds (a number or its text) or RFC 3339 text with a zone, as float Unix seconds."""
    if isinstance(value, bool):
        raise ObservationError(f"{name}={value!r} must be Unix seconds or an RFC 3339 time with a zone")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ObservationError(f"{name}={value!r} must be Unix seconds or an RFC 3339 time with a zone") from None
    if when.tzinfo is None:
        raise ObservationError(f"{name}={value!r} has no time zone (add Z or an offset)")
    return when.timestamp()


class PrometheusClient:
    """Instant queries against the Prometheus HTTP API (``GET /api/v1/query``), never through a proxy."""

    def __init__(self, url, timeout=30.0, headers=None, opener=None):
        # urllib.request (http.client, ssl, email) is imported where it is used: the monitoring role's render loads
        # this module (traefik_service_selector) in every forked worker, and it was most of what that import cost
        from urllib.request import ProxyHandler, build_opener

        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ObservationError(f"prometheus_url={url!r} must be an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._opener = opener or build_opener(ProxyHandler({}))

    def fetch(self, query, at):
        """The raw JSON answer of an instant query evaluated at Unix time ``at``."""
        from urllib.request import Request

        params = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
        req = Request(f"{self.url}/api/v1/query?{params}", headers=self.headers)  # noqa: S310 - http(s) only
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            raise ObservationError(f"Prometheus at {self.url} answered HTTP {exc.code} to {query!r}: "
                                   f"{body[:300].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ObservationError(f"cannot reach Prometheus at {self.url}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ObservationError(f"Prometheus at {self.url} did not answer JSON to {query!r}") from None


def vector(answer, query):
    """``[(labels, value)]`` of an instant query's answer (a vector), or ObservationError."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise ObservationError(f"Prometheus refused {query!r}: {error or answer!r}")
    data = answer.get("data") or {}
    if data.get("resultType") != "vector":
        raise ObservationError(f"Prometheus answered {data.get('resultType')!r} to {query!r}, not a vector")
    out = []
    for item in data.get("result") or []:
        labels = dict(item.get("metric") or {})
        labels.pop("__name__", None)
        out.append((labels, float(item["value"][1])))
    return out


def _series_key(labels):
    return tuple(sorted(labels.items()))


def counters_at(fetch, selector, at):
    """Every request counter and latency bucket series of ``selector`` at Unix time ``at``:
    ``{"requests": {key: (labels, value)}, "buckets": {key: (labels, value)}}``."""
    out = {}
    for name, metric in (("requests", REQUESTS_METRIC), ("buckets", DURATION_BUCKET_METRIC)):
        query = f"{metric}{{{selector}}}"
        out[name] = {_series_key(labels): (labels, value) for labels, value in vector(fetch(query, at), query)}
    return out


def _deltas(first, last):
    """Per-series increase from ``first`` to ``last``; a series that went down was reset: it counts from 0.
    Returns (list of (labels, delta), number of resets)."""
    resets = 0
    out = []
    for key, (labels, end) in last.items():
        start = first.get(key, (labels, 0.0))[1]
        if end < start:
            resets += 1
            start = 0.0
        out.append((labels, end - start))
    return out, resets


def histogram_quantile(q, buckets):
    """Prometheus' histogram_quantile over ``{upper bound: cumulative count}`` (with +Inf); None without data."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return None
    counts = []
    for b in bounds:  # cumulative counts of a sum of series can come out non-monotonic: as Prometheus does
        counts.append(max(buckets[b], counts[-1] if counts else 0.0))
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    idx = next(i for i, c in enumerate(counts) if c >= rank)
    if idx == len(bounds) - 1:
        return bounds[-2]
    if idx == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if idx == 0 else bounds[idx - 1]
    below = 0.0 if idx == 0 else counts[idx - 1]
    in_bucket = counts[idx] - below
    return start + (bounds[idx] - start) * ((rank - below) / in_bucket)


def measure(fetch, selector, start, end):
    """Requests, 5xx errors, error rate and p95 latency of the window [start, end]."""
    if end <= start:
        raise ObservationError(f"a window must end after it starts (start {start}, end {end})")
    first, last = counters_at(fetch, selector, start), counters_at(fetch, selector, end)
    requests, resets = _deltas(first["requests"], last["requests"])
    buckets, bucket_resets = _deltas(first["buckets"], last["buckets"])
    total = sum(d for _labels, d in requests)
    errors = sum(d for labels, d in requests if str(labels.get("code", "")).startswith("5"))
    by_code = {}
    for labels, d in requests:
        code = str(labels.get("code", "unknown"))
        by_code[code] = by_code.get(code, 0) + round(d)
    by_le = {}
    for labels, d in buckets:
        le = float(labels.get("le", "nan").replace("+Inf", "inf"))
        if not math.isnan(le):
            by_le[le] = by_le.get(le, 0.0) + d
    p95 = histogram_quantile(0.95, by_le)
    return {
        "start": start,
        "end": end,
        "requests": round(total),
        "errors": round(errors),
        "error_rate": (errors / total) if total > 0 else None,
        "p95_seconds": p95,
        "by_code": dict(sorted(by_code.items())),
        "counter_resets": resets + bucket_resets,
    }


def _pct(x):
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _secs(x):
    return "n/a" if x is None else f"{x:.3f}s"


def compare(before, after, tolerance):
    """(verdict, reasons) of the window after a release against the window before, under ``tolerance``.

    degraded: the error rate after exceeds max_error_rate or rose by more than max_error_rate_increase, or the
    p95 after exceeds max_p95_seconds or grew by more than max_latency_ratio and by more than
    min_latency_increase_seconds. inconclusive: fewer than min_requests after the release (nothing to judge).
    A baseline with fewer than min_requests is not compared with; the ceilings still apply.
    """
    reasons, notes = [], []
    minimum = int(tolerance["min_requests"])
    if after["requests"] < minimum:
        return "inconclusive", [f"only {after['requests']} requests after the release (min_requests {minimum})"]
    baseline = before["requests"] >= minimum
    if not baseline:
        notes.append(f"only {before['requests']} requests before the release (min_requests {minimum}):"
                     " compared with the ceilings only")
    err_b, err_a = before["error_rate"] or 0.0, after["error_rate"] or 0.0
    if err_a > float(tolerance["max_error_rate"]):
        reasons.append(f"error rate after the release {_pct(err_a)} ({after['errors']} of {after['requests']})"
                       f" is above max_error_rate {_pct(float(tolerance['max_error_rate']))}")
    if baseline and err_a - err_b > float(tolerance["max_error_rate_increase"]):
        reasons.append(f"error rate rose from {_pct(err_b)} to {_pct(err_a)}, more than max_error_rate_increase"
                       f" {_pct(float(tolerance['max_error_rate_increase']))}")
    p95_b, p95_a = before["p95_seconds"], after["p95_seconds"]
    ceiling = tolerance.get("max_p95_seconds")
    if ceiling is not None and p95_a is not None and p95_a > float(ceiling):
        reasons.append(f"p95 latency after the release {_secs(p95_a)} is above max_p95_seconds {_secs(float(ceiling))}")
    if baseline and p95_a is not None and p95_b is not None:
        ratio, floor = float(tolerance["max_latency_ratio"]), float(tolerance["min_latency_increase_seconds"])
        if p95_a > p95_b * ratio and p95_a - p95_b > floor:
            reasons.append(f"p95 latency rose from {_secs(p95_b)} to {_secs(p95_a)}, more than max_latency_ratio"
                           f" {ratio:g}x and more than min_latency_increase_seconds {floor:g}s")
    return ("degraded" if reasons else "ok"), reasons + notes


def observe(fetch, namespace, before, after, tolerance):
    """Measure both windows of ``namespace`` (each ``(start, end)`` in Unix seconds) and compare them."""
    selector = traefik_service_selector(namespace)
    measured_before = measure(fetch, selector, *before)
    measured_after = measure(fetch, selector, *after)
    verdict, reasons = compare(measured_before, measured_after, tolerance)
    return {
        "verdict": verdict,
        "reasons": reasons,
        "selector": selector,
        "before": measured_before,
        "after": measured_after,
        "tolerance": dict(tolerance),
    }


# --- the module's task ------------------------------------------------------------------------------------------
def argument_spec():
    """Options of governed.odoo.release_observation."""
    return {
        "prometheus_url": {"type": "str", "required": True},
        "prometheus_bearer_token": {"type": "str", "no_log": True},
        "timeout": {"type": "float", "default": 30.0},
        "namespace": {"type": "str", "required": True},
        "environment": {"type": "str", "required": True, "choices": list(DEFAULT_TOLERANCE)},
        "tolerance": {"type": "dict", "default": {}},
        "before_start": {"type": "raw", "required": True},
        "before_end": {"type": "raw", "required": True},
        "after_start": {"type": "raw", "required": True},
        "after_end": {"type": "raw", "required": True},
        "fail_on_degraded": {"type": "bool", "default": False},
    }


def run_task(params, fetch=None):
    """The module's work: check the tolerance (rule release.observation_tolerance), measure, compare.

    Returns the result; raises Refused (an invalid tolerance) or ObservationError. ``fetch`` replaces the HTTP
    client (unit tests hand in recorded Prometheus answers)."""
    from ansible_collections.governed.odoo.plugins.module_utils.rules import engine

    tolerance = effective_tolerance(params["environment"], params.get("tolerance"))
    engine.enforce([engine.load_all()["release.observation_tolerance"]], {"observation_tolerance": tolerance})
    before = (parse_time(params["before_start"], "before_start"), parse_time(params["before_end"], "before_end"))
    after = (parse_time(params["after_start"], "after_start"), parse_time(params["after_end"], "after_end"))
    if after[0] < before[1]:
        raise ObservationError(f"the window after the release starts ({after[0]}) before the window before it ends"
                               f" ({before[1]})")
    if fetch is None:
        headers = {}
        if params.get("prometheus_bearer_token"):
            headers["Authorization"] = f"Bearer {params['prometheus_bearer_token']}"
        fetch = PrometheusClient(params["prometheus_url"], timeout=params.get("timeout") or 30.0, headers=headers).fetch
    result = observe(fetch, params["namespace"], before, after, tolerance)
    result["environment"] = params["environment"]
    result["changed"] = False
    return result
