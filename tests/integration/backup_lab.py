"""Helpers of the backup integration tests: the lab's real PostgreSQL and SeaweedFS S3 (endpoints a
and b), buckets of their own per test module, generated Odoo-shaped datasets, and running the
backup modules as Ansible does (own process, JSON in and out), also in the background so that a
test can kill things underneath them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
PYTHON = REPO / ".venv" / "bin" / "python"
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore  # noqa: E402


def _listening(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def connection():
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up postgres s3")
    conn = json.loads(path.read_text())
    pg = (conn.get("postgres") or {}).get("primary")
    if not pg or not _listening(pg["host"], pg["port"]):
        pytest.skip("the lab's PostgreSQL primary is not listening: run scripts/lab up postgres")
    for region in ("a", "b"):
        s3 = (conn.get("s3") or {}).get(region)
        if not s3:
            pytest.skip(f"the lab's S3 endpoint {region} is not configured: run scripts/lab up s3")
        host, port = s3["endpoint"].split("//", 1)[1].split(":")
        if not _listening(host, port):
            pytest.skip(f"the lab's S3 endpoint {region} is not listening: run scripts/lab up s3")
    return conn


class Lab:
    """Connection options of the lab in the collection's option names."""

    def __init__(self):
        c = connection()
        p = c["postgres"]["primary"]
        self.bin_dir = c["postgres"].get("bin_dir") or "/usr/lib/postgresql/15/bin"
        self.pg = {"login_host": p["host"], "login_port": p["port"], "login_user": p["user"],
                   "login_password": p["password"]}
        self.dsn = p["dsn"]
        self.s3 = {}
        for region in ("a", "b"):
            e = c["s3"][region]
            self.s3[region] = {"endpoint_url": e["endpoint"], "access_key": e["access_key"],
                               "secret_key": e["secret_key"], "region": e["region"]}

    def connect(self, db="postgres", autocommit=True):
        return psycopg.connect(psycopg.conninfo.make_conninfo(self.dsn, dbname=db), autocommit=autocommit)

    def client(self, region="a"):
        return make_client(self.s3[region])

    def store(self, bucket, region="a", prefix=""):
        return BackupStore(self.client(region), bucket, prefix, endpoint=self.s3[region]["endpoint_url"])

    def drop_db(self, name):
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def db_exists(self, name):
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def unique(prefix):
    return f"{prefix}{secrets.token_hex(3)}"


def make_bucket(client, name, lock=True):
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name


def wipe_bucket(client, name):
    """Test hygiene: remove every version (GOVERNANCE locks bypassed; COMPLIANCE ones stay)."""
    with contextlib.suppress(Exception):
        kw = {"Bucket": name}
        while True:
            page = client.list_object_versions(**kw)
            for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                with contextlib.suppress(Exception):
                    client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"],
                                         BypassGovernanceRetention=True)
            if not page.get("IsTruncated"):
                break
            kw.update(KeyMarker=page.get("NextKeyMarker"), VersionIdMarker=page.get("NextVersionIdMarker"))
        for up in client.list_multipart_uploads(Bucket=name).get("Uploads") or []:
            client.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        client.delete_bucket(Bucket=name)


def all_keys(client, bucket, prefix=""):
    out = {}
    kw = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = client.list_objects_v2(**kw)
        for o in page.get("Contents", []) or []:
            out[o["Key"]] = o["Size"]
        if not page.get("IsTruncated"):
            return out
        kw["ContinuationToken"] = page["NextContinuationToken"]


def table_fingerprints(lab, db):
    """Per table: row count and an md5 over all rows in id order (equal data -> equal fingerprint)."""
    out = {}
    with lab.connect(db) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
        for (t,) in tables:
            row = conn.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) "
                                       "FROM {} x").format(sql.Identifier(t))).fetchone()
            out[t] = tuple(row)
    return out


def dir_digest(root):
    """{relative path: sha1} of every file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = hashlib.sha1(fh.read()).hexdigest()
    return out


def module_args_file(args, check_mode=False):
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False)
    fh = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115 - removed by the caller
    json.dump({"ANSIBLE_MODULE_ARGS": full}, fh)
    fh.close()
    return fh.name


def run_module(name, args, check_mode=False, timeout=900):
    """Run governed.odoo.<name> the way Ansible does; return (result, stderr)."""
    path = module_args_file(args, check_mode)
    try:
        proc = subprocess.run([str(PYTHON), str(REPO / "plugins" / "modules" / f"{name}.py"), path],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(os.environ, PYTHONPATH=str(REPO / "collections")))
    finally:
        os.unlink(path)
    try:
        return json.loads(proc.stdout), proc.stderr
    except ValueError:
        raise AssertionError(f"{name} printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


class Background:
    """A module running in its own process, to be killed or waited for."""

    def __init__(self, name, args):
        self.args_path = module_args_file(args)
        self.proc = subprocess.Popen([str(PYTHON), str(REPO / "plugins" / "modules" / f"{name}.py"), self.args_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=str(REPO / "collections")))

    def wait(self, timeout=600):
        out, err = self.proc.communicate(timeout=timeout)
        os.unlink(self.args_path)
        try:
            return json.loads(out), err
        except ValueError:
            return {"failed": True, "msg": f"no JSON (rc {self.proc.returncode})", "stdout": out}, err

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=60)
        with contextlib.suppress(OSError):
            os.unlink(self.args_path)


def wait_until(pred, timeout=120, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
