"""For every odoo rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

DIGEST = "@sha256:" + "a" * 64
RESERVED = ["admin_passwd", "db_host", "db_password", "workers"]
HPA_OFF = {"enabled": False, "min_replicas": 2, "max_replicas": 4, "cpu_utilization": 70}
HPA_ON = dict(HPA_OFF, enabled=True)
PROFILES = {
    "small": {
        "web_resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "cron_resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": 1, "memory": "2e9"}},
    }
}
VOLUME = {"size": "20Gi", "storage_class": "", "access_mode": "ReadWriteMany"}
OFF = {
    "enabled": True,
    "down": "0 20 * * 1-5",
    "up": "0 7 * * mon-fri",
    "time_zone": "Europe/Paris",
    "image": "bitnami/kubectl" + DIGEST,
    "apiserver_cidrs": ["10.96.0.1/32"],
    "apiserver_port": 443,
}


def off(**more):
    return {
        "odoo_offhours_settings": dict(OFF, **more),
        "odoo_hpa_settings": HPA_OFF,
        "governed_odoo_environment": "qa",
    }


def demand(**more):
    values = {
        "odoo_workers": 16,
        "odoo_max_cron_threads": 2,
        "odoo_db_maxconn": 64,
        "odoo_web_replicas": 1,
        "odoo_cron_replicas": 1,
        "odoo_hpa_settings": HPA_OFF,
    }
    values.update(more)
    return values


CONN = {
    "server": "external:db:5432",
    "available": 182,
    "max_connections": 200,
    "superuser_reserved_connections": 3,
    "reserved_connections": 10,
    "reporting_connection_limit": 5,
}
LIMITS = {
    "odoo_limit_memory_soft": 671088640,
    "odoo_limit_memory_hard": "1677721600",
    "odoo_limit_time_cpu": 600,
    "odoo_limit_time_real": 1200,
    "odoo_limit_time_real_cron": 0,
    "odoo_limit_request": 65536,
}

CASES = {
    "odoo.image_pinned": {
        "bad": [
            ({"odoo_image": "", "governed_odoo_environment": "dev"}, "odoo_image is required"),
            (
                {"odoo_image": "odoo:17.0", "governed_odoo_environment": "prod"},
                "odoo_image=odoo:17.0 must be pinned by digest (name@sha256:<64 hex>) in prod",
            ),
        ],
        "good": [
            {"odoo_image": "odoo:17.0", "governed_odoo_environment": "dev"},
            {"odoo_image": "odoo" + DIGEST, "governed_odoo_environment": "prod"},
        ],
    },
    "odoo.admin_password": {
        "bad": [({"odoo_admin_password": "short"}, "odoo_admin_password must be set"), ({}, None)],
        "good": [{"odoo_admin_password": "x" * 16}],
    },
    "odoo.size_profile": {
        "bad": [
            (
                {"governed_odoo_size": "huge", "odoo_profiles": PROFILES},
                "odoo_profiles has no entry for governed_odoo_size=huge",
            )
        ],
        "good": [{"governed_odoo_size": "small", "odoo_profiles": PROFILES}],
    },
    "odoo.processes": {
        "bad": [
            (
                {
                    "odoo_workers": 0,
                    "odoo_max_cron_threads": 1,
                    "odoo_db_maxconn": 8,
                    "governed_odoo_environment": "prod",
                },
                "odoo_workers=0 must be at least 1 in prod (multi-process) and never negative",
            ),
            ({"odoo_workers": -1, "odoo_max_cron_threads": 1, "odoo_db_maxconn": 8}, "odoo_workers=-1"),
            (
                {"odoo_workers": 2, "odoo_max_cron_threads": 0, "odoo_db_maxconn": 8},
                "odoo_max_cron_threads=0 must be at least 1",
            ),
            (
                {"odoo_workers": 2, "odoo_max_cron_threads": 1, "odoo_db_maxconn": 1},
                "odoo_db_maxconn=1 must be at least 2",
            ),
            ({"odoo_workers": "two", "odoo_max_cron_threads": 1, "odoo_db_maxconn": 8}, "odoo_workers=two"),
        ],
        "good": [
            {"odoo_workers": 0, "odoo_max_cron_threads": 1, "odoo_db_maxconn": 8, "governed_odoo_environment": "dev"},
            {
                "odoo_workers": "2",
                "odoo_max_cron_threads": "1",
                "odoo_db_maxconn": "8",
                "governed_odoo_environment": "prod",
            },
        ],
    },
    "odoo.web_drain": {
        "bad": [
            (
                {"odoo_web_drain_seconds": 90},
                "odoo_web_drain_seconds=90 must be a whole number of seconds from 0 to 50",
            ),
            ({"odoo_web_drain_seconds": -1}, "odoo_web_drain_seconds=-1 must be a whole number"),
            ({"odoo_web_drain_seconds": "5s"}, "odoo_web_drain_seconds=5s must be a whole number"),
        ],
        "good": [{"odoo_web_drain_seconds": 0}, {"odoo_web_drain_seconds": "50"}, {}],
    },
    "odoo.replicas": {
        "bad": [
            ({"odoo_web_replicas": 0, "odoo_cron_replicas": 1}, "odoo_web_replicas=0 must be at least 1"),
            (
                {"odoo_web_replicas": 1, "odoo_cron_replicas": -1},
                "odoo_cron_replicas=-1 must be a whole number, 0 or more",
            ),
            (
                {
                    "odoo_web_replicas": 1,
                    "odoo_cron_replicas": 1,
                    "odoo_hpa_settings": dict(HPA_ON, min_replicas=3, max_replicas=2),
                },
                "odoo_hpa.min_replicas=3 and odoo_hpa.max_replicas=2 must satisfy 1 <= min <= max",
            ),
            (
                {"odoo_web_replicas": 1, "odoo_cron_replicas": 1, "odoo_hpa_settings": dict(HPA_ON, cpu_utilization=0)},
                "odoo_hpa.cpu_utilization=0",
            ),
        ],
        "good": [
            {"odoo_web_replicas": 1, "odoo_cron_replicas": 0, "odoo_hpa_settings": HPA_OFF},
            {
                "odoo_web_replicas": 1,
                "odoo_cron_replicas": 1,
                "odoo_hpa_settings": dict(HPA_ON, min_replicas=2, max_replicas=2),
            },
        ],
    },
    "odoo.memory_limits": {
        "bad": [
            (
                {"odoo_limit_memory_soft": 3000000000, "odoo_limit_memory_hard": 2000000000},
                "odoo_limit_memory_soft=3000000000 exceeds odoo_limit_memory_hard=2000000000",
            )
        ],
        "good": [{"odoo_limit_memory_soft": "671088640", "odoo_limit_memory_hard": 1677721600}],
    },
    "odoo.limits": {
        "bad": [
            (dict(LIMITS, odoo_limit_time_cpu="600s"), "odoo_limit_time_cpu=600s must be a whole number, at least 1"),
            (dict(LIMITS, odoo_limit_request="1\ndb_host = evil"), "odoo_limit_request="),
            (
                dict(LIMITS, odoo_limit_time_real_cron=-1),
                "odoo_limit_time_real_cron=-1 must be a whole number, at least 0",
            ),
        ],
        "good": [LIMITS],
    },
    "odoo.extra_options": {
        "bad": [
            (
                {"odoo_extra_options": {"db_host": "evil"}, "odoo_reserved_options": RESERVED},
                "odoo_extra_options may not set db_host (managed by other variables)",
            ),
            # Odoo lower-cases option names: DB_HOST is db_host
            ({"odoo_extra_options": {"DB_HOST": "evil"}, "odoo_reserved_options": RESERVED}, "may not set DB_HOST"),
            (
                {
                    "odoo_extra_options": {"log_level": "info\ndb_host = evil.example"},
                    "odoo_reserved_options": RESERVED,
                },
                "odoo_extra_options holds a control character (a line break?) in option 'log_level'",
            ),
            (
                {"odoo_extra_options": {"log level": "info"}, "odoo_reserved_options": RESERVED},
                "lower-case odoo.conf option name",
            ),
            (
                {"odoo_extra_options": {"Log_Level": "info"}, "odoo_reserved_options": RESERVED},
                "lower-case odoo.conf option name",
            ),
            (
                {"odoo_extra_options": {"csv_internal_sep": [";"]}, "odoo_reserved_options": RESERVED},
                "must be a plain value",
            ),
            ({"odoo_extra_options": "log_level=debug", "odoo_reserved_options": RESERVED}, "must be a mapping"),
        ],
        "good": [
            {
                "odoo_extra_options": {"log_level": "debug", "limit_time_real_cron": 300, "unaccent": True},
                "odoo_reserved_options": RESERVED,
            },
            {"odoo_extra_options": {}, "odoo_reserved_options": RESERVED},
        ],
    },
    "odoo.conf_text": {
        "bad": [
            ({"odoo_dbfilter": "^civil$\ndb_host = evil"}, "odoo_dbfilter holds a control character"),
            ({"odoo_addons_path": ["/mnt/a\n", "/mnt/b"]}, "odoo_addons_path holds a control character"),
            ({"odoo_server_wide_modules": ["base,evil"]}, "odoo_server_wide_modules entries may not contain a comma"),
        ],
        "good": [
            {
                "odoo_dbfilter": "^civil_dev$",
                "odoo_addons_path": ["/mnt/a"],
                "odoo_server_wide_modules": ["base", "web"],
            }
        ],
    },
    "odoo.quantities": {
        "bad": [
            (
                {
                    "governed_odoo_size": "small",
                    "odoo_profiles": {"small": {"web_resources": {"limits": {"memory": "2 GB"}}}},
                },
                "odoo_profiles.small.web_resources.limits.memory=2 GB is not a Kubernetes quantity",
            ),
            (
                {
                    "governed_odoo_size": "small",
                    "odoo_profiles": {
                        "small": {"cron_resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}
                    },
                },
                "odoo_profiles.small.cron_resources.requests.cpu is above",
            ),
            (
                {
                    "governed_odoo_size": "small",
                    "odoo_profiles": PROFILES,
                    "odoo_filestore": "volume",
                    "odoo_filestore_volume_settings": dict(VOLUME, size="20GiB"),
                },
                "odoo_filestore_volume.size=20GiB is not a positive Kubernetes quantity",
            ),
            (
                {
                    "governed_odoo_size": "small",
                    "odoo_profiles": PROFILES,
                    "odoo_filestore": "volume",
                    "odoo_filestore_volume_settings": dict(VOLUME, access_mode="RWX"),
                },
                "odoo_filestore_volume.access_mode=RWX",
            ),
        ],
        "good": [
            {
                "governed_odoo_size": "small",
                "odoo_profiles": PROFILES,
                "odoo_filestore": "volume",
                "odoo_filestore_volume_settings": VOLUME,
            },
            {"governed_odoo_size": "small", "odoo_profiles": PROFILES, "odoo_filestore": "object_storage"},
        ],
    },
    "odoo.uid": {
        "bad": [({"odoo_uid": 0}, "odoo_uid=0 must be a user id from 1 to 2147483647"), ({"odoo_uid": "odoo"}, None)],
        "good": [{"odoo_uid": 101}],
    },
    "odoo.filestore": {
        "bad": [
            (
                {
                    "odoo_filestore": "volume",
                    "odoo_filestore_volume_settings": dict(VOLUME, access_mode="ReadWriteOnce"),
                    "odoo_web_pods_max": "1",
                    "odoo_cron_replicas": 1,
                },
                "odoo_filestore_volume.access_mode=ReadWriteOnce cannot be shared by 2 pods",
            )
        ],
        "good": [
            {
                "odoo_filestore": "volume",
                "odoo_filestore_volume_settings": dict(VOLUME, access_mode="ReadWriteOnce"),
                "odoo_web_pods_max": 1,
                "odoo_cron_replicas": 0,
            },
            {
                "odoo_filestore": "object_storage",
                "odoo_filestore_volume_settings": dict(VOLUME, access_mode="ReadWriteOnce"),
                "odoo_web_pods_max": 4,
                "odoo_cron_replicas": 1,
            },
        ],
    },
    "odoo.offhours": {
        "bad": [
            (dict(off(), governed_odoo_environment="prod"), "odoo_offhours.enabled is refused in prod"),
            (dict(off(), odoo_hpa_settings=HPA_ON), "cannot be combined with odoo_hpa.enabled"),
            (off(image=""), "odoo_offhours.image is required"),
            (off(image="bitnami/kubectl:1.30"), "odoo_offhours.image=bitnami/kubectl:1.30 must be pinned by digest"),
            (off(down="0 20 * *"), "odoo_offhours.down=0 20 * * must be a five-field cron schedule"),
            (
                off(up="0 25 * * 1-5"),
                "odoo_offhours.up=0 25 * * 1-5 must be a five-field cron schedule: odoo_offhours.up="
                "'0 25 * * 1-5': hour 25",
            ),
            (off(time_zone="Mars/Olympus"), "odoo_offhours.time_zone='Mars/Olympus' is not a known IANA time zone"),
            (off(down="0 20 * * 7"), "day of week 7 is outside 0-6"),
            (off(apiserver_port=0), "odoo_offhours.apiserver_port=0 must be a port from 1 to 65535"),
            (off(apiserver_port=70000), "odoo_offhours.apiserver_port=70000"),
            (off(apiserver_cidrs=[]), "odoo_offhours.apiserver_cidrs is required"),
            (off(apiserver_cidrs=["10.96.0.300/32"]), "odoo_offhours.apiserver_cidrs[0]"),
        ],
        "good": [
            off(),
            dict(off(enabled=False, down="nonsense"), governed_odoo_environment="prod"),
            dict(
                off(down="@daily", up="*/15 7-19 * * MON-FRI", image="kubectl:1", time_zone="Etc/UTC"),
                governed_odoo_environment="dev",
            ),
        ],
    },
    "odoo.connection_budget": {
        "bad": [
            (
                dict(demand(), postgresql_connection=CONN),
                "connection budget exceeded on external:db:5432: web pods (odoo_web_replicas=1) x (odoo_workers=16 + 1"
                " gevent) x odoo_db_maxconn=64 + cron pods (odoo_cron_replicas=1) x odoo_max_cron_threads=2 x"
                " odoo_db_maxconn=64 = 1216 connections > 182 available (max_connections=200",
            ),
            (
                dict(
                    demand(odoo_workers=1, odoo_db_maxconn=8, odoo_hpa_settings=dict(HPA_ON, max_replicas=20)),
                    postgresql_connection=CONN,
                ),
                "web pods (odoo_hpa.max_replicas=20)",
            ),
        ],
        "good": [
            dict(demand(odoo_workers=2, odoo_db_maxconn=8), postgresql_connection=CONN),
            # before the postgresql role worked out the server (check_instances): postgresql.connection_budget's job
            demand(),
        ],
    },
}
