# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring of one Odoo instance (Prometheus Operator), as roles/monitoring renders it: a ServiceMonitor per
in-cluster exporter (PostgreSQL, Redis) and for an Odoo metrics path, the Traefik ServiceMonitor kept to the
instance's own services, the NetworkPolicy admitting Prometheus' scrapes, and the PrometheusRule of the instance
(its recording and alerting rules: Odoo pods, Traefik traffic, certificates, backups, DR drills, database, PostgreSQL
and Redis).

The rules' expressions are PromQL text: they are built here exactly as the template wrote them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ansible_collections.governed.odoo.plugins.module_utils import observability
from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import (
    combine,
    instance_labels,
    to_bool,
    to_int,
    to_json,
)

API_MONITORING = "monitoring.coreos.com/v1"


def _context(v):
    """What every object of the layer reads: labels, selectors and the instance's alert labels."""
    ns = v["governed_odoo_namespace"]
    instance = v["governed_odoo_instance"]
    labels = instance_labels(v, **{"app.kubernetes.io/component": "monitoring"})
    # the one definition of the instance's Traefik services (plugins/module_utils/observability.py), shared with
    # governed.odoo.release_observation and the dashboards
    traefik_sel = observability.traefik_service_selector(ns)
    sel = 'namespace="' + str(ns) + '"'
    return {
        "ns": ns,
        "instance": instance,
        "labels": labels,
        "mon_labels": combine(labels, v["monitoring_labels"]),
        "sel": sel,
        "bsel": sel + ', cronjob="odoo-backup"',
        # the drill's metrics come from the Pushgateway (honor_labels): the grouping labels playbooks/dr_drill.yml
        # pushes
        "dsel": 'job="governed_odoo_drill", odoo_instance="' + str(instance) + '"',
        "traefik_sel": traefik_sel,
        "traefik_re": traefik_sel.split('"')[1],
        "alert_labels": {
            "odoo_instance": instance,
            "tenant": v["governed_odoo_tenant"],
            "environment": v["governed_odoo_environment"],
        },
    }


def _exporters(v):
    """Whether PostgreSQL and Redis run in the cluster with their exporters (Jinja's ``and``: the value decides)."""
    pg = v["postgresql_connection"]
    redis = v["redis_connection"]
    pg_exporter = pg["placement"] == "in_cluster" and pg.get("exporter", False)
    redis_exporter = redis["placement"] == "in_cluster" and redis.get("exporter", False)
    return pg_exporter, redis_exporter


def _scrape_targets(v, pg_exporter, redis_exporter):
    """The instance's pods Prometheus scrapes: the exporters, and Odoo when it has a metrics path."""
    scrape = []
    if pg_exporter:
        scrape.append({"name": "postgresql", "port": 9187, "selector": {"app.kubernetes.io/name": "postgresql"}})
    if redis_exporter:
        scrape.append({"name": "redis", "port": 9121, "selector": {"app.kubernetes.io/name": "redis"}})
    if v["monitoring_odoo_metrics_path"]:
        scrape.append(
            {
                "name": "odoo",
                "port": 8069,
                "path": v["monitoring_odoo_metrics_path"],
                "selector": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "web"},
            }
        )
    return scrape


def _connection_budget(v):
    """The instance's connection budget: as set, else the demand the odoo role worked out (and the rules checked
    against its server), else what its server makes available."""
    if v["monitoring_connection_budget"]:
        budget = v["monitoring_connection_budget"]
    elif "odoo_db_connection_demand" in v:
        budget = v["odoo_db_connection_demand"]
    else:
        budget = v["postgresql_connection"]["available"]
    return to_int(budget)


def _service_monitor(v, c, target):
    """The ServiceMonitor of one scrape target of the instance's namespace."""
    return {
        "apiVersion": API_MONITORING,
        "kind": "ServiceMonitor",
        "metadata": {"name": target["name"], "namespace": c["ns"], "labels": dict(c["mon_labels"])},
        "spec": {
            "selector": {"matchLabels": combine({"app.kubernetes.io/instance": c["instance"]}, target["selector"])},
            "namespaceSelector": {"matchNames": [c["ns"]]},
            "endpoints": [
                {
                    "port": "http" if target["name"] == "odoo" else "metrics",
                    "path": target.get("path", "/metrics"),
                    "interval": v["monitoring_scrape_interval"],
                }
            ],
        },
    }


