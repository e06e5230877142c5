# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the backup role's inputs (playbooks/backup.yml evaluates them with the platform and storage rules
before anything is read or written). Messages name secrets (the database password, the encryption key, the keys
of the second store), never their values."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.cron import cron_validate, time_zone_validate
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_bool,
    as_int,
    dig,
    is_bucket_name,
    is_digest,
    is_endpoint_url,
    resources_problems,
    size_problems,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*/")
_DB_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_IN_CLUSTER_RE = re.compile(r".*\.svc(\.cluster\.local)?\.?")
_KEY_RE = re.compile(r"\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)\s*")
_PATH_RE = re.compile(r"/\S*")
RETENTION_KEYS = ("daily", "weekly", "monthly", "yearly", "keep_last", "timezone")
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
AT_LEAST_ONE = (
    "backup_starting_deadline_seconds",
    "backup_active_deadline_seconds",
    "backup_ttl_seconds_after_finished",
    "backup_runner_uid",
)
NOT_NEGATIVE = ("backup_backoff_limit", "backup_successful_jobs_history_limit", "backup_failed_jobs_history_limit")


def _schedule(i):
    return as_bool(i.get("backup_install_schedule"), default=True)


@rule(
    "backup.bucket",
    layer="backup",
    reads=("backup_bucket", "backup_prefix"),
    refuses="a backup store bucket S3 refuses, or a key prefix that is not empty nor ends with /",
    example="backup_bucket=Backups is not a valid bucket name (3-63 lower-case letters, digits, hyphens, dots)",
)
def bucket(i):
    value = i.get("backup_bucket")
    if not is_bucket_name(value, dots=True):
        yield f"backup_bucket={text(value)} is not a valid bucket name (3-63 lower-case letters, digits, hyphens, dots)"
    prefix = i.get("backup_prefix")
    if prefix and (not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix)):
        yield f"backup_prefix={text(prefix)} must be empty or a key prefix ending with /"


@rule(
    "backup.endpoint",
    layer="backup",
    reads=("backup_s3", "governed_odoo_environment"),
    refuses=(
        "an S3 endpoint (or the pods' own, cluster_endpoint_url) that is not an http(s) URL without a path, or"
        " without a valid network (backup_s3.cidr)"
    ),
    example="backup_s3.endpoint_url=s3.example.com must be an http(s) URL without a path",
)
def endpoint(i):
    s3 = i.get("backup_s3")
    url = dig(s3, "endpoint_url", "")
    if not is_endpoint_url(url):
        yield f"backup_s3.endpoint_url={text(url)} must be an http(s) URL without a path"
    cluster_url = dig(s3, "cluster_endpoint_url")
    if cluster_url and not is_endpoint_url(cluster_url):
        yield f"backup_s3.cluster_endpoint_url={text(cluster_url)} must be an http(s) URL without a path"
    yield from allowlist_problems([dig(s3, "cidr", "")], "backup_s3.cidr", i.get("governed_odoo_environment"))


@rule(
    "backup.database",
    layer="backup",
    reads=("backup_database", "backup_run_now", "governed_odoo_backup_in_cluster", "governed_odoo_environment"),
    refuses=(
        "a database without a host, a name Odoo does not accept, a server network that is not valid, and a backup"
        " taken now from here (not by the CronJob's own in-cluster run) of a server only reachable inside the cluster"
    ),
    example="backup_database.host is required",
)
def database(i):
    db = i.get("backup_database")
    host = dig(db, "host")
    if not host:
        yield "backup_database.host is required"
    elif (
        as_bool(i.get("backup_run_now"), default=True)
        and not as_bool(i.get("governed_odoo_backup_in_cluster"))
        and _IN_CLUSTER_RE.fullmatch(text(host))
    ):
        yield (
            f"backup_database.host={text(host)} is only reachable inside the cluster, so no backup"
            " can be taken now from here: run with governed_odoo_backup_now=false (the CronJob backs it up) or point"
            " backup_database.host/port at an address reachable from here"
        )
    name = dig(db, "name", "")
    if not isinstance(name, str) or not _DB_RE.fullmatch(name):
        yield f"backup_database.name={text(name)} is not a valid Odoo database name"
    cidr = dig(db, "cidr")
    if cidr:
        yield from allowlist_problems([cidr], "backup_database.cidr", i.get("governed_odoo_environment"))


