"""governed.odoo.backup of an Odoo whose attachments are in object storage (``filestore_s3``), against the lab: real
PostgreSQL 15 and real SeaweedFS S3.

A generated Odoo-shaped database and filestore (tests/fixtures/odoo_dataset.py, plus one attachment above 16 MiB)
stand in for the instance; its files are uploaded into a versioned bucket of their own as Odoo with object storage
keeps them, ``<prefix><db>/<store_fname>``. Shown here:

* a backup from the bucket stores the same filestore objects and the same index as a backup of the same files from
  a directory; the manifest names the bucket and prefix (no credentials); the bucket is only read;
* a round trip: the backup's attachments come back byte for byte, into a directory (restore_core.fetch_filestore)
  and into a bucket of the same layout (the restore module's flow with ``filestore_s3``);
* a second backup uploads only the new attachment objects (no HEAD, no re-upload of the others);
* an object whose content does not match its name is stored under its real SHA-1 and reported in ``renamed``; a
  referenced object that does not exist is reported in ``missing``;
* ``filestore_scope: all`` lists every object under the database's prefix; check mode writes nothing;
* ``filestore_path`` and ``filestore_s3`` together, or a source bucket that does not exist, are refused naming them,
  before anything is written;
* the backup role backs up an ``object_storage`` instance (validation, preflight, backup, verification) from the
  attachments bucket, and its CronJob settings carry the bucket and prefix without secrets.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from backup_lab import REPO, Lab, all_keys, dir_digest, make_bucket, run_module, unique, wipe_bucket

sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _playrun import run_play
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import restore_core
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import (
    BackupOptions,
    StoreTarget,
    run_backup,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ConfigError
from ansible_collections.governed.odoo.plugins.module_utils.backup.filestore import BucketSource, plan

pytestmark = pytest.mark.lab

ENV = "itest-s3fs"
PREFIX = "inst/"
BIG = 17 * 2**20 + 123  # above SMALL_FILE: read in two streaming passes into a multipart upload


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def source(lab, tmp_path_factory):
    """A generated Odoo-shaped database (~4 MiB) and filestore directory (80 files, ~4 MiB, and one of 17 MiB)."""
    import odoo_dataset

    db = unique("gbs_src_")
    fs = tmp_path_factory.mktemp("fs") / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 4 * 2**20, 80, 4 * 2**20, jobs=2, log=lambda m: None)
    big = os.urandom(BIG)
    fname, sha1 = odoo_dataset.write_file(str(fs), big)
    with lab.connect(db) as conn:
        conn.execute(
            "INSERT INTO ir_attachment (name, res_model, res_id, company_id, type, store_fname, file_size, "
            "checksum, mimetype) VALUES ('Scan.pdf', 'res.partner', 1, 1, 'binary', %s, %s, %s, "
            "'application/pdf')",
            (fname, len(big), sha1),
        )
    yield {"db": db, "filestore": str(fs), "big": fname}
    lab.drop_db(db)


def referenced(lab, db):
    with lab.connect(db) as conn:
        rows = conn.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL").fetchall()
    return sorted(r[0] for r in rows)


def upload_files(client, bucket, base, root, fnames=None):
    """Put files of the directory ``root`` into ``bucket`` under ``base`` (all of them, or ``fnames``)."""
    if fnames is None:
        fnames = [os.path.relpath(os.path.join(d, n), root) for d, _s, files in os.walk(root) for n in files]

    def one(fname):
        with open(os.path.join(root, fname), "rb") as fh:
            client.put_object(Bucket=bucket, Key=base + fname, Body=fh.read())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, fnames))
    return fnames


def versions(client, bucket):
    out = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        out += [(v["Key"], v["VersionId"]) for v in page.get("Versions") or []]
        out += [(v["Key"], v["VersionId"], "marker") for v in page.get("DeleteMarkers") or []]
    return sorted(out)


@pytest.fixture(scope="module")
def attachments(lab, source):
    """The source's attachments in a versioned bucket (like the storage role's), ``inst/<db>/<store_fname>``."""
    c = lab.client("a")
    name = unique("gbs-att-")
    c.create_bucket(Bucket=name)
    c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    base = f"{PREFIX}{source['db']}/"
    upload_files(c, name, base, source["filestore"])
    params = dict(lab.s3["a"], bucket=name, prefix=PREFIX)
    yield {"bucket": name, "client": c, "base": base, "params": params}
    wipe_bucket(c, name)


@pytest.fixture(scope="module")
def stores(lab):
    """Backup stores: one for the directory backup, one (object lock) for the bucket backups."""
    c = lab.client("a")
    names = {"dir": make_bucket(c, unique("gbs-dir-"), lock=False), "s3": make_bucket(c, unique("gbs-s3-"))}
    yield names
    for name in names.values():
        wipe_bucket(c, name)


def backup_args(lab, source, bucket, **extra):
    args = dict(
        lab.pg,
        **lab.s3["a"],
        environment=ENV,
        db=source["db"],
        bucket=bucket,
        pg_bin_dir=lab.bin_dir,
        progress_interval=1,
    )
    args.update(extra)
    return args


@pytest.fixture(scope="module")
def first(lab, source, attachments, stores):
    """The same files backed up from the directory and from the bucket (with a GOVERNANCE lock of one day)."""
    before = versions(attachments["client"], attachments["bucket"])
    d, _err = run_module("backup", backup_args(lab, source, stores["dir"], filestore_path=source["filestore"]))
    assert not d.get("failed"), d
    s, _err = run_module(
        "backup",
        backup_args(
            lab,
            source,
            stores["s3"],
            filestore_s3=attachments["params"],
            object_lock_mode="GOVERNANCE",
            object_lock_days=1,
        ),
    )
    assert not s.get("failed"), s
    return {"dir": d, "s3": s, "source_versions": before}


def without_retention(entries):
    """Index entries without what is each store's own: retention dates, and the version ids (format 3) it pins."""
    return [{k: v for k, v in e.items() if k not in ("retain_until", "version_id")} for e in entries]


