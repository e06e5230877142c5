"""Table-data objects (backup format version 2) against the lab's real PostgreSQL and SeaweedFS S3:
retention, object lock and the copy to the second endpoint.

A large table gets its own archive under dbdata/, written by one backup and referenced by every
later backup while the table does not change. Shown here: deleting the backup that WROTE an
archive by retention keeps the archive while a kept backup references it (and that backup still
verifies and restores); once no manifest references it and the grace period has passed, every
version of it is deleted (check mode first, idempotent after); a locked unreferenced archive is
reported and not deleted (not attempted, and refused by the server when asked); the copy to
endpoint b carries the archives, locked, only the missing ones, extending the retention of the
reused one, and b verifies and test-restores on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sys
import time

import pytest
from backup_lab import REPO, Lab, all_keys, make_bucket, run_module, unique, wipe_bucket

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import prune
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import BackupOptions, StoreTarget, run_backup
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy

pytestmark = pytest.mark.lab

ENV = "tdret"
SPLIT = 2**20  # mail_message and account_move_line of the dataset below are larger; the rest stays in db.dump
SPLIT_TABLES = ["account_move_line", "mail_message"]
KEEP_ONE = Policy(daily=0, weekly=0, monthly=0, keep_last=1)


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def source(lab, tmp_path_factory):
    """An Odoo-shaped database of ~8 MiB with two tables above 1 MiB, and 20 attachment files."""
    import odoo_dataset

    db = unique("gbk_td_")
    fs = tmp_path_factory.mktemp("fs") / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 8 * 2**20, 20, 2**20, jobs=2, log=lambda m: None)
    yield {"db": db, "filestore": str(fs)}
    lab.drop_db(db)
    shutil.rmtree(fs, ignore_errors=True)


def backup(lab, source, bucket, when, **kw):
    opts = BackupOptions(environment=ENV, pg=dict(lab.pg, db=source["db"]), target=StoreTarget(lab.s3["a"], bucket),
                         filestore_path=source["filestore"], pg_bin_dir=lab.bin_dir, now=when, progress_interval=0,
                         split_min_size=SPLIT, **kw)
    return run_backup(opts)


def edit_mail_message(lab, source):
    """One row of mail_message changes: its archive must be written again, account_move_line's not."""
    with lab.connect(source["db"]) as conn:
        conn.execute("UPDATE mail_message SET subject = coalesce(subject, '') || ' (edited)' "
                     "WHERE id = (SELECT min(id) FROM mail_message)")


def by_table(manifest):
    return {o["table"]: o for o in manifest.table_objects}


def versions_of(client, bucket, key):
    page = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []) if v["Key"] == key]


def verify_args(lab, bucket, source, backup_id, region="a", **extra):
    return dict(lab.pg, **lab.s3[region], environment=ENV, database=source["db"], bucket=bucket, backup_id=backup_id,
                pg_bin_dir=lab.bin_dir, **extra)


