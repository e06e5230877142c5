# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Refuse a list of input problems: fail with all of them, or pass when there are none.

The roles collect every problem of their inputs into a list (each message naming its variable) and
refuse them from the task that renders their objects, instead of from an ``ansible.builtin.fail``
task of their own: one task per host less for each role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: refuse
version_added: 0.2.0
author:
  - governed.odoo maintainers (@governed-odoo)
short_description: Fail with every problem of a list, or return true when it is empty
description:
  - Takes the list of problems that a role found in its inputs, each a message naming the variable at
    fault, and fails the task with all of them joined by C(; ) when there is at least one. Returns V(true)
    when the list is empty.
  - Lets the task that renders a role's objects refuse invalid inputs itself, instead of a separate
    R(ansible.builtin.fail,ansible_collections.ansible.builtin.fail_module) task per host.
  - Template it before anything that needs valid inputs. M(ansible.builtin.set_fact) templates its keys in
    sorted order on ansible-core 2.19 (in the order written on older versions), so the key holding the
    filter must come first both ways.
  - In a task with C(no_log), ansible-core 2.19 still prints the problems in the error it reports for the
    task; only the task result printed after it is censored.
options:
  _input:
    description: The problems found, one message each; an empty list when there are none.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the Redis inputs, then render its objects
  ansible.builtin.set_fact:
    redis_accepted: "{{ redis_errors | governed.odoo.refuse }}"
    redis_objects: "{{ query('governed.odoo.manifests', 'redis') }}"
  no_log: true
  vars:
    redis_errors: >-
      {{ ['redis_password must be set and at least 16 characters long']
         if (redis_password | default('', true) | string | length) < 16 else [] }}
# with a short password the task fails with
#   redis_password must be set and at least 16 characters long
"""

RETURN = r"""
_value:
  description: V(true); the filter fails instead of returning when there are problems.
  type: bool
"""


def refuse(errors):
    """Raise AnsibleFilterError with ``errors`` joined by '; ' unless the list is empty; return True."""
    if isinstance(errors, (str, bytes, Mapping)) or not isinstance(errors, Sequence):
        raise AnsibleFilterError(f"refuse: expected a list of problems, got {type(errors).__name__}")
    if errors:
        raise AnsibleFilterError("; ".join(str(error) for error in errors))
    return True


class FilterModule:
    def filters(self):
        return {"refuse": refuse}
