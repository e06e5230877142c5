# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis session store of one Odoo instance .

Always the ConfigMap and the Secret Odoo reads its session store settings from (``odoo-redis``). Then either, with
``redis_placement=external``, the egress NetworkPolicy of Odoo pods to the external server; or the in-cluster
server: its auth Secret, its configuration, its Services, its StatefulSet (with the optional Prometheus exporter
sidecar) and the NetworkPolicies between Odoo and Redis.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    container_security,
    instance_labels,
    labelled,
    metadata,
    pod_security,
    short_hash,
    text,
    to_int,
    to_json,
    volume_claim_template,
)

# The port of the in-cluster server (and of an external one without redis_external.port).
REDIS_PORT = 6379
# The port of the exporter sidecar's metrics.
METRICS_PORT = 9121


def _sexagesimal(sign, text, number):
    digits = [number(part) for part in text.split(":")]
    digits.reverse()
    base, value = 1, 0
    for digit in digits:
        value += digit * base
        base *= 60
    return sign * value


def _session_config_map(v, ns, redis_labels, host, port):
    # Session store settings for Odoo's Redis session module (environment variables; the password is in the Secret).
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("odoo-redis", ns, redis_labels),
        "data": {
            "ODOO_SESSION_REDIS": "1",
            "ODOO_SESSION_REDIS_HOST": host,
            "ODOO_SESSION_REDIS_PORT": str(port),
            "ODOO_SESSION_REDIS_DB": str(v["redis_db_index"]),
            "ODOO_SESSION_REDIS_PREFIX": v["redis_key_prefix"],
            "ODOO_SESSION_REDIS_EXPIRATION": str(v["redis_session_expiration"]),
        },
    }


def _session_secret(v, ns, redis_labels):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata("odoo-redis", ns, redis_labels),
        "type": "Opaque",
        "stringData": {"ODOO_SESSION_REDIS_PASSWORD": v["redis_password"]},
    }


