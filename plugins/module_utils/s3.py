# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3: one client factory, retries, error translation, and the bucket settings the collection manages.

``s3_client()`` builds a boto3 S3 client for any S3-compatible endpoint (path-style addressing
by default, botocore's standard retry mode). ``s3_call()`` turns botocore errors into
``S3Error``, which names the operation, bucket, key and the S3 error code.

The bucket part reads only the settings a caller manages, plans the calls that would bring
the bucket to the desired state (``plan_bucket``, pure) and runs them (``apply_plan``); a
module reports the plan in check mode and the calls it made otherwise.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    boto3 = None

    class BotoCoreError(Exception):
        pass

    class ClientError(Exception):
        pass


NOT_FOUND_CODES = frozenset(("404", "NoSuchBucket", "NotFound"))
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


class S3Error(Exception):
    """An S3 call failed (or a request cannot be honoured); names bucket, key, operation and code."""

    def __init__(self, message, bucket=None, key=None, code=None, operation=None, status=None):
        self.message = message
        self.bucket = bucket
        self.key = key
        self.code = code
        self.operation = operation
        self.status = status
        super().__init__(str(self))

    def __str__(self):
        where = []
        if self.operation:
            where.append(self.operation)
        if self.bucket:
            where.append(f"bucket {self.bucket}" + (f" key {self.key}" if self.key else ""))
        prefix = " ".join(where)
        code = f" [{self.code}]" if self.code else ""
        return f"{prefix}: {self.message}{code}" if prefix else f"{self.message}{code}"

    def to_dict(self):
        return {
            k: v
            for k, v in (
                ("message", self.message),
                ("bucket", self.bucket),
                ("key", self.key),
                ("code", self.code),
                ("operation", self.operation),
                ("status", self.status),
            )
            if v is not None
        }


def translate_error(exc, operation=None, bucket=None, key=None):
    """A botocore exception as an S3Error."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error") or {}
        meta = exc.response.get("ResponseMetadata") or {}
        code = str(err.get("Code") or "Unknown")
        message = err.get("Message") or code
        return S3Error(
            message,
            bucket=bucket,
            key=key,
            code=code,
            operation=operation or exc.operation_name,
            status=meta.get("HTTPStatusCode"),
        )
    return S3Error(str(exc), bucket=bucket, key=key, code=type(exc).__name__, operation=operation)


@contextmanager
def s3_call(operation, bucket=None, key=None):
    """Run S3 calls; re-raise botocore errors as S3Error naming operation/bucket/key/code."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, operation, bucket, key) from None


def error_code(exc):
    return str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code") or "")


def s3_client(
    endpoint_url=None,
    access_key=None,
    secret_key=None,
    region=None,
    session_token=None,
    path_style=True,
    validate_certs=True,
    ca_bundle=None,
    max_attempts=5,
    connect_timeout=10,
    read_timeout=60,
):
    """The client factory: connection options -> boto3 S3 client with retries and timeouts."""
    if boto3 is None:
        raise S3Error("the python libraries boto3 and botocore are required")
    options = {
        "s3": {"addressing_style": "path" if path_style else "auto"},
        "retries": {"max_attempts": max_attempts, "mode": "standard"},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        "signature_version": "s3v4",
    }
    try:
        # boto3 >= 1.36 adds CRC checksums to every upload by default; many S3-compatible stores
        # reject or ignore them, so only send them when an operation requires one
        config = Config(
            request_checksum_calculation="when_required", response_checksum_validation="when_required", **options
        )
    except TypeError:
        config = Config(**options)
    verify = ca_bundle if (validate_certs and ca_bundle) else bool(validate_certs)
    try:
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            aws_session_token=session_token or None,
            region_name=region or None,
            verify=verify,
            config=config,
        )
    except (BotoCoreError, ValueError) as exc:
        raise S3Error(f"cannot build an S3 client: {exc}", code=type(exc).__name__) from None


# -- bucket settings --------------------------------------------------------------------------


