"""For every postgresql rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

DIGEST = "@sha256:" + "a" * 64
PW = "p" * 16
NAMES = {
    "postgresql_database": "civil_dev",
    "postgresql_owner_role": "civil_dev_owner",
    "postgresql_app_role": "civil_dev_app",
    "postgresql_reporting_role": "civil_dev_reporting",
}
EXTERNAL = {"host": "db", "port": 5432, "admin_user": "postgres", "admin_password": "x" * 20, "cidr": "10.1.0.0/24"}
PROFILES = {"small": {"parameters": {"max_connections": 100}}}
HPA_OFF = {"enabled": False, "min_replicas": 2, "max_replicas": 4}


def instance(env="dev", external=True, **more):
    """One instance's values as check_instances collects them for the budget."""
    values = {
        "governed_odoo_environment": env,
        "governed_odoo_size": "small",
        "governed_odoo_namespace": f"odoo-{env}",
        "odoo_workers": 1,
        "odoo_max_cron_threads": 1,
        "odoo_db_maxconn": 4,
        "odoo_web_replicas": 1,
        "odoo_cron_replicas": 1,
        "odoo_hpa_settings": HPA_OFF,
        "postgresql_placement": "external" if external else "in_cluster",
        "postgresql_external": EXTERNAL if external else {},
        "postgresql_reserved_connections": 10,
        "postgresql_reporting_connection_limit": 5,
        "postgresql_app_connection_limit": -1,
        "postgresql_profiles": PROFILES,
        "postgresql_parameters": {},
        "postgresql_superuser_reserved_connections": 3,
    }
    values.update(more)
    return values


def budget(run=None, servers=None, **instances):
    out = {"instances": instances, "evidence": {"postgresql_servers": servers if servers is not None else SERVERS}}
    if run is not None:
        out["run_instances"] = run
    return out


SERVERS = {"db:5432": {"max_connections": 200, "superuser_reserved_connections": 3}}
BIG = {"odoo_workers": 8, "odoo_db_maxconn": 5, "odoo_max_cron_threads": 2, "odoo_web_replicas": 2}  # 100 each