def _traefik_service_monitor(v, c):
    """Traefik's metrics, kept to this instance's services only (the same pattern as the alert rules), with the
    instance's labels added: each instance scrapes its own series, none twice, and dashboards can group by
    tenant."""
    traefik_mon = combine(
        {
            "namespace": "traefik",
            "selector": {"app.kubernetes.io/name": "traefik"},
            "port": "metrics",
            "path": "/metrics",
        },
        v["monitoring_traefik_metrics"],
    )
    return {
        "apiVersion": API_MONITORING,
        "kind": "ServiceMonitor",
        "metadata": {"name": "traefik", "namespace": c["ns"], "labels": dict(c["mon_labels"])},
        "spec": {
            "selector": {"matchLabels": traefik_mon["selector"]},
            "namespaceSelector": {"matchNames": [traefik_mon["namespace"]]},
            "endpoints": [
                {
                    "port": traefik_mon["port"],
                    "path": traefik_mon["path"],
                    "interval": v["monitoring_scrape_interval"],
                    # dictsort: the alert labels by key, case-insensitively
                    "relabelings": [
                        {"action": "replace", "targetLabel": key, "replacement": value}
                        for key, value in sorted(c["alert_labels"].items(), key=lambda kv: str(kv[0]).lower())
                    ],
                    "metricRelabelings": [{"action": "keep", "sourceLabels": ["service"], "regex": c["traefik_re"]}],
                }
            ],
        },
    }


def _scrape_policy(v, c, scrape):
    """The NetworkPolicy admitting Prometheus' scrapes of the targets' pods."""
    prom = combine(
        {"namespace": "monitoring", "pod_labels": {"app.kubernetes.io/name": "prometheus"}}, v["monitoring_prometheus"]
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-prometheus-scrapes", "namespace": c["ns"], "labels": dict(c["labels"])},
        "spec": {
            "podSelector": {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/name", "operator": "In", "values": [t["name"] for t in scrape]},
                ]
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prom["namespace"]}},
                            "podSelector": {"matchLabels": prom["pod_labels"]},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": t["port"]} for t in scrape],
                }
            ],
        },
    }


# --- rules of the PrometheusRule -------------------------------------------------------------------------------


def _record(c, record, expr):
    """A recording rule, labelled with the instance's alert labels."""
    return {"record": record, "expr": expr, "labels": dict(c["alert_labels"])}


def _alert(c, alert, expr, severity, summary, for_=None, **labels):
    """An alerting rule of ``severity`` (then ``labels``) on top of the instance's alert labels."""
    rule = {"alert": alert, "expr": expr}
    if for_ is not None:
        rule["for"] = for_
    rule["labels"] = combine(c["alert_labels"], {"severity": severity}, labels)
    rule["annotations"] = {"summary": summary}
    return rule


def _odoo_rules(c):
    sel, inst = c["sel"], str(c["instance"])
    return [
        _alert(
            c,
            "OdooWebUnavailable",
            f'kube_deployment_status_replicas_available{{{sel}, deployment="odoo-web"}} < 1 and '
            f'kube_deployment_spec_replicas{{{sel}, deployment="odoo-web"}} > 0',
            "critical",
            f"No Odoo web pod of {inst} is available",
            for_="5m",
        ),
        _alert(
            c,
            "OdooCronStopped",
            f'kube_deployment_status_replicas_available{{{sel}, deployment="odoo-cron"}} < '
            f'kube_deployment_spec_replicas{{{sel}, deployment="odoo-cron"}}',
            "warning",
            f"Cron workers of {inst} are not all running: scheduled actions are delayed",
            for_="15m",
        ),
        _alert(
            c,
            "OdooPodRestarting",
            f'increase(kube_pod_container_status_restarts_total{{{sel}, container="odoo"}}[30m]) > 3',
            "warning",
            f"Odoo containers of {inst} restart repeatedly (memory limits, crashes)",
        ),
    ]


