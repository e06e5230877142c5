#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: render_instance
short_description: Validate and render the objects of one instance's roles in one task
version_added: 0.3.0
description:
  - Does for every role named in O(roles), in one task on the controller, what the roles do when they run one after
    the other; it checks each role's argument spec (entry point C(main)) against the variables as the role would see
    them, then evaluates the role's render tasks (the C(ansible.builtin.set_fact) tasks of its C(tasks/render.yml)
    or C(tasks/main.yml) that refuse invalid inputs with the rule package and render its objects), in order.
  - Sets the same facts as those tasks (C(<role>_objects), C(postgresql_connection), C(redis_connection),
    C(storage_connection), C(ingress_endpoint), C(monitoring_active) and the others).
  - Every argument spec error of every role is reported at once, with no_log values masked; then the first render
    task that refuses its inputs fails the task with every problem it found.
  - The result is censored like a C(no_log) task's (the facts hold the instance's Secrets); a refusal is shown.
  - Use it from a play, not from inside one of the roles (it adds the roles' defaults and vars itself).
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  roles:
    description: The collection's roles to validate and render, in the order they would run.
    type: list
    elements: str
    required: true
    choices: [foundation, postgresql, redis, storage, odoo, ingress, monitoring]
  validate_arguments:
    description: Check each role's argument spec first, as ansible-core does before a role runs.
    type: bool
    default: true
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
  - An extra variable (C(-e)) does not override a role's C(vars/main.yml) here (ansible-core lets it); those are
    derived values of the C(governed.odoo.odoo) role, not inputs.
"""

EXAMPLES = r"""
- name: Validate and render the objects of the instance
  governed.odoo.render_instance:
    roles: [foundation, postgresql, redis, storage, odoo, ingress, monitoring]
"""

RETURN = r"""
ansible_facts:
  description: The facts the roles' render tasks set.
  returned: success
  type: dict
  sample: {"redis_objects": "[{\"apiVersion\": \"v1\", \"kind\": \"Secret\"}]"}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "roles": {
                "type": "list",
                "elements": "str",
                "required": True,
                "choices": ["foundation", "postgresql", "redis", "storage", "odoo", "ingress", "monitoring"],
            },
            "validate_arguments": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    module.fail_json(msg="governed.odoo.render_instance runs on the controller (its action plugin) only")


if __name__ == "__main__":
    main()
