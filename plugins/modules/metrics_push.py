#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: metrics_push
short_description: Push the metrics of a finished run (a DR drill) to a Prometheus Pushgateway
version_added: 0.1.0
description:
  - Replaces the metrics of one group (C(job) plus C(grouping) labels) on a Prometheus Pushgateway with the given
    samples (HTTP PUT), for runs that end before Prometheus could scrape them, such as a DR drill.
  - Prometheus scrapes the Pushgateway with C(honor_labels) so that the grouping labels stay on the samples; the
    monitoring role's alerts and dashboards read them (docs/monitoring.md).
  - Names, label names and the URL are checked before anything is sent (the URL by the rule
    C(monitoring.pushgateway_url), docs/rules.md).
  - Every push is a write (the Pushgateway also stamps the push time), so the task always reports a change; in
    check mode nothing is sent and the text that would be sent is returned.
author:
  - governed.odoo maintainers (@governed-odoo)
attributes:
  check_mode:
    description: Supported; nothing is sent.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  url:
    description: Base URL of the Pushgateway (C(http://host:9091)); no credentials in it.
    type: str
    required: true
  job:
    description: The group's C(job) label.
    type: str
    required: true
  grouping:
    description: The group's other labels (for example C(instance), C(environment)); one group per instance.
    type: dict
    default: {}
  metrics:
    description: The samples.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Metric name.
        type: str
        required: true
      value:
        description: Sample value (a number; true and false are 1 and 0).
        type: raw
        required: true
      help:
        description: HELP text.
        type: str
      type:
        description: Metric type.
        type: str
        choices: [gauge, counter, untyped]
        default: gauge
      labels:
        description: Labels of this sample beside the grouping labels.
        type: dict
  url_username:
    description: Basic auth user of a Pushgateway behind authentication.
    type: str
  url_password:
    description: Basic auth password.
    type: str
  timeout:
    description: Seconds to wait for the Pushgateway.
    type: float
    default: 30.0
  validate_certs:
    description: Verify the Pushgateway's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Publish the drill's RTO and RPO
  governed.odoo.metrics_push:
    url: "{{ monitoring_pushgateway_url }}"
    job: governed_odoo_drill
    grouping: {instance: building-prod}
    metrics:
      - {name: governed_odoo_drill_rto_seconds, value: 812, help: Recovery time of the last drill}
      - {name: governed_odoo_drill_success, value: true}
"""

RETURN = r"""
url:
  description: The group's URL on the Pushgateway.
  returned: always
  type: str
samples:
  description: Number of samples pushed (or that would be pushed in check mode).
  returned: always
  type: int
text:
  description: The exposition text sent (or that would be sent).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils import metrics as pushgw


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "job": {"type": "str", "required": True},
            "grouping": {"type": "dict", "default": {}},
            "metrics": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "value": {"type": "raw", "required": True},
                "help": {"type": "str"},
                "type": {"type": "str", "choices": ["gauge", "counter", "untyped"], "default": "gauge"},
                "labels": {"type": "dict"},
            }},
            "url_username": {"type": "str"},
            "url_password": {"type": "str", "no_log": True},
            "timeout": {"type": "float", "default": 30.0},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        text = pushgw.exposition(p["metrics"])
        url = pushgw.group_url(p["url"], p["job"], p["grouping"])
        if module.check_mode:
            module.exit_json(changed=True, url=url, samples=len(p["metrics"]), text=text)
        res = pushgw.push(p["url"], p["job"], p["grouping"], p["metrics"], timeout=p["timeout"],
                          validate_certs=p["validate_certs"], url_username=p["url_username"],
                          url_password=p["url_password"])
    except pushgw.MetricsError as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    module.exit_json(changed=True, url=res["url"], samples=res["samples"], text=text)


if __name__ == "__main__":
    main()
