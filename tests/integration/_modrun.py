"""Run a module of the collection the way Ansible does: its own Python process, arguments in, JSON out.

Each run is a fresh interpreter (the venv's), so no state leaks between runs or from the test
process (ansible-core keeps warnings in module-global state, and a test process that imported
controller code changes where they go).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))

PYTHON = ROOT / ".venv" / "bin" / "python"


def run_module_raw(name, args, check_mode=False, diff=False, timeout=600):
    """Run governed.odoo.<name> with ``args``; return (result dict, raw stdout)."""
    path = ROOT / "plugins" / "modules" / f"{name}.py"
    full = dict(args)
    full["_ansible_check_mode"] = check_mode
    full["_ansible_diff"] = diff
    # ansible-core 2.21 returns the module's arguments (`invocation`) only when asked (INJECT_INVOCATION); ask, so
    # that tests see, and check the redaction of, what a user who turns it on would see
    full["_ansible_inject_invocation"] = True
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": full}, fh)
        args_file = fh.name
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
        proc = subprocess.run(
            [str(PYTHON if PYTHON.exists() else sys.executable), str(path), args_file],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    finally:
        os.unlink(args_file)
    raw = proc.stdout
    try:
        return json.loads(raw), raw + proc.stderr
    except ValueError:
        raise AssertionError(f"module {name} printed no JSON (rc={proc.returncode}):\n{raw}\n{proc.stderr}") from None


def run_module(name, args, check_mode=False, diff=False):
    """Run governed.odoo.<name> with ``args``; return its result dict."""
    return run_module_raw(name, args, check_mode=check_mode, diff=diff)[0]
