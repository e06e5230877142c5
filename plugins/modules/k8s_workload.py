#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_workload
short_description: Read a workload and its pods, or scale it and wait, with the collection's API client
version_added: 0.3.0
description:
  - Reads the workload O(name) (C(apps/v1) O(kind)) in O(namespace) and, with O(pod_selectors), the pods that match
    them, in one request each.
  - With O(replicas), scales the workload to that many replicas first (its C(scale) subresource) and, with O(wait),
    waits until its rollout status is ready at that size (for zero, until it counts no replica), watching it.
    A workload that does not exist cannot be scaled and fails the task.
  - Used by C(playbooks/promote.yml) and C(playbooks/rollback.yml) for the image the instance runs, the ready web
    pods to probe and the cron pods scaled to zero; with a local connection the action plugin runs this in the
    controller's process (no module process, no C(kubernetes) package to import).
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Supported; reads, and reports whether scaling would change the workload, without scaling it.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  namespace:
    description: Namespace of the workload and of the pods.
    type: str
    required: true
  kind:
    description: Kind of the workload.
    type: str
    choices: [Deployment, StatefulSet]
    default: Deployment
  name:
    description: Name of the workload.
    type: str
    required: true
  replicas:
    description: Scale the workload to this many replicas. If not set, the workload is only read.
    type: int
  wait:
    description: After scaling, wait until the workload's rollout status is ready at O(replicas).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait after scaling.
    type: int
    default: 600
  pod_selectors:
    description: Label selectors (C(key=value) each, all must match) of the pods to return in RV(pods).
    type: list
    elements: str
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with, overriding the kubeconfig's.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
"""

EXAMPLES = r"""
- name: Read the web Deployment and its pods
  governed.odoo.k8s_workload:
    namespace: odoo-civil-dev
    name: odoo-web
    pod_selectors: [app.kubernetes.io/name=odoo, app.kubernetes.io/component=web]
  register: web

- name: Scale the cron pods to zero
  governed.odoo.k8s_workload:
    namespace: odoo-civil-dev
    name: odoo-cron
    replicas: 0
"""

RETURN = r"""
object:
  description: The workload as last read (after scaling), null when it does not exist.
  returned: always
  type: dict
pods:
  description: The pods that match O(pod_selectors).
  returned: when O(pod_selectors) is set
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.promotion import task


def main():
    module = AnsibleModule(argument_spec=task.workload_argument_spec(), supports_check_mode=True)
    result, secrets = task.run_workload(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
