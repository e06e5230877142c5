# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The foundation of one Odoo instance: its namespace (labelled
with the Pod Security Standard and annotated with any policy override), ResourceQuota and LimitRange of its tier,
the default-deny, DNS and Odoo egress NetworkPolicies, the deployer, read-only and break-glass ServiceAccounts,
Roles and RoleBindings, and one expiring RoleBinding per break-glass grant that has not expired yet.

Every value from the inventory goes through as data.
"""

from __future__ import annotations

import datetime
import json

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    combine,
    instance_labels,
    to_bool,
    to_int,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
NETWORKING_VERSION = "networking.k8s.io/v1"
RBAC_VERSION = f"{RBAC_GROUP}/v1"
# The form of a break-glass grant's expiry (UTC).
EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _meta(v, name, labels, annotations=None):
    """``metadata`` of a namespaced object of the instance."""
    meta = {"name": name, "namespace": v["governed_odoo_namespace"], "labels": dict(labels)}
    if annotations is not None:
        meta["annotations"] = annotations
    return meta


def _namespace(v, labels):
    """The namespace, with the Pod Security Standard enforced (then audited and warned) on its labels."""
    ns_labels = combine(
        labels,
        {
            "governed.odoo/tier": v["governed_odoo_tier"],
            "pod-security.kubernetes.io/enforce": v["foundation_pod_security_level"],
            "pod-security.kubernetes.io/enforce-version": v["foundation_pod_security_version"],
            "pod-security.kubernetes.io/audit": v["foundation_pod_security_level"],
            "pod-security.kubernetes.io/warn": v["foundation_pod_security_level"],
        },
        v["foundation_namespace_labels"],
    )
    metadata = {"name": v["governed_odoo_namespace"], "labels": ns_labels}
    # Overrides of the platform's policy are recorded on the namespace, where an audit sees them.
    overrides = v["foundation_policy_overrides"]
    ns_annotations = combine(
        v["foundation_namespace_annotations"],
        {"governed.odoo/policy-overrides": json.dumps(overrides, sort_keys=True)} if overrides else {},
    )
    if ns_annotations:
        metadata["annotations"] = ns_annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def _quota(v, labels):
    """The ResourceQuota of the instance's tier."""
    quota = v["foundation_quota_by_tier"][v["governed_odoo_tier"]]
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(v, "governed-quota", labels),
        "spec": {"hard": quota},
    }


def _limit_range(v, labels):
    """The LimitRange of the instance's tier: default limits and requests, and the largest container."""
    limits = v["foundation_limit_range_by_tier"][v["governed_odoo_tier"]]
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(v, "governed-limits", labels),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": limits["default"],
                    "defaultRequest": limits["default_request"],
                    "max": limits["max"],
                }
            ]
        },
    }


def _default_deny(v, labels):
    """Nothing reaches or leaves any pod of the namespace unless another policy allows it."""
    return {
        "apiVersion": NETWORKING_VERSION,
        "kind": "NetworkPolicy",
        "metadata": _meta(v, "default-deny-all", labels),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _dns_egress(v, labels):
    """Every pod may reach the cluster DNS (UDP and TCP 53)."""
    dns = v["foundation_dns"]
    return {
        "apiVersion": NETWORKING_VERSION,
        "kind": "NetworkPolicy",
        "metadata": _meta(v, "allow-dns-egress", labels),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns["namespace"]}},
                            "podSelector": {"matchLabels": dns["pod_labels"]},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }


def _tenant_egress(v):
    """The tenant's own network in this environment (``foundation_network_json``, carved from
    ``governed_odoo_netplan`` by the render task), or ``''`` when ``foundation_tenant_network_egress`` is off."""
    network = v["foundation_network_json"]
    if isinstance(network, str):
        network = json.loads(network)
    return network["tenant_cidr"] if to_bool(v["foundation_tenant_network_egress"]) else ""