def normalize_rule(rule, index=None):
    """A lifecycle rule in S3's own shape, normalized for comparison."""
    where = f"lifecycle_rules[{index}]" if index is not None else "lifecycle rule"
    if not isinstance(rule, dict):
        raise S3Error(f"{where} must be a mapping in S3's own rule shape (ID, Status, Filter, Expiration...)")
    if not rule.get("ID"):
        raise S3Error(f"{where} needs an ID (rules are matched by ID to stay idempotent)")
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise S3Error(f"{where} ({rule.get('ID')}) needs Status Enabled or Disabled, got {rule.get('Status')!r}")
    out = copy.deepcopy(rule)
    if "Prefix" not in out and not out.get("Filter"):
        out["Filter"] = {"Prefix": ""}
    return _strip_none(out)


def _strip_none(value):
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def normalize_rules(rules):
    seen = {}
    out = []
    for i, rule in enumerate(rules or []):
        norm = normalize_rule(rule, i)
        if norm["ID"] in seen:
            raise S3Error(f"lifecycle_rules[{i}] repeats ID {norm['ID']!r} of lifecycle_rules[{seen[norm['ID']]}]")
        seen[norm["ID"]] = i
        out.append(norm)
    return sorted(out, key=lambda r: r["ID"])


def _rules_equal(want, have):
    def canon(rules):
        out = []
        for r in rules:
            r = dict(r)
            if r.get("Filter") in ({}, {"Prefix": ""}) and "Prefix" not in r:
                r["Filter"] = {"Prefix": ""}
            out.append(r)
        return sorted(out, key=lambda r: str(r.get("ID")))

    return canon(want) == canon(have)


def normalize_lock(lock):
    """The object_lock option, checked: {enabled, mode, days, years}."""
    if lock is None:
        return None
    enabled = lock.get("enabled", True)
    mode, days, years = lock.get("mode"), lock.get("days"), lock.get("years")
    if mode is not None and mode not in LOCK_MODES:
        raise S3Error(f"object_lock.mode must be one of {', '.join(LOCK_MODES)}, got {mode!r}")
    if mode and (days is None) == (years is None):
        raise S3Error("object_lock: a default retention needs exactly one of days or years with its mode")
    if not mode and (days is not None or years is not None):
        raise S3Error("object_lock: days/years need a mode (GOVERNANCE or COMPLIANCE)")
    if not enabled and mode:
        raise S3Error("object_lock: a default retention needs enabled=true")
    for name, value in (("days", days), ("years", years)):
        if value is not None and value <= 0:
            raise S3Error(f"object_lock.{name} must be a positive number, got {value}")
    return {"enabled": bool(enabled), "mode": mode, "days": days, "years": years}


def read_bucket(client, name, versioning=False, object_lock=False, lifecycle=False, tags=False):
    """The live settings of bucket ``name`` (only the parts asked for); {'exists': False} if none."""
    with s3_call("HeadBucket", name):
        try:
            client.head_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return {"name": name, "exists": False}
            raise
    state = {"name": name, "exists": True}
    if versioning:
        with s3_call("GetBucketVersioning", name):
            state["versioning"] = client.get_bucket_versioning(Bucket=name).get("Status") or "Disabled"
    if object_lock:
        state["object_lock"] = {"enabled": False, "mode": None, "days": None, "years": None}
        with s3_call("GetObjectLockConfiguration", name):
            try:
                cfg = client.get_object_lock_configuration(Bucket=name).get("ObjectLockConfiguration") or {}
            except ClientError as exc:
                if error_code(exc) not in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
                    raise
                cfg = {}
        retention = (cfg.get("Rule") or {}).get("DefaultRetention") or {}
        state["object_lock"] = {
            "enabled": cfg.get("ObjectLockEnabled") == "Enabled",
            "mode": retention.get("Mode"),
            "days": retention.get("Days"),
            "years": retention.get("Years"),
        }
    if lifecycle:
        with s3_call("GetBucketLifecycleConfiguration", name):
            try:
                rules = client.get_bucket_lifecycle_configuration(Bucket=name).get("Rules") or []
            except ClientError as exc:
                if error_code(exc) != "NoSuchLifecycleConfiguration":
                    raise
                rules = []
        state["lifecycle_rules"] = sorted(rules, key=lambda r: str(r.get("ID")))
    if tags:
        with s3_call("GetBucketTagging", name):
            try:
                tag_set = client.get_bucket_tagging(Bucket=name).get("TagSet") or []
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchTagSet", "NoSuchTagSetError"):
                    raise
                tag_set = []
        state["tags"] = {t["Key"]: t["Value"] for t in tag_set}
    return state


