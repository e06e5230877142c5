# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the postgresql role's inputs, and the connection budget of every database server.

The budget (``postgresql.connection_budget``) is an inventory rule: every instance of the inventory that uses
a server counts, including those outside ``--limit``. An external server's ``max_connections`` and
``superuser_reserved_connections`` are live facts: site.yml reads each server the run uses once (the role's
``tasks/preflight.yml``) and hands them to check_instances as ``evidence.postgresql_servers``
(``{"host:port": {"max_connections": N, "superuser_reserved_connections": M}}``, or ``{"error": "..."}`` when
the server could not be read). An in-cluster server's come from the size profile.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.governed.odoo.plugins.module_utils.netplan import NetplanError, netplan_validate_allowlist
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_bool,
    as_dict,
    as_int,
    covers_every_address,
    has_control_characters,
    is_digest,
    resources_problems,
    size_problems,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule
from ansible_collections.governed.odoo.plugins.module_utils.rules.odoo import (
    DEMAND_READS,
    budget_message,
    connection_demand,
)

IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PARAMETER_RE = re.compile(r"^[a-z_][a-z0-9_.]*$")
IDENTIFIERS = ("postgresql_database", "postgresql_owner_role", "postgresql_app_role", "postgresql_reporting_role")
PASSWORDS = ("postgresql_app_password", "postgresql_reporting_password")
# PostgreSQL's own ceiling for max_connections (MAX_BACKENDS is 2^18 - 1)
MAX_BACKENDS = 262143


def server_key(external):
    """``host:port`` of an external server, as preflight.yml keys the limits it reads."""
    return f"{text(external.get('host'))}:{text(external.get('port') or 5432)}"


@rule(
    "postgresql.identifiers",
    layer="postgresql",
    reads=IDENTIFIERS,
    refuses="database and role names that are not lower-case PostgreSQL identifiers, or roles that are not three"
    " different roles",
    example="postgresql_app_role=Odoo-App must be a lower-case PostgreSQL identifier (letters, digits, _)",
)
def identifiers(i):
    for name in IDENTIFIERS:
        value = i.get(name)
        if not isinstance(value, str) or not IDENT_RE.match(value):
            yield f"{name}={text(value)} must be a lower-case PostgreSQL identifier (letters, digits, _)"
    roles = [i.get(name) for name in IDENTIFIERS[1:]]
    if len(set(map(text, roles))) < 3:
        yield "postgresql_owner_role, postgresql_app_role and postgresql_reporting_role must be three different roles"


@rule(
    "postgresql.passwords",
    layer="postgresql",
    reads=PASSWORDS,
    refuses="a missing or short application or reporting password",
    example="postgresql_app_password must be set and at least 16 characters long",
)
def passwords(i):
    for name in PASSWORDS:
        if len(text(i.get(name))) < 16:
            yield f"{name} must be set and at least 16 characters long"


@rule(
    "postgresql.size_profile",
    layer="postgresql",
    reads=("governed_odoo_size", "postgresql_profiles"),
    refuses="a size without a PostgreSQL profile",
    example="postgresql_profiles has no entry for governed_odoo_size=huge",
)
def size_profile(i):
    size = i.get("governed_odoo_size")
    if size not in as_dict(i.get("postgresql_profiles")):
        yield f"postgresql_profiles has no entry for governed_odoo_size={text(size)}"


@rule(
    "postgresql.external_server",
    layer="postgresql",
    reads=("postgresql_placement", "postgresql_external", "governed_odoo_environment"),
    refuses="an external server without its host, admin login, network or a valid port (the pods' cluster_port too),"
    " with an invalid network, or with a control character in a host (cluster_host too), login or mode",
    example="postgresql_external.host is required with postgresql_placement=external",
)
def external_server(i):
    if i.get("postgresql_placement") != "external":
        return
    external = as_dict(i.get("postgresql_external"))
    for key in ("host", "admin_user", "admin_password", "cidr"):
        if not external.get(key):
            yield f"postgresql_external.{key} is required with postgresql_placement=external"
    for key in ("port", "cluster_port", "reporting_port"):
        if external.get(key) not in (None, ""):
            port = as_int(external.get(key))
            if port is None or not 1 <= port <= 65535:
                yield f"postgresql_external.{key}={text(external.get(key))} must be a port from 1 to 65535"
    for key in ("host", "cluster_host", "reporting_host", "admin_user", "admin_database", "ssl_mode"):
        if has_control_characters(external.get(key)):
            yield f"postgresql_external.{key} holds a control character (a line break?)"
    if external.get("cidr"):
        env = i.get("governed_odoo_environment")
        yield from allowlist_problems([external["cidr"]], "postgresql_external.cidr", env)


