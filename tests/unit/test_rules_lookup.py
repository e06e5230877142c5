"""The governed.odoo.rules lookup: a layer's instance rules, or single rules named by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check
      ansible.builtin.set_fact:
        accepted: "{{{{ lookup('governed.odoo.rules', {terms}) }}}}"
"""
# monitoring_mode=enabled on a cluster the role found without the CRDs, and a scrape interval Prometheus refuses
BROKEN = {
    "monitoring_mode": "enabled",
    "monitoring_crds": False,
    "governed_odoo_cluster": {"name": "lab"},
    "monitoring_scrape_interval": "soon",
}


def _run(tmp_path, terms, variables):
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(terms=terms))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(variables)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return res.returncode, " ".join((res.stdout + res.stderr).split())


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_a_layer_or_a_single_rule(tmp_path):
    rc, out = _run(tmp_path, "'monitoring'", BROKEN)
    assert rc != 0 and "[monitoring.crds_required]" in out and "[monitoring.scrape_interval]" in out, out
    # only the rule named: the scrape interval is not looked at
    rc, out = _run(tmp_path, "'monitoring.crds_required'", BROKEN)
    assert rc != 0 and "[monitoring.crds_required]" in out and "scrape_interval" not in out, out
    rc, out = _run(tmp_path, "'monitoring.crds_required'", dict(BROKEN, monitoring_crds=True))
    assert rc == 0, out
    rc, out = _run(tmp_path, "'monitoring.no_such_rule'", BROKEN)
    assert rc != 0 and "no instance rule 'monitoring.no_such_rule'" in out, out
