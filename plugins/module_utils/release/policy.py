# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promotion policy of an environment: defaults per environment, overridden by inventory variables.

The inventory carries role-style variables (``release_*``, docs/release-format.md lists them); :func:`effective`
turns the variables of one environment into the policy mapping the gate rules read. Defaults are safe: every
stage promotes only from the one before it, prod needs two approvals from two groups, a change record,
weekday windows, no critical or high findings, a rehearsal no older than 7 days, and keeps its audit records
under COMPLIANCE retention for seven years. training is reset from production and never promotes.
"""

from __future__ import annotations

import copy

from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError

STAGES = ("dev", "qa", "staging", "uat", "prod")
NEVER_PROMOTES = ("training",)
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
CHANGE_PROVIDERS = ("none", "git", "http", "awx")

# variable -> policy key
VARIABLES = {
    "release_promote_from": "promote_from",
    "release_identities": "identities",
    "release_deployer_groups": "deployer_groups",
    "release_approvals": "approvals",
    "release_override": "override",
    "release_change_record_provider": "change_record_provider",
    "release_change_record": "change_record",
    "release_registry_url": "registry_url",
    "release_timezone": "timezone",
    "release_allow_windows": "allow_windows",
    "release_deny_windows": "deny_windows",
    "release_freeze_calendars": "freeze_calendars",
    "release_scan_thresholds": "scan_thresholds",
    "release_signing_keys": "signing_keys",
    "release_rehearsal_max_age_days": "rehearsal_max_age_days",
    "release_audit_lock_mode": "audit_lock_mode",
    "release_audit_retention_days": "audit_retention_days",
    "release_observation": "observation",
}

_BASE = {
    "promotes": True,
    "promote_from": None,
    "identities": {},
    "deployer_groups": ["deployers"],
    "approvals": {"required": 0, "groups": {}},
    "override": {"required": 2, "groups": {"release-managers": 1}},
    "change_record_provider": "none",
    "change_record": {},
    "registry_url": None,
    "timezone": "UTC",
    "allow_windows": [],
    "deny_windows": [],
    "freeze_calendars": [],
    "scan_thresholds": {"critical": 0, "high": None, "medium": None, "low": None, "unknown": None},
    "signing_keys": [],
    "rehearsal_max_age_days": None,
    "audit_lock_mode": "GOVERNANCE",
    "audit_retention_days": 90,
    # the error rate and p95 latency before and after the rollout, from Prometheus (observability.py); off until a
    # prometheus_url is set
    "observation": {},
}

_WEEKDAY_HOURS = [{"name": "weekday working hours", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH",
                   "start": "2026-01-05T07:00", "duration": "PT9H"}]

DEFAULTS = {
    "dev": {},
    "qa": {"promote_from": "dev"},
    "staging": {"promote_from": "qa", "scan_thresholds": {"critical": 0, "high": 5}},
    "uat": {"promote_from": "staging", "approvals": {"required": 1, "groups": {"release-managers": 1}},
            "scan_thresholds": {"critical": 0, "high": 0}, "rehearsal_max_age_days": 14},
    "prod": {
        "promote_from": "uat",
        "approvals": {"required": 2, "groups": {"release-managers": 1, "business-owners": 1}},
        "override": {"required": 2, "groups": {"release-managers": 1, "business-owners": 1}},
        "change_record_provider": "git",
        "allow_windows": _WEEKDAY_HOURS,
        "scan_thresholds": {"critical": 0, "high": 0, "medium": 20},
        "rehearsal_max_age_days": 7,
        "audit_lock_mode": "COMPLIANCE",
        "audit_retention_days": 2557,
    },
    "training": {"promotes": False},
}


def defaults(environment):
    """The default policy of ``environment`` (an unknown environment gets prod's: strict is the safe side)."""
    base = copy.deepcopy(_BASE)
    env_defaults = DEFAULTS.get(environment, DEFAULTS["prod"])
    for key, value in copy.deepcopy(env_defaults).items():
        if key == "scan_thresholds":
            base[key].update(value)
        else:
            base[key] = value
    base["environment"] = environment
    return base


def effective(environment, variables=None):
    """The policy of ``environment``: its defaults, then every ``release_*`` variable that is set (not None)."""
    if not environment:
        raise ReleaseError("a promotion policy needs the environment's name")
    policy = defaults(environment)
    for var, value in (variables or {}).items():
        if var not in VARIABLES:
            if var.startswith("release_"):
                raise ReleaseError(f"{var} is not a release policy variable (known: {', '.join(sorted(VARIABLES))})")
            continue
        if value is None:
            continue
        key = VARIABLES[var]
        if key == "scan_thresholds" and isinstance(value, dict):
            policy[key] = dict(policy[key], **value)
        else:
            policy[key] = copy.deepcopy(value)
    if environment in NEVER_PROMOTES:
        policy["promotes"] = False
        policy["promote_from"] = None
    return policy
