"""For every ingress rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

PLAN = {
    "supernet": "10.64.0.0/12",
    "environment_prefix": 16,
    "tenant_prefix": 20,
    "environments": {"dev": 0, "prod": 1},
    "tenants": {"civil": 0},
}

CASES = {
    "ingress.hostnames_listed": {
        "bad": [({"ingress_hostnames": []}, "ingress_hostnames must list at least one host name"), ({}, None)],
        "good": [{"ingress_hostnames": ["civil.dev.example"]}],
    },
    "ingress.hostnames_dns": {
        "bad": [
            ({"ingress_hostnames": ["Civil.Example"]}, "ingress_hostnames[0]=Civil.Example is not a lower-case DNS"),
            ({"ingress_hostnames": ["ok.example", "localhost"]}, "ingress_hostnames[1]=localhost"),
            ({"ingress_hostnames": ["civil.example\n"]}, "ingress_hostnames[0]=(a value with a control character)"),
            ({"ingress_hostnames": ["a" * 64 + ".example"]}, None),
            ({"ingress_hostnames": ["-a.example"]}, None),
            ({"ingress_hostnames": [("a" * 60 + ".") * 5 + "example"]}, None),
            ({"ingress_hostnames": [42]}, "ingress_hostnames[0]=42"),
        ],
        "good": [{"ingress_hostnames": ["civil.dev.example", "x-1.y.example"]}, {"ingress_hostnames": []}],
    },
    "ingress.tls_one_source": {
        "bad": [({"ingress_tls": {"secret_name": "tls", "cert_resolver": "acme"}}, "not both")],
        "good": [{"ingress_tls": {"secret_name": "tls", "cert_resolver": ""}}, {"ingress_tls": {}}],
    },
    "ingress.tls_values": {
        "bad": [
            ({"ingress_tls": {"secret_name": "Odoo_TLS"}}, "ingress_tls.secret_name=Odoo_TLS is not a Kubernetes"),
            ({"ingress_tls": {"secret_name": "tls\n"}}, "(a value with a control character)"),
            ({"ingress_tls": {"cert_resolver": "acme\nx"}}, "ingress_tls.cert_resolver must not contain control"),
            ({"ingress_tls": {"default_certificate": "wildcard\r\n"}}, "ingress_tls.default_certificate"),
        ],
        "good": [{"ingress_tls": {"secret_name": "odoo-tls.v2", "cert_resolver": "le"}}, {"ingress_tls": {}}],
    },
    "ingress.production_tls": {
        "bad": [
            (
                {"governed_odoo_environment": "prod", "ingress_tls": {"secret_name": "", "cert_resolver": ""}},
                "ingress_tls must name the certificate of prod",
            ),
            ({"governed_odoo_environment": "prod"}, None),
            ({"governed_odoo_environment": "prod", "ingress_tls": {"default_certificate": "  "}}, None),
        ],
        "good": [
            {"governed_odoo_environment": "prod", "ingress_tls": {"cert_resolver": "acme"}},
            {"governed_odoo_environment": "prod", "ingress_tls": {"secret_name": "odoo-tls"}},
            {"governed_odoo_environment": "prod", "ingress_tls": {"default_certificate": "TLSStore has *.example"}},
            {"governed_odoo_environment": "dev", "ingress_tls": {}},
        ],
    },
    "ingress.allowlist_valid": {
        "bad": [
            (
                {"governed_odoo_environment": "dev", "ingress_allowlist": ["10.0.0.1/8"]},
                "ingress_allowlist[0] '10.0.0.1/8' has host bits set",
            ),
            ({"governed_odoo_environment": "qa", "ingress_allowlist": ["10.0.0.0/8", "vpn"]}, "ingress_allowlist[1]"),
        ],
        "good": [
            {"governed_odoo_environment": "dev", "ingress_allowlist": ["10.0.0.0/8"]},
            {"governed_odoo_environment": "prod", "ingress_allowlist": ["vpn"]},
        ],
    },
    "ingress.allowlist_not_public": {
        "bad": [
            (
                {"governed_odoo_environment": "dev", "ingress_allowlist": ["0.0.0.0/0"]},
                "ingress_allowlist contains an any-address network, which would make dev public",
            ),
            ({"governed_odoo_environment": "qa", "ingress_allowlist": ["::/0"]}, "would make qa public"),
            (
                {"governed_odoo_environment": "dev", "ingress_allowlist": ["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"]},
                "ingress_allowlist together covers every IPv4 address, which would make dev public",
            ),
        ],
        "good": [
            {"governed_odoo_environment": "dev", "ingress_allowlist": ["0.0.0.0/1", "10.0.0.0/8"]},
            {"governed_odoo_environment": "prod", "ingress_allowlist": ["0.0.0.0/0"]},
        ],
    },
    "ingress.allowlist_required": {
        "bad": [
            (
                {"governed_odoo_environment": "dev", "governed_odoo_tenant": "civil", "ingress_allowlist": []},
                "ingress_allowlist must list the networks allowed to reach dev (no tenant network is carved for civil"
                " either): only prod is public",
            ),
            # a plan that carves no network for this tenant
            (
                {"governed_odoo_environment": "dev", "governed_odoo_tenant": "building", "governed_odoo_netplan": PLAN},
                "carved for building",
            ),
        ],
        "good": [
            {"governed_odoo_environment": "dev", "governed_odoo_tenant": "civil", "ingress_allowlist": ["10.0.0.0/8"]},
            {"governed_odoo_environment": "dev", "governed_odoo_tenant": "civil", "governed_odoo_netplan": PLAN},
            {"governed_odoo_environment": "dev", "foundation_network": {"tenant_cidr": "10.64.0.0/20"}},
            {"governed_odoo_environment": "prod", "ingress_allowlist": []},
        ],
    },
    "ingress.traefik_sources": {
        "bad": [({"ingress_traefik": {"source_cidrs": ["traefik"]}}, "ingress_traefik.source_cidrs[0] 'traefik'")],
        "good": [{"ingress_traefik": {"source_cidrs": ["127.0.0.1/32"]}}, {"ingress_traefik": {"namespace": "t"}}],
    },
    "ingress.traefik_settings": {
        "bad": [
            (
                {"ingress_entrypoints": {"http": "web", "https": "web"}},
                "ingress_entrypoints.https=web is the plain HTTP entry point too",
            ),
            ({"ingress_entrypoints": {"https": "web secure"}}, "is not a Traefik entry point name"),
            ({"ingress_rate_limit": {"average": 0, "burst": 10, "period": "1s"}}, "ingress_rate_limit.average=0"),
            ({"ingress_rate_limit": {"average": 10, "burst": 10, "period": "a second"}}, "ingress_rate_limit.period"),
            ({"ingress_hsts_seconds": -1}, "ingress_hsts_seconds=-1 must be a whole number, not negative"),
            ({"ingress_allowlist_depth": "one"}, "ingress_allowlist_depth=one"),
        ],
        "good": [
            {
                "ingress_entrypoints": {"http": "web", "https": "websecure"},
                "ingress_rate_limit": {"average": 100, "burst": 200, "period": "1s"},
                "ingress_hsts_seconds": 0,
                "ingress_allowlist_depth": 1,
            },
            {"ingress_rate_limit": {"average": "5", "burst": 5, "period": "1m30s"}},
        ],
    },
    "ingress.header_values": {
        "bad": [
            ({"ingress_content_security_policy": "default-src 'self'\r\nX-Evil: 1"}, "must not contain control"),
            ({"ingress_websocket_path": "websocket"}, "ingress_websocket_path=websocket must be an absolute URL path"),
            ({"ingress_websocket_path": "/web socket"}, None),
            ({"ingress_class": "Traefik Class"}, "ingress_class=Traefik Class is not an ingress class name"),
        ],
        "good": [
            {
                "ingress_content_security_policy": "frame-ancestors 'self'",
                "ingress_websocket_path": "/websocket",
                "ingress_class": "traefik",
            },
            {"ingress_content_security_policy": "", "ingress_class": ""},
        ],
    },
    "ingress.hostnames_unique": {
        "bad": [
            (
                {
                    "instances": {
                        "civil-dev": {"ingress_hostnames": ["civil.dev.example"]},
                        "civil-qa": {"ingress_hostnames": ["civil.qa.example", "civil.dev.example"]},
                    }
                },
                "ingress_hostnames: civil.dev.example is claimed by civil-dev and civil-qa",
            )
        ],
        "good": [
            {
                "instances": {
                    "civil-dev": {"ingress_hostnames": ["civil.dev.example", "civil.dev.example"]},
                    "civil-qa": {"ingress_hostnames": ["civil.qa.example"]},
                }
            }
        ],
    },
}
