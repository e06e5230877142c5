# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Child processes of the collection's logic, started in one place.

The backup streams ``pg_dump`` into uploads and downloads into ``pg_restore`` through pipes, the restore and the
backup run the PostgreSQL client tools, and the Kubernetes client runs a kubeconfig's credential plugin. That
logic runs inside modules and, with a local connection, inside action plugins on the controller, where there is
no AnsibleModule. ``AnsibleModule.run_command`` can neither stream a pipe nor run without a module, so these two
wrappers call :mod:`subprocess` themselves, with the rules every caller follows: an argument list, never a shell,
and secrets in the environment (``PGPASSWORD``), never on a command line.
"""

from __future__ import annotations

import subprocess


def _argv(argv, kwargs):
    if kwargs.get("shell"):
        raise ValueError("the collection never starts a shell")
    if isinstance(argv, (str, bytes)):
        raise ValueError("an argument list, not a command line")
    return list(argv)


def run(argv, check=False, **kwargs):
    """:func:`subprocess.run` of an argument list; the callers read the return code themselves by default."""
    # ansible-bad-function: see the module's docstring (no AnsibleModule on the controller side)
    return subprocess.run(_argv(argv, kwargs), check=check, **kwargs)  # noqa: S603  # pylint: disable=ansible-bad-function


def popen(argv, **kwargs):
    """:class:`subprocess.Popen` of an argument list, for a child whose pipes are streamed."""
    return subprocess.Popen(_argv(argv, kwargs), **kwargs)  # noqa: S603  # pylint: disable=ansible-bad-function