def _traefik_rules(v, c):
    tsel, inst = c["traefik_sel"], str(c["instance"])
    ratio = v["monitoring_http_error_ratio"]
    p95 = v["monitoring_http_p95_seconds"]
    return [
        # web traffic of the instance, per tenant, for the dashboards
        _record(c, "governed_odoo:http_requests:rate5m", f"sum(rate(traefik_service_requests_total{{{tsel}}}[5m]))"),
        _record(
            c,
            "governed_odoo:http_errors:rate5m",
            f'sum(rate(traefik_service_requests_total{{{tsel}, code=~"5.."}}[5m]))',
        ),
        _record(
            c,
            "governed_odoo:http_latency_p95:5m",
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(traefik_service_request_duration_seconds_bucket{{{tsel}}}[5m])))",
        ),
        # a folded block (>-): its two lines joined by a space
        _alert(
            c,
            "OdooHttpErrors",
            f'sum(rate(traefik_service_requests_total{{{tsel}, code=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate(traefik_service_requests_total{{{tsel}}}[5m])), 1e-9) > {ratio}",
            # Jinja's round: Python's round (an int stays an int)
            "warning",
            f"More than {round(ratio * 100, 1)}% of requests to {inst} fail with 5xx",
            for_="10m",
        ),
        _alert(
            c,
            "OdooSlowResponses",
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(traefik_service_request_duration_seconds_bucket{{{tsel}}}[10m]))) > {p95}",
            "warning",
            f"95th percentile response time of {inst} is above {p95}s",
            for_="15m",
        ),
    ]


def _certificate_rule(v, c, host):
    days = v["monitoring_certificate_expiry_days"]
    # Ansible's regex_escape (python): re.escape of the host's text; the pattern is written as a JSON string
    pattern = to_json("(.*,)?" + re.escape(str(host)) + "(,.*)?")
    return _alert(
        c,
        "OdooCertificateExpiring",
        f"min(traefik_tls_certs_not_after{{sans=~{pattern}}}) - time() < {days * 86400}",
        "warning",
        f"The certificate of {host} expires in less than {days} days",
        host=host,
    )


def _backup_rules(v, c):
    sel, bsel, inst = c["sel"], c["bsel"], str(c["instance"])
    hours = v["monitoring_backup_max_age_hours"]
    rules = [
        # what kube-state-metrics publishes about the backup CronJob (roles/backup): its last successful run
        _record(
            c, "governed_odoo:backup_age_seconds", f"time() - max(kube_cronjob_status_last_successful_time{{{bsel}}})"
        ),
        _alert(
            c,
            "OdooBackupStale",
            f"time() - max(kube_cronjob_status_last_successful_time{{{bsel}}}) > {hours * 3600}",
            "critical",
            f"The last successful backup of {inst} is older than {hours} hours",
        ),
        _alert(
            c,
            "OdooBackupNeverSucceeded",
            f"max(kube_cronjob_info{{{bsel}}}) unless max(kube_cronjob_status_last_successful_time{{{bsel}}})",
            "critical",
            f"The backup CronJob of {inst} exists but has never succeeded",
            for_=f"{hours}h",
        ),
        # the backup Job verifies what it wrote (playbooks/backup.yml) and fails when verification fails
        _alert(
            c,
            "OdooBackupFailed",
            f"max(kube_job_status_failed{{{sel}}} * on (namespace, job_name) group_left"
            f' kube_job_owner{{{sel}, owner_kind="CronJob", owner_name="odoo-backup"}}) > 0',
            "critical",
            f"A backup Job of {inst} failed (the backup or its verification)",
        ),
        # the backup role's weekly full verification with a test restore (CronJob odoo-backup-verify): its last
        # scheduled run has not succeeded for longer than the Job may run, or one of its Jobs failed
        _alert(
            c,
            "OdooBackupVerificationNotPassing",
            f'max(kube_cronjob_status_last_schedule_time{{{sel}, cronjob="odoo-backup-verify"}})'
            f' > max(kube_cronjob_status_last_successful_time{{{sel}, cronjob="odoo-backup-verify"}} or vector(0))',
            "critical",
            f"The last scheduled verification (test restore) of the backups of {inst} did not pass",
            for_="7h",
        ),
        _alert(
            c,
            "OdooBackupVerificationFailed",
            f"max(kube_job_status_failed{{{sel}}} * on (namespace, job_name) group_left"
            f' kube_job_owner{{{sel}, owner_kind="CronJob", owner_name="odoo-backup-verify"}}) > 0',
            "critical",
            f"A verification (test restore) of the backups of {inst} failed",
        ),
    ]
    if to_bool(v["monitoring_backup_required"]):
        rules.append(
            _alert(
                c,
                "OdooBackupNotScheduled",
                f"absent(kube_cronjob_info{{{bsel}}})",
                "warning",
                f"No backup CronJob is installed for {inst} (playbooks/backup.yml)",
                for_="1h",
            )
        )
    return rules


