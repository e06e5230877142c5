"""governed.odoo.check_instances evaluates the platform variables' argument spec (platform.variables) first: an
instance that breaks it is not judged by the rules that read those variables, nor is the inventory; every other
instance is judged as before, all at once."""

from __future__ import annotations

import json
import sys

import pytest
from play_runner import ANSIBLE_PLAYBOOK, run_play

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Check
      governed.odoo.check_instances:
        instances: "{{ ansible_play_hosts }}"
        inventory: "{{ groups['all'] }}"
        layers: [platform]
      run_once: true
"""


def _host(tenant, **more):
    values = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "governed_odoo_tenant": tenant,
        "governed_odoo_environment": "dev",
        "governed_odoo_instance": f"{tenant.lower()}-dev",
        "governed_odoo_namespace": "odoo-shared",
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_size": "small",
        "governed_odoo_cluster": {"name": "lab", "topology": "shared"},
    }
    values.update(more)
    return values


def _run(tmp_path, hosts):
    (tmp_path / "hosts.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    return run_play(tmp_path, PLAY, "-i", str(tmp_path / "hosts.json"))


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_the_argument_spec_comes_first(tmp_path):
    # a: a size that is not one of the choices, and a tenant that is no DNS label; b: a tenant that is no DNS label;
    # both take the same namespace of the same cluster (an inventory rule)
    rc, out = _run(tmp_path, {"a": _host("Alpha_1", governed_odoo_size="huge"), "b": _host("Bravo_1")})
    assert rc != 0
    assert "a: value of governed_odoo_size must be one of: small, medium, large, got: huge [platform.variables]" in out
    assert "b: governed_odoo_tenant=Bravo_1 must be a DNS label" in out, out
    # nothing else about a (its tenant), and the inventory is not judged while an instance's variables are mistyped
    assert "Alpha_1 must be" not in out and "platform.namespace_collision" not in out, out
    # with a's size one of the choices: a's tenant and the collision are found as before, beside b's tenant
    rc, out = _run(tmp_path, {"a": _host("Alpha_1"), "b": _host("Bravo_1")})
    assert rc != 0 and "[platform.namespace_collision]" in out and "Alpha_1 must be" in out, out
    assert "Bravo_1 must be" in out and "platform.variables" not in out, out
