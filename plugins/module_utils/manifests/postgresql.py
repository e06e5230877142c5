# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database of one Odoo instance: the Secret (and ConfigMap) Odoo reads, and either the in-cluster server or the
policy to the external one.

``objects(v)`` builds the ``odoo-db`` ConfigMap and
Secret; then, for ``postgresql_placement: external``, the egress NetworkPolicy of Odoo pods to the server's network;
else the in-cluster server: its admin Secret, its configuration and initdb ConfigMaps, a Service, a headless
Service and a StatefulSet per member (the primary, and the replica when ``postgresql_replica_enabled``), and the
ingress and egress NetworkPolicies of the server and its clients.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    combine,
    container_security,
    instance_labels,
    labelled,
    pod_security,
    to_bool,
    to_int,
    unique,
    volume_claim_template,
)

COMPONENT = {"app.kubernetes.io/component": "database"}
NAME = "app.kubernetes.io/name"
ROLE = "governed.odoo/postgresql-role"
PORT = 5432
EXPORTER_PORT = 9187
PGDATA = "/var/lib/postgresql/data/pgdata"
SECRETS_DIR = "/run/secrets/postgresql"
# the emptyDir mounted over the read-only root filesystem's /tmp (a path in the container, not on this host)
TMP = "/tmp"  # noqa: S108


# The server's parameters before the profile's and postgresql_parameters (in that order, each over the former).
BASE_PARAMETERS = {
    "listen_addresses": "'*'",
    "port": PORT,
    "superuser_reserved_connections": None,  # postgresql_superuser_reserved_connections
    "password_encryption": "scram-sha-256",
    "unix_socket_directories": "'/var/run/postgresql'",
    "wal_level": "replica",
    "max_wal_senders": 5,
    "hot_standby": "on",
    "log_connections": "on",
    "log_min_duration_statement": 1000,
}

# Only the instance's roles reach only the instance's database; everything else is rejected.
PG_HBA = """\
local   all              postgres                                 peer
host    all              postgres              127.0.0.1/32       scram-sha-256
host    "{database}"  "{app_role}"        0.0.0.0/0   scram-sha-256
host    "{database}"  "{reporting_role}"  0.0.0.0/0   scram-sha-256
host    replication      governed_replicator   0.0.0.0/0          scram-sha-256
host    all              all                   0.0.0.0/0          reject
host    all              all                   ::/0               reject
"""

# Runs once, when the data directory is initialised: the instance's roles and database.
# The passwords come from the postgresql-admin Secret, mounted as files (never environment variables).
INITDB_ROLES = """\
#!/bin/sh
# Runs once, when the data directory is initialised: the instance's roles and database.
set -eu
# the passwords come from the postgresql-admin Secret, mounted as files (never environment variables)
s=/run/secrets/postgresql
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \\
  -v app_pw="$(cat "$s/GOVERNED_APP_PASSWORD")" -v rep_pw="$(cat "$s/GOVERNED_REPORTING_PASSWORD")" \\
  -v repl_pw="$(cat "$s/GOVERNED_REPLICATION_PASSWORD")" <<'SQL'
CREATE ROLE "{owner}" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE "{app}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'app_pw' IN ROLE "{owner}";
ALTER ROLE "{app}" SET role = '{owner}';
CREATE ROLE "{reporting}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  CONNECTION LIMIT {limit} PASSWORD :'rep_pw';
SELECT 'CREATE ROLE governed_replicator LOGIN REPLICATION PASSWORD ' || quote_literal(:'repl_pw')
  WHERE length(:'repl_pw') > 0 \\gexec
CREATE DATABASE "{database}" OWNER "{owner}" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{app}";
GRANT CONNECT ON DATABASE "{database}" TO "{reporting}";
\\connect "{database}"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO "{reporting}";
ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public GRANT SELECT ON TABLES TO "{reporting}";
SQL
"""

# Replica only: clone the primary once, then follow it.
CLONE_PRIMARY = """\
#!/bin/sh
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  PGPASSWORD="$(cat /run/secrets/postgresql/GOVERNED_REPLICATION_PASSWORD)"
  export PGPASSWORD
  pg_basebackup --host=postgresql --username=governed_replicator --pgdata="$PGDATA" \\
    --wal-method=stream --write-recovery-conf --checkpoint=fast
fi
"""