def test_table_data_outlives_its_writer_until_the_last_reference_goes(lab, source):
    bucket = unique("gbk-tdr-")
    c = lab.client("a")
    make_bucket(c, bucket, lock=False)
    try:
        now = fmt.utcnow()
        r1 = backup(lab, source, bucket, now - dt.timedelta(days=3))
        r2 = backup(lab, source, bucket, now - dt.timedelta(days=2))
        assert r1["database"]["tables_dumped"] == SPLIT_TABLES and r2["database"]["tables_reused"] == SPLIT_TABLES
        edit_mail_message(lab, source)
        r3 = backup(lab, source, bucket, now - dt.timedelta(days=1))
        assert r3["database"]["tables_reused"] == ["account_move_line"]
        assert r3["database"]["tables_dumped"] == ["mail_message"]
        store = lab.store(bucket)
        m1, m2, m3 = (store.read_manifest(ENV, source["db"], r["backup_id"]) for r in (r1, r2, r3))
        assert m1.data["format_version"] == 2
        written = {t: o["key"] for t, o in by_table(m1).items()}
        # b2 references the archives b1 wrote; b3 the unchanged one of b1 and a new one of its own
        assert {t: o["key"] for t, o in by_table(m2).items()} == written
        assert all(o["written_by"] == r1["backup_id"] for o in m2.table_objects)
        assert by_table(m3)["account_move_line"]["key"] == written["account_move_line"]
        new_mm = by_table(m3)["mail_message"]["key"]
        assert new_mm.startswith(f"{fmt.DBDATA_ROOT}plain/{r3['backup_id']}/") and new_mm != written["mail_message"]
        assert set(all_keys(c, bucket, fmt.DBDATA_ROOT)) == {*written.values(), new_mm}

        # 1. the module deletes b1, the backup that WROTE both archives: they stay, b2 and b3 reference them
        args = dict(lab.s3["a"], bucket=bucket, environment=ENV,
                    policy={"daily": 0, "weekly": 0, "monthly": 0, "keep_last": 2})
        res, _stderr = run_module("backup_retention", args)
        assert not res.get("failed"), res
        assert [d["backup_id"] for d in res["deleted"]] == [r1["backup_id"]] and res["changed"]
        assert res["dbdata"] == {"deleted": 0, "locked": 0, "skipped": None, "deleted_keys": [], "locked_keys": []}
        assert all_keys(c, bucket, m1.prefix) == {}
        assert set(all_keys(c, bucket, fmt.DBDATA_ROOT)) == {*written.values(), new_mm}
        # b2's database lives in b1's archives only: it still verifies and restores with its row counts
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r2["backup_id"],
                                                               test_restore=True))
        assert res["ok"] and not res["problems"], res
        assert res["objects_checked"] == len(m2.objects) + r2["filestore"]["count"]
        assert res["test_restore"]["ok"] and res["test_restore"]["row_count_differences"] == []

        # 2. b2 goes too: the old mail_message archive has no reference left; once past the grace period
        #    (now= two days ahead: the archives were written seconds ago) it is garbage, the others are not
        later = fmt.utcnow() + dt.timedelta(days=2)
        early = prune.run_retention(store, KEEP_ONE, environment=ENV, check_mode=True)
        assert early["dbdata"]["deleted"] == 0  # inside the grace period: nothing
        plan = prune.run_retention(store, KEEP_ONE, environment=ENV, check_mode=True, now=later)
        assert [d["backup_id"] for d in plan["deleted"]] == [r2["backup_id"]]
        assert plan["dbdata"]["deleted_keys"] == [written["mail_message"]] and plan["dbdata"]["deleted"] == 1
        assert written["mail_message"] in all_keys(c, bucket, fmt.DBDATA_ROOT)  # check mode deleted nothing
        res = prune.run_retention(store, KEEP_ONE, environment=ENV, now=later)
        assert [d["backup_id"] for d in res["deleted"]] == [r2["backup_id"]] and res["changed"]
        assert res["dbdata"]["deleted_keys"] == [written["mail_message"]] and res["dbdata"]["locked"] == 0
        assert versions_of(c, bucket, written["mail_message"]) == []  # every version, no delete marker left
        assert set(all_keys(c, bucket, fmt.DBDATA_ROOT)) == {written["account_move_line"], new_mm}
        again = prune.run_retention(store, KEEP_ONE, environment=ENV, now=later)
        assert again["changed"] is False and again["dbdata"]["deleted"] == 0

        # the kept backup (an archive of b1's, one of its own) verifies at both levels and restores
        for level in ("full", "presence"):
            res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r3["backup_id"], level=level))
            assert res["ok"] and not res["problems"], res
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r3["backup_id"],
                                                               test_restore=True))
        assert res["ok"] and res["test_restore"]["ok"] and res["test_restore"]["row_count_differences"] == []
        assert res["test_restore"]["rows"] == sum(m3.tables.values())
    finally:
        wipe_bucket(c, bucket)