def _drill_rules(v, c):
    dsel, inst = c["dsel"], str(c["instance"])
    rules = [
        # what playbooks/dr_drill.yml pushes to the Pushgateway (monitoring_pushgateway_url) after each drill of the
        # instance: one group per instance (job governed_odoo_drill), replaced by the next drill
        _record(c, "governed_odoo:drill_rto_seconds", f"max(governed_odoo_drill_rto_seconds{{{dsel}}})"),
        _record(c, "governed_odoo:drill_rto_target_seconds", f"max(governed_odoo_drill_rto_target_seconds{{{dsel}}})"),
        _record(c, "governed_odoo:drill_rpo_seconds", f"max(governed_odoo_drill_rpo_seconds{{{dsel}}})"),
        _record(
            c,
            "governed_odoo:drill_age_seconds",
            f"time() - max(governed_odoo_drill_last_run_timestamp_seconds{{{dsel}}})",
        ),
        _alert(
            c,
            "OdooDrillFailed",
            f"max(governed_odoo_drill_success{{{dsel}}}) == 0",
            "warning",
            f"The last disaster-recovery drill of {inst} failed (see its drill report)",
        ),
        _alert(
            c,
            "OdooDrillRTOAboveTarget",
            f"max(governed_odoo_drill_rto_seconds{{{dsel}}}) > max(governed_odoo_drill_rto_target_seconds{{{dsel}}})",
            "warning",
            f"The last disaster-recovery drill of {inst} took longer than its RTO target",
        ),
        _alert(
            c,
            "OdooDrillRPOAboveTarget",
            f"max(governed_odoo_drill_rpo_seconds{{{dsel}}}) > max(governed_odoo_drill_rpo_target_seconds{{{dsel}}})",
            "warning",
            f"The last disaster-recovery drill of {inst} lost more data than its RPO target allows",
        ),
    ]
    if to_bool(v["monitoring_drill_required"]):
        days = v["monitoring_drill_max_age_days"]
        rules += [
            _alert(
                c,
                "OdooDrillOverdue",
                f"time() - max(governed_odoo_drill_last_run_timestamp_seconds{{{dsel}}}) > {days * 86400}",
                "warning",
                f"No disaster-recovery drill of {inst} in the last {days} days",
            ),
            _alert(
                c,
                "OdooDrillNeverRun",
                f"absent(governed_odoo_drill_last_run_timestamp_seconds{{{dsel}}})",
                "warning",
                f"No disaster-recovery drill of {inst} has published a result",
                for_=f"{days}d",
            ),
        ]
    return rules


def _database_rules(v, c):
    inst = str(c["instance"])
    db = v["postgresql_connection"]["database"]
    datname = "datname=" + to_json(db)
    budget = _connection_budget(v)
    ratio = v["monitoring_postgresql_connections_ratio"]
    minutes = v["monitoring_cron_backlog_max_minutes"]
    # Jinja's round(0, 'floor'): math.floor(x * 10**0) / 10**0 (a float), then int
    over_budget = to_int(math.floor(budget * ratio * 1) / 1)
    return [
        # the connections the instance may use (its budget) and the ones it uses (postgres_exporter's
        # pg_stat_activity_count of its database, wherever the exporter runs)
        _record(c, "governed_odoo:db_connection_budget", f"vector({budget})"),
        _record(c, "governed_odoo:db_connections", f"sum(pg_stat_activity_count{{{datname}}})"),
        _alert(
            c,
            "OdooDatabaseConnectionsOverBudget",
            f"sum(pg_stat_activity_count{{{datname}}}) > {over_budget}",
            "warning",
            f"Database {db} of {inst} uses more than {to_int(round(ratio * 100, 0))}% of its budget of {budget}"
            " connections",
            for_="10m",
        ),
        # Odoo's due scheduled actions, read from its ir_cron table by postgres_exporter with the query file this
        # role ships (roles/monitoring/files/postgres_exporter_queries.yml): Odoo exports no metric of its own for it
        _record(c, "governed_odoo:cron_backlog_jobs", f"max(governed_odoo_cron_backlog_jobs{{{datname}}})"),
        _record(c, "governed_odoo:cron_oldest_due_seconds", f"max(governed_odoo_cron_oldest_due_seconds{{{datname}}})"),
        _alert(
            c,
            "OdooCronBacklog",
            f"max(governed_odoo_cron_oldest_due_seconds{{{datname}}}) > {minutes * 60}",
            "warning",
            f"A scheduled action of {inst} has been due for more than {minutes} minutes without running",
            for_="10m",
        ),
    ]


