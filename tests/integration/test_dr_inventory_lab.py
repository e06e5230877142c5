"""The DR playbooks from the inventory alone, on instances that site.yml provisions (issue 14, items 6, 8, 10, 11).

Two dev instances of their own (unique tenants, namespaces, databases and buckets; a GOVERNANCE lock of one day so
that everything can be removed afterwards) are provisioned with site.yml from an inventory built on inventories/lab.
The source instance gets an Odoo-shaped dataset (tests/fixtures/odoo_dataset.py: the lab runs no Odoo), owned by its
owner role as Odoo's tables would be, site.yml puts its grants back, and backup.yml backs it up. Then, with nothing
but the inventory (no -e beyond --limit, or source and target for the copy):

* dr_drill.yml restores the latest backup into an isolated drill, verifies it against the live source and passes;
* dr_restore.yml restores the instance from its own backup: the database and every table belong to the NOLOGIN
  owner role, not the application role, and a second site.yml run reports changed=0;
* restore_copy.yml restores the source's backup into the other instance: the copy belongs to the target's owner role,
  is neutralized, the target's application credentials work and the source's are refused, and site.yml on the
  target reports changed=0;
* an instance whose odoo-db ConfigMap is missing is refused with a clear message, not a template error.

The inventory gives the instances an audit trail (promote_audit: a local directory and a bucket with object lock, as
promote.yml writes it): each restore, the drill's too, appends one signed `restore` record (source, backup, target,
neutralized or not, the outcome), the refused one a failed record with its reason, and governed.odoo.audit_verify
verifies both copies.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from _modrun import run_module  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain as audit_chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules import release as release_rules  # noqa: E402
from backup_lab import Lab, make_bucket, wipe_bucket  # noqa: E402
from inventory_lab import changed_tasks, data_dir, kubectl_cmd, output, recap, run_playbook, write_inventory  # noqa: E402

RUN_ID = secrets.token_hex(3)
SOURCE_TENANT, TARGET_TENANT = f"dra{RUN_ID}", f"drb{RUN_ID}"
SOURCE, TARGET = f"{SOURCE_TENANT}-dev", f"{TARGET_TENANT}-dev"
DBS = {SOURCE: f"{SOURCE_TENANT}_dev", TARGET: f"{TARGET_TENANT}_dev"}
BUCKET_PREFIX = f"gdr-{RUN_ID}"
BACKUPS = f"{BUCKET_PREFIX}-dev-backups"
ATTACHMENTS = f"{BUCKET_PREFIX}-dev-attachments"
AUDIT_BUCKET = f"{BUCKET_PREFIX}-audit"
AUDIT_PREFIX = "trail/"
# the first test also provisions, seeds and backs up (its fixture): far more than the default 900 s under load
pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]


def namespace(host):
    return f"odoo-{host}"


def app_password(inv, host):
    return (inv.parent / "secrets" / host / "postgresql_app").read_text().strip()


def ownership(lab, db):
    """(owner of the database, {owner of each table, view and sequence of schema public})."""
    with lab.connect() as conn:
        db_owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                                (db,)).fetchone()[0]
    with lab.connect(db) as conn:
        owners = {r[0] for r in conn.execute(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S', 'p')").fetchall()}
    return db_owner, owners


def app_connect(lab, inv, host, db):
    """A connection to ``db`` as ``host``'s application role (the credentials its pods use)."""
    pg = lab.pg
    return psycopg.connect(host=pg["login_host"], port=pg["login_port"], dbname=db, user=f"{DBS[host]}_app",
                           password=app_password(inv, host), connect_timeout=30, autocommit=True)


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """The instances' audit trail: a signing key generated for the run, a local directory, a locked bucket."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    base = tmp_path_factory.mktemp("dr-audit")
    key = Ed25519PrivateKey.generate()
    (base / "signing.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (base / "signing.pem").chmod(0o600)
    return {"dir": base / "trail", "key": base / "signing.pem", "public": audit_chain.public_pem(key.public_key())}


def audit_location(audit):
    return {"local_dir": str(audit["dir"]), "bucket": AUDIT_BUCKET, "prefix": AUDIT_PREFIX,
            **{k: Lab().s3["a"][k] for k in ("endpoint_url", "access_key", "secret_key", "region")}}


def trail(audit):
    path = audit["dir"] / "chain.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def inventory(lab, audit, tmp_path_factory):
    """Both instances provisioned by site.yml, the source seeded, its grants put back by site.yml, backed up."""
    import odoo_dataset

    try:
        if subprocess.run([*kubectl_cmd(), "get", "--raw", "/readyz"], capture_output=True,
                          check=False, timeout=120).returncode != 0:
            pytest.skip("lab API server not reachable")
    except (OSError, KeyError):
        pytest.skip("lab control plane not up")
    make_bucket(lab.client("a"), AUDIT_BUCKET)
    inv = write_inventory(tmp_path_factory.mktemp("dr-inventory") / "inv",
                          {SOURCE: SOURCE_TENANT, TARGET: TARGET_TENANT}, BUCKET_PREFIX, extra={
                              "promote_audit": {**audit_location(audit), "s3_validate_certs": False},
                              "promote_audit_public_keys": [audit["public"]],
                              "promote_audit_signing_key": str(audit["key"]),
                              # GOVERNANCE for a day: the test removes its records afterwards
                              "release_audit_retention_days": 1})
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        db = DBS[SOURCE]
        odoo_dataset.generate(lab.dsn, db, str(data_dir(inv, SOURCE) / "filestore" / db), 2 * 2**20, 30,
                              2 * 2**20, jobs=1, log=lambda m: None)
        # generate() recreates the database as the lab's superuser; Odoo's tables belong to the owner role
        with lab.connect() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db),
                                                                         sql.Identifier(f"{db}_owner")))
        with lab.connect(db) as conn:
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                conn.execute(sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(table),
                                                                                 sql.Identifier(f"{db}_owner")))
        # the recreated database lost its grants: site.yml puts them back
        res = run_playbook(inv, "site.yml", "--limit", SOURCE, "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        res = run_playbook(inv, "backup.yml", "--limit", SOURCE, "-e", "governed_odoo_backup_schedule=false")
        assert res.returncode == 0, output(res)
        yield inv
    finally:
        for host in (SOURCE, TARGET):
            subprocess.run([*kubectl_cmd(), "delete", "namespace", namespace(host), "--ignore-not-found",
                            "--wait=false"], capture_output=True, check=False, timeout=300)
        with lab.connect() as conn:
            for db in DBS.values():
                names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                    (db.replace("_", r"\_") + "%",)).fetchall()]
                for name in names:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for db in DBS.values():
                for role in ("app", "reporting", "owner"):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"{db}_{role}")))
        for bucket in (BACKUPS, ATTACHMENTS, AUDIT_BUCKET):
            wipe_bucket(lab.client("a"), bucket)


def test_a_drill_runs_from_the_inventory_alone(inventory, tmp_path):
    res = run_playbook(inventory, "dr_drill.yml", "--limit", SOURCE, cwd=tmp_path)
    assert res.returncode == 0, output(res)
    reports = sorted((tmp_path / "drill-reports").glob("drill-dev-*.json"))
    assert len(reports) == 1, (reports, output(res))
    report = json.loads(reports[0].read_text())
    assert report["result"] == "pass", report.get("failures")
    assert report["source"]["db_name"] == DBS[SOURCE]
    # the drill's copy went to the controller's drill-data and was removed
    assert not (tmp_path / "drill-data" / "filestore" / report["target"]["db_name"]).exists()


def test_a_dr_restore_runs_from_the_inventory_and_leaves_the_instance_as_site_provisions_it(lab, inventory):
    db = DBS[SOURCE]
    with lab.connect(db) as conn:
        partners = conn.execute("SELECT count(*) FROM res_partner").fetchone()[0]
    res = run_playbook(inventory, "dr_restore.yml", "--limit", SOURCE)
    assert res.returncode == 0, output(res)
    assert app_password(inventory, SOURCE) not in res.stdout
    assert "switched" in res.stdout
    db_owner, owners = ownership(lab, db)
    assert db_owner == f"{db}_owner"
    assert owners == {f"{db}_owner"}, owners
    with app_connect(lab, inventory, SOURCE, db) as conn:
        assert conn.execute("SELECT count(*) FROM res_partner").fetchone()[0] == partners
        # the pods' sessions run as the owner role: Odoo can still create its tables
        conn.execute("CREATE TABLE dr_probe (id int)")
        conn.execute("DROP TABLE dr_probe")
    res = run_playbook(inventory, "site.yml", "--limit", SOURCE, "-e", "governed_odoo_wait=false")
    assert res.returncode == 0, output(res)
    assert recap(res, SOURCE)["changed"] == 0, changed_tasks(res)


def test_restore_copy_gives_the_target_a_neutralized_copy_as_site_provisions_it(lab, inventory):
    db = DBS[TARGET]
    res = run_playbook(inventory, "restore_copy.yml", "-e", f"source={SOURCE}", "-e", f"target={TARGET}")
    assert res.returncode == 0, output(res)
    db_owner, owners = ownership(lab, db)
    assert db_owner == f"{db}_owner"
    assert owners == {f"{db}_owner"}, owners
    with app_connect(lab, inventory, TARGET, db) as conn:
        assert conn.execute("SELECT count(*) FROM res_partner").fetchone()[0] > 0
        assert conn.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
                            ).fetchone() == ("true",)
        # every cron off but Odoo's own auto-vacuum, as Odoo's neutralization leaves it
        assert conn.execute("SELECT cron_name FROM ir_cron WHERE active").fetchall() == \
            [("Base: Auto-vacuum internal data",)]
    # the source's application role has no access to the copy
    with pytest.raises(psycopg.OperationalError, match=r"permission denied|not permitted"):
        app_connect(lab, inventory, SOURCE, db).close()
    files = [p for p in (data_dir(inventory, TARGET) / "filestore" / db).rglob("*") if p.is_file()]
    assert len(files) == 30
    res = run_playbook(inventory, "site.yml", "--limit", TARGET, "-e", "governed_odoo_wait=false")
    assert res.returncode == 0, output(res)
    assert recap(res, TARGET)["changed"] == 0, changed_tasks(res)


def test_each_restore_appends_a_signed_restore_record_and_the_trail_verifies(lab, inventory, audit):
    records = trail(audit)
    backups = {f"dev/{DBS[SOURCE]}/{r.backup_id}" for r in lab.store(BACKUPS).list_backups("dev", DBS[SOURCE])}
    assert [r["event"]["operation"] for r in records] == ["dr_drill", "dr_restore", "restore_copy"], records
    drill, own, copy = (r["event"] for r in records)
    assert drill["outcome"] == "succeeded" and drill["source"]["instance"] == SOURCE and drill["environment"] == "drill"
    assert all(r["event"]["outcome"] == "succeeded" for r in records)
    # the instance from its own backup: a non-production target is always a neutralized copy (new identity)
    assert own["kind"] == "restore" and own["ok"] is True and own["instance"] == SOURCE
    assert own["source"]["instance"] == own["target"]["instance"] == SOURCE and own["source"]["backup"] in backups
    assert own["copy"] is True and own["neutralized"] is True and own["target"]["production"] is False
    # the copy: source, backup, target and the neutralization that verified
    assert copy["kind"] == "restore" and copy["ok"] is True and copy["neutralized"] is True
    assert copy["instance"] == TARGET and copy["environment"] == "dev" and copy["copy"] is True
    assert copy["source"] == {"instance": SOURCE, "environment": "dev", "database": DBS[SOURCE],
                              "backup": copy["source"]["backup"], "backup_id": copy["source"]["backup_id"],
                              "backup_created_at": copy["source"]["backup_created_at"]}
    assert copy["source"]["backup"] in backups and copy["source"]["backup"].endswith(copy["source"]["backup_id"])
    assert copy["target"]["database"] == DBS[TARGET] and copy["target"]["namespace"] == namespace(TARGET)
    assert copy["target"]["production"] is False
    # a copy of a dev instance is no production copy: the rehearsal gate does not count it
    assert not release_rules.is_production_copy(copy)
    # written to the bucket under object lock as well, and both copies verify with the trail's key
    result = run_module("audit_verify", {**audit_location(audit), "public_keys": [audit["public"]]})
    assert result.get("ok") is True and not result.get("failed"), result
    assert result["local"]["length"] == result["stored"]["length"] == 3, result
    key = f"{AUDIT_PREFIX}records/{2:012d}.json"
    assert lab.client("a").get_object_retention(Bucket=AUDIT_BUCKET, Key=key)["Retention"]["Mode"] == "GOVERNANCE"


def test_an_instance_without_its_database_settings_is_refused_clearly(inventory, audit):
    proc = subprocess.run([*kubectl_cmd(), "-n", namespace(TARGET), "delete", "configmap", "odoo-db"],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = run_playbook(inventory, "dr_restore.yml", "--limit", TARGET)
    assert res.returncode != 0
    said = " ".join((res.stdout + res.stderr).split())  # the message as one line, however the callback wraps it
    assert f"ConfigMap {namespace(TARGET)}/odoo-db (PGHOST, PGPORT, PGDATABASE, PGUSER) is missing" in said, output(res)
    assert f"{TARGET} not restored" in said, output(res)
    assert "AnsibleUndefinedVariable" not in said and "has no attribute" not in said, output(res)
    # refused before the restore, and recorded as a failed restore with the reason (no secret), signed and verified
    records = trail(audit)
    assert len(records) == 4
    failed = records[-1]["event"]
    assert (failed["operation"], failed["instance"], failed["outcome"], failed["ok"]) == (
        "dr_restore", TARGET, "failed", False)
    assert "odoo-db (PGHOST, PGPORT, PGDATABASE, PGUSER) is missing" in " ".join(failed["reason"].split())
    assert app_password(inventory, TARGET) not in json.dumps(failed)
    result = run_module("audit_verify", {**audit_location(audit), "public_keys": [audit["public"]]})
    assert result.get("ok") is True and result["stored"]["length"] == 4, result
