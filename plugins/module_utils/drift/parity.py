# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging against production: do the two environments of a tenant run the same thing?

Both sides are the declared object sets (what site.yml renders for each), so the comparison says what the
inventory makes different, and the drift of each side against its cluster is reported beside it. Before they
are compared, the names that differ by construction (instance, namespace, environment, tier, database, buckets:
``tokens``) are replaced by placeholders in every name and value, and Secrets are reduced to their keys (their
values differ by design and are never read here). What remains different is classified:

* ``topology``       an object one side has and the other has not;
* ``version``        an image;
* ``configuration``  any other field.

A difference is ``expected`` when the policy says so: a list of ``{pattern, reason}`` where ``pattern`` matches
``Kind/name:field`` (``Deployment/odoo-web:spec.replicas``; a whole object's field is ``(object)``) or
``Kind/name``, with ``*`` for any text, ``?`` for one character and everything else literal. DEFAULT_EXPECTED is
the collection's policy (sizes, replicas, resources, autoscaling and disruption budgets, quotas, workers, the
tier's network exposure, configuration checksums); a playbook may replace it.
"""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import ABSENT, differences

DEFAULT_EXPECTED = (
    {"pattern": "*:spec.replicas", "reason": "replica counts follow the environment's size and tier"},
    {"pattern": "HorizontalPodAutoscaler/*", "reason": "autoscaling follows the environment's policy"},
    {"pattern": "PodDisruptionBudget/*", "reason": "disruption budgets follow the replica counts"},
    {"pattern": "*.resources*", "reason": "requests and limits follow the environment's size"},
    {"pattern": "ResourceQuota/*", "reason": "quotas follow the environment's size and tier"},
    {"pattern": "LimitRange/*", "reason": "default limits follow the environment's size and tier"},
    {"pattern": "*#options.workers", "reason": "Odoo workers follow the environment's size"},
    {"pattern": "*#options.max_cron_threads", "reason": "cron threads follow the environment's size"},
    {"pattern": "*#options.db_maxconn", "reason": "the connection budget follows the environment's size"},
    {"pattern": "*#options.limit_*", "reason": "worker limits follow the environment's size"},
    {"pattern": "*:spec.routes*.match", "reason": "host names are per environment"},
    {"pattern": "*:spec.tls*", "reason": "certificates are per environment"},
    {"pattern": '*annotations["governed.odoo/replicas-owner"]', "reason": "the autoscaler owns production's replicas"},
    {"pattern": '*annotations["governed.odoo/*-hash"]', "reason": "checksums of each instance's own configuration"},
    {"pattern": "*topologySpreadConstraints*.whenUnsatisfiable", "reason": "production spreads across zones strictly"},
    {"pattern": "Middleware/*-allowlist", "reason": "non-production is reached from the allowlist only"},
    {"pattern": "*middlewares[name=*-allowlist]*", "reason": "non-production is reached from the allowlist only"},
    {"pattern": "NetworkPolicy/allow-odoo-egress", "reason": "egress follows the tier (allowlist or internet)"},
)


def replace_tokens(value, tokens):
    """``value`` with every token (``{placeholder: text}``) replaced, longest text first, in keys and values."""
    pairs = sorted(((str(t), "{" + name + "}") for name, t in tokens.items() if t), key=lambda p: -len(p[0]))

    def text(s):
        for old, new in pairs:
            s = s.replace(old, new)
        return s

    def walk(v):
        if isinstance(v, dict):
            return {text(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return text(v)
        return v

    return walk(value)


def normalized_set(objects, tokens):
    """``{"Kind/name": object}`` with tokens replaced, namespaces and status dropped, Secrets reduced to keys."""
    out = {}
    for obj in objects or []:
        if not isinstance(obj, dict) or not obj.get("kind"):
            continue
        obj = {k: v for k, v in obj.items() if k not in ("status", "apiVersion")}
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("namespace", "name")}
        name = (obj.get("metadata") or {}).get("name", "")
        # so that an annotation or label one side has is named by its key, not as the whole map
        meta.setdefault("labels", {})
        meta.setdefault("annotations", {})
        obj["metadata"] = meta
        if obj["kind"] == "Secret":
            keys = sorted(set(obj.pop("data", None) or {}) | set(obj.pop("stringData", None) or {}))
            obj["keys"] = keys
        key = replace_tokens(f"{obj['kind']}/{name}", tokens)
        out[key] = replace_tokens(obj, tokens)
    return out


def category(field):
    if field == "(object)":
        return "topology"
    if field.endswith(".image") or field.endswith("Image"):
        return "version"
    return "configuration"


def pattern_regex(pattern):
    """A policy pattern as a regular expression: ``*`` any text, ``?`` one character, everything else literal
    (brackets too, which field paths are full of)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z")


def expectation(ref, field, policy):
    """The reason the policy gives for a difference at ``ref``/``field``, or None."""
    subject = f"{ref}:{field}"
    for rule in policy:
        regex = pattern_regex(rule["pattern"])
        if regex.match(subject) or regex.match(ref):
            return rule.get("reason") or rule["pattern"]
    return None


def compare_sets(staging, production, policy=DEFAULT_EXPECTED):
    """Differences between two normalized sets (normalized_set), each classified and marked expected or not."""
    out = []
    for ref in sorted(set(staging) | set(production)):
        if ref not in production or ref not in staging:
            pairs = [("(object)", "present" if ref in staging else ABSENT, "present" if ref in production else ABSENT)]
        else:
            pairs = differences(staging[ref], production[ref])
        for field, mine, theirs in pairs:
            reason = expectation(ref, field, policy)
            out.append(
                {
                    "category": category(field),
                    "object": ref,
                    "field": field,
                    "staging": mine,
                    "production": theirs,
                    "expected": reason is not None,
                    "reason": reason,
                }
            )
    return out


def parity(instances, pairs=(("staging", "prod"),), policy=None):
    """One entry per tenant that has both environments of a pair among ``instances``.

    ``instances``: ``{instance, tenant, environment, tokens, objects}`` each (``objects`` the declared set).
    """
    policy = list(DEFAULT_EXPECTED if policy is None else policy)
    by_tenant = {}
    for item in instances:
        by_tenant.setdefault(item["tenant"], {})[item["environment"]] = item
    out = []
    for tenant in sorted(by_tenant):
        envs = by_tenant[tenant]
        for left, right in pairs:
            if left not in envs or right not in envs:
                continue
            a, b = envs[left], envs[right]
            found = compare_sets(
                normalized_set(a["objects"], a.get("tokens") or {}),
                normalized_set(b["objects"], b.get("tokens") or {}),
                policy,
            )
            out.append(
                {
                    "tenant": tenant,
                    "staging": a["instance"],
                    "production": b["instance"],
                    "environments": [left, right],
                    "differences": found,
                    "unexpected": sum(1 for f in found if not f["expected"]),
                    "expected": sum(1 for f in found if f["expected"]),
                }
            )
    return out
