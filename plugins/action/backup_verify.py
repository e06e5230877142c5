# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of governed.odoo.backup_verify: runs in the controller's process with a local connection
(see plugin_utils/inprocess.py), the module runs on the target otherwise."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup import task
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "governed.odoo.backup_verify"

    def argument_spec(self):
        return task.verify_argument_spec()

    def execute(self, params, check_mode, diff):
        return task.run_verify_task(params, check_mode=check_mode)