def test_a_bucket_backup_stores_what_a_directory_backup_stores(lab, source, attachments, stores, first):
    d, s = first["dir"], first["s3"]
    files = referenced(lab, source["db"])
    assert s["filestore"]["count"] == d["filestore"]["count"] == s["filestore"]["uploaded"] == len(files) == 81
    assert s["filestore"]["size"] == d["filestore"]["size"] and s["filestore"]["reused"] == 0
    assert s["filestore"]["missing"] == [] and s["filestore"]["renamed"] == []
    assert not s.get("warnings")
    c = lab.client("a")
    # the same content-addressed objects (key and size), and the same index (retention dates aside: one is locked;
    # version ids aside: each store pins its own objects)
    assert all_keys(c, stores["s3"], "filestore/") == all_keys(c, stores["dir"], "filestore/")
    ds, ss = lab.store(stores["dir"]), lab.store(stores["s3"])
    md = ds.read_manifest(ENV, source["db"], d["backup_id"])
    ms = ss.read_manifest(ENV, source["db"], s["backup_id"])
    entries = ss.read_index(ms)[1]
    assert without_retention(entries) == without_retention(ds.read_index(md)[1])
    assert {e["fname"] for e in entries} == set(files)
    for key in ("count", "size", "stored_size", "missing", "renamed", "keyspace"):
        assert ms.data["filestore"][key] == md.data["filestore"][key], key
    # the large one went through the multipart path, with the metadata a later backup reuses it by
    big = next(e for e in entries if e["fname"] == source["big"])
    head = c.head_object(Bucket=stores["s3"], Key=fmt.filestore_key(big["sha1"]))
    assert head["ContentLength"] == BIG and head["Metadata"]["sha256"] == big["sha256"]
    assert head["Metadata"]["sha1"] == big["sha1"] == source["big"].split("/")[1]
    assert head["ObjectLockMode"] == "GOVERNANCE"
    # the manifest names where the attachments came from, never the credentials
    src = ms.data["source"]
    assert src["filestore_s3"] == f"s3://{attachments['bucket']}/{attachments['base']}"
    assert src["filestore_path"] is None and "filestore_s3" not in md.data["source"]
    raw = ss.get_bytes(ms.manifest_key).decode()
    assert lab.s3["a"]["secret_key"] not in raw and lab.s3["a"]["access_key"] not in raw
    assert lab.s3["a"]["secret_key"] not in json.dumps(s)  # filestore_s3.secret_key is no_log
    # the attachments bucket was only read
    assert versions(attachments["client"], attachments["bucket"]) == first["source_versions"]


