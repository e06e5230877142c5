# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the ingress role's inputs: host names, TLS, who may reach a non-production instance, Traefik."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_int,
    covers_every_address,
    dig,
    has_control_characters,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

FQDN_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+")
# a Kubernetes object name (DNS subdomain), such as a Secret's
_SUBDOMAIN_RE = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ANY_RE = re.compile(r"^(0\.0\.0\.0|::)/0$")
_PERIOD_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")


def _hostnames(i):
    value = i.get("ingress_hostnames")
    return value if isinstance(value, list) else ([] if not value else [value])


@rule(
    "ingress.hostnames_listed",
    layer="ingress",
    reads=("ingress_hostnames",),
    refuses="an instance without a host name",
    example="ingress_hostnames must list at least one host name",
)
def hostnames_listed(i):
    if not _hostnames(i):
        yield "ingress_hostnames must list at least one host name"


@rule(
    "ingress.hostnames_dns",
    layer="ingress",
    reads=("ingress_hostnames",),
    refuses=(
        "host names that are not lower-case DNS names (at least two labels of 1-63 letters, digits and hyphens,"
        " 253 characters in all), including any with a control character or a trailing line break"
    ),
    example="ingress_hostnames[0]=Civil.Example is not a lower-case DNS name",
)
def hostnames_dns(i):
    for n, name in enumerate(_hostnames(i)):
        if not isinstance(name, str) or not FQDN_RE.fullmatch(name):
            shown = "(a value with a control character)" if has_control_characters(name) else text(name)
            yield f"ingress_hostnames[{n}]={shown} is not a lower-case DNS name"


@rule(
    "ingress.tls_one_source",
    layer="ingress",
    reads=("ingress_tls",),
    refuses="a route told to take its certificate from a Secret and from an ACME resolver at once",
    example="ingress_tls: set secret_name or cert_resolver, not both",
)
def tls_one_source(i):
    tls = i.get("ingress_tls") or {}
    if dig(tls, "secret_name") and dig(tls, "cert_resolver"):
        yield "ingress_tls: set secret_name or cert_resolver, not both"


@rule(
    "ingress.tls_values",
    layer="ingress",
    reads=("ingress_tls",),
    refuses=(
        "a TLS Secret name that is not a Kubernetes object name, and a certificate resolver or default-certificate"
        " reason with a control character"
    ),
    example="ingress_tls.secret_name=Odoo_TLS is not a Kubernetes object name (lower-case DNS subdomain)",
)
def tls_values(i):
    tls = i.get("ingress_tls") or {}
    secret = dig(tls, "secret_name")
    if secret and (not isinstance(secret, str) or not _SUBDOMAIN_RE.fullmatch(secret)):
        shown = "(a value with a control character)" if has_control_characters(secret) else text(secret)
        yield f"ingress_tls.secret_name={shown} is not a Kubernetes object name (lower-case DNS subdomain)"
    for key in ("cert_resolver", "default_certificate"):
        if has_control_characters(dig(tls, key)):
            yield f"ingress_tls.{key} must not contain control characters (line breaks, tabs)"


@rule(
    "ingress.production_tls",
    layer="ingress",
    reads=("ingress_tls", "governed_odoo_environment"),
    refuses=(
        "a prod instance without its TLS certificate: prod names a kubernetes.io/tls Secret (ingress_tls.secret_name)"
        " or an ACME resolver (ingress_tls.cert_resolver), or says why Traefik's default TLS store serves the right"
        " certificate (ingress_tls.default_certificate, a reason that stays in the inventory's history); plain HTTP"
        " is never served (the HTTP route only redirects to HTTPS)"
    ),
    example=(
        "ingress_tls must name the certificate of prod (secret_name or cert_resolver), or give"
        " ingress_tls.default_certificate, the reason Traefik's default certificate is the right one"
    ),
)
def production_tls(i):
    env = i.get("governed_odoo_environment")
    if env != "prod":
        return
    tls = i.get("ingress_tls") or {}
    if not (dig(tls, "secret_name") or dig(tls, "cert_resolver") or text(dig(tls, "default_certificate")).strip()):
        yield (
            f"ingress_tls must name the certificate of {env} (secret_name or cert_resolver), or give"
            " ingress_tls.default_certificate, the reason Traefik's default certificate is the right one"
        )


