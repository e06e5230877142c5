"""The collection's playbooks print no deprecation warning on the ansible-core they run on.

ansible-core deprecates what a collection must stop using (third-party strategy plugins were deprecated in 2.19);
a warning in every run and every AWX job log is how users learn it first. The playbooks a user runs most are run
here in check mode on the lab inventory with deprecation warnings on, and the whole output is searched.

Python's own DeprecationWarnings stay at Python's default filters, as users run: with them all shown, any
ansible-playbook run on Python 3.12 warns that ansible-core forks its workers from a multi-threaded process,
even for a one-task debug play, which is ansible-core's and not this collection's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()

pytestmark = pytest.mark.lab


def _run(*argv):
    if not (LAB_DIR / "connection.json").is_file():
        pytest.skip("lab not up (scripts/lab up)")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_DEPRECATION_WARNINGS="True",
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.mark.parametrize("playbook", sorted(p.name for p in (ROOT / "playbooks").glob("*.yml")))
def test_syntax_check_prints_no_deprecation(playbook):
    res = _run("-i", "inventories/lab", "--syntax-check", f"playbooks/{playbook}")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "DEPRECATION" not in out.upper(), out[-3000:]


def test_site_check_mode_prints_no_deprecation():
    res = _run("-i", "inventories/lab", "playbooks/site.yml", "--check", "--diff")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "DEPRECATION" not in out.upper(), [line for line in out.splitlines() if "DEPRECAT" in line.upper()]
