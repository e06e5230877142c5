"""plugin_utils/settle.py: the values that many others read are templated once, before those that read them, and only
those that give the same value every time."""

from __future__ import annotations

from collections import ChainMap

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible_collections.governed.odoo.plugins.plugin_utils import settle


@pytest.fixture(autouse=True, scope="module")
def _plugins():
    # the file lookup, as in a playbook run
    init_plugin_loader()


def _variables(tmp_path):
    (tmp_path / "connection.json").write_text('{"node": {"enabled": true, "address": "10.0.0.9"}}')
    raw = {
        "lab_dir": str(tmp_path),
        "connection": "{{ lookup('ansible.builtin.file', lab_dir ~ '/connection.json') | from_json }}",
        "lab_node": "{{ connection.node }}",
        "node_up": "{{ lab_node.enabled | bool }}",
        "host": "{{ lab_node.address }}",
        "selector": "{{ {'real': 'yes'} if node_up else {} }}",
        "token": "{{ 999999 | random }}",
        "uses_token": "{{ token }}-x",
        "broken": "{{ nosuch.attribute }}",
        "uses_broken": "{{ broken }}",
        "direct": "{{ connection.node.address }}",
        "plain": "no template here",
    }
    return {k: trust_as_template(v) if "{{" in v else v for k, v in raw.items()}


def test_dependencies_come_before_what_reads_them(tmp_path):
    reads = settle.Reads(_variables(tmp_path), frozenset())
    order = reads.dependencies(["selector", "host"])
    assert order.index("connection") < order.index("lab_node") < order.index("node_up")
    assert "selector" not in order and "host" not in order
    assert set(order) == {"lab_dir", "connection", "lab_node", "node_up"}


def test_settled_values_are_what_templating_them_gives(tmp_path):
    variables = _variables(tmp_path)
    templar = Templar(loader=DataLoader(), variables=variables)
    out = settle.settle_reads(templar, variables, ["selector", "host", "uses_token", "uses_broken"], frozenset())
    # the file's values, templated once each; the options themselves are left to their reader
    assert out["connection"] == {"node": {"enabled": True, "address": "10.0.0.9"}}
    assert out["lab_node"] == {"enabled": True, "address": "10.0.0.9"}
    assert out["node_up"] is True
    assert set(out) == {"connection", "lab_node", "node_up"}
    # random is not settled (another value each time); a value that fails is left to fail where it is read
    assert "token" not in out and "broken" not in out
    # the templar now reads the settled values, and gives what it gave before for the rest
    assert isinstance(templar.available_variables, ChainMap)
    assert templar.template(variables["selector"]) == {"real": "yes"}
    assert templar.template(variables["host"]) == "10.0.0.9"


def test_a_value_that_reads_a_changing_name_is_not_settled(tmp_path):
    variables = _variables(tmp_path)
    templar = Templar(loader=DataLoader(), variables=variables)
    out = settle.settle_reads(templar, variables, ["selector", "direct"], frozenset({"lab_node"}))
    # lab_node changes meanwhile (a render task sets it): neither it nor what reads it is kept; what reads the file
    # directly is
    assert set(out) == {"connection"}
    assert templar.template(variables["direct"]) == "10.0.0.9"


def test_other_lookups_are_not_settled():
    reads = settle.Reads({"a": "{{ lookup('governed.odoo.rules', 'odoo') }}", "b": "{{ lookup('env', 'X') }}"}, set())
    assert reads.settled("a") is False
    assert reads.settled("b") is True


def test_with_and_names_the_names_are_settled_too_but_never_a_changing_one(tmp_path):
    variables = _variables(tmp_path)
    templar = Templar(loader=DataLoader(), variables=variables)
    out = settle.settle_reads(templar, variables, ["host", "selector"], frozenset({"selector"}), and_names=True)
    # host itself (last, after what it reads); selector is set meanwhile: its present value is not kept
    assert out["host"] == "10.0.0.9"
    assert list(out)[-1] == "host"
    assert "selector" not in out