@rule(
    "backup.secrets",
    layer="backup",
    reads=("backup_database_password", "backup_encryption_key"),
    refuses=(
        "no database password, and an encryption key that is not 32 bytes (64 hex digits or base64); the message"
        " names the variable, never its value"
    ),
    example="backup_encryption_key must be 32 bytes given as 64 hex digits or base64 (openssl rand -hex 32)",
)
def secrets(i):
    if not text(i.get("backup_database_password")):
        yield "backup_database_password must be set"
    key = i.get("backup_encryption_key")
    if key and (not isinstance(key, str) or not _KEY_RE.fullmatch(key)):
        yield "backup_encryption_key must be 32 bytes given as 64 hex digits or base64 (openssl rand -hex 32)"


@rule(
    "backup.lock",
    layer="backup",
    reads=("backup_lock",),
    refuses="an object lock S3 refuses: mode COMPLIANCE or GOVERNANCE, days a whole number not negative (0: none)",
    example="backup_lock.mode=FOREVER must be one of COMPLIANCE, GOVERNANCE",
)
def lock(i):
    value = i.get("backup_lock")
    if value is None:
        return
    if not isinstance(value, dict):
        yield "backup_lock must be a mapping with mode and days"
        return
    mode = value.get("mode", "COMPLIANCE")
    if mode not in LOCK_MODES:
        yield f"backup_lock.mode={text(mode)} must be one of {', '.join(LOCK_MODES)}"
    days = value.get("days", 0)
    number = as_int(days)
    if number is None:
        yield f"backup_lock.days={text(days)} must be a whole number of days"
    elif number < 0:
        yield f"backup_lock.days={number} must not be negative"


@rule(
    "backup.filestore_s3",
    layer="backup",
    reads=("backup_filestore", "backup_filestore_s3", "backup_bucket"),
    refuses=(
        "with backup_filestore=object_storage: an attachments bucket S3 refuses, a bad key prefix, or the backup"
        " store itself as the attachments bucket"
    ),
    example=(
        "backup_filestore_s3.bucket=backups is the backup store itself (backup_bucket): attachments and backups are"
        " kept in different buckets"
    ),
)
def filestore_s3(i):
    if i.get("backup_filestore") != "object_storage":
        return
    fs = i.get("backup_filestore_s3")
    name = dig(fs, "bucket", "")
    if not is_bucket_name(name, dots=True):
        yield (
            f"backup_filestore_s3.bucket={text(name)} is not a valid bucket name (the attachments bucket, needed with"
            " backup_filestore=object_storage)"
        )
    prefix = dig(fs, "prefix", "")
    if prefix and (not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix)):
        yield f"backup_filestore_s3.prefix={text(prefix)} must be empty or a key prefix ending with /"
    if name == i.get("backup_bucket"):
        yield (
            f"backup_filestore_s3.bucket={text(i.get('backup_bucket'))} is the backup store itself (backup_bucket):"
            " attachments and backups are kept in different buckets"
        )


@rule(
    "backup.transfer",
    layer="backup",
    reads=("backup_compression_level", "backup_threads", "backup_retention_grace_hours"),
    refuses="a zstd level outside 1-19, fewer than one transfer thread, a retention grace of less than an hour",
    example="backup_compression_level=22 must be between 1 and 19",
)
def transfer(i):
    if "backup_compression_level" in i:
        level = as_int(i["backup_compression_level"])
        if level is None or not 1 <= level <= 19:
            yield f"backup_compression_level={text(i['backup_compression_level'])} must be between 1 and 19"
    for name in ("backup_threads", "backup_retention_grace_hours"):
        if name in i:
            value = as_int(i[name])
            if value is None or value < 1:
                yield f"{name}={text(i[name])} must be at least 1"