def _tree(value):
    """A copy of ``value`` where no dict or list appears twice (the template parsed a new one from each text it
    wrote): the objects share nothing with each other nor with the variables."""
    if isinstance(value, dict):
        return {key: _tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tree(item) for item in value]
    return value


def _meta(name, ns, labels):
    return {"name": name, "namespace": ns, "labels": labels}


def _mount(name, path, read_only=False):
    mount = {"name": name, "mountPath": path}
    if read_only:
        mount["readOnly"] = True
    return mount


def _connection_objects(v, labels):
    """The ``odoo-db`` ConfigMap and Secret."""
    conn = v["postgresql_connection"]
    ns = v["governed_odoo_namespace"]
    db_labels = labelled(labels, **COMPONENT)
    # Read by Odoo pods through libpq's environment variables (the password is in the Secret of the same name): the
    # address the pods reach the server at (postgresql_external.cluster_host/cluster_port, by default host/port).
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(conn["secret_name"], ns, db_labels),
        "data": {
            "PGHOST": conn["cluster_host"],
            "PGPORT": str(conn["cluster_port"]),
            "PGDATABASE": conn["database"],
            "PGUSER": conn["user"],
            "PGSSLMODE": conn["ssl_mode"],
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(conn["secret_name"], ns, db_labels),
        "type": "Opaque",
        "stringData": {"PGPASSWORD": v["postgresql_app_password"]},
    }
    return [config, secret]


def _external_policy(v, labels):
    """The egress of Odoo pods to the external server's network, on the port the pods reach it at."""
    conn = v["postgresql_connection"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-odoo-to-postgresql", v["governed_odoo_namespace"], labels),
        "spec": {
            "podSelector": {"matchLabels": {NAME: "odoo"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": v["postgresql_external"]["cidr"]}}],
                    "ports": [{"protocol": "TCP", "port": to_int(conn["cluster_port"])}],
                }
            ],
        },
    }


def _parameters(v, profile):
    """The server's parameters: the base ones, the profile's over them, postgresql_parameters over both."""
    base = dict(BASE_PARAMETERS, superuser_reserved_connections=v["postgresql_superuser_reserved_connections"])
    return combine(base, profile["parameters"], v["postgresql_parameters"])


def _postgresql_conf(params):
    """One ``name = value`` line per parameter, in case-insensitive name order (``dictsort``), and a final newline.
    It is a JSON string in the template: no value can start another line of the YAML."""

    def key(item):
        return item[0].lower() if isinstance(item[0], str) else item[0]

    lines = [" = ".join(str(part) for part in item) for item in sorted(params.items(), key=key)]
    return "\n".join(lines) + "\n"


def _admin_secret(v, pg_labels):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("postgresql-admin", v["governed_odoo_namespace"], pg_labels),
        "type": "Opaque",
        "stringData": {
            "POSTGRES_PASSWORD": v["postgresql_superuser_password"],
            "GOVERNED_APP_PASSWORD": v["postgresql_app_password"],
            "GOVERNED_REPORTING_PASSWORD": v["postgresql_reporting_password"],
            "GOVERNED_REPLICATION_PASSWORD": v.get("postgresql_replication_password", ""),
        },
    }


def _config_map(v, pg_labels, params):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("postgresql-config", v["governed_odoo_namespace"], pg_labels),
        "data": {
            "postgresql.conf": _postgresql_conf(params),
            "pg_hba.conf": PG_HBA.format(
                database=v["postgresql_database"],
                app_role=v["postgresql_app_role"],
                reporting_role=v["postgresql_reporting_role"],
            ),
        },
    }


def _initdb_config_map(v, pg_labels):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("postgresql-initdb", v["governed_odoo_namespace"], pg_labels),
        "data": {
            "10-governed-roles.sh": INITDB_ROLES.format(
                owner=v["postgresql_owner_role"],
                app=v["postgresql_app_role"],
                reporting=v["postgresql_reporting_role"],
                limit=v["postgresql_reporting_connection_limit"],
                database=v["postgresql_database"],
            ),
            # Replica only: clone the primary once, then follow it.
            "clone-primary.sh": CLONE_PRIMARY,
        },
    }