def _ip_address(value):
    """``value`` as an IP address, or None when it is a host name (or anything else)."""
    try:
        return ipaddress.ip_address(text(value).strip().strip("[]"))
    except ValueError:
        return None


@rule(
    "postgresql.external_cidr_covers_pods_address",
    layer="postgresql",
    reads=("postgresql_placement", "postgresql_external"),
    refuses="an external server whose egress network (cidr) does not contain the IP address the pods connect to"
    " (cluster_host, by default host): the NetworkPolicy would drop every connection of Odoo to its database",
    example="postgresql_external.cidr=10.80.0.0/24 does not contain postgresql_external.cluster_host=10.81.0.7, the"
    " address the pods connect to: their egress policy would drop every connection to the database",
)
def external_cidr_covers_pods_address(i):
    if i.get("postgresql_placement") != "external":
        return
    external = as_dict(i.get("postgresql_external"))
    field = "cluster_host" if external.get("cluster_host") else "host"
    address = _ip_address(external.get(field))
    if address is None or not external.get("cidr"):
        return  # a host name (resolved by the pods) or a missing value (postgresql.external_server names it)
    try:
        network = ipaddress.ip_network(text(external["cidr"]).strip(), strict=False)
    except ValueError:
        return  # postgresql.external_server names it
    if address.version != network.version or address not in network:
        yield (
            f"postgresql_external.cidr={text(external['cidr'])} does not contain postgresql_external.{field}="
            f"{text(external.get(field))}, the address the pods connect to: their egress policy would drop every"
            " connection to the database"
        )


@rule(
    "postgresql.in_cluster_server",
    layer="postgresql",
    reads=(
        "postgresql_placement",
        "postgresql_image",
        "postgresql_superuser_password",
        "postgresql_replica_enabled",
        "postgresql_replication_password",
        "postgresql_reporting_sources",
        "governed_odoo_environment",
    ),
    refuses="an in-cluster server without a pinned image or its passwords, or with invalid reporting networks or"
    " reporting networks that together cover the whole internet outside prod",
    example="postgresql_image=postgres:15 must be pinned by digest (name@sha256:...) in qa; tags are accepted in"
    " dev only",
)
def in_cluster_server(i):
    if i.get("postgresql_placement") == "external":
        return
    env, image = i.get("governed_odoo_environment"), i.get("postgresql_image")
    if not image:
        yield "postgresql_image is required with postgresql_placement=in_cluster"
    elif env != "dev" and not is_digest(image):
        yield (
            f"postgresql_image={image} must be pinned by digest (name@sha256:...) in {text(env)};"
            " tags are accepted in dev only"
        )
    if len(text(i.get("postgresql_superuser_password"))) < 16:
        yield "postgresql_superuser_password must be set (at least 16 characters) with postgresql_placement=in_cluster"
    if as_bool(i.get("postgresql_replica_enabled")) and len(text(i.get("postgresql_replication_password"))) < 16:
        yield "postgresql_replication_password must be set (at least 16 characters) with postgresql_replica_enabled"
    sources = i.get("postgresql_reporting_sources")
    try:
        allowed = netplan_validate_allowlist(sources, "postgresql_reporting_sources", env)
    except NetplanError as exc:
        yield str(exc)
        return
    whole = {4: "0.0.0.0/0", 6: "::/0"}.get(covers_every_address(allowed))
    if whole and env != "prod":
        yield (
            f"postgresql_reporting_sources cover all of {whole} ({', '.join(allowed)}): the reporting role would be"
            f" reachable from anywhere, refused outside prod (governed_odoo_environment={text(env)})"
        )


@rule(
    "postgresql.exporter_image",
    layer="postgresql",
    reads=("postgresql_exporter_image", "governed_odoo_environment"),
    refuses="an exporter image referenced by tag outside dev",
    example="postgresql_exporter_image=exporter:0.15 must be pinned by digest outside dev",
)
def exporter_image(i):
    image = i.get("postgresql_exporter_image")
    if image and i.get("governed_odoo_environment") != "dev" and not is_digest(image):
        yield f"postgresql_exporter_image={image} must be pinned by digest outside dev"


