"""The monitoring role's alert rules, as the role renders them, under `promtool test rules` (Debian's prometheus
package): every alert has a case that fires it and one that does not, and the recording rules give the values
the dashboards plot. The role is rendered for a prod instance with every optional group (host names, in-cluster
PostgreSQL and Redis with exporters), so that every rule the role can write is here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _localplay import run_local_play

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
NS, INSTANCE, TENANT, ENV, DB = "civil-prod", "civil-prod", "civil", "prod", "civil_prod"
SVC = f"{NS}-odoo-f64079a99a713c0fc097@kubernetescrd"  # as Traefik names a route's service
BASE = {"odoo_instance": INSTANCE, "tenant": TENANT, "environment": ENV}
DRILL = {"job": "governed_odoo_drill", "odoo_instance": INSTANCE}
VARS = {
    "governed_odoo_tenant": TENANT, "governed_odoo_environment": ENV, "governed_odoo_instance": INSTANCE,
    "governed_odoo_namespace": NS, "governed_odoo_cluster": {"name": "lab"}, "monitoring_crds_present": True,
    "monitoring_connection_budget": 50,
    "postgresql_connection": {"placement": "in_cluster", "exporter": True, "database": DB, "available": 182},
    "redis_connection": {"placement": "in_cluster", "exporter": True},
    "ingress_endpoint": {"hostnames": ["erp.civil.example"]},
}
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: governed.odoo.monitoring
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/objects.json"
        content: "{{ monitoring_objects }}"
        mode: "0600"
"""


def render_monitoring(tmp: Path, variables: dict) -> list[dict]:
    """The monitoring role's objects for ``variables`` (extra vars, so that hostvars see them as inventory would)."""
    (tmp / "play.yml").write_text(PLAY)
    (tmp / "vars.json").write_text(json.dumps(variables))
    run_local_play(tmp / "play.yml", "-e", f"@{tmp / 'vars.json'}")
    return json.loads((tmp / "objects.json").read_text())


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return render_monitoring(tmp_path_factory.mktemp("monitoring"), VARS)


