# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Traefik routes of one Odoo instance (the ingress layer).

In order: the Middlewares (security headers, HTTPS redirect, rate limit, X-Forwarded-Proto for websockets, and the
ipAllowList outside prod), the HTTPS IngressRoute (the websocket path to the Service's gevent port 8072, the rest
to 8069), the HTTP IngressRoute that redirects to HTTPS, and the NetworkPolicy admitting Traefik to the Odoo pods.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

from ansible_collections.governed.odoo.plugins.module_utils import netplan
from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    combine,
    instance_labels,
    metadata,
    to_bool,
    to_int,
    unique,
)

API_TRAEFIK = "traefik.io/v1alpha1"
BACKEND = "odoo"
WEB_PORT = 8069
GEVENT_PORT = 8072

ENTRYPOINTS = {"http": "web", "https": "websecure"}
TLS = {"secret_name": "", "cert_resolver": ""}
RATE_LIMIT = {"average": 100, "burst": 200, "period": "1s"}
TRAEFIK = {"namespace": "traefik", "pod_labels": {"app.kubernetes.io/name": "traefik"}, "source_cidrs": []}


def _over(defaults, v, name):
    """``defaults | combine(v[name])``, as Ansible's ``combine`` takes it: a null (``None``, "None", "null") is
    skipped, a list gives its dicts in turn (nulls skipped), anything else but a dict is an error."""
    value = v[name]
    given = value if isinstance(value, (list, tuple)) else [value]
    dicts = [d for d in given if not _null(d)]
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError(
                f"failed to combine variables, expected dicts but got a 'dict' and a '{type(d).__name__}' ({name})"
            )
    return combine(copy.deepcopy(defaults), *dicts)


def _null(value):
    """What Ansible's ``flatten`` (under ``combine``) skips."""
    return value is None or (isinstance(value, str) and value in ("None", "null"))


def _allowlist(v, prod):
    """The networks of the odoo-allowlist Middleware: none in prod (public, and ``ingress_allowlist`` is not even
    read there), else the tenant network carved by the foundation role, then ``ingress_allowlist`` validated and
    normalized by ``governed.odoo.netplan_validate_allowlist``."""
    if prod:
        return []
    tenant_cidr = (v.get("foundation_network") or {}).get("tenant_cidr", "")
    validated = netplan.netplan_validate_allowlist(
        v["ingress_allowlist"], "ingress_allowlist", v["governed_odoo_environment"]
    )
    return unique(([tenant_cidr] if tenant_cidr else []) + validated)


def _hosts_rule(hostnames):
    """``Host(`a`) || Host(`b`)``: each host name through ``regex_replace('^(.*)$', 'Host(`\\1`)')``."""
    return " || ".join(re.sub(r"^(.*)$", "Host(`\\1`)", str(h)) for h in hostnames)


def _middleware(name, ns, labels, spec):
    return {"apiVersion": API_TRAEFIK, "kind": "Middleware", "metadata": metadata(name, ns, labels), "spec": spec}


def _security_headers(v, ns, labels):
    headers = {}
    if to_int(v["ingress_hsts_seconds"]) > 0:
        headers["stsSeconds"] = to_int(v["ingress_hsts_seconds"])
        headers["stsIncludeSubdomains"] = True
    headers.update(
        frameDeny=False,
        customFrameOptionsValue="SAMEORIGIN",
        contentTypeNosniff=True,
        referrerPolicy="strict-origin-when-cross-origin",
    )
    if v["ingress_content_security_policy"]:
        headers["contentSecurityPolicy"] = v["ingress_content_security_policy"]
    headers["permissionsPolicy"] = "camera=(), microphone=(), geolocation=()"
    headers["customResponseHeaders"] = {"Server": "", "X-Powered-By": ""}
    return _middleware("odoo-security-headers", ns, labels, {"headers": headers})


def _https_redirect(ns, labels):
    return _middleware("odoo-https-redirect", ns, labels, {"redirectScheme": {"scheme": "https", "permanent": True}})


def _rate_limit(v, ns, labels, rate):
    limit = {"average": to_int(rate["average"]), "burst": to_int(rate["burst"]), "period": rate["period"]}
    depth = to_int(v["ingress_allowlist_depth"])
    if depth > 0:
        limit["sourceCriterion"] = {"ipStrategy": {"depth": depth}}
    return _middleware("odoo-ratelimit", ns, labels, {"rateLimit": limit})


def _websocket_proto(ns, labels):
    # Websocket requests reach the gevent port with the scheme the client used (Odoo checks it on upgrade).
    return _middleware(
        "odoo-websocket-proto", ns, labels, {"headers": {"customRequestHeaders": {"X-Forwarded-Proto": "https"}}}
    )