def test_verify_names_a_missing_or_damaged_table_archive(lab, source):
    bucket = unique("gbk-tdv-")
    c = lab.client("a")
    make_bucket(c, bucket, lock=False)
    try:
        r = backup(lab, source, bucket, fmt.utcnow())
        store = lab.store(bucket)
        m = store.read_manifest(ENV, source["db"], r["backup_id"])
        mm, aml = by_table(m)["mail_message"], by_table(m)["account_move_line"]
        blob = bytearray(store.get_bytes(mm["key"]))
        blob[len(blob) // 2] ^= 0xFF
        c.put_object(Bucket=bucket, Key=mm["key"], Body=bytes(blob))  # same size, other bytes
        c.delete_object(Bucket=bucket, Key=aml["key"])
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r["backup_id"]))
        assert res["failed"] and not res["ok"]
        assert {(p["key"], p["problem"], p.get("table")) for p in res["problems"]} == {
            (mm["key"], "sha256", "mail_message"), (aml["key"], "missing", "account_move_line")}
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r["backup_id"], level="presence"))
        assert [(p["key"], p["problem"]) for p in res["problems"]] == [(aml["key"], "missing")]
    finally:
        wipe_bucket(c, bucket)


def test_a_locked_unreferenced_table_archive_is_reported_not_deleted(lab, source):
    bucket = unique("gbk-tdl-")
    c = lab.client("a")
    make_bucket(c, bucket)
    try:
        r1 = backup(lab, source, bucket, fmt.utcnow(), object_lock_mode="GOVERNANCE", object_lock_days=1)
        edit_mail_message(lab, source)
        time.sleep(1.1)
        r2 = backup(lab, source, bucket, fmt.utcnow(), object_lock_mode="GOVERNANCE", object_lock_days=1)
        store = lab.store(bucket)
        m1, m2 = (store.read_manifest(ENV, source["db"], r["backup_id"]) for r in (r1, r2))
        old_mm = by_table(m1)["mail_message"]
        assert by_table(m2)["mail_message"]["key"] != old_mm["key"]
        assert by_table(m2)["account_move_line"]["key"] == by_table(m1)["account_move_line"]["key"]
        head = c.head_object(Bucket=bucket, Key=old_mm["key"])
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert old_mm["retain_until"] == m1.object_lock["retain_until"]
        # b1's directory goes as if its own lock had ended (the test bypasses governance; retention never
        # does): the old mail_message archive, locked until b1's date, is referenced by no manifest now
        for v in c.list_object_versions(Bucket=bucket, Prefix=m1.prefix).get("Versions") or []:
            c.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True)
        assert [r.backup_id for r in store.list_backups(ENV, source["db"])] == [r2["backup_id"]]

        # inside its lock: reported with its date, never attempted
        res = prune.run_retention(store, KEEP_ONE, environment=ENV, grace=dt.timedelta(0),
                                  now=fmt.utcnow() + dt.timedelta(seconds=1))
        assert res["dbdata"]["deleted"] == 0 and res["dbdata"]["locked"] == 1
        [locked] = res["dbdata"]["locked_keys"]
        assert locked["key"] == old_mm["key"]
        assert abs(fmt.parse_time(locked["retain_until"]) - fmt.parse_time(old_mm["retain_until"])) \
            <= dt.timedelta(seconds=1)
        assert res["changed"] is False
        # a planner whose clock is past the date asks the server, which refuses: reported, still there
        res = prune.run_retention(store, KEEP_ONE, environment=ENV, grace=dt.timedelta(0),
                                  now=fmt.utcnow() + dt.timedelta(days=2))
        assert res["dbdata"]["deleted"] == 0 and res["dbdata"]["locked"] == 1
        assert res["dbdata"]["locked_keys"][0]["key"] == old_mm["key"]
        assert "server_refused" in res["dbdata"]["locked_keys"][0]
        assert any("table-data" in w and "object lock" in w for w in res["warnings"])
        assert old_mm["key"] in all_keys(c, bucket, fmt.DBDATA_ROOT)
        assert len(versions_of(c, bucket, old_mm["key"])) == 1
        # the referenced archives are untouched and b2 verifies
        assert set(all_keys(c, bucket, fmt.DBDATA_ROOT)) == {old_mm["key"], *(o["key"] for o in m2.table_objects)}
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r2["backup_id"]))
        assert res["ok"], res
    finally:
        wipe_bucket(c, bucket)


