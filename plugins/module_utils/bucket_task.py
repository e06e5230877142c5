# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One governed.odoo.s3_bucket task, shared by the module and its action plugin (which runs it in the
controller's process with a local connection)."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils import s3
from ansible_collections.governed.odoo.plugins.module_utils.common_args import s3_argument_spec


def argument_spec():
    spec = s3_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        versioning=dict(type="bool"),
        object_lock=dict(
            type="dict",
            options=dict(
                enabled=dict(type="bool", default=True),
                mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"]),
                days=dict(type="int"),
                years=dict(type="int"),
            ),
        ),
        lifecycle_rules=dict(type="list", elements="dict"),
        tags=dict(type="dict"),
        force=dict(type="bool", default=False),
        path_style=dict(type="bool", default=True),
    )
    return spec


def expected_state(current, calls, p):
    """The bucket as it is after ``calls`` (check mode reports this without making them)."""
    state = dict(current)
    for call in calls:
        op, params = call["operation"], call["params"]
        if op == "CreateBucket":
            state = {"name": p["name"], "exists": True}
            if p["versioning"] is not None or p["object_lock"] is not None:
                locked = bool(params.get("ObjectLockEnabledForBucket"))
                state["versioning"] = "Enabled" if locked else "Disabled"
            if p["object_lock"] is not None:
                state["object_lock"] = {
                    "enabled": bool(params.get("ObjectLockEnabledForBucket")),
                    "mode": None,
                    "days": None,
                    "years": None,
                }
            if p["lifecycle_rules"] is not None:
                state["lifecycle_rules"] = []
            if p["tags"] is not None:
                state["tags"] = {}
        elif op == "PutBucketVersioning":
            state["versioning"] = params["VersioningConfiguration"]["Status"]
        elif op == "PutObjectLockConfiguration":
            retention = (params["ObjectLockConfiguration"].get("Rule") or {}).get("DefaultRetention") or {}
            state["object_lock"] = {
                "enabled": True,
                "mode": retention.get("Mode"),
                "days": retention.get("Days"),
                "years": retention.get("Years"),
            }
        elif op == "PutBucketLifecycleConfiguration":
            state["lifecycle_rules"] = params["LifecycleConfiguration"]["Rules"]
        elif op == "DeleteBucketLifecycle":
            state["lifecycle_rules"] = []
        elif op == "PutBucketTagging":
            state["tags"] = {t["Key"]: t["Value"] for t in params["Tagging"]["TagSet"]}
        elif op == "DeleteBucketTagging":
            state["tags"] = {}
        elif op == "DeleteBucket":
            state = {"name": p["name"], "exists": False}
    return state


def plan_and_apply(p, check_mode, client):
    """Read the bucket, plan the calls that make it as declared, make them unless ``check_mode``."""
    name = p["name"]
    if p["state"] == "absent":
        current = s3.read_bucket(client, name, object_lock=True)
        calls = s3.plan_removal(client, current, force=p["force"])
    else:
        current = s3.read_bucket(
            client,
            name,
            versioning=p["versioning"] is not None or p["object_lock"] is not None,
            object_lock=p["object_lock"] is not None or p["versioning"] is False,
            lifecycle=p["lifecycle_rules"] is not None,
            tags=p["tags"] is not None,
        )
        calls = s3.plan_bucket(
            current,
            name,
            versioning=p["versioning"],
            object_lock=p["object_lock"],
            lifecycle_rules=p["lifecycle_rules"],
            tags=p["tags"],
            region=p["region"],
        )
    if calls and not check_mode:
        s3.apply_plan(client, calls)
    return {"changed": bool(calls), "actions": s3.summarize_calls(calls), "bucket": expected_state(current, calls, p)}


def run(params, check_mode=False):
    """One s3_bucket task: (result, values to mask). ``failed``/``msg`` are set on failure."""
    p = params
    secrets = {p["secret_key"]} if p.get("secret_key") else set()
    if s3.boto3 is None:
        return {"failed": True, "msg": "Failed to import the required Python library (boto3)"}, secrets
    try:
        client = s3.s3_client(
            endpoint_url=p["endpoint_url"],
            access_key=p["access_key"],
            secret_key=p["secret_key"],
            region=p["region"],
            path_style=p["path_style"],
            validate_certs=p["s3_validate_certs"],
        )
        return plan_and_apply(p, check_mode, client), secrets
    except s3.S3Error as exc:
        if exc.bucket is None:
            exc.bucket = p["name"]
        return {"failed": True, "msg": str(exc), "error": exc.to_dict()}, secrets
