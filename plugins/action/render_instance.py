# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.render_instance: validates and renders one instance's roles in one task.

Running the roles one after the other costs two tasks per role and instance (the argument spec check Ansible adds,
then the role's render task), each a worker process and a round of variable work in the strategy. This plugin does
the same work for every role named in ``roles`` in one task, on the controller, with the public Templar API:

1. each role's argument spec (``meta/argument_specs.yml``, entry point ``main``) is checked against the variables as
   the role would see them, as ``ansible.builtin.validate_argument_spec`` does for a role, and every error of every
   role is reported at once;
2. the role's render tasks (``RENDER_TASKS``: ``ansible.builtin.set_fact`` tasks, nothing else) are evaluated in
   order as ``set_fact`` evaluates them: the task's ``vars`` over the role's, the facts set so far on top, the keys
   templated in sorted order (the refusing key first, see tests/unit/test_filter_refuse.py).

The roles' task files stay the one definition of what is checked and rendered: the roles used on their own run the
very tasks this plugin evaluates. The variables of a role are layered as ansible-core layers them for a role in a
play (role defaults of every role below the host's variables, role vars above them, the current role's first); one
difference: an extra variable (``-e``) does not override a role's ``vars/main.yml`` here, and none of those (derived
values of the odoo role) is an input.
"""

from __future__ import annotations

import contextlib
from collections import ChainMap

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template
from ansible_collections.governed.odoo.plugins.module_utils import argspec
from ansible_collections.governed.odoo.plugins.module_utils.rules.inputs import COLLECTION_ROOT
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import plain
from ansible_collections.governed.odoo.plugins.plugin_utils.settle import (
    IDENTIFIER,
    read_only_settled,
    settle_reads,
    texts,
)

# the task file of each role whose set_fact tasks check the role's inputs and render its objects
RENDER_TASKS = {
    "foundation": "render.yml",
    "postgresql": "render.yml",
    "redis": "main.yml",
    "storage": "main.yml",
    "odoo": "main.yml",
    "ingress": "main.yml",
    "monitoring": "render.yml",
}
# what a render task may carry besides set_fact: anything else (when, loop, run_once...) is not evaluated here
TASK_KEYS = frozenset({"name", "ansible.builtin.set_fact", "vars", "no_log"})
# task files evaluated after a role's render tasks, for facts a later play of site.yml reads: the database and roles
# the postgresql role declares on an external server (its provisioning reads them; playbooks/drift.yml and restores
# run the file themselves). Their set_fact tasks may carry a condition (``when``), evaluated as the task's would be.
FOLLOW_UP_TASKS = {"postgresql": "declared.yml"}

ARGUMENT_SPEC = {
    "roles": {"type": "list", "elements": "str", "required": True, "choices": list(RENDER_TASKS)},
    "validate_arguments": {"type": "bool", "default": True},
}

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader


def load_role_file(loader, path, templates=False):
    """The YAML file at ``path`` as ``loader.load_from_file(path, trusted_as_template=templates)`` gives it, without
    the origin of each value: every string (keys included) marked as a template when ``templates``.

    A render loads 22 role files per instance, each in a fresh worker: Ansible's YAML loader tags every value with
    its origin and load_from_file deep-copies the result, about 0.11 s of CPU per instance; libyaml's loader takes
    0.02 s. A role's files use no Ansible YAML tags (!unsafe, !vault): tests/unit/test_render_instance.py checks that
    both loaders give the same values and the same trust.
    """
    # the text without its origin tag: libyaml reads plain strings only
    data = yaml.load(str(loader.get_text_file_contents(str(path))), Loader=SafeLoader)
    return _trusted(data) if templates else data


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {_trusted(k): _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def render_tasks(loader, role):
    """The render tasks of ``role``: a list of (name, set_fact arguments, task vars); refuses any other task."""
    return [task[:3] for task in _set_fact_tasks(loader, role, RENDER_TASKS[role], TASK_KEYS)]


def follow_up_tasks(loader, role):
    """The tasks of the role's ``FOLLOW_UP_TASKS`` file: a list of (name, set_fact arguments, task vars, conditions);
    refuses any task but a set_fact, with or without ``when``."""
    if role not in FOLLOW_UP_TASKS:
        return []
    return _set_fact_tasks(loader, role, FOLLOW_UP_TASKS[role], TASK_KEYS | {"when"})


def _set_fact_tasks(loader, role, name, allowed):
    path = COLLECTION_ROOT / "roles" / role / "tasks" / name
    tasks = load_role_file(loader, path, templates=True) or []
    out = []
    for task in tasks:
        extra = set(task) - allowed
        if "ansible.builtin.set_fact" not in task or extra:
            raise AnsibleError(
                f"governed.odoo.render_instance: {path.relative_to(COLLECTION_ROOT)}: task {task.get('name')!r} "
                f"is not a plain ansible.builtin.set_fact task ({', '.join(sorted(extra)) or 'no set_fact'})"
            )
        when = task.get("when", [])
        out.append(
            (
                task.get("name", ""),
                dict(task["ansible.builtin.set_fact"]),
                dict(task.get("vars") or {}),
                list(when) if isinstance(when, list) else [when],
            )
        )
    return out


def argument_options(loader, role):
    """The options of the role's ``main`` entry point, or {} when it has no argument spec."""
    path = COLLECTION_ROOT / "roles" / role / "meta" / "argument_specs.yml"
    if not path.is_file():
        return {}
    specs = load_role_file(loader, path) or {}
    return dict(((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {})


def changing_names(tasks):
    """The names a role's render tasks may give another value than the argument spec check saw: the facts they set
    and their own vars."""
    names = set()
    for _name, args, local, *_when in tasks:
        names |= set(args) | set(local)
    return names


def stable_values(values, variables, above, changing):
    """The entries of ``values`` (the role's options as its argument spec check templated them in ``variables``) that
    the role's render tasks would template to the same values: the name is in none of the layers ``above`` (the
    facts...: those values are not templates) and no variable its value may read, directly or through the values of
    other variables, is one of ``changing`` (what the render tasks set or their vars override), nor is it read by a
    lookup or random; anything else is templated where it is read, as before."""
    settled = read_only_settled(variables, changing)
    return {
        name: value for name, value in values.items() if not any(name in layer for layer in above) and settled(name)
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(plain(self._task.args))
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        roles = validation.validated_parameters["roles"]

        defaults = {role: self._role_file(role, "defaults") for role in RENDER_TASKS}
        role_vars = {role: self._role_file(role, "vars") for role in RENDER_TASKS}
        every_default = ChainMap(*(defaults[r] for r in reversed(RENDER_TASKS)))
        every_var = ChainMap(*(role_vars[r] for r in reversed(RENDER_TASKS)))
        facts = {}

        # the role's directory first, as in a task of the role: its templates are found there
        search = {
            role: {
                "ansible_search_path": [
                    str(COLLECTION_ROOT / "roles" / role),
                    *task_vars.get("ansible_search_path", []),
                ]
            }
            for role in roles
        }

        # one templar for every check and task, its variables set for each: a templar's Jinja environment resolves each
        # filter and test once (a new templar per task resolved them again, about 0.1 s per instance)
        templar = self._templar.copy_with_new_env(available_variables={})
        validate = validation.validated_parameters["validate_arguments"]
        # the follow-up tasks of every role run after the last role's render tasks: they read facts later roles set
        # (postgresql_app_connection_limit defaults to odoo_db_connection_demand, a fact of the odoo role)
        steps = [(role, _set_fact_tasks(self._loader, role, RENDER_TASKS[role], TASK_KEYS), True) for role in roles]
        steps += [(role, follow_up_tasks(self._loader, role), False) for role in roles if role in FOLLOW_UP_TASKS]

        # the inventory's values that every role reads alike, templated once for the whole render: what the roles'
        # options and tasks read, and the platform variables the layers' objects are built from. A role's default or
        # var (its value may differ by role), what a render task sets, and whatever reads one of those, are left out.
        role_names = set(every_default) | set(every_var)
        changing = role_names.union(*(changing_names(tasks) for _role, tasks, _rendering in steps))
        # each role's options (meta/argument_specs.yml), read once for the whole render
        options = {role: argument_options(self._loader, role) for role in roles}
        read = {name for role in roles for name in options[role]}
        for _role, tasks, _rendering in steps:
            for _name, args, local, *_when in tasks:
                read.update(n for text in texts([args, local]) for n in IDENTIFIER.findall(text))
        read.update(name for name in task_vars if name.startswith("governed_odoo_"))
        inventory = settle_reads(
            templar,
            ChainMap(every_var, task_vars, every_default),
            sorted(n for n in read if n in task_vars),
            changing,
            and_names=True,
        )

        def scope(role, local=None, resolved=None):
            return ChainMap(
                search[role],
                facts,
                local or {},
                # the role's options as its argument spec check templated them: above the layer each comes from
                resolved or {},
                role_vars[role],
                every_var,
                inventory,
                task_vars,
                defaults[role],
                every_default,
            )

        for role, tasks, rendering in steps:
            resolved = {}
            # a follow-up task templates every value it reads again: the check's values predate later roles' facts
            if validate and rendering:
                changing = changing_names(tasks)
                # what the role's options read (the inventory's values they are built from), templated once each
                reads = settle_reads(templar, scope(role), options[role], changing)
                # the argument spec of a role reads the facts of the roles before it (postgresql_connection...)
                problem, values = self._check_arguments(templar, role, options[role], scope(role, resolved=reads))
                if problem:
                    result.update(failed=True, msg=problem)
                    return result
                # what the render tasks read of the role's options is not templated again (the same values), nor
                # what those options read
                resolved = dict(reads, **stable_values(values, scope(role), (search[role], facts), changing))

            for name, args, local, when in tasks:
                templar.available_variables = scope(role, local, resolved)
                local = self._settle(templar, local)
                templar.available_variables = scope(role, local, resolved)
                # a follow-up task's condition, as the task's own (every item true); a false one sets nothing
                if not all(templar.evaluate_conditional(c) for c in when):
                    continue
                values = {}
                # set_fact templates its keys in sorted order: the key that refuses bad inputs sorts first
                for key in sorted(k for k in args if k != "cacheable"):
                    try:
                        values[key] = templar.template(args[key])
                    except AnsibleError as exc:
                        # the message of a refusal names variables and rules, never their values
                        result.update(failed=True, msg=f"governed.odoo.{role} : {name}: {exc.message}")
                        return result
                facts.update(values)

        # not ansible_facts: only set_fact's facts become variables (the others are gathered facts, reachable as
        # variables only through a deprecated injection); register the result and set them with set_fact
        result["facts"] = facts
        result["changed"] = False
        # the facts hold the instance's Secrets: the result is censored as a no_log task's would be
        result["_ansible_no_log"] = True
        return result

    @staticmethod
    def _settle(templar, local):
        """The task's vars, each templated once where that gives the value every key of the task would read: nothing
        changes while a task's keys are templated (its facts are set after the last), so only lookups and random are
        left to be templated where they are read (a var read twice, postgresql_connection_json, was templated twice).
        A var that fails is left as it is, to fail where it is read, as before."""
        settled = read_only_settled(templar.available_variables, frozenset())
        out = dict(local)
        for var, value in local.items():
            if settled(var):
                # a var that fails fails again, with its own message, where a key reads it
                with contextlib.suppress(Exception):
                    out[var] = templar.template(value)
        return out

    @staticmethod
    def _check_arguments(templar, role, options, variables):
        """(the role's argument spec errors as ansible.builtin.validate_argument_spec words them, or None; the
        templated values of the role's ``options`` as the role reads them, before the spec's conversions)."""
        if not options:
            return None, {}
        templar.available_variables = variables
        args = {name: variables[name] for name in options if name in variables}
        try:
            templated = templar.template(args)
        except AnsibleError as exc:
            return f"governed.odoo.{role}: {exc.message}", {}
        found = argspec.problems(options, plain(templated))
        if not found:
            return None, templated
        return f"governed.odoo.{role}: Validation of arguments failed:\n" + "\n".join(found), {}

    def _role_file(self, role, kind):
        """The role's defaults/main.yml or vars/main.yml (its values are templates, as in a role), or {}."""
        path = COLLECTION_ROOT / "roles" / role / kind / "main.yml"
        return (load_role_file(self._loader, path, templates=True) or {}) if path.is_file() else {}