def _lock_config(lock):
    cfg = {"ObjectLockEnabled": "Enabled"}
    if lock.get("mode"):
        retention = {"Mode": lock["mode"]}
        if lock.get("days") is not None:
            retention["Days"] = int(lock["days"])
        else:
            retention["Years"] = int(lock["years"])
        cfg["Rule"] = {"DefaultRetention": retention}
    return cfg


def plan_bucket(current, name, versioning=None, object_lock=None, lifecycle_rules=None, tags=None, region=None):
    """The S3 calls that bring ``current`` (from read_bucket) to the desired settings, in order.

    Each call is {'operation': 'PutBucketVersioning', 'params': {...}} with the exact parameters.
    Options left None are not managed. Raises S3Error for what S3 cannot do (disable object lock,
    enable it on an existing bucket, suspend versioning under object lock).
    """
    lock = normalize_lock(object_lock)
    rules = normalize_rules(lifecycle_rules) if lifecycle_rules is not None else None
    calls = []
    exists = current.get("exists")
    lock_on_now = bool(exists and (current.get("object_lock") or {}).get("enabled"))
    if not exists:
        params = {"Bucket": name}
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if lock and lock["enabled"]:
            params["ObjectLockEnabledForBucket"] = True
        calls.append({"operation": "CreateBucket", "params": params})
        lock_on_now = bool(lock and lock["enabled"])
    elif lock is not None:
        if lock["enabled"] and not lock_on_now:
            raise S3Error(
                "object lock can only be enabled when a bucket is created, and this bucket exists without it",
                bucket=name,
                code="ObjectLockNotEnabled",
            )
        if not lock["enabled"] and lock_on_now:
            raise S3Error(
                "object lock cannot be disabled once it is enabled on a bucket", bucket=name, code="ObjectLockEnabled"
            )
    versioning_now = current.get("versioning") if exists else ("Enabled" if lock_on_now else "Disabled")
    if versioning is True and versioning_now != "Enabled":
        calls.append(
            {
                "operation": "PutBucketVersioning",
                "params": {"Bucket": name, "VersioningConfiguration": {"Status": "Enabled"}},
            }
        )
    elif versioning is False and versioning_now == "Enabled":
        if lock_on_now:
            raise S3Error(
                "versioning cannot be suspended on a bucket with object lock", bucket=name, code="InvalidBucketState"
            )
        calls.append(
            {
                "operation": "PutBucketVersioning",
                "params": {"Bucket": name, "VersioningConfiguration": {"Status": "Suspended"}},
            }
        )
    if lock is not None and lock["enabled"]:
        have = current.get("object_lock") if exists else {"mode": None, "days": None, "years": None}
        want_retention = (lock["mode"], lock["days"], lock["years"])
        have_retention = (have.get("mode"), have.get("days"), have.get("years"))
        if want_retention != have_retention and (lock["mode"] or have.get("mode")):
            calls.append(
                {
                    "operation": "PutObjectLockConfiguration",
                    "params": {"Bucket": name, "ObjectLockConfiguration": _lock_config(lock)},
                }
            )
    if rules is not None:
        have_rules = current.get("lifecycle_rules", []) if exists else []
        if rules and not _rules_equal(rules, have_rules):
            calls.append(
                {
                    "operation": "PutBucketLifecycleConfiguration",
                    "params": {"Bucket": name, "LifecycleConfiguration": {"Rules": rules}},
                }
            )
        elif not rules and have_rules:
            calls.append({"operation": "DeleteBucketLifecycle", "params": {"Bucket": name}})
    if tags is not None:
        want_tags = {str(k): str(v) for k, v in tags.items()}
        have_tags = current.get("tags", {}) if exists else {}
        if want_tags and want_tags != have_tags:
            tag_set = [{"Key": k, "Value": v} for k, v in sorted(want_tags.items())]
            calls.append({"operation": "PutBucketTagging", "params": {"Bucket": name, "Tagging": {"TagSet": tag_set}}})
        elif not want_tags and have_tags:
            calls.append({"operation": "DeleteBucketTagging", "params": {"Bucket": name}})
    return calls


