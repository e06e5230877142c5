#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: promotion_lock
short_description: Take or give back the promotion lock of an Odoo instance (a Kubernetes Lease)
version_added: 0.3.0
description:
  - Serializes the runs that change an instance's release - promotions, rollbacks, restores - with one
    C(coordination.k8s.io/v1) Lease per instance in its namespace, naming the run that holds it
    (C(spec.holderIdentity)) and when that run's hold expires (C(renewTime) plus C(leaseDurationSeconds)).
  - Every write is conditional. A missing Lease is created (a second creator gets AlreadyExists); an expired one,
    or this holder's own, is replaced with the C(resourceVersion) that was read (a run that raced and lost gets
    Conflict). So of several runs that race for the lock exactly one gets it, and the others are refused naming
    the winner.
  - A Lease held by another run that has not expired refuses the lock, naming the holder, what it does
    (O(operation)) and until when. A lock left by a killed run is taken over once it expired.
  - O(state=released) deletes the Lease (with the C(resourceVersion) precondition) only while O(holder) holds it;
    a lock that expired and was taken over by another run is left alone, with a warning.
  - With a local connection the action plugin runs this in the controller's process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Supported; reads the Lease and reports whether the lock would be taken or given back, writes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  namespace:
    description: Namespace of the instance; the Lease lives there.
    type: str
    required: true
  name:
    description: Name of the Lease.
    type: str
    default: governed-odoo-promotion
  holder:
    description:
      - Who holds the lock - one run, for example C(alice@ctl-1/20261206T110000Z-4821). Taking the lock again with
        the same holder renews it.
    type: str
    required: true
  state:
    description: V(acquired) takes (or renews) the lock; V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  lease_seconds:
    description:
      - How long the hold lasts from now unless renewed or released; then another run may take the lock over.
        Longer than the run it protects.
    type: int
    default: 3600
  operation:
    description: What the holder does, for the refusal of the next run (for example V(promote 2026.12.1)).
    type: str
    default: ""
  fail_when_held:
    description:
      - Whether a lock held by another run fails the task. When false the task returns RV(acquired=false) with the
        holder and succeeds, so that the refusal can be recorded first.
    type: bool
    default: true
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with, overriding the kubeconfig's.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
"""

EXAMPLES = r"""
- name: Take the promotion lock of the instance
  governed.odoo.promotion_lock:
    namespace: odoo-civil-prod
    holder: "{{ promote_holder }}"
    operation: promote 2026.12.1
    lease_seconds: 3600

- name: Give the promotion lock back
  governed.odoo.promotion_lock:
    namespace: odoo-civil-prod
    holder: "{{ promote_holder }}"
    state: released
"""

RETURN = r"""
acquired:
  description: Whether the lock is held by O(holder) now (false when another run holds it and O(fail_when_held=false)).
  returned: when O(state=acquired)
  type: bool
released:
  description: Whether the Lease was deleted.
  returned: when O(state=released)
  type: bool
action:
  description: What was done - V(create), V(renew) (this holder's own lock) or V(take_over) (an expired lock).
  returned: when the lock was acquired
  type: str
lock:
  description: The lock as written - C(namespace), C(name), C(holder), C(operation), C(expires), C(resource_version).
  returned: when the lock was acquired
  type: dict
previous:
  description: The Lease as read before - C(holder), C(operation), C(expires) - or null when there was none.
  returned: always
  type: dict
holder:
  description: The run that holds the lock, when another run does.
  returned: when the lock is held by another run
  type: str
expires:
  description: When the other run's hold expires.
  returned: when the lock is held by another run
  type: str
msg:
  description: Why the lock was refused.
  returned: when the lock is held by another run
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.promotion import task


def main():
    module = AnsibleModule(argument_spec=task.lock_argument_spec(), supports_check_mode=True)
    result, secrets = task.run_lock(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