@rule(
    "backup.copy_to",
    layer="backup",
    reads=("backup_copy_to", "backup_s3", "backup_bucket", "backup_prefix", "backup_install_schedule",
           "governed_odoo_environment"),
    refuses=(
        "a second store (backup_copy_to) without a valid endpoint, bucket, keys or network (for the egress policy of"
        " the backup pods), or that names the primary store itself"
    ),
    example="backup_copy_to names the primary store itself (same endpoint, bucket and prefix)",
)
def copy_to(i):
    copy = i.get("backup_copy_to")
    if not copy:
        return
    if not isinstance(copy, dict):
        yield "backup_copy_to must be a mapping (endpoint_url, bucket, access_key, secret_key, cidr...)"
        return
    url = copy.get("endpoint_url", "")
    if not is_endpoint_url(url):
        yield f"backup_copy_to.endpoint_url={text(url)} must be an http(s) URL without a path"
    if not is_bucket_name(copy.get("bucket", ""), dots=True):
        yield f"backup_copy_to.bucket={text(copy.get('bucket', ''))} is not a valid bucket name"
    if not copy.get("access_key") or not copy.get("secret_key"):
        yield "backup_copy_to.access_key and backup_copy_to.secret_key are required with backup_copy_to"
    if (
        url == dig(i.get("backup_s3"), "endpoint_url", "")
        and copy.get("bucket", "") == i.get("backup_bucket")
        and copy.get("prefix", "") == i.get("backup_prefix")
    ):
        yield "backup_copy_to names the primary store itself (same endpoint, bucket and prefix)"
    if _schedule(i):
        if not copy.get("cidr"):
            yield "backup_copy_to.cidr is required with backup_copy_to (egress policy of the backup pods)"
        else:
            yield from allowlist_problems([copy["cidr"]], "backup_copy_to.cidr", i.get("governed_odoo_environment"))


@rule(
    "backup.retention",
    layer="backup",
    reads=("backup_retention",),
    refuses=(
        "a retention policy with unknown keys, counts that are not whole numbers (keep_last at least 1), or a time"
        " zone that is not an IANA name"
    ),
    example="backup_retention.daily=seven must be a whole number >= 0",
)
def retention(i):
    policy = i.get("backup_retention")
    if not policy:
        return
    if not isinstance(policy, dict):
        yield "backup_retention must be a mapping (daily, weekly, monthly, yearly, keep_last, timezone)"
        return
    unknown = sorted(set(map(str, policy)) - set(RETENTION_KEYS))
    if unknown:
        yield f"backup_retention has unknown keys {', '.join(unknown)}"
    for key in ("daily", "weekly", "monthly", "yearly"):
        if key in policy and not re.fullmatch(r"[0-9]+", text(policy[key])):
            yield f"backup_retention.{key}={text(policy[key])} must be a whole number >= 0"
    if not re.fullmatch(r"[1-9][0-9]*", text(policy.get("keep_last", 1))):
        yield f"backup_retention.keep_last={text(policy.get('keep_last'))} must be at least 1"
    yield from time_zone_validate(policy.get("timezone", "UTC"), "backup_retention.timezone")


@rule(
    "backup.schedule",
    layer="backup",
    reads=("backup_install_schedule", "backup_schedule", "backup_time_zone"),
    refuses="when the schedule is installed: a cron schedule or a time zone a CronJob refuses",
    example="backup_schedule='61 1 * * *': minute 61 is outside 0-59",
)
def schedule(i):
    if _schedule(i):
        yield from cron_validate(
            i.get("backup_schedule"),
            "backup_schedule",
            time_zone=i.get("backup_time_zone"),
            time_zone_field="backup_time_zone",
        )


@rule(
    "backup.verify_schedule",
    layer="backup",
    reads=("backup_install_schedule", "backup_verify_schedule", "backup_time_zone", "governed_odoo_environment"),
    refuses=(
        "when the schedule is installed: a schedule of the full verification with a test restore (CronJob"
        " odoo-backup-verify) that a CronJob refuses, or none in prod"
    ),
    example="backup_verify_schedule='0 4 * * 8': day of week 8 is outside 0-6",
)
def verify_schedule(i):
    if not _schedule(i):
        return
    value = i.get("backup_verify_schedule")
    if value is None or (isinstance(value, str) and not value.strip()):
        if i.get("governed_odoo_environment") == "prod":
            yield (
                "backup_verify_schedule is empty: prod backups must be verified by a scheduled test restore"
                " (for example '0 4 * * 0', weekly)"
            )
        return
    yield from cron_validate(value, "backup_verify_schedule", time_zone=i.get("backup_time_zone"),
                             time_zone_field="backup_time_zone")