def _services(v, name, member_labels, selector):
    """The Service of a member (with the exporter's port when there is one) and its headless Service."""
    ns = v["governed_odoo_namespace"]
    ports = [{"name": "postgresql", "port": PORT, "targetPort": "postgresql"}]
    if v["postgresql_exporter_image"]:
        ports.append({"name": "metrics", "port": EXPORTER_PORT, "targetPort": "metrics"})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, ns, member_labels),
        "spec": {"selector": selector, "ports": ports},
    }
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{name}-hl", ns, member_labels),
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            "ports": [{"name": "postgresql", "port": PORT, "targetPort": "postgresql"}],
        },
    }
    return [service, headless]


def _clone_container(v, profile):
    """The replica's init container: clones the primary when the data directory is empty."""
    return {
        "name": "clone-primary",
        "image": v["postgresql_image"],
        "command": ["sh", "/docker-entrypoint-initdb.d/clone-primary.sh"],
        "env": [{"name": "PGDATA", "value": PGDATA}],
        "securityContext": container_security(),
        "resources": profile["resources"],
        "volumeMounts": [
            _mount("data", "/var/lib/postgresql/data"),
            _mount("clone", "/docker-entrypoint-initdb.d", True),
            _mount("secrets", SECRETS_DIR, True),
            _mount("tmp", TMP),
        ],
    }


def _server_container(v, profile):
    probe = {"command": ["pg_isready", "--host=/var/run/postgresql", "--username=postgres"]}
    return {
        "name": "postgresql",
        "image": v["postgresql_image"],
        "args": ["-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "hba_file=/etc/postgresql/pg_hba.conf"],
        "ports": [{"name": "postgresql", "containerPort": PORT}],
        "env": [
            {"name": "PGDATA", "value": PGDATA},
            {"name": "POSTGRES_INITDB_ARGS", "value": "--auth-local=peer --auth-host=scram-sha-256"},
            # the image's entrypoint reads the superuser's password from the mounted Secret
            {"name": "POSTGRES_PASSWORD_FILE", "value": f"{SECRETS_DIR}/POSTGRES_PASSWORD"},
        ],
        "securityContext": container_security(),
        "resources": profile["resources"],
        "readinessProbe": {"exec": probe, "periodSeconds": 10},
        "livenessProbe": {"exec": probe, "periodSeconds": 20, "failureThreshold": 6},
        "volumeMounts": [
            _mount("data", "/var/lib/postgresql/data"),
            _mount("config", "/etc/postgresql", True),
            _mount("initdb", "/docker-entrypoint-initdb.d", True),
            _mount("run", "/var/run/postgresql"),
            _mount("tmp", TMP),
            _mount("secrets", SECRETS_DIR, True),
        ],
    }


def _exporter_container(v):
    """The Prometheus exporter sidecar."""
    # the exporter's own web server (its landing page), not the database's health: a stuck exporter is
    # restarted, an unready one is not scraped
    probe = {"path": "/", "port": "metrics"}
    return {
        "name": "exporter",
        "image": v["postgresql_exporter_image"],
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
        "env": [
            {"name": "DATA_SOURCE_URI", "value": f"127.0.0.1:{PORT}/postgres?sslmode=disable"},
            {"name": "DATA_SOURCE_USER", "value": "postgres"},
            {"name": "DATA_SOURCE_PASS_FILE", "value": f"{SECRETS_DIR}/POSTGRES_PASSWORD"},
        ],
        "volumeMounts": [_mount("secrets", SECRETS_DIR, True)],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "readinessProbe": {"httpGet": probe, "periodSeconds": 10},
        "livenessProbe": {"httpGet": probe, "periodSeconds": 20, "failureThreshold": 6},
    }


def _initdb_volume(name, script):
    return {
        "name": name,
        "configMap": {
            "name": "postgresql-initdb",
            "defaultMode": 365,  # 0555: the entrypoint executes the scripts
            "items": [{"key": script, "path": script}],
        },
    }


def _volumes(replica):
    volumes = [
        {"name": "config", "configMap": {"name": "postgresql-config"}},
        # 0440: root and the group PostgreSQL runs as (fsGroup) may read it
        {"name": "secrets", "secret": {"secretName": "postgresql-admin", "defaultMode": 288}},
        _initdb_volume("initdb", "10-governed-roles.sh"),
    ]
    if replica:
        volumes.append(_initdb_volume("clone", "clone-primary.sh"))
    volumes += [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    return volumes


def _pod_spec(v, profile, replica):
    uid = v["postgresql_uid"]
    spec = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid),
        "terminationGracePeriodSeconds": 60,
    }
    if v["postgresql_node_selector"]:
        spec["nodeSelector"] = v["postgresql_node_selector"]
    if v["postgresql_tolerations"]:
        spec["tolerations"] = v["postgresql_tolerations"]
    if replica:
        spec["initContainers"] = [_clone_container(v, profile)]
    spec["containers"] = [_server_container(v, profile)]
    if v["postgresql_exporter_image"]:
        spec["containers"].append(_exporter_container(v))
    spec["volumes"] = _volumes(replica)
    return spec


