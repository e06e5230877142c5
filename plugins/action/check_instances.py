# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.check_instances: evaluates the rule package on the controller.

Run it once per run (``run_once: true``). For each instance it builds the value of every input the rules
read as the roles would see it (the role's vars, then the host's variables, then the role's defaults) by
templating under that host's variables with the public Templar API, then evaluates the instance rules for
the instances of the run and the inventory rules over every instance of the inventory, including those
outside ``--limit``. ``evidence`` (facts read from live servers beforehand, such as the database servers'
connection limits) is handed to every rule as the input ``evidence``.

A value of an instance outside the run that cannot be templated (a secret of another environment whose vault
is not open in this run, say) is left out of that instance's inputs, so an inventory rule sees it as absent; an
instance of the run always fails on it, naming the variable.
"""

from __future__ import annotations

import json
from collections import ChainMap

from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import evaluate, inputs_of, rules_for
from ansible_collections.governed.odoo.plugins.module_utils.rules.inputs import LAYERS, role_files
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import plain
from ansible_collections.governed.odoo.plugins.plugin_utils.settle import settle_reads

ARGUMENT_SPEC = {
    "instances": {"type": "list", "elements": "str", "required": True},
    "inventory": {"type": "list", "elements": "str"},
    "layers": {"type": "list", "elements": "str", "choices": list(LAYERS)},
    "evidence": {"type": "dict"},
}

# rules evaluated before every other rule of an instance (the argument spec of the platform variables)
FIRST_RULES = frozenset({"platform.variables"})

# what starts a Jinja block, expression or comment: a string without any is its own templated value
JINJA_MARKERS = ("{{", "{%", "{#")


def is_literal(value):
    """Whether templating ``value`` gives ``value`` itself: plain strings (tagged or not) without Jinja markers,
    numbers, booleans, None, and lists and dicts of those. Anything else (a vaulted value, say) is templated."""
    if isinstance(value, str):
        return not any(marker in value for marker in JINJA_MARKERS)
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, dict):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_literal(v) for v in value)
    return False


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(plain(self._task.args))
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        args = validation.validated_parameters
        # by default the layers of site.yml: the backup layer's rules are playbooks/backup.yml's (layers: given)
        layers = args["layers"] or [layer for layer in LAYERS if layer != "backup"]
        instances = args["instances"]
        inventory = args["inventory"] or instances
        evidence = args["evidence"]

        instance_rules = [r for layer in layers for r in rules_for(layer=layer, scope="instance")]
        inventory_rules = [r for layer in layers for r in rules_for(layer=layer, scope="inventory")]
        names = set(inputs_of(instance_rules))
        for r in inventory_rules:
            names.update(n.split(".", 1)[1] for n in r.reads if n.startswith("instances."))

        hostvars = task_vars["hostvars"]
        defaults, role_vars = self._role_values(layers)
        values = {}
        run = set(instances)
        literals = {}
        for host in dict.fromkeys([*inventory, *instances]):
            if host not in hostvars:
                raise AnsibleError(f"governed.odoo.check_instances: {host} is not in the inventory")
            # the raw variables (a dict, templated below in one scope with the role's): a HostVarsVars view cannot be
            # a layer of the templar's variables on ansible-core 2.21
            values[host] = self._effective(
                hostvars.raw_get(host), role_vars, defaults, names, strict=host in run, literals=literals
            )

        # the platform variables' types first: an instance whose variables break its argument spec is not judged by
        # rules that read them (they are written for values of the declared types), nor is the inventory
        first = [r for r in instance_rules if r.id in FIRST_RULES]
        rest = [r for r in instance_rules if r.id not in FIRST_RULES]
        findings = []
        for host in instances:
            inputs = values[host] if evidence is None else dict(values[host], evidence=evidence)
            findings.extend((host, f) for f in evaluate(first, inputs) or evaluate(rest, inputs))
        if inventory_rules and not any(f.rule_id in FIRST_RULES for _host, f in findings):
            shared = {"instances": {h: values[h] for h in inventory}, "run_instances": list(instances)}
            if evidence is not None:
                shared["evidence"] = evidence
            findings.extend((None, f) for f in evaluate(inventory_rules, shared))

        result["findings"] = [dict(f.as_dict(), instance=host) for host, f in findings]
        result["checked"] = {
            "instances": len(instances),
            "inventory": len(inventory),
            "rules": len(instance_rules) + len(inventory_rules),
        }
        if findings:
            result["failed"] = True
            result["msg"] = "; ".join(f"{host}: {f}" if host else str(f) for host, f in findings)
        else:
            # the roles' own check (the governed.odoo.rules lookup) need not template and evaluate these again;
            # a registered result, not a fact: ansible-core 2.21 deprecates reading facts as top-level variables
            result["rules_checked"] = list(layers)
        return result

    def _role_values(self, layers):
        defaults, role_vars = {}, {}
        for layer in layers:
            d, v = role_files(layer)
            if d:
                defaults.update(self._loader.load_from_file(str(d), trusted_as_template=True) or {})
            if v:
                role_vars.update(self._loader.load_from_file(str(v), trusted_as_template=True) or {})
        return defaults, role_vars

    def _effective(self, host_vars, role_vars, defaults, names, strict=True, literals=None):
        """The values of ``names`` for one host, as its roles would template them. A default built from a fact
        that a role sets later is left out; so is, unless ``strict``, any value that cannot be templated.
        ``literals`` (a dict kept across hosts) holds, by identity, the values that need no templating and notes
        those that do: a value of the group variables is the same object for every host of the group and is
        looked at, and converted, once."""
        scope = ChainMap(role_vars, dict(host_vars), defaults)
        templar = self._templar.copy_with_new_env(available_variables=scope)
        # what the values read (an inventory value read from a file, and those built from it), templated once each
        settle_reads(templar, scope, [n for n in names if n in scope], frozenset())
        literals = {} if literals is None else literals

        def value_of(raw):
            known = literals.get(id(raw))
            if known is None or known[0] is not raw:
                # the raw value is kept beside its id, so that the id cannot be reused meanwhile; a value that needs
                # templating is noted too (None), so that it is not walked again for the next host
                known = literals[id(raw)] = (raw, json.dumps(plain(raw)) if is_literal(raw) else None)
            if known[1] is None:
                return plain(templar.template(raw))
            # a copy of its own for every host, as before
            return json.loads(known[1])

        out = {}
        for name in names:
            try:
                if name in role_vars:
                    out[name] = value_of(role_vars[name])
                elif name in host_vars:
                    out[name] = value_of(host_vars[name])
                elif name in defaults:
                    out[name] = value_of(defaults[name])
            except AnsibleUndefinedVariable:
                # a role's default or derived value built from a fact an earlier role sets (odoo_dbfilter from
                # postgresql_connection): the role's own check (the governed.odoo.rules lookup) sees it
                if strict and name not in role_vars and name in host_vars:
                    raise
            except AnsibleError:
                if strict:
                    raise
        return out
