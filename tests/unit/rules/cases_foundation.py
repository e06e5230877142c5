"""For every foundation rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

import datetime

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.UTC)
TIERS = {"nonproduction": {}, "production": {}}
PLAN = {
    "supernet": "10.200.0.0/16",
    "environment_prefix": 20,
    "tenant_prefix": 24,
    "environments": {"dev": 0, "prod": 5},
    "tenants": {"civil": 0},
    "reserved": {"pods": "198.18.0.0/15"},
}


def allow(*cidrs):
    return [{"name": f"dest{n}", "cidr": c} for n, c in enumerate(cidrs)]


def grant(**more):
    g = {
        "name": "incident",
        "subject": {"kind": "User", "name": "jane"},
        "expires": "2026-12-07T12:00:00Z",
        "reason": "outage",
        "ticket": "INC-1",
    }
    g.update(more)
    return g


def grants(*gs, hours=72):
    return {"foundation_breakglass_grants": list(gs), "foundation_breakglass_max_hours": hours, "now": NOW}


OVERRIDE = {"setting": "breakglass_max_hours", "reason": "audit", "ticket": "CHG-9", "approved_by": "ciso"}

CASES = {
    "foundation.tier_quota": {
        "bad": [
            (
                {
                    "governed_odoo_tier": "gold",
                    "foundation_quota_by_tier": TIERS,
                    "foundation_limit_range_by_tier": TIERS,
                },
                "foundation_quota_by_tier has no entry for governed_odoo_tier=gold",
            ),
            (
                {"governed_odoo_tier": "production", "foundation_quota_by_tier": TIERS},
                "foundation_limit_range_by_tier has no entry",
            ),
        ],
        "good": [
            {
                "governed_odoo_tier": "production",
                "foundation_quota_by_tier": TIERS,
                "foundation_limit_range_by_tier": TIERS,
            }
        ],
    },
    "foundation.internet_egress_outside_prod": {
        "bad": [
            (
                {"foundation_egress_mode": "internet", "governed_odoo_environment": "dev"},
                "foundation_egress_mode=internet is refused outside prod (governed_odoo_environment=dev)",
            ),
            (
                {"foundation_egress_mode": "allowlist", "foundation_egress_allowlist": allow("0.0.0.0/0")},
                "foundation_egress_allowlist contains 0.0.0.0/0",
            ),
        ],
        "good": [
            {"foundation_egress_mode": "internet", "governed_odoo_environment": "prod"},
            {"foundation_egress_mode": "allowlist", "foundation_egress_allowlist": allow("10.0.0.0/8")},
        ],
    },
    "foundation.allowlist_covers_internet": {
        "bad": [
            (
                {"governed_odoo_environment": "dev", "foundation_egress_allowlist": allow("0.0.0.0/1", "128.0.0.0/1")},
                "foundation_egress_allowlist covers all of 0.0.0.0/0 together",
            ),
            (
                {
                    "governed_odoo_environment": "qa",
                    "foundation_egress_allowlist": allow("0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"),
                },
                "refused outside prod (governed_odoo_environment=qa)",
            ),
            ({"governed_odoo_environment": "dev", "foundation_egress_allowlist": allow("::/1", "8000::/1")}, "::/0"),
        ],
        "good": [
            {"governed_odoo_environment": "dev", "foundation_egress_allowlist": allow("0.0.0.0/1", "128.0.0.0/2")},
            {"governed_odoo_environment": "prod", "foundation_egress_allowlist": allow("0.0.0.0/1", "128.0.0.0/1")},
            {"governed_odoo_environment": "dev", "foundation_egress_allowlist": []},
        ],
    },
    "foundation.egress_networks": {
        "bad": [
            (
                {"foundation_egress_allowlist": allow("10.210.0.0/24", "10.210.0.128/25")},
                "foundation_egress_allowlist[0] (10.210.0.0/24) overlaps foundation_egress_allowlist[1]",
            ),
            ({"foundation_egress_allowlist": allow("10.0.0.300/8")}, "foundation_egress_allowlist[0]"),
            (
                {
                    "governed_odoo_netplan": dict(PLAN, reserved={"corporate": "10.200.64.0/18"}),
                    "governed_odoo_environment": "dev",
                    "governed_odoo_tenant": "civil",
                },
                "governed_odoo_netplan.reserved.corporate",
            ),
            (
                {"governed_odoo_netplan": PLAN, "governed_odoo_environment": "qa", "governed_odoo_tenant": "civil"},
                "governed_odoo_netplan.environments has no slot for governed_odoo_environment=qa",
            ),
            (
                {"governed_odoo_netplan": PLAN, "governed_odoo_environment": "dev", "governed_odoo_tenant": "maint"},
                "governed_odoo_netplan.tenants has no slot for governed_odoo_tenant=maint in dev",
            ),
            ({"governed_odoo_netplan": dict(PLAN, supernet=None)}, "plan.supernet is required"),
        ],
        "good": [
            {"governed_odoo_netplan": PLAN, "governed_odoo_environment": "dev", "governed_odoo_tenant": "civil"},
            {"foundation_egress_allowlist": allow("10.210.0.0/25", "10.210.0.128/25")},
            {},
        ],
    },
    "foundation.breakglass_grants": {
        "bad": [
            (
                grants(grant(expires="2099-01-01T00:00:00Z")),
                "foundation_breakglass_grants[0].expires=2099-01-01T00:00:00Z is more than"
                " foundation_breakglass_max_hours=72 hours away",
            ),
            (grants(grant(expires="2026-12-07 12:00")), "must be UTC in the form YYYY-MM-DDTHH:MM:SSZ"),
            (grants(grant(expires="2026-02-30T12:00:00Z")), "must be UTC in the form"),
            (grants(grant(), grant()), "foundation_breakglass_grants[1].name=incident must be a unique DNS label"),
            (grants(grant(name="Incident!")), "must be a unique DNS label of at most 40 characters"),
            (grants(grant(ticket="")), "foundation_breakglass_grants[0].ticket is required"),
            (grants(grant(reason=None)), "foundation_breakglass_grants[0].reason is required"),
            (grants(grant(subject={"kind": "User"})), "subject.name is required"),
            (grants("incident"), "must be a mapping"),
        ],
        "good": [
            grants(grant()),
            grants(grant(), grant(name="second", expires="2026-12-06T13:00:00Z")),
            grants(grant(expires="2027-01-01T00:00:00Z"), hours=24 * 30),
            grants(),
        ],
    },
    "foundation.breakglass_max_hours": {
        "bad": [
            ({"foundation_breakglass_max_hours": 0}, "foundation_breakglass_max_hours=0 must be a whole number"),
            ({"foundation_breakglass_max_hours": "a week"}, None),
            ({"foundation_breakglass_max_hours": -5}, None),
        ],
        "good": [{"foundation_breakglass_max_hours": 72}, {"foundation_breakglass_max_hours": "24"}],
    },
    "foundation.policy_weakened": {
        "bad": [
            (
                {"foundation_breakglass_max_hours": 168},
                "foundation_breakglass_max_hours=168 (the platform allows 72) weakens the platform's policy",
            ),
            (
                {"foundation_namespace_labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
                "foundation_namespace_labels sets pod-security.kubernetes.io/enforce",
            ),
            ({"foundation_pod_security_level": "baseline"}, "foundation_pod_security_level=baseline"),
            # an override of another setting does not cover this one
            (
                {
                    "foundation_breakglass_max_hours": 168,
                    "foundation_policy_overrides": [dict(OVERRIDE, setting="pod_security")],
                },
                "setting: breakglass_max_hours",
            ),
        ],
        "good": [
            {"foundation_breakglass_max_hours": 72, "foundation_pod_security_level": "restricted"},
            {"foundation_breakglass_max_hours": 168, "foundation_policy_overrides": [OVERRIDE]},
            {
                "foundation_namespace_labels": {"pod-security.kubernetes.io/warn": "baseline", "team": "civil"},
                "foundation_policy_overrides": [dict(OVERRIDE, setting="pod_security")],
            },
            {"foundation_namespace_labels": {"team": "civil"}},
        ],
    },
    "foundation.policy_overrides": {
        "bad": [
            (
                {"foundation_policy_overrides": [dict(OVERRIDE, approved_by="")]},
                "foundation_policy_overrides[0].approved_by is required",
            ),
            ({"foundation_policy_overrides": [{"setting": "pod_security"}]}, "reason is required"),
            (
                {"foundation_policy_overrides": [dict(OVERRIDE, setting="quota")]},
                "is not a setting that can be overridden",
            ),
            ({"foundation_policy_overrides": [OVERRIDE, OVERRIDE]}, "is overridden twice"),
            ({"foundation_policy_overrides": "all"}, "must be a list"),
        ],
        "good": [{"foundation_policy_overrides": [OVERRIDE]}, {"foundation_policy_overrides": []}, {}],
    },
    "foundation.control_characters": {
        "bad": [
            (
                {
                    "foundation_egress_allowlist": [
                        {"name": "erp\n    - to: [{ipBlock: {cidr: 0.0.0.0/0}}]", "cidr": "10.0.0.0/8"}
                    ]
                },
                "foundation_egress_allowlist holds a control character",
            ),
            ({"foundation_breakglass_grants": [grant(reason="a\u2028b")]}, "foundation_breakglass_grants"),
            ({"foundation_namespace_labels": {"team\r": "x"}}, "foundation_namespace_labels"),
            ({"foundation_policy_overrides": [dict(OVERRIDE, ticket="CHG\t1")]}, "foundation_policy_overrides"),
        ],
        "good": [{"foundation_egress_allowlist": allow("10.0.0.0/8"), "foundation_breakglass_grants": [grant()]}],
    },
}
