#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_observation
short_description: Compare an instance's web error rate and p95 latency before and after a release
version_added: 0.1.0
description:
  - Reads the instance's Traefik request counters and latency histograms from Prometheus for a window before and
    a window after a release and compares them with the environment's tolerance.
  - The instance's traffic is that of the Traefik services of its IngressRoute C(odoo), the same selector as
    the monitoring role's alert rules and dashboards (C(service=~"<namespace>-odoo-[0-9a-f]{20}@kubernetescrd")).
  - Each window is the difference of the counters at its two instants (instant queries at explicit times), series
    by series (a counter reset counts from zero); the p95 comes from the bucket differences with Prometheus'
    C(histogram_quantile) interpolation. The same windows always give the same result.
  - Verdict C(degraded) when the share of 5xx responses after the release is above C(max_error_rate) or rose by
    more than C(max_error_rate_increase), or when the p95 latency is above C(max_p95_seconds) or grew by more
    than C(max_latency_ratio) times and more than C(min_latency_increase_seconds); C(inconclusive) when fewer than
    C(min_requests) requests came after the release; otherwise C(ok).
  - Refuses an invalid tolerance (rule C(release.observation_tolerance), docs/rules.md) before reading anything.
  - Only reads, so check mode runs it the same way.
author:
  - governed.odoo maintainers (@governed-odoo)
attributes:
  check_mode:
    description: Supported; the module only reads from Prometheus.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  prometheus_url:
    description: Base URL of the Prometheus HTTP API (without C(/api/v1)).
    type: str
    required: true
  prometheus_bearer_token:
    description: Bearer token for a Prometheus behind authentication.
    type: str
  timeout:
    description: Seconds to wait for each Prometheus answer.
    type: float
    default: 30.0
  namespace:
    description: Kubernetes namespace of the instance (its Traefik services are named after it).
    type: str
    required: true
  environment:
    description: Environment of the instance; picks the default tolerance.
    type: str
    required: true
    choices: [dev, qa, training, staging, uat, prod]
  tolerance:
    description:
      - Overrides of the environment's tolerance; keys C(max_error_rate_increase) and C(max_error_rate) (shares
        of requests, 0-1), C(max_latency_ratio) (at least 1), C(min_latency_increase_seconds),
        C(max_p95_seconds) (null for no ceiling) and C(min_requests).
    type: dict
    default: {}
  before_start:
    description: Start of the window before the release, Unix seconds or RFC 3339 with a zone.
    type: raw
    required: true
  before_end:
    description: End of the window before the release.
    type: raw
    required: true
  after_start:
    description: Start of the window after the release; not before O(before_end).
    type: raw
    required: true
  after_end:
    description: End of the window after the release.
    type: raw
    required: true
  fail_on_degraded:
    description: Fail the task when the verdict is C(degraded).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Compare the 10 minutes after the rollout with the 10 minutes before it
  governed.odoo.release_observation:
    prometheus_url: http://prometheus.monitoring.svc:9090
    namespace: "{{ governed_odoo_namespace }}"
    environment: "{{ governed_odoo_environment }}"
    before_start: "{{ rollout_started | float - 600 }}"
    before_end: "{{ rollout_started }}"
    after_start: "{{ rollout_finished }}"
    after_end: "{{ rollout_finished | float + 600 }}"
  register: observation
"""

RETURN = r"""
verdict:
  description: C(ok), C(degraded) or C(inconclusive).
  returned: always
  type: str
reasons:
  description: Why the verdict is not C(ok), and notes (a baseline too small to compare with).
  returned: always
  type: list
  elements: str
selector:
  description: The PromQL label matcher of the instance's Traefik services.
  returned: always
  type: str
before:
  description:
    - The window before - C(start), C(end), C(requests), C(errors) (5xx), C(error_rate), C(p95_seconds),
      C(by_code) (requests by status code) and C(counter_resets).
  returned: always
  type: dict
after:
  description: The window after, with the same keys as RV(before).
  returned: always
  type: dict
tolerance:
  description: The tolerance compared with (the environment's defaults with O(tolerance) on top).
  returned: always
  type: dict
environment:
  description: The environment whose tolerance applied.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils import observability
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


def main():
    module = AnsibleModule(argument_spec=observability.argument_spec(), supports_check_mode=True)
    try:
        result = observability.run_task(module.params)
    except GovernedError as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    if module.params["fail_on_degraded"] and result["verdict"] == "degraded":
        module.fail_json(msg="release observation: degraded: " + "; ".join(result["reasons"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