@rule(
    "postgresql.parameters",
    layer="postgresql",
    reads=("postgresql_parameters", "postgresql_superuser_reserved_connections"),
    refuses="server parameters that are not parameter names or hold control characters (each is one line of"
    " postgresql.conf), a max_connections outside 1-262143, or negative superuser reserved connections",
    example="postgresql_parameters holds a control character in parameter 'work_mem': each parameter is one"
    " line of postgresql.conf",
)
def parameters(i):
    params = i.get("postgresql_parameters")
    if params not in (None, {}) and not isinstance(params, dict):
        yield "postgresql_parameters must be a mapping of parameter to value"
        params = {}
    for key, value in as_dict(params).items():
        if has_control_characters(key) or has_control_characters(value):
            yield (
                f"postgresql_parameters holds a control character in parameter {str(key)!r}: each parameter is one"
                " line of postgresql.conf"
            )
        elif not PARAMETER_RE.match(str(key)):
            yield f"postgresql_parameters key {str(key)!r} must be a lower-case parameter name"
        elif isinstance(value, (dict, list)):
            yield f"postgresql_parameters.{key} must be a plain value, not a list or mapping"
    if "max_connections" in as_dict(params):
        value = as_int(params["max_connections"])
        if value is None or not 1 <= value <= MAX_BACKENDS:
            value_text = text(params["max_connections"])
            yield f"postgresql_parameters.max_connections={value_text} must be from 1 to {MAX_BACKENDS}"
    reserved = as_int(i.get("postgresql_superuser_reserved_connections"))
    if reserved is None or reserved < 0:
        yield (
            "postgresql_superuser_reserved_connections="
            f"{text(i.get('postgresql_superuser_reserved_connections'))} must be a whole number, 0 or more"
        )


@rule(
    "postgresql.connection_limits",
    layer="postgresql",
    reads=(
        "postgresql_reserved_connections",
        "postgresql_reporting_connection_limit",
        "postgresql_app_connection_limit",
    ),
    refuses="negative reserved connections, a reporting limit that is unlimited (-1) or negative, and an"
    " application role limit below -1",
    example="postgresql_reporting_connection_limit=-1 must be a whole number, 0 or more: -1 (unlimited) would let"
    " reporting take every connection of the server",
)
def connection_limits(i):
    reserved = as_int(i.get("postgresql_reserved_connections"))
    if reserved is None or reserved < 0:
        yield (
            f"postgresql_reserved_connections={text(i.get('postgresql_reserved_connections'))} must be a whole"
            " number, 0 or more"
        )
    reporting = as_int(i.get("postgresql_reporting_connection_limit"))
    if reporting is None or reporting < 0:
        yield (
            f"postgresql_reporting_connection_limit={text(i.get('postgresql_reporting_connection_limit'))} must be a"
            " whole number, 0 or more: -1 (unlimited) would let reporting take every connection of the server"
        )
    app = i.get("postgresql_app_connection_limit")
    if app not in (None, "") and (as_int(app) is None or as_int(app) < -1):
        yield f"postgresql_app_connection_limit={text(app)} must be a whole number, -1 (the demand) or more"


def _in_cluster_limits(values):
    profile = as_dict(as_dict(values.get("postgresql_profiles")).get(values.get("governed_odoo_size")))
    params = dict(as_dict(profile.get("parameters")), **as_dict(values.get("postgresql_parameters")))
    return {
        "max_connections": as_int(params.get("max_connections")),
        "superuser_reserved_connections": as_int(values.get("postgresql_superuser_reserved_connections")),
    }


BUDGET_VARIABLES = (
    *DEMAND_READS,
    "postgresql_placement",
    "postgresql_external",
    "postgresql_reserved_connections",
    "postgresql_reporting_connection_limit",
    "postgresql_app_connection_limit",
    "postgresql_profiles",
    "postgresql_parameters",
    "postgresql_superuser_reserved_connections",
    "governed_odoo_size",
    "governed_odoo_namespace",
)


@rule(
    "postgresql.connection_budget",
    layer="postgresql",
    scope="inventory",
    reads=("instances", *(f"instances.{n}" for n in BUDGET_VARIABLES), "run_instances", "evidence"),
    refuses="database servers whose connections cannot hold what their instances may open: one instance alone,"
    " every instance of the inventory that shares the server (outside --limit too), an explicit application"
    " role limit above what the server has, or an external server whose limits could not be read",
    example="connection budget exceeded on external:db:5432 shared by 2 instances: odoo_db_connection_demand"
    " a=100 + b=100 plus reporting limits 10 = 210 > 190 available (max_connections -"
    " superuser_reserved_connections - postgresql_reserved_connections); lower odoo_workers, odoo_db_maxconn or"
    " the replicas, or move an instance to another server",
)
def connection_budget(i):
    instances = i.get("instances") or {}
    run = i.get("run_instances")
    run = set(instances if run is None else run)
    servers_evidence = as_dict(as_dict(i.get("evidence")).get("postgresql_servers"))
    servers = {}
    for host, values in instances.items():
        if values.get("postgresql_placement") == "external":
            external = as_dict(values.get("postgresql_external"))
            if not external.get("host"):
                continue  # postgresql.external_server names it
            key = server_key(external)
            server = f"external:{key}"
            read = servers_evidence.get(key)
            limits = None
            if isinstance(read, dict) and "error" not in read:
                limits = {k: as_int(read.get(k)) for k in ("max_connections", "superuser_reserved_connections")}
        else:
            server = f"in_cluster:{text(values.get('governed_odoo_namespace'))}"
            key, read, limits = None, None, _in_cluster_limits(values)
        entry = servers.setdefault(server, {"hosts": [], "limits": limits, "read": read, "key": key})
        entry["hosts"].append(host)
    for server, entry in servers.items():
        hosts = entry["hosts"]
        if not run.intersection(hosts):
            continue
        limits = entry["limits"]
        if limits is None:
            if entry["key"] is None:
                continue
            why = as_dict(entry["read"]).get("error") or "it was not read before the check"
            yield (
                f"connection budget of {server} cannot be checked: its max_connections could not be read ({why});"
                f" used by {', '.join(hosts)}"
            )
            continue
        if None in limits.values():
            continue  # postgresql.parameters / size_profile name the bad value
        yield from _server_budget(server, hosts, instances, limits, run)


