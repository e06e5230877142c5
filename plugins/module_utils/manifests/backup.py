# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nightly in-cluster backup of one Odoo instance: the CronJob and what it reads (ServiceAccount, ConfigMap of
non-secret settings, Secret, egress NetworkPolicy), and with a verify schedule the CronJob of the full verification
with a test restore and its Secret.

Applied as an ApplySet of its own (backup_applyset), apart from site.yml's set, so that neither prunes the other.
``v["backup_settings"]`` is what roles/backup/tasks/validate.yml resolved (non-secret settings).
"""

from __future__ import annotations

import copy

from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    instance_labels,
    labelled,
    nice_json,
    s3_port,
    s3_url,
    to_int,
)

SETTINGS_DIR = "/etc/governed-odoo-backup"
# the pods' /tmp: their emptyDir volume "tmp" (HOME and Ansible's temporary files), not a directory of this host
POD_TMP = "/tmp"  # noqa: S108
ANSIBLE_TMP = POD_TMP + "/.ansible/tmp"
NAME = "odoo-backup"
VERIFY_NAME = "odoo-backup-verify"
COMPONENT = "app.kubernetes.io/component"


def _labels(v):
    return instance_labels(v, **{"app.kubernetes.io/name": NAME, COMPONENT: "backup"})


def _verify_labels(v):
    return labelled(_labels(v), **{COMPONENT: "backup-verify"})


def _metadata(v, name, labels):
    return {"name": name, "namespace": v["governed_odoo_namespace"], "labels": labels}


def _mount_filestore(v):
    """The filestore volume is mounted read-only into the backup pods with a volume filestore and a claim."""
    return v["backup_filestore"] == "volume" and len(v["backup_filestore_pvc"]) > 0


def runner_vars(v):
    """Non-secret settings of the in-cluster run, read by playbooks/backup.yml as extra vars. The secrets come from
    the odoo-backup Secret through the environment (PGPASSWORD, AWS_*, GOVERNED_ODOO_BACKUP_*)."""
    s = v["backup_settings"]
    db = s["database"]
    s3 = v["backup_s3"]
    # the pods' S3 endpoint (cluster_endpoint_url when the cluster reaches it elsewhere than the controller does)
    url = s3_url(s3)
    out = {
        "governed_odoo_target": "localhost",
        "governed_odoo_backup_in_cluster": True,
        "governed_odoo_backup_now": True,
        "governed_odoo_backup_schedule": False,
        "governed_odoo_backup_s3": {
            "endpoint_url": url,
            "region": s["region"],
            "validate_certs": s["s3_validate_certs"],
            "cidr": s3["cidr"],
            "port": s3_port(s3, url),
        },
        "governed_odoo_backup_copy_to": s["copy_to"],
        "governed_odoo_tenant": v["governed_odoo_tenant"],
        "governed_odoo_environment": v["governed_odoo_environment"],
        "governed_odoo_instance": v["governed_odoo_instance"],
        "governed_odoo_namespace": v["governed_odoo_namespace"],
        "backup_bucket": s["bucket"],
        "backup_prefix": s["prefix"],
        "backup_lock": s["lock"],
        "backup_database": {**db, "host": db["cluster_host"], "port": db["cluster_port"]},
        "backup_filestore": v["backup_filestore"],
        "backup_filestore_path": f"{v['backup_data_dir']}/filestore/{db['name']}" if _mount_filestore(v) else "",
        "backup_pg_bin_dir": "",
        "backup_compression_level": to_int(v["backup_compression_level"]),
        "backup_threads": to_int(v["backup_threads"]),
        "backup_lock_wait_timeout": v["backup_lock_wait_timeout"],
        "backup_retention": s["retention"],
        "backup_retention_grace_hours": to_int(v["backup_retention_grace_hours"]),
        "backup_verify": s["verify"],
        "backup_accept_missing_files": v["backup_accept_missing_files"],
        "backup_accept_missing_count": to_int(v["backup_accept_missing_count"]),
        "backup_dns": v["backup_dns"],
        "backup_runner_uid": to_int(v["backup_runner_uid"]),
    }
    # Attachments in object storage: the bucket and prefix (read with the S3 keys of the Secret); the pods' egress to
    # the S3 endpoint is the same as for the backups bucket.
    if s["filestore_s3"]:
        out["backup_filestore_s3"] = s["filestore_s3"]
    return out


def verify_vars(v, backup_vars):
    """The settings of the scheduled full verification with a test restore (CronJob odoo-backup-verify): the backup's,
    with the test restore's server as the pods reach it (cluster_host, by default host)."""
    restore = v["backup_settings"]["verify_restore"]
    verify_restore = {key: value for key, value in restore.items() if key != "cluster_host"}
    verify_restore["host"] = restore.get("cluster_host") or restore["host"]
    out = dict(backup_vars)
    out.update(
        {
            "backup_verify_restore": verify_restore,
            "verify_level": "full",
            "verify_test_restore": len(restore["host"]) > 0,
        }
    )
    return out