def test_the_copy_to_the_second_endpoint_carries_the_table_archives(lab, source):
    bucket = unique("gbk-tdc-")
    a_client, b_client = lab.client("a"), lab.client("b")
    for cl in (a_client, b_client):
        make_bucket(cl, bucket)
    copy_to = StoreTarget(lab.s3["b"], bucket, label="copy")
    lock = {"object_lock_mode": "GOVERNANCE", "object_lock_days": 1}
    try:
        r1 = backup(lab, source, bucket, fmt.utcnow(), copy_to=copy_to, **lock)
        a, b = lab.store(bucket, "a"), lab.store(bucket, "b")
        m1 = a.read_manifest(ENV, source["db"], r1["backup_id"])
        assert r1["copied_to"]["table_data"] == {
            "copied": 2, "copied_bytes": sum(o["size"] for o in m1.table_objects), "reused": 0, "retention_extended": 0,
        }
        times = {}
        for o in m1.table_objects:
            head = b_client.head_object(Bucket=bucket, Key=o["key"])
            assert head["ContentLength"] == o["size"] and head["ObjectLockMode"] == "GOVERNANCE"
            assert head["ObjectLockRetainUntilDate"] >= fmt.parse_time(o["retain_until"])
            assert hashlib.sha256(b.get_bytes(o["key"])).hexdigest() == o["sha256"]
            times[o["key"]] = head["LastModified"]
        # the same manifest on b but for b's own version ids (format 3), each one b's first version of the key
        mb1 = b.read_manifest(ENV, source["db"], r1["backup_id"])
        assert mb1.pinned and [o["key"] for o in mb1.objects] == [o["key"] for o in m1.objects]
        for o in mb1.objects:
            assert o["version_id"] == b.key_versions(o["key"])[o["key"]].original[0]
        assert mb1.tables == m1.tables
        assert b_client.head_object(Bucket=bucket, Key=m1.manifest_key)["LastModified"] >= max(times.values())

        # the next backup: mail_message changed (copied), account_move_line reused on b with its lock extended
        edit_mail_message(lab, source)
        time.sleep(1.1)
        r2 = backup(lab, source, bucket, fmt.utcnow(), copy_to=copy_to, **lock)
        m2 = a.read_manifest(ENV, source["db"], r2["backup_id"])
        mm, aml = by_table(m2)["mail_message"], by_table(m2)["account_move_line"]
        td = r2["copied_to"]["table_data"]
        assert td["copied"] == 1 and td["copied_bytes"] == mm["size"]
        assert td["reused"] == 1 and td["retention_extended"] == 1
        assert len(versions_of(b_client, bucket, aml["key"])) == 1  # not written again
        head = b_client.head_object(Bucket=bucket, Key=aml["key"])
        assert head["ObjectLockRetainUntilDate"] >= fmt.parse_time(aml["retain_until"]) > fmt.parse_time(
            by_table(m1)["account_move_line"]["retain_until"])
        assert b_client.head_object(Bucket=bucket, Key=mm["key"])["ObjectLockMode"] == "GOVERNANCE"

        # b on its own: every object checked, and a test restore from b's objects only
        res, _stderr = run_module("backup_verify", verify_args(lab, bucket, source, r2["backup_id"], region="b",
                                                               test_restore=True))
        assert res["ok"] and not res["problems"], res
        assert res["objects_checked"] == len(m2.objects) + r2["filestore"]["count"]
        assert res["test_restore"]["ok"] and res["test_restore"]["row_count_differences"] == []
    finally:
        for cl in (a_client, b_client):
            wipe_bucket(cl, bucket)
