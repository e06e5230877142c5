"""Unit tests of the pure bucket planning in plugins/module_utils/s3.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils import s3  # noqa: E402

RULE = {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}
ABSENT = {"name": "b", "exists": False}


def ops(calls):
    return [c["operation"] for c in calls]


def live(**over):
    base = {
        "name": "b",
        "exists": True,
        "versioning": "Enabled",
        "object_lock": {"enabled": True, "mode": "GOVERNANCE", "days": 30, "years": None},
        "lifecycle_rules": [dict(RULE)],
        "tags": {"env": "prod"},
    }
    base.update(over)
    return base


def test_create_with_lock_and_retention_in_order():
    calls = s3.plan_bucket(
        ABSENT,
        "b",
        versioning=True,
        object_lock={"mode": "GOVERNANCE", "days": 30},
        lifecycle_rules=[RULE],
        tags={"env": "prod"},
    )
    assert ops(calls) == [
        "CreateBucket",
        "PutObjectLockConfiguration",
        "PutBucketLifecycleConfiguration",
        "PutBucketTagging",
    ]
    assert calls[0]["params"] == {"Bucket": "b", "ObjectLockEnabledForBucket": True}
    assert calls[1]["params"]["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    }


def test_create_in_another_region_sets_the_location():
    calls = s3.plan_bucket(ABSENT, "b", region="eu-central-1")
    assert calls == [
        {
            "operation": "CreateBucket",
            "params": {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-central-1"}},
        }
    ]


def test_nothing_to_do_when_everything_matches():
    calls = s3.plan_bucket(
        live(),
        "b",
        versioning=True,
        object_lock={"mode": "GOVERNANCE", "days": 30},
        lifecycle_rules=[RULE],
        tags={"env": "prod"},
    )
    assert calls == []


def test_unmanaged_options_are_left_alone():
    assert s3.plan_bucket(live(tags={"x": "y"}, lifecycle_rules=[]), "b") == []


def test_each_difference_is_one_call():
    unlocked = {"enabled": False, "mode": None, "days": None, "years": None}
    calls = s3.plan_bucket(live(versioning="Suspended", object_lock=unlocked), "b", versioning=True)
    assert ops(calls) == ["PutBucketVersioning"]
    calls = s3.plan_bucket(live(), "b", object_lock={"mode": "GOVERNANCE", "days": 60})
    assert ops(calls) == ["PutObjectLockConfiguration"]
    calls = s3.plan_bucket(live(), "b", object_lock={"enabled": True})  # drop the default retention
    assert calls[0]["params"]["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    calls = s3.plan_bucket(live(), "b", lifecycle_rules=[dict(RULE, Expiration={"Days": 8})])
    assert ops(calls) == ["PutBucketLifecycleConfiguration"]
    assert ops(s3.plan_bucket(live(), "b", lifecycle_rules=[])) == ["DeleteBucketLifecycle"]
    assert ops(s3.plan_bucket(live(), "b", tags={"env": "dev"})) == ["PutBucketTagging"]
    assert ops(s3.plan_bucket(live(), "b", tags={})) == ["DeleteBucketTagging"]


def test_lifecycle_rules_compare_regardless_of_order_and_empty_filter():
    rules = [{"ID": "b", "Status": "Enabled", "Expiration": {"Days": 1}}, RULE]
    have = [RULE, {"ID": "b", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]
    assert s3.plan_bucket(live(lifecycle_rules=have), "b", lifecycle_rules=rules) == []


@pytest.mark.parametrize(
    ("current", "kwargs", "message"),
    [
        (
            live(object_lock={"enabled": False}),
            {"object_lock": {"enabled": True}},
            "only be enabled when a bucket is created",
        ),
        (live(), {"object_lock": {"enabled": False}}, "cannot be disabled"),
        (live(), {"versioning": False, "object_lock": {"enabled": True}}, "cannot be suspended"),
        (ABSENT, {"object_lock": {"mode": "GOVERNANCE"}}, "exactly one of days or years"),
        (ABSENT, {"object_lock": {"mode": "GOVERNANCE", "days": 1, "years": 1}}, "exactly one of days or years"),
        (ABSENT, {"object_lock": {"days": 3}}, "need a mode"),
        (ABSENT, {"object_lock": {"mode": "GOVERNANCE", "days": 0}}, "object_lock.days must be a positive"),
        (ABSENT, {"object_lock": {"mode": "LEGAL"}}, "object_lock.mode must be one of"),
        (ABSENT, {"lifecycle_rules": [{"Status": "Enabled"}]}, r"lifecycle_rules\[0\] needs an ID"),
        (ABSENT, {"lifecycle_rules": [RULE, RULE]}, r"lifecycle_rules\[1\] repeats ID 'expire-tmp'"),
        (ABSENT, {"lifecycle_rules": [{"ID": "x", "Status": "on"}]}, r"lifecycle_rules\[0\] \(x\) needs Status"),
    ],
)
def test_impossible_requests_are_refused_clearly(current, kwargs, message):
    with pytest.raises(s3.S3Error, match=message):
        s3.plan_bucket(current, "b", **kwargs)


def test_error_text_names_operation_bucket_key_and_code():
    err = s3.S3Error("Access Denied", bucket="b", key="x/y", code="AccessDenied", operation="PutObject", status=403)
    assert str(err) == "PutObject bucket b key x/y: Access Denied [AccessDenied]"
    assert err.to_dict()["code"] == "AccessDenied"


def test_translate_client_error():
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": "NoSuchBucket", "Message": "gone"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
        "GetBucketTagging",
    )
    err = s3.translate_error(exc, bucket="b")
    assert (err.code, err.operation, err.status, err.bucket) == ("NoSuchBucket", "GetBucketTagging", 404, "b")


def test_summarize_delete_objects():
    calls = [{"operation": "DeleteObjects", "params": {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}] * 3}}}]
    assert s3.summarize_calls(calls) == [{"operation": "DeleteObjects", "params": {"Bucket": "b", "count": 3}}]
