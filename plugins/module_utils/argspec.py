# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs checked on the controller as ``ansible.builtin.validate_argument_spec`` checks a role's: the roles'
own specs (``governed.odoo.render_instance``) and the platform variables of every instance (rule
``platform.variables``). Messages never carry the value of an option marked ``no_log``."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.governed.odoo.plugins.module_utils.errors import mask


def secret_values(options, values):
    """The string values of the options marked no_log (nested options included), to mask in messages."""
    found = set()
    for name, spec in options.items():
        value = values.get(name) if isinstance(values, dict) else None
        if value is None:
            continue
        if spec.get("no_log") and isinstance(value, (str, int)) and str(value):
            found.add(str(value))
        sub = spec.get("options")
        if sub:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    found |= secret_values(sub, item)
    return found


def problems(options, values):
    """Every error of ``values`` against the argument spec ``options``, as validate_argument_spec words them for a
    role, with the no_log values masked (a value of fewer than three characters is left: it would mask the words)."""
    checked = ArgumentSpecValidator(options).validate(values, validate_role_argument_spec=True)
    if not checked.error_messages:
        return []
    secrets = secret_values(options, values)
    return [mask(m, secrets, shortest=3) for m in checked.error_messages]