def _ip_allowlist(v, ns, labels, allowlist):
    allow = {"sourceRange": allowlist}
    depth = to_int(v["ingress_allowlist_depth"])
    if depth > 0:
        allow["ipStrategy"] = {"depth": depth}
    return _middleware("odoo-allowlist", ns, labels, {"ipAllowList": allow})


def _service(port, lb):
    return combine({"name": BACKEND, "port": port}, lb)


def _tls(v, tls):
    """The HTTPS route's TLS: a Secret, else an ACME resolver for every host name, else Traefik's default."""
    if tls["secret_name"]:
        return {"secretName": tls["secret_name"]}
    if tls["cert_resolver"]:
        hostnames = v["ingress_hostnames"]
        domain = {"main": hostnames[0]}
        if len(hostnames) > 1:
            domain["sans"] = hostnames[1:]
        return {"certResolver": tls["cert_resolver"], "domains": [domain]}
    return {}


def _https_route(v, ns, labels, annotations, entry, tls, hosts_rule, web_mw, lb):
    ws_mw = [*(dict(m) for m in web_mw), {"name": "odoo-websocket-proto"}]
    return {
        "apiVersion": API_TRAEFIK,
        "kind": "IngressRoute",
        "metadata": metadata("odoo", ns, labels, annotations or None),
        "spec": {
            "entryPoints": [entry["https"]],
            "routes": [
                {
                    "kind": "Rule",
                    "match": "(" + hosts_rule + ") && PathPrefix(`" + str(v["ingress_websocket_path"]) + "`)",
                    "priority": 100,
                    "middlewares": ws_mw,
                    "services": [_service(GEVENT_PORT, lb)],
                },
                {
                    "kind": "Rule",
                    "match": "(" + hosts_rule + ")",
                    "priority": 10,
                    "middlewares": web_mw,
                    "services": [_service(WEB_PORT, lb)],
                },
            ],
            "tls": _tls(v, tls),
        },
    }


def _http_route(ns, labels, annotations, entry, hosts_rule, lb):
    return {
        "apiVersion": API_TRAEFIK,
        "kind": "IngressRoute",
        "metadata": metadata("odoo-http", ns, labels, annotations or None),
        "spec": {
            "entryPoints": [entry["http"]],
            "routes": [
                {
                    "kind": "Rule",
                    "match": "(" + hosts_rule + ")",
                    "middlewares": [{"name": "odoo-https-redirect"}],
                    "services": [_service(WEB_PORT, lb)],
                }
            ],
        },
    }


def _traefik_policy(ns, labels, traefik):
    sources = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": traefik["namespace"]}},
            "podSelector": {"matchLabels": traefik["pod_labels"]},
        }
    ]
    sources.extend({"ipBlock": {"cidr": cidr}} for cidr in traefik["source_cidrs"])
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-traefik-to-odoo", ns, labels),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": sources,
                    "ports": [{"protocol": "TCP", "port": WEB_PORT}, {"protocol": "TCP", "port": GEVENT_PORT}],
                }
            ],
        },
    }


def objects(v):
    """The Middlewares, IngressRoutes and NetworkPolicy of the instance, in order."""
    labels = instance_labels(v, **{"app.kubernetes.io/component": "ingress"})
    ns = v["governed_odoo_namespace"]
    prod = v["governed_odoo_environment"] == "prod"
    entry = _over(ENTRYPOINTS, v, "ingress_entrypoints")
    tls = _over(TLS, v, "ingress_tls")
    rate = _over(RATE_LIMIT, v, "ingress_rate_limit")
    traefik = _over(TRAEFIK, v, "ingress_traefik")
    # native_lb (Traefik's nativeLB): true dials the Service's ClusterIP, false the pods (from the Service's
    # endpoints); unset leaves it to Traefik's nativeLBByDefault
    lb = {} if traefik.get("native_lb") is None else {"nativeLB": to_bool(traefik["native_lb"])}
    allowlist = _allowlist(v, prod)
    hosts_rule = _hosts_rule(v["ingress_hostnames"])
    annotations = {"kubernetes.io/ingress.class": v["ingress_class"]} if v["ingress_class"] else {}
    common_mw = (["odoo-allowlist"] if allowlist else []) + ["odoo-ratelimit", "odoo-security-headers"]
    web_mw = [{"name": m} for m in common_mw]

    out = [
        _security_headers(v, ns, labels),
        _https_redirect(ns, labels),
        _rate_limit(v, ns, labels, rate),
        _websocket_proto(ns, labels),
    ]
    if allowlist:
        out.append(_ip_allowlist(v, ns, labels, allowlist))
    out.append(_https_route(v, ns, labels, annotations, entry, tls, hosts_rule, web_mw, lb))
    out.append(_http_route(ns, labels, annotations, entry, hosts_rule, lb))
    out.append(_traefik_policy(ns, labels, traefik))
    return out
