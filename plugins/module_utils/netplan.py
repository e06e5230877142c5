# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network plan: carve CIDRs per environment and tenant, validate allowlists, find overlaps.

Pure functions, used by the rule package and by the filters of the same names (plugins/filter/netplan.py,
documented in the YAML files beside it). Errors are :class:`NetplanError` and name the field at fault.

Carving is deterministic and stable because every environment and tenant declares its ``slot``:
the block of environment slot E is the E-th block of size ``environment_prefix`` in the
supernet, and the block of tenant slot T is the T-th block of size ``tenant_prefix`` inside
each environment's block. Nothing depends on names, ordering or how many others exist, so the
same inventory always gives the same CIDRs and adding a tenant never moves another.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError

try:
    import netaddr
except ImportError:  # pragma: no cover - reported when a filter is used
    netaddr = None

PRODUCTION_NAMES = ("prod", "production")


class NetplanError(GovernedError):
    """A network plan, allowlist or set of networks is invalid; the message names the field."""

    kind = "netplan"


def _need_netaddr(filter_name):
    if netaddr is None:
        raise NetplanError(f"{filter_name} requires the python library netaddr (pip install netaddr)")


def _network(value, field, filter_name, strict=True):
    """Parse one CIDR or address; errors name ``field``."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise NetplanError(f"{filter_name}: {field} must be a CIDR string, got {type(value).__name__} {value!r}")
    text = value.strip()
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NetplanError(f"{filter_name}: {field} {value!r} is not a valid IP address or CIDR") from None
    if strict and net.ip != net.network:
        raise NetplanError(f"{filter_name}: {field} {value!r} has host bits set; the network is {net.cidr}")
    return net.cidr


def _slot(value, field, filter_name):
    if isinstance(value, bool):
        raise NetplanError(f"{filter_name}: {field} must be a non-negative integer, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        raise NetplanError(f"{filter_name}: {field} must be a non-negative integer, got {value!r}")
    return value


def _prefix(plan, key, filter_name, maximum):
    value = plan.get(key)
    if isinstance(value, str) and value.strip().lstrip("/").isdigit():
        value = int(value.strip().lstrip("/"))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise NetplanError(
            f"{filter_name}: plan.{key} must be a prefix length between 0 and {maximum}, got {value!r}"
        )
    return value


def _entries(value, what, filter_name):
    """Normalize {name: slot}, {name: {slot: N, ...}} or [{name:, slot:, ...}] to [(name, dict)]."""
    if value is None:
        return []
    out = []
    if isinstance(value, dict):
        for name, spec in value.items():
            if isinstance(spec, dict):
                out.append((str(name), dict(spec), f"{what}.{name}"))
            else:
                out.append((str(name), {"slot": spec}, f"{what}.{name}"))
    elif isinstance(value, list):
        for i, spec in enumerate(value):
            if not isinstance(spec, dict) or not spec.get("name"):
                raise NetplanError(
                    f"{filter_name}: {what}[{i}] must be a mapping with a name and a slot, got {spec!r}"
                )
            out.append((str(spec["name"]), dict(spec), f"{what}[{i}] ({spec['name']})"))
    else:
        raise NetplanError(
            f"{filter_name}: {what} must be a mapping of name to slot or a list of "
            f"{{name, slot}}, got {type(value).__name__}"
        )
    names = {}
    for name, _spec, field in out:
        if name in names:
            raise NetplanError(f"{filter_name}: {field} repeats the name {name!r} of {names[name]}")
        names[name] = field
    return out


def _assign(entries, capacity, block_desc, filter_name):
    """{name: (slot, spec)}, slots checked for range and uniqueness."""
    by_slot = {}
    out = {}
    for name, spec, field in entries:
        if "slot" not in spec:
            raise NetplanError(
                f"{filter_name}: {field} has no slot; every entry needs an explicit slot so "
                "that adding one never moves the others"
            )
        slot = _slot(spec["slot"], f"{field}.slot", filter_name)
        if slot >= capacity:
            raise NetplanError(
                f"{filter_name}: {field}.slot {slot} is out of range: {block_desc} holds "
                f"{capacity} blocks (slots 0-{capacity - 1})"
            )
        if slot in by_slot:
            raise NetplanError(f"{filter_name}: {field}.slot {slot} is already taken by {by_slot[slot]}")
        by_slot[slot] = field
        out[name] = (slot, spec)
    return out


def netplan_carve(plan, environments, tenants=None):
    """{env: {cidr, slot, tenants: {tenant: {cidr, slot}}}} carved from plan.supernet by slots."""
    fname = "netplan_carve"
    _need_netaddr(fname)
    if not isinstance(plan, dict):
        raise NetplanError(
            f"{fname}: the plan must be a mapping with supernet, environment_prefix and "
            f"tenant_prefix, got {type(plan).__name__}"
        )
    if not plan.get("supernet"):
        raise NetplanError(f"{fname}: plan.supernet is required")
    supernet = _network(plan["supernet"], "plan.supernet", fname)
    maximum = 32 if supernet.version == 4 else 128
    env_prefix = _prefix(plan, "environment_prefix", fname, maximum)
    tenant_prefix = _prefix(plan, "tenant_prefix", fname, maximum)
    if env_prefix < supernet.prefixlen:
        raise NetplanError(
            f"{fname}: plan.environment_prefix /{env_prefix} is larger than plan.supernet {supernet} itself"
        )
    if tenant_prefix < env_prefix:
        raise NetplanError(
            f"{fname}: plan.tenant_prefix /{tenant_prefix} is larger than plan.environment_prefix /{env_prefix}"
        )
    env_capacity = 2 ** (env_prefix - supernet.prefixlen)
    tenant_capacity = 2 ** (tenant_prefix - env_prefix)
    envs = _assign(
        _entries(environments, "environments", fname), env_capacity, f"plan.supernet {supernet} at /{env_prefix}", fname
    )
    tens = _assign(
        _entries(tenants, "tenants", fname),
        tenant_capacity,
        f"an environment block (/{env_prefix}) at /{tenant_prefix}",
        fname,
    )
    env_size = 2 ** (maximum - env_prefix)
    tenant_size = 2 ** (maximum - tenant_prefix)
    result = {}
    for env_name, (env_slot, _env_spec) in sorted(envs.items(), key=lambda kv: kv[1][0]):
        env_net = netaddr.IPNetwork(
            f"{netaddr.IPAddress(supernet.first + env_slot * env_size, supernet.version)}/{env_prefix}"
        )
        carved = {}
        for tenant_name, (tenant_slot, spec) in sorted(tens.items(), key=lambda kv: kv[1][0]):
            only = spec.get("environments")
            if only is not None:
                if not isinstance(only, list):
                    raise NetplanError(
                        f"{fname}: tenants.{tenant_name}.environments must be a list of environment names"
                    )
                unknown = sorted(set(map(str, only)) - set(envs))
                if unknown:
                    raise NetplanError(
                        f"{fname}: tenants.{tenant_name}.environments names unknown environment(s) {', '.join(unknown)}"
                    )
                if env_name not in only:
                    continue
            first = netaddr.IPAddress(env_net.first + tenant_slot * tenant_size, supernet.version)
            carved[tenant_name] = {"cidr": str(netaddr.IPNetwork(f"{first}/{tenant_prefix}")), "slot": tenant_slot}
        result[env_name] = {"cidr": str(env_net.cidr), "slot": env_slot, "tenants": carved}
    return result


def _is_production(environment, production):
    if production is not None:
        return bool(production)
    if not environment:
        return False
    name = str(environment).lower()
    return name in PRODUCTION_NAMES or name.startswith(("prod-", "prod_", "production-", "production_"))


def netplan_validate_allowlist(value, field_name, environment=None, allow_any=False, production=None):
    """Validate and normalize a list of CIDRs/addresses; errors name ``field_name`` and the index."""
    fname = "netplan_validate_allowlist"
    _need_netaddr(fname)
    field = str(field_name or "allowlist")
    if value is None:
        return []
    if isinstance(value, str):
        items = [v for v in value.replace(",", " ").split() if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise NetplanError(f"{fname}: {field} must be a list of CIDRs, got {type(value).__name__}")
    prod = _is_production(environment, production)
    out, seen = [], set()
    for i, item in enumerate(items):
        net = _network(item, f"{field}[{i}]", fname)
        if net.prefixlen == 0 and prod and not allow_any:
            raise NetplanError(
                f"{fname}: {field}[{i}] is {net} (any address), which is not allowed in production "
                f"environment {environment!r}; list the networks that need access, or pass allow_any=true"
            )
        text = str(net)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def netplan_check_overlaps(networks):
    """Raise naming every pair of overlapping entries of {name: cidr or [cidrs]}; else return it normalized."""
    fname = "netplan_check_overlaps"
    _need_netaddr(fname)
    if not isinstance(networks, dict):
        raise NetplanError(
            f"{fname}: expects a mapping of name to CIDR (or list of CIDRs), got {type(networks).__name__}"
        )
    labelled = []
    normalized = {}
    for name, value in networks.items():
        if isinstance(value, (list, tuple)):
            nets = [_network(v, f"{name}[{i}]", fname) for i, v in enumerate(value)]
            labelled.extend((f"{name}[{i}]", n) for i, n in enumerate(nets))
            normalized[name] = [str(n) for n in nets]
        else:
            net = _network(value, str(name), fname)
            labelled.append((str(name), net))
            normalized[name] = str(net)
    # sweep over networks sorted by first address: each one overlaps the open ones that reach it
    labelled.sort(key=lambda ln: (ln[1].version, ln[1].first, -ln[1].size))
    overlaps, open_ = [], []
    for label, net in labelled:
        open_ = [(lab, n) for lab, n in open_ if n.version == net.version and n.last >= net.first]
        overlaps.extend(f"{lab} ({n}) overlaps {label} ({net})" for lab, n in open_)
        open_.append((label, net))
    if overlaps:
        raise NetplanError(f"{fname}: {len(overlaps)} overlapping network(s): " + "; ".join(overlaps))
    return normalized
