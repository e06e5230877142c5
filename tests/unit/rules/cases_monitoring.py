"""For every monitoring rule: inputs that trigger it and inputs that pass it (see cases_redis.py)."""

from __future__ import annotations

CLUSTER = {"governed_odoo_cluster": {"name": "lab"}}

CASES = {
    "monitoring.crds_required": {
        "bad": [
            (
                {"monitoring_mode": "enabled", "monitoring_crds": False, **CLUSTER},
                "monitoring_mode=enabled but cluster lab has no Prometheus Operator CRDs",
            ),
            ({"monitoring_mode": "enabled", "monitoring_crds_present": False, **CLUSTER}, "use monitoring_mode=auto"),
            # the role's task var, templated as text
            ({"monitoring_mode": "enabled", "monitoring_crds": "False", **CLUSTER}, None),
        ],
        "good": [
            {"monitoring_mode": "enabled", "monitoring_crds": True, **CLUSTER},
            {"monitoring_mode": "auto", "monitoring_crds": False, **CLUSTER},
            # not known before the role looks the CRDs up
            {"monitoring_mode": "enabled", "monitoring_crds_present": None, **CLUSTER},
            {"monitoring_mode": "enabled", "monitoring_crds_present": False, "monitoring_crds": True, **CLUSTER},
        ],
    },
    "monitoring.scrape_interval": {
        "bad": [
            ({"monitoring_scrape_interval": "30 sec"}, "monitoring_scrape_interval='30 sec' must be a Prometheus"),
            ({"monitoring_scrape_interval": 30}, None),
            ({"monitoring_scrape_interval": "1.5m"}, None),
            ({"monitoring_scrape_interval": ""}, None),
        ],
        "good": [{"monitoring_scrape_interval": "30s"}, {"monitoring_scrape_interval": "1m30s"}, {}],
    },
    "monitoring.alert_thresholds": {
        "bad": [
            ({"monitoring_http_error_ratio": 5}, "monitoring_http_error_ratio=5 must be a number above 0 and at"),
            ({"monitoring_redis_memory_ratio": "0.9 or vector(1)"}, "monitoring_redis_memory_ratio="),
            ({"monitoring_postgresql_connections_ratio": 0}, None),
            ({"monitoring_backup_max_age_hours": 0}, "monitoring_backup_max_age_hours=0 must be a whole number"),
            ({"monitoring_certificate_expiry_days": "14d"}, "monitoring_certificate_expiry_days=14d"),
            ({"monitoring_http_p95_seconds": 0}, "monitoring_http_p95_seconds=0 must be a whole number"),
            ({"monitoring_drill_max_age_days": "quarterly"}, "monitoring_drill_max_age_days=quarterly must be a whole"),
            ({"monitoring_connection_budget": "9 or vector(1)"}, "monitoring_connection_budget=9 or vector(1) must be"),
            ({"monitoring_cron_backlog_max_minutes": "30m"}, "monitoring_cron_backlog_max_minutes=30m must be a whole"),
        ],
        "good": [
            {
                "monitoring_http_error_ratio": 0.05,
                "monitoring_postgresql_connections_ratio": "0.8",
                "monitoring_redis_memory_ratio": 1,
                "monitoring_backup_max_age_hours": 26,
                "monitoring_certificate_expiry_days": "14",
                "monitoring_http_p95_seconds": 5,
                "monitoring_drill_max_age_days": 100,
                "monitoring_cron_backlog_max_minutes": 30,
                "monitoring_connection_budget": None,
            },
            {"monitoring_connection_budget": 120},
        ],
    },
    "monitoring.promql_names": {
        "bad": [
            ({"monitoring_odoo_metrics_path": "/m\n"}, "(a value with a control character)"),
            ({"monitoring_odoo_metrics_path": "metrics"}, "monitoring_odoo_metrics_path='metrics' must be empty or"),
        ],
        "good": [
            {"monitoring_odoo_metrics_path": "/metrics"},
            {"monitoring_odoo_metrics_path": ""},
        ],
    },
    "monitoring.selectors": {
        "bad": [
            ({"monitoring_labels": {"release name": "x"}}, "monitoring_labels: 'release name' is not a valid label"),
            ({"monitoring_labels": {"release": "kube prometheus"}}, "monitoring_labels.release='kube prometheus'"),
            ({"monitoring_labels": {"release": "a" * 64}}, None),
            ({"monitoring_prometheus": {"namespace": "Monitoring"}}, "monitoring_prometheus.namespace='Monitoring'"),
            ({"monitoring_prometheus": {"pod_labels": {"app": "p\n"}}}, "monitoring_prometheus.pod_labels.app="),
            ({"monitoring_labels": ["release"]}, "must be a mapping"),
        ],
        "good": [
            {
                "monitoring_labels": {"release": "kube-prometheus-stack", "example.com/team": ""},
                "monitoring_prometheus": {
                    "namespace": "monitoring",
                    "pod_labels": {"app.kubernetes.io/name": "prometheus"},
                },
            },
            {"monitoring_labels": {}},
        ],
    },
    "monitoring.pushgateway_url": {
        "bad": [
            ({"monitoring_pushgateway_url": "http://ops:s3cret@pushgw:9091"}, "(a URL with credentials, not shown)"),
            ({"monitoring_pushgateway_url": "pushgw:9091"}, "must be an http:// or https:// URL"),
            ({"monitoring_pushgateway_url": "http://pushgw:9091/\n"}, "(a value with a control character)"),
            ({"monitoring_pushgateway_url": "http://pushgw:9091/?x=1"}, "must not have a query or a fragment"),
            ({"monitoring_pushgateway_url": "http://pushgw:99999"}, "has an invalid port"),
            ({"monitoring_pushgateway_url": 9091}, "must be an http:// or https:// URL"),
        ],
        "good": [
            {"monitoring_pushgateway_url": ""},
            {"monitoring_pushgateway_url": None},
            {"monitoring_pushgateway_url": "http://pushgateway.monitoring.svc:9091"},
            {"monitoring_pushgateway_url": "https://pushgw.example.org/"},
        ],
    },
}
