"""Helpers of the restore, DR and failover integration tests: the lab's connection details (with a
skip reason when a part is missing), scratch databases on the lab's PostgreSQL, a small
Odoo-shaped schema for neutralization tests, and running playbooks of this checkout.

The schema below imitates the columns of Odoo's own tables that neutralization touches
(ir_mail_server, ir_cron, ir_act_server, ir_model_data, ir_config_parameter, fetchmail_server,
mail_template) in two shapes: Odoo 17 and Odoo 10 (before server actions carried the cron's
model). It is test data, not Odoo.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import engine, s3client  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow  # noqa: E402


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def lab() -> dict:
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up")
    return json.loads(path.read_text())


def lab_postgres() -> dict:
    info = lab().get("postgres") or {}
    primary = info.get("primary")
    if not primary:
        pytest.skip("the lab's PostgreSQL is not in connection.json: run scripts/lab up postgres")
    if not port_open(primary["host"], primary["port"]):
        pytest.skip(f"the lab's PostgreSQL is not listening on {primary['host']}:{primary['port']}")
    return info


def pg_params(server: dict, db: str = "postgres") -> dict:
    """login_* options of the collection's modules for a connection.json server entry."""
    return {"login_host": server["host"], "login_port": int(server["port"]), "login_user": server["user"],
            "login_password": server.get("password"), "db": db}


def pg_dsn(server: dict, db: str = "postgres") -> str:
    return (f"host={server['host']} port={server['port']} user={server['user']} "
            f"password={server.get('password') or ''} dbname={db}")


def lab_s3(region: str = "a") -> dict:
    s3 = (lab().get("s3") or {}).get(region)
    if not s3:
        pytest.skip(f"the lab's S3 endpoint {region!r} is not in connection.json: run scripts/lab up s3")
    host_port = s3["endpoint"].split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    if not port_open(host, int(port)):
        pytest.skip(f"the lab's S3 endpoint {region!r} is not listening at {s3['endpoint']}")
    return s3