def _stateful_set(v, profile, name, member, member_labels, selector):
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, v["governed_odoo_namespace"], member_labels),
        "spec": {
            "serviceName": f"{name}-hl",
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": member_labels},
                "spec": _pod_spec(v, profile, member == "replica"),
            },
            "volumeClaimTemplates": [
                volume_claim_template(member_labels, v["postgresql_storage_size"], v["postgresql_storage_class"])
            ],
        },
    }


def _member_objects(v, profile, pg_labels, member):
    """The Services and the StatefulSet of one member (primary or replica)."""
    name = "postgresql" if member == "primary" else "postgresql-replica"
    member_labels = labelled(pg_labels, **{ROLE: member})
    selector = {"app.kubernetes.io/instance": v["governed_odoo_instance"], NAME: "postgresql", ROLE: member}
    statefulset = _stateful_set(v, profile, name, member, member_labels, selector)
    return [*_services(v, name, member_labels, selector), statefulset]


def _ingress_policy(v, labels):
    """Odoo (and the listed clients) reach the primary; the replica clones from it."""
    sources = [{"podSelector": {"matchLabels": {NAME: "odoo"}}}]
    sources += [{"podSelector": {"matchLabels": sel}} for sel in v["postgresql_client_pod_labels"]]
    sources.append({"podSelector": {"matchLabels": {NAME: "postgresql"}}})
    sources += [{"ipBlock": {"cidr": cidr}} for cidr in v["postgresql_reporting_sources"]]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-clients-to-postgresql", v["governed_odoo_namespace"], labels),
        "spec": {
            "podSelector": {"matchLabels": {NAME: "postgresql"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": PORT}]}],
        },
    }


def _egress_policy(v, labels):
    """Odoo, the servers and the listed clients that name themselves (app.kubernetes.io/name) may reach the servers."""
    client_names = ["odoo", "postgresql"]
    client_names += [sel[NAME] for sel in v["postgresql_client_pod_labels"] if NAME in sel]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("allow-egress-to-postgresql", v["governed_odoo_namespace"], labels),
        "spec": {
            "podSelector": {"matchExpressions": [{"key": NAME, "operator": "In", "values": unique(client_names)}]},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {NAME: "postgresql"}}}],
                    "ports": [{"protocol": "TCP", "port": PORT}],
                }
            ],
        },
    }


def _in_cluster_objects(v, labels):
    """The in-cluster server: its Secret and ConfigMaps, each member's objects, the network policies."""
    profile = v["postgresql_profiles"][v["governed_odoo_size"]]
    params = _parameters(v, profile)
    pg_labels = labelled(labels, **{NAME: "postgresql"}, **COMPONENT)
    members = ["primary", "replica"] if to_bool(v["postgresql_replica_enabled"]) else ["primary"]
    out = [_admin_secret(v, pg_labels), _config_map(v, pg_labels, params), _initdb_config_map(v, pg_labels)]
    for member in members:
        out += _member_objects(v, profile, pg_labels, member)
    out += [_ingress_policy(v, labels), _egress_policy(v, labels)]
    return out


def objects(v):
    """The objects of the database layer of an instance, in order."""
    labels = instance_labels(v)
    out = _connection_objects(v, labels)
    if v["postgresql_placement"] == "external":
        out.append(_external_policy(v, labels))
    else:
        out += _in_cluster_objects(v, labels)
    return [_tree(obj) for obj in out]
