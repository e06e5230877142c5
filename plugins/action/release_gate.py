# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.release_gate: evaluates a release against the target's policy on the controller.

The target's variables (``governed_odoo_environment`` and the ``release_*`` policy variables) are read from the
inventory (hostvars of O(target)) and templated under that host's variables, as the roles would see them; the
evidence is read by release/gate.py and every release rule is evaluated. Pure evaluation: nothing changes, and
check mode gives the same result.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible_collections.governed.odoo.plugins.module_utils.release import gate
from ansible_collections.governed.odoo.plugins.module_utils.release.policy import VARIABLES
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import plain


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validation = ArgumentSpecValidator(gate.argument_spec()).validate(plain(self._task.args))
        hidden = set(validation._no_log_values)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return remove_values(result, hidden)
        params = validation.validated_parameters
        target = params["target"]
        hostvars = task_vars["hostvars"]
        if target not in hostvars:
            raise AnsibleError(f"governed.odoo.release_gate: target {target} is not in the inventory")
        variables = self._target_variables(hostvars.raw_get(target))
        out, secrets = gate.run(params, variables, basedir=self._loader.get_basedir(),
                                check_mode=bool(self._task.check_mode))
        hidden.update(secrets)
        result.update(out)
        return remove_values(result, hidden)

    def _target_variables(self, host_vars):
        """The target's environment and policy variables, templated under its own variables."""
        templar = self._templar.copy_with_new_env(available_variables=dict(host_vars))
        out = {}
        for name in (gate.ENVIRONMENT_VAR, *VARIABLES):
            if name in host_vars:
                out[name] = plain(templar.template(host_vars[name]))
        return out
