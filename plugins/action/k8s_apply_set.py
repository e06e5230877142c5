# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.k8s_apply_set.

With a local connection (the API server is reached from the controller, as in every playbook of this
collection) the apply runs in this process: no module is copied and no Python started per instance,
which is most of a small set's cost. Any other connection runs the module on the target as usual.
Both paths validate the arguments with the same spec and mask the same values.
"""

from __future__ import annotations

import json

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.governed.odoo.plugins.module_utils.apply import task

display = Display()

LOCAL_TRANSPORTS = frozenset({"local", "ansible.builtin.local", "ansible.legacy.local"})


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _runs_here(self):
        transport = getattr(self._connection, "transport", None)
        name = getattr(self._connection, "_load_name", None)
        return transport in LOCAL_TRANSPORTS or name in LOCAL_TRANSPORTS

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used
        if not self._runs_here():
            result.update(
                self._execute_module(
                    module_name="governed.odoo.k8s_apply_set", module_args=self._task.args, task_vars=task_vars
                )
            )
            return result

        # the same plain JSON values a module would receive (no templating wrappers or tags)
        args = json.loads(json.dumps(self._task.args, cls=AnsibleJSONEncoder))
        validation = ArgumentSpecValidator(task.argument_spec()).validate(args)
        hidden = set(validation._no_log_values)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return remove_values(result, hidden)
        for warning in validation._warnings:
            display.warning(warning.get("warning") if isinstance(warning, dict) else str(warning))

        out, secrets = task.run(
            validation.validated_parameters, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff)
        )
        hidden.update(secrets)
        for warning in out.pop("warnings", None) or []:
            display.warning(remove_values(warning, hidden))
        result.update(out)
        return remove_values(result, hidden)
