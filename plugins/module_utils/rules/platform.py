# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the platform variables every instance declares (governed_odoo_*), alone and across the inventory.

Inventory rules read ``instances`` (inventory host -> that instance's values) and ``run_instances`` (the hosts
of the run). They look at every instance of the inventory, including those outside ``--limit``, and report a
collision when at least one instance of the run takes part in it: an instance outside the run can still be
the one a run instance collides with, but two instances the run does not touch do not stop it.
"""

from __future__ import annotations

import hashlib

from ansible_collections.governed.odoo.plugins.module_utils import argspec
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import is_dns_label, text
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

# namespaces of Kubernetes itself and of the platform's neighbours: an instance never takes one over
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


# the variables every instance declares, with their types: checked first, before any other rule reads them
# (governed.odoo.check_instances evaluates the other rules of an instance only when these pass)
PLATFORM_SPEC = {
    "governed_odoo_tenant": {"type": "str", "required": True},
    "governed_odoo_environment": {
        "type": "str",
        "required": True,
        "choices": ["dev", "qa", "staging", "uat", "training", "prod"],
    },
    "governed_odoo_instance": {"type": "str", "required": True},
    "governed_odoo_namespace": {"type": "str", "required": True},
    "governed_odoo_tier": {
        "type": "str",
        "required": True,
        "choices": ["production", "preproduction", "nonproduction"],
    },
    "governed_odoo_size": {"type": "str", "required": True, "choices": ["small", "medium", "large"]},
    "governed_odoo_cluster": {
        "type": "dict",
        "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "topology": {"type": "str", "required": True, "choices": ["shared", "dedicated"]},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
            "host": {"type": "str"},
            "api_key": {"type": "str", "no_log": True},
            "validate_certs": {"type": "bool"},
            "ca_cert": {"type": "path"},
        },
    },
}


def _in_run(i, *hosts):
    run = i.get("run_instances")
    return run is None or any(h in run for h in hosts)


def _cluster(values):
    cluster = values.get("governed_odoo_cluster")
    return cluster if isinstance(cluster, dict) else {}


@rule(
    "platform.variables",
    layer="platform",
    reads=tuple(PLATFORM_SPEC),
    refuses=(
        "a platform variable (governed_odoo_tenant, _environment, _instance, _namespace, _tier, _size, _cluster) that "
        "is missing, of the wrong type or not one of its choices, as an argument spec refuses it"
    ),
    example=(
        "value of governed_odoo_environment must be one of: dev, qa, staging, uat, training, prod, got: development"
    ),
)
def platform_variables(i):
    # an undefined variable is absent (missing), not None
    yield from argspec.problems(PLATFORM_SPEC, {name: i[name] for name in PLATFORM_SPEC if name in i})


@rule(
    "platform.tenant_name",
    layer="platform",
    reads=("governed_odoo_tenant",),
    refuses="a tenant that is not a DNS label of at most 20 characters (it names namespaces, buckets, databases)",
    example="governed_odoo_tenant=Civil_1 must be a DNS label of at most 20 characters",
)
def tenant_name(i):
    value = i.get("governed_odoo_tenant")
    if not is_dns_label(value, 20):
        yield f"governed_odoo_tenant={text(value)} must be a DNS label of at most 20 characters"


@rule(
    "platform.instance_name",
    layer="platform",
    reads=("governed_odoo_instance",),
    refuses="an instance name that is not a DNS label of at most 40 characters (it names the applied set)",
    example="governed_odoo_instance=civil.dev must be a DNS label of at most 40 characters",
)
def instance_name(i):
    value = i.get("governed_odoo_instance")
    if not is_dns_label(value, 40):
        yield f"governed_odoo_instance={text(value)} must be a DNS label of at most 40 characters"


@rule(
    "platform.namespace_name",
    layer="platform",
    reads=("governed_odoo_namespace",),
    refuses="a namespace that is not a DNS label of at most 63 characters, or one of Kubernetes' own namespaces",
    example="governed_odoo_namespace=kube-system is a namespace of Kubernetes itself; give the instance its own",
)
def namespace_name(i):
    value = i.get("governed_odoo_namespace")
    if not is_dns_label(value, 63):
        yield f"governed_odoo_namespace={text(value)} must be a DNS label of at most 63 characters"
    elif value in SYSTEM_NAMESPACES:
        yield f"governed_odoo_namespace={value} is a namespace of Kubernetes itself; give the instance its own"


@rule(
    "platform.prod_dedicated_cluster",
    layer="platform",
    reads=("governed_odoo_environment", "governed_odoo_cluster"),
    refuses="production on a cluster that is not dedicated",
    example="governed_odoo_cluster.topology=shared but production runs on a dedicated cluster",
)
def prod_dedicated_cluster(i):
    topology = _cluster(i).get("topology")
    if i.get("governed_odoo_environment") == "prod" and topology != "dedicated":
        yield f"governed_odoo_cluster.topology={text(topology)} but production runs on a dedicated cluster"


@rule(
    "platform.namespace_collision",
    layer="platform",
    scope="inventory",
    reads=("instances", "instances.governed_odoo_namespace", "instances.governed_odoo_cluster", "run_instances"),
    refuses="two instances of the inventory in one namespace of one cluster",
    example="governed_odoo_namespace=odoo-civil-dev on cluster lab is used by both civil-dev and civil-dev2",
)
def namespace_collision(i):
    seen = {}
    for host, values in (i.get("instances") or {}).items():
        cluster, namespace = text(_cluster(values).get("name")), text(values.get("governed_odoo_namespace"))
        key = (cluster, namespace)
        if key not in seen:
            seen[key] = host
        elif _in_run(i, seen[key], host):
            yield (f"governed_odoo_namespace={namespace} on cluster {cluster} is used by both {seen[key]} and {host}")


@rule(
    "platform.dedicated_cluster_shared",
    layer="platform",
    scope="inventory",
    reads=("instances", "instances.governed_odoo_cluster", "instances.governed_odoo_environment", "run_instances"),
    refuses="a cluster that an instance declares dedicated, used by instances of another environment",
    example="governed_odoo_cluster.name=prod-eu is dedicated to prod (civil-prod) but civil-qa (qa) uses it too",
)
def dedicated_cluster_shared(i):
    instances = i.get("instances") or {}
    by_cluster = {}
    for host, values in instances.items():
        by_cluster.setdefault(text(_cluster(values).get("name")), []).append(host)
    for name, hosts in by_cluster.items():
        dedicated = [h for h in hosts if _cluster(instances[h]).get("topology") == "dedicated"]
        if not dedicated:
            continue
        owner = dedicated[0]
        env = instances[owner].get("governed_odoo_environment")
        for other in hosts:
            other_env = instances[other].get("governed_odoo_environment")
            if other_env != env and _in_run(i, owner, other):
                yield (
                    f"governed_odoo_cluster.name={name} is dedicated to {env} ({owner})"
                    f" but {other} ({other_env}) uses it too"
                )


PASSWORD_VARIABLES = ("postgresql_app_password", "postgresql_reporting_password")


def _fingerprint(value):
    """A digest to compare secrets by; never shown, never stored."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


