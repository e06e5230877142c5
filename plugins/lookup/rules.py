# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: rules
short_description: Refuse an instance's inputs that break the collection's rules
version_added: 0.2.0
description:
  - Evaluates every instance-scoped rule of the named layers (the rule package in
    C(plugins/module_utils/rules); C(docs/rules.md) lists them) over the variables of the current host, and
    fails with every problem found, each followed by the id of the rule that found it, joined by C(; ).
  - Returns V(true) when every rule passes. Only the variables the rules declare are templated and read.
  - Put it first in the task that renders a layer's objects, so that nothing is rendered from invalid inputs
    and the check costs no task of its own.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  _terms:
    description:
      - Layers whose rules to evaluate (for example V(redis), V(odoo)), or the ids of single instance rules (a
        term with a dot, for example V(monitoring.crds_required)).
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Check the Redis inputs, then render its objects
  ansible.builtin.set_fact:
    redis_accepted: "{{ lookup('governed.odoo.rules', 'redis') }}"
    redis_objects: "{{ lookup('governed.odoo.manifests', 'redis', output='json') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: V(true); the lookup fails instead of returning when a rule refuses the inputs.
  type: list
  elements: bool
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import (
    evaluate,
    inputs_of,
    rule_by_id,
    rules_for,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        rules = []
        for term in terms:
            term = str(term)
            if "." in term:  # a rule's id
                rule = rule_by_id(term)
                if rule is None or rule.scope != "instance":
                    raise AnsibleError(f"governed.odoo.rules: no instance rule {term!r}")
                found = [rule]
            else:
                found = rules_for(layer=term, scope="instance")
                if not found:
                    raise AnsibleError(f"governed.odoo.rules: no rules for layer {term!r}")
            rules.extend(found)
        values = {name: self._templar.template(variables[name]) for name in inputs_of(rules) if name in variables}
        findings = evaluate(rules, values)
        if findings:
            raise AnsibleError("; ".join(str(f) for f in findings))
        return [True]