def test_plan_needs_one_listing_of_the_source_prefix(lab, source, attachments, stores, first):
    src = BucketSource.open(attachments["params"], source["db"])
    existing = lab.store(stores["s3"]).list_filestore(fmt.filestore_keyspace())
    p = plan(
        [*referenced(lab, source["db"]), "ab/" + "b" * 40, "../../etc/passwd"],
        src,
        existing,
        keyspace=fmt.filestore_keyspace(),
    )
    assert src.stats == {"list": 1, "get": 0, "get_bytes": 0}  # sizes from one listing, no HEAD or GET per file
    assert p.upload == [] and len(p.reuse) == 81
    assert sorted(p.missing) == sorted(["ab/" + "b" * 40, "../../etc/passwd"])
    assert p.reuse_bytes == sum(all_keys(attachments["client"], attachments["bucket"], attachments["base"]).values())


def test_round_trip_gives_the_attachments_back_byte_for_byte(lab, source, attachments, stores, first, tmp_path):
    from ansible_collections.governed.odoo.plugins.module_utils.restore import flow

    store = lab.store(stores["s3"])
    m = store.read_manifest(ENV, source["db"], first["s3"]["backup_id"])
    # into a directory: the source's files
    files = tmp_path / "files"
    restore_core.fetch_filestore(store, m, str(files), strict=True)
    assert dir_digest(files) == dir_digest(source["filestore"])
    # with the restore module's flow into a bucket of the same layout: the source's objects
    c = attachments["client"]
    target_bucket = unique("gbs-rt-")
    c.create_bucket(Bucket=target_bucket)
    c.put_bucket_versioning(Bucket=target_bucket, VersioningConfiguration={"Status": "Enabled"})
    target = unique("gbs_rt_")
    try:
        opts = flow.Options(
            environment=ENV,
            db_name=source["db"],
            target=dict(lab.pg, db="postgres"),
            target_db=target,
            target_environment="prod",
            neutralize="none",
            backup_id=first["s3"]["backup_id"],
            filestore_s3=dict(lab.s3["a"], bucket=target_bucket, prefix=PREFIX),
            workers=4,
            pg_bin_dir=lab.bin_dir,
            work_dir=str(tmp_path),
            progress_stream=io.StringIO(),
        )
        res = flow.run(store, opts)
        assert res["switched"] and res["attachments"]["ok"], res
        restored = all_keys(c, target_bucket, f"{PREFIX}{target}/")
        original = all_keys(c, attachments["bucket"], attachments["base"])
        assert {k[len(f"{PREFIX}{target}/") :]: v for k, v in restored.items()} == {
            k[len(attachments["base"]) :]: v for k, v in original.items()
        }
        for key in original:
            fname = key[len(attachments["base"]) :]
            a = c.get_object(Bucket=attachments["bucket"], Key=key)["Body"].read()
            b = c.get_object(Bucket=target_bucket, Key=f"{PREFIX}{target}/{fname}")["Body"].read()
            assert a == b, fname
    finally:
        with lab.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                    (target, target + "\\_\\_%"),
                ).fetchall()
            ]
        for name in names:
            lab.drop_db(name)
        wipe_bucket(c, target_bucket)


