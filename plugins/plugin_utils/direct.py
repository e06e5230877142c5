# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a Python module of any collection inside the worker process that runs the task.

A module task normally costs a new Python process: the module and its utilities are zipped, written to a
temporary directory, started, and import Ansible's module utilities and the module's libraries again before
doing its work (about 0.5 s of CPU for a community.postgresql module, most of a call that then runs one
statement). With a local connection the module would run on the controller under the controller's Python
anyway, so this imports it into the worker that ansible-playbook forked for this one task and calls its
main() there, the way ansible.netcommon's direct execution does. Whatever the module changes in its process
(globals, warnings, the locale) dies with the worker, exactly as it would with the module's own process.

The module sees the same arguments (templated, module_defaults applied, plain JSON values, the same
``_ansible_*`` internal arguments) and builds its usual AnsibleModule from them, so its argument checks,
check mode, diff and no_log masking are its own.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io

from ansible.module_utils import basic
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import plain


class ModuleNotDirect(Exception):
    """The module cannot run in this process (not a Python module importable here)."""


def import_module(resolved_name):
    """The module object for a module's resolved plugin name (ansible_collections.ns.coll.plugins.modules.x)."""
    if not resolved_name or not (
        resolved_name.startswith("ansible_collections.") or resolved_name.startswith("ansible.modules.")
    ):
        raise ModuleNotDirect(resolved_name)
    try:
        module = importlib.import_module(resolved_name)
    except ImportError as exc:  # a module whose libraries are missing here fails as a process would
        raise ModuleNotDirect(f"{resolved_name}: {exc}") from exc
    if not callable(getattr(module, "main", None)) or not hasattr(module, "AnsibleModule"):
        raise ModuleNotDirect(f"{resolved_name} has no main() built on AnsibleModule")
    return module


def run(module, module_args):
    """Call module.main() with module_args (task arguments plus the _ansible_* ones); return its result dict.

    The result is what the module passed to exit_json or fail_json, after the module's own formatting (no_log
    values masked, warnings and deprecations collected). An exception the module does not handle propagates,
    as a crash of its process would fail the task.
    """
    recorded = []
    params = plain(module_args)

    class DirectModule(module.AnsibleModule):
        # AnsibleModule reads its parameters from stdin or a global; here they are given
        def _load_params(self):
            self.params = copy.deepcopy(params)

        # and prints its result as JSON before sys.exit(); here the result is kept as is
        def _record_module_result(self, o):
            recorded.append(o)

    original = module.AnsibleModule
    module.AnsibleModule = DirectModule
    # tracebacks and the serialization profile read these module-process globals
    basic._PARSED_MODULE_ARGS = copy.deepcopy(params)
    basic._ANSIBLE_PROFILE = basic._ANSIBLE_PROFILE or "legacy"
    out, err = io.StringIO(), io.StringIO()
    try:
        # exit_json and fail_json end with sys.exit()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
            module.main()
    finally:
        module.AnsibleModule = original
    if not recorded:
        return {
            "failed": True,
            "msg": "the module returned without a result (it did not call exit_json or fail_json)",
            "module_stdout": out.getvalue(),
            "module_stderr": err.getvalue(),
        }
    return plain(recorded[-1])
