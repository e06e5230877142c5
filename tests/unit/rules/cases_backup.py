"""For every backup rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

DIGEST = "@sha256:" + "a" * 64
S3 = {"endpoint_url": "https://s3.example.com", "cidr": "10.1.0.0/24"}
DB = {"host": "db.example.com", "name": "civil_dev", "cidr": "10.2.0.0/24"}
COPY = {
    "endpoint_url": "https://s3.other.example",
    "bucket": "go-dev-backups-copy",
    "access_key": "AK",
    "secret_key": "SK",
    "cidr": "10.3.0.0/24",
}
SCHEDULE = {"backup_install_schedule": True}
NO_SCHEDULE = {"backup_install_schedule": "false"}

CASES = {
    "backup.bucket": {
        "bad": [
            ({"backup_bucket": "Backups"}, "backup_bucket=Backups is not a valid bucket name"),
            ({"backup_bucket": "go-backups", "backup_prefix": "civil"}, "backup_prefix=civil must be empty or a key"),
            ({"backup_bucket": "go-backups", "backup_prefix": "civil/\n"}, None),
        ],
        "good": [
            {"backup_bucket": "go.dev-backups", "backup_prefix": ""},
            {"backup_bucket": "b-1", "backup_prefix": "A/"},
        ],
    },
    "backup.endpoint": {
        "bad": [
            ({"backup_s3": {"endpoint_url": "s3", "cidr": "10.1.0.0/24"}}, "backup_s3.endpoint_url=s3 must be an"),
            ({"backup_s3": {"endpoint_url": "https://s3"}}, "backup_s3.cidr[0] '' is not a valid IP"),
            ({"backup_s3": dict(S3, cidr="0.0.0.0/0"), "governed_odoo_environment": "prod"}, "any address"),
            (
                {"backup_s3": dict(S3, cluster_endpoint_url="s3.svc:8333")},
                "backup_s3.cluster_endpoint_url=s3.svc:8333 must be an http(s) URL without a path",
            ),
        ],
        "good": [
            {"backup_s3": S3, "governed_odoo_environment": "prod"},
            {"backup_s3": dict(S3, cluster_endpoint_url="http://198.19.2.1:18333")},
        ],
    },
    "backup.database": {
        "bad": [
            ({"backup_database": {"name": "x"}}, "backup_database.host is required"),
            (
                {"backup_database": dict(DB, host="postgresql.civil-dev.svc")},
                "backup_database.host=postgresql.civil-dev.svc is only reachable inside the cluster",
            ),
            ({"backup_database": dict(DB, host="pg.ns.svc.cluster.local."), "backup_run_now": "true"}, "inside the"),
            ({"backup_database": dict(DB, name="civil dev")}, "backup_database.name=civil dev is not a valid Odoo"),
            ({"backup_database": dict(DB, cidr="10.2.0.1/24")}, "backup_database.cidr[0] '10.2.0.1/24' has host bits"),
        ],
        "good": [
            {"backup_database": DB},
            {"backup_database": dict(DB, host="postgresql.civil-dev.svc", cidr=""), "backup_run_now": False},
            # the CronJob's own run, inside the cluster, reaches the in-cluster server
            {"backup_database": dict(DB, host="postgresql.civil-dev.svc"), "governed_odoo_backup_in_cluster": True},
        ],
    },
    "backup.secrets": {
        "bad": [
            ({"backup_database_password": ""}, "backup_database_password must be set"),
            ({"backup_database_password": None}, None),
            ({"backup_database_password": "pw", "backup_encryption_key": "short"}, "backup_encryption_key must be 32"),
            ({"backup_database_password": "pw", "backup_encryption_key": "a" * 64 + "\nb"}, None),
        ],
        "good": [
            {"backup_database_password": "pw", "backup_encryption_key": ""},
            {"backup_database_password": 12345, "backup_encryption_key": "0123456789abcdef" * 4},
            {"backup_database_password": "pw", "backup_encryption_key": "A" * 43 + "="},
        ],
    },
    "backup.lock": {
        "bad": [
            ({"backup_lock": {"mode": "FOREVER", "days": 1}}, "backup_lock.mode=FOREVER must be one of COMPLIANCE"),
            ({"backup_lock": {"mode": "COMPLIANCE", "days": -1}}, "backup_lock.days=-1 must not be negative"),
            ({"backup_lock": {"days": "soon"}}, "backup_lock.days=soon must be a whole number"),
            ({"backup_lock": "35"}, "must be a mapping"),
        ],
        "good": [{"backup_lock": {"mode": "GOVERNANCE", "days": 0}}, {"backup_lock": {"days": "35"}}, {}],
    },
    "backup.filestore_s3": {
        "bad": [
            (
                {"backup_filestore": "object_storage", "backup_filestore_s3": {"bucket": "B"}, "backup_bucket": "b-b"},
                "backup_filestore_s3.bucket=B is not a valid bucket name",
            ),
            (
                {"backup_filestore": "object_storage", "backup_filestore_s3": {"bucket": "att", "prefix": "x"}},
                "backup_filestore_s3.prefix=x must be empty or a key prefix ending with /",
            ),
            (
                {"backup_filestore": "object_storage", "backup_filestore_s3": {"bucket": "bk"}, "backup_bucket": "bk"},
                "backup_filestore_s3.bucket=bk is the backup store itself",
            ),
        ],
        "good": [
            {"backup_filestore": "object_storage", "backup_filestore_s3": {"bucket": "att", "prefix": "civil/"}},
            {"backup_filestore": "volume", "backup_filestore_s3": {"bucket": "X"}, "backup_bucket": "X"},
        ],
    },
    "backup.transfer": {
        "bad": [
            ({"backup_compression_level": 22}, "backup_compression_level=22 must be between 1 and 19"),
            ({"backup_compression_level": "fast"}, None),
            ({"backup_threads": 0}, "backup_threads=0 must be at least 1"),
            ({"backup_retention_grace_hours": "x"}, "backup_retention_grace_hours=x must be at least 1"),
        ],
        "good": [{"backup_compression_level": "19", "backup_threads": 8, "backup_retention_grace_hours": 24}, {}],
    },
    "backup.copy_to": {
        "bad": [
            ({"backup_copy_to": dict(COPY, endpoint_url="s3/x")}, "backup_copy_to.endpoint_url=s3/x must be an http"),
            ({"backup_copy_to": dict(COPY, bucket="B")}, "backup_copy_to.bucket=B is not a valid bucket name"),
            ({"backup_copy_to": dict(COPY, secret_key="")}, "backup_copy_to.access_key and backup_copy_to.secret_key"),
            (
                {
                    "backup_copy_to": dict(COPY, endpoint_url=S3["endpoint_url"], bucket="go-bk", prefix=""),
                    "backup_s3": S3,
                    "backup_bucket": "go-bk",
                    "backup_prefix": "",
                },
                "backup_copy_to names the primary store itself",
            ),
            ({"backup_copy_to": dict(COPY, cidr=""), **SCHEDULE}, "backup_copy_to.cidr is required"),
            ({"backup_copy_to": dict(COPY, cidr="10.3.0.1/24"), **SCHEDULE}, "backup_copy_to.cidr[0]"),
            ({"backup_copy_to": ["x"]}, "must be a mapping"),
        ],
        "good": [
            {"backup_copy_to": COPY, **SCHEDULE, "backup_s3": S3, "backup_bucket": "go-dev-backups-copy"},
            {"backup_copy_to": dict(COPY, cidr=""), **NO_SCHEDULE},
            {"backup_copy_to": {}},
        ],
    },
    "backup.retention": {
        "bad": [
            ({"backup_retention": {"daily": "seven"}}, "backup_retention.daily=seven must be a whole number >= 0"),
            ({"backup_retention": {"hourly": 3}}, "backup_retention has unknown keys hourly"),
            ({"backup_retention": {"keep_last": 0}}, "backup_retention.keep_last=0 must be at least 1"),
            ({"backup_retention": {"timezone": "Europe/Brusels"}}, "backup_retention.timezone='Europe/Brusels'"),
        ],
        "good": [
            {"backup_retention": {"daily": 7, "weekly": "4", "monthly": 12, "timezone": "Europe/Brussels"}},
            {"backup_retention": {}},
        ],
    },
    "backup.schedule": {
        "bad": [
            ({"backup_schedule": "61 1 * * *", **SCHEDULE}, "minute 61 is outside 0-59"),
            ({"backup_schedule": "0 30 1 * * *"}, "five fields"),
            ({"backup_schedule": "30 1 * * *", "backup_time_zone": "Europe/Brusels"}, "backup_time_zone="),
        ],
        "good": [
            {"backup_schedule": "30 1 * * *", "backup_time_zone": "Etc/UTC", **SCHEDULE},
            {"backup_schedule": "nonsense", **NO_SCHEDULE},
        ],
    },
    "backup.verify_schedule": {
        "bad": [
            ({"backup_verify_schedule": "0 4 * * 8", **SCHEDULE}, "backup_verify_schedule='0 4 * * 8': day of week 8"),
            ({"backup_verify_schedule": "0 4 * *"}, "five fields"),
            ({"backup_verify_schedule": "TZ=UTC 0 4 * * 0"}, "backup_verify_schedule"),
            ({"backup_verify_schedule": "@weekly", "backup_time_zone": "Mars/Base"}, "backup_time_zone="),
            ({"backup_verify_schedule": "", "governed_odoo_environment": "prod"}, "prod backups must be verified"),
            ({"backup_verify_schedule": None, "governed_odoo_environment": "prod"}, None),
        ],
        "good": [
            {"backup_verify_schedule": "0 4 * * 0", "backup_time_zone": "Europe/Brussels", **SCHEDULE},
            {"backup_verify_schedule": "@weekly", "governed_odoo_environment": "prod"},
            {"backup_verify_schedule": "", "governed_odoo_environment": "dev"},
            {"backup_verify_schedule": "", "governed_odoo_environment": "prod", **NO_SCHEDULE},
            {"backup_verify_schedule": "nonsense", **NO_SCHEDULE},
        ],
    },
    "backup.verify_restore": {
        "bad": [
            ({"backup_verify_schedule": "@weekly", "backup_verify_restore": {"host": "scratch", "port": 5432},
              "backup_verify_restore_password": "pw"}, "backup_verify_restore.user is required"),
            ({"backup_verify_schedule": "@weekly", "backup_verify_restore": {"host": "scratch", "user": "v"},
              "backup_verify_restore_password": ""}, "backup_verify_restore_password must be set"),
            ({"backup_verify_schedule": "@weekly", "backup_verify_restore": {"host": "s", "user": "v", "port": 0},
              "backup_verify_restore_password": "pw"}, "backup_verify_restore.port=0 must be a TCP port"),
            ({"backup_verify_schedule": "@weekly",
              "backup_verify_restore": {"host": "s", "user": "v", "cidr": "10.0.0.1/8"},
              "backup_verify_restore_password": "pw"}, "backup_verify_restore.cidr[0] '10.0.0.1/8' has host bits"),
        ],
        "good": [
            {"backup_verify_schedule": "@weekly", "backup_verify_restore": {}, "backup_verify_restore_password": ""},
            {"backup_verify_schedule": "@weekly", "backup_verify_restore_password": "pw",
             "governed_odoo_environment": "prod",
             "backup_verify_restore": {"host": "pg-scratch", "user": "v", "port": "5433", "cidr": "10.80.0.30/32"}},
            {"backup_verify_schedule": "", "backup_verify_restore": {"host": "s"}},
            {"backup_verify_schedule": "@weekly", "backup_verify_restore": {"host": "s"}, **NO_SCHEDULE},
        ],
    },
    "backup.runner_image": {
        "bad": [
            ({"backup_runner_image": "", **SCHEDULE}, "backup_runner_image is required to install the backup schedule"),
            (
                {"backup_runner_image": "ghcr.io/x/runner:1", "governed_odoo_environment": "qa"},
                "backup_runner_image=ghcr.io/x/runner:1 must be pinned by digest (name@sha256:<64 hex>) in qa",
            ),
        ],
        "good": [
            {"backup_runner_image": "ghcr.io/x/runner:1", "governed_odoo_environment": "dev"},
            {"backup_runner_image": "ghcr.io/x/runner" + DIGEST, "governed_odoo_environment": "prod"},
            {"backup_runner_image": "", **NO_SCHEDULE},
        ],
    },
    "backup.job_settings": {
        "bad": [
            ({"backup_active_deadline_seconds": 0}, "backup_active_deadline_seconds=0 must be at least 1"),
            ({"backup_runner_uid": "root"}, "backup_runner_uid=root must be at least 1"),
            ({"backup_backoff_limit": -1}, "backup_backoff_limit=-1 must not be negative"),
            ({"backup_data_dir": "var/lib/odoo"}, "backup_data_dir=var/lib/odoo must be an absolute path"),
            ({"backup_data_dir": "/var/lib/odoo\n"}, None),
        ],
        "good": [
            {
                "backup_starting_deadline_seconds": 3600,
                "backup_active_deadline_seconds": "14400",
                "backup_ttl_seconds_after_finished": 604800,
                "backup_runner_uid": 101,
                "backup_backoff_limit": 0,
                "backup_successful_jobs_history_limit": 3,
                "backup_failed_jobs_history_limit": 3,
                "backup_data_dir": "/var/lib/odoo",
            },
            {"backup_active_deadline_seconds": 0, **NO_SCHEDULE},
        ],
    },
}

CASES["backup.quantities"] = {
    "bad": [
        ({"backup_runner_resources": {"limits": {"memory": "1 GB"}}}, "backup_runner_resources.limits.memory=1 GB"),
        (
            {"backup_runner_resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
            "backup_runner_resources.requests.cpu is above",
        ),
        ({"backup_tmp_size": "1 GB"}, "backup_tmp_size=1 GB is not a positive Kubernetes quantity"),
    ],
    "good": [
        {
            "backup_runner_resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1"}},
            "backup_tmp_size": "1Gi",
        },
        {"backup_tmp_size": "1 GB", **NO_SCHEDULE},
    ],
}
