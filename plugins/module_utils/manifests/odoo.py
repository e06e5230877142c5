# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odoo workloads of one instance, and their ``odoo.conf``.

``conf_text(v)`` writes the INI text of ``odoo.conf``, without
a secret in it (``admin_passwd`` is appended from the ``odoo-admin`` Secret when the pod starts).

``objects(v)`` builds the ``odoo`` ServiceAccount, the
``odoo-admin`` Secret, the ``odoo-config`` ConfigMap (that ``odoo.conf``), the filestore PersistentVolumeClaim
(``odoo_filestore: volume``), the web and cron Deployments, the web Service, the NetworkPolicies of the health probe
Job to the web pods, the web PodDisruptionBudget, the web HorizontalPodAutoscaler (when enabled) and the off-hours
scaler (ServiceAccount, Role, RoleBinding, NetworkPolicy to the API server, a down and an up CronJob; when enabled).

The pieces the instance's Jobs share with the web and cron pods (``odoo_jobs``: the migration Job and the health
probe) are module-level functions: ``env_sources``, ``env_from``, ``config_init_container``,
``volume_mounts``, ``volumes`` and ``placement`` (the pod's and containers' security contexts are common.py's).
"""

from __future__ import annotations

import json
import re

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    Refused,
    container_security,
    instance_labels,
    join,
    labelled,
    metadata,
    pod_security,
    short_hash,
    text,
    to_bool,
    to_int,
    to_json,
)

NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
HTTP_PORT = 8069
WEBSOCKET_PORT = 8072
CONF_PATH = "/run/odoo/odoo.conf"
# the pods' scratch space (an emptyDir: the root filesystem is read-only)
POD_TMP = "/tmp"  # noqa: S108

# INI has no escaping: a line break in a value would start another option (db_host, say). The odoo.extra_options
# and odoo.conf_text rules refuse such values first; conf_text refuses them again rather than write them.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# what an extra option's name must look like, whole (the template's ``match`` test let a final line break through)
OPTION_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")

# odoo.conf has no secret in it; admin_passwd is appended from the odoo-admin Secret into a memory volume.
RENDER_CONFIG_SCRIPT = (
    'umask 077 && cp /etc/odoo/odoo.conf /run/odoo/odoo.conf && printf "admin_passwd = %s\\n" "$ODOO_ADMIN_PASSWD"'
    " >> /run/odoo/odoo.conf"
)
# The cron pods have no HTTP to ask: they are ready while the cron workers can reach their database (libpq's PG*
# environment, as Odoo connects).
DB_CHECK = ["python3", "-c", "import psycopg2; psycopg2.connect('', connect_timeout=5).close()"]


# --- odoo.conf -------------------------------------------------------------------------------------------------


def _refuse_extra_option(key, value, reserved):
    """Refuse an ``odoo_extra_options`` entry that would not be one line of its own option."""
    if str(key).lower() in reserved or not OPTION_NAME_RE.fullmatch(str(key)) or CONTROL_RE.search(str(value)):
        raise Refused(
            "odoo_extra_options: option "
            + to_json(str(key))
            + " cannot be written into odoo.conf (reserved, not an option name, or a control character)"
        )


def _dictsort(mapping):
    """Jinja's ``dictsort``: the items by key, strings compared case-insensitively."""
    return sorted(mapping.items(), key=lambda item: item[0].lower() if isinstance(item[0], str) else item[0])


def conf_text(v):
    """The text of ``odoo.conf``: no secret in it; database credentials come from libpq's PG*
    environment variables and ``admin_passwd`` is appended from a Secret when the pod starts."""
    pg = v["postgresql_connection"]
    lines = [
        "[options]",
        f"; Rendered by governed.odoo for {text(v['governed_odoo_instance'])}. Database credentials come from libpq's"
        " PG* environment",
        f"; variables (Secret {text(pg['secret_name'])}); admin_passwd is appended from a Secret when the pod starts.",
        f"addons_path = {join(v['odoo_addons_path'])}",
        "data_dir = /var/lib/odoo",
        f"db_name = {text(pg['database'])}",
        f"dbfilter = {text(v['odoo_dbfilter'])}",
        "list_db = False",
        f"db_maxconn = {text(v['odoo_db_maxconn'])}",
        f"db_sslmode = {text(pg['ssl_mode'])}",
        f"http_port = {HTTP_PORT}",
        f"gevent_port = {WEBSOCKET_PORT}",
        f"proxy_mode = {to_bool(v['odoo_proxy_mode'])}",
        f"workers = {text(v['odoo_workers'])}",
        f"max_cron_threads = {text(v['odoo_max_cron_threads'])}",
        f"limit_memory_soft = {text(v['odoo_limit_memory_soft'])}",
        f"limit_memory_hard = {text(v['odoo_limit_memory_hard'])}",
        f"limit_time_cpu = {text(v['odoo_limit_time_cpu'])}",
        f"limit_time_real = {text(v['odoo_limit_time_real'])}",
    ]
    if to_int(v["odoo_limit_time_real_cron"]) > 0:
        lines.append(f"limit_time_real_cron = {text(v['odoo_limit_time_real_cron'])}")
    lines += [
        f"limit_request = {text(v['odoo_limit_request'])}",
        f"server_wide_modules = {join(v['odoo_server_wide_modules'])}",
        "without_demo = all",
        "logfile =",
        "log_level = info",
    ]
    if CONTROL_RE.search(str(v["odoo_dbfilter"])):
        raise Refused("odoo_dbfilter holds a control character: it is one line of odoo.conf")
    reserved = v["odoo_reserved_options"]
    for key, value in _dictsort(v["odoo_extra_options"]):
        _refuse_extra_option(key, value, reserved)
        lines.append(f"{text(key)} = {text(value)}")
    return "".join(line + "\n" for line in lines)


# --- pieces the instance's Jobs share (odoo_jobs) ---------------------------------------------------------------


def env_sources(v):
    """The names of what Odoo reads its environment from: the database's, Redis's and, with
    ``odoo_filestore: object_storage``, the object storage's."""
    sources = [v["postgresql_connection"]["secret_name"], v["redis_connection"]["secret_name"]]
    if v["odoo_filestore"] == "object_storage":
        sources.append(v["storage_connection"]["secret_name"])
    return sources


def env_from(sources):
    """``envFrom`` of ``sources``: each source is a ConfigMap (settings) and a Secret (credentials) of the same
    name."""
    out = []
    for name in sources:
        out.append({"configMapRef": {"name": name}})
        out.append({"secretRef": {"name": name}})
    return out


def config_init_container(image):
    """The ``render-config`` init container: copies ``odoo.conf`` (no secret in it) into a memory volume and appends
    ``admin_passwd`` from the ``odoo-admin`` Secret."""
    return {
        "name": "render-config",
        "image": image,
        "command": ["sh", "-c", RENDER_CONFIG_SCRIPT],
        "env": [
            {"name": "ODOO_ADMIN_PASSWD", "valueFrom": {"secretKeyRef": {"name": "odoo-admin", "key": "admin_passwd"}}}
        ],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "volumeMounts": [
            {"name": "config-template", "mountPath": "/etc/odoo", "readOnly": True},
            {"name": "config", "mountPath": "/run/odoo"},
        ],
    }


def volume_mounts():
    """The volumes the Odoo container mounts: the rendered configuration, the data directory and ``/tmp``."""
    return [
        {"name": "config", "mountPath": "/run/odoo"},
        {"name": "data", "mountPath": "/var/lib/odoo"},
        {"name": "tmp", "mountPath": POD_TMP},
    ]


def volumes(filestore):
    """The volumes of an Odoo pod; the data directory is the filestore claim with ``odoo_filestore: volume``, else
    an emptyDir (the attachments are in object storage)."""
    if filestore == "volume":
        data = {"name": "data", "persistentVolumeClaim": {"claimName": "odoo-filestore"}}
    else:
        data = {"name": "data", "emptyDir": {"sizeLimit": "5Gi"}}
    return [
        {"name": "config-template", "configMap": {"name": "odoo-config"}},
        {"name": "config", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        data,
    ]


def placement(node_selector, tolerations):
    """The pod spec's ``nodeSelector`` and ``tolerations``, each only when not empty (in that order)."""
    out = {}
    if node_selector:
        out["nodeSelector"] = node_selector
    if tolerations:
        out["tolerations"] = tolerations
    return out


# --- the web and cron pods ---------------------------------------------------------------------------------------


def odoo_labels(v):
    """The labels of the Odoo objects: the instance's, the name ``odoo`` and the version."""
    return instance_labels(v, **{NAME: "odoo", "app.kubernetes.io/version": str(v["odoo_version"])})


def _env_data(v, sources):
    """The ConfigMaps and Secrets the pods read their environment from, as the database, Redis and storage layers
    rendered them (their facts are JSON text): [kind, name, data, stringData] of each."""
    out = []
    for layer in ("postgresql_objects", "redis_objects", "storage_objects"):
        for obj in json.loads(v.get(layer, "[]")):
            if obj["kind"] in ["ConfigMap", "Secret"] and obj["metadata"]["name"] in sources:
                out.append([obj["kind"], obj["metadata"]["name"], obj.get("data", {}), obj.get("stringData", {})])
    return out


def pod_annotations(v, conf, sources):
    """Pods restart when their configuration changes (``odoo.conf``), or the environment they read does: the hash
    of the admin password and of those ConfigMaps and Secrets as rendered."""
    return {
        "governed.odoo/config-hash": short_hash(conf),
        "governed.odoo/env-hash": short_hash(str(v["odoo_admin_password"]) + to_json(_env_data(v, sources))),
    }


def _selector(v, component):
    return {"app.kubernetes.io/instance": v["governed_odoo_instance"], NAME: "odoo", COMPONENT: component}


def _spread(v, selector):
    """Spread across zones (``odoo_zone_spread``), then across nodes as the scheduler can."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": v["odoo_zone_key"],
            "whenUnsatisfiable": v["odoo_zone_spread"],
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": ["pod-template-hash"],
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": ["pod-template-hash"],
        },
    ]


def _web_probes(v):
    """Args, ports, probes (and the drain) of the web container."""
    health = {"path": "/web/health", "port": "http"}
    out = {
        "args": [f"--config={CONF_PATH}", "--max-cron-threads=0"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT}, {"name": "websocket", "containerPort": WEBSOCKET_PORT}],
        # asked every 2 s while Odoo starts (up to 300 s): the pod is ready as soon as it answers; the readiness
        # probe then runs at once, every 10 s
        "startupProbe": {"httpGet": dict(health), "periodSeconds": 2, "failureThreshold": 150},
        "readinessProbe": {"httpGet": dict(health), "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"httpGet": dict(health), "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 5},
    }
    drain = to_int(v["odoo_web_drain_seconds"])
    if drain > 0:
        # a pod being removed keeps serving while ingress controllers and kube-proxy stop routing to it
        out["lifecycle"] = {"preStop": {"sleep": {"seconds": drain}}}
    return out


def _cron_probes():
    """Args and probes of the cron container: no HTTP to ask: ready while the cron workers can reach their database
    (libpq's PG* environment, as Odoo connects), alive unless that has failed for ten minutes (a short database
    outage restarts nothing)."""
    return {
        "args": [f"--config={CONF_PATH}", "--no-http"],
        "readinessProbe": {"exec": {"command": list(DB_CHECK)}, "periodSeconds": 30, "timeoutSeconds": 10},
        "livenessProbe": {
            "exec": {"command": list(DB_CHECK)},
            "periodSeconds": 60,
            "timeoutSeconds": 10,
            "failureThreshold": 10,
        },
    }


def _odoo_container(v, component, sources):
    profile = v["odoo_profiles"][v["governed_odoo_size"]]
    container = {"name": "odoo", "image": v["odoo_image"], "command": ["odoo"]}
    container.update(_web_probes(v) if component == "web" else _cron_probes())
    container.update(
        {
            "envFrom": env_from(sources),
            "securityContext": container_security(),
            "resources": profile["web_resources"] if component == "web" else profile["cron_resources"],
            "volumeMounts": volume_mounts(),
        }
    )
    return container


def _deployment(v, component, ns, labels, annotations, sources):
    """The Deployment of the web or the cron pods."""
    hpa = v["odoo_hpa_settings"]
    offhours_enabled = to_bool(v["odoo_offhours_settings"]["enabled"])
    comp_labels = labelled(labels, **{COMPONENT: component})
    selector = _selector(v, component)
    replicas_owned_elsewhere = offhours_enabled or (component == "web" and to_bool(hpa["enabled"]))
    metadata = {"name": f"odoo-{component}", "namespace": ns, "labels": comp_labels}
    if replicas_owned_elsewhere:
        owner = "off-hours scaler" if offhours_enabled else "HorizontalPodAutoscaler"
        metadata["annotations"] = {"governed.odoo/replicas-owner": owner}
    spec = {}
    if not replicas_owned_elsewhere:
        spec["replicas"] = to_int(v["odoo_web_replicas"] if component == "web" else v["odoo_cron_replicas"])
    spec["revisionHistoryLimit"] = 5
    spec["selector"] = {"matchLabels": selector}
    if component == "web":
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    else:
        # Two generations of cron workers must not run jobs side by side during a rollout.
        spec["strategy"] = {"type": "Recreate"}
    pod_spec = {
        "serviceAccountName": "odoo",
        "automountServiceAccountToken": False,
        "securityContext": pod_security(v["odoo_uid"]),
        "terminationGracePeriodSeconds": 60 if component == "web" else 120,
        "topologySpreadConstraints": _spread(v, selector),
    }
    pod_spec.update(placement(v["odoo_node_selector"], v["odoo_tolerations"]))
    pod_spec["initContainers"] = [config_init_container(v["odoo_image"])]
    pod_spec["containers"] = [_odoo_container(v, component, sources)]
    pod_spec["volumes"] = volumes(v["odoo_filestore"])
    spec["template"] = {"metadata": {"labels": comp_labels, "annotations": annotations}, "spec": pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


# --- the instance's other Odoo objects ----------------------------------------------------------------------------


def _filestore_claim(v, ns, labels):
    """The shared filestore volume (``odoo_filestore: volume``)."""
    volume = v["odoo_filestore_volume_settings"]
    spec = {"accessModes": [volume["access_mode"]]}
    if volume["storage_class"]:
        spec["storageClassName"] = volume["storage_class"]
    spec["resources"] = {"requests": {"storage": volume["size"]}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata("odoo-filestore", ns, labelled(labels, **{COMPONENT: "filestore"})),
        "spec": spec,
    }


def _service(v, ns, web_labels):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("odoo", ns, web_labels),
        "spec": {
            "selector": _selector(v, "web"),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                {"name": "websocket", "port": WEBSOCKET_PORT, "targetPort": "websocket"},
            ],
        },
    }


def _health_probe_policies(ns, web_labels):
    """The health probe of promote.yml and rollback.yml (a Job, odoo_jobs.health_probe_objects) asks each web pod for
    /web/health from inside the namespace: under default-deny-all it may open the web pods' HTTP port and nothing
    else, and the web pods take it from the probe pods only (Traefik's own policy is the ingress role's)."""
    web = {NAME: "odoo", COMPONENT: "web"}
    probe = {NAME: "odoo-health-probe"}
    port = [{"protocol": "TCP", "port": HTTP_PORT}]
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata("allow-health-probe-to-web", ns, web_labels),
            "spec": {
                "podSelector": {"matchLabels": dict(web)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": dict(probe)}}], "ports": list(port)}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata("allow-health-probe-egress", ns, web_labels),
            "spec": {
                "podSelector": {"matchLabels": dict(probe)},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": dict(web)}}], "ports": list(port)}],
            },
        },
    ]


def _disruption_budget(v, ns, web_labels):
    hpa = v["odoo_hpa_settings"]
    spec = {"selector": {"matchLabels": _selector(v, "web")}}
    least = hpa["min_replicas"] if to_bool(hpa["enabled"]) else v["odoo_web_replicas"]
    if to_int(least) > 1 and not to_bool(v["odoo_offhours_settings"]["enabled"]):
        spec["minAvailable"] = 1
    else:
        # A single web pod may be evicted (node drains must not block); it is replaced at once.
        spec["maxUnavailable"] = 1
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata("odoo-web", ns, web_labels),
        "spec": spec,
    }


def _autoscaler(v, ns, web_labels):
    hpa = v["odoo_hpa_settings"]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata("odoo-web", ns, web_labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "odoo-web"},
            "minReplicas": to_int(hpa["min_replicas"]),
            "maxReplicas": to_int(hpa["max_replicas"]),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": to_int(hpa["cpu_utilization"])},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


# --- the off-hours scaler -----------------------------------------------------------------------------------------


def _offhours_access(v, ns, labels):
    """The scaler's ServiceAccount, its Role (read and scale the two Deployments, nothing else), the RoleBinding and
    its egress to the API server."""
    offhours = v["odoo_offhours_settings"]
    deployments = ["odoo-web", "odoo-cron"]
    # with no apiserver_cidrs the template's "- to:" has no item: null
    to = [{"ipBlock": {"cidr": cidr}} for cidr in offhours["apiserver_cidrs"]] or None
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata("odoo-offhours", ns, labels),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata("odoo-offhours", ns, labels),
            "rules": [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "resourceNames": list(deployments),
                    "verbs": ["get"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments/scale"],
                    "resourceNames": list(deployments),
                    "verbs": ["get", "patch", "update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata("odoo-offhours", ns, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "odoo-offhours"},
            "subjects": [{"kind": "ServiceAccount", "name": "odoo-offhours", "namespace": ns}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata("allow-offhours-to-apiserver", ns, labels),
            "spec": {
                "podSelector": {"matchLabels": {NAME: "odoo-offhours"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": to, "ports": [{"protocol": "TCP", "port": to_int(offhours["apiserver_port"])}]},
                ],
            },
        },
    ]


def _offhours_cronjob(v, phase, ns, labels):
    """The CronJob that scales both Deployments down to 0 (``down``) or back to their replicas (``up``)."""
    offhours = v["odoo_offhours_settings"]
    if phase == "down":
        command = ["kubectl", "scale", "deployment/odoo-web", "deployment/odoo-cron", "--replicas=0"]
    else:
        command = [
            "sh",
            "-c",
            f"kubectl scale deployment/odoo-web --replicas={to_int(v['odoo_web_replicas'])}"
            f" && kubectl scale deployment/odoo-cron --replicas={to_int(v['odoo_cron_replicas'])}",
        ]
    pod_spec = {"serviceAccountName": "odoo-offhours", "restartPolicy": "OnFailure"}
    pod_spec.update(placement(v["odoo_offhours_node_selector"], v["odoo_offhours_tolerations"]))
    pod_spec["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_spec["containers"] = [
        {
            "name": "scale",
            "image": offhours["image"],
            "command": command,
            "securityContext": container_security(),
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
        }
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(f"odoo-offhours-{phase}", ns, labels),
        "spec": {
            "schedule": offhours[phase],
            "timeZone": offhours["time_zone"],
            "concurrencyPolicy": "Replace",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 3,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                }
            },
        },
    }


def _offhours_objects(v, ns):
    labels = instance_labels(v, **{NAME: "odoo-offhours", COMPONENT: "scaler"})
    return _offhours_access(v, ns, labels) + [_offhours_cronjob(v, phase, ns, labels) for phase in ("down", "up")]


# --- the layer ----------------------------------------------------------------------------------------------------


def objects(v):
    """The Odoo objects of one instance, in order."""
    ns = v["governed_odoo_namespace"]
    conf = conf_text(v)
    labels = odoo_labels(v)
    web_labels = labelled(labels, **{COMPONENT: "web"})
    sources = env_sources(v)
    annotations = pod_annotations(v, conf, sources)
    out = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata("odoo", ns, labels),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata("odoo-admin", ns, labels),
            "type": "Opaque",
            "stringData": {"admin_passwd": v["odoo_admin_password"]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata("odoo-config", ns, labels),
            "data": {"odoo.conf": conf},
        },
    ]
    if v["odoo_filestore"] == "volume":
        out.append(_filestore_claim(v, ns, labels))
    out += [_deployment(v, component, ns, labels, annotations, sources) for component in ("web", "cron")]
    out.append(_service(v, ns, web_labels))
    out += _health_probe_policies(ns, web_labels)
    out.append(_disruption_budget(v, ns, web_labels))
    if to_bool(v["odoo_hpa_settings"]["enabled"]):
        out.append(_autoscaler(v, ns, web_labels))
    if to_bool(v["odoo_offhours_settings"]["enabled"]):
        out += _offhours_objects(v, ns)
    return out