def test_second_backup_uploads_only_the_new_objects(lab, source, attachments, stores, first):
    import odoo_dataset

    n_files = first["s3"]["filestore"]["count"]
    added = odoo_dataset.add_attachments(lab.dsn, source["db"], source["filestore"], count=5, seed=11)
    upload_files(
        attachments["client"], attachments["bucket"], attachments["base"], source["filestore"], added["fnames"]
    )
    time.sleep(1.1)  # backup ids have second resolution
    res, _err = run_module(
        "backup",
        backup_args(
            lab,
            source,
            stores["s3"],
            filestore_s3=attachments["params"],
            object_lock_mode="GOVERNANCE",
            object_lock_days=1,
        ),
    )
    assert not res.get("failed"), res
    fs = res["filestore"]
    assert fs["uploaded"] == added["files"] == 5
    assert fs["uploaded_bytes"] == added["bytes"]
    assert fs["reused"] == n_files and fs["count"] == n_files + 5
    assert fs["head_requests"] == 0 and fs["retention_extended"] == 0  # everything known from the previous index
    # PUTs: the new objects, the database archive (a few parts at most), the index, the manifest
    req = res["requests"]
    assert added["files"] + 3 <= req["put"] <= added["files"] + 6
    assert req["put_bytes"] < added["bytes"] + res["database"]["stored_size"] + 2 * 2**20  # not the 17 MiB again
    store = lab.store(stores["s3"])
    m = store.read_manifest(ENV, source["db"], res["backup_id"])
    assert set(added["fnames"]) <= {e["fname"] for e in store.read_index(m)[1]}


def test_mismatched_and_missing_objects_are_reported(lab, source, attachments):
    c = attachments["client"]
    files = [f for f in referenced(lab, source["db"]) if f != source["big"]]
    victim, gone = files[3], files[7]
    vkey, gkey = attachments["base"] + victim, attachments["base"] + gone
    original = c.get_object(Bucket=attachments["bucket"], Key=vkey)["Body"].read()
    other = b"not the content its name says: " + original[:1000]
    real_sha1 = hashlib.sha1(other).hexdigest()
    c.put_object(Bucket=attachments["bucket"], Key=vkey, Body=other)
    gone_data = c.get_object(Bucket=attachments["bucket"], Key=gkey)["Body"].read()
    c.delete_object(Bucket=attachments["bucket"], Key=gkey)
    bucket = make_bucket(lab.client("a"), unique("gbs-bad-"), lock=False)
    try:
        # the database references a file the bucket does not have: a failed backup, nothing sealed, and
        # the preflight (check mode) says so too
        args = backup_args(lab, source, bucket, filestore_s3=attachments["params"])
        res, _err = run_module("backup", args)
        assert res.get("failed") and res["error"] == "filestore_incomplete", res
        assert gone in res["msg"] and f"s3://{attachments['bucket']}/{attachments['base']}" in res["msg"]
        assert res["missing"] == [gone] and res["missing_count"] == 1
        assert lab.store(bucket).list_backups(ENV, source["db"]) == []
        res, _err = run_module("backup", args, check_mode=True)
        assert res.get("failed") and res["missing"] == [gone], res
        # the instance's policy names the gap: the backup is taken and records it
        res, _err = run_module("backup", dict(args, accept_missing_files=[gone]))
        assert not res.get("failed"), res
        assert res["filestore"]["missing"] == [gone]
        assert res["filestore"]["renamed"] == [{"fname": victim, "content_sha1": real_sha1}]
        warnings = json.dumps(res.get("warnings") or [])
        assert f"missing from s3://{attachments['bucket']}/{attachments['base']}, accepted by the instance" in warnings
        assert "do not match their SHA-1 name" in warnings
        store = lab.store(bucket)
        m = store.read_manifest(ENV, source["db"], res["backup_id"])
        assert m.data["filestore"]["missing"] == [gone]
        assert m.data["filestore"]["missing_accepted"] == {"files": [gone], "count": 0, "unnamed": 0}
        assert m.data["filestore"]["renamed"] == [{"fname": victim, "content_sha1": real_sha1}]
        entries = {e["fname"]: e for e in store.read_index(m)[1]}
        assert gone not in entries
        assert entries[victim]["sha1"] == real_sha1 and entries[victim]["size"] == len(other)
        assert store.get_bytes(fmt.filestore_key(real_sha1)) == other  # stored under its real SHA-1
        assert store.head(fmt.filestore_key(victim.split("/")[1])) is None  # nothing under the name it claims
    finally:
        c.put_object(Bucket=attachments["bucket"], Key=vkey, Body=original)
        c.put_object(Bucket=attachments["bucket"], Key=gkey, Body=gone_data)
        wipe_bucket(lab.client("a"), bucket)