def _postgresql_rules(v, c):
    sel, inst = c["sel"], str(c["instance"])
    ratio = v["monitoring_postgresql_connections_ratio"]
    return [
        _alert(c, "PostgreSQLDown", f"pg_up{{{sel}}} == 0", "critical", f"PostgreSQL of {inst} is down", for_="2m"),
        _alert(
            c,
            "PostgreSQLConnectionsNearLimit",
            f"sum by (pod) (pg_stat_activity_count{{{sel}}}) / max by (pod) (pg_settings_max_connections{{{sel}}})"
            f" > {ratio}",
            # round(0) without int: 80.0
            "warning",
            f"PostgreSQL of {inst} uses more than {round(ratio * 100, 0)}% of max_connections",
            for_="10m",
        ),
        _alert(
            c,
            "PostgreSQLReplicaLagging",
            f"pg_replication_lag_seconds{{{sel}}} > 300",
            "warning",
            f"The replica of {inst} lags more than 5 minutes",
            for_="10m",
        ),
    ]


def _redis_rules(v, c):
    sel, inst = c["sel"], str(c["instance"])
    ratio = v["monitoring_redis_memory_ratio"]
    return [
        _alert(
            c,
            "RedisDown",
            f"redis_up{{{sel}}} == 0",
            "critical",
            f"Redis (sessions) of {inst} is down: users are logged out",
            for_="2m",
        ),
        _alert(
            c,
            "RedisMemoryNearLimit",
            f"redis_memory_used_bytes{{{sel}}} / redis_memory_max_bytes{{{sel}}} > {ratio}"
            f" and redis_memory_max_bytes{{{sel}}} > 0",
            "warning",
            f"Redis of {inst} is close to maxmemory: sessions are being evicted",
            for_="10m",
        ),
    ]


def _hostnames(v):
    """``ingress_endpoint.hostnames | default([])``: an undefined endpoint or key gives no hostnames."""
    endpoint = v.get("ingress_endpoint")
    return endpoint.get("hostnames", []) if isinstance(endpoint, Mapping) else []


def _prometheus_rule(v, c, pg_exporter, redis_exporter):
    """The PrometheusRule of the instance: one group of rules per concern."""
    inst = str(c["instance"])
    groups = [
        {"name": f"odoo.{inst}", "rules": _odoo_rules(c)},
        {"name": f"traefik.{inst}", "rules": _traefik_rules(v, c)},
    ]
    hostnames = _hostnames(v)
    certificates = [_certificate_rule(v, c, host) for host in hostnames]
    if hostnames:
        groups.append({"name": f"certificates.{inst}", "rules": certificates})
    groups += [
        {"name": f"backup.{inst}", "rules": _backup_rules(v, c)},
        {"name": f"drill.{inst}", "rules": _drill_rules(v, c)},
        {"name": f"database.{inst}", "rules": _database_rules(v, c)},
    ]
    if pg_exporter:
        groups.append({"name": f"postgresql.{inst}", "rules": _postgresql_rules(v, c)})
    if redis_exporter:
        groups.append({"name": f"redis.{inst}", "rules": _redis_rules(v, c)})
    return {
        "apiVersion": API_MONITORING,
        "kind": "PrometheusRule",
        "metadata": {"name": f"odoo-{inst}", "namespace": c["ns"], "labels": dict(c["mon_labels"])},
        "spec": {"groups": groups},
    }


def objects(v):
    """The monitoring objects of one instance."""
    c = _context(v)
    pg_exporter, redis_exporter = _exporters(v)
    scrape = _scrape_targets(v, pg_exporter, redis_exporter)
    out = [_service_monitor(v, c, target) for target in scrape]
    out.append(_traefik_service_monitor(v, c))
    if scrape:
        out.append(_scrape_policy(v, c, scrape))
    out.append(_prometheus_rule(v, c, pg_exporter, redis_exporter))
    return out