def lab_kube() -> dict:
    cp = lab().get("controlplane") or {}
    kubeconfig = cp.get("kubeconfig")
    if not kubeconfig or not Path(kubeconfig).exists():
        pytest.skip("the lab's Kubernetes API is not in connection.json: run scripts/lab up controlplane")
    server = cp.get("server") or cp.get("api_server") or ""
    if server and "://" in server:
        host_port = server.split("://", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        if not port_open(host, int(port)):
            pytest.skip(f"the lab's Kubernetes API is not listening at {server}")
    return cp


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@contextlib.contextmanager
def scratch_database(server: dict, name: str | None = None):
    """Create a database on ``server`` for one test; dropped (WITH FORCE) afterwards."""
    name = name or unique("t_restore")
    with psycopg.connect(pg_dsn(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    try:
        yield name
    finally:
        drop_databases(server, lambda n: n == name or n.startswith(name + "__"))


def drop_databases(server: dict, predicate) -> list[str]:
    dropped = []
    with psycopg.connect(pg_dsn(server), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall()]
        for n in names:
            if predicate(n):
                conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
                dropped.append(n)
    return dropped


# --------------------------------------------------------------------------------------------
# A small Odoo-shaped schema for neutralization
# --------------------------------------------------------------------------------------------
ODOO17_SCHEMA = """
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar NOT NULL, name varchar NOT NULL,
    model varchar NOT NULL, res_id integer, noupdate boolean DEFAULT false);
CREATE TABLE ir_act_server (id serial PRIMARY KEY, name jsonb NOT NULL, model_name varchar, state varchar,
    webhook_url varchar);
CREATE TABLE ir_cron (id serial PRIMARY KEY, ir_actions_server_id integer NOT NULL REFERENCES ir_act_server(id),
    cron_name varchar, active boolean, interval_number integer DEFAULT 1, interval_type varchar DEFAULT 'days',
    nextcall timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'));
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar NOT NULL, from_filter varchar,
    smtp_host varchar, smtp_port integer, smtp_authentication varchar, smtp_user varchar, smtp_pass varchar,
    smtp_encryption varchar NOT NULL DEFAULT 'none', sequence integer DEFAULT 10, active boolean DEFAULT true);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL,
    create_date timestamp, write_date timestamp);
CREATE TABLE fetchmail_server (id serial PRIMARY KEY, name varchar NOT NULL, server varchar, active boolean);
CREATE TABLE mail_template (id serial PRIMARY KEY, name jsonb, mail_server_id integer REFERENCES ir_mail_server(id));
"""

ODOO10_SCHEMA = """
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar NOT NULL, name varchar NOT NULL,
    model varchar NOT NULL, res_id integer);
CREATE TABLE ir_cron (id serial PRIMARY KEY, name varchar NOT NULL, model varchar, function varchar,
    active boolean, nextcall timestamp);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar NOT NULL, smtp_host varchar NOT NULL,
    smtp_port integer, smtp_user varchar, smtp_pass varchar, smtp_encryption varchar NOT NULL DEFAULT 'none',
    sequence integer, active boolean);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL);
"""


def seed_odoo17(conn, uuid="2d7a3a4e-0000-11ef-9a2b-0242ac120002", secret="prod-secret-1") -> dict:
    """Production-like rows: live mail servers, active crons, an autovacuum, a webhook."""
    conn.execute(ODOO17_SCHEMA)
    conn.execute("""
        INSERT INTO ir_act_server (id, name, model_name, state, webhook_url) VALUES
          (1, '{"en_US": "Base: Auto-vacuum internal data"}', 'ir.autovacuum', 'code', NULL),
          (2, '{"en_US": "Mail: Email Queue Manager"}', 'mail.mail', 'code', NULL),
          (3, '{"en_US": "Sync invoices to the bank"}', 'account.move', 'code', NULL),
          (4, '{"en_US": "Notify ERP hub"}', 'res.partner', 'webhook', 'https://hub.example.com/hook');
        SELECT setval('ir_act_server_id_seq', 10);
        INSERT INTO ir_cron (id, ir_actions_server_id, cron_name, active) VALUES
          (1, 1, 'Base: Auto-vacuum internal data', true),
          (2, 2, 'Mail: Email Queue Manager', true),
          (3, 3, 'Sync invoices to the bank', true),
          (4, 3, 'Old disabled cron', false);
        SELECT setval('ir_cron_id_seq', 10);
        INSERT INTO ir_model_data (module, name, model, res_id) VALUES
          ('base', 'autovacuum_job', 'ir.cron', 1), ('mail', 'ir_cron_mail_scheduler_action', 'ir.cron', 2);
        INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_authentication, smtp_user, smtp_encryption,
                                    active) VALUES
          ('Office 365', 'smtp.office365.com', 587, 'login', 'erp@example.com', 'starttls', true),
          ('Bulk mailer', 'smtp.sendgrid.net', 465, 'login', 'apikey', 'ssl', true);
        INSERT INTO fetchmail_server (name, server, active) VALUES ('Incoming invoices', 'imap.example.com', true);
        INSERT INTO mail_template (name, mail_server_id) VALUES ('{"en_US": "Invoice"}', 1);
    """)
    conn.execute("INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', %s), "
                 "('database.secret', %s), ('web.base.url', 'https://erp.example.com')", (uuid, secret))
    return {"database.uuid": uuid, "database.secret": secret}


def seed_odoo10(conn) -> dict:
    conn.execute(ODOO10_SCHEMA)
    conn.execute("""
        INSERT INTO ir_cron (id, name, model, function, active) VALUES
          (1, 'Auto-vacuum internal data', 'ir.autovacuum', 'power_on', true),
          (2, 'Email Queue Manager', 'mail.mail', 'process_email_queue', true);
        INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, active) VALUES
          ('Gmail', 'smtp.gmail.com', 587, 'starttls', true);
        INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', 'u-10'), ('database.secret', 's-10');
    """)
    return {"database.uuid": "u-10", "database.secret": "s-10"}


# --------------------------------------------------------------------------------------------
# Backups made by the real backup engine
# --------------------------------------------------------------------------------------------
class BackupLab:
    """A bucket of its own on the lab's S3 endpoint a, a source database name, backups by the real engine."""

    def __init__(self, tmp: Path, environment: str = "production", object_lock: bool = False):
        self.environment = environment
        pg = lab_postgres()
        self.server = pg["primary"]
        s3 = lab_s3("a")
        self.s3 = {"endpoint_url": s3["endpoint"], "access_key": s3["access_key"], "secret_key": s3["secret_key"],
                   "region": s3.get("region") or "us-east-1"}
        self.tag = secrets.token_hex(3)
        # tables of at least 1 MiB become their own archives (backup format version 2), so the restore
        # tests cover db.dump and table archives together; the rest of the tables stay in db.dump
        self.split_min_size = 1024 * 1024
        self.bucket = f"rt-restore-{self.tag}"
        self.src = f"rt_src_{self.tag}"
        self.tmp = tmp
        self.src_data = tmp / "source-data"
        self.src_files = self.src_data / "filestore" / self.src
        self.client = s3client.make_client(self.s3)
        self.buckets = []
        self.object_lock = object_lock
        self.use_bucket(self.bucket, object_lock)
        self.pg = pg_params(self.server)

    def use_bucket(self, name: str, object_lock: bool = False):
        """Create bucket ``name`` (with object lock: versioned, backups locked GOVERNANCE for a day) and back up
        into it from now on."""
        self.client.create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if object_lock else {}))
        self.buckets.append(name)
        self.bucket = name
        self.object_lock = object_lock

    def store(self) -> BackupStore:
        return BackupStore(s3client.make_client(self.s3), self.bucket, endpoint=self.s3["endpoint_url"])

    def backup(self, key: bytes | None = None, accept_missing_files=()) -> dict:
        opts = engine.BackupOptions(environment=self.environment, pg=dict(self.pg, db=self.src),
                                    accept_missing_files=list(accept_missing_files),
                                    target=engine.StoreTarget(self.s3, self.bucket),
                                    filestore_path=str(self.src_files), encryption_key=key,
                                    split_min_size=self.split_min_size,
                                    object_lock_mode="GOVERNANCE" if self.object_lock else None,
                                    object_lock_days=1 if self.object_lock else 0,
                                    progress_stream=open(os.devnull, "w"))  # noqa: SIM115
        return engine.run_backup(opts)

    def dsn(self, db: str = "postgres") -> str:
        return pg_dsn(self.server, db)

    def connect(self, db: str):
        return psycopg.connect(pg_dsn(self.server, db), autocommit=True)

    def options(self, target_db: str, data_dir: Path, **kw) -> flow.Options:
        base = dict(environment=self.environment, db_name=self.src, target=dict(self.pg, db="postgres"),
                    target_db=target_db, target_environment="staging", filestore_path=str(data_dir), workers=4)
        base.update(kw)
        return flow.Options(**base)

    def cleanup(self):
        drop_databases(self.server, lambda n: n.startswith(f"rt_src_{self.tag}") or f"_{self.tag}" in n)
        paginator = self.client.get_paginator("list_object_versions")
        for bucket in self.buckets:
            for page in paginator.paginate(Bucket=bucket):
                for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                    # GOVERNANCE locks of the test's own backups: bypassed for hygiene
                    self.client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"],
                                              BypassGovernanceRetention=True)
            self.client.delete_bucket(Bucket=bucket)