@rule(
    "ingress.allowlist_valid",
    layer="ingress",
    reads=("ingress_allowlist", "governed_odoo_environment"),
    refuses="outside prod, an allowlist entry that is not a valid network (prod is public and ignores the list)",
    example=(
        "netplan_validate_allowlist: ingress_allowlist[0] '10.0.0.1/8' has host bits set; the network is 10.0.0.0/8"
    ),
)
def allowlist_valid(i):
    env = i.get("governed_odoo_environment")
    if env != "prod":
        yield from allowlist_problems(i.get("ingress_allowlist"), "ingress_allowlist", env)


@rule(
    "ingress.allowlist_not_public",
    layer="ingress",
    reads=("ingress_allowlist", "governed_odoo_environment"),
    refuses=(
        "outside prod, an allowlist with the any-address network, or whose networks together cover every address"
        " (0.0.0.0/1 and 128.0.0.0/1): only prod is public"
    ),
    example="ingress_allowlist contains an any-address network, which would make dev public",
)
def allowlist_not_public(i):
    env = i.get("governed_odoo_environment")
    allowlist = i.get("ingress_allowlist") or []
    if env == "prod" or not isinstance(allowlist, list):
        return
    if any(isinstance(v, str) and _ANY_RE.match(v) for v in allowlist):
        yield f"ingress_allowlist contains an any-address network, which would make {env} public"
    else:
        version = covers_every_address(allowlist)
        if version:
            yield f"ingress_allowlist together covers every IPv{version} address, which would make {env} public"


def _tenant_network(i):
    """Whether the foundation role carves a tenant network for the instance (from the network plan)."""
    if dig(i.get("foundation_network"), "tenant_cidr"):
        return True
    plan = i.get("governed_odoo_netplan")
    if not plan or not isinstance(plan, dict):
        return False
    from ansible_collections.governed.odoo.plugins.module_utils.netplan import NetplanError, netplan_carve

    try:
        carved = netplan_carve(plan, plan.get("environments") or {}, plan.get("tenants") or {})
    except NetplanError:
        return True  # the foundation rules refuse the plan itself; one problem, one message
    env = carved.get(i.get("governed_odoo_environment")) or {}
    return bool(dig(env.get("tenants"), i.get("governed_odoo_tenant")))


@rule(
    "ingress.allowlist_required",
    layer="ingress",
    reads=(
        "ingress_allowlist",
        "governed_odoo_environment",
        "governed_odoo_tenant",
        "governed_odoo_netplan",
        "foundation_network",
    ),
    refuses="outside prod, an instance nobody may reach: no allowlist and no tenant network carved from the plan",
    example=(
        "ingress_allowlist must list the networks allowed to reach dev (no tenant network is carved for civil"
        " either): only prod is public"
    ),
)
def allowlist_required(i):
    env = i.get("governed_odoo_environment")
    if env != "prod" and not i.get("ingress_allowlist") and not _tenant_network(i):
        yield (
            f"ingress_allowlist must list the networks allowed to reach {env}"
            f" (no tenant network is carved for {text(i.get('governed_odoo_tenant'))} either): only prod is public"
        )


@rule(
    "ingress.traefik_sources",
    layer="ingress",
    reads=("ingress_traefik",),
    refuses="Traefik source networks (ingress_traefik.source_cidrs) that are not valid networks",
    example="netplan_validate_allowlist: ingress_traefik.source_cidrs[0] 'traefik' is not a valid IP address or CIDR",
)
def traefik_sources(i):
    yield from allowlist_problems(dig(i.get("ingress_traefik"), "source_cidrs", []), "ingress_traefik.source_cidrs")


