#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_instances
short_description: Refuse every instance whose variables break the collection's rules, before any change
version_added: 0.2.0
description:
  - Evaluates the collection's rule package (C(plugins/module_utils/rules); C(docs/rules.md) lists every rule
    with its id, what it refuses and an example message) on the controller.
  - For each instance the inputs are the values its roles would see (role vars, then the instance's variables,
    then role defaults). Instance rules run for O(instances); inventory rules (collisions, shared budgets) run
    over every instance of O(inventory), so that an instance outside C(--limit) still counts.
  - Fails with every finding at once, each with its instance and rule id. Messages never contain secret values.
  - Run it once per run (C(run_once=true)); it reads no server and changes nothing.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  instances:
    description: The instances (inventory hosts) of this run, for example C(ansible_play_hosts).
    type: list
    elements: str
    required: true
  inventory:
    description: Every instance of the inventory (for example C(groups['all'])); defaults to O(instances).
    type: list
    elements: str
  layers:
    description: The layers whose rules to evaluate; by default every layer but V(backup) (the layers of C(site.yml)).
    type: list
    elements: str
    choices: [platform, foundation, postgresql, redis, storage, odoo, ingress, monitoring, backup]
  evidence:
    description:
      - Facts read from live servers before the check, handed to every rule as the input C(evidence). Gather them
        read-only in an earlier C(run_once) task.
      - C(postgresql_servers) maps C(host:port) of each external database server of the run to its
        C(max_connections) and C(superuser_reserved_connections), or to C(error) when the server could not be
        read; the connection budget rule refuses an instance whose server could not be read. The
        C(governed.odoo.postgresql) role's C(tasks/preflight.yml) sets it as C(postgresql_server_limits).
    type: dict
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed on the
        controller.
    support: full
notes:
  - Runs on the controller only (an action plugin); there is no module to run on a target.
"""

EXAMPLES = r"""
- name: Refuse any instance whose variables break a rule, before anything is created
  governed.odoo.check_instances:
    instances: "{{ ansible_play_hosts }}"
    inventory: "{{ groups['all'] }}"
  run_once: true

- name: The same, with the database servers' connection limits read beforehand
  governed.odoo.check_instances:
    instances: "{{ ansible_play_hosts }}"
    inventory: "{{ groups['all'] }}"
    evidence:
      postgresql_servers: "{{ postgresql_server_limits }}"
  run_once: true
"""

RETURN = r"""
findings:
  description: Every problem found, each with its instance (null for a rule over the whole inventory).
  returned: always
  type: list
  elements: dict
  sample: [{"instance": "civil-dev", "rule": "redis.password_length",
            "message": "redis_password must be set and at least 16 characters long"}]
rules_checked:
  description:
    - When every rule passes, the layers whose rules were evaluated.
    - Register the result as C(governed_odoo_rules) (with C(run_once), every host of the play gets it), and the
      roles of the collection skip their own evaluation of a layer named here (their C(governed.odoo.rules)
      lookup), since the same rules already passed for this run.
  returned: success
  type: list
  elements: str
  sample: [platform, foundation, postgresql, redis, storage, odoo, ingress, monitoring]
checked:
  description: How many instances, inventory instances and rules were evaluated.
  returned: always
  type: dict
  sample: {"instances": 3, "inventory": 3, "rules": 90}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "instances": {"type": "list", "elements": "str", "required": True},
            "inventory": {"type": "list", "elements": "str"},
            "layers": {
                "type": "list",
                "elements": "str",
                "choices": [
                    "platform",
                    "foundation",
                    "postgresql",
                    "redis",
                    "storage",
                    "odoo",
                    "ingress",
                    "monitoring",
                    "backup",
                ],
            },
            "evidence": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    module.fail_json(msg="governed.odoo.check_instances runs on the controller (its action plugin) only")


if __name__ == "__main__":
    main()
