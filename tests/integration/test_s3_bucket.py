"""governed.odoo.s3_bucket against the lab's SeaweedFS S3 endpoints (a and b)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _modrun import ROOT, run_module, run_module_raw

CONNECTION = ROOT / ".lab" / "connection.json"

pytestmark = pytest.mark.lab


def _s3_conf():
    try:
        conf = json.loads(CONNECTION.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {CONNECTION} is missing or unreadable (scripts/lab up)")
    if not (conf.get("s3") or {}).get("a"):
        pytest.skip(f"lab S3 not up: {CONNECTION} has no s3.a (scripts/lab up s3)")
    return conf["s3"]


@pytest.fixture(scope="module", params=["a", "b"])
def endpoint(request):
    conf = _s3_conf()
    if request.param not in conf:
        pytest.skip(f"lab S3 endpoint {request.param} is not in {CONNECTION}")
    c = conf[request.param]
    return {
        "endpoint_url": c["endpoint"],
        "access_key": c["access_key"],
        "secret_key": c["secret_key"],
        "region": c["region"],
    }


@pytest.fixture
def raw(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint["endpoint_url"],
        aws_access_key_id=endpoint["access_key"],
        aws_secret_access_key=endpoint["secret_key"],
        region_name=endpoint["region"],
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(raw):
    name = f"gov-it-{uuid.uuid4().hex[:10]}"
    yield name
    # cleanup whatever the test left, bypassing governance retention
    try:
        versions = raw.list_object_versions(Bucket=name)
    except Exception:
        return
    for item in (versions.get("Versions") or []) + (versions.get("DeleteMarkers") or []):
        raw.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"], BypassGovernanceRetention=True)
    raw.delete_bucket(Bucket=name)


def _exists(raw, name):
    try:
        raw.head_bucket(Bucket=name)
        return True
    except Exception:
        return False


RULES = [
    {
        "ID": "expire-noncurrent",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    },
    {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 2}},
]


def test_locked_bucket_lifecycle(endpoint, raw, bucket):
    args = dict(
        endpoint,
        name=bucket,
        versioning=True,
        object_lock={"mode": "GOVERNANCE", "days": 1},
        lifecycle_rules=RULES,
        tags={"platform": "odoo", "env": "lab"},
    )

    # check mode: exactly the calls, nothing done
    res = run_module("s3_bucket", args, check_mode=True)
    assert res["changed"] is True
    assert [a["operation"] for a in res["actions"]] == [
        "CreateBucket",
        "PutObjectLockConfiguration",
        "PutBucketLifecycleConfiguration",
        "PutBucketTagging",
    ]
    assert res["actions"][0]["params"] == {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
    assert not _exists(raw, bucket)

    res = run_module("s3_bucket", args)
    assert res["changed"] is True, res
    assert res["bucket"]["object_lock"] == {"enabled": True, "mode": "GOVERNANCE", "days": 1, "years": None}
    assert raw.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = raw.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    assert {r["ID"] for r in raw.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]} == {
        "expire-noncurrent",
        "tmp",
    }
    assert {t["Key"]: t["Value"] for t in raw.get_bucket_tagging(Bucket=bucket)["TagSet"]} == {
        "platform": "odoo",
        "env": "lab",
    }

    # idempotent
    res = run_module("s3_bucket", args)
    assert (res["changed"], res["actions"]) == (False, [])
    res = run_module("s3_bucket", args, check_mode=True)
    assert (res["changed"], res["actions"]) == (False, [])

    # one change, one call
    args["tags"] = {"platform": "odoo", "env": "staging"}
    res = run_module("s3_bucket", args)
    assert [a["operation"] for a in res["actions"]] == ["PutBucketTagging"]
    args["lifecycle_rules"] = RULES[:1]
    res = run_module("s3_bucket", args)
    assert [a["operation"] for a in res["actions"]] == ["PutBucketLifecycleConfiguration"]
    assert [r["ID"] for r in raw.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["expire-noncurrent"]

    # object lock cannot be turned off
    res = run_module("s3_bucket", dict(endpoint, name=bucket, object_lock={"enabled": False}))
    assert res["failed"] and res["error"]["code"] == "ObjectLockEnabled" and bucket in res["msg"]

    # absent refuses while object lock is on and objects remain, even with force
    raw.put_object(Bucket=bucket, Key="backups/x.dump", Body=b"data")
    for force in (False, True):
        res = run_module("s3_bucket", dict(endpoint, name=bucket, state="absent", force=force))
        assert res["failed"] is True
        assert res["error"]["code"] == "BucketNotEmpty"
        assert "object lock is enabled" in res["msg"] and bucket in res["msg"]
    assert _exists(raw, bucket)


def test_plain_bucket_absent_with_force(endpoint, raw, bucket):
    res = run_module("s3_bucket", dict(endpoint, name=bucket, versioning=True))
    assert [a["operation"] for a in res["actions"]] == ["CreateBucket", "PutBucketVersioning"]
    for i in range(3):
        raw.put_object(Bucket=bucket, Key=f"f{i}", Body=b"v1")
    raw.put_object(Bucket=bucket, Key="f0", Body=b"v2")
    raw.delete_object(Bucket=bucket, Key="f1")  # a delete marker

    res = run_module("s3_bucket", dict(endpoint, name=bucket, state="absent"))
    assert res["failed"] and "set force=true" in res["msg"]

    res = run_module("s3_bucket", dict(endpoint, name=bucket, state="absent", force=True), check_mode=True)
    assert res["actions"] == [
        {"operation": "DeleteObjects", "params": {"Bucket": bucket, "count": 5}},
        {"operation": "DeleteBucket", "params": {"Bucket": bucket}},
    ]
    assert _exists(raw, bucket)

    res = run_module("s3_bucket", dict(endpoint, name=bucket, state="absent", force=True))
    assert res["changed"] is True and not res.get("failed"), res
    assert not _exists(raw, bucket)
    res = run_module("s3_bucket", dict(endpoint, name=bucket, state="absent"))
    assert (res["changed"], res["actions"]) == (False, [])


def test_errors_name_bucket_and_code(endpoint, bucket):
    res, raw_out = run_module_raw("s3_bucket", dict(endpoint, name=bucket, secret_key="wrong-secret-key-value"))
    assert res["failed"] is True
    assert res["error"]["bucket"] == bucket
    assert res["error"]["code"] in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403")
    assert res["error"]["operation"] == "HeadBucket"
    assert "wrong-secret-key-value" not in raw_out
