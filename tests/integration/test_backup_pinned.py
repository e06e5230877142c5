"""Backups that survive someone who holds the write keys (issue 14, items 1 and 2), against the lab:
real PostgreSQL 15 and real SeaweedFS S3 with object lock (GOVERNANCE, one day).

The attacker is an ordinary S3 client with the store's own keys (PutObject, DeleteObject): what a
leaked CI key or ransomware on an operator's workstation can do under object lock. It cannot
remove a locked version, but it can write a newer version over any key and hide any key behind a
delete marker.

Shown here:
* every object of a backup (database archive, table archives, filestore index, every filestore
  object) is pinned in the manifest (or the index) by the S3 version id the backup wrote or
  reused, and the manifest is read by its first version (format version 3);
* newer versions written over the database archive, a table archive, a filestore object and the
  manifest itself (a well-sealed forgery) are reported by backup_verify as ``tampered``, naming each
  key, and the restore still succeeds from the locked versions, byte for byte;
* a delete marker over the newest manifest: ``backup_verify`` and ``restore`` without a backup id
  still find that backup (a warning names it), never the older one;
* the next backup after the tampering references the pinned versions, not the forged ones;
* a copy on the second endpoint is pinned by that endpoint's own version ids, and verifies there.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
from backup_lab import run_module
from restore_lab import REPO, BackupLab, drop_databases, pg_dsn

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import engine
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow

pytestmark = pytest.mark.lab

ENV = "production"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A small generated Odoo-shaped database and filestore; backups into lock-enabled buckets of the test."""
    import odoo_dataset

    tmp = tmp_path_factory.mktemp("pinned")
    lab = BackupLab(tmp, ENV, object_lock=True)
    lab.split_min_size = 512 * 1024  # a few table archives (format version 2 objects) too
    try:
        odoo_dataset.generate(
            pg_dsn(lab.server), lab.src, str(lab.src_files), 6 * 2**20, 60, 3 * 2**20, jobs=2, log=lambda m: None
        )
        yield lab
    finally:
        lab.cleanup()


def fresh_store(lab, name):
    """A new lock-enabled bucket with two backups of the source; returns (store, first, second)."""
    lab.use_bucket(f"rt-pin-{name}-{lab.tag}", object_lock=True)
    first = lab.backup()
    time.sleep(1.1)  # backup ids have second resolution
    second = lab.backup()
    return lab.store(), first, second


def attacker(lab):
    """A plain S3 client with the store's keys: PutObject and DeleteObject, nothing else special."""
    return lab.client


def verify_args(lab, **kw):
    args = dict(
        endpoint_url=lab.s3["endpoint_url"],
        access_key=lab.s3["access_key"],
        secret_key=lab.s3["secret_key"],
        region=lab.s3["region"],
        bucket=lab.bucket,
        environment=ENV,
        database=lab.src,
    )
    args.update(kw)
    return args


def restore(lab, tmp_path, target, **kw):
    data = tmp_path / "data"
    opts = lab.options(
        target,
        data,
        copy=False,
        neutralize="sql",
        compare_to=dict(lab.pg, db=lab.src, filestore_path=str(lab.src_files)),
        **kw,
    )
    return flow.run(lab.store(), opts)


def test_every_object_is_pinned_by_its_version_id(lab):
    store, first, second = fresh_store(lab, "ids")
    assert second["format_version"] == fmt.FORMAT_VERSION_PINNED
    m1 = store.read_manifest(ENV, lab.src, first["backup_id"])
    m2 = store.read_manifest(ENV, lab.src, second["backup_id"])
    assert m2.data["format_version"] == 3 and m2.pinned
    assert m2.version_id == second["manifest_version_id"] and m2.version_id
    assert m2.table_objects, "the test needs table archives"
    for m in (m1, m2):
        for obj in m.objects:
            kv = store.key_versions(obj["key"])[obj["key"]]
            assert len(kv.versions) == 1 and obj["version_id"] == kv.original[0], obj
    # the second backup reuses the first's table archives and files: the same pinned versions
    assert {o["key"]: o["version_id"] for o in m2.table_objects} == {
        o["key"]: o["version_id"] for o in m1.table_objects
    }
    keyspace, entries = store.read_index(m2)
    listed = store.list_filestore(keyspace)
    assert len(entries) == 60
    for e in entries:
        assert e["version_id"] == listed[e["sha1"]][2]


