"""For every storage rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

S3 = {"endpoint_url": "https://s3.example.com", "cidr": "10.1.0.0/24", "access_key": "AK", "secret_key": "SK"}
BUCKETS = {"storage_attachments_bucket": "go-dev-attachments", "storage_backups_bucket": "go-dev-backups"}


def _instance(**extra):
    values = dict(
        BUCKETS,
        storage_s3=S3,
        storage_backup_lock={"mode": "COMPLIANCE", "days": 35},
        storage_backups_expire_days=400,
        storage_backups_noncurrent_days=7,
        storage_attachments_noncurrent_days=30,
        storage_abort_multipart_days=7,
    )
    values.update(extra)
    return values


CASES = {
    "storage.bucket_names": {
        "bad": [
            ({**BUCKETS, "storage_backups_bucket": "Backups"}, "storage_backups_bucket=Backups is not a valid bucket"),
            ({**BUCKETS, "storage_attachments_bucket": "a.b.c"}, "storage_attachments_bucket=a.b.c"),
            ({"storage_backups_bucket": "ok-backups"}, "storage_attachments_bucket= is not"),
        ],
        "good": [BUCKETS],
    },
    "storage.buckets_differ": {
        "bad": [({"storage_attachments_bucket": "same", "storage_backups_bucket": "same"}, "must differ")],
        "good": [BUCKETS],
    },
    "storage.endpoint_url": {
        "bad": [
            ({"storage_s3": {"endpoint_url": "s3.example.com"}}, "storage_s3.endpoint_url=s3.example.com must be"),
            ({"storage_s3": {"endpoint_url": "https://s3.example.com/bucket"}}, "without a path"),
            ({"storage_s3": {}}, "storage_s3.endpoint_url= must be"),
            # the pods' own address of the endpoint, when given, is a URL too
            (
                {"storage_s3": dict(S3, cluster_endpoint_url="198.19.2.1:18333")},
                "storage_s3.cluster_endpoint_url=198.19.2.1:18333 must be an http(s) URL without a path",
            ),
            ({"storage_s3": dict(S3, cluster_endpoint_url="http://minio.s3.svc/b")}, "without a path"),
        ],
        "good": [
            {"storage_s3": S3},
            {"storage_s3": {"endpoint_url": "http://minio:9000/"}},
            {"storage_s3": dict(S3, cluster_endpoint_url="http://198.19.2.1:18333")},
            {"storage_s3": dict(S3, cluster_endpoint_url="")},
        ],
    },
    "storage.endpoint_cidr": {
        "bad": [
            ({"storage_s3": {"endpoint_url": "https://s3"}}, "storage_s3.cidr[0] '' is not a valid IP"),
            ({"storage_s3": {"cidr": "0.0.0.0/0"}, "governed_odoo_environment": "prod"}, "any address"),
            ({"storage_s3": {"cidr": "10.1.0.1/24"}}, "has host bits set"),
        ],
        "good": [
            {"storage_s3": S3, "governed_odoo_environment": "prod"},
            {"storage_s3": {"cidr": "0.0.0.0/0"}, "governed_odoo_environment": "dev"},
        ],
    },
    "storage.instance_prefix": {
        "bad": [
            ({"storage_instance_prefix": "civil-dev"}, "storage_instance_prefix=civil-dev must be a key prefix"),
            ({"storage_instance_prefix": "/civil/"}, None),
            ({"storage_instance_prefix": "Civil/"}, None),
        ],
        "good": [{"storage_instance_prefix": "civil-dev/"}, {"storage_instance_prefix": "tenant/civil.dev/"}],
    },
    "storage.lifecycle_days": {
        "bad": [
            (_instance(storage_backups_noncurrent_days=0), "storage_backups_noncurrent_days=0 must be a whole number"),
            (_instance(storage_abort_multipart_days="soon"), "storage_abort_multipart_days=soon"),
            (_instance(storage_backups_expire_days=-1), "storage_backups_expire_days=-1"),
        ],
        "good": [_instance(), {"storage_backups_expire_days": "400"}, {}],
    },
    "storage.lock": {
        "bad": [
            ({"storage_backup_lock": {"mode": "COMPLIANCE", "days": 0}}, "storage_backup_lock.days=0"),
            ({"storage_backup_lock": {"mode": "compliance", "days": 3}}, "storage_backup_lock.mode=compliance"),
            ({"storage_backup_lock": {"mode": "GOVERNANCE"}}, "storage_backup_lock.days= must"),
            ({"storage_backup_lock": "35"}, "must be a mapping"),
        ],
        "good": [{"storage_backup_lock": {"mode": "GOVERNANCE", "days": 1}}, {"storage_backup_lock": {"days": 35}}],
    },
    "storage.expiry_exceeds_lock": {
        "bad": [
            (
                {"storage_backups_expire_days": 30, "storage_backup_lock": {"days": 35}},
                "storage_backups_expire_days=30 must exceed storage_backup_lock.days=35",
            ),
            ({"storage_backups_expire_days": 35, "storage_backup_lock": {"days": 35}}, None),
        ],
        "good": [{"storage_backups_expire_days": 36, "storage_backup_lock": {"days": 35}}],
    },
    "storage.retention_fits_lifecycle": {
        "bad": [
            (
                {"storage_backups_expire_days": 400, "backup_lock": {"days": 400}},
                "backup_lock.days=400 locks every backup at least as long as storage_backups_expire_days=400",
            ),
            (
                {"storage_backups_expire_days": 400, "backup_retention": {"yearly": 2}},
                "storage_backups_expire_days=400 is shorter than backup_retention keeps backups (yearly=2: 732 days)",
            ),
            # the role's default of 12 monthly backups needs 372 days
            ({"storage_backups_expire_days": 365, "backup_retention": {"daily": 7}}, "(monthly=12: 372 days)"),
            ({"storage_backups_expire_days": 60, "backup_retention": {"monthly": 0, "weekly": 10}}, "(weekly=10: 70"),
        ],
        "good": [
            {"storage_backups_expire_days": 400, "backup_lock": {"days": 35}, "backup_retention": {"monthly": 12}},
            {"storage_backups_expire_days": 400, "backup_retention": {}},
            {"storage_backups_expire_days": 30, "backup_retention": {"daily": 30, "weekly": 0, "monthly": 0}},
            {"storage_backups_expire_days": 800, "backup_retention": {"yearly": 2}},
        ],
    },
    "storage.shared_bucket_settings": {
        "bad": [
            (
                {"instances": {"civil-dev": _instance(), "civil-qa": _instance(storage_backups_expire_days=200)}},
                "storage_backups_expire_days differs between civil-dev (400) and civil-qa (200), which share bucket"
                " go-dev-backups at https://s3.example.com",
            ),
            (
                {
                    "instances": {
                        "a": _instance(),
                        "b": _instance(storage_attachments_noncurrent_days=5, storage_backups_bucket="other-backups"),
                    }
                },
                "storage_attachments_noncurrent_days differs between a (30) and b (5), which share bucket"
                " go-dev-attachments",
            ),
        ],
        "good": [
            {"instances": {"a": _instance(), "b": _instance()}},
            # different buckets (or endpoints) may differ
            {
                "instances": {
                    "a": _instance(),
                    "b": _instance(storage_backups_expire_days=200, storage_backups_bucket="go-qa-backups"),
                }
            },
            {
                "instances": {
                    "a": _instance(),
                    "b": _instance(storage_abort_multipart_days=1, storage_s3=dict(S3, endpoint_url="https://other")),
                }
            },
        ],
    },
}