def secret_data(v):
    """The odoo-backup Secret's keys: the database password, the S3 keys, the encryption key and the copy's keys."""
    data = {
        "PGPASSWORD": str(v["backup_database_password"]),
        "AWS_ACCESS_KEY_ID": str(v["backup_s3"]["access_key"]),
        "AWS_SECRET_ACCESS_KEY": str(v["backup_s3"]["secret_key"]),
    }
    key = v.get("backup_encryption_key") or ""
    if key:
        data["GOVERNED_ODOO_BACKUP_KEY"] = str(key)
    copy_to = v["backup_copy_to"]
    if copy_to:
        data["GOVERNED_ODOO_BACKUP_COPY_ACCESS_KEY"] = str(copy_to["access_key"])
        data["GOVERNED_ODOO_BACKUP_COPY_SECRET_KEY"] = str(copy_to["secret_key"])
    return data


def service_account(v):
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(v, NAME, _labels(v)),
        "automountServiceAccountToken": False,
    }


def config_map(v, backup_vars, verify_settings, verify):
    """The settings of the runs as JSON vars files (extra vars of ansible-playbook -e @file)."""
    data = {"backup-vars.json": nice_json(backup_vars, indent=1)}
    if verify:
        data["verify-vars.json"] = nice_json(verify_settings, indent=1)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(v, NAME, _labels(v)),
        "data": data,
    }


def secret(v):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(v, NAME, _labels(v)),
        "type": "Opaque",
        "stringData": secret_data(v),
    }