def test_overwritten_objects_are_tampering_and_the_restore_uses_the_locked_versions(lab, tmp_path):
    store, _first, second = fresh_store(lab, "over")
    m = store.read_manifest(ENV, lab.src, second["backup_id"])
    c = attacker(lab)
    dump_key = m.dump_objects[0]["key"]
    table_key = m.table_objects[0]["key"]
    _ks, entries = store.read_index(m)
    file_key = fmt.filestore_key(entries[0]["sha1"])
    # newer versions over the database archive, a table archive and a file: same sizes, other bytes
    for key in (dump_key, table_key, file_key):
        data = bytearray(store.get_bytes(key))
        data[len(data) // 2] ^= 0xFF
        c.put_object(Bucket=lab.bucket, Key=key, Body=bytes(data))
    # and a forged manifest over the sealed one: valid JSON, sealed again (the seal is no signature)
    forged = dict(m.data)
    forged["database"] = dict(forged["database"], tables=dict(forged["database"]["tables"], res_partner=0))
    c.put_object(Bucket=lab.bucket, Key=m.manifest_key, Body=fmt.encode_manifest(forged))

    res, _err = run_module("backup_verify", verify_args(lab))
    assert res.get("failed") and not res["ok"], res
    assert res["backup_id"] == second["backup_id"]
    tampered = {p["key"] for p in res["problems"] if p["problem"] == "tampered"}
    assert tampered == {dump_key, table_key, file_key, m.manifest_key}, res["problems"]
    assert all(p["problem"] == "tampered" for p in res["problems"]), res["problems"]
    assert dump_key in res["msg"]
    # presence level: the same, from the listings alone
    res, _err = run_module("backup_verify", verify_args(lab, level="presence"))
    assert {p["key"] for p in res["problems"] if p["problem"] == "tampered"} == tampered

    target = f"rt_pin_over_{lab.tag}"
    try:
        out = restore(lab, tmp_path, target)
        assert out["switched"] and out["backup"]["backup_id"] == second["backup_id"]
        assert out["database"]["source"]["ok"] and out["database"]["manifest"]["ok"]
        att = out["attachments"]
        assert att["ok"] and att["checked"] == 60 and "byte for byte" in att["reference"]
        warnings = " ".join(out["warnings"])
        assert m.manifest_key in warnings and "sealed version" in warnings
        assert out["preflight"]["tampered_count"] == 3
        for key in (dump_key, table_key, file_key):
            assert key in warnings
    finally:
        drop_databases(lab.server, lambda n: n == target or n.startswith(target + "__"))

    # the next backup references the pinned versions, not the forged ones
    time.sleep(1.1)
    third = lab.backup()
    m3 = store.read_manifest(ENV, lab.src, third["backup_id"])
    pinned_tables = {o["key"]: o["version_id"] for o in m.table_objects}
    assert {o["key"]: o["version_id"] for o in m3.table_objects if o["key"] in pinned_tables} == pinned_tables
    e3 = {e["sha1"]: e["version_id"] for e in store.read_index(m3)[1]}
    assert e3[entries[0]["sha1"]] == entries[0]["version_id"]
    res, _err = run_module("backup_verify", verify_args(lab, backup_id=third["backup_id"]))
    assert {p["key"] for p in res["problems"]} == {table_key, file_key}, res["problems"]


def test_a_hidden_newest_manifest_is_found_reported_and_used(lab, tmp_path):
    store, first, second = fresh_store(lab, "hide")
    newest = store.read_manifest(ENV, lab.src, second["backup_id"])
    attacker(lab).delete_object(Bucket=lab.bucket, Key=newest.manifest_key)  # a delete marker, nothing more
    assert newest.manifest_key not in {
        o["Key"] for o in lab.client.list_objects_v2(Bucket=lab.bucket, Prefix=newest.manifest_key).get("Contents", [])
    }
    refs = store.list_backups(ENV, lab.src)
    assert [r.backup_id for r in refs] == [first["backup_id"], second["backup_id"]]
    assert refs[-1].hidden and not refs[0].hidden

    res, _err = run_module("backup_verify", verify_args(lab))
    assert res["ok"] and not res.get("failed"), res
    assert res["backup_id"] == second["backup_id"]
    assert any(newest.manifest_key in w and "delete marker" in w for w in warning_texts(res)), res

    target = f"rt_pin_hide_{lab.tag}"
    try:
        out = restore(lab, tmp_path, target)
        assert out["switched"] and out["backup"]["backup_id"] == second["backup_id"]
        assert out["backup"]["hidden_by_delete_marker"] is True
        assert any(newest.manifest_key in w and "delete marker" in w for w in out["warnings"]), out["warnings"]
        assert out["database"]["source"]["ok"] and out["attachments"]["ok"]
    finally:
        drop_databases(lab.server, lambda n: n == target or n.startswith(target + "__"))


def test_a_copy_on_the_second_endpoint_is_pinned_by_its_own_version_ids(lab):
    lab.use_bucket(f"rt-pin-copy-{lab.tag}", object_lock=True)
    s3b = dict(lab.s3, **_endpoint_b())
    client_b = engine.StoreTarget(s3b, lab.bucket).open()
    client_b.client.create_bucket(Bucket=lab.bucket, ObjectLockEnabledForBucket=True)
    try:
        opts = engine.BackupOptions(
            environment=ENV,
            pg=dict(lab.pg, db=lab.src),
            target=engine.StoreTarget(lab.s3, lab.bucket),
            filestore_path=str(lab.src_files),
            split_min_size=lab.split_min_size,
            object_lock_mode="GOVERNANCE",
            object_lock_days=1,
            copy_to=engine.StoreTarget(s3b, lab.bucket, label="copy"),
            progress_stream=open(os.devnull, "w"),  # noqa: SIM115 - closed with the process
        )
        res = engine.run_backup(opts)
        a, b = lab.store(), client_b
        ma = a.read_manifest(ENV, lab.src, res["backup_id"])
        mb = b.read_manifest(ENV, lab.src, res["backup_id"])
        assert ma.pinned and mb.pinned and mb.version_id == res["copied_to"]["manifest_version_id"]
        for obj in mb.objects:
            assert obj["version_id"] == b.key_versions(obj["key"])[obj["key"]].original[0]

        def without_versions(data):
            body = json.loads(json.dumps(data))
            body.pop("manifest_sha256")
            for o in body["objects"]:
                o.pop("version_id")
                if o["role"] == fmt.ROLE_INDEX:  # the index holds b's version ids: other bytes
                    o.pop("sha256")
                    o.pop("size")
            return body

        assert without_versions(ma.data) == without_versions(mb.data)  # the same backup, b's own version ids
        ea, eb = store_entries(a, ma), store_entries(b, mb)
        assert [dict(e, version_id=None) for e in ea] == [dict(e, version_id=None) for e in eb]
        listed_b = b.list_filestore(mb.filestore_keyspace)
        assert all(e["version_id"] == listed_b[e["sha1"]][2] for e in eb)
        out, _err = run_module(
            "backup_verify",
            dict(
                verify_args(lab),
                **{
                    "endpoint_url": s3b["endpoint_url"],
                    "access_key": s3b["access_key"],
                    "secret_key": s3b["secret_key"],
                },
            ),
        )
        assert out["ok"] and not out["problems"], out
    finally:
        paginator = client_b.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=lab.bucket):
            for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                client_b.client.delete_object(
                    Bucket=lab.bucket, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True
                )
        client_b.client.delete_bucket(Bucket=lab.bucket)


def warning_texts(res):
    """A module's warnings as text (ansible-core 2.19+ returns them as summaries with the message inside)."""
    out = []
    for w in res.get("warnings") or []:
        out.append(w if isinstance(w, str) else json.dumps(w))
    return out


def store_entries(store, manifest):
    return store.read_index(manifest)[1]


def _endpoint_b():
    from restore_lab import lab_s3

    s3 = lab_s3("b")
    return {
        "endpoint_url": s3["endpoint"],
        "access_key": s3["access_key"],
        "secret_key": s3["secret_key"],
        "region": s3.get("region") or "us-east-1",
    }
