"""The lab inventory's `jobs` placement puts every Job of an instance on the lab's real node, apart from its web pods.

Two instances of one tenant of their own, placed as the lab inventory places building-prod (hosts.yml:
``lab_node_placement: jobs``): a production instance and a staging one, provisioned by site.yml from an inventory that
reuses inventories/lab's group_vars unchanged (all, the clusters, prod), with their own tenant, databases and buckets
(a GOVERNANCE lock of one day, so that everything can be removed afterwards) and their attachments in object storage,
as building-prod keeps them. The inventory's placement becomes the odoo role's ``odoo_job_node_selector`` and
``odoo_job_tolerations``; the web pods stay on the kwok nodes. Shown here:

* the release migration Job of the production instance, rendered by the odoo role (tasks_from migration_job, as
  promote.yml renders it after site.yml's render play) and run with governed.odoo.k8s_job, runs on ``lab-real-0``
  in the Odoo stand-in's image by digest, completes, and its ``odoo -u base --stop-after-init`` really wrote its
  marker into the production database (``standin.migration.<the image's release>``, absent before); the web pods
  of the instance are on kwok nodes; the health probe Job that promote.yml would render is placed the same way;
* restore_copy.yml of the production instance's backup into the staging instance, with nothing but the inventory,
  neutralizes the copy with a real Job on ``lab-real-0`` (the inventory's ``restore_neutralize_job``), configured as
  the staging instance's pods are (its odoo-config ConfigMap; the database from its odoo-db ConfigMap and Secret,
  no Secret made for the Job): the staging database then carries the stand-in's neutralization (Odoo 17's
  base/data/neutralize.sql: ``database.is_neutralized``, every cron but the autovacuum off) and the restore reports
  the Job mode.

The time from the migration Job's creation to its container running on the node is measured and printed.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import node_lab  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from node_lab import kubectl, output  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"jp{RUN_ID}"
PROD, STAGING = f"{TENANT}-prod", f"{TENANT}-staging"
DBS = {PROD: f"{TENANT}_prod", STAGING: f"{TENANT}_staging"}
BUCKET_PREFIX = f"gjp-{RUN_ID}"
BUCKETS = [f"{BUCKET_PREFIX}-{env}-{kind}" for env in ("prod", "staging") for kind in ("backups", "attachments")]
REAL_NODE = "lab-real-0"
NODE_LABEL = "lab.governed.odoo/node"
RELEASE = f"rel-{RUN_ID}"
pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]


def namespace(host):
    return f"odoo-{host}"


def write_inventory(where: Path) -> Path:
    """The lab inventory's group_vars as they are, two hosts placed as building-prod, the run's own names."""
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    for name in ("shared_cluster.yml", "dedicated_cluster.yml", "prod.yml", "staging.yml"):
        shutil.copy(lab_inv / "group_vars" / name, where / "group_vars" / name)
    placed = {"governed_odoo_tenant": TENANT, "lab_node_placement": "jobs"}  # building-prod's, hosts.yml
    hosts = {"all": {"children": {
        "shared_cluster": {"children": {"staging": {"hosts": {STAGING: placed}}}},
        "dedicated_cluster": {"children": {"prod": {"hosts": {PROD: placed}}}},
    }}}
    (where / "hosts.yml").write_text(json.dumps(hosts))
    run = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"dev": 0, "qa": 1, "staging": 2, "uat": 3, "training": 4, "prod": 5},
            "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        # building-prod's attachments are in object storage: its Jobs need no volume of its web pods
        "odoo_filestore": "object_storage",
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        # GOVERNANCE, so that the test can remove its backups (COMPLIANCE could not be lifted for a day)
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
    }
    # the prod and staging groups' own variables win over group_vars/all: the run's names go into each
    for group in ("prod", "staging"):
        path = where / "group_vars" / f"{group}.yml"
        values = yaml.safe_load(path.read_text())
        values.update(run)
        path.write_text(json.dumps(values, indent=1))
    return where


def run_playbook(inventory: Path, playbook: str, *extra: str, limit: str | None = None):
    return node_lab.run_playbook(inventory, playbook, *extra, limit=limit)


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def inventory(lab, tmp_path_factory):
    """Both instances provisioned by site.yml, the production database seeded (an Odoo-shaped dataset owned by its
    owner role) and backed up from the controller."""
    import odoo_dataset

    node_lab.connection("odoo-standin")
    work = tmp_path_factory.mktemp("job-placement")
    inv = write_inventory(work / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        db = DBS[PROD]
        odoo_dataset.generate(lab.dsn, db, str(work / "filestore" / db), 2**20, 0, 0, jobs=1, log=lambda m: None)
        with lab.connect() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db),
                                                                         sql.Identifier(f"{db}_owner")))
        with lab.connect(db) as conn:
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                conn.execute(sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(table),
                                                                                 sql.Identifier(f"{db}_owner")))
            for (seq,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
                conn.execute(sql.SQL("ALTER SEQUENCE public.{} OWNER TO {}").format(sql.Identifier(seq),
                                                                                    sql.Identifier(f"{db}_owner")))
            # Odoo's xml ids of the crons (odoo_dataset's trimmed schema has none): base's neutralize.sql keeps the
            # cron whose xml id is base.autovacuum_job
            conn.execute("CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar NOT NULL, "
                         "name varchar NOT NULL, model varchar NOT NULL, res_id int)")
            conn.execute("INSERT INTO ir_model_data (module, name, model, res_id) SELECT 'base', 'autovacuum_job', "
                         "'ir.cron', id FROM ir_cron WHERE cron_name = 'Base: Auto-vacuum internal data'")
            conn.execute(sql.SQL("ALTER TABLE ir_model_data OWNER TO {}").format(sql.Identifier(f"{db}_owner")))
        # the recreated database lost its grants: site.yml puts them back
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false", limit=PROD)
        assert res.returncode == 0, output(res)
        res = run_playbook(inv, "backup.yml", "-e", "governed_odoo_backup_schedule=false", limit=PROD)
        assert res.returncode == 0, output(res)
        yield inv
    finally:
        for host in (PROD, STAGING):
            kubectl("delete", "namespace", namespace(host), "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as conn:
            for db in DBS.values():
                for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (db.replace("_", r"\_") + "%",)).fetchall():
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                for role in ("app", "reporting", "owner"):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"{db}_{role}")))
        for bucket in BUCKETS:
            wipe_bucket(lab.client("a"), bucket)


def migration_playbook(where: Path, result: Path) -> Path:
    """promote.yml's migration steps for the production instance: site.yml's render play, the odoo role's
    migration_job (and health_probe) tasks, governed.odoo.k8s_job; the Job is kept so that its pod can be read."""
    kube = {k: "{{ governed_odoo_cluster." + k + " | default(omit) }}"
            for k in ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert")}
    plays = [
        {"name": "Render the instance as site.yml does", "ansible.builtin.import_playbook":
            str(ROOT / "playbooks" / "site.yml"),
         "vars": {"governed_odoo_target": PROD, "governed_odoo_render_only": True}},
        {"name": "Migrate", "hosts": PROD, "gather_facts": False,
         "module_defaults": {"group/governed.odoo.kubernetes": kube},
         "tasks": [
             {"name": "Render the migration Job", "ansible.builtin.include_role": {
                 "name": "governed.odoo.odoo", "tasks_from": "migration_job"},
              "vars": {"odoo_migration": {"run": RUN_ID, "release": RELEASE, "install": [], "update": ["base"],
                                          "timeout": 300}}},
             {"name": "Render the health probe Job", "ansible.builtin.include_role": {
                 "name": "governed.odoo.odoo", "tasks_from": "health_probe"},
              "vars": {"odoo_health_probe": {"run": RUN_ID, "image": "{{ promote_probe_image }}",
                                             "targets": ["192.0.2.1:8069"]}}},
             {"name": "Run the migration Job", "governed.odoo.k8s_job": {
                 "manifest": "{{ odoo_migration_job }}", "timeout": 420, "keep": True}, "register": "migration"},
             {"name": "Keep what happened", "delegate_to": "localhost", "ansible.builtin.copy": {
                 "dest": str(result), "mode": "0600",
                 "content": "{{ {'migration': migration, 'job': odoo_migration_job, 'probe': odoo_health_probe_job}"
                            " | to_json }}"}},
         ]},
    ]
    path = where / "migrate.yml"
    path.write_text(json.dumps(plays))
    return path


def stamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


MARKER = "SELECT value FROM ir_config_parameter WHERE key = 'standin.migration.unknown'"  # the stand-in's release


def test_the_migration_job_of_a_jobs_placed_production_instance_runs_on_the_real_node(lab, inventory, tmp_path):
    with lab.connect(DBS[PROD]) as c:
        assert c.execute(MARKER).fetchone() is None
    result = tmp_path / "result.json"
    res = node_lab.run_playbook(inventory, str(migration_playbook(tmp_path, result)))
    assert res.returncode == 0, output(res)
    done = json.loads(result.read_text())
    conn = node_lab.connection("odoo-standin")
    ns = namespace(PROD)
    try:
        pod_spec = done["job"]["spec"]["template"]["spec"]
        placed = {"nodeSelector": {NODE_LABEL: "real"},
                  "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}]}
        assert {k: pod_spec.get(k) for k in placed} == placed, pod_spec
        probe_spec = done["probe"]["spec"]["template"]["spec"]
        assert {k: probe_spec.get(k) for k in placed} == placed, probe_spec
        assert pod_spec["containers"][0]["image"] == conn["node"]["images"]["odoo-standin"]

        migration = done["migration"]
        assert migration["outcome"] == "succeeded", migration
        assert [(p["phase"], p["node"]) for p in migration["pods"]] == [("Succeeded", REAL_NODE)], migration["pods"]
        # the stand-in's `odoo -u base --stop-after-init` wrote its marker into the production database
        with lab.connect(DBS[PROD]) as c:
            assert c.execute(MARKER).fetchone() == ("base",)
            assert c.execute("SELECT latest_version FROM ir_module_module WHERE name = 'base'").fetchone() == (
                "standin-unknown",)
        # the instance's web pods stay on the kwok nodes
        web = json.loads(kubectl("get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=web",
                                 "-o", "json").stdout)["items"]
        assert web and all(p["spec"].get("nodeName") not in (None, REAL_NODE) for p in web), \
            [p["spec"].get("nodeName") for p in web]

        job = json.loads(kubectl("get", "job", migration["job"], "-n", ns, "-o", "json").stdout)
        (pod,) = json.loads(kubectl("get", "pods", "-n", ns, "-l", f"job-name={migration['job']}",
                                    "-o", "json").stdout)["items"]
        created = stamp(job["metadata"]["creationTimestamp"])
        init_started = stamp(pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["startedAt"])
        started = stamp(pod["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"])
        print(f"\nmigration Job {migration['job']} on {REAL_NODE}: created -> first container running "
              f"{(init_started - created).total_seconds():.0f} s, -> odoo container running "
              f"{(started - created).total_seconds():.0f} s (API timestamps have 1 s resolution)")
    finally:
        kubectl("delete", "job", done["migration"]["job"], "-n", ns, "--ignore-not-found", "--wait=false",
                check=False)


def test_a_restore_copy_into_a_jobs_placed_instance_neutralizes_with_a_job_on_the_real_node(lab, inventory):
    res = run_playbook(inventory, "restore_copy.yml", "-e", f"source={PROD}", "-e", f"target={STAGING}", "-v")
    assert res.returncode == 0, output(res)
    # no Secret was made for the Job: it read the instance's own configuration, as its pods do
    names = [s["metadata"]["name"] for s in json.loads(kubectl("get", "secrets", "-n", namespace(STAGING),
                                                               "-o", "json").stdout)["items"]]
    assert not [n for n in names if "conf" in n], names
    # the restore's report (restore_result, as the default callback prints it)
    assert re.search(r"^\s*neutralized: job$", res.stdout, re.M), output(res)
    # the Job (deleted once it succeeded) had its pod scheduled on the real node: the scheduler's event says where
    events = json.loads(kubectl("get", "events", "-n", namespace(STAGING), "-o", "json").stdout)["items"]
    scheduled = [e["message"] for e in events if e.get("reason") == "Scheduled"
                 and e["involvedObject"]["name"].startswith("neutralize-")]
    assert len(scheduled) == 1 and scheduled[0].endswith(f" to {REAL_NODE}"), scheduled
    with lab.connect(DBS[STAGING]) as c:
        assert c.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
                         ).fetchone() == ("true",)
        crons = dict(c.execute("SELECT cron_name, active FROM ir_cron").fetchall())
        assert crons and [n for n, active in crons.items() if active] in ([], ["Base: Auto-vacuum internal data"]), \
            crons