@rule(
    "backup.verify_restore",
    layer="backup",
    reads=(
        "backup_install_schedule",
        "backup_verify_schedule",
        "backup_verify_restore",
        "backup_verify_restore_password",
        "governed_odoo_environment",
    ),
    refuses=(
        "when the scheduled verification restores (backup_verify_restore.host set): no login role, no password, a"
        " port that is not a TCP port, or a server network (cidr, for the egress policy) that is not valid; the"
        " message names the password, never its value"
    ),
    example="backup_verify_restore.user is required with backup_verify_restore.host (a role with CREATEDB)",
)
def verify_restore(i):
    login = i.get("backup_verify_restore")
    if not _schedule(i) or not text(i.get("backup_verify_schedule")).strip() or not dig(login, "host"):
        return
    if not text(dig(login, "user", "")).strip():
        yield "backup_verify_restore.user is required with backup_verify_restore.host (a role with CREATEDB)"
    if not text(i.get("backup_verify_restore_password")):
        yield "backup_verify_restore_password must be set with backup_verify_restore.host"
    port = as_int(dig(login, "port", 5432))
    if port is None or not 1 <= port <= 65535:
        yield f"backup_verify_restore.port={text(dig(login, 'port'))} must be a TCP port (1-65535)"
    if dig(login, "cidr"):
        yield from allowlist_problems(
            [dig(login, "cidr")], "backup_verify_restore.cidr", i.get("governed_odoo_environment")
        )


@rule(
    "backup.runner_image",
    layer="backup",
    reads=("backup_install_schedule", "backup_runner_image", "governed_odoo_environment"),
    refuses="when the schedule is installed: no runner image, or one referenced by tag outside dev",
    example=(
        "backup_runner_image=ghcr.io/x/runner:1 must be pinned by digest (name@sha256:<64 hex>) in qa; a tag is"
        " accepted in dev only"
    ),
)
def runner_image(i):
    if not _schedule(i):
        return
    image = i.get("backup_runner_image")
    env = i.get("governed_odoo_environment")
    if not image:
        yield (
            "backup_runner_image is required to install the backup schedule"
            " (or run with governed_odoo_backup_schedule=false)"
        )
    elif env != "dev" and not is_digest(image):
        yield (
            f"backup_runner_image={text(image)} must be pinned by digest (name@sha256:<64 hex>) in {text(env)};"
            " a tag is accepted in dev only"
        )


@rule(
    "backup.job_settings",
    layer="backup",
    reads=("backup_install_schedule", "backup_data_dir", *AT_LEAST_ONE, *NOT_NEGATIVE),
    refuses=(
        "when the schedule is installed: CronJob and Job settings the API server refuses (deadlines, TTL and the"
        " runner's uid at least 1, retries and history limits not negative) and a data directory that is not an"
        " absolute path"
    ),
    example="backup_active_deadline_seconds=0 must be at least 1",
)
def job_settings(i):
    if not _schedule(i):
        return
    for name in AT_LEAST_ONE:
        if name in i:
            value = as_int(i[name])
            if value is None or value < 1:
                yield f"{name}={text(i[name])} must be at least 1"
    for name in NOT_NEGATIVE:
        if name in i:
            value = as_int(i[name])
            if value is None or value < 0:
                yield f"{name}={text(i[name])} must not be negative"
    if "backup_data_dir" in i:
        path = i["backup_data_dir"]
        if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
            yield f"backup_data_dir={text(path)} must be an absolute path"


@rule(
    "backup.quantities",
    layer="backup",
    reads=("backup_install_schedule", "backup_runner_resources", "backup_tmp_size"),
    refuses="when the schedule is installed: backup pod resources that are not Kubernetes quantities or request"
    " more than their limit, or a /tmp size that is not a positive quantity",
    example="backup_tmp_size=1 GB is not a positive Kubernetes quantity (for example 20Gi)",
)
def quantities(i):
    if not _schedule(i):
        return
    if "backup_runner_resources" in i:
        yield from resources_problems("backup_runner_resources", i["backup_runner_resources"])
    if "backup_tmp_size" in i:
        yield from size_problems("backup_tmp_size", i["backup_tmp_size"])
