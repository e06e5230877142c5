# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lifecycle rules of a backups bucket, derived from the store layout of manifest.py.

Only the backup directories (``<root>backups/<environment>/<db_name>/<backup_id>/``) may expire by age. Every object
there belongs to one backup and is referenced by that backup's manifest alone, written in the same run (the manifest
last), so its age is the age of the backup, and storage.retention_fits_lifecycle keeps the expiry longer than any
backup the retention policy keeps.

Content-addressed objects (``filestore/`` and ``dbdata/``) are written once and referenced by every later backup that
holds the same attachment or the same unchanged table, without a new upload: their age says nothing about whether a
kept manifest references them. No lifecycle rule reaches them, neither by age (an Expiration over a year-old
attachment that today's backup still references would hide it and then remove it) nor as noncurrent versions (a
version written over a pinned object makes the pinned original noncurrent: removing it would destroy what every
manifest pinning it restores from). backup_retention (prune.py) removes them, and only when no surviving manifest
references them.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt

EXPIRE_ID = "expire-old-backups"
NONCURRENT_ID = "expire-replaced-backups"
ABORT_ID = "abort-incomplete-uploads"


def _days(value, name):
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a whole number of days") from None
    if days < 1 or str(value).strip() != str(days):
        raise ValueError(f"{name}={value!r} must be a whole number of days, at least 1")
    return days


def store_roots(prefixes):
    """The distinct store roots (key prefixes ending with '/', '' for the bucket itself) of ``prefixes``, sorted."""
    roots = set()
    for prefix in prefixes or [""]:
        root = (prefix or "").strip("/")
        roots.add(f"{root}/" if root else "")
    return sorted(roots)


def _rule_id(base, root):
    return base if not root else f"{base}-{root.rstrip('/').replace('/', '-')}"


def backups_bucket_rules(prefixes, expire_days, noncurrent_days, abort_days):
    """Lifecycle rules (S3's own shape) of a backups bucket holding stores at ``prefixes`` (the backup role's
    ``backup_prefix`` of each instance using the bucket; '' is the bucket root).

    Per store: backup directories expire after ``expire_days``, and versions replaced or hidden there are removed
    ``noncurrent_days`` later (once their object lock has lapsed). Unfinished multipart uploads are aborted after
    ``abort_days`` everywhere (they are no object anybody references).
    """
    expire = _days(expire_days, "storage_backups_expire_days")
    noncurrent = _days(noncurrent_days, "storage_backups_noncurrent_days")
    abort = _days(abort_days, "storage_abort_multipart_days")
    rules = []
    for root in store_roots(prefixes):
        backups = {"Prefix": root + fmt.BACKUPS_ROOT}
        rules.append({"ID": _rule_id(EXPIRE_ID, root), "Status": "Enabled", "Filter": dict(backups),
                      "Expiration": {"Days": expire}})
        rules.append({"ID": _rule_id(NONCURRENT_ID, root), "Status": "Enabled", "Filter": dict(backups),
                      "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent}})
    rules.append({"ID": ABORT_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort}})
    return rules
