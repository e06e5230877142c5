"""The governed.odoo.rules lookup: a layer's instance rules, or single rules named by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from play_runner import ANSIBLE_PLAYBOOK, ROOT, run_play

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
    return run_play(tmp_path, PLAY.format(terms=terms), "-i", "localhost,", "-c", "local", "-e", json.dumps(variables))


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


def test_a_rule_by_id_imports_its_layer_only():
    """rule_by_id imports the module of the rule's layer, not every rule module (a render re-checks single rules in
    every instance's worker), and still finds a rule kept in a module of another name, and no rule that is not."""
    code = """
import sys
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine
pkg = "ansible_collections.governed.odoo.plugins.module_utils.rules."
rule = engine.rule_by_id("monitoring.crds_required")
print(rule.id, rule.scope, *(pkg + m in sys.modules for m in ("monitoring", "catalog", "backup")))
# release.observation_tolerance lives in rules/observation.py: release.py does not register it, everything is loaded
print(engine.rule_by_id("release.observation_tolerance").id, pkg + "catalog" in sys.modules)
print(engine.rule_by_id("monitoring.no_such_rule"), engine.rule_by_id("nolayer.x"))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert res.stdout.split("\n")[:3] == [
        "monitoring.crds_required instance True False False",
        "release.observation_tolerance True",
        "None None",
    ], res.stdout + res.stderr
