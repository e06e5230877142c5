"""Fault safety of governed.odoo.backup on the lab's real servers.

PostgreSQL killed mid-dump (pg_terminate_backend), the S3 endpoint stopped mid-upload (a
dedicated, temporary ``weed server`` on ports 18400-18409, SIGKILLed), the backup process itself
SIGKILLed: each time no manifest exists, nothing is listed as restorable, and a retry succeeds
(reusing what was uploaded). A pg_dump older than the server and object lock asked of a bucket
without it are refused before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import sys
import time

import pytest
from backup_lab import (
    REPO,
    Background,
    Lab,
    all_keys,
    make_bucket,
    run_module,
    unique,
    wait_until,
    wipe_bucket,
)

sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import prune
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
from tempweed import TempWeed

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def source(lab, tmp_path_factory):
    """A database large enough (~150 MiB) that its dump takes a few seconds, and 600 files."""
    import odoo_dataset

    db = unique("gbk_fault_")
    fs = tmp_path_factory.mktemp("fs") / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 150 * 2**20, 600, 60 * 2**20, jobs=2, log=lambda m: None)
    yield {"db": db, "filestore": str(fs)}
    lab.drop_db(db)


@pytest.fixture
def bucket(lab):
    name = unique("gbk-fault-")
    make_bucket(lab.client("a"), name)
    yield name
    wipe_bucket(lab.client("a"), name)


def args_for(lab, source, bucket, env, s3=None, **extra):
    a = dict(lab.pg, **(s3 or lab.s3["a"]), environment=env, db=source["db"], filestore_path=source["filestore"],
             bucket=bucket, pg_bin_dir=lab.bin_dir, progress_interval=1, threads=4)
    a.update(extra)
    return a


def dump_running(lab, db):
    with lab.connect() as conn:
        return conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = "
                            "'governed.odoo.backup' AND query LIKE 'COPY %%'", (db,)).fetchall()


def nothing_restorable(store, env, db):
    assert store.list_backups(env, db) == []
    keys = {k for k, _s, _t in store.iter_objects(f"backups/{env}/")}
    assert not any(k.endswith("/manifest.json") for k in keys), keys
    return keys


def retry_succeeds(lab, args, store, env, db):
    res, _stderr = run_module("backup", args)
    assert not res.get("failed"), res
    assert [r.backup_id for r in store.list_backups(env, db)] == [res["backup_id"]]
    return res


def test_postgresql_killed_mid_dump(lab, source, bucket):
    env = unique("pgkill")
    args = args_for(lab, source, bucket, env, object_lock_mode="GOVERNANCE", object_lock_days=1)
    bg = Background("backup", args)
    pids = wait_until(lambda: dump_running(lab, source["db"]), timeout=120, what="pg_dump's COPY")
    with lab.connect() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND "
                     "application_name LIKE 'governed.odoo.backup%%'", (source["db"],))
    res, _err = bg.wait()
    assert res.get("failed"), res
    assert res["error"] in ("dump", "source"), res
    assert "terminat" in res["msg"] or "closed" in res["msg"] or "pg_dump failed" in res["msg"], res["msg"]
    assert pids
    store = lab.store(bucket)
    keys = nothing_restorable(store, env, source["db"])
    assert keys == set()  # the archive's multipart upload was aborted: no object of it exists
    assert store.list_multipart_uploads(f"backups/{env}/") == []
    res = retry_succeeds(lab, args, store, env, source["db"])
    ok, _stderr = run_module("backup_verify", dict(lab.s3["a"], environment=env, database=source["db"], bucket=bucket))
    assert ok["ok"], ok


def test_backup_process_killed(lab, source, bucket, tmp_path):
    env = unique("sigkill")
    log = tmp_path / "progress.log"
    args = args_for(lab, source, bucket, env, progress_log=str(log))

    def some_files_uploaded():
        m = re.findall(r"files [0-9.]+ \S+ \((\d+)\)", log.read_text() if log.exists() else "")
        return m and int(m[-1]) >= 20

    bg = Background("backup", args)
    wait_until(some_files_uploaded, timeout=180, interval=0.1, what="files being uploaded")
    bg.kill()  # SIGKILL: no cleanup code runs
    time.sleep(1)
    store = lab.store(bucket)
    nothing_restorable(store, env, source["db"])
    res = retry_succeeds(lab, args, store, env, source["db"])
    fs = res["filestore"]
    assert fs["reused"] >= 20 and fs["reused"] + fs["uploaded"] == fs["count"]
    assert fs["head_requests"] == fs["reused"]  # no previous index: each reused object's checksum read once
    # debris of the killed run (an unfinished multipart upload, if it got that far) is retention's to clean
    report = prune.run_retention(store, Policy(), environment=env, grace=dt.timedelta(0))
    assert store.list_multipart_uploads(f"backups/{env}/") == []
    assert [k["backup_id"] for k in report["kept"]] == [res["backup_id"]]
    ok, _stderr = run_module("backup_verify", dict(lab.s3["a"], environment=env, database=source["db"], bucket=bucket))
    assert ok["ok"], ok


def test_s3_endpoint_stopped_mid_upload(lab, source, tmp_path):
    env = unique("s3gone")
    weed = TempWeed(18400, str(tmp_path / "weed"))
    weed.start()
    try:
        conn = weed.conn()
        s3 = {"endpoint_url": conn["endpoint"], "access_key": conn["access_key"], "secret_key": conn["secret_key"],
              "region": conn["region"]}
        client = weed.client()
        bucket = unique("gbk-gone-")
        make_bucket(client, bucket)
        log = tmp_path / "progress.log"
        args = args_for(lab, source, bucket, env, s3=s3, progress_log=str(log), object_lock_mode="GOVERNANCE",
                        object_lock_days=1)

        def uploading():
            text = log.read_text() if log.exists() else ""
            m = re.findall(r"files [0-9.]+ \S+ \((\d+)\)", text)
            return m and int(m[-1]) >= 10 and dump_running(lab, source["db"])

        bg = Background("backup", args)
        wait_until(uploading, timeout=180, interval=0.05, what="database and files uploading")
        t0 = time.monotonic()
        weed.stop()  # SIGKILL: the endpoint goes away mid-upload
        res, _err = bg.wait(timeout=300)
        failed_after = time.monotonic() - t0
        assert res.get("failed"), res
        assert res["error"] in ("store_unavailable", "store"), res
        assert failed_after < 120, f"the backup took {failed_after:.0f}s to notice the endpoint was gone"
        assert not dump_running(lab, source["db"])  # pg_dump was stopped too
        weed.start()
        store = BackupStore(make_client(s3), bucket, endpoint=s3["endpoint_url"])
        nothing_restorable(store, env, source["db"])
        res = retry_succeeds(lab, args, store, env, source["db"])
        assert res["filestore"]["reused"] >= 10
        ok, _stderr = run_module("backup_verify", dict(s3, environment=env, database=source["db"], bucket=bucket))
        assert ok["ok"], ok
        prune.run_retention(store, Policy(), environment=env, grace=dt.timedelta(0))
        assert store.list_multipart_uploads(f"backups/{env}/") == []
    finally:
        weed.cleanup()


def test_older_pg_dump_is_refused_before_anything_is_written(lab, source, bucket, tmp_path):
    """The server is the real lab PostgreSQL 15; only the client tool directory holds an old pg_dump."""
    tool = tmp_path / "pg_dump"
    tool.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 14.11'; exit 0; fi\n"
                    "echo 'must not be run' >&2; exit 99\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    res, _stderr = run_module("backup", args_for(lab, source, bucket, "oldtool", pg_bin_dir=str(tmp_path)))
    assert res.get("failed") and res["error"] == "pg_dump_too_old", res
    assert "14.11" in res["msg"] and "older than the PostgreSQL server" in res["msg"]
    assert all_keys(lab.client("a"), bucket) == {}


def test_object_lock_on_a_bucket_without_it_is_refused_before_writing(lab, source):
    name = unique("gbk-nolock-")
    c = lab.client("a")
    make_bucket(c, name, lock=False)
    try:
        args = args_for(lab, source, name, "nolock", object_lock_mode="COMPLIANCE", object_lock_days=7)
        res, _stderr = run_module("backup", args)
        assert res.get("failed") and res["error"] == "config", res
        assert "object lock" in res["msg"]
        assert all_keys(c, name) == {}
    finally:
        wipe_bucket(c, name)
