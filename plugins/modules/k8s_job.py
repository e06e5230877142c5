#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_job
short_description: Run one Kubernetes Job to its end and report its outcome and its pods' last log lines
version_added: 0.3.0
description:
  - Creates the Job O(manifest), waits until it succeeded or failed (or O(timeout) passed), collects the last log
    lines of its pods, and deletes it with its pods unless O(keep=true).
  - Fails when the Job failed or timed out; the message carries the pods' last log lines. Used by
    C(playbooks/promote.yml) for a release's migration (C(odoo -u ... --stop-after-init)) and for the health
    probe that runs inside the cluster network.
  - A Job of the same name must not exist; name each run's Job apart.
  - With a local connection the action plugin runs this in the controller's process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Supported; nothing is created, the result says the Job was not run.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  manifest:
    description: The Job, a full manifest with C(metadata.name) and C(metadata.namespace).
    type: dict
    required: true
  timeout:
    description: Seconds to wait for the Job to succeed or fail.
    type: int
    default: 1800
  keep:
    description: Keep the Job and its pods afterwards (to inspect them).
    type: bool
    default: false
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with, overriding the kubeconfig's.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
"""

EXAMPLES = r"""
- name: Run the migration of the release
  governed.odoo.k8s_job:
    manifest: "{{ odoo_migration_job }}"
    timeout: 3600
"""

RETURN = r"""
job:
  description: Name of the Job.
  returned: always
  type: str
namespace:
  description: Namespace of the Job.
  returned: always
  type: str
outcome:
  description: V(succeeded), V(failed), V(timeout), or V(not run (check mode)).
  returned: always
  type: str
pods:
  description: The Job's pods with C(pod), C(phase) and C(log) (the last lines).
  returned: always
  type: list
  elements: dict
status:
  description: The Job's status as last read.
  returned: when the Job ran
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.promotion import task


def main():
    module = AnsibleModule(argument_spec=task.job_argument_spec(), supports_check_mode=True)
    result, secrets = task.run_job_task(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
