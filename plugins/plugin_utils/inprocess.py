# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the action plugins that run their module's logic in the controller's process.

With a local connection (the collection's playbooks reach the API server, S3 and PostgreSQL from the
controller) a module task costs a Python process per host: the module is zipped, written to a temporary
directory, started, and imports Ansible's module utilities before doing a few HTTP requests. An action
plugin built on this class validates the task's arguments with the module's own argument spec and calls
the module's logic directly; with any other connection it runs the module on the target as usual. Values
that must not be shown (no_log options, and whatever the logic reports as secret) are masked in the
result in both cases.
"""

from __future__ import annotations

import json

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

LOCAL_TRANSPORTS = frozenset({"local", "ansible.builtin.local", "ansible.legacy.local"})


def runs_here(connection):
    """Whether a task on ``connection`` runs on the controller itself (a local connection)."""
    transport = getattr(connection, "transport", None)
    name = getattr(connection, "_load_name", None)
    return transport in LOCAL_TRANSPORTS or name in LOCAL_TRANSPORTS


def plain(value):
    """The plain JSON values a module process would receive (no templating wrappers or tags)."""
    return json.loads(json.dumps(value, cls=AnsibleJSONEncoder))


class InProcessAction(ActionBase):
    """Subclasses set MODULE (the module's FQCN) and implement argument_spec() and execute()."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    MODULE = ""

    def argument_spec(self):
        raise NotImplementedError

    def execute(self, params, check_mode, diff):
        """Return (result dict with optional failed/msg/warnings, set of values to mask)."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used
        if not runs_here(self._connection):
            result.update(
                self._execute_module(module_name=self.MODULE, module_args=self._task.args, task_vars=task_vars)
            )
            return result

        # the same plain JSON values a module would receive (no templating wrappers or tags)
        args = plain(self._task.args)
        validation = ArgumentSpecValidator(self.argument_spec()).validate(args)
        hidden = set(validation._no_log_values)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return remove_values(result, hidden)
        for warning in validation._warnings:
            display.warning(warning.get("warning") if isinstance(warning, dict) else str(warning))

        out, secrets = self.execute(
            validation.validated_parameters, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff)
        )
        hidden.update(secrets)
        for warning in out.pop("warnings", None) or []:
            display.warning(remove_values(warning, hidden))
        result.update(out)
        return remove_values(result, hidden)
