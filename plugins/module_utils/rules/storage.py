# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the storage role's inputs: bucket names, the S3 endpoint, and lifecycle and lock periods that must
agree with each other and with the backup role's retention policy."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    allowlist_problems,
    as_int,
    dig,
    is_bucket_name,
    is_endpoint_url,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*/$")
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
LIFECYCLE_DAYS = (
    "storage_backups_expire_days",
    "storage_backups_noncurrent_days",
    "storage_attachments_noncurrent_days",
    "storage_abort_multipart_days",
)
# the backup role's grandfather-father-son retention: what an empty key defaults to, and the most days one
# period spans (a month kept is up to 31 days old per step, a year 366)
RETENTION_DEFAULTS = {"daily": 7, "weekly": 4, "monthly": 12, "yearly": 0}
RETENTION_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "yearly": 366}


@rule(
    "storage.bucket_names",
    layer="storage",
    reads=("storage_attachments_bucket", "storage_backups_bucket"),
    refuses="bucket names S3 refuses (3-63 lower-case letters, digits and hyphens)",
    example="storage_backups_bucket=Backups is not a valid bucket name (3-63 lower-case letters, digits, hyphens)",
)
def bucket_names(i):
    for name in ("storage_attachments_bucket", "storage_backups_bucket"):
        value = i.get(name)
        if not is_bucket_name(value):
            yield f"{name}={text(value)} is not a valid bucket name (3-63 lower-case letters, digits, hyphens)"


@rule(
    "storage.buckets_differ",
    layer="storage",
    reads=("storage_attachments_bucket", "storage_backups_bucket"),
    refuses="one bucket for attachments and backups (only the backups bucket is locked)",
    example="storage_attachments_bucket and storage_backups_bucket must differ (only backups are locked)",
)
def buckets_differ(i):
    if i.get("storage_attachments_bucket") == i.get("storage_backups_bucket"):
        yield "storage_attachments_bucket and storage_backups_bucket must differ (only backups are locked)"


@rule(
    "storage.endpoint_url",
    layer="storage",
    reads=("storage_s3",),
    refuses="an S3 endpoint (or the pods' own, cluster_endpoint_url) that is not an http(s) URL without a path",
    example="storage_s3.endpoint_url=s3.example.com must be an http(s) URL without a path",
)
def endpoint_url(i):
    url = dig(i.get("storage_s3"), "endpoint_url", "")
    if not is_endpoint_url(url):
        yield f"storage_s3.endpoint_url={text(url)} must be an http(s) URL without a path"
    cluster_url = dig(i.get("storage_s3"), "cluster_endpoint_url")
    if cluster_url and not is_endpoint_url(cluster_url):
        yield f"storage_s3.cluster_endpoint_url={text(cluster_url)} must be an http(s) URL without a path"


@rule(
    "storage.endpoint_cidr",
    layer="storage",
    reads=("storage_s3", "governed_odoo_environment"),
    refuses="an S3 endpoint without a valid network (storage_s3.cidr, for the egress policy), or any address in prod",
    example="netplan_validate_allowlist: storage_s3.cidr[0] '' is not a valid IP address or CIDR",
)
def endpoint_cidr(i):
    yield from allowlist_problems(
        [dig(i.get("storage_s3"), "cidr", "")], "storage_s3.cidr", i.get("governed_odoo_environment")
    )


@rule(
    "storage.instance_prefix",
    layer="storage",
    reads=("storage_instance_prefix",),
    refuses="an instance key prefix that is not lower-case key characters ending with /",
    example="storage_instance_prefix=civil-dev must be a key prefix ending with /",
)
def instance_prefix(i):
    value = text(i.get("storage_instance_prefix"))
    if not _PREFIX_RE.match(value):
        yield f"storage_instance_prefix={value} must be a key prefix ending with /"


@rule(
    "storage.lifecycle_days",
    layer="storage",
    reads=LIFECYCLE_DAYS,
    refuses="lifecycle periods S3 refuses: every one is a whole number of days, at least 1",
    example="storage_backups_noncurrent_days=0 must be a whole number of days, at least 1",
)
def lifecycle_days(i):
    for name in LIFECYCLE_DAYS:
        if name in i:
            value = as_int(i[name])
            if value is None or value < 1:
                yield f"{name}={text(i[name])} must be a whole number of days, at least 1"


@rule(
    "storage.lock",
    layer="storage",
    reads=("storage_backup_lock",),
    refuses=(
        "a default object lock of the backups bucket that S3 refuses: mode COMPLIANCE or GOVERNANCE, days at least 1"
    ),
    example="storage_backup_lock.days=0 must be a whole number of days, at least 1",
)
def lock(i):
    value = i.get("storage_backup_lock")
    if not isinstance(value, dict):
        yield "storage_backup_lock must be a mapping with mode and days"
        return
    mode = value.get("mode", "COMPLIANCE")
    if mode not in LOCK_MODES:
        yield f"storage_backup_lock.mode={text(mode)} must be one of {', '.join(LOCK_MODES)}"
    days = as_int(value.get("days"))
    if days is None or days < 1:
        yield f"storage_backup_lock.days={text(value.get('days'))} must be a whole number of days, at least 1"