METHODS = {
    "CreateBucket": "create_bucket",
    "PutBucketVersioning": "put_bucket_versioning",
    "PutObjectLockConfiguration": "put_object_lock_configuration",
    "PutBucketLifecycleConfiguration": "put_bucket_lifecycle_configuration",
    "DeleteBucketLifecycle": "delete_bucket_lifecycle",
    "PutBucketTagging": "put_bucket_tagging",
    "DeleteBucketTagging": "delete_bucket_tagging",
    "DeleteBucket": "delete_bucket",
    "DeleteObjects": "delete_objects",
}


def apply_plan(client, calls):
    """Run the planned calls in order; the first failure raises S3Error naming its operation."""
    for call in calls:
        params = call["params"]
        with s3_call(call["operation"], params.get("Bucket")):
            resp = getattr(client, METHODS[call["operation"]])(**params)
        errors = (resp or {}).get("Errors") or []
        if errors:
            first = errors[0]
            raise S3Error(
                f"{first.get('Message') or 'cannot delete'} ({len(errors)} object(s) not deleted)",
                bucket=params.get("Bucket"),
                key=first.get("Key"),
                code=first.get("Code"),
                operation=call["operation"],
            )


def list_versions(client, name, limit=None):
    """Every object version and delete marker of a bucket, as [{'Key', 'VersionId'}] (at most ``limit``)."""
    out = []
    kwargs = {"Bucket": name}
    with s3_call("ListObjectVersions", name):
        while True:
            if limit:
                kwargs["MaxKeys"] = max(1, min(1000, limit - len(out)))
            page = client.list_object_versions(**kwargs)
            for item in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                out.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
            if (limit and len(out) >= limit) or not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
    return out[:limit] if limit else out


def plan_removal(client, current, force=False):
    """The calls that delete a bucket; refuses clearly when objects remain (see s3_bucket state=absent)."""
    name = current["name"]
    if not current.get("exists"):
        return []
    sample = list_versions(client, name, limit=1)
    if not sample:
        return [{"operation": "DeleteBucket", "params": {"Bucket": name}}]
    if (current.get("object_lock") or {}).get("enabled"):
        raise S3Error(
            "refusing to delete: object lock is enabled and the bucket still holds objects, which may be "
            "under retention; remove them (once their retention allows) before removing the bucket",
            bucket=name,
            code="BucketNotEmpty",
        )
    if not force:
        raise S3Error(
            "refusing to delete: the bucket still holds objects; set force=true to delete them with it",
            bucket=name,
            code="BucketNotEmpty",
        )
    versions = list_versions(client, name)
    calls = []
    for start in range(0, len(versions), 1000):
        chunk = versions[start : start + 1000]
        calls.append(
            {"operation": "DeleteObjects", "params": {"Bucket": name, "Delete": {"Objects": chunk, "Quiet": True}}}
        )
    calls.append({"operation": "DeleteBucket", "params": {"Bucket": name}})
    return calls


def summarize_calls(calls):
    """Calls as returned to users: DeleteObjects lists are summarized to a count."""
    out = []
    for call in calls:
        if call["operation"] == "DeleteObjects":
            objs = call["params"]["Delete"]["Objects"]
            out.append(
                {"operation": "DeleteObjects", "params": {"Bucket": call["params"]["Bucket"], "count": len(objs)}}
            )
        else:
            out.append(call)
    return out
