"""Run a play on the controller the way a user would (ansible-playbook, the repository's ansible.cfg, the implicit
localhost with a local connection and the venv's Python), and read the lab's connection details."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")) / "connection.json"


def lab_postgres():
    """The lab's primary PostgreSQL (host, port, user, password...); skips the test when the lab is not up."""
    try:
        return json.loads(CONNECTION.read_text())["postgres"]["primary"]
    except (OSError, ValueError, KeyError):
        pytest.skip("lab not up (scripts/lab up)")


def run_play(tmp_path, play, *extra):
    """Run ``play`` (a list of plays) on the implicit localhost with ``extra`` arguments; the finished process."""
    path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        str(path),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        *extra,
    ]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