CASES = {
    "postgresql.identifiers": {
        "bad": [
            (
                dict(NAMES, postgresql_app_role="Odoo-App"),
                "postgresql_app_role=Odoo-App must be a lower-case PostgreSQL identifier",
            ),
            (dict(NAMES, postgresql_database="a" * 64), "postgresql_database="),
            (dict(NAMES, postgresql_reporting_role="civil_dev_app"), "must be three different roles"),
            (dict(NAMES, postgresql_database='x"; DROP DATABASE y; --'), "must be a lower-case PostgreSQL identifier"),
        ],
        "good": [NAMES],
    },
    "postgresql.passwords": {
        "bad": [
            (
                {"postgresql_app_password": "short", "postgresql_reporting_password": PW},
                "postgresql_app_password must be set",
            ),
            (
                {"postgresql_app_password": PW},
                "postgresql_reporting_password must be set and at least 16 characters long",
            ),
        ],
        "good": [{"postgresql_app_password": PW, "postgresql_reporting_password": PW + "x"}],
    },
    "postgresql.size_profile": {
        "bad": [
            (
                {"governed_odoo_size": "huge", "postgresql_profiles": PROFILES},
                "postgresql_profiles has no entry for governed_odoo_size=huge",
            )
        ],
        "good": [{"governed_odoo_size": "small", "postgresql_profiles": PROFILES}],
    },
    "postgresql.external_server": {
        "bad": [
            (
                {"postgresql_placement": "external", "postgresql_external": {}},
                "postgresql_external.host is required with postgresql_placement=external",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, admin_password="")},
                "postgresql_external.admin_password is required",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, cidr="10.1.0.1/24")},
                "postgresql_external.cidr",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, port=70000)},
                "postgresql_external.port=70000 must be a port",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="db\nx")},
                "postgresql_external.host holds a control character",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, cluster_host="db\rx")},
                "postgresql_external.cluster_host holds a control character",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, cluster_port=0)},
                "postgresql_external.cluster_port=0 must be a port from 1 to 65535",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, cluster_port="x")},
                "postgresql_external.cluster_port=x must be a port",
            ),
        ],
        "good": [
            {"postgresql_placement": "external", "postgresql_external": EXTERNAL},
            {"postgresql_placement": "in_cluster", "postgresql_external": {}},
            {
                "postgresql_placement": "external",
                "postgresql_external": dict(EXTERNAL, cluster_host="db.pods.internal", cluster_port=6432),
            },
        ],
    },
    "postgresql.external_cidr_covers_pods_address": {
        "bad": [
            (
                # the pods' address outside the egress network: every connection would be dropped
                {"postgresql_placement": "external",
                 "postgresql_external": dict(EXTERNAL, host="127.0.0.1", cluster_host="10.2.0.7")},
                "postgresql_external.cidr=10.1.0.0/24 does not contain postgresql_external.cluster_host=10.2.0.7",
            ),
            (
                # without cluster_host the pods use host
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="10.9.0.1")},
                "postgresql_external.cidr=10.1.0.0/24 does not contain postgresql_external.host=10.9.0.1",
            ),
            (
                {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="fd00::5")},
                "does not contain postgresql_external.host=fd00::5",
            ),
        ],
        "good": [
            # the controller's address (a tunnel on loopback) need not be in the pods' egress network
            {"postgresql_placement": "external",
             "postgresql_external": dict(EXTERNAL, host="127.0.0.1", cluster_host="10.1.0.7")},
            {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="10.1.0.9")},
            # host names are resolved by the pods: not checked
            {"postgresql_placement": "external",
             "postgresql_external": dict(EXTERNAL, host="10.9.0.1", cluster_host="db.pods.internal")},
            {"postgresql_placement": "external", "postgresql_external": EXTERNAL},
            # a missing or invalid cidr is postgresql.external_server's
            {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="10.9.0.1", cidr="")},
            {"postgresql_placement": "external", "postgresql_external": dict(EXTERNAL, host="10.9.0.1", cidr="x/99")},
            {"postgresql_placement": "in_cluster", "postgresql_external": dict(EXTERNAL, host="10.9.0.1")},
        ],
    },
    "postgresql.in_cluster_server": {
        "bad": [
            (
                {"postgresql_placement": "in_cluster", "postgresql_image": "", "postgresql_superuser_password": PW},
                "postgresql_image is required",
            ),
            (
                {
                    "postgresql_placement": "in_cluster",
                    "postgresql_image": "postgres:15",
                    "governed_odoo_environment": "qa",
                    "postgresql_superuser_password": PW,
                },
                "postgresql_image=postgres:15 must be pinned by digest (name@sha256:...) in qa",
            ),
            (
                {
                    "postgresql_placement": "in_cluster",
                    "postgresql_image": "postgres:15",
                    "governed_odoo_environment": "dev",
                },
                "postgresql_superuser_password must be set",
            ),
            (
                {
                    "postgresql_placement": "in_cluster",
                    "postgresql_image": "postgres:15",
                    "governed_odoo_environment": "dev",
                    "postgresql_superuser_password": PW,
                    "postgresql_replica_enabled": True,
                },
                "postgresql_replication_password must be set",
            ),
            (
                {
                    "postgresql_placement": "in_cluster",
                    "postgresql_image": "p" + DIGEST,
                    "postgresql_superuser_password": PW,
                    "postgresql_reporting_sources": ["10.0.0.0/33"],
                },
                "postgresql_reporting_sources[0]",
            ),
            (
                {
                    "postgresql_placement": "in_cluster",
                    "postgresql_image": "p" + DIGEST,
                    "postgresql_superuser_password": PW,
                    "governed_odoo_environment": "qa",
                    "postgresql_reporting_sources": ["0.0.0.0/1", "128.0.0.0/1"],
                },
                "postgresql_reporting_sources cover all of 0.0.0.0/0",
            ),
        ],
        "good": [
            {
                "postgresql_placement": "in_cluster",
                "postgresql_image": "postgres:15",
                "governed_odoo_environment": "dev",
                "postgresql_superuser_password": PW,
                "postgresql_replica_enabled": "False",
            },
            {
                "postgresql_placement": "in_cluster",
                "postgresql_image": "p" + DIGEST,
                "governed_odoo_environment": "prod",
                "postgresql_superuser_password": PW,
                "postgresql_replica_enabled": True,
                "postgresql_replication_password": PW,
                "postgresql_reporting_sources": ["10.20.0.0/24"],
            },
            {"postgresql_placement": "external", "postgresql_image": ""},
        ],
    },
    "postgresql.exporter_image": {
        "bad": [
            (
                {"postgresql_exporter_image": "exp:1", "governed_odoo_environment": "qa"},
                "postgresql_exporter_image=exp:1 must be pinned by digest outside dev",
            )
        ],
        "good": [
            {"postgresql_exporter_image": "", "governed_odoo_environment": "prod"},
            {"postgresql_exporter_image": "exp:1", "governed_odoo_environment": "dev"},
        ],
    },
    "postgresql.parameters": {
        "bad": [
            (
                {
                    "postgresql_parameters": {"work_mem": "8MB\nlisten_addresses = '*'"},
                    "postgresql_superuser_reserved_connections": 3,
                },
                "postgresql_parameters holds a control character in parameter 'work_mem'",
            ),
            (
                {"postgresql_parameters": {"Work Mem": "8MB"}, "postgresql_superuser_reserved_connections": 3},
                "must be a lower-case parameter name",
            ),
            (
                {"postgresql_parameters": {"max_connections": 0}, "postgresql_superuser_reserved_connections": 3},
                "postgresql_parameters.max_connections=0",
            ),
            (
                {"postgresql_parameters": {}, "postgresql_superuser_reserved_connections": -1},
                "postgresql_superuser_reserved_connections=-1",
            ),
        ],
        "good": [
            {
                "postgresql_parameters": {
                    "work_mem": "8MB",
                    "max_connections": 300,
                    "auto_explain.log_min_duration": "1s",
                },
                "postgresql_superuser_reserved_connections": 3,
            },
            {"postgresql_parameters": {}, "postgresql_superuser_reserved_connections": 0},
        ],
    },
    "postgresql.connection_limits": {
        "bad": [
            (
                {"postgresql_reserved_connections": -10, "postgresql_reporting_connection_limit": 5},
                "postgresql_reserved_connections=-10 must be a whole number, 0 or more",
            ),
            (
                {"postgresql_reserved_connections": 10, "postgresql_reporting_connection_limit": -1},
                "postgresql_reporting_connection_limit=-1 must be a whole number, 0 or more",
            ),
            (
                {"postgresql_reserved_connections": 10, "postgresql_reporting_connection_limit": -7},
                "postgresql_reporting_connection_limit=-7",
            ),
            (
                {
                    "postgresql_reserved_connections": 10,
                    "postgresql_reporting_connection_limit": 5,
                    "postgresql_app_connection_limit": -2,
                },
                "postgresql_app_connection_limit=-2",
            ),
        ],
        "good": [
            {
                "postgresql_reserved_connections": 0,
                "postgresql_reporting_connection_limit": 0,
                "postgresql_app_connection_limit": -1,
            },
            {
                "postgresql_reserved_connections": "10",
                "postgresql_reporting_connection_limit": "5",
                "postgresql_app_connection_limit": "40",
            },
        ],
    },
    "postgresql.connection_budget": {
        "bad": [
            # one instance alone: 2 x 17 x 64 + 1 x 2 x 64 = 2304 > 200 - 3 - 10 - 5
            (
                budget(d=instance(odoo_workers=16, odoo_db_maxconn=64, odoo_max_cron_threads=2, odoo_web_replicas=2)),
                "d: connection budget exceeded on external:db:5432: web pods (odoo_web_replicas=2)"
                " x (odoo_workers=16 + 1"
                " gevent) x odoo_db_maxconn=64",
            ),
            # two instances that fit alone do not fit together
            (
                budget(d=instance(**BIG), p=instance("prod", **BIG)),
                "connection budget exceeded on external:db:5432 shared by 2 instances:"
                " odoo_db_connection_demand d=100 + p=100"
                " plus reporting limits 10 = 210 > 187 available",
            ),
            # an instance outside --limit still takes its share of the server
            (budget(run=["d"], d=instance(**BIG), p=instance("prod", **BIG)), "shared by 2 instances"),
            # an explicit role limit the server cannot give
            (
                budget(d=instance(postgresql_app_connection_limit=5000)),
                "d: postgresql_app_connection_limit=5000 is more than the 182 connections external:db:5432"
                " has available",
            ),
            # the server could not be read: refused, not skipped
            (
                budget(d=instance(), servers={"db:5432": {"error": "connection refused"}}),
                "connection budget of external:db:5432 cannot be checked: its max_connections could not be read"
                " (connection refused)",
            ),
            (budget(d=instance(), servers={}), "it was not read before the check"),
            # in-cluster: the profile's max_connections
            (
                budget(d=instance(external=False, postgresql_parameters={"max_connections": 20})),
                "d: connection budget exceeded on in_cluster:odoo-dev",
            ),
        ],
        "good": [
            budget(d=instance(**BIG)),
            budget(d=instance(), p=instance("prod")),
            # the crowded server is not the run's concern when no instance of the run uses it
            budget(run=["c"], d=instance(**BIG), p=instance("prod", **BIG), c=instance("qa", external=False)),
            budget(d=instance(postgresql_app_connection_limit=40)),
            budget(d=instance(external=False), p=instance("prod", external=False)),
        ],
    },
    "postgresql.server_readable": {
        "bad": [
            (
                {
                    "postgresql_placement": "external",
                    "postgresql_external": EXTERNAL,
                    "postgresql_server_limits": {"db:5432": {"error": "password authentication failed"}},
                },
                "postgresql_external: the connection limits of db:5432 could not be read"
                " (password authentication failed)",
            )
        ],
        "good": [
            {
                "postgresql_placement": "external",
                "postgresql_external": EXTERNAL,
                "postgresql_server_limits": {"db:5432": {"max_connections": 100, "superuser_reserved_connections": 3}},
            },
            # with evidence (site.yml), the budget rule reports it once per server
            {
                "postgresql_placement": "external",
                "postgresql_external": EXTERNAL,
                "evidence": {},
                "postgresql_server_limits": {"db:5432": {"error": "x"}},
            },
            {"postgresql_placement": "in_cluster"},
        ],
    },
}