def test_an_instance_whose_attachments_are_not_in_its_bucket_fails_and_one_that_has_them_passes(lab, source):
    """Issue 14, item 9: attachments in object storage, the files elsewhere (on a disk): the backup used to hold 0
    files, with a warning at most, and its drill passed. Now it fails, naming the gap; with the files it passes."""
    c = lab.client("a")
    att = unique("gbs-empty-")
    c.create_bucket(Bucket=att)
    c.put_bucket_versioning(Bucket=att, VersioningConfiguration={"Status": "Enabled"})
    bucket = make_bucket(c, unique("gbs-gap-"), lock=True)
    files = referenced(lab, source["db"])
    try:
        params = dict(lab.s3["a"], bucket=att, prefix=PREFIX)
        args = backup_args(lab, source, bucket, filestore_s3=params, object_lock_mode="GOVERNANCE",
                           object_lock_days=1)
        res, _err = run_module("backup", args)
        assert res.get("failed") and res["error"] == "filestore_incomplete", res
        assert res["missing_count"] == len(files) > 0 and f"{len(files)} attachment file(s)" in res["msg"]
        assert lab.store(bucket).list_backups(ENV, source["db"]) == []
        upload_files(c, att, f"{PREFIX}{source['db']}/", source["filestore"])
        res, _err = run_module("backup", args)
        assert not res.get("failed"), res
        assert res["filestore"]["count"] == len(files) and res["filestore"]["missing"] == []
        out, _err = run_module("backup_verify", dict(lab.s3["a"], environment=ENV, database=source["db"],
                                                     bucket=bucket, backup_id=res["backup_id"]))
        assert out["ok"], out
    finally:
        wipe_bucket(c, bucket)
        wipe_bucket(c, att)


def test_encrypted_backup_of_a_bucket_without_database_in_its_keys(lab, source, attachments, tmp_path):
    """per_database=false: keys are <prefix><store_fname>; encrypted objects, the large one streamed and checked."""
    key = os.urandom(32)
    bucket = make_bucket(lab.client("a"), unique("gbs-enc-"), lock=False)
    try:
        params = dict(attachments["params"], prefix=attachments["base"], per_database=False)
        res, _err = run_module(
            "backup", backup_args(lab, source, bucket, filestore_s3=params, encryption_key=key.hex())
        )
        assert not res.get("failed") and res["encrypted"], res
        assert res["filestore"]["count"] == len(referenced(lab, source["db"])) and res["filestore"]["missing"] == []
        store = lab.store(bucket)
        m = store.read_manifest(ENV, source["db"], res["backup_id"])
        assert m.data["source"]["filestore_s3"] == f"s3://{attachments['bucket']}/{attachments['base']}"
        files = tmp_path / "files"
        restore_core.fetch_filestore(store, m, str(files), key=key, strict=True)
        assert dir_digest(files) == dir_digest(source["filestore"])
    finally:
        wipe_bucket(lab.client("a"), bucket)


