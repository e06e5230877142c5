# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the redis role's inputs."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import allowlist_problems, dig, is_digest, text
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_MEMORY_RE = re.compile(r"^[0-9]+(b|kb|mb|gb)?$", re.IGNORECASE)


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
