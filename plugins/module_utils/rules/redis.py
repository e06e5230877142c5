# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the redis role's inputs."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_int,
    dig,
    has_control_characters,
    is_digest,
    resources_problems,
    size_problems,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_MEMORY_RE = re.compile(r"^[0-9]+(b|kb|mb|gb)?$", re.IGNORECASE)
# what breaks the password's places: a quoted redis.conf value (quotes, backslash), the probes' shell words
# (white space, quotes), and the userinfo of a redis:// URL (@ / ? # % end or escape it); control characters
# break all three
_PASSWORD_BREAKS = set("\"'\\ @/?#%")


@rule(
    "redis.password_length",
    layer="redis",
    reads=("redis_password",),
    refuses="a Redis password that is missing or shorter than 16 characters",
    example="redis_password must be set and at least 16 characters long",
)
def password_length(i):
    if len(text(i.get("redis_password"))) < 16:
        yield "redis_password must be set and at least 16 characters long"


@rule(
    "redis.password_characters",
    layer="redis",
    reads=("redis_password",),
    refuses="a Redis password with characters that break a redis.conf line, the probes' shell or a redis:// URL:"
    " control characters, white space, quotes, backslash, @ / ? # %",
    example="redis_password holds characters that break redis.conf or a redis:// URL ('@', ' '): use letters,"
    " digits and - _ . : ~ ! $ & * + , ; = ^",
)
def password_characters(i):
    value = i.get("redis_password")
    if not isinstance(value, str):
        return  # redis.password_length names a missing one
    found = sorted({c for c in value if c in _PASSWORD_BREAKS})
    shown = [repr(c) for c in found]
    if has_control_characters(value) or any(c.isspace() for c in value if c != " "):
        shown.append("a control or space character")
    if shown:
        # the characters, never the password
        yield (
            f"redis_password holds characters that break redis.conf or a redis:// URL ({', '.join(shown)}):"
            " use letters, digits and - _ . : ~ ! $ & * + , ; = ^"
        )


@rule(
    "redis.quantities",
    layer="redis",
    reads=("redis_placement", "redis_resources", "redis_persistence", "redis_storage_size"),
    refuses="an in-cluster Redis whose resources are not Kubernetes quantities or request more than their limit,"
    " or whose data volume size (with persistence) is not a positive quantity",
    example="redis_resources.limits.memory=8 GB is not a Kubernetes quantity (for example 500m, 2Gi)",
)
def quantities(i):
    if i.get("redis_placement") == "external":
        return
    if "redis_resources" in i:
        yield from resources_problems("redis_resources", i["redis_resources"])
    if i.get("redis_persistence") in ("rdb", "aof"):
        yield from size_problems("redis_storage_size", i.get("redis_storage_size"))


@rule(
    "redis.maxmemory_size",
    layer="redis",
    reads=("redis_maxmemory",),
    refuses="a memory limit Redis cannot parse",
    example="redis_maxmemory=lots must be a Redis memory size such as 256mb",
)
def maxmemory_size(i):
    value = text(i.get("redis_maxmemory"))
    if not _MEMORY_RE.match(value):
        yield f"redis_maxmemory={value} must be a Redis memory size such as 256mb"


@rule(
    "redis.external_server",
    layer="redis",
    reads=("redis_placement", "redis_external"),
    refuses="an external Redis without its host or its network (the egress policy needs the CIDR)",
    example="redis_external.host is required with redis_placement=external",
)
def external_server(i):
    if i.get("redis_placement") != "external":
        return
    external = i.get("redis_external") or {}
    for key in ("host", "cidr"):
        if not external.get(key):
            yield f"redis_external.{key} is required with redis_placement=external"