@rule(
    "platform.password_shared_across_environments",
    layer="platform",
    scope="inventory",
    reads=(
        "instances",
        "instances.governed_odoo_environment",
        *(f"instances.{name}" for name in PASSWORD_VARIABLES),
        "run_instances",
    ),
    refuses="one database password (postgresql_app_password, postgresql_reporting_password) used in two"
    " environments; the message names the variables, never the value",
    example="postgresql_app_password of civil-prod (prod) is also a database password of civil-dev (dev):"
    " every environment has its own credentials",
)
def password_shared_across_environments(i):
    first = {}
    reported = set()
    for host, values in (i.get("instances") or {}).items():
        env = values.get("governed_odoo_environment")
        for name in PASSWORD_VARIABLES:
            value = values.get(name)
            if not isinstance(value, str) or not value:
                continue  # missing or empty: the postgresql rules refuse it for the instances of the run
            key = _fingerprint(value)
            if key not in first:
                first[key] = (host, env, name)
                continue
            other_host, other_env, other_name = first[key]
            if other_env != env and (key, env) not in reported and _in_run(i, host, other_host):
                reported.add((key, env))
                yield (
                    f"{name} of {host} ({env}) is also the {other_name} of {other_host} ({other_env}):"
                    " every environment has its own credentials"
                )