PG_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}

CASES["postgresql.quantities"] = {
    "bad": [
        (
            {
                "governed_odoo_size": "small",
                "postgresql_profiles": {"small": {"resources": {"limits": {"memory": "8 GB"}}}},
                "postgresql_storage_size": "20Gi",
            },
            "postgresql_profiles.small.resources.limits.memory=8 GB is not a Kubernetes quantity",
        ),
        (
            {
                "governed_odoo_size": "medium",
                "postgresql_profiles": {"medium": {"resources": {"requests": {"cpu": "3"}, "limits": {"cpu": "2"}}}},
                "postgresql_storage_size": "20Gi",
            },
            "postgresql_profiles.medium.resources.requests.cpu is above",
        ),
        (
            {"postgresql_placement": "in_cluster", "postgresql_storage_size": "20 GB"},
            "postgresql_storage_size=20 GB is not a positive Kubernetes quantity",
        ),
        ({"postgresql_storage_size": "-5Gi"}, "postgresql_storage_size=-5Gi"),
    ],
    "good": [
        {
            "postgresql_placement": "in_cluster",
            "governed_odoo_size": "small",
            "postgresql_profiles": {"small": {"resources": PG_RESOURCES}},
            "postgresql_storage_size": "20Gi",
        },
        {"postgresql_placement": "external", "postgresql_storage_size": "20 GB"},
    ],
}
