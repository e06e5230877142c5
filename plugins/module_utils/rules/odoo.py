# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the odoo role's inputs: image, processes and replicas, odoo.conf text, quantities, off-hours
scaling, and the connection demand an instance puts on its database server (``connection_demand``, which the
postgresql layer's budget rules sum per server)."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.cron import cron_validate, time_zone_validate
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_bool,
    as_dict,
    as_int,
    has_control_characters,
    is_digest,
    is_port,
    parse_quantity,
    resources_problems,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

# odoo.conf option names: Odoo lower-cases them; anything else could break the INI line
OPTION_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_ID = 2**31 - 1


# --- the connection demand ------------------------------------------------------------------------------------
DEMAND_READS = (
    "odoo_workers",
    "odoo_max_cron_threads",
    "odoo_db_maxconn",
    "odoo_web_replicas",
    "odoo_cron_replicas",
    "odoo_hpa_settings",
)


def connection_demand(values):
    """{demand, web_pods, hpa, workers, cron_threads, maxconn, cron_replicas} of one instance's values (the
    names in DEMAND_READS), or None when one of them is not a whole number (other rules name it).

    demand = web pods x web processes x db_maxconn + cron pods x cron processes x db_maxconn, where web pods is
    the HPA maximum while it owns the count, a web pod runs the HTTP workers plus the gevent process, a cron
    pod one process per cron thread, and a threaded server (workers=0) one process."""
    hpa = as_dict(values.get("odoo_hpa_settings"))
    hpa_on = as_bool(hpa.get("enabled"))
    numbers = {
        "workers": as_int(values.get("odoo_workers")),
        "cron_threads": as_int(values.get("odoo_max_cron_threads")),
        "maxconn": as_int(values.get("odoo_db_maxconn")),
        "web_pods": as_int(hpa.get("max_replicas") if hpa_on else values.get("odoo_web_replicas")),
        "cron_replicas": as_int(values.get("odoo_cron_replicas")),
    }
    if any(v is None for v in numbers.values()):
        return None
    threaded = numbers["workers"] <= 0
    web_processes = 1 if threaded else numbers["workers"] + 1
    cron_processes = 1 if threaded else numbers["cron_threads"]
    demand = (numbers["web_pods"] * web_processes + numbers["cron_replicas"] * cron_processes) * numbers["maxconn"]
    return dict(numbers, demand=demand, hpa=hpa_on)


def demand_formula(d):
    """The demand worked out in words, as the budget messages show it."""
    return (
        f"web pods ({'odoo_hpa.max_replicas' if d['hpa'] else 'odoo_web_replicas'}={d['web_pods']})"
        f" x (odoo_workers={d['workers']} + 1 gevent) x odoo_db_maxconn={d['maxconn']}"
        f" + cron pods (odoo_cron_replicas={d['cron_replicas']}) x odoo_max_cron_threads={d['cron_threads']}"
        f" x odoo_db_maxconn={d['maxconn']} = {d['demand']} connections"
    )


# --- image and secrets ----------------------------------------------------------------------------------------
@rule(
    "odoo.image_pinned",
    layer="odoo",
    reads=("odoo_image", "governed_odoo_environment"),
    refuses="a missing Odoo image, or one referenced by tag outside dev",
    example="odoo_image=odoo:17.0 must be pinned by digest (name@sha256:<64 hex>) in prod; a tag is accepted in"
    " dev only",
)
def image_pinned(i):
    image, env = i.get("odoo_image"), i.get("governed_odoo_environment")
    if not image:
        yield "odoo_image is required"
    elif env != "dev" and not is_digest(image):
        yield (
            f"odoo_image={image} must be pinned by digest (name@sha256:<64 hex>) in {text(env)};"
            " a tag is accepted in dev only"
        )


@rule(
    "odoo.admin_password",
    layer="odoo",
    reads=("odoo_admin_password",),
    refuses="a missing or short Odoo master password",
    example="odoo_admin_password must be set and at least 16 characters long",
)
def admin_password(i):
    if len(text(i.get("odoo_admin_password"))) < 16:
        yield "odoo_admin_password must be set and at least 16 characters long"


# --- processes and replicas -----------------------------------------------------------------------------------
@rule(
    "odoo.size_profile",
    layer="odoo",
    reads=("governed_odoo_size", "odoo_profiles"),
    refuses="a size without an Odoo profile",
    example="odoo_profiles has no entry for governed_odoo_size=huge",
)
def size_profile(i):
    size = i.get("governed_odoo_size")
    if size not in as_dict(i.get("odoo_profiles")):
        yield f"odoo_profiles has no entry for governed_odoo_size={text(size)}"


@rule(
    "odoo.processes",
    layer="odoo",
    reads=("odoo_workers", "odoo_max_cron_threads", "odoo_db_maxconn", "governed_odoo_environment"),
    refuses="negative workers or a threaded server in prod, no cron thread, fewer than 2 connections per process",
    example="odoo_workers=0 must be at least 1 in prod (multi-process) and never negative",
)
def processes(i):
    workers, raw = as_int(i.get("odoo_workers")), i.get("odoo_workers")
    if workers is None or workers < 0 or (i.get("governed_odoo_environment") == "prod" and workers == 0):
        yield f"odoo_workers={text(raw)} must be at least 1 in prod (multi-process) and never negative"
    threads = as_int(i.get("odoo_max_cron_threads"))
    if threads is None or threads < 1:
        threads_text = text(i.get("odoo_max_cron_threads"))
        yield f"odoo_max_cron_threads={threads_text} must be at least 1 (the cron pods run them)"
    maxconn = as_int(i.get("odoo_db_maxconn"))
    if maxconn is None or maxconn < 2:
        yield f"odoo_db_maxconn={text(i.get('odoo_db_maxconn'))} must be at least 2"


@rule(
    "odoo.replicas",
    layer="odoo",
    reads=("odoo_web_replicas", "odoo_cron_replicas", "odoo_hpa_settings"),
    refuses="fewer than one web pod, a negative cron replica count, an autoscaler range outside"
    " 1 <= min <= max or a CPU target that is not a positive percentage",
    example="odoo_cron_replicas=-1 must be a whole number, 0 or more",
)
def replicas(i):
    web = as_int(i.get("odoo_web_replicas"))
    if web is None or web < 1:
        yield f"odoo_web_replicas={text(i.get('odoo_web_replicas'))} must be at least 1"
    cron = as_int(i.get("odoo_cron_replicas"))
    if cron is None or cron < 0:
        yield f"odoo_cron_replicas={text(i.get('odoo_cron_replicas'))} must be a whole number, 0 or more"
    hpa = as_dict(i.get("odoo_hpa_settings"))
    if as_bool(hpa.get("enabled")):
        low, high = as_int(hpa.get("min_replicas")), as_int(hpa.get("max_replicas"))
        if low is None or high is None or low < 1 or high < low:
            yield (
                f"odoo_hpa.min_replicas={text(hpa.get('min_replicas'))} and"
                f" odoo_hpa.max_replicas={text(hpa.get('max_replicas'))} must satisfy 1 <= min <= max"
            )
        cpu = as_int(hpa.get("cpu_utilization"))
        if cpu is None or cpu < 1:
            yield f"odoo_hpa.cpu_utilization={text(hpa.get('cpu_utilization'))} must be a whole percentage, at least 1"


@rule(
    "odoo.web_drain",
    layer="odoo",
    reads=("odoo_web_drain_seconds",),
    refuses="a drain period of web pods that is not a whole number from 0 to 50 (it is part of the pod's 60 s grace"
    " period, and Odoo needs the rest to stop)",
    example="odoo_web_drain_seconds=90 must be a whole number of seconds from 0 to 50",
)
def web_drain(i):
    raw = i.get("odoo_web_drain_seconds", 5)
    seconds = as_int(raw)
    if seconds is None or not 0 <= seconds <= 50:
        yield f"odoo_web_drain_seconds={text(raw)} must be a whole number of seconds from 0 to 50"


@rule(
    "odoo.memory_limits",
    layer="odoo",
    reads=("odoo_limit_memory_soft", "odoo_limit_memory_hard"),
    refuses="a soft memory limit above the hard one",
    example="odoo_limit_memory_soft=3000000000 exceeds odoo_limit_memory_hard=2000000000",
)
def memory_limits(i):
    soft, hard = as_int(i.get("odoo_limit_memory_soft")), as_int(i.get("odoo_limit_memory_hard"))
    if soft is not None and hard is not None and soft > hard:
        yield f"odoo_limit_memory_soft={soft} exceeds odoo_limit_memory_hard={hard}"


LIMIT_VARIABLES = (
    "odoo_limit_memory_soft",
    "odoo_limit_memory_hard",
    "odoo_limit_time_cpu",
    "odoo_limit_time_real",
    "odoo_limit_time_real_cron",
    "odoo_limit_request",
)


@rule(
    "odoo.limits",
    layer="odoo",
    reads=LIMIT_VARIABLES,
    refuses="odoo.conf limits that are not whole numbers (they are written into odoo.conf as they are)",
    example="odoo_limit_time_cpu=600s must be a whole number, at least 1",
)
def limits(i):
    for name in LIMIT_VARIABLES:
        value = as_int(i.get(name))
        low = 0 if name == "odoo_limit_time_real_cron" else 1
        if value is None or value < low:
            yield f"{name}={text(i.get(name))} must be a whole number, at least {low}"


# --- odoo.conf ------------------------------------------------------------------------------------------------
@rule(
    "odoo.extra_options",
    layer="odoo",
    reads=("odoo_extra_options", "odoo_reserved_options"),
    refuses="extra odoo.conf options that set a reserved option (compared without case, as Odoo lower-cases"
    " option names), that are not lower-case option names, or whose keys or values hold control characters"
    " or are not plain values",
    example="odoo_extra_options may not set db_host (managed by other variables)",
)
def extra_options(i):
    options = i.get("odoo_extra_options")
    if options in (None, {}):
        return
    if not isinstance(options, dict):
        yield "odoo_extra_options must be a mapping of odoo.conf option to value"
        return
    reserved_names = {str(r).lower() for r in i.get("odoo_reserved_options") or ()}
    reserved = [str(k) for k in options if str(k).strip().lower() in reserved_names]
    if reserved:
        yield f"odoo_extra_options may not set {', '.join(reserved)} (managed by other variables)"
    for key, value in options.items():
        if has_control_characters(key) or has_control_characters(value):
            yield (
                "odoo_extra_options holds a control character (a line break?) in option"
                f" {str(key)!r}: each option is one line of odoo.conf"
            )
        elif not OPTION_NAME_RE.match(str(key)):
            yield f"odoo_extra_options key {str(key)!r} must be a lower-case odoo.conf option name (a-z, 0-9, _)"
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            yield f"odoo_extra_options.{key} must be a plain value (text, number or boolean), not a list or mapping"


CONF_TEXT = ("odoo_dbfilter", "odoo_addons_path", "odoo_server_wide_modules", "odoo_version")


@rule(
    "odoo.conf_text",
    layer="odoo",
    reads=CONF_TEXT,
    refuses="control characters in values written into odoo.conf (a line break would start another option)",
    example="odoo_dbfilter holds a control character (a line break?): it is one line of odoo.conf",
)
def conf_text(i):
    for name in CONF_TEXT:
        if has_control_characters(i.get(name)):
            yield f"{name} holds a control character (a line break?): it is one line of odoo.conf"
    for name in ("odoo_addons_path", "odoo_server_wide_modules"):
        value = i.get(name)
        if isinstance(value, list) and any("," in text(v) for v in value):
            yield f"{name} entries may not contain a comma: odoo.conf joins them with commas"


# --- quantities and numbers the API server checks --------------------------------------------------------------
@rule(
    "odoo.quantities",
    layer="odoo",
    reads=("governed_odoo_size", "odoo_profiles", "odoo_filestore", "odoo_filestore_volume_settings"),
    refuses="resource requests and limits, and a filestore volume size, that are not Kubernetes quantities, or"
    " requests above limits",
    example="odoo_profiles.small.web_resources.limits.memory=2 GB is not a Kubernetes quantity (for example 500m, 2Gi)",
)
def quantities(i):
    size = i.get("governed_odoo_size")
    profile = as_dict(as_dict(i.get("odoo_profiles")).get(size))
    for key in ("web_resources", "cron_resources"):
        if key in profile:
            yield from resources_problems(f"odoo_profiles.{size}.{key}", profile[key])
    if i.get("odoo_filestore") == "volume":
        volume = as_dict(i.get("odoo_filestore_volume_settings"))
        quantity = parse_quantity(volume.get("size"))
        if quantity is None or quantity <= 0:
            yield (
                f"odoo_filestore_volume.size={text(volume.get('size'))} is not a positive Kubernetes quantity"
                " (for example 20Gi)"
            )
        if volume.get("access_mode") not in ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"):
            yield f"odoo_filestore_volume.access_mode={text(volume.get('access_mode'))} is not a Kubernetes access mode"


@rule(
    "odoo.uid",
    layer="odoo",
    reads=("odoo_uid",),
    refuses="a user id that is root or not a valid id (the pods run as non-root)",
    example="odoo_uid=0 must be a user id from 1 to 2147483647 (the pods run as non-root)",
)
def uid(i):
    value = as_int(i.get("odoo_uid"))
    if value is None or not 1 <= value <= MAX_ID:
        yield f"odoo_uid={text(i.get('odoo_uid'))} must be a user id from 1 to {MAX_ID} (the pods run as non-root)"


@rule(
    "odoo.filestore",
    layer="odoo",
    reads=("odoo_filestore", "odoo_filestore_volume_settings", "odoo_web_pods_max", "odoo_cron_replicas"),
    refuses="a ReadWriteOnce filestore volume shared by more than one pod",
    example="odoo_filestore_volume.access_mode=ReadWriteOnce cannot be shared by 2 pods: use ReadWriteMany or"
    " odoo_filestore=object_storage",
)
def filestore(i):
    if i.get("odoo_filestore") != "volume":
        return
    pods = (as_int(i.get("odoo_web_pods_max")) or 0) + (as_int(i.get("odoo_cron_replicas")) or 0)
    if as_dict(i.get("odoo_filestore_volume_settings")).get("access_mode") == "ReadWriteOnce" and pods > 1:
        yield (
            f"odoo_filestore_volume.access_mode=ReadWriteOnce cannot be shared by {pods} pods:"
            " use ReadWriteMany or odoo_filestore=object_storage"
        )


# --- off-hours scaling ----------------------------------------------------------------------------------------
@rule(
    "odoo.offhours",
    layer="odoo",
    reads=("odoo_offhours_settings", "odoo_hpa_settings", "governed_odoo_environment"),
    refuses="off-hours scaling in prod or with an autoscaler, without a pinned image, with schedules that are not"
    " valid cron schedules, an unknown time zone, no or invalid API server networks, or a port outside 1-65535",
    example="odoo_offhours.down=0 25 * * 1-5 must be a five-field cron schedule (has 25 in its hour field (0-23))",
)
def offhours(i):
    settings, env = as_dict(i.get("odoo_offhours_settings")), i.get("governed_odoo_environment")
    if not as_bool(settings.get("enabled")):
        return
    if env == "prod":
        yield "odoo_offhours.enabled is refused in prod"
    elif as_bool(as_dict(i.get("odoo_hpa_settings")).get("enabled")):
        yield "odoo_offhours.enabled cannot be combined with odoo_hpa.enabled (both would own the replica count)"
    image = settings.get("image")
    if not image:
        yield "odoo_offhours.image is required when odoo_offhours.enabled"
    elif env != "dev" and not is_digest(image):
        yield f"odoo_offhours.image={image} must be pinned by digest outside dev"
    for key in ("down", "up"):
        problems = cron_validate(settings.get(key), f"odoo_offhours.{key}")
        if problems:
            # the message the role always gave, then what exactly is wrong (module_utils/cron.py, as Kubernetes)
            yield (
                f"odoo_offhours.{key}={text(settings.get(key))} must be a five-field cron schedule:"
                f" {'; '.join(problems)}"
            )
    yield from time_zone_validate(settings.get("time_zone"), "odoo_offhours.time_zone")
    if not is_port(settings.get("apiserver_port")):
        yield f"odoo_offhours.apiserver_port={text(settings.get('apiserver_port'))} must be a port from 1 to 65535"
    cidrs = settings.get("apiserver_cidrs")
    if not cidrs:
        yield (
            "odoo_offhours.apiserver_cidrs is required when odoo_offhours.enabled"
            " (the scaler must reach the API server)"
        )
    else:
        yield from allowlist_problems(cidrs, "odoo_offhours.apiserver_cidrs", env)


# --- the budget of one instance, inside the role --------------------------------------------------------------
@rule(
    "odoo.connection_budget",
    layer="odoo",
    reads=(*DEMAND_READS, "postgresql_connection"),
    refuses="an instance whose connection demand alone exceeds what its database server has available (inside"
    " the role, from the postgresql role's postgresql_connection; site.yml checks every server first with"
    " postgresql.connection_budget)",
    example="connection budget exceeded on external:db:5432: web pods (odoo_web_replicas=1) x (odoo_workers=16 + 1"
    " gevent) x odoo_db_maxconn=64 + ... = 1152 connections > 182 available (max_connections=200 - ...)",
)
def connection_budget(i):
    conn = i.get("postgresql_connection")
    if not isinstance(conn, dict) or as_int(conn.get("available")) is None:
        return  # no server worked out yet (site.yml's check_instances): postgresql.connection_budget covers it
    d = connection_demand(i)
    available = as_int(conn.get("available"))
    if d is not None and d["demand"] > available:
        yield budget_message(conn.get("server"), d, available, conn)


def budget_message(server, d, available, limits):
    return (
        f"connection budget exceeded on {server}: {demand_formula(d)} > {available} available"
        f" (max_connections={text(limits.get('max_connections'))}"
        f" - superuser_reserved_connections={text(limits.get('superuser_reserved_connections'))}"
        f" - postgresql_reserved_connections={text(limits.get('reserved_connections'))}"
        f" - postgresql_reporting_connection_limit={text(limits.get('reporting_connection_limit'))})"
    )