@pytest.fixture(scope="module")
def rules_file(objects, tmp_path_factory):
    groups = [g for o in objects if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"]]
    path = tmp_path_factory.mktemp("rules") / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _alerts(rules_file):
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def s(metric, **labels):
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


# alert -> {"fire": (series, eval_time, labels the expression adds), "quiet": (series, eval_time)}
# series: [(series, values)], values in promtool's expanding notation, one sample per `interval` (1m)
CASES = {
    "OdooWebUnavailable": {
        "fire": ([(s("kube_deployment_status_replicas_available", namespace=NS, deployment="odoo-web"), "0x20"),
                  (s("kube_deployment_spec_replicas", namespace=NS, deployment="odoo-web"), "2x20")],
                 "10m", {"namespace": NS, "deployment": "odoo-web"}),
        "quiet": ([(s("kube_deployment_status_replicas_available", namespace=NS, deployment="odoo-web"), "2x20"),
                   (s("kube_deployment_spec_replicas", namespace=NS, deployment="odoo-web"), "2x20")], "10m"),
    },
    "OdooCronStopped": {
        "fire": ([(s("kube_deployment_status_replicas_available", namespace=NS, deployment="odoo-cron"), "0x30"),
                  (s("kube_deployment_spec_replicas", namespace=NS, deployment="odoo-cron"), "1x30")],
                 "20m", {"namespace": NS, "deployment": "odoo-cron"}),
        "quiet": ([(s("kube_deployment_status_replicas_available", namespace=NS, deployment="odoo-cron"), "1x30"),
                   (s("kube_deployment_spec_replicas", namespace=NS, deployment="odoo-cron"), "1x30")], "20m"),
    },
    "OdooPodRestarting": {
        "fire": ([(s("kube_pod_container_status_restarts_total", namespace=NS, container="odoo", pod="odoo-web-0"),
                   "0+1x40")], "35m", {"namespace": NS, "container": "odoo", "pod": "odoo-web-0"}),
        "quiet": ([(s("kube_pod_container_status_restarts_total", namespace=NS, container="odoo", pod="odoo-web-0"),
                    "0+1x2 2x38")], "35m"),
    },
    "OdooHttpErrors": {
        "fire": ([(s("traefik_service_requests_total", service=SVC, code="500"), "0+60x40"),
                  (s("traefik_service_requests_total", service=SVC, code="200"), "0+60x40")], "25m", {}),
        "quiet": ([(s("traefik_service_requests_total", service=SVC, code="500"), "0+1x40"),
                   (s("traefik_service_requests_total", service=SVC, code="200"), "0+600x40"),
                   # another instance's errors are not this instance's
                   (s("traefik_service_requests_total", service="civil-dev-odoo-0a1b2c3d4e5f60718293@kubernetescrd",
                      code="500"), "0+600x40")], "25m"),
    },
    "OdooSlowResponses": {
        "fire": ([(s("traefik_service_request_duration_seconds_bucket", service=SVC, le="1"), "0x40"),
                  (s("traefik_service_request_duration_seconds_bucket", service=SVC, le="10"), "0+10x40"),
                  (s("traefik_service_request_duration_seconds_bucket", service=SVC, le="+Inf"), "0+10x40")],
                 "35m", {}),
        "quiet": ([(s("traefik_service_request_duration_seconds_bucket", service=SVC, le="1"), "0+10x40"),
                   (s("traefik_service_request_duration_seconds_bucket", service=SVC, le="10"), "0+10x40"),
                   (s("traefik_service_request_duration_seconds_bucket", service=SVC, le="+Inf"), "0+10x40")], "35m"),
    },
    "OdooCertificateExpiring": {
        "fire": ([(s("traefik_tls_certs_not_after", sans="erp.civil.example,www.civil.example"), "86400x20")],
                 "10m", {}),
        "quiet": ([(s("traefik_tls_certs_not_after", sans="erp.civil.example"), "9000000x20"),
                   (s("traefik_tls_certs_not_after", sans="erp.other.example"), "86400x20")], "10m"),
    },
    # time() is the evaluation time since the Unix epoch: a last success at 0 is 27 h old at 27h (1620 samples)
    "OdooBackupStale": {
        "fire": ([(s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup"), "0x1700")],
                 "27h", {}),
        "quiet": ([(s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup"),
                    "0x1000 90000x700")], "27h"),
    },
    "OdooBackupNeverSucceeded": {
        "fire": ([(s("kube_cronjob_info", namespace=NS, cronjob="odoo-backup", schedule="0 2 * * *"), "1x1700")],
                 "27h", {}),
        "quiet": ([(s("kube_cronjob_info", namespace=NS, cronjob="odoo-backup", schedule="0 2 * * *"), "1x1700"),
                   (s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup"),
                    "_x10 3600x1690")],
                  "27h"),
    },
    "OdooBackupFailed": {
        "fire": ([(s("kube_job_status_failed", namespace=NS, job_name="odoo-backup-29400000",
                     reason="BackoffLimitExceeded"), "1x10"),
                  (s("kube_job_owner", namespace=NS, job_name="odoo-backup-29400000", owner_kind="CronJob",
                     owner_name="odoo-backup", owner_is_controller="true"), "1x10")], "5m", {}),
        "quiet": ([(s("kube_job_status_failed", namespace=NS, job_name="odoo-backup-29400000", reason=""), "0x10"),
                   (s("kube_job_owner", namespace=NS, job_name="odoo-backup-29400000", owner_kind="CronJob",
                      owner_name="odoo-backup", owner_is_controller="true"), "1x10"),
                   # a failed Job that is not the backup's
                   (s("kube_job_status_failed", namespace=NS, job_name="migrate-1", reason="BackoffLimitExceeded"),
                    "1x10"),
                   (s("kube_job_owner", namespace=NS, job_name="migrate-1", owner_kind="<none>", owner_name="<none>",
                      owner_is_controller="<none>"), "1x10")], "5m"),
    },
    # the weekly verification (CronJob odoo-backup-verify): scheduled at 3600 and never succeeded since
    "OdooBackupVerificationNotPassing": {
        "fire": ([(s("kube_cronjob_status_last_schedule_time", namespace=NS, cronjob="odoo-backup-verify"), "3600x600"),
                  (s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup-verify"), "0x600")],
                 "9h", {}),
        "quiet": ([(s("kube_cronjob_status_last_schedule_time", namespace=NS, cronjob="odoo-backup-verify"),
                    "3600x600"),
                   (s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup-verify"),
                    "3700x600")], "9h"),
    },
    "OdooBackupVerificationFailed": {
        "fire": ([(s("kube_job_status_failed", namespace=NS, job_name="odoo-backup-verify-29400000",
                     reason="BackoffLimitExceeded"), "1x10"),
                  (s("kube_job_owner", namespace=NS, job_name="odoo-backup-verify-29400000", owner_kind="CronJob",
                     owner_name="odoo-backup-verify", owner_is_controller="true"), "1x10")], "5m", {}),
        "quiet": ([(s("kube_job_status_failed", namespace=NS, job_name="odoo-backup-verify-29400000", reason=""),
                    "0x10"),
                   (s("kube_job_owner", namespace=NS, job_name="odoo-backup-verify-29400000", owner_kind="CronJob",
                      owner_name="odoo-backup-verify", owner_is_controller="true"), "1x10"),
                   # a failed nightly backup Job is OdooBackupFailed, not this one
                   (s("kube_job_status_failed", namespace=NS, job_name="odoo-backup-29400000",
                      reason="BackoffLimitExceeded"), "1x10"),
                   (s("kube_job_owner", namespace=NS, job_name="odoo-backup-29400000", owner_kind="CronJob",
                      owner_name="odoo-backup", owner_is_controller="true"), "1x10")], "5m"),
    },
    "OdooBackupNotScheduled": {
        "fire": ([(s("kube_cronjob_info", namespace="other", cronjob="odoo-backup", schedule="0 2 * * *"), "1x150")],
                 "2h", {"namespace": NS, "cronjob": "odoo-backup"}),
        "quiet": ([(s("kube_cronjob_info", namespace=NS, cronjob="odoo-backup", schedule="0 2 * * *"), "1x150")], "2h"),
    },
    # what playbooks/dr_drill.yml pushes (job governed_odoo_drill, grouped by odoo_instance), honored by Prometheus
    "OdooDrillFailed": {
        "fire": ([(s("governed_odoo_drill_success", **DRILL), "0x10")], "5m", {}),
        "quiet": ([(s("governed_odoo_drill_success", **DRILL), "1x10"),
                   # another instance's failed drill is not this instance's
                   (s("governed_odoo_drill_success", **{**DRILL, "odoo_instance": "civil-dev"}), "0x10")], "5m"),
    },
    "OdooDrillRTOAboveTarget": {
        "fire": ([(s("governed_odoo_drill_rto_seconds", **DRILL), "4000x10"),
                  (s("governed_odoo_drill_rto_target_seconds", **DRILL), "3600x10")], "5m", {}),
        "quiet": ([(s("governed_odoo_drill_rto_seconds", **DRILL), "900x10"),
                   (s("governed_odoo_drill_rto_target_seconds", **DRILL), "3600x10")], "5m"),
    },
    "OdooDrillRPOAboveTarget": {
        "fire": ([(s("governed_odoo_drill_rpo_seconds", **DRILL), "90000x10"),
                  (s("governed_odoo_drill_rpo_target_seconds", **DRILL), "86400x10")], "5m", {}),
        "quiet": ([(s("governed_odoo_drill_rpo_seconds", **DRILL), "3600x10"),
                   (s("governed_odoo_drill_rpo_target_seconds", **DRILL), "86400x10")], "5m"),
    },
    # a drill that ended at 0 is 101 days old at 101d: samples every 1d (the 1m interval would be 145440 samples)
    "OdooDrillOverdue": {
        "fire": ([(s("governed_odoo_drill_last_run_timestamp_seconds", **DRILL), "0x102")], "101d", {}, "1d"),
        "quiet": ([(s("governed_odoo_drill_last_run_timestamp_seconds", **DRILL), "0x50 4320000x52")], "101d",
                  {}, "1d"),
    },
    "OdooDrillNeverRun": {
        "fire": ([(s("governed_odoo_drill_success", **{**DRILL, "odoo_instance": "civil-dev"}), "1x102")], "101d",
                 {"job": "governed_odoo_drill"}, "1d"),
        "quiet": ([(s("governed_odoo_drill_last_run_timestamp_seconds", **DRILL), "0x102")], "101d", {}, "1d"),
    },
    "OdooDatabaseConnectionsOverBudget": {
        "fire": ([(s("pg_stat_activity_count", datname=DB, state="active"), "30x20"),
                  (s("pg_stat_activity_count", datname=DB, state="idle"), "20x20")], "15m", {}),
        "quiet": ([(s("pg_stat_activity_count", datname=DB, state="active"), "20x20"),
                   (s("pg_stat_activity_count", datname=DB, state="idle"), "20x20"),
                   (s("pg_stat_activity_count", datname="civil_dev", state="idle"), "100x20")], "15m"),
    },
    # the oldest due scheduled action (postgres_exporter with roles/monitoring/files/postgres_exporter_queries.yml)
    "OdooCronBacklog": {
        "fire": ([(s("governed_odoo_cron_oldest_due_seconds", datname=DB, server="pg:5432"), "3600+60x20")], "15m", {}),
        "quiet": ([(s("governed_odoo_cron_oldest_due_seconds", datname=DB, server="pg:5432"), "0x5 60+60x15"),
                   (s("governed_odoo_cron_oldest_due_seconds", datname="civil_dev", server="pg:5432"), "9000x20")],
                  "15m"),
    },
    "PostgreSQLDown": {
        "fire": ([(s("pg_up", namespace=NS, pod="postgresql-0"), "0x10")], "5m",
                 {"namespace": NS, "pod": "postgresql-0"}),
        "quiet": ([(s("pg_up", namespace=NS, pod="postgresql-0"), "1x10")], "5m"),
    },
    "PostgreSQLConnectionsNearLimit": {
        "fire": ([(s("pg_stat_activity_count", namespace=NS, pod="postgresql-0", datname=DB, state="active"), "90x20"),
                  (s("pg_settings_max_connections", namespace=NS, pod="postgresql-0"), "100x20")],
                 "15m", {"pod": "postgresql-0"}),
        "quiet": ([(s("pg_stat_activity_count", namespace=NS, pod="postgresql-0", datname=DB, state="active"), "10x20"),
                   (s("pg_settings_max_connections", namespace=NS, pod="postgresql-0"), "100x20")], "15m"),
    },
    "PostgreSQLReplicaLagging": {
        "fire": ([(s("pg_replication_lag_seconds", namespace=NS, pod="postgresql-replica-0"), "600x20")],
                 "15m", {"namespace": NS, "pod": "postgresql-replica-0"}),
        "quiet": ([(s("pg_replication_lag_seconds", namespace=NS, pod="postgresql-replica-0"), "2x20")], "15m"),
    },
    "RedisDown": {
        "fire": ([(s("redis_up", namespace=NS, pod="redis-0"), "0x10")], "5m", {"namespace": NS, "pod": "redis-0"}),
        "quiet": ([(s("redis_up", namespace=NS, pod="redis-0"), "1x10")], "5m"),
    },
    "RedisMemoryNearLimit": {
        "fire": ([(s("redis_memory_used_bytes", namespace=NS, pod="redis-0"), "95x20"),
                  (s("redis_memory_max_bytes", namespace=NS, pod="redis-0"), "100x20")],
                 "15m", {"namespace": NS, "pod": "redis-0"}),
        "quiet": ([(s("redis_memory_used_bytes", namespace=NS, pod="redis-0"), "95x20"),
                   (s("redis_memory_max_bytes", namespace=NS, pod="redis-0"), "0x20")], "15m"),
    },
}

# recording rules the dashboards plot: (series, eval_time, expression, expected value)
RECORDINGS = [
    ([], "1m", "governed_odoo:db_connection_budget", 50),
    ([(s("pg_stat_activity_count", datname=DB, state="active"), "3x5"),
      (s("pg_stat_activity_count", datname=DB, state="idle"), "4x5")], "2m", "governed_odoo:db_connections", 7),
    ([(s("governed_odoo_cron_backlog_jobs", datname=DB, server="pg:5432"), "3x5")], "2m",
     "governed_odoo:cron_backlog_jobs", 3),
    ([(s("governed_odoo_cron_oldest_due_seconds", datname=DB, server="pg:5432"), "420x5")], "2m",
     "governed_odoo:cron_oldest_due_seconds", 420),
    ([(s("kube_cronjob_status_last_successful_time", namespace=NS, cronjob="odoo-backup"), "600x20")], "20m",
     "governed_odoo:backup_age_seconds", 600),
    ([(s("governed_odoo_drill_rto_seconds", **DRILL), "812x5")], "2m", "governed_odoo:drill_rto_seconds", 812),
    ([(s("governed_odoo_drill_rto_target_seconds", **DRILL), "3600x5")], "2m",
     "governed_odoo:drill_rto_target_seconds", 3600),
    ([(s("governed_odoo_drill_rpo_seconds", **DRILL), "60x5")], "2m", "governed_odoo:drill_rpo_seconds", 60),
    ([(s("governed_odoo_drill_last_run_timestamp_seconds", **DRILL), "60x5")], "3m",
     "governed_odoo:drill_age_seconds", 120),
]


def _promtool_test(tmp_path, rules_file, tests, evaluation_interval="1m"):
    if not PROMTOOL:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)")
    spec = {"rule_files": [str(rules_file)], "evaluation_interval": evaluation_interval, "tests": tests}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)


def _series(pairs):
    # promtool needs at least one series per test: an unrelated one where a case has none
    return [{"series": name, "values": values} for name, values in pairs] or [{"series": "up", "values": "1x5"}]


def test_promtool_accepts_the_rendered_rules(rules_file):
    if not PROMTOOL:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)")
    res = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_does_not(rules_file):
    assert set(_alerts(rules_file)) == set(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
@pytest.mark.parametrize("case", ["fire", "quiet"])
def test_alert(alert, case, rules_file, tmp_path):
    rule = _alerts(rules_file)[alert]
    series, at = CASES[alert][case][:2]
    # a case may give its own sample interval (days for the drill's 100-day age)
    interval = CASES[alert][case][3] if len(CASES[alert][case]) > 3 else "1m"
    expected = []
    if case == "fire":
        expected = [{"exp_labels": {**rule["labels"], **CASES[alert][case][2]},
                     "exp_annotations": rule.get("annotations", {})}]
    test = {"interval": interval, "input_series": _series(series),
            "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}]}
    # rules evaluated once per sample (a 1m evaluation over 101 days would be 145,440 steps)
    res = _promtool_test(tmp_path, rules_file, [test], evaluation_interval=interval)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(("series", "at", "expr", "value"), RECORDINGS, ids=[r[2] for r in RECORDINGS])
def test_recording_rules(series, at, expr, value, rules_file, tmp_path):
    test = {"interval": "1m", "input_series": _series(series),
            "promql_expr_test": [{"expr": expr, "eval_time": at,
                                  "exp_samples": [{"labels": s(expr, **BASE), "value": value}]}]}
    res = _promtool_test(tmp_path, rules_file, [test])
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_budget_defaults_to_the_demand_the_odoo_role_works_out(tmp_path):
    variables = {k: v for k, v in VARS.items() if k != "monitoring_connection_budget"}
    exprs = {}
    for name, extra in (("demand", {"odoo_db_connection_demand": "34"}), ("server", {})):
        (tmp_path / name).mkdir()
        objects = render_monitoring(tmp_path / name, {**variables, **extra})
        rules = [r for o in objects if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"] for r in g["rules"]]
        exprs[name] = next(r["expr"] for r in rules if r.get("record") == "governed_odoo:db_connection_budget")
    assert exprs == {"demand": "vector(34)", "server": "vector(182)"}


def test_the_traefik_servicemonitor_keeps_only_the_instance_services(objects):
    """One ServiceMonitor for Traefik per instance, keeping the series of the same selector the alerts use."""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.governed.odoo.plugins.module_utils.observability import traefik_service_selector

    mons = [o for o in objects if o["kind"] == "ServiceMonitor" and o["metadata"]["name"] == "traefik"]
    assert len(mons) == 1
    endpoint = mons[0]["spec"]["endpoints"][0]
    keep = endpoint["metricRelabelings"]
    regex = traefik_service_selector(NS).split('"')[1]
    assert keep == [{"action": "keep", "sourceLabels": ["service"], "regex": regex}]
    added = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
    assert added == BASE
    rules = json.dumps([o for o in objects if o["kind"] == "PrometheusRule"])
    assert traefik_service_selector(NS).replace('"', '\\"') in rules


# --------------------------------------------------------------------------- dashboards
DASHBOARDS = sorted((ROOT / "roles" / "monitoring" / "files" / "dashboards").glob("*.json"))
_METRIC_WITH_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_ALERTNAMES = re.compile(r'alertname=~"([^"]+)"')


def _exprs(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            yield variable["name"], variable["definition"]


def _recorded(rules_file):
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def test_one_valid_dashboard_per_business_service():
    names = [p.stem for p in DASHBOARDS]
    assert names == ["odoo-backup", "odoo-database", "odoo-web"]
    uids = set()
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert dash["uid"] not in uids and dash["title"] and dash["panels"], path.name
        uids.add(dash["uid"])
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(p.get("targets") for p in dash["panels"]), path.name


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_expressions_parse_and_use_only_defined_metrics(path, rules_file, tmp_path):
    dash = json.loads(path.read_text())
    recorded = _recorded(rules_file)
    alerts = set(_alerts(rules_file))
    queries = []
    for where, expr in _exprs(dash):
        if expr.startswith("label_values("):
            metric = expr[len("label_values("):].split(",")[0].strip()
            assert metric in recorded, f"{path.name} {where}: {metric} is not recorded by the monitoring role"
            continue
        for metric in _METRIC_WITH_SELECTOR.findall(expr):
            assert metric in recorded or metric == "ALERTS", f"{path.name} {where}: {metric} is not defined"
        for pattern in _ALERTNAMES.findall(expr):
            assert any(re.fullmatch(pattern, a) for a in alerts), f"{path.name} {where}: no alert matches {pattern}"
        queries.append(expr.replace("$tenant", ".*").replace("$environment", ".*"))
    if not PROMTOOL:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{n}", "expr": q} for n, q in enumerate(queries)]}]}
    (tmp_path / "dash.yml").write_text(yaml.safe_dump(rules))
    res = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "dash.yml")], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
