# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of release observation (scope ``release``): the tolerance that the error rate and p95 latency after a
release are compared with (plugins/module_utils/observability.py). It reads ``observation_tolerance``, the
environment's defaults with the inventory's or the task's overrides on top."""

from __future__ import annotations

import math

from ansible_collections.governed.odoo.plugins.module_utils.observability import TOLERANCE_KEYS
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