@rule(
    "redis.image_pinned",
    layer="redis",
    reads=("redis_placement", "redis_image", "redis_exporter_image", "governed_odoo_environment"),
    refuses="an in-cluster Redis without an image, or images referenced by tag outside dev",
    example="redis_image=redis:7 must be pinned by digest (name@sha256:...) in prod; tags are accepted in dev only",
)
def image_pinned(i):
    env = i.get("governed_odoo_environment")
    if i.get("redis_placement") != "external":
        image = i.get("redis_image")
        if not image:
            yield "redis_image is required with redis_placement=in_cluster"
        elif env != "dev" and not is_digest(image):
            yield (
                f"redis_image={image} must be pinned by digest (name@sha256:...) in {env};"
                " tags are accepted in dev only"
            )
    exporter = i.get("redis_exporter_image")
    if exporter and env != "dev" and not is_digest(exporter):
        yield f"redis_exporter_image={exporter} must be pinned by digest outside dev"


@rule(
    "redis.external_cidr",
    layer="redis",
    reads=("redis_placement", "redis_external", "governed_odoo_environment"),
    refuses="an external Redis whose network (redis_external.cidr) is not a valid CIDR, or is any address in prod",
    example="netplan_validate_allowlist: redis_external.cidr[0] 'x' is not a valid IP address or CIDR",
)
def external_cidr(i):
    cidr = dig(i.get("redis_external"), "cidr")
    if i.get("redis_placement") == "external" and cidr:
        yield from allowlist_problems([cidr], "redis_external.cidr", i.get("governed_odoo_environment"))


@rule(
    "redis.config_text",
    layer="redis",
    reads=("redis_rdb_save", "redis_key_prefix"),
    refuses=(
        "values that land in redis.conf or in Odoo's session settings as text and would break them: snapshot points"
        " that are not pairs of whole numbers (seconds changes ...), a key prefix with a control character or a space"
    ),
    example="redis_rdb_save=900 1 300 must be pairs of whole numbers (seconds changes), such as 900 1 300 100",
)
def config_text(i):
    save = i.get("redis_rdb_save")
    if save is not None:
        parts = text(save).split(" ")
        if not re.fullmatch(r"[0-9]+( [0-9]+)*", text(save)) or len(parts) % 2:
            shown = "(a value with a control character)" if has_control_characters(save) else text(save)
            yield f"redis_rdb_save={shown} must be pairs of whole numbers (seconds changes), such as 900 1 300 100"
    prefix = i.get("redis_key_prefix")
    if prefix is not None and (has_control_characters(prefix) or " " in text(prefix)):
        yield "redis_key_prefix must not contain spaces or control characters (line breaks, tabs)"


@rule(
    "redis.numbers",
    layer="redis",
    reads=("redis_db_index", "redis_session_expiration", "redis_uid", "redis_external", "redis_placement"),
    refuses=(
        "numbers Redis or the API server refuse: a database index outside 0-15, a session lifetime under one"
        " second, a root or invalid user id, an external port outside 1-65535"
    ),
    example="redis_db_index=16 must be a whole number from 0 to 15 (Redis has 16 databases by default)",
)
def numbers(i):
    if "redis_db_index" in i:
        index = as_int(i["redis_db_index"])
        if index is None or not 0 <= index <= 15:
            yield (
                f"redis_db_index={text(i['redis_db_index'])} must be a whole number from 0 to 15"
                " (Redis has 16 databases by default)"
            )
    if "redis_session_expiration" in i:
        seconds = as_int(i["redis_session_expiration"])
        if seconds is None or seconds < 1:
            yield (
                f"redis_session_expiration={text(i['redis_session_expiration'])} must be a whole number of seconds,"
                " at least 1"
            )
    if "redis_uid" in i:
        uid = as_int(i["redis_uid"])
        if uid is None or not 1 <= uid <= 2147483647:
            yield f"redis_uid={text(i['redis_uid'])} must be a user id from 1 to 2147483647 (Redis runs as non-root)"
    if i.get("redis_placement") == "external":
        port = dig(i.get("redis_external"), "port")
        if port is not None and (as_int(port) is None or not 1 <= as_int(port) <= 65535):
            yield f"redis_external.port={text(port)} must be a port number from 1 to 65535"
