# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which environment a restore target really is: the live cluster's word over the caller's.

The restore decides from ``target_environment`` / ``target_production`` whether the target is
production (not neutralized; an existing database only overwritten with the explicit flag). A
caller could therefore "downgrade" production -- restore into it as if it were staging, which
neutralizes and replaces production's database without the overwrite guard. When the target is an
instance provisioned by ``site.yml``, its namespace carries the inventory's environment and tier
as labels (``governed.odoo/environment``, ``governed.odoo/tier``, roles/foundation). With
``target_namespace`` the restore reads them before anything happens, and refuses a caller's
non-production claim for a namespace that the cluster labels production. A caller may still treat
a non-production namespace as production (stricter is allowed).
"""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError, KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import KubernetesError, RefusedError

LABEL_ENVIRONMENT = "governed.odoo/environment"
LABEL_TIER = "governed.odoo/tier"
PRODUCTION_TIERS = ("production",)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def labelled_production(labels, is_production):
    """(production?, why) from a namespace's labels (pure); ``is_production`` judges an environment name."""
    labels = labels or {}
    tier = labels.get(LABEL_TIER)
    env = labels.get(LABEL_ENVIRONMENT)
    if tier in PRODUCTION_TIERS:
        return True, f"{LABEL_TIER}={tier}"
    if env and is_production(env):
        return True, f"{LABEL_ENVIRONMENT}={env}"
    return False, None


def decide(namespace, labels, claimed_production, is_production):
    """What the restore may do, given the namespace's labels and what the caller claims (pure).

    Returns the record put in the result; raises :class:`RefusedError` on a downgrade.
    """
    production, why = labelled_production(labels, is_production)
    record = {
        "namespace": namespace,
        "environment": (labels or {}).get(LABEL_ENVIRONMENT),
        "tier": (labels or {}).get(LABEL_TIER),
        "production": production,
    }
    if production and not claimed_production:
        raise RefusedError(
            f"the target namespace {namespace} is labelled production ({why}) in the cluster: a restore cannot "
            "treat it as non-production, whatever target_environment and target_production say; restore into "
            "it as production (target_production=true, no neutralization, allow_production_overwrite for an "
            "existing database) or choose a non-production target",
            target_namespace=record,
        )
    return record


def read_labels(client, namespace):
    """The labels of ``namespace``; refuses when it does not exist (a typo must not bypass the guard)."""
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
        raise RefusedError(f"target_namespace {namespace!r} is not a valid namespace name")
    try:
        obj = client.get(f"/api/v1/namespaces/{namespace}")
    except KubeAPIError as exc:
        if exc.not_found:
            raise RefusedError(
                f"the target namespace {namespace} does not exist in the cluster: cannot tell "
                "which environment the target is",
                target_namespace={"namespace": namespace},
            ) from exc
        raise KubernetesError(f"could not read the target namespace {namespace}: {exc}") from exc
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def check(client_factory, namespace, claimed_production, is_production):
    """Read the namespace through ``client_factory()`` and :func:`decide`."""
    if client_factory is None:
        raise RefusedError("target_namespace needs a Kubernetes connection")
    try:
        client = client_factory()
    except ApplyError as exc:
        raise KubernetesError(f"could not connect to Kubernetes to read the target namespace: {exc}") from exc
    try:
        return decide(namespace, read_labels(client, namespace), claimed_production, is_production)
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