def verify_secret(v):
    """The test restore's password, which the backup pods do not see."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(v, VERIFY_NAME, _verify_labels(v)),
        "type": "Opaque",
        "stringData": {"GOVERNED_ODOO_VERIFY_PGPASSWORD": str(v["backup_verify_restore_password"])},
    }


def _tcp_to_cidr(cidr, port):
    return {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}


def network_policy(v, verify):
    """The backup pods reach DNS, the database and the S3 endpoint(s), nothing else (the namespace denies by
    default)."""
    s = v["backup_settings"]
    db = s["database"]
    dns = v["backup_dns"]
    egress = [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns["namespace"]}},
                    "podSelector": {"matchLabels": copy.deepcopy(dns["pod_labels"])},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    if db["cidr"]:
        egress.append(_tcp_to_cidr(db["cidr"], to_int(db["cluster_port"])))
    else:
        egress.append(
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        )
    restore = s["verify_restore"]
    if (
        verify
        and restore["host"]
        and restore["cidr"]
        and (restore["cidr"] != db["cidr"] or to_int(restore["port"]) != to_int(db["cluster_port"]))
    ):
        egress.append(_tcp_to_cidr(restore["cidr"], to_int(restore["port"])))
    s3 = v["backup_s3"]
    egress.append(_tcp_to_cidr(s3["cidr"], s3_port(s3)))
    copy_to = v["backup_copy_to"]
    if copy_to:
        egress.append(_tcp_to_cidr(copy_to["cidr"], s3_port(copy_to, copy_to["endpoint_url"])))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(v, "allow-backup-egress", _labels(v)),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }


def _env(ssl_mode, tmpdir=False):
    env = [{"name": "HOME", "value": POD_TMP}]
    if tmpdir:
        env.append({"name": "TMPDIR", "value": POD_TMP})
    env += [
        {"name": "ANSIBLE_LOCAL_TEMP", "value": ANSIBLE_TMP},
        {"name": "ANSIBLE_REMOTE_TEMP", "value": ANSIBLE_TMP},
        {"name": "ANSIBLE_NOCOLOR", "value": "1"},
        {"name": "ANSIBLE_LOCALHOST_WARNING", "value": "false"},
        {"name": "ANSIBLE_INVENTORY_UNPARSED_WARNING", "value": "false"},
        {"name": "PGSSLMODE", "value": ssl_mode},
    ]
    return env


def _cron_job(v, name, labels, schedule, active_deadline, container, volumes):
    """A CronJob of the runner image: ``container`` in a non-root pod of the odoo-backup ServiceAccount."""
    uid = to_int(v["backup_runner_uid"])
    pod_spec = {"serviceAccountName": NAME, "automountServiceAccountToken": False}
    if v["backup_node_selector"]:
        pod_spec["nodeSelector"] = copy.deepcopy(v["backup_node_selector"])
    if v["backup_tolerations"]:
        pod_spec["tolerations"] = copy.deepcopy(v["backup_tolerations"])
    pod_spec.update(
        {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": uid,
                "runAsGroup": uid,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
        }
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(v, name, labels),
        "spec": {
            "schedule": schedule,
            "timeZone": v["backup_time_zone"],
            # A backup still running when the next one is due is left alone; the next one is skipped.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": to_int(v["backup_starting_deadline_seconds"]),
            "successfulJobsHistoryLimit": to_int(v["backup_successful_jobs_history_limit"]),
            "failedJobsHistoryLimit": to_int(v["backup_failed_jobs_history_limit"]),
            "jobTemplate": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "backoffLimit": to_int(v["backup_backoff_limit"]),
                    "activeDeadlineSeconds": to_int(active_deadline),
                    "ttlSecondsAfterFinished": to_int(v["backup_ttl_seconds_after_finished"]),
                    "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
                },
            },
        },
    }


def _container(v, name, playbook, vars_file, ssl_mode, secrets, mounts, tmpdir=False):
    return {
        "name": name,
        "image": v["backup_runner_image"],
        "command": ["ansible-playbook", playbook, "-e", f"@{SETTINGS_DIR}/{vars_file}"],
        "env": _env(ssl_mode, tmpdir),
        "envFrom": [{"secretRef": {"name": secret}} for secret in secrets],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": copy.deepcopy(v["backup_runner_resources"]),
        "volumeMounts": mounts,
    }


def backup_cron_job(v):
    """The nightly backup: playbooks/backup.yml with the ConfigMap's backup-vars.json, the filestore volume mounted
    read-only with a volume filestore."""
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": copy.deepcopy(v["backup_tmp_size"])}},
        {"name": "settings", "configMap": {"name": NAME, "defaultMode": 292}},
    ]
    mounts = [
        {"name": "tmp", "mountPath": POD_TMP},
        {"name": "settings", "mountPath": SETTINGS_DIR, "readOnly": True},
    ]
    if _mount_filestore(v):
        volumes.append(
            {
                "name": "data",
                "persistentVolumeClaim": {"claimName": v["backup_filestore_pvc"], "readOnly": True},
            }
        )
        mounts.append({"name": "data", "mountPath": v["backup_data_dir"], "readOnly": True})
    container = _container(
        v,
        "backup",
        "governed.odoo.backup",
        "backup-vars.json",
        v["backup_settings"]["database"]["ssl_mode"],
        [NAME],
        mounts,
    )
    return _cron_job(v, NAME, _labels(v), v["backup_schedule"], v["backup_active_deadline_seconds"], container, volumes)


def verify_cron_job(v):
    """The full verification with a test restore, weekly by default: every object of the newest backup is downloaded
    and checked against its manifest (pinned versions, tampering reported), then the backup is restored into a
    scratch database and a scratch directory, compared table by table and file by file, and both are dropped. A
    failed run is a failed Job; kube-state-metrics'
    kube_cronjob_status_last_successful_time{cronjob="odoo-backup-verify"} says when one last passed.

    The same runner image and settings, playbooks/backup_verify.yml instead of backup.yml; the test restore's password
    comes from the odoo-backup-verify Secret, which the backup pods do not see."""
    s = v["backup_settings"]
    mounts = [
        {"name": "tmp", "mountPath": POD_TMP},
        {"name": "settings", "mountPath": SETTINGS_DIR, "readOnly": True},
    ]
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": copy.deepcopy(v["backup_verify_tmp_size"])}},
        {"name": "settings", "configMap": {"name": NAME, "defaultMode": 292}},
    ]
    container = _container(
        v,
        "verify",
        "governed.odoo.backup_verify",
        "verify-vars.json",
        s["verify_restore"]["ssl_mode"],
        [NAME, VERIFY_NAME],
        mounts,
        tmpdir=True,
    )
    return _cron_job(
        v,
        VERIFY_NAME,
        _verify_labels(v),
        s["verify_schedule"],
        v["backup_verify_active_deadline_seconds"],
        container,
        volumes,
    )


def objects(v):
    """The backup objects of an instance, in order."""
    backup_vars = runner_vars(v)
    # worked out (and refused when incomplete) whether the verification is scheduled or not, as the template did
    verify_settings = verify_vars(v, backup_vars)
    # the scheduled full verification with a test restore (CronJob odoo-backup-verify), when it has a schedule
    verify = len(v["backup_settings"]["verify_schedule"]) > 0
    out = [service_account(v), config_map(v, backup_vars, verify_settings, verify), secret(v)]
    if verify:
        out.append(verify_secret(v))
    out.append(network_policy(v, verify))
    out.append(backup_cron_job(v))
    if verify:
        out.append(verify_cron_job(v))
    return out