@rule(
    "storage.expiry_exceeds_lock",
    layer="storage",
    reads=("storage_backups_expire_days", "storage_backup_lock"),
    refuses="backups that expire before (or when) the bucket's default object lock lapses",
    example="storage_backups_expire_days=30 must exceed storage_backup_lock.days=35",
)
def expiry_exceeds_lock(i):
    expire = as_int(i.get("storage_backups_expire_days"))
    days = as_int(dig(i.get("storage_backup_lock"), "days"))
    if expire is not None and days is not None and expire <= days:
        yield f"storage_backups_expire_days={expire} must exceed storage_backup_lock.days={days}"


def longest_retention(retention):
    """(days, 'key=count') of the oldest backup the backup role's retention keeps, or None when it keeps every
    backup (an empty policy) or its counts are not whole numbers (the backup rules refuse those)."""
    if not isinstance(retention, dict) or not retention:
        return None
    longest = None
    for key, per in RETENTION_DAYS.items():
        count = as_int(retention.get(key, RETENTION_DEFAULTS[key]))
        if count is None:
            return None
        if count > 0 and (longest is None or count * per > longest[0]):
            longest = (count * per, f"{key}={count}")
    return longest


@rule(
    "storage.retention_fits_lifecycle",
    layer="storage",
    reads=("storage_backups_expire_days", "backup_lock", "backup_retention"),
    refuses=(
        "lifecycle and lock periods that contradict the retention policy: the lock the backup puts on each object"
        " (backup_lock.days) must lapse before the bucket expires it (storage_backups_expire_days), and the expiry"
        " must not delete backups the backup role's retention keeps (its longest period: daily x 1, weekly x 7,"
        " monthly x 31, yearly x 366 days, with the role's defaults 7/4/12/0 for keys not given)"
    ),
    example=(
        "storage_backups_expire_days=400 is shorter than backup_retention keeps backups (yearly=2: 732 days):"
        " the bucket's lifecycle would delete backups the retention policy keeps"
    ),
)
def retention_fits_lifecycle(i):
    expire = as_int(i.get("storage_backups_expire_days"))
    if expire is None:
        return
    lock_days = as_int(dig(i.get("backup_lock"), "days"))
    if lock_days is not None and lock_days >= expire:
        yield (
            f"backup_lock.days={lock_days} locks every backup at least as long as storage_backups_expire_days={expire}"
            " keeps it: the lock must lapse before the bucket's lifecycle expires the backup"
        )
    longest = longest_retention(i.get("backup_retention"))
    if longest and longest[0] > expire:
        yield (
            f"storage_backups_expire_days={expire} is shorter than backup_retention keeps backups"
            f" ({longest[1]}: {longest[0]} days):"
            " the bucket's lifecycle would delete backups the retention policy keeps"
        )


BUCKET_SETTINGS = (
    "storage_backup_lock",
    "storage_backups_expire_days",
    "storage_backups_noncurrent_days",
    "storage_attachments_noncurrent_days",
    "storage_abort_multipart_days",
)


@rule(
    "storage.shared_bucket_settings",
    layer="storage",
    scope="inventory",
    reads=(
        "instances",
        "instances.storage_s3",
        "instances.storage_attachments_bucket",
        "instances.storage_backups_bucket",
        *(f"instances.{name}" for name in BUCKET_SETTINGS),
    ),
    refuses=(
        "instances that share a bucket (same endpoint and name) but ask for different lock or lifecycle periods:"
        " a bucket has one configuration, so one of them would silently win"
    ),
    example=(
        "storage_backups_expire_days differs between civil-dev (400) and civil-qa (200), which share bucket"
        " governed-odoo-dev-backups at https://s3.example.com"
    ),
)
def shared_bucket_settings(i):
    owners = {}
    for host, values in sorted((i.get("instances") or {}).items()):
        endpoint = dig(values.get("storage_s3"), "endpoint_url", "")
        for bucket_var, names in (
            ("storage_backups_bucket", BUCKET_SETTINGS),
            ("storage_attachments_bucket", ("storage_attachments_noncurrent_days", "storage_abort_multipart_days")),
        ):
            bucket = values.get(bucket_var)
            if not bucket:
                continue
            key = (endpoint, bucket)
            if key not in owners:
                owners[key] = (host, values)
                continue
            first, first_values = owners[key]
            for name in names:
                if name in values and name in first_values and values[name] != first_values[name]:
                    yield (
                        f"{name} differs between {first} ({text(first_values[name])}) and {host}"
                        f" ({text(values[name])}), which share bucket {bucket} at {endpoint}"
                    )