def test_scope_all_takes_every_object_under_the_database_prefix(lab, source, attachments):
    c = attachments["client"]
    extra = attachments["base"] + "zz/not-referenced-by-any-attachment"
    c.put_object(Bucket=attachments["bucket"], Key=extra, Body=b"left behind by a deleted attachment")
    # another database's object beside it, under the same instance prefix: not this database's
    c.put_object(Bucket=attachments["bucket"], Key=f"{PREFIX}other_db/aa/{'a' * 40}", Body=b"x")
    bucket = make_bucket(lab.client("a"), unique("gbs-all-"), lock=False)
    try:
        n = len(referenced(lab, source["db"]))
        args = backup_args(lab, source, bucket, filestore_s3=attachments["params"])
        res, _err = run_module("backup", args, check_mode=True)
        assert not res.get("failed") and res["check_mode"], res
        assert res["would_upload"]["upload_count"] == n and res["would_upload"]["missing"] == []
        res, _err = run_module("backup", dict(args, filestore_scope="all"), check_mode=True)
        assert res["would_upload"]["upload_count"] == n + 1
        assert all_keys(lab.client("a"), bucket) == {}  # check mode wrote nothing
    finally:
        c.delete_object(Bucket=attachments["bucket"], Key=extra)
        c.delete_object(Bucket=attachments["bucket"], Key=f"{PREFIX}other_db/aa/{'a' * 40}")
        wipe_bucket(lab.client("a"), bucket)


def test_path_and_bucket_together_or_a_missing_bucket_are_refused_before_writing(lab, source, attachments):
    bucket = make_bucket(lab.client("a"), unique("gbs-ref-"), lock=False)
    try:
        both = backup_args(lab, source, bucket, filestore_path=source["filestore"], filestore_s3=attachments["params"])
        res, _err = run_module("backup", both)
        assert res.get("failed") and "filestore_path" in res["msg"] and "filestore_s3" in res["msg"], res
        opts = BackupOptions(
            environment=ENV,
            pg=dict(lab.pg, db=source["db"]),
            target=StoreTarget(lab.s3["a"], bucket),
            filestore_path=source["filestore"],
            filestore_s3=attachments["params"],
            pg_bin_dir=lab.bin_dir,
            progress_interval=0,
        )
        with pytest.raises(ConfigError) as info:
            run_backup(opts)
        assert "filestore_path" in info.value.msg and "filestore_s3" in info.value.msg
        assert info.value.details["option"] == "filestore_path, filestore_s3"
        # a source bucket that does not exist: refused, naming it, before the dump starts
        nowhere = dict(attachments["params"], bucket=unique("gbs-nowhere-"))
        res, _err = run_module("backup", backup_args(lab, source, bucket, filestore_s3=nowhere))
        assert res.get("failed") and res["error"] == "source" and nowhere["bucket"] in res["msg"], res
        assert lab.s3["a"]["secret_key"] not in json.dumps(res)
        assert all_keys(lab.client("a"), bucket) == {}
    finally:
        wipe_bucket(lab.client("a"), bucket)


# ------------------------------------------------------------------------------------------ the backup role


def role_vars(lab, source, attachments, bucket):
    host, port = lab.pg["login_host"], lab.pg["login_port"]
    return {
        "governed_odoo_tenant": "gbs",
        "governed_odoo_environment": "dev",
        "governed_odoo_instance": "gbs-dev",
        "governed_odoo_namespace": "odoo-gbs-dev",
        "backup_s3": {
            "endpoint_url": lab.s3["a"]["endpoint_url"],
            "region": lab.s3["a"]["region"],
            "access_key": lab.s3["a"]["access_key"],
            "secret_key": lab.s3["a"]["secret_key"],
            "validate_certs": False,
            "cidr": "127.0.0.1/32",
        },
        "backup_bucket": bucket,
        "backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_database": {
            "host": host,
            "port": int(port),
            "name": source["db"],
            "user": lab.pg["login_user"],
            "ssl_mode": "disable",
            "cidr": "127.0.0.1/32",
        },
        "backup_database_password": lab.pg["login_password"],
        "backup_filestore": "object_storage",
        "backup_filestore_s3": {"bucket": attachments["bucket"], "prefix": PREFIX},
        # set for every instance in inventories/lab; not used with object_storage (it does not exist)
        "backup_filestore_path": "/nonexistent/filestore/" + source["db"],
        "backup_pg_bin_dir": lab.bin_dir,
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner:dev",
        "backup_verify": "full",
    }