def _external_egress_policy(v, ns, labels, port):
    """Odoo pods may reach the external server's network on its port."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-odoo-to-redis", ns, labels),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": v["redis_external"]["cidr"]}}],
                    "ports": [{"protocol": "TCP", "port": to_int(port)}],
                }
            ],
        },
    }


def _auth_secret(v, ns, redis_labels):
    password = v["redis_password"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata("redis-auth", ns, redis_labels),
        "type": "Opaque",
        # Mounted as files, never environment variables: auth.conf is included from redis.conf, the probes read
        # REDIS_PASSWORD, the exporter its password map (redis.password_characters keeps the password free of quotes,
        # backslashes, white space and control characters, so the quoted value below is the password as it is).
        "stringData": {
            "REDIS_PASSWORD": password,
            "auth.conf": 'requirepass "' + str(password) + '"',
            "exporter-passwords.json": to_json({f"redis://127.0.0.1:{REDIS_PORT}": password}),
        },
    }


def _redis_conf(v):
    """redis.conf. The password is not here: the last line includes auth.conf, mounted from the redis-auth
    Secret."""
    persistence = v["redis_persistence"]
    lines = [
        "bind 0.0.0.0",
        f"port {REDIS_PORT}",
        "protected-mode yes",
        "dir /data",
        "maxmemory " + text(v["redis_maxmemory"]),
        "maxmemory-policy " + text(v["redis_maxmemory_policy"]),
    ]
    if persistence == "aof":
        lines += ["appendonly yes", "appendfsync " + text(v["redis_aof_fsync"]), 'save ""']
    elif persistence == "rdb":
        lines += ["appendonly no", "save " + text(v["redis_rdb_save"])]
    else:
        lines += ["appendonly no", 'save ""']
    lines += [
        'rename-command FLUSHALL ""',
        'rename-command FLUSHDB ""',
        'rename-command DEBUG ""',
        'rename-command CONFIG ""',
        "include /etc/redis-auth/auth.conf",
    ]
    # a literal block (|): the final newline is kept
    return "\n".join(lines) + "\n"


def _config_map(v, ns, redis_labels):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata("redis-config", ns, redis_labels),
        "data": {"redis.conf": _redis_conf(v)},
    }


def _service(v, ns, redis_labels, selector):
    ports = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]
    if v["redis_exporter_image"]:
        ports.append({"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("redis", ns, redis_labels),
        "spec": {"selector": selector, "ports": ports},
    }


def _headless_service(ns, redis_labels, selector):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("redis-hl", ns, redis_labels),
        # "None" is text in YAML (its null is null or ~): the headless Service
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}],
        },
    }


def _redis_container(v):
    return {
        "name": "redis",
        "image": v["redis_image"],
        "command": ["redis-server"],
        "args": ["/etc/redis/redis.conf"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "securityContext": container_security(),
        "resources": v["redis_resources"],
        # redis-cli exits 0 on an error reply too (NOAUTH, LOADING while the AOF is read back): only PONG is ready;
        # alive is any reply, so that a long AOF load is not restarted over and over
        # (the probes read the password from the mounted file into redis-cli's REDISCLI_AUTH)
        "readinessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    'REDISCLI_AUTH="$(cat /etc/redis-auth/REDIS_PASSWORD)" redis-cli ping | grep -q PONG',
                ]
            },
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "exec": {"command": ["sh", "-c", 'REDISCLI_AUTH="$(cat /etc/redis-auth/REDIS_PASSWORD)" redis-cli ping']},
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "auth", "mountPath": "/etc/redis-auth", "readOnly": True},
        ],
    }


def _exporter_container(v):
    return {
        "name": "exporter",
        "image": v["redis_exporter_image"],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "env": [
            {"name": "REDIS_ADDR", "value": f"redis://127.0.0.1:{REDIS_PORT}"},
            # a JSON map of Redis URI to password (redis_exporter's --redis.password-file)
            {"name": "REDIS_PASSWORD_FILE", "value": "/etc/redis-auth/exporter-passwords.json"},
        ],
        "volumeMounts": [{"name": "auth", "mountPath": "/etc/redis-auth", "readOnly": True}],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        # the exporter's own health (not Redis's): a stuck exporter is restarted, an unready one is not scraped
        "readinessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 10},
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "metrics"},
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
    }


def _pod_spec(v, persistence):
    uid = to_int(v["redis_uid"])
    spec = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid),
    }
    if v["redis_node_selector"]:
        spec["nodeSelector"] = v["redis_node_selector"]
    if v["redis_tolerations"]:
        spec["tolerations"] = v["redis_tolerations"]
    spec["containers"] = [_redis_container(v)]
    if v["redis_exporter_image"]:
        spec["containers"].append(_exporter_container(v))
    spec["volumes"] = [
        {"name": "config", "configMap": {"name": "redis-config"}},
        # 0440: root and the group Redis runs as (fsGroup) may read it
        {"name": "auth", "secret": {"secretName": "redis-auth", "defaultMode": 0o440}},
    ]
    if persistence == "none":
        spec["volumes"].append({"name": "data", "emptyDir": {}})
    return spec


def _stateful_set(v, ns, redis_labels, selector):
    persistence = v["redis_persistence"]
    config_hash = short_hash(
        "".join(
            str(v[name])
            for name in (
                "redis_maxmemory",
                "redis_maxmemory_policy",
                "redis_persistence",
                "redis_rdb_save",
                "redis_aof_fsync",
            )
        )
    )
    spec = {
        "serviceName": "redis-hl",
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": redis_labels, "annotations": {"governed.odoo/config-hash": config_hash}},
            "spec": _pod_spec(v, persistence),
        },
    }
    # without persistence the data is an emptyDir of the pod; with it, a claim per pod
    if persistence != "none":
        spec["volumeClaimTemplates"] = [
            volume_claim_template(redis_labels, v["redis_storage_size"], v["redis_storage_class"])
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("redis", ns, redis_labels, {"governed.odoo/persistence": persistence}),
        "spec": spec,
    }


def _ingress_policy(ns, labels):
    """Redis pods accept Odoo pods only."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-odoo-to-redis", ns, labels),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo"}}}],
                    "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
                }
            ],
        },
    }


def _egress_policy(ns, labels):
    """Odoo pods may reach the Redis pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("allow-egress-to-redis", ns, labels),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}],
                    "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
                }
            ],
        },
    }


def objects(v):
    """The Redis objects of one instance, in order."""
    labels = instance_labels(v)
    ns = v["governed_odoo_namespace"]
    external = v["redis_placement"] == "external"
    if external:
        host = v["redis_external"]["host"]
        port = v["redis_external"].get("port", REDIS_PORT)
    else:
        host = "redis." + str(ns) + ".svc"
        port = REDIS_PORT
    redis_labels = labelled(
        labels, **{"app.kubernetes.io/name": "redis", "app.kubernetes.io/component": "session-store"}
    )
    selector = {"app.kubernetes.io/instance": v["governed_odoo_instance"], "app.kubernetes.io/name": "redis"}

    out = [_session_config_map(v, ns, redis_labels, host, port), _session_secret(v, ns, redis_labels)]
    if external:
        out.append(_external_egress_policy(v, ns, labels, port))
        return out
    return [
        *out,
        _auth_secret(v, ns, redis_labels),
        _config_map(v, ns, redis_labels),
        _service(v, ns, redis_labels, selector),
        _headless_service(ns, redis_labels, selector),
        _stateful_set(v, ns, redis_labels, selector),
        _ingress_policy(ns, labels),
        _egress_policy(ns, labels),
    ]
