# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bucket drift: versioning, object lock, lifecycle rules and tags of a bucket against what governed.odoo.s3_bucket
declares (the storage role's provision step hands both the same options).

The bucket is read with module_utils/s3.py and planned as s3_bucket plans it (s3.plan_bucket); when the plan
has calls, the bucket as they would leave it (bucket_task.expected_state) is compared with the bucket as read,
field by field, lifecycle rules matched by their ID. Nothing is written. A setting S3 cannot change in place
(object lock on an existing bucket) is reported with the reason.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils import bucket_task, s3
from ansible_collections.governed.odoo.plugins.module_utils.drift import DriftError
from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import ABSENT, differences, finding

LAYER = "bucket"
WHOLE = "(bucket)"


def bucket_ref(p):
    return f"bucket {p['name']} at {p.get('endpoint_url') or 'AWS S3'}"


def _comparable(state):
    out = {k: v for k, v in state.items() if k not in ("name", "exists")}
    if "lifecycle_rules" in out:
        rules = []
        for rule in out["lifecycle_rules"] or []:
            try:
                rules.append(s3.normalize_rule(rule))
            except s3.S3Error:
                rules.append(rule)
        out["lifecycle_rules"] = sorted(rules, key=lambda r: str(r.get("ID")))
    return out


def plan_findings(p, current):
    """Findings for bucket options ``p`` (s3_bucket's) and ``current`` (s3.read_bucket's answer); pure."""
    ref = bucket_ref(p)
    if not current.get("exists"):
        return [finding(LAYER, ref, WHOLE, "present", ABSENT)]
    try:
        calls = s3.plan_bucket(
            current,
            p["name"],
            versioning=p.get("versioning"),
            object_lock=p.get("object_lock"),
            lifecycle_rules=p.get("lifecycle_rules"),
            tags=p.get("tags"),
            region=p.get("region"),
        )
    except s3.S3Error as exc:
        lock = p.get("object_lock") or {}
        return [
            finding(
                LAYER,
                ref,
                "object_lock",
                {k: v for k, v in lock.items() if v is not None},
                current.get("object_lock"),
                note=str(exc),
            )
        ]
    if not calls:
        return []
    expected = bucket_task.expected_state(current, calls, dict(p, object_lock=p.get("object_lock")))
    found = [
        finding(LAYER, ref, path, want, have)
        for path, want, have in differences(_comparable(expected), _comparable(current))
    ]
    if not found:  # S3 would be called, but the values read compare equal: name the calls
        found = [finding(LAYER, ref, WHOLE, "as declared", "differs", note=", ".join(c["operation"] for c in calls))]
    return found


def bucket_findings(p):
    """Findings of one bucket, read live with the options of governed.odoo.s3_bucket in ``p``."""
    try:
        client = s3.s3_client(
            endpoint_url=p.get("endpoint_url"),
            access_key=p.get("access_key"),
            secret_key=p.get("secret_key"),
            region=p.get("region"),
            path_style=p.get("path_style", True),
            validate_certs=p.get("s3_validate_certs", True),
        )
        current = s3.read_bucket(
            client,
            p["name"],
            versioning=p.get("versioning") is not None or p.get("object_lock") is not None,
            object_lock=p.get("object_lock") is not None or p.get("versioning") is False,
            lifecycle=p.get("lifecycle_rules") is not None,
            tags=p.get("tags") is not None,
        )
    except s3.S3Error as exc:
        raise DriftError(f"cannot read {bucket_ref(p)}: {exc}", layer=LAYER) from None
    return plan_findings(p, current)
