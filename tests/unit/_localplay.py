"""Run a small playbook on localhost under the venv's ansible-playbook, as the unit tests that render roles do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_local_play(play: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """ansible-playbook ``play`` on ``localhost`` (local connection, this Python) with the project's ansible.cfg and
    ``extra`` arguments; fails the test, with the end of the output, unless it succeeds."""
    res = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play),
         "-e", f"ansible_python_interpreter={sys.executable}", *extra],
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")), cwd=ROOT,
        capture_output=True, text=True, check=False, timeout=timeout,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res