@rule(
    "ingress.traefik_settings",
    layer="ingress",
    reads=("ingress_entrypoints", "ingress_rate_limit", "ingress_hsts_seconds", "ingress_allowlist_depth"),
    refuses=(
        "Traefik settings its CRDs or Traefik itself refuse, or that would serve plain HTTP: two different entry"
        " point names, a rate limit of whole numbers (average and burst at least 1) per a duration such as 1s,"
        " HSTS seconds and the allowlist depth not negative"
    ),
    example="ingress_entrypoints.https=web is the plain HTTP entry point too: HTTPS needs its own entry point",
)
def traefik_settings(i):
    entry = {"http": "web", "https": "websecure", **(i.get("ingress_entrypoints") or {})}
    for key in ("http", "https"):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", text(entry.get(key))):
            yield f"ingress_entrypoints.{key}={text(entry.get(key))!r} is not a Traefik entry point name"
    if entry.get("http") == entry.get("https"):
        yield (
            f"ingress_entrypoints.https={text(entry['https'])} is the plain HTTP entry point too:"
            " HTTPS needs its own entry point"
        )
    rate = i.get("ingress_rate_limit")
    if rate is not None:
        rate = rate if isinstance(rate, dict) else {}
        for key in ("average", "burst"):
            value = as_int(rate.get(key))
            if value is None or value < 1:
                yield f"ingress_rate_limit.{key}={text(rate.get(key))} must be a whole number, at least 1"
        if not _PERIOD_RE.match(text(rate.get("period", "1s"))):
            yield f"ingress_rate_limit.period={text(rate.get('period'))} must be a duration such as 1s or 1m"
    for name in ("ingress_hsts_seconds", "ingress_allowlist_depth"):
        if name in i:
            value = as_int(i[name])
            if value is None or value < 0:
                yield f"{name}={text(i[name])} must be a whole number, not negative"


@rule(
    "ingress.header_values",
    layer="ingress",
    reads=("ingress_content_security_policy", "ingress_websocket_path", "ingress_class"),
    refuses=(
        "values copied into HTTP headers, paths or annotations with a control character, a websocket path that is"
        " not an absolute URL path, an ingress class that is not a name"
    ),
    example="ingress_content_security_policy must not contain control characters (line breaks, tabs)",
)
def header_values(i):
    if has_control_characters(i.get("ingress_content_security_policy")):
        yield "ingress_content_security_policy must not contain control characters (line breaks, tabs)"
    path = i.get("ingress_websocket_path")
    if path is not None and (not isinstance(path, str) or not _PATH_RE.match(path) or has_control_characters(path)):
        shown = "(a value with a control character)" if has_control_characters(path) else text(path)
        yield f"ingress_websocket_path={shown} must be an absolute URL path such as /websocket"
    ingress_class = i.get("ingress_class")
    if ingress_class and (not isinstance(ingress_class, str) or not _SUBDOMAIN_RE.fullmatch(ingress_class)):
        shown = "(a value with a control character)" if has_control_characters(ingress_class) else text(ingress_class)
        yield f"ingress_class={shown} is not an ingress class name (lower-case DNS subdomain)"


@rule(
    "ingress.hostnames_unique",
    layer="ingress",
    scope="inventory",
    reads=("instances", "instances.ingress_hostnames"),
    refuses=(
        "one host name claimed by two instances of the inventory (they would steal each other's traffic), also"
        " when one of them is outside --limit"
    ),
    example="ingress_hostnames: civil.dev.example is claimed by civil-dev and civil-qa",
)
def hostnames_unique(i):
    owner = {}
    for host, values in (i.get("instances") or {}).items():
        names = values.get("ingress_hostnames") or []
        for name in (text(n) for n in names) if isinstance(names, list) else ():
            if name in owner and owner[name] != host:
                yield f"ingress_hostnames: {name} is claimed by {owner[name]} and {host}"
            else:
                owner.setdefault(name, host)
