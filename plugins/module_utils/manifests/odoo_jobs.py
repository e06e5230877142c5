# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jobs of a release that roles/odoo renders for promote.yml and rollback.yml (playbooks/tasks/
release_promote_one.yml, release_verify.yml), each placed as the instance's Jobs (``odoo_job_node_selector``,
``odoo_job_tolerations``):

- ``migration_objects`` (tasks/migration_job.yml): the migration Job of a release, whose
  image runs ``odoo -i/-u <modules> --stop-after-init`` once against the instance's database, with the web pods'
  configuration, credentials and volumes;
- ``health_probe_objects`` (tasks/health_probe.yml): a Job that asks every given web
  pod for /web/health from inside the cluster network (the controller may not reach pod addresses), and exits
  non-zero when a pod does not answer 200.

The pod and container security contexts, the ``envFrom`` sources, the ``render-config`` init container, the volumes
and their mounts and the placement are the web and cron pods' (odoo.py).
"""

from __future__ import annotations

from copy import deepcopy

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    MANAGED_BY,
    PART_OF,
    container_security,
    join,
    pod_security,
    to_int,
)
from ansible_collections.governed.odoo.plugins.module_utils.manifests.odoo import (
    CONF_PATH,
    config_init_container,
    env_from,
    env_sources,
    placement,
    volume_mounts,
    volumes,
)


def job_placement(v):
    """The placement of the instance's Jobs (``odoo_job_node_selector``, ``odoo_job_tolerations``), copies of the
    variables' values (as the template's parsed text would be)."""
    return deepcopy(placement(v["odoo_job_node_selector"], v["odoo_job_tolerations"]))


# --- the migration Job ---


def migration_labels(v):
    """The labels of the migration Job and of its pod (in the template's order)."""
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/instance": v["governed_odoo_instance"],
        "app.kubernetes.io/name": "odoo",
        "app.kubernetes.io/component": "migration",
        "governed.odoo/tenant": v["governed_odoo_tenant"],
        "governed.odoo/environment": v["governed_odoo_environment"],
    }


def migration_args(migration):
    """Odoo's arguments: once, without HTTP, cron or workers, then ``-i`` the modules to install and ``-u`` those to
    update (each only when there are some)."""
    args = [f"--config={CONF_PATH}", "--no-http", "--stop-after-init", "--max-cron-threads=0", "--workers=0"]
    install = migration.get("install", [])
    if install:
        args += ["-i", join(install, ",")]
    update = migration.get("update", [])
    if update:
        args += ["-u", join(update, ",")]
    return args


def migration_container(v):
    """The container that migrates: the release's image, the web pods' environment and volumes, the cron pods'
    resources."""
    return {
        "name": "migrate",
        "image": v["odoo_image"],
        "command": ["odoo"],
        "args": migration_args(v["odoo_migration"]),
        "envFrom": env_from(env_sources(v)),
        "securityContext": container_security(),
        "resources": deepcopy(v["odoo_profiles"][v["governed_odoo_size"]]["cron_resources"]),
        "volumeMounts": volume_mounts(),
    }


def migration_pod_spec(v):
    """The migration pod: never restarted, Odoo's service account without its token, as Odoo's user."""
    spec = {
        "restartPolicy": "Never",
        "serviceAccountName": "odoo",
        "automountServiceAccountToken": False,
        # odoo_uid | int here (the web and cron pods write odoo_uid as it is)
        "securityContext": pod_security(to_int(v["odoo_uid"])),
    }
    spec.update(job_placement(v))
    spec["initContainers"] = [config_init_container(v["odoo_image"])]
    spec["containers"] = [migration_container(v)]
    # the volumes are the web pods' (odoo.py), in the same order
    spec["volumes"] = volumes(v["odoo_filestore"])
    return spec


def migration_job(v):
    """The migration Job of the release ``odoo_migration`` ({run, release, install, update, timeout}): run once
    (no retry), within ``timeout`` seconds, kept a day after it finished."""
    migration = v["odoo_migration"]
    labels = migration_labels(v)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "odoo-migrate-" + str(migration["run"]),
            "namespace": v["governed_odoo_namespace"],
            "labels": labels,
            "annotations": {"governed.odoo/release": migration["release"]},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": to_int(migration["timeout"]),
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": dict(labels)}, "spec": migration_pod_spec(v)},
        },
    }


def migration_objects(v):
    """The migration Job of a release, its image running
    ``odoo -i/-u <modules> --stop-after-init`` once against the instance's database, with the web pods'
    configuration, credentials and volumes, placed as the instance's Jobs (odoo_job_node_selector,
    odoo_job_tolerations)."""
    return [migration_job(v)]


# --- the health probe Job ---

# Asks each target (address:port) for /web/health over bash's /dev/tcp, up to $PROBE_TRIES times 2 s apart, prints
# each answer (the audit record keeps the pods' logs) and exits with the number of pods that never answered 200.
# The template writes this text as a Jinja string literal, whose escapes Jinja reads: each \r is a carriage return
# character in the script (printf and ${status%...} then get it as such), as here.
PROBE_SCRIPT = """
fails=0
for target in $PROBE_TARGETS; do
  ok=0
  for try in $(seq 1 "$PROBE_TRIES"); do
    if exec 3<>"/dev/tcp/${target%:*}/${target##*:}"; then
      printf "GET /web/health HTTP/1.0\r\nHost: %s\r\n\r\n" "$target" >&3
      IFS= read -r -t 10 status <&3 || status=""
      body=$(timeout 10 cat <&3 | tail -c 300)
      exec 3<&-
      echo "$target: ${status%$(printf "\r")} $body"
      case "$status" in *" 200 "*) ok=1; break ;; esac
    fi
    sleep 2
  done
  [ "$ok" = 1 ] || { echo "$target: no healthy answer after $PROBE_TRIES tries"; fails=$((fails + 1)); }
done
exit "$fails"
"""


def health_probe_labels(v):
    """The labels of the health probe Job and of its pod (in the template's order; not the tenant's and
    environment's labels the instance's other objects carry)."""
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/instance": v["governed_odoo_instance"],
        "app.kubernetes.io/name": "odoo-health-probe",
        "app.kubernetes.io/component": "verification",
    }


def health_probe_container(probe):
    """The container that asks the pods: ``targets`` joined with spaces, ``tries`` (10 when not given) as text."""
    return {
        "name": "probe",
        "image": probe["image"],
        "command": ["bash", "-c", PROBE_SCRIPT],
        "env": [
            {"name": "PROBE_TARGETS", "value": join(probe["targets"], " ")},
            {"name": "PROBE_TRIES", "value": str(probe.get("tries", 10))},
        ],
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
    }


def health_probe_pod_spec(v):
    """The probe pod: never restarted, no service account token, as an unprivileged user (65532)."""
    spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    spec.update(job_placement(v))
    spec["containers"] = [health_probe_container(v["odoo_health_probe"])]
    return spec


def health_probe_job(v):
    """The health probe Job of ``odoo_health_probe`` ({run, image, targets, tries}): run once, within 5 minutes,
    kept an hour after it finished."""
    labels = health_probe_labels(v)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "odoo-health-" + str(v["odoo_health_probe"]["run"]),
            "namespace": v["governed_odoo_namespace"],
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": dict(labels)}, "spec": health_probe_pod_spec(v)},
        },
    }


def health_probe_objects(v):
    """A Job that asks every given web pod for /web/health from inside
    the cluster network (the controller may not reach pod addresses), placed as the instance's Jobs
    (odoo_job_node_selector, odoo_job_tolerations); it exits non-zero when a pod does not answer 200."""
    return [health_probe_job(v)]