def _server_budget(server, hosts, instances, limits, run):
    parts, total_demand, total_reporting, first_reserved = [], 0, 0, 0
    free = limits["max_connections"] - limits["superuser_reserved_connections"]
    for host in hosts:
        values = instances[host]
        reserved = as_int(values.get("postgresql_reserved_connections"))
        reporting = as_int(values.get("postgresql_reporting_connection_limit"))
        d = connection_demand(values)
        if reserved is None or reporting is None or reserved < 0 or reporting < 0 or d is None:
            continue  # the instance rules name the bad value
        available = free - reserved - reporting
        if host in run and d["demand"] > available:
            conn = dict(
                limits,
                reserved_connections=reserved,
                reporting_connection_limit=reporting,
            )
            yield f"{host}: " + budget_message(server, d, available, conn)
        app = as_int(values.get("postgresql_app_connection_limit"))
        if host in run and app is not None and app > available:
            yield (
                f"{host}: postgresql_app_connection_limit={app} is more than the {available} connections {server} has"
                f" available (max_connections={limits['max_connections']} - superuser_reserved_connections="
                f"{limits['superuser_reserved_connections']} - postgresql_reserved_connections={reserved}"
                f" - postgresql_reporting_connection_limit={reporting})"
            )
        if not parts:
            first_reserved = reserved
        parts.append(f"{host}={d['demand']}")
        total_demand += d["demand"]
        total_reporting += reporting
    if not parts:
        return
    # as the roles always did: the reserved connections of the first instance (they are the server's)
    available = free - first_reserved
    if len(parts) > 1 and total_demand + total_reporting > available:
        yield (
            f"connection budget exceeded on {server} shared by {len(parts)} instances: odoo_db_connection_demand"
            f" {' + '.join(parts)} plus reporting limits {total_reporting} = {total_demand + total_reporting} >"
            f" {available} available (max_connections - superuser_reserved_connections -"
            " postgresql_reserved_connections); lower odoo_workers, odoo_db_maxconn or the replicas, or move an"
            " instance to another server"
        )


@rule(
    "postgresql.server_readable",
    layer="postgresql",
    reads=("postgresql_placement", "postgresql_external", "postgresql_server_limits", "evidence"),
    refuses="an external server whose connection limits could not be read (inside the role; with evidence,"
    " as in site.yml, postgresql.connection_budget reports it once per server)",
    example="postgresql_external: the connection limits of db.example.org:5432 could not be read (connection refused)",
)
def server_readable(i):
    if "evidence" in i or i.get("postgresql_placement") != "external":
        return
    external = as_dict(i.get("postgresql_external"))
    if not external.get("host"):
        return
    read = as_dict(i.get("postgresql_server_limits")).get(server_key(external))
    if isinstance(read, dict) and "error" in read:
        yield (
            f"postgresql_external: the connection limits of {server_key(external)} could not be read"
            f" ({read['error']})"
        )


@rule(
    "postgresql.quantities",
    layer="postgresql",
    reads=("postgresql_placement", "governed_odoo_size", "postgresql_profiles", "postgresql_storage_size"),
    refuses="an in-cluster server whose profile's resources are not Kubernetes quantities or request more than"
    " their limit, or whose data volume size is not a positive quantity",
    example="postgresql_storage_size=20 GB is not a positive Kubernetes quantity (for example 20Gi)",
)
def quantities(i):
    if i.get("postgresql_placement") == "external":
        return
    size = i.get("governed_odoo_size")
    profile = as_dict(as_dict(i.get("postgresql_profiles")).get(size))
    if "resources" in profile:
        yield from resources_problems(f"postgresql_profiles.{text(size)}.resources", profile["resources"])
    yield from size_problems("postgresql_storage_size", i.get("postgresql_storage_size"))
