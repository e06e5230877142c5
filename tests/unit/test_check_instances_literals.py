"""governed.odoo.check_instances: values that need no templating are converted once, with the same outcome."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible_collections.governed.odoo.plugins.action import check_instances  # noqa: E402


class _Action:
    _templar = Templar(loader=DataLoader())


def test_what_counts_as_a_literal():
    assert check_instances.is_literal({"a": [1, 2.5, None, True, trust_as_template("text")], "b": {"c": "d"}})
    for value in ("{{ x }}", "a {% if y %}", "{# note #}", {"k": ["{{ x }}"]}, {"{{ key }}": 1}, object()):
        assert not check_instances.is_literal(value), value


def _values(host_vars, literals):
    names = set(host_vars) | {"derived"}
    defaults = {"derived": trust_as_template("{{ netplan.supernet }}/{{ tenant }}")}
    return check_instances.ActionModule._effective(_Action(), host_vars, {}, defaults, names, literals=literals)


def test_literals_give_what_templating_gives_and_each_host_its_own_copy():
    shared = {"supernet": trust_as_template("10.200.0.0/16"), "tenants": {"civil": 1, "building": 2}}
    hosts = {
        h: {
            "netplan": shared,
            "tenant": trust_as_template(h),
            "namespace": trust_as_template("erp-{{ tenant }}"),
            "limits": [trust_as_template("{{ 2 + 2 }}"), 5],
        }
        for h in ("civil", "building")
    }
    literals = {}
    fast = {h: _values(v, literals) for h, v in hosts.items()}
    # the shared dict was converted once: one entry, the raw object kept beside its id
    assert [entry[0] for entry in literals.values() if entry[0] is shared] == [shared]
    slow = {h: _values(v, None) for h, v in hosts.items()}
    assert fast == slow
    assert fast["civil"]["namespace"] == "erp-civil" and fast["civil"]["limits"] == [4, 5]
    assert fast["building"]["derived"] == "10.200.0.0/16/building"
    # a rule that changed one host's value would not change another's
    fast["civil"]["netplan"]["tenants"]["x"] = 3
    assert "x" not in fast["building"]["netplan"]["tenants"]
