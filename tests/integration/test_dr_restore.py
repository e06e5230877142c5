"""playbooks/dr_restore_external.yml against the lab: two environments restored from the backup store into
namespaces of the lab cluster and databases of the lab's PostgreSQL, production first; each instance's
configuration re-pointed (Secret PGHOST/PGPORT/PGDATABASE, odoo.conf db_name), its Deployments scaled
up and rolled, and a smoke test through the instance's own database credentials. Each environment's restore,
succeeded or failed, is one signed `restore` record in the audit trail (dr_audit_trail), verified.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from restore_lab import REPO, BackupLab, audit_records, audit_trail, drop_databases, lab_kube, run_playbook

sys.path.insert(0, str(REPO / "collections"))

pytestmark = pytest.mark.lab

ENV = "prod"
IMAGE = "docker.io/library/odoo@sha256:" + "cd" * 32
OLD_HOST = "10.255.255.1"  # the lost cluster's database server


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import odoo_dataset

    cp = lab_kube()
    lab = BackupLab(tmp_path_factory.mktemp("dr"), ENV)
    lab.cp = cp
    lab.app_user = f"rt_app_{lab.tag}"
    lab.app_password = secrets.token_hex(12)
    try:
        odoo_dataset.generate(lab.dsn(), lab.src, str(lab.src_files), 8 * 2**20, 120, 6 * 2**20, jobs=2,
                              log=lambda m: None)
        lab.backup()
        with lab.connect("postgres") as c:
            c.execute(f"CREATE ROLE {lab.app_user} LOGIN PASSWORD '{lab.app_password}'")
        yield lab
    finally:
        lab.cleanup()
        with lab.connect("postgres") as c:
            c.execute(f"DROP ROLE IF EXISTS {lab.app_user}")


def kubectl(cp, *args, stdin=None, check=True):
    proc = subprocess.run([cp["kubectl"], "--kubeconfig", cp["kubeconfig"], *args], input=stdin, text=True,
                          capture_output=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def instance_objects(ns, user, password):
    """What site.yml leaves in a fresh cluster for an instance whose database is gone: replicas 0."""
    deployments = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "odoo", "image": IMAGE}]}}}}
        for name in ("odoo-web", "odoo-cron")
    ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odoo-db", "namespace": ns}, "type": "Opaque",
         "stringData": {"PGHOST": OLD_HOST, "PGPORT": "5432", "PGDATABASE": "lost", "PGUSER": user,
                        "PGPASSWORD": password, "PGSSLMODE": "disable"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config", "namespace": ns},
         "data": {"odoo.conf": "[options]\n; rendered by governed.odoo\ndata_dir = /var/lib/odoo\ndb_name = lost\n"
                               "list_db = False\n"}},
        *deployments,
    ]


@pytest.fixture
def instances(lab, tmp_path):
    tag = secrets.token_hex(2)
    out = {}
    for env in ("prod", "staging"):
        ns = f"rt-dr-{env}-{tag}"
        objs = instance_objects(ns, lab.app_user, lab.app_password)
        kubectl(lab.cp, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs))
        out[env] = {"namespace": ns, "database": f"rt_dr_{env}_{tag}_{lab.tag}", "data": tmp_path / f"{env}-data"}
    yield out
    for item in out.values():
        kubectl(lab.cp, "delete", "namespace", item["namespace"], "--wait=false", check=False)
    drop_databases(lab.server, lambda n: any(n.startswith(i["database"]) for i in out.values()))


@pytest.fixture
def audit(lab, tmp_path):
    return audit_trail(lab, tmp_path)


def dr_vars(lab, instances, audit=None):
    def env(name, production):
        i = instances[name]
        return {
            "name": f"building-{name}",
            "production": production,
            "source": {"environment": ENV, "database": lab.src},
            "target": {"kube": {"kubeconfig": lab.cp["kubeconfig"]}, "namespace": i["namespace"],
                       "postgres": lab.pg, "database": i["database"], "filestore_path": str(i["data"]),
                       "replicas": {"odoo-web": 2, "odoo-cron": 1}},
        }

    # staging listed first: the playbook still restores production first
    out = {"dr_store": dict(lab.s3, bucket=lab.bucket), "dr_environments": [env("staging", False), env("prod", True)]}
    if audit:
        out.update(audit["vars"], dr_audit_trail=audit["location"], dr_audit_signing_key=audit["key"])
    return out


def secret(cp, ns):
    data = json.loads(kubectl(cp, "-n", ns, "get", "secret", "odoo-db", "-o", "json"))["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_check_mode_changes_nothing(lab, instances, audit):
    proc = run_playbook("dr_restore_external.yml", dr_vars(lab, instances, audit), check=True)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert not Path(audit["location"]["local_dir"], "chain.jsonl").exists()  # nothing recorded either
    for i in instances.values():
        assert secret(lab.cp, i["namespace"])["PGHOST"] == OLD_HOST
        with lab.connect("postgres") as c:
            assert c.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                             (i["database"] + "%",)).fetchone()[0] == 0


def test_restores_production_first_repoints_scales_and_smoke_tests(lab, instances, audit):
    proc = run_playbook("dr_restore_external.yml", dr_vars(lab, instances, audit))
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-2000:]
    assert "building-prod -> building-staging" in out
    assert out.index("Restore the backup into a new database, verify it and switch (building-prod)") < \
        out.index("Restore the backup into a new database, verify it and switch (building-staging)")
    assert lab.app_password not in out and lab.pg["login_password"] not in out
    for name, i in instances.items():
        ns = i["namespace"]
        s = secret(lab.cp, ns)
        expected = (lab.server["host"], str(lab.server["port"]), i["database"])
        assert (s["PGHOST"], s["PGPORT"], s["PGDATABASE"]) == expected
        conf = json.loads(kubectl(lab.cp, "-n", ns, "get", "configmap", "odoo-config", "-o", "json"))["data"]
        assert f"db_name = {i['database']}" in conf["odoo.conf"] and "; rendered by governed.odoo" in conf["odoo.conf"]
        for dep, replicas in (("odoo-web", 2), ("odoo-cron", 1)):
            d = json.loads(kubectl(lab.cp, "-n", ns, "get", "deployment", dep, "-o", "json"))
            assert d["spec"]["replicas"] == replicas and d["status"].get("readyReplicas") == replicas
        with lab.connect(i["database"]) as c:
            owner = c.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                              ).fetchone()[0]
            assert owner == lab.app_user
            assert c.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'res_partner'").fetchone()[0] == \
                lab.app_user
            active_mail = c.execute("SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host <> 'invalid'"
                                    ).fetchone()[0]
            neutral = c.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
                                ).fetchone()
        if name == "prod":
            assert active_mail == 2 and neutral is None  # production is restored as it was
        else:
            assert active_mail == 0 and neutral == ("true",)
        files = list((i["data"] / "filestore" / i["database"]).rglob("*"))
        assert sum(1 for f in files if f.is_file()) == 120
    # one signed record per environment, production first, each verified with the trail's key
    records = audit_records(audit)
    assert [(r["event"]["instance"], r["event"]["outcome"]) for r in records] == [
        ("building-prod", "succeeded"), ("building-staging", "succeeded")]
    assert all(r["event"]["operation"] == "dr_restore_external" and r["event"]["ok"] for r in records)
    # a second run replaces the databases again; production needs the flag now that its database has data
    proc = run_playbook("dr_restore_external.yml", dr_vars(lab, instances, audit))
    assert proc.returncode != 0
    assert "not restored: building-prod" in proc.stdout and "allow_production_overwrite" in proc.stdout
    # the failed restore is recorded too, with its reason and no secret
    failed = audit_records(audit)[2]["event"]
    assert failed["instance"] == "building-prod" and failed["outcome"] == "failed" and failed["ok"] is False
    assert "allow_production_overwrite" in failed["reason"]
    assert lab.pg["login_password"] not in json.dumps(failed) and lab.s3["secret_key"] not in json.dumps(failed)
    assert len(audit_records(audit)) == 4
