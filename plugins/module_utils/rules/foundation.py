# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the foundation role's inputs: quotas, egress, the network plan, break-glass, and the settings that
may weaken what the platform enforces only through an audited override (``foundation_policy_overrides``)."""

from __future__ import annotations

import datetime
import re

from ansible_collections.governed.odoo.plugins.module_utils.netplan import (
    NetplanError,
    netplan_carve,
    netplan_check_overlaps,
    netplan_validate_allowlist,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    as_int,
    as_list,
    covers_every_address,
    has_control_characters,
    is_dns_label,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
# What the platform enforces; a role variable may go beyond it only with an override (see policy_weakened)
BREAKGLASS_MAX_HOURS = 72
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"
# settings an override can name, and the fields every override must have
OVERRIDABLE = ("pod_security", "breakglass_max_hours")
OVERRIDE_FIELDS = ("setting", "reason", "ticket", "approved_by")


def _allowlist_cidrs(i):
    return [
        entry.get("cidr") if isinstance(entry, dict) else entry
        for entry in as_list(i.get("foundation_egress_allowlist"))
    ]


@rule(
    "foundation.tier_quota",
    layer="foundation",
    reads=("governed_odoo_tier", "foundation_quota_by_tier", "foundation_limit_range_by_tier"),
    refuses="a tier without a ResourceQuota or a LimitRange entry",
    example="foundation_quota_by_tier has no entry for governed_odoo_tier=production",
)
def tier_quota(i):
    tier = i.get("governed_odoo_tier")
    for name in ("foundation_quota_by_tier", "foundation_limit_range_by_tier"):
        if tier not in (i.get(name) or {}):
            yield f"{name} has no entry for governed_odoo_tier={text(tier)}"


@rule(
    "foundation.internet_egress_outside_prod",
    layer="foundation",
    reads=("foundation_egress_mode", "foundation_egress_allowlist", "governed_odoo_environment"),
    refuses="internet egress outside prod, by mode or by an allowlist entry 0.0.0.0/0",
    example="foundation_egress_mode=internet is refused outside prod (governed_odoo_environment=dev):"
    " list destinations in foundation_egress_allowlist",
)
def internet_egress_outside_prod(i):
    env, mode = i.get("governed_odoo_environment"), i.get("foundation_egress_mode")
    if mode == "internet" and env != "prod":
        yield (
            f"foundation_egress_mode=internet is refused outside prod (governed_odoo_environment={text(env)}):"
            " list destinations in foundation_egress_allowlist"
        )
    if mode == "allowlist":
        try:
            allow = netplan_validate_allowlist(_allowlist_cidrs(i), "foundation_egress_allowlist", env)
        except NetplanError:
            return  # foundation.egress_networks names the bad entry
        if "0.0.0.0/0" in allow:
            yield (
                "foundation_egress_allowlist contains 0.0.0.0/0: that is foundation_egress_mode=internet,"
                " refused outside prod"
            )


@rule(
    "foundation.allowlist_covers_internet",
    layer="foundation",
    reads=("foundation_egress_allowlist", "governed_odoo_environment"),
    refuses="egress allowlist entries that together cover the whole internet (for example 0.0.0.0/1 and"
    " 128.0.0.0/1) outside prod",
    example="foundation_egress_allowlist covers all of 0.0.0.0/0 together (0.0.0.0/1, 128.0.0.0/1):"
    " that is internet egress, refused outside prod (governed_odoo_environment=dev)",
)
def allowlist_covers_internet(i):
    env = i.get("governed_odoo_environment")
    if env == "prod":
        return
    cidrs = [c for c in _allowlist_cidrs(i) if isinstance(c, str)]
    version = covers_every_address(cidrs)
    whole = {4: "0.0.0.0/0", 6: "::/0"}.get(version)
    # a single any-address entry is foundation.internet_egress_outside_prod's finding
    if whole and not any(c.strip().endswith("/0") for c in cidrs):
        yield (
            f"foundation_egress_allowlist covers all of {whole} together ({', '.join(cidrs)}): that is internet"
            f" egress, refused outside prod (governed_odoo_environment={text(env)})"
        )


@rule(
    "foundation.egress_networks",
    layer="foundation",
    reads=("foundation_egress_allowlist", "governed_odoo_environment", "governed_odoo_tenant", "governed_odoo_netplan"),
    refuses="invalid egress networks, a network plan that cannot be carved or has no slot for the instance,"
    " and environment blocks, reserved networks and allowlist entries that overlap",
    example="netplan_check_overlaps: 1 overlapping network(s): foundation_egress_allowlist[0] (10.210.0.0/24)"
    " overlaps foundation_egress_allowlist[1] (10.210.0.128/25)",
)
def egress_networks(i):
    env, tenant = i.get("governed_odoo_environment"), i.get("governed_odoo_tenant")
    try:
        allow = netplan_validate_allowlist(_allowlist_cidrs(i), "foundation_egress_allowlist", env)
    except NetplanError as exc:
        yield str(exc)
        return
    nets = {}
    plan = i.get("governed_odoo_netplan") or {}
    if plan:
        try:
            carved = netplan_carve(plan, plan.get("environments") or {}, plan.get("tenants") or {})
        except (NetplanError, AttributeError) as exc:
            yield str(exc) if isinstance(exc, NetplanError) else "governed_odoo_netplan must be a mapping"
            return
        if env not in carved:
            yield f"governed_odoo_netplan.environments has no slot for governed_odoo_environment={text(env)}"
        elif tenant not in carved[env]["tenants"]:
            yield f"governed_odoo_netplan.tenants has no slot for governed_odoo_tenant={text(tenant)} in {env}"
        for name, block in carved.items():
            nets[f"governed_odoo_netplan environment {name}"] = block["cidr"]
        for name, cidr in (plan.get("reserved") or {}).items():
            nets[f"governed_odoo_netplan.reserved.{name}"] = cidr
    for n, cidr in enumerate(allow):
        nets[f"foundation_egress_allowlist[{n}]"] = cidr
    try:
        netplan_check_overlaps(nets)
    except NetplanError as exc:
        yield str(exc)


def _now(i):
    now = i.get("now")
    return now if isinstance(now, datetime.datetime) else datetime.datetime.now(datetime.timezone.utc)


@rule(
    "foundation.breakglass_grants",
    layer="foundation",
    reads=("foundation_breakglass_grants", "foundation_breakglass_max_hours", "now"),
    refuses="break-glass grants without a unique DNS-label name, an audit trail (reason, ticket, subject) or a"
    " UTC expiry within foundation_breakglass_max_hours",
    example="foundation_breakglass_grants[0].expires=2099-01-01T00:00:00Z is more than"
    " foundation_breakglass_max_hours=72 hours away",
)
def breakglass_grants(i):
    max_hours = as_int(i.get("foundation_breakglass_max_hours"))
    now = _now(i)
    seen = set()
    for n, grant in enumerate(as_list(i.get("foundation_breakglass_grants"))):
        where = f"foundation_breakglass_grants[{n}]"
        if not isinstance(grant, dict):
            yield f"{where} must be a mapping of name, subject, expires, reason and ticket"
            continue
        name = grant.get("name")
        if not is_dns_label(name, 40) or name in seen:
            yield f"{where}.name={text(name)} must be a unique DNS label of at most 40 characters"
        seen.add(name)
        expires = grant.get("expires")
        if not isinstance(expires, str) or not TIMESTAMP_RE.match(expires):
            yield f"{where}.expires={text(expires)} must be UTC in the form YYYY-MM-DDTHH:MM:SSZ"
        else:
            try:
                at = datetime.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                yield f"{where}.expires={expires} must be UTC in the form YYYY-MM-DDTHH:MM:SSZ"
            else:
                if max_hours is not None and (at - now).total_seconds() > max_hours * 3600:
                    yield (
                        f"{where}.expires={expires} is more than"
                        f" foundation_breakglass_max_hours={max_hours} hours away"
                    )
        for key in ("reason", "ticket"):
            if not text(grant.get(key)).strip():
                yield f"{where}.{key} is required: every break-glass grant is audited"
        subject = grant.get("subject")
        if not isinstance(subject, dict) or not text(subject.get("name")).strip():
            yield f"{where}.subject.name is required: a break-glass grant names who gets access"


@rule(
    "foundation.breakglass_max_hours",
    layer="foundation",
    reads=("foundation_breakglass_max_hours",),
    refuses="a break-glass lifetime that is not a whole number of hours of at least 1",
    example="foundation_breakglass_max_hours=0 must be a whole number of hours, at least 1",
)
def breakglass_max_hours(i):
    value = i.get("foundation_breakglass_max_hours")
    hours = as_int(value)
    if hours is None or hours < 1:
        yield f"foundation_breakglass_max_hours={text(value)} must be a whole number of hours, at least 1"


def _weakenings(i):
    """{setting: why} for every setting that goes beyond what the platform enforces."""
    out = {}
    labels = i.get("foundation_namespace_labels") or {}
    pod_security = sorted(k for k in labels if isinstance(k, str) and k.startswith(POD_SECURITY_PREFIX))
    level = i.get("foundation_pod_security_level")
    if level is not None and level != POD_SECURITY_LEVEL:
        out["pod_security"] = (
            f"foundation_pod_security_level={text(level)} (the platform enforces {POD_SECURITY_LEVEL})"
        )
    elif pod_security:
        out["pod_security"] = (
            f"foundation_namespace_labels sets {', '.join(pod_security)} over the Pod Security labels the platform"
            f" enforces ({POD_SECURITY_LEVEL})"
        )
    hours = as_int(i.get("foundation_breakglass_max_hours"))
    if hours is not None and hours > BREAKGLASS_MAX_HOURS:
        out["breakglass_max_hours"] = (
            f"foundation_breakglass_max_hours={hours} (the platform allows {BREAKGLASS_MAX_HOURS})"
        )
    return out


@rule(
    "foundation.policy_weakened",
    layer="foundation",
    reads=(
        "foundation_namespace_labels",
        "foundation_pod_security_level",
        "foundation_breakglass_max_hours",
        "foundation_policy_overrides",
    ),
    refuses="settings that weaken what the platform enforces (Pod Security labels, break-glass lifetime above"
    " 72 hours) without an override in foundation_policy_overrides",
    example="foundation_breakglass_max_hours=168 (the platform allows 72) weakens the platform's policy:"
    " add {setting: breakglass_max_hours, reason, ticket, approved_by} to foundation_policy_overrides",
)
def policy_weakened(i):
    overridden = {o.get("setting") for o in as_list(i.get("foundation_policy_overrides")) if isinstance(o, dict)}
    for setting, why in _weakenings(i).items():
        if setting not in overridden:
            yield (
                f"{why} weakens the platform's policy: add {{setting: {setting}, reason, ticket, approved_by}}"
                " to foundation_policy_overrides"
            )


@rule(
    "foundation.policy_overrides",
    layer="foundation",
    reads=("foundation_policy_overrides",),
    refuses="a policy override without its setting (one of pod_security, breakglass_max_hours), reason, ticket"
    " and approver, or given twice",
    example="foundation_policy_overrides[0].approved_by is required: an override of the platform's policy is audited",
)
def policy_overrides(i):
    value = i.get("foundation_policy_overrides")
    if value in (None, []):
        return
    if not isinstance(value, list):
        yield "foundation_policy_overrides must be a list of {setting, reason, ticket, approved_by}"
        return
    seen = set()
    for n, override in enumerate(value):
        where = f"foundation_policy_overrides[{n}]"
        if not isinstance(override, dict):
            yield f"{where} must be a mapping of setting, reason, ticket and approved_by"
            continue
        for key in OVERRIDE_FIELDS:
            if not isinstance(override.get(key), str) or not override[key].strip():
                yield f"{where}.{key} is required: an override of the platform's policy is audited"
        setting = override.get("setting")
        if isinstance(setting, str) and setting.strip():
            if setting not in OVERRIDABLE:
                yield f"{where}.setting={setting} is not a setting that can be overridden ({', '.join(OVERRIDABLE)})"
            elif setting in seen:
                yield f"{where}.setting={setting} is overridden twice"
            seen.add(setting)


TEXT_VARIABLES = (
    "foundation_egress_allowlist",
    "foundation_breakglass_grants",
    "foundation_namespace_labels",
    "foundation_namespace_annotations",
    "foundation_deployer_subjects",
    "foundation_readonly_subjects",
    "foundation_policy_overrides",
    "foundation_pod_security_version",
)


@rule(
    "foundation.control_characters",
    layer="foundation",
    reads=TEXT_VARIABLES,
    refuses="control characters (line breaks, tabs, NUL...) in any foundation value that lands in a manifest,"
    " a label, an annotation or a log line",
    example="foundation_egress_allowlist holds a control character (a line break?): names, subjects, labels and"
    " reasons are single-line text",
)
def control_characters(i):
    for name in TEXT_VARIABLES:
        if has_control_characters(i.get(name)):
            yield (
                f"{name} holds a control character (a line break?): names, subjects, labels and reasons are"
                " single-line text"
            )
