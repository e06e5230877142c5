# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.run_module: a module of any collection, run in the worker's own process when the
connection is local (see plugin_utils/direct.py), as a module process otherwise."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys
from ansible_collections.governed.odoo.plugins.plugin_utils import direct
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import runs_here

try:  # what the builtin service and package actions use to apply module_defaults to the module they choose
    from ansible.executor.module_common import _apply_action_arg_defaults
except ImportError:  # pragma: no cover - ansible-core before 2.19
    _apply_action_arg_defaults = None

ARGUMENT_SPEC = {
    "module": {"type": "str", "required": True},
    "args": {"type": "dict", "default": {}},
    "direct": {"type": "bool", "default": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(self._task.args))
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        params = validation.validated_parameters

        context = self._shared_loader_obj.module_loader.find_plugin_with_context(
            params["module"], collection_list=self._task.collections
        )
        if not context.resolved:
            raise AnsibleActionFail(f"module={params['module']} is not a module Ansible can find")
        module_args = dict(params["args"])
        if _apply_action_arg_defaults is not None:
            module_args = _apply_action_arg_defaults(context.resolved_fqcn, self._task, module_args, self._templar)

        module = None
        if params["direct"] and runs_here(self._connection):
            try:
                module = direct.import_module(context.plugin_resolved_name)
            except direct.ModuleNotDirect as exc:
                self._display.vvv(f"running {context.resolved_fqcn} as a module process: {exc}")
        if module is None:
            result.update(
                self._execute_module(module_name=context.resolved_fqcn, module_args=module_args, task_vars=task_vars)
            )
            return result

        self._update_module_args(context.resolved_fqcn, module_args, task_vars)
        out = direct.run(module, module_args)
        remove_internal_keys(out)
        result.update(out)
        return result