@rule(
    "platform.instance_unique",
    layer="platform",
    scope="inventory",
    reads=("instances", "instances.governed_odoo_instance", "run_instances"),
    refuses="two inventory hosts with the same governed_odoo_instance (it names the applied set, the database,"
    " the roles and the buckets)",
    example="governed_odoo_instance=civil-dev is declared by both civil-dev and civil-dev-copy",
)
def instance_unique(i):
    seen = {}
    for host, values in (i.get("instances") or {}).items():
        name = text(values.get("governed_odoo_instance"))
        if name not in seen:
            seen[name] = host
        elif _in_run(i, seen[name], host):
            yield f"governed_odoo_instance={name} is declared by both {seen[name]} and {host}"


DELIVERY_MODES = ("direct", "gitops")


@rule(
    "platform.delivery",
    layer="platform",
    reads=(
        "governed_odoo_delivery",
        "governed_odoo_gitops_repository",
        "governed_odoo_gitops_sealing_certificate",
        "governed_odoo_gitops_fingerprint_key",
    ),
    refuses="a delivery mode other than direct or gitops, and a gitops mode without an absolute repository path,"
    " the environment's sealing certificate (PEM) or a fingerprint key of at least 32 characters",
    example="governed_odoo_delivery=gitops needs governed_odoo_gitops_repository, the absolute path of the git"
    " working copy the objects are committed to",
)
def delivery(i):
    mode = i.get("governed_odoo_delivery", "direct")
    if mode not in DELIVERY_MODES:
        yield f"governed_odoo_delivery={text(mode)} must be one of {', '.join(DELIVERY_MODES)}"
        return
    if mode != "gitops":
        return
    repository = i.get("governed_odoo_gitops_repository")
    if not isinstance(repository, str) or not repository.startswith("/"):
        yield (
            "governed_odoo_delivery=gitops needs governed_odoo_gitops_repository, the absolute path of the git"
            f" working copy the objects are committed to (got {text(repository)})"
        )
    certificate = i.get("governed_odoo_gitops_sealing_certificate")
    if not isinstance(certificate, str) or "-----BEGIN " not in certificate:
        yield (
            "governed_odoo_delivery=gitops needs governed_odoo_gitops_sealing_certificate, the PEM certificate of the"
            " environment's sealed-secrets controller: Secrets are committed sealed only"
        )
    key = i.get("governed_odoo_gitops_fingerprint_key")
    if not isinstance(key, str) or len(key) < 32:
        # the value is a secret: the message never shows it
        yield "governed_odoo_delivery=gitops needs governed_odoo_gitops_fingerprint_key of at least 32 characters"


VERIFY_PROBE_MODES = ("auto", "always", "never")


@rule(
    "platform.verify_probe",
    layer="platform",
    reads=("promote_verify_probe",),
    refuses="a setting of the in-cluster health probe Job of promote.yml and rollback.yml other than auto, always or"
    " never",
    example="promote_verify_probe=sometimes must be one of auto, always, never",
)
def verify_probe(i):
    mode = i.get("promote_verify_probe", "auto")
    if mode not in VERIFY_PROBE_MODES:
        yield f"promote_verify_probe={text(mode)} must be one of {', '.join(VERIFY_PROBE_MODES)}"
