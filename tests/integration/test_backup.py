"""governed.odoo.backup, backup_verify and backup_retention against the lab: real PostgreSQL 15, real
SeaweedFS S3 on two endpoints (a and b) with object lock.

Shown here: a round trip (backup, then a restore by hand with pg_restore: equal data table by table,
every attachment byte for byte), incremental backups that upload only new files (counted PUTs and
bytes), check mode writing nothing, object lock on every object and a copy on the second endpoint,
encryption, verification finding corrupted, truncated and missing objects and altered manifests
(each named), a test restore, and retention (GFS, check mode, idempotence, locked backups kept and
reported, filestore garbage only when unreferenced).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from backup_lab import (
    REPO,
    Lab,
    all_keys,
    dir_digest,
    make_bucket,
    run_module,
    table_fingerprints,
    unique,
    wipe_bucket,
)

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto, prune, restore_core
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import BackupOptions, StoreTarget, run_backup
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import EncryptionError
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy

pytestmark = pytest.mark.lab

ENV = "itest"


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def source(lab, tmp_path_factory):
    """One generated Odoo-shaped database (~24 MiB) and filestore (300 files, ~16 MiB)."""
    import odoo_dataset

    db = unique("gbk_src_")
    fs = tmp_path_factory.mktemp("fs") / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 24 * 2**20, 300, 16 * 2**20, jobs=2, log=lambda m: None)
    yield {"db": db, "filestore": str(fs)}
    lab.drop_db(db)


@pytest.fixture(scope="module")
def buckets(lab):
    """A lock-enabled bucket of this module's own on each endpoint."""
    name = unique("gbk-it-")
    for region in ("a", "b"):
        make_bucket(lab.client(region), name)
    yield name
    for region in ("a", "b"):
        wipe_bucket(lab.client(region), name)


def backup_args(lab, source, bucket, **extra):
    args = dict(lab.pg, **lab.s3["a"], environment=ENV, db=source["db"], filestore_path=source["filestore"],
                bucket=bucket, pg_bin_dir=lab.bin_dir, progress_interval=1)
    args.update(extra)
    return args


@pytest.fixture(scope="module")
def first(lab, source, buckets, tmp_path_factory):
    """The first backup: object lock (GOVERNANCE, 1 day) and a copy on endpoint b."""
    log = tmp_path_factory.mktemp("log") / "progress.log"
    res, _err = run_module("backup", backup_args(lab, source, buckets, object_lock_mode="GOVERNANCE",
                                                 object_lock_days=1, progress_log=str(log),
                                                 copy_to=dict(lab.s3["b"], bucket=buckets)))
    assert not res.get("failed"), res
    res["_progress_log"] = log.read_text()
    return res


def test_check_mode_writes_nothing(lab, source, buckets):
    empty = unique("gbk-chk-")
    make_bucket(lab.client("a"), empty)
    try:
        res, _stderr = run_module("backup", backup_args(lab, source, empty), check_mode=True)
        assert not res.get("failed"), res
        assert res["changed"] is True and res["check_mode"] is True
        with lab.connect(source["db"]) as conn:
            files = conn.execute("SELECT count(DISTINCT store_fname) FROM ir_attachment").fetchone()[0]
        assert res["would_upload"]["upload_count"] == files > 0
        assert res["would_upload"]["reuse_count"] == 0
        assert all_keys(lab.client("a"), empty) == {}
    finally:
        wipe_bucket(lab.client("a"), empty)