def _odoo_egress(v, labels, tenant_egress):
    """Outbound traffic of Odoo pods beyond database, Redis and DNS."""
    mode = v["foundation_egress_mode"]
    egress = []
    if tenant_egress:
        # the tenant's own network in this environment (carved from governed_odoo_netplan)
        egress.append({"to": [{"ipBlock": {"cidr": tenant_egress}}]})
    # foundation_egress_allowlist[n] (the template wrote no inventory text in its YAML comments: a line break there
    # would have been YAML)
    for dest in v["foundation_egress_allowlist"]:
        rule = {"to": [{"ipBlock": {"cidr": dest["cidr"]}}]}
        ports = dest.get("ports", [])
        if ports:
            rule["ports"] = [{"protocol": "TCP", "port": to_int(port)} for port in ports]
        egress.append(rule)
    if mode == "internet":
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": v["foundation_egress_internet_except"]}}]})
    return {
        "apiVersion": NETWORKING_VERSION,
        "kind": "NetworkPolicy",
        "metadata": _meta(v, "allow-odoo-egress", labels, {"governed.odoo/egress-mode": mode}),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo"}},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }


def _service_account(v, labels, role):
    """The ServiceAccount of ``role`` (deployer or readonly); it mounts no token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(v, f"governed-{role}", labels),
        "automountServiceAccountToken": False,
    }


def _role(v, labels, name, rules):
    return {"apiVersion": RBAC_VERSION, "kind": "Role", "metadata": _meta(v, name, labels), "rules": rules}


def _rule(api_groups, resources, verbs):
    return {"apiGroups": api_groups, "resources": resources, "verbs": verbs}


def _deployer_role(v, labels):
    """Releases: roll images, scale, run migration Jobs. No access to Secrets, policies or RBAC."""
    return _role(
        v,
        labels,
        "governed-deployer",
        [
            _rule(
                ["apps"], ["deployments", "statefulsets", "replicasets"], ["get", "list", "watch", "patch", "update"]
            ),
            _rule(["apps"], ["deployments/scale", "statefulsets/scale"], ["get", "patch", "update"]),
            _rule(["batch"], ["jobs"], ["get", "list", "watch", "create", "delete"]),
            _rule(["batch"], ["cronjobs"], ["get", "list", "watch", "patch"]),
            _rule(
                [""],
                ["pods", "pods/log", "services", "endpoints", "configmaps", "events", "persistentvolumeclaims"],
                ["get", "list", "watch"],
            ),
            _rule([""], ["pods"], ["delete"]),
            _rule(["autoscaling"], ["horizontalpodautoscalers"], ["get", "list", "watch"]),
        ],
    )


def _readonly_role(v, labels):
    """Audits and dashboards: read everything but Secrets."""
    read = ["get", "list", "watch"]
    return _role(
        v,
        labels,
        "governed-readonly",
        [
            _rule(
                [""],
                [
                    "pods",
                    "pods/log",
                    "services",
                    "endpoints",
                    "configmaps",
                    "events",
                    "persistentvolumeclaims",
                    "resourcequotas",
                    "limitranges",
                    "serviceaccounts",
                ],
                list(read),
            ),
            _rule(["apps"], ["deployments", "statefulsets", "replicasets"], list(read)),
            _rule(["batch"], ["jobs", "cronjobs"], list(read)),
            _rule(["autoscaling"], ["horizontalpodautoscalers"], list(read)),
            _rule(["policy"], ["poddisruptionbudgets"], list(read)),
            _rule(["networking.k8s.io"], ["networkpolicies"], list(read)),
            _rule([RBAC_GROUP], ["roles", "rolebindings"], list(read)),
            _rule(["traefik.io"], ["ingressroutes", "middlewares"], list(read)),
            _rule(["monitoring.coreos.com"], ["servicemonitors", "prometheusrules"], list(read)),
        ],
    )


def _breakglass_role(v, labels):
    """Incidents only, bound through expiring RoleBindings."""
    return _role(v, labels, "governed-breakglass", [_rule(["*"], ["*"], ["*"])])


def _subject(v, s):
    """A RoleBinding subject: a ServiceAccount (in the instance's namespace unless it names one), else a User or
    Group of the RBAC API group."""
    if s["kind"] == "ServiceAccount":
        namespace = s.get("namespace") or v["governed_odoo_namespace"]
        return {"kind": "ServiceAccount", "name": s["name"], "namespace": namespace}
    return {"kind": s["kind"], "name": s["name"], "apiGroup": RBAC_GROUP}


def _role_binding(v, labels, name, role, subjects, annotations=None):
    return {
        "apiVersion": RBAC_VERSION,
        "kind": "RoleBinding",
        "metadata": _meta(v, name, labels, annotations),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
        "subjects": subjects,
    }


def _binding(v, labels, role, extra):
    """The RoleBinding of ``role`` (deployer or readonly): its ServiceAccount, then the extra subjects."""
    name = f"governed-{role}"
    subjects = [{"kind": "ServiceAccount", "name": name, "namespace": v["governed_odoo_namespace"]}]
    subjects.extend(_subject(v, s) for s in extra)
    return _role_binding(v, labels, name, name, subjects)


def _grant_open(grant, now):
    """Whether a break-glass grant has not expired at ``now`` (naive UTC, as ``now(utc=True)``)."""
    expires = datetime.datetime.strptime(grant["expires"], EXPIRES_FORMAT)
    return (expires - now).total_seconds() > 0


def _breakglass_binding(v, labels, grant):
    """The RoleBinding of a break-glass grant, annotated with its expiry, reason and ticket."""
    return _role_binding(
        v,
        combine(labels, {"governed.odoo/break-glass": "true"}),
        f"governed-breakglass-{grant['name']}",
        "governed-breakglass",
        [_subject(v, grant["subject"])],
        {
            "governed.odoo/expires-at": grant["expires"],
            "governed.odoo/reason": grant["reason"],
            "governed.odoo/ticket": grant["ticket"],
        },
    )


def objects(v):
    """The foundation's objects, in order."""
    labels = instance_labels(v)
    out = [
        _namespace(v, labels),
        _quota(v, labels),
        _limit_range(v, labels),
        _default_deny(v, labels),
        _dns_egress(v, labels),
    ]
    tenant_egress = _tenant_egress(v)
    if v["foundation_egress_allowlist"] or v["foundation_egress_mode"] == "internet" or tenant_egress:
        out.append(_odoo_egress(v, labels, tenant_egress))
    out += [
        _service_account(v, labels, "deployer"),
        _service_account(v, labels, "readonly"),
        _deployer_role(v, labels),
        _readonly_role(v, labels),
        _breakglass_role(v, labels),
        _binding(v, labels, "deployer", v["foundation_deployer_subjects"]),
        _binding(v, labels, "readonly", v["foundation_readonly_subjects"]),
    ]
    # Expired grants are not rendered, so the applied set prunes their RoleBindings.
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    out += [_breakglass_binding(v, labels, g) for g in v["foundation_breakglass_grants"] if _grant_open(g, now)]
    return out