def test_the_role_backs_up_an_object_storage_instance(lab, source, attachments, tmp_path):
    bucket = make_bucket(lab.client("a"), unique("gbs-role-"))
    out = tmp_path / "out"
    out.mkdir()
    tasks = [
        {
            "name": "Validate",
            "ansible.builtin.include_role": {"name": "governed.odoo.backup", "tasks_from": "validate"},
        },
        {
            "name": "Keep the settings and the rendered CronJob objects",
            "ansible.builtin.copy": {
                "content": "{{ {'settings': backup_settings, 'objects': backup_objects} | to_json }}",
                "dest": str(out / "rendered.json"),
                "mode": "0600",
            },
        },
        {
            "name": "Preflight",
            "ansible.builtin.include_role": {"name": "governed.odoo.backup", "tasks_from": "preflight"},
        },
        {"name": "Backup now", "ansible.builtin.include_role": {"name": "governed.odoo.backup"}},
    ]
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": role_vars(lab, source, attachments, bucket),
            "tasks": tasks,
        }
    ]
    try:
        res = run_play(tmp_path, play)
        assert res.returncode == 0, f"{res.stdout[-5000:]}\n{res.stderr[-3000:]}"
        assert lab.s3["a"]["secret_key"] not in res.stdout + res.stderr
        assert lab.pg["login_password"] not in res.stdout + res.stderr
        store = lab.store(bucket)
        (ref,) = store.list_backups("dev", source["db"])
        m = store.read_manifest("dev", source["db"], ref.backup_id)
        assert m.data["source"]["filestore_s3"] == f"s3://{attachments['bucket']}/{attachments['base']}"
        assert (
            m.data["filestore"]["count"] == len(referenced(lab, source["db"])) and m.data["filestore"]["missing"] == []
        )
        assert m.data["object_lock"]["mode"] == "GOVERNANCE"
        rendered = json.loads((out / "rendered.json").read_text())
        assert rendered["settings"]["filestore_path"] == ""
        assert rendered["settings"]["filestore_s3"] == {
            "bucket": attachments["bucket"],
            "prefix": PREFIX,
            "per_database": True,
        }
        objects = [json.loads(o) if isinstance(o, str) else o for o in rendered["objects"]]
        cm = next(o for o in objects if o["kind"] == "ConfigMap")
        runner = json.loads(cm["data"]["backup-vars.json"])
        assert runner["backup_filestore"] == "object_storage" and runner["backup_filestore_path"] == ""
        assert runner["backup_filestore_s3"] == {
            "bucket": attachments["bucket"],
            "prefix": PREFIX,
            "per_database": True,
        }
        assert lab.s3["a"]["secret_key"] not in cm["data"]["backup-vars.json"]
        cron = next(o for o in objects if o["kind"] == "CronJob")
        assert "data" not in {v["name"] for v in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]}
        # a bad attachments bucket is refused at validation, naming the variable
        bad = run_play(
            tmp_path,
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": role_vars(lab, source, attachments, bucket),
                    "tasks": tasks[:1],
                }
            ],
            "-e",
            json.dumps({"backup_filestore_s3": {"bucket": "Not_A_Bucket", "prefix": PREFIX}}),
        )
        assert bad.returncode != 0 and "backup_filestore_s3.bucket=Not_A_Bucket" in bad.stdout, bad.stdout[-3000:]
    finally:
        wipe_bucket(lab.client("a"), bucket)
