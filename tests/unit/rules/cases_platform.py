"""For every platform rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

SHARED = {"name": "lab", "topology": "shared"}
DEDICATED = {"name": "prod-eu", "topology": "dedicated"}


def inst(env="dev", ns=None, cluster=None, **more):
    values = {"governed_odoo_environment": env, "governed_odoo_cluster": dict(cluster or SHARED)}
    if ns:
        values["governed_odoo_namespace"] = ns
    values.update(more)
    return values


def inv(run=None, **instances):
    out = {"instances": instances}
    if run is not None:
        out["run_instances"] = run
    return out


GITOPS = {
    "governed_odoo_delivery": "gitops",
    "governed_odoo_gitops_repository": "/srv/gitops/odoo",
    "governed_odoo_gitops_sealing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "governed_odoo_gitops_fingerprint_key": "k" * 32,
}

PW1, PW2 = "a" * 20 + "-one", "b" * 20 + "-two"

PLATFORM = {
    "governed_odoo_tenant": "civil",
    "governed_odoo_environment": "dev",
    "governed_odoo_instance": "civil-dev",
    "governed_odoo_namespace": "odoo-civil-dev",
    "governed_odoo_tier": "nonproduction",
    "governed_odoo_size": "small",
    "governed_odoo_cluster": {"name": "lab", "topology": "shared", "kubeconfig": "/srv/lab/kubeconfig"},
}
TOKEN = "t0ken-" + "x" * 20


def platform(**changes):
    values = {**PLATFORM, **changes}
    return {k: v for k, v in values.items() if v is not None}


CASES = {
    "platform.variables": {
        "bad": [
            (platform(governed_odoo_tenant=None), "missing required arguments: governed_odoo_tenant"),
            (platform(governed_odoo_environment="development"), "governed_odoo_environment must be one of: dev, qa"),
            (platform(governed_odoo_size="huge"), "governed_odoo_size must be one of"),
            (platform(governed_odoo_cluster="lab"), "governed_odoo_cluster"),
            (platform(governed_odoo_cluster={"name": "lab"}), "topology"),
            (platform(governed_odoo_cluster={**PLATFORM["governed_odoo_cluster"], "validate_certs": "perhaps"}), None),
            ({}, "missing required arguments"),
        ],
        "good": [
            PLATFORM,
            platform(
                governed_odoo_cluster={"name": "prod", "topology": "dedicated", "host": "https://k", "api_key": TOKEN}
            ),
        ],
    },
    "platform.tenant_name": {
        "bad": [
            ({"governed_odoo_tenant": "Civil_1"}, "governed_odoo_tenant=Civil_1 must be a DNS label"),
            ({"governed_odoo_tenant": "a" * 21}, "at most 20 characters"),
            ({"governed_odoo_tenant": "civil\nx"}, None),
            ({}, None),
        ],
        "good": [{"governed_odoo_tenant": "civil"}, {"governed_odoo_tenant": "a" * 20}],
    },
    "platform.instance_name": {
        "bad": [
            ({"governed_odoo_instance": "civil.dev"}, "governed_odoo_instance=civil.dev must be a DNS label"),
            ({"governed_odoo_instance": "a" * 41}, "at most 40"),
        ],
        "good": [{"governed_odoo_instance": "civil-dev"}],
    },
    "platform.namespace_name": {
        "bad": [
            ({"governed_odoo_namespace": "Odoo"}, "governed_odoo_namespace=Odoo must be a DNS label"),
            ({"governed_odoo_namespace": "kube-system"}, "namespace of Kubernetes itself"),
            ({"governed_odoo_namespace": "default"}, "Kubernetes itself"),
        ],
        "good": [{"governed_odoo_namespace": "odoo-civil-dev"}, {"governed_odoo_namespace": "a" * 63}],
    },
    "platform.prod_dedicated_cluster": {
        "bad": [
            (inst("prod"), "governed_odoo_cluster.topology=shared but production runs on a dedicated cluster"),
            ({"governed_odoo_environment": "prod"}, "topology="),
        ],
        "good": [inst("prod", cluster=DEDICATED), inst("dev"), inst("qa", cluster=DEDICATED)],
    },
    "platform.namespace_collision": {
        "bad": [
            (
                inv(a=inst(ns="odoo-x"), b=inst(ns="odoo-x")),
                "governed_odoo_namespace=odoo-x on cluster lab is used by both a and b",
            ),
            # an instance outside the run still collides with one of the run
            (inv(run=["b"], a=inst(ns="odoo-x"), b=inst(ns="odoo-x")), "used by both a and b"),
        ],
        "good": [
            inv(a=inst(ns="odoo-x"), b=inst(ns="odoo-y")),
            # the same namespace on two clusters
            inv(a=inst(ns="odoo-x"), b=inst("prod", ns="odoo-x", cluster=DEDICATED)),
            # a collision between two instances the run does not touch does not stop it
            inv(run=["c"], a=inst(ns="odoo-x"), b=inst(ns="odoo-x"), c=inst(ns="odoo-c")),
        ],
    },
    "platform.dedicated_cluster_shared": {
        "bad": [
            (
                inv(p=inst("prod", cluster=DEDICATED), q=inst("qa", cluster=DEDICATED)),
                "governed_odoo_cluster.name=prod-eu is dedicated to prod (p) but q (qa) uses it too",
            ),
            # the other instance declares the cluster shared: still another environment on a dedicated cluster
            (
                inv(
                    run=["p"],
                    p=inst("prod", cluster=DEDICATED),
                    q=inst("qa", cluster=dict(DEDICATED, topology="shared")),
                ),
                "but q (qa) uses it too",
            ),
        ],
        "good": [
            inv(p=inst("prod", cluster=DEDICATED), p2=inst("prod", cluster=DEDICATED), d=inst("dev"), q=inst("qa")),
            inv(run=["d"], p=inst("prod", cluster=DEDICATED), q=inst("qa", cluster=DEDICATED), d=inst("dev")),
        ],
    },
    "platform.password_shared_across_environments": {
        "bad": [
            (
                inv(d=inst("dev", postgresql_app_password=PW1), p=inst("prod", postgresql_app_password=PW1)),
                "postgresql_app_password of p (prod) is also the postgresql_app_password of d (dev)",
            ),
            (
                inv(
                    run=["p"],
                    d=inst("dev", postgresql_reporting_password=PW2),
                    p=inst("prod", postgresql_app_password=PW2),
                ),
                "postgresql_app_password of p (prod) is also the postgresql_reporting_password of d (dev)",
            ),
        ],
        "good": [
            inv(d=inst("dev", postgresql_app_password=PW1), p=inst("prod", postgresql_app_password=PW2)),
            # missing or empty passwords are the postgresql rules' business, not a collision
            inv(d=inst("dev", postgresql_app_password=""), p=inst("prod", postgresql_app_password="")),
            inv(d=inst("dev", postgresql_app_password=PW1), d2=inst("dev", postgresql_app_password=PW1)),
        ],
    },
    "platform.instance_unique": {
        "bad": [
            (
                inv(a=inst(governed_odoo_instance="civil-dev"), b=inst(governed_odoo_instance="civil-dev")),
                "governed_odoo_instance=civil-dev is declared by both a and b",
            ),
        ],
        "good": [inv(a=inst(governed_odoo_instance="a-dev"), b=inst(governed_odoo_instance="b-dev"))],
    },
    "platform.delivery": {
        "bad": [
            ({"governed_odoo_delivery": "argo"}, "governed_odoo_delivery=argo must be one of direct, gitops"),
            (dict(GITOPS, governed_odoo_gitops_repository=None), "needs governed_odoo_gitops_repository"),
            (dict(GITOPS, governed_odoo_gitops_repository="relative/repo"), "got relative/repo"),
            (dict(GITOPS, governed_odoo_gitops_sealing_certificate="c.pem"), "sealing_certificate, the PEM"),
            (dict(GITOPS, governed_odoo_gitops_fingerprint_key="short"), "fingerprint_key of at least 32"),
            ({"governed_odoo_delivery": "gitops"}, "needs governed_odoo_gitops_repository"),
        ],
        "good": [{}, {"governed_odoo_delivery": "direct"}, GITOPS],
    },
    "platform.verify_probe": {
        "bad": [
            (
                {"promote_verify_probe": "sometimes"},
                "promote_verify_probe=sometimes must be one of auto, always, never",
            ),
            ({"promote_verify_probe": True}, "must be one of auto, always, never"),
        ],
        "good": [
            {},
            {"promote_verify_probe": "auto"},
            {"promote_verify_probe": "always"},
            {"promote_verify_probe": "never"},
        ],
    },
}