def test_first_backup_writes_manifest_last_with_odoo_fields(lab, source, buckets, first):
    assert first["changed"] is True
    store = lab.store(buckets)
    refs = store.list_backups(ENV, source["db"])
    assert [r.backup_id for r in refs] == [first["backup_id"]]
    m = store.read_manifest(ENV, source["db"], first["backup_id"])
    odoo = m.odoo
    assert odoo["db_name"] == source["db"] and odoo["version"] == "17.0" and odoo["major_version"] == "17.0"
    assert odoo["pg_version"].startswith("15.") and odoo["modules"]["base"] == "17.0.1.3"
    assert odoo["database_uuid"]
    assert m.data["source"]["environment"] == ENV
    assert m.tables["ir_attachment"] > 0 and m.tables["res_partner"] > 0
    assert m.data["postgresql"]["pg_dump_version"].startswith("15.")
    # every object of the backup directory is in the manifest with its SHA-256, and the index holds the files
    listed = set(all_keys(lab.client("a"), buckets, m.prefix))
    assert listed == {o["key"] for o in m.objects} | {m.manifest_key}
    _ks, entries = store.read_index(m)
    assert len(entries) == first["filestore"]["count"] == first["filestore"]["uploaded"]
    # the manifest was written after everything else
    times = {}
    for v in lab.client("a").list_object_versions(Bucket=buckets, Prefix=m.prefix)["Versions"]:
        times[v["Key"]] = v["LastModified"]
    assert max(times.values()) == times[m.manifest_key]
    # progress was reported while running, and summarized
    assert "%" in first["_progress_log"] and "/s" in first["_progress_log"]
    assert first["progress"]["percent"] == 100.0


def test_round_trip_restore_by_hand_gives_equal_data(lab, source, buckets, first, tmp_path):
    """Restore with the plain tools (zstd + pg_restore), not with this collection's restore."""
    import zstandard

    store = lab.store(buckets)
    m = store.read_manifest(ENV, source["db"], first["backup_id"])
    dump = tmp_path / "db.dump"
    body = lab.client("a").get_object(Bucket=buckets, Key=m.dump_objects[0]["key"])["Body"]
    with open(dump, "wb") as out:
        zstandard.ZstdDecompressor().copy_stream(body, out)
    target = unique("gbk_rt_")
    try:
        env = dict(os.environ, PGHOST=str(lab.pg["login_host"]), PGPORT=str(lab.pg["login_port"]),
                   PGUSER=lab.pg["login_user"], PGPASSWORD=lab.pg["login_password"])
        subprocess.run([f"{lab.bin_dir}/createdb", target], env=env, check=True)
        subprocess.run([f"{lab.bin_dir}/pg_restore", "-j2", "--no-owner", "--exit-on-error", "-d", target, str(dump)],
                       env=env, check=True)
        # the source has not changed since the first backup (the incremental test runs later)
        src = table_fingerprints(lab, source["db"])
        got = table_fingerprints(lab, target)
        assert got == src
        assert {t: v[0] for t, v in got.items()} == m.tables
        # attachments, byte for byte, from the content-addressed objects
        files = tmp_path / "files"
        restore_core.fetch_filestore(store, m, str(files))
        wanted = {e["fname"] for e in store.read_index(m)[1]}
        restored = dir_digest(files)
        assert set(restored) == wanted
        originals = dir_digest(source["filestore"])
        assert all(restored[f] == originals[f] for f in restored)
        assert all(restored[f] == f.split("/")[1] for f in restored)  # content matches its SHA-1 name
    finally:
        lab.drop_db(target)


def test_object_lock_on_everything_and_copy_on_the_second_endpoint(lab, source, buckets, first):
    a, b = lab.store(buckets, "a"), lab.store(buckets, "b")
    m = a.read_manifest(ENV, source["db"], first["backup_id"])
    started = m.started_at
    for key in [o["key"] for o in m.objects] + [m.manifest_key]:
        for store in (a, b):
            head = store.client.head_object(Bucket=buckets, Key=key)
            assert head["ObjectLockMode"] == "GOVERNANCE"
            assert head["ObjectLockRetainUntilDate"] >= started + dt.timedelta(days=1) - dt.timedelta(seconds=1)
    _ks, entries = a.read_index(m)
    for e in entries[:20]:
        key = fmt.filestore_key(e["sha1"])
        head = b.client.head_object(Bucket=buckets, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] >= started + dt.timedelta(days=1)
    # the same manifest written last on b too, but for b's own version ids (format 3: each store pins
    # the versions it holds), sealed again; and b verifies on its own
    mb = b.read_manifest(ENV, source["db"], first["backup_id"])
    assert m.pinned and mb.pinned

    def unpinned(data):
        body = json.loads(json.dumps(data))
        body.pop("manifest_sha256")
        for o in body["objects"]:
            assert o.pop("version_id")
            if o["role"] == fmt.ROLE_INDEX:  # the index carries the version ids of the files: other bytes
                o.pop("size")
                o.pop("sha256")
        return body

    assert unpinned(m.data) == unpinned(mb.data)
    assert first["copied_to"]["copied"] == len(entries) + 1
    res, _stderr = run_module("backup_verify", dict(lab.s3["b"], environment=ENV, database=source["db"],
                                                    bucket=buckets))
    assert res["ok"] and not res["problems"], res