# --------------------------------------------------------------------------------------------
# The audit trail a restore writes to (docs/audit.md)
# --------------------------------------------------------------------------------------------
def audit_trail(lab: BackupLab, tmp: Path) -> dict:
    """A signed audit trail of the test's own: an Ed25519 key generated in ``tmp``, a local directory and a bucket
    with object lock (records locked GOVERNANCE for a day; ``lab.cleanup`` removes the bucket).

    ``location`` is what promote_audit / dr_audit_trail name; ``vars`` the extra variables a playbook gets."""
    from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bucket = f"rt-audit-{secrets.token_hex(3)}"
    lab.client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    lab.buckets.append(bucket)
    key = Ed25519PrivateKey.generate()
    path = tmp / "audit-signing.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    location = {"local_dir": str(tmp / "audit-trail"), "bucket": bucket, "prefix": "trail/", **lab.s3}
    return {"location": location, "key": str(path), "public": chain.public_pem(key.public_key()),
            "vars": {"release_audit_lock_mode": "GOVERNANCE", "release_audit_retention_days": 1}}


def audit_records(trail: dict) -> list[dict]:
    """The trail's records, after governed.odoo.audit_verify verified both copies (every record signed by the
    trail's key, the chain unbroken, the bucket's copy the same as the local one)."""
    from _modrun import run_module

    result = run_module("audit_verify", {**trail["location"], "public_keys": [trail["public"]], "select": {}})
    assert result.get("ok") is True and not result.get("failed"), result
    assert result["local"]["length"] == result["stored"]["length"] == len(result["records"]), result
    return result["records"]


# --------------------------------------------------------------------------------------------
# Playbooks
# --------------------------------------------------------------------------------------------
def run_playbook(playbook: str, extra_vars: dict, check: bool = False, timeout: int = 900,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook of this checkout (ansible.cfg resolves governed.odoo.* to it)."""
    vars_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"governed-odoo-vars-{secrets.token_hex(4)}.json"
    vars_file.write_text(json.dumps(extra_vars))
    os.chmod(vars_file, 0o600)
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           str(REPO / "playbooks" / playbook), "-e", f"@{vars_file}"]
    if check:
        cmd.append("--check")
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
                    ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
                    PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    full_env.update(env or {})
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, check=False,
                              cwd=str(REPO))
    finally:
        vars_file.unlink(missing_ok=True)
    log = os.environ.get("GOVERNED_ODOO_TEST_PLAYBOOK_LOG")  # keep the output of every run, for debugging
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"===== {playbook} rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}\n")
    return proc
