"""Unit tests of the network plan (plugins/module_utils/netplan.py, behind the netplan_* filters)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils import netplan  # noqa: E402

PLAN = {"supernet": "10.64.0.0/12", "environment_prefix": 16, "tenant_prefix": 20}
ENVS = {"dev": 0, "staging": 1, "prod": 2}
TENANTS = [{"name": "acme", "slot": 0}, {"name": "globex", "slot": 1}]


def cidrs(carved):
    return {(env, t): v["cidr"] for env, e in carved.items() for t, v in e["tenants"].items()}


def test_carve_by_slots():
    out = netplan.netplan_carve(PLAN, ENVS, TENANTS)
    assert out["dev"]["cidr"] == "10.64.0.0/16"
    assert out["staging"]["cidr"] == "10.65.0.0/16"
    assert out["prod"]["cidr"] == "10.66.0.0/16"
    assert out["prod"]["slot"] == 2
    assert out["prod"]["tenants"]["acme"] == {"cidr": "10.66.0.0/20", "slot": 0}
    assert out["prod"]["tenants"]["globex"] == {"cidr": "10.66.16.0/20", "slot": 1}


def test_carve_is_deterministic_and_stable_when_tenants_are_added_or_reordered():
    before = cidrs(netplan.netplan_carve(PLAN, ENVS, TENANTS))
    more = [{"name": "aaa-first-alphabetically", "slot": 5}, *reversed(TENANTS)]
    after = cidrs(netplan.netplan_carve(PLAN, dict(reversed(list(ENVS.items()))), more))
    for key, cidr in before.items():
        assert after[key] == cidr  # nobody moved
    assert after[("dev", "aaa-first-alphabetically")] == "10.64.80.0/20"
    assert netplan.netplan_carve(PLAN, ENVS, TENANTS) == netplan.netplan_carve(PLAN, ENVS, TENANTS)


def test_carve_results_never_overlap():
    tenants = {f"t{i}": i for i in range(16)}
    out = netplan.netplan_carve(PLAN, {f"e{i}": i for i in range(16)}, tenants)
    flat = {f"{e}/{t}": c for (e, t), c in cidrs(out).items()}
    assert len(flat) == 256
    netplan.netplan_check_overlaps(flat)  # raises on any overlap
    netplan.netplan_check_overlaps({e: v["cidr"] for e, v in out.items()})


def test_carve_accepts_the_three_shapes_and_tenant_environments():
    out = netplan.netplan_carve(
        PLAN,
        {"dev": {"slot": 0}, "prod": {"slot": "2"}},
        {"acme": 0, "globex": {"slot": 1, "environments": ["prod"]}},
    )
    assert set(out["dev"]["tenants"]) == {"acme"}
    assert set(out["prod"]["tenants"]) == {"acme", "globex"}


@pytest.mark.parametrize(
    ("plan", "envs", "tenants", "message"),
    [
        ({**PLAN, "supernet": "10.64.0.1/12"}, ENVS, TENANTS, r"plan.supernet '10.64.0.1/12' has host bits set"),
        ({**PLAN, "supernet": "banana"}, ENVS, TENANTS, r"plan.supernet 'banana' is not a valid"),
        ({**PLAN, "environment_prefix": 8}, ENVS, TENANTS, r"plan.environment_prefix /8 is larger"),
        ({**PLAN, "tenant_prefix": 12}, ENVS, TENANTS, r"plan.tenant_prefix /12 is larger"),
        ({**PLAN, "tenant_prefix": "x"}, ENVS, TENANTS, r"plan.tenant_prefix must be a prefix length"),
        (PLAN, {"dev": 0, "prod": 16}, TENANTS, r"environments.prod.slot 16 is out of range: .* holds 16 blocks"),
        (PLAN, {"dev": 1, "prod": 1}, TENANTS, r"environments.prod.slot 1 is already taken by environments.dev"),
        (PLAN, ENVS, [{"name": "acme"}], r"tenants\[0\] \(acme\) has no slot"),
        (PLAN, ENVS, [{"name": "acme", "slot": -1}], r"tenants\[0\] \(acme\).slot must be a non-negative integer"),
        (
            PLAN,
            ENVS,
            [{"name": "a", "slot": 0}, {"name": "b", "slot": 0}],
            r"tenants\[1\] \(b\).slot 0 is already taken by tenants\[0\] \(a\)",
        ),
        (PLAN, ENVS, [{"name": "a", "slot": 0}, {"name": "a", "slot": 1}], r"repeats the name 'a'"),
        (
            PLAN,
            ENVS,
            {"acme": {"slot": 0, "environments": ["qa"]}},
            r"tenants.acme.environments names unknown environment\(s\) qa",
        ),
        (PLAN, ENVS, {"acme": True}, r"tenants.acme.slot must be a non-negative integer"),
        ("10.0.0.0/8", ENVS, TENANTS, r"the plan must be a mapping"),
    ],
)
def test_carve_errors_name_the_field(plan, envs, tenants, message):
    with pytest.raises(netplan.NetplanError, match=message):
        netplan.netplan_carve(plan, envs, tenants)


def test_carve_ipv6():
    out = netplan.netplan_carve(
        {"supernet": "fd00:10::/48", "environment_prefix": 56, "tenant_prefix": 64}, {"dev": 1}, {"acme": 3}
    )
    assert out["dev"]["cidr"] == "fd00:10:0:100::/56"
    assert out["dev"]["tenants"]["acme"]["cidr"] == "fd00:10:0:103::/64"


def test_allowlist_normalizes():
    out = netplan.netplan_validate_allowlist(
        ["192.0.2.10", " 198.51.100.0/24", "2001:db8::/32", "192.0.2.10/32"], "ingress_allowlist", environment="prod"
    )
    assert out == ["192.0.2.10/32", "198.51.100.0/24", "2001:db8::/32"]
    assert netplan.netplan_validate_allowlist("10.0.0.0/8, 10.1.0.0/16", "x") == ["10.0.0.0/8", "10.1.0.0/16"]
    assert netplan.netplan_validate_allowlist(None, "x") == []


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (
            ["10.0.0.0/8", "10.0.0.5/24"],
            {},
            r"ingress\[1\] '10.0.0.5/24' has host bits set; the network is 10.0.0.0/24",
        ),
        (["10.0.0.0/8", "300.1.1.1"], {}, r"ingress\[1\] '300.1.1.1' is not a valid IP address or CIDR"),
        ([42], {}, r"ingress\[0\] must be a CIDR string, got int"),
        (["0.0.0.0/0"], {"environment": "prod"}, r"ingress\[0\] is 0.0.0.0/0 \(any address\).*production"),
        (["::/0"], {"environment": "Production"}, r"ingress\[0\] is ::/0"),
        (["0.0.0.0/0"], {"environment": "prod-eu"}, r"not allowed in production"),
        (["0.0.0.0/0"], {"environment": "dev", "production": True}, r"not allowed in production"),
        ({"a": 1}, {}, r"ingress must be a list"),
    ],
)
def test_allowlist_errors_name_the_field(value, kwargs, message):
    with pytest.raises(netplan.NetplanError, match=message):
        netplan.netplan_validate_allowlist(value, "ingress", **kwargs)


def test_allowlist_any_outside_production_or_when_allowed():
    assert netplan.netplan_validate_allowlist(["0.0.0.0/0"], "x", environment="dev") == ["0.0.0.0/0"]
    assert netplan.netplan_validate_allowlist(["0.0.0.0/0"], "x", environment="prod", allow_any=True) == ["0.0.0.0/0"]
    assert netplan.netplan_validate_allowlist(["0.0.0.0/0"], "x", environment="production-like", production=False)


def test_check_overlaps_names_every_pair():
    with pytest.raises(netplan.NetplanError) as err:
        netplan.netplan_check_overlaps(
            {
                "odoo_pod_cidr": "10.0.0.0/16",
                "redis_cidrs": ["192.168.0.0/24", "10.0.1.0/24"],
                "office": "172.16.0.0/12",
                "vpn": "172.16.5.0/24",
                "v6": "fd00::/8",
            }
        )
    msg = str(err.value)
    assert "2 overlapping network(s)" in msg
    assert "odoo_pod_cidr (10.0.0.0/16) overlaps redis_cidrs[1] (10.0.1.0/24)" in msg
    assert "office (172.16.0.0/12) overlaps vpn (172.16.5.0/24)" in msg
    assert "v6" not in msg and "redis_cidrs[0]" not in msg


def test_check_overlaps_within_one_list_and_identical():
    with pytest.raises(netplan.NetplanError, match=r"a\[0\] \(10.0.0.0/24\) overlaps a\[1\] \(10.0.0.0/24\)"):
        netplan.netplan_check_overlaps({"a": ["10.0.0.0/24", "10.0.0.0/24"]})


def test_check_overlaps_adjacent_is_fine_and_normalizes():
    out = netplan.netplan_check_overlaps({"a": "10.0.0.0/25", "b": ["10.0.0.128/25"], "c": "10.0.1.1"})
    assert out == {"a": "10.0.0.0/25", "b": ["10.0.0.128/25"], "c": "10.0.1.1/32"}


def test_check_overlaps_bad_entry_names_it():
    with pytest.raises(netplan.NetplanError, match=r"netplan_check_overlaps: b\[1\] 'nope' is not a valid"):
        netplan.netplan_check_overlaps({"a": "10.0.0.0/8", "b": ["192.168.0.0/16", "nope"]})


def test_filters_are_registered():
    from ansible_collections.governed.odoo.plugins.filter.netplan import FilterModule

    assert set(FilterModule().filters()) == {
        "netplan_carve",
        "netplan_validate_allowlist",
        "netplan_check_overlaps",
    }


def test_the_filters_raise_ansible_filter_errors():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.governed.odoo.plugins.filter.netplan import FilterModule

    filters = FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match=r"allow\[0\] 'nope' is not a valid IP address"):
        filters["netplan_validate_allowlist"](["nope"], "allow")
    assert filters["netplan_check_overlaps"]({"a": "10.0.0.0/24"}) == {"a": "10.0.0.0/24"}
