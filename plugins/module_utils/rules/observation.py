# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of release observation (scope ``release``): the tolerance that the error rate and p95 latency after a
release are compared with (plugins/module_utils/observability.py). It reads ``observation_tolerance``, the
environment's defaults with the inventory's or the task's overrides on top."""

from __future__ import annotations

import math

from ansible_collections.governed.odoo.plugins.module_utils.observability import OBSERVATION_KEYS, TOLERANCE_KEYS
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import has_control_characters
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_RATIOS = ("max_error_rate_increase", "max_error_rate")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


@rule(
    "release.observation_tolerance",
    layer="release",
    scope="release",
    reads=("observation_tolerance",),
    refuses=(
        "a release observation tolerance with unknown keys, error-rate limits outside 0-1, a latency ratio below 1,"
        " a negative latency floor or p95 ceiling, or a minimum request count that is not a whole number"
    ),
    example="observation tolerance: max_error_rate=5 must be a number from 0 to 1 (a share of requests)",
)
def observation_tolerance(i):
    tol = i.get("observation_tolerance")
    if tol is None:
        # none given: the environment's defaults apply (a gate evaluation that observes nothing gives none)
        return
    if not isinstance(tol, dict):
        yield "observation tolerance: must be a mapping"
        return
    for key in sorted(set(tol) - set(TOLERANCE_KEYS)):
        yield f"observation tolerance: unknown key {key} (known: {', '.join(TOLERANCE_KEYS)})"
    for key in _RATIOS:
        if key in tol and not (_number(tol[key]) and 0 <= tol[key] <= 1):
            yield f"observation tolerance: {key}={tol[key]!r} must be a number from 0 to 1 (a share of requests)"
    if "max_latency_ratio" in tol and not (_number(tol["max_latency_ratio"]) and tol["max_latency_ratio"] >= 1):
        yield f"observation tolerance: max_latency_ratio={tol['max_latency_ratio']!r} must be a number of at least 1"
    floor = tol.get("min_latency_increase_seconds")
    if "min_latency_increase_seconds" in tol and not (_number(floor) and floor >= 0):
        yield f"observation tolerance: min_latency_increase_seconds={floor!r} must be a number of seconds, 0 or more"
    ceiling = tol.get("max_p95_seconds")
    if ceiling is not None and not (_number(ceiling) and ceiling > 0):
        yield f"observation tolerance: max_p95_seconds={ceiling!r} must be a number of seconds above 0, or null"
    minimum = tol.get("min_requests")
    if "min_requests" in tol and not (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum >= 1):
        yield f"observation tolerance: min_requests={minimum!r} must be a whole number of at least 1"


def _whole(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@rule(
    "release.observation_policy",
    layer="release",
    scope="release",
    reads=("policy",),
    refuses=(
        "an environment's release observation (release_observation) with unknown keys, a Prometheus URL that is"
        " not http(s) or holds a control character, windows outside 10-86400 seconds, a settle time outside"
        " 0-3600 seconds, a require_traffic that is not true or false, or a timeout that is not a positive number"
    ),
    example="release_observation.window_seconds=5 must be a whole number of seconds from 10 to 86400",
)
def observation_policy(i):
    policy = i.get("policy")
    observation = policy.get("observation") if isinstance(policy, dict) else None
    if observation in (None, {}):
        return
    if not isinstance(observation, dict):
        yield "release_observation must be a mapping (prometheus_url, window_seconds, settle_seconds, tolerance...)"
        return
    for key in sorted(set(observation) - set(OBSERVATION_KEYS)):
        yield f"release_observation: unknown key {key} (known: {', '.join(OBSERVATION_KEYS)})"
    url = observation.get("prometheus_url", "")
    if not isinstance(url, str) or has_control_characters(url) or (
            url and not (url.startswith(("http://", "https://")) and len(url.split("://", 1)[1]) > 0)):
        yield f"release_observation.prometheus_url={url!r} must be an http:// or https:// URL (empty: no observation)"
    if "window_seconds" in observation and not _whole(observation["window_seconds"], 10, 86400):
        yield (f"release_observation.window_seconds={observation['window_seconds']!r} must be a whole number of"
               " seconds from 10 to 86400")
    if "settle_seconds" in observation and not _whole(observation["settle_seconds"], 0, 3600):
        yield (f"release_observation.settle_seconds={observation['settle_seconds']!r} must be a whole number of"
               " seconds from 0 to 3600")
    if "require_traffic" in observation and not isinstance(observation["require_traffic"], bool):
        yield f"release_observation.require_traffic={observation['require_traffic']!r} must be true or false"
    timeout = observation.get("timeout", 30.0)
    if not (_number(timeout) and timeout > 0):
        yield f"release_observation.timeout={timeout!r} must be a number of seconds above 0"
