"""Run a small play with the checkout's ansible-playbook and configuration (for the unit tests of plugins that are
exercised through Ansible itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def run_play(tmp_path: Path, play: str, *args: str) -> tuple[int, str]:
    """(return code, stdout and stderr with runs of white space made one space) of ``play`` run with ``args``."""
    path = tmp_path / "play.yml"
    path.write_text(play)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(path), *args], env=env, capture_output=True, text=True, check=False
    )
    return res.returncode, " ".join((res.stdout + res.stderr).split())