def test_incremental_backup_uploads_only_new_files(lab, source, buckets, first):
    import odoo_dataset

    n_files = first["filestore"]["count"]
    added = odoo_dataset.add_attachments(lab.dsn, source["db"], source["filestore"], count=max(3, n_files // 100),
                                         seed=7)
    time.sleep(1.1)  # backup ids have second resolution
    res, _stderr = run_module("backup", backup_args(lab, source, buckets, object_lock_mode="GOVERNANCE",
                                                    object_lock_days=1))
    assert not res.get("failed"), res
    fs = res["filestore"]
    assert fs["uploaded"] == added["files"]
    assert fs["uploaded_bytes"] == added["bytes"]
    assert fs["reused"] == n_files
    assert fs["head_requests"] == 0  # everything known from the previous index
    assert fs["retention_extended"] == 0  # locks of reused objects reach far enough
    # PUT requests: the new files, the database archive (one PUT below 16 MiB), the index, the manifest
    req = res["requests"]
    parts = -(-res["database"]["stored_size"] // (16 * 2**20))
    assert req["put"] == added["files"] + (1 if parts == 1 else parts) + 2
    assert req["put_bytes"] < added["bytes"] + res["database"]["stored_size"] + 2 * 2**20
    assert req["list"] <= 4
    store = lab.store(buckets)
    m = store.read_manifest(ENV, source["db"], res["backup_id"])
    assert m.data["filestore"]["count"] == n_files + added["files"]
    assert set(added["fnames"]) <= {e["fname"] for e in store.read_index(m)[1]}


def test_verify_checks_every_object_and_test_restore(lab, source, buckets, first):
    args = dict(lab.pg, **lab.s3["a"], environment=ENV, database=source["db"], backup_id=first["backup_id"],
                bucket=buckets, test_restore=True, pg_bin_dir=lab.bin_dir)
    res, _stderr = run_module("backup_verify", args)
    assert res["ok"] and not res.get("failed"), res
    assert res["objects_checked"] == first["filestore"]["count"] + 2
    tr = res["test_restore"]
    assert tr["ok"] and tr["dropped"] and tr["row_count_differences"] == []
    assert tr["files"] == first["filestore"]["count"]
    assert not lab.db_exists(tr["database"])
    assert res["changed"] is False


def corrupted_copy(lab, source, tmp_bucket):
    """A fresh, unlocked backup of the source in ``tmp_bucket`` (to be damaged)."""
    res, _stderr = run_module("backup", backup_args(lab, source, tmp_bucket))
    assert not res.get("failed"), res
    store = lab.store(tmp_bucket)
    return store, store.read_manifest(ENV, source["db"], res["backup_id"])


def test_verify_names_corrupted_truncated_and_missing_objects(lab, source):
    bucket = unique("gbk-bad-")
    c = lab.client("a")
    make_bucket(c, bucket, lock=False)
    try:
        store, m = corrupted_copy(lab, source, bucket)
        _ks, entries = store.read_index(m)
        victim = fmt.filestore_key(entries[3]["sha1"])
        data = bytearray(store.get_bytes(victim))
        data[len(data) // 2] ^= 0xFF
        c.put_object(Bucket=bucket, Key=victim, Body=bytes(data))  # same size, other content
        short = fmt.filestore_key(entries[5]["sha1"])
        c.put_object(Bucket=bucket, Key=short, Body=store.get_bytes(short)[:-1])  # truncated
        gone = fmt.filestore_key(entries[7]["sha1"])
        c.delete_object(Bucket=bucket, Key=gone)
        args = dict(lab.s3["a"], environment=ENV, database=source["db"], bucket=bucket)
        res, _stderr = run_module("backup_verify", args)
        assert res["failed"] and not res["ok"]
        by_key = {p["key"]: p["problem"] for p in res["problems"]}
        assert by_key == {victim: "sha256", short: "size", gone: "missing"}
        assert victim in res["msg"]
        # presence level: listing only, finds the missing and the truncated one, not the same-size change
        res, _stderr = run_module("backup_verify", dict(args, level="presence"))
        assert {p["key"]: p["problem"] for p in res["problems"]} == {short: "size", gone: "missing"}
        # the database archive
        dump_key = m.dump_objects[0]["key"]
        blob = bytearray(store.get_bytes(dump_key))
        blob[100] ^= 1
        c.put_object(Bucket=bucket, Key=dump_key, Body=bytes(blob))
        res, _stderr = run_module("backup_verify", args)
        assert {"key": dump_key, "problem": "sha256"}.items() <= next(
            p for p in res["problems"] if p["key"] == dump_key).items()
        # an altered manifest: still valid JSON, but the seal does not match
        data = json.loads(store.get_bytes(m.manifest_key))
        data["database"]["tables"]["res_partner"] += 1
        c.put_object(Bucket=bucket, Key=m.manifest_key, Body=json.dumps(data).encode())
        res, _stderr = run_module("backup_verify", args)
        assert res["failed"] and res["problems"][0]["problem"] == "manifest"
        assert "checksum mismatch" in res["msg"] and m.manifest_key in res["problems"][0]["key"]
    finally:
        wipe_bucket(c, bucket)


def test_encrypted_backup(lab, source, tmp_path):
    bucket = unique("gbk-enc-")
    c = lab.client("a")
    make_bucket(c, bucket, lock=False)
    key = os.urandom(32)
    try:
        res, _stderr = run_module("backup", backup_args(lab, source, bucket, encryption_key=key.hex()))
        assert not res.get("failed") and res["encrypted"], res
        assert key.hex() not in json.dumps(res)
        store = lab.store(bucket)
        m = store.read_manifest(ENV, source["db"], res["backup_id"])
        kid = crypto.key_id(key)
        assert m.encryption["key_id"] == kid and m.dump_objects[0]["key"].endswith(".zst.enc")
        assert store.get_bytes(m.dump_objects[0]["key"])[:8] == b"GOBKENC1"
        assert all(k.startswith(f"filestore/enc-{kid}/sha1/") for k in all_keys(c, bucket, "filestore/"))
        # checksums verify without the key; contents (SHA-1) with it; a wrong key is refused
        args = dict(lab.s3["a"], environment=ENV, database=source["db"], bucket=bucket)
        assert run_module("backup_verify", args)[0]["ok"]
        assert run_module("backup_verify", dict(args, encryption_key=key.hex()))[0]["ok"]
        bad = run_module("backup_verify", dict(args, encryption_key=os.urandom(32).hex()))[0]
        assert bad["failed"] and bad["error"] == "encryption"
        with pytest.raises(EncryptionError):
            restore_core.fetch_dump(store, m, str(tmp_path / "x.dump"), key=None)
        restore_core.fetch_dump(store, m, str(tmp_path / "x.dump"), key=key)
        assert (tmp_path / "x.dump").read_bytes()[:5] == b"PGDMP"
    finally:
        wipe_bucket(c, bucket)


# ------------------------------------------------------------------------------------- retention


def engine_backup(lab, source, bucket, when, **kw):
    opts = BackupOptions(environment=ENV, pg=dict(lab.pg, db=source["db"]), target=StoreTarget(lab.s3["a"], bucket),
                         filestore_path=source["filestore"], pg_bin_dir=lab.bin_dir, now=when, progress_interval=0,
                         **kw)
    return run_backup(opts)


def test_retention_gfs_check_mode_and_idempotence(lab, source):
    bucket = unique("gbk-ret-")
    c = lab.client("a")
    make_bucket(c, bucket)
    try:
        now = fmt.utcnow()
        ids = []
        # eight nightly backups in the past (their GOVERNANCE lock already expired), one today (locked)
        for days in (9, 8, 7, 6, 5, 4, 3, 2):
            when = now - dt.timedelta(days=days)
            ids.append(engine_backup(lab, source, bucket, when, object_lock_mode="GOVERNANCE",
                                     object_lock_days=1)["backup_id"])
        ids.append(engine_backup(lab, source, bucket, now, object_lock_mode="GOVERNANCE",
                                 object_lock_days=1)["backup_id"])
        args = dict(lab.s3["a"], bucket=bucket, environment=ENV, policy={"daily": 3, "weekly": 0, "monthly": 0})
        preview, _stderr = run_module("backup_retention", args, check_mode=True)
        assert not preview.get("failed"), preview
        assert sorted(k["backup_id"] for k in preview["kept"]) == sorted(ids[-3:])
        assert sorted(d["backup_id"] for d in preview["deleted"]) == sorted(ids[:-3])
        assert preview["changed"] is True
        assert len(lab.store(bucket).list_backups(ENV, source["db"])) == 9  # check mode deleted nothing
        res, _stderr = run_module("backup_retention", args)
        assert sorted(d["backup_id"] for d in res["deleted"]) == sorted(ids[:-3]) and res["changed"]
        left = [r.backup_id for r in lab.store(bucket).list_backups(ENV, source["db"])]
        assert left == ids[-3:]
        # nothing of the deleted backups remains, not even old versions
        for bid in ids[:-3]:
            prefix = fmt.backup_prefix(ENV, source["db"], bid)
            assert not c.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions")
        # the filestore objects are all still referenced: none deleted
        assert res["filestore"]["deleted"] == 0
        again, _stderr = run_module("backup_retention", args)
        assert again["changed"] is False and again["deleted"] == []
        # the kept backups are intact
        assert run_module("backup_verify", dict(lab.s3["a"], environment=ENV, database=source["db"],
                                                bucket=bucket))[0]["ok"]
    finally:
        wipe_bucket(c, bucket)


def test_locked_backups_survive_retention_and_users(lab, source):
    """COMPLIANCE lock: the server refuses retention's and a user's deletes; the module reports it."""
    bucket = unique("gbk-lock-")
    c = lab.client("a")
    make_bucket(c, bucket)
    first = engine_backup(lab, source, bucket, fmt.utcnow(), object_lock_mode="COMPLIANCE", object_lock_days=1)
    time.sleep(1.1)
    engine_backup(lab, source, bucket, fmt.utcnow(), object_lock_mode="COMPLIANCE", object_lock_days=1)
    store = lab.store(bucket)
    m = store.read_manifest(ENV, source["db"], first["backup_id"])
    # a user deleting the locked version is refused by the server
    for key in (m.manifest_key, m.dump_objects[0]["key"]):
        vid = c.list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
        with pytest.raises(c.exceptions.ClientError) as info:
            c.delete_object(Bucket=bucket, Key=key, VersionId=vid)
        assert info.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(c.exceptions.ClientError):
            c.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
    # retention wants the older one gone (keep_last 1, nothing else); the server refuses; reported
    args = dict(lab.s3["a"], bucket=bucket, policy={"daily": 0, "weekly": 0, "monthly": 0, "keep_last": 1})
    res, _stderr = run_module("backup_retention", args)
    assert not res.get("failed"), res
    assert res["deleted"] == [] and res["changed"] is False
    locked = res["locked"]
    assert [i["backup_id"] for i in locked] == [first["backup_id"]]
    assert locked[0]["lock_mode"] == "COMPLIANCE" and locked[0]["retain_until"]
    assert "AccessDenied" in locked[0]["server_refused"] or "Access Denied" in locked[0]["server_refused"]
    assert any("object lock" in json.dumps(w) for w in res.get("warnings", []))
    assert store.list_backups(ENV, source["db"])[0].backup_id == first["backup_id"]
    assert run_module("backup_verify", dict(lab.s3["a"], environment=ENV, database=source["db"], bucket=bucket,
                                            backup_id=first["backup_id"]))[0]["ok"]
    # COMPLIANCE objects stay until their date: the bucket is left to expire (1 day)


def test_filestore_garbage_only_when_unreferenced(lab, source, tmp_path):
    """Files referenced only by deleted backups go; files of kept backups (any environment) stay."""
    import odoo_dataset

    bucket = unique("gbk-gc-")
    c = lab.client("a")
    make_bucket(c, bucket, lock=False)
    db = unique("gbk_gc_")
    fs = tmp_path / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 4 * 2**20, 40, 2 * 2**20, jobs=2, log=lambda m: None)
    src = {"db": db, "filestore": str(fs)}
    try:
        now = fmt.utcnow()
        engine_backup(lab, src, bucket, now - dt.timedelta(days=3))
        # a file that only the old backup has: its attachment is deleted before the next backups
        with lab.connect(db) as conn:
            fname = conn.execute("DELETE FROM ir_attachment WHERE id = (SELECT min(id) FROM ir_attachment "
                                 "WHERE store_fname IS NOT NULL) RETURNING store_fname").fetchone()[0]
            conn.execute("DELETE FROM ir_attachment WHERE store_fname = %s", (fname,))
        engine_backup(lab, src, bucket, now - dt.timedelta(days=2))
        # another environment's backup of the same data shares the objects
        opts = BackupOptions(environment="other", pg=dict(lab.pg, db=db), target=StoreTarget(lab.s3["a"], bucket),
                             filestore_path=str(fs), pg_bin_dir=lab.bin_dir, now=now - dt.timedelta(days=1),
                             progress_interval=0)
        other = run_backup(opts)
        assert other["filestore"]["uploaded"] == 0
        store = lab.store(bucket)
        policy = Policy(daily=1, weekly=0, monthly=0)
        grace = dt.timedelta(0)
        plan = prune.run_retention(store, policy, environment=ENV, check_mode=True, grace=grace)
        assert plan["filestore"]["deleted"] == 1
        assert plan["filestore"]["deleted_keys"] == [fmt.filestore_key(fname[3:])]
        res = prune.run_retention(store, policy, environment=ENV, grace=grace)
        assert res["filestore"]["deleted"] == 1 and len(res["deleted"]) == 1
        assert fmt.filestore_key(fname[3:]) not in all_keys(c, bucket, "filestore/")
        # every remaining backup still verifies (nothing they reference was deleted)
        for env in (ENV, "other"):
            r, _stderr = run_module("backup_verify", dict(lab.s3["a"], environment=env, database=db, bucket=bucket))
            assert r["ok"], r
        assert prune.run_retention(store, policy, environment=ENV, grace=grace)["changed"] is False
    finally:
        lab.drop_db(db)
        shutil.rmtree(fs, ignore_errors=True)
        wipe_bucket(c, bucket)


def test_retention_of_reused_files_is_extended(lab, source):
    """A longer lock than the reused objects carry extends them (once), never shortens them."""
    bucket = unique("gbk-ext-")
    c = lab.client("a")
    make_bucket(c, bucket)
    try:
        first, _stderr = run_module("backup", backup_args(lab, source, bucket, object_lock_mode="GOVERNANCE",
                                                          object_lock_days=1, object_lock_slack_days=1))
        assert not first.get("failed"), first
        time.sleep(1.1)
        second, _stderr = run_module("backup", backup_args(lab, source, bucket, object_lock_mode="GOVERNANCE",
                                                           object_lock_days=30))
        assert not second.get("failed"), second
        fs = second["filestore"]
        assert fs["uploaded"] == 0 and fs["reused"] == fs["count"]
        assert fs["retention_extended"] == fs["count"]
        store = lab.store(bucket)
        m = store.read_manifest(ENV, source["db"], second["backup_id"])
        floor = m.started_at + dt.timedelta(days=30)
        for e in store.read_index(m)[1][:25]:
            head = c.head_object(Bucket=bucket, Key=fmt.filestore_key(e["sha1"]))
            assert head["ObjectLockRetainUntilDate"] >= floor
            assert fmt.parse_time(e["retain_until"]) >= floor
        # a third backup with the same policy finds nothing to extend (slack), and a shorter one neither
        time.sleep(1.1)
        third, _stderr = run_module("backup", backup_args(lab, source, bucket, object_lock_mode="GOVERNANCE",
                                                          object_lock_days=30))
        assert third["filestore"]["retention_extended"] == 0 and third["requests"]["retention"] == 0
        time.sleep(1.1)
        fourth, _stderr = run_module("backup", backup_args(lab, source, bucket, object_lock_mode="GOVERNANCE",
                                                           object_lock_days=2))
        assert fourth["filestore"]["retention_extended"] == 0
    finally:
        wipe_bucket(c, bucket)
