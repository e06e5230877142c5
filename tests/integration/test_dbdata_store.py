"""Table-data objects (backup format version 2, under dbdata/) in retention, verification, restore
preflight and the copy to a second endpoint -- against the lab's real SeaweedFS S3 (endpoints a and
b), in buckets created with object lock (hence versioned), behind the real BackupStore.

A table-data object is written by one backup and referenced by the later backups of the same
database while the table does not change. It lives outside every backup directory: deleting the
backup that wrote it must not delete it, only the last reference going (and the grace period,
and its lock) may.

The backups here are synthetic (manifests built with manifest.py, small objects written with
``BackupStore.put_bytes``): fast, and the server answering every request is the real one. Time
that would have to pass (grace period, end of a lock) is passed as ``now=`` to the code under
test, never slept; the server keeps its own clock, so a lock that the planner believes expired is
still refused by the server, and that refusal must be reported, not forced.

Requests are observed (never answered) by :class:`Requests`, which records what a store sends to
the server: used to show that a locked object is not even attempted, that each dbdata directory is
listed once, and that the manifest is the last object a copy writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
import types

import pytest
from backup_lab import REPO, Lab, all_keys, make_bucket, unique, wipe_bucket

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import prune, verify
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import _copy_object, replicate
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import IntegrityError
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import LockSpec
from ansible_collections.governed.odoo.plugins.module_utils.restore import fetch
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import IntegrityError as RestoreIntegrity
from ansible_collections.governed.odoo.plugins.module_utils.restore.flow import Restore

pytestmark = pytest.mark.lab

UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
ENV, DB = "prod", "odoo"
KEEP_ONE = Policy(daily=0, weekly=0, monthly=0, keep_last=1)
KEEP_TWO = Policy(daily=0, weekly=0, monthly=0, keep_last=2)
KEEP_ALL = Policy(daily=0, weekly=0, monthly=0, keep_last=3)
GRACE = dt.timedelta(hours=24)


def later(**delta):
    """A planner's clock ahead of the server's: what the objects just written will be "that old" at."""
    return fmt.utcnow() + dt.timedelta(**(delta or {"days": 2}))


# ------------------------------------------------------------------------------ the lab


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture
def bucket_a(lab):
    """A bucket of this test on endpoint a: object lock enabled (versioned), removed afterwards."""
    client = lab.client("a")
    name = make_bucket(client, unique("gbk-dbd-"))
    yield name
    wipe_bucket(client, name)


@pytest.fixture
def pair(lab):
    """The same bucket name on endpoints a (source) and b (the copy), both with object lock."""
    name = unique("gbk-dbr-")
    clients = {r: lab.client(r) for r in ("a", "b")}
    for cl in clients.values():
        make_bucket(cl, name)
    src, dst = lab.store(name, "a"), lab.store(name, "b")
    yield types.SimpleNamespace(src=src, dst=dst, bucket=name, a=clients["a"], b=clients["b"])
    for cl in clients.values():
        wipe_bucket(cl, name)


class Requests:
    """What a store sends to the (real) server, in order: (operation, key or listing prefix, relative).

    Records both paths a BackupStore uses -- boto3 (a botocore event before each call) and FastS3
    (its ``request``) -- and passes every request on unchanged.
    """

    def __init__(self, store):
        self.store = store
        self.seen = []
        store.client.meta.events.register("before-parameter-build.s3", self._boto)
        fast = store.fast
        if fast is not None:
            real = fast.request

            def request(method, bucket, key, *args, op="request", query=None, **kw):
                listing = op in ("ListObjectsV2", "ListObjectVersions")
                self.seen.append((op, store.rel((query or {}).get("prefix", key) if listing else key)))
                return real(method, bucket, key, *args, op=op, query=query, **kw)

            fast.request = request

    def _boto(self, params, model, **_kw):
        self.seen.append((model.name, self.store.rel(params.get("Key", params.get("Prefix", "")))))

    def of(self, op):
        return [k for o, k in self.seen if o == op]


def live_keys(store, prefix=""):
    return sorted(all_keys(store.client, store.bucket, prefix))


def versions_of(store, key):
    """Every version and delete marker of exactly ``key``."""
    return [v for v in store.list_versions(key) if v[0] == key]


def uploads(store, prefix=""):
    return [u["key"] for u in store.list_multipart_uploads(prefix)]


# ------------------------------------------------------------------------------ v2 backups


def bid_at(when, tag):
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{tag}"


def table_obj(key, data, table="mail_message", written_by=None, retain_until=None):
    return {
        "key": key,
        "role": fmt.ROLE_TABLE,
        "table": table,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "raw_size": len(data),
        "rows": 3,
        "fingerprint": hashlib.sha256(table.encode() + data).hexdigest(),
        "written_by": written_by or key.split("/")[2],
        "retain_until": retain_until,
    }


def put_backup(store, backup_id, tables=(), write=(), lock=None, env=ENV, db=DB, dump=b"PGDMP-small-tables"):
    """A complete v2 backup in the real bucket: dump, index (no files), the table-data objects in
    ``write``, manifest last.

    ``tables`` are (key, data, table) of every table-data object the manifest references; those
    whose key is in ``write`` are uploaded by this backup (the others exist already).
    """
    prefix = fmt.backup_prefix(env, db, backup_id)
    dump_key = prefix + "db.dump"
    index = fmt.encode_index([], fmt.filestore_keyspace())
    until = lock.until if lock else None
    objs = []
    for key, data, table in tables:
        if key in write:
            store.put_bytes(key, data, lock=lock)
        objs.append(table_obj(key, data, table, retain_until=fmt.format_time(until) if until else None))
    store.put_bytes(dump_key, dump, lock=lock)
    store.put_bytes(prefix + fmt.INDEX_NAME, index, lock=lock)
    started = fmt.backup_id_time(backup_id)
    manifest = fmt.build_manifest(
        backup_id=backup_id,
        environment=env,
        db_name=db,
        started_at=started,
        finished_at=started,
        source={"environment": env, "database": db},
        odoo={"version": "17.0"},
        postgresql={},
        database={"format": "custom", "compression": "none", "raw_size": len(dump), "tables": {}},
        filestore={"keyspace": fmt.filestore_keyspace(), "index": prefix + fmt.INDEX_NAME, "count": 0, "size": 0},
        objects=[
            {
                "key": dump_key,
                "role": fmt.ROLE_DUMP,
                "size": len(dump),
                "sha256": hashlib.sha256(dump).hexdigest(),
                "raw_size": len(dump),
            },
            {
                "key": prefix + fmt.INDEX_NAME,
                "role": fmt.ROLE_INDEX,
                "size": len(index),
                "sha256": hashlib.sha256(index).hexdigest(),
            },
            *objs,
        ],
        object_lock={"mode": lock.mode, "days": 1, "retain_until": fmt.format_time(until)} if lock else None,
    )
    data = fmt.encode_manifest(manifest)
    store.put_bytes(prefix + fmt.MANIFEST_NAME, data, lock=lock)
    return fmt.Manifest.from_bytes(data, key=prefix + fmt.MANIFEST_NAME), data, index


def tkey(writer, n=0):
    return fmt.table_object_key(writer, n, "none", False)


@pytest.fixture
def chain(lab, bucket_a):
    """Three daily backups (ids 3, 2 and 1 days old): b1 writes T1 (mail_message) and U1
    (account_move_line); b2 reuses both; b3 reuses U1 and writes T3 (mail_message changed).

    The objects themselves were written seconds ago (the server's clock): a test that needs them
    past the grace period runs retention with ``now=later()``. Every test changes the chain, so each
    has a bucket of its own (creating and wiping one costs well under a second).
    """
    store = lab.store(bucket_a)
    b1, b2, b3 = (bid_at(NOW - dt.timedelta(days=d), t) for d, t in ((3, "aaaaa1"), (2, "aaaaa2"), (1, "aaaaa3")))
    t1, u1, t3 = tkey(b1, 0), tkey(b1, 1), tkey(b3, 0)
    mm, aml = "mail_message", "account_move_line"
    put_backup(store, b1, [(t1, b"T1" * 50, mm), (u1, b"U1" * 70, aml)], write={t1, u1})
    put_backup(store, b2, [(t1, b"T1" * 50, mm), (u1, b"U1" * 70, aml)])
    put_backup(store, b3, [(t3, b"T3" * 60, mm), (u1, b"U1" * 70, aml)], write={t3})
    return types.SimpleNamespace(
        store=store, client=store.client, bucket=bucket_a, b1=b1, b2=b2, b3=b3, t1=t1, u1=u1, t3=t3
    )


# ------------------------------------------------------------------------------ retention


def test_deleting_the_writer_keeps_objects_a_kept_backup_references(chain):
    """keep_last 2: b1 (which WROTE T1 and U1) goes; b2 still references both, so they stay, even
    long past the grace period."""
    c = chain
    res = prune.run_retention(c.store, KEEP_TWO, now=later(), grace=GRACE)
    assert [d["backup_id"] for d in res["deleted"]] == [c.b1]
    assert res["dbdata"] == {"deleted": 0, "locked": 0, "skipped": None, "deleted_keys": [], "locked_keys": []}
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])
    assert c.store.list_versions(fmt.backup_prefix(ENV, DB, c.b1)) == []  # every version of b1 went


def test_last_reference_gone_deletes_every_version_check_mode_first(chain):
    """keep_last 1: b1 and b2 go; T1 was referenced by them only -> garbage; U1 (b3) and T3 stay."""
    c = chain
    plan = prune.run_retention(c.store, KEEP_ONE, check_mode=True, now=later(), grace=GRACE)
    assert plan["dbdata"]["deleted"] == 1 and plan["dbdata"]["deleted_keys"] == [c.t1]
    assert plan["changed"] is True
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])  # check mode deleted nothing
    assert len(c.store.list_backups()) == 3
    c.store.put_bytes(c.t1, b"T1" * 50)  # a second version of it: every version must go
    assert len(versions_of(c.store, c.t1)) == 2
    res = prune.run_retention(c.store, KEEP_ONE, now=later(), grace=GRACE)
    assert sorted(d["backup_id"] for d in res["deleted"]) == sorted([c.b1, c.b2])
    assert res["dbdata"]["deleted"] == 1 and res["dbdata"]["deleted_keys"] == [c.t1] and res["changed"]
    assert versions_of(c.store, c.t1) == []  # no version, no delete marker left
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.u1, c.t3])
    again = prune.run_retention(c.store, KEEP_ONE, now=later(), grace=GRACE)
    assert again["changed"] is False and again["dbdata"]["deleted"] == 0


def test_the_dbdata_report_counts_in_changed_alone(chain):
    """Nothing but an unreferenced old table-data object to remove: the run changed something."""
    c = chain
    orphan = tkey(bid_at(NOW - dt.timedelta(days=5), "0dead0"))
    c.store.put_bytes(orphan, b"debris of an interrupted backup")
    res = prune.run_retention(c.store, KEEP_ALL, now=later(), grace=GRACE)
    assert res["deleted"] == [] and res["dbdata"]["deleted_keys"] == [orphan] and res["changed"] is True
    assert versions_of(c.store, orphan) == []


def test_grace_protects_objects_of_a_running_backup(chain):
    c = chain
    running = tkey(bid_at(NOW, "bbbbb1"))
    c.store.put_bytes(running, b"written a moment ago, no manifest yet")
    res = prune.run_retention(c.store, KEEP_ALL, now=fmt.utcnow(), grace=GRACE)
    assert res["dbdata"]["deleted"] == 0 and running in live_keys(c.store)
    res = prune.run_retention(c.store, KEEP_ALL, now=later(hours=23), grace=GRACE)  # still inside the grace
    assert res["dbdata"]["deleted"] == 0 and running in live_keys(c.store)
    res = prune.run_retention(c.store, KEEP_ALL, now=later(days=2), grace=GRACE)
    assert res["dbdata"]["deleted_keys"] == [running] and versions_of(c.store, running) == []
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])


def test_locked_unreferenced_objects_are_reported_not_attempted(chain):
    """T1 locked (GOVERNANCE, 2 days) by the server. A planner inside the lock reports it with its
    date and sends no DELETE for it; a planner whose clock is past the lock asks, the server (whose
    clock says otherwise) refuses, and that is reported, never forced."""
    c = chain
    until = (fmt.utcnow() + dt.timedelta(days=2)).replace(microsecond=0)
    assert c.store.put_retention(c.t1, LockSpec("GOVERNANCE", until)) == "extended"
    assert c.store.retention_of(c.t1)[0] == "GOVERNANCE"
    sent = Requests(c.store)
    res = prune.run_retention(c.store, KEEP_ONE, now=later(hours=25), grace=GRACE)  # past grace, inside lock
    assert sorted(d["backup_id"] for d in res["deleted"]) == sorted([c.b1, c.b2])
    assert res["dbdata"]["deleted"] == 0
    assert res["dbdata"]["locked"] == 1
    assert res["dbdata"]["locked_keys"] == [{"key": c.t1, "retain_until": fmt.format_time(until)}]
    deletes = sent.of("DeleteObject")
    assert deletes and c.t1 not in deletes  # the backup directories were deleted, T1 not attempted
    assert c.t1 in live_keys(c.store)

    # past the lock by the planner's clock, not the server's: attempted, refused, reported
    sent.seen.clear()
    res = prune.run_retention(c.store, KEEP_ONE, now=later(days=3), grace=GRACE)
    assert sent.of("DeleteObject") == [c.t1]
    assert res["dbdata"]["deleted"] == 0 and res["dbdata"]["locked"] == 1
    [locked] = res["dbdata"]["locked_keys"]
    assert locked["key"] == c.t1 and "server_refused" in locked
    assert any("table-data" in w and "object lock" in w for w in res["warnings"])
    assert res["changed"] is False
    assert c.t1 in live_keys(c.store) and len(versions_of(c.store, c.t1)) == 1


def test_an_unreadable_manifest_skips_the_collection_with_a_warning(chain):
    c = chain
    mkey = fmt.manifest_key(ENV, DB, c.b3)
    # unreadable from its first version on (a version written over a readable one is never read: tampering)
    for key, vid, _marker, _t in c.store.list_versions(mkey):
        c.client.delete_object(Bucket=c.bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
    c.store.put_bytes(mkey, b"{not json")
    orphan = tkey(bid_at(NOW - dt.timedelta(days=5), "0dead1"))
    c.store.put_bytes(orphan, b"unreferenced, but the run cannot know")
    res = prune.run_retention(c.store, KEEP_ALL, now=later(), grace=GRACE)
    assert "unreadable" in res["dbdata"]["skipped"] and c.b3 in res["dbdata"]["skipped"]
    assert res["dbdata"]["skipped"] in res["warnings"]
    assert res["dbdata"]["deleted"] == 0
    assert res["filestore"]["skipped"] and res["filestore"]["deleted"] == 0
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3, orphan])


def test_references_from_other_environments_count(chain):
    """Retention scoped to one environment still sees every manifest of the store."""
    c = chain
    put_backup(
        c.store, bid_at(NOW - dt.timedelta(days=1), "cccccc"), [(c.t1, b"T1" * 50, "mail_message")], env="staging"
    )
    res = prune.run_retention(c.store, KEEP_ONE, environment=ENV, now=later(), grace=GRACE)
    assert sorted(d["backup_id"] for d in res["deleted"]) == sorted([c.b1, c.b2])
    assert res["dbdata"]["deleted"] == 0 and c.t1 in live_keys(c.store)
    assert [r.environment for r in c.store.list_backups()] == ["prod", "staging"]


def test_gc_filestore_off_still_collects_table_data(chain):
    c = chain
    res = prune.run_retention(c.store, KEEP_ONE, now=later(), grace=GRACE, gc_filestore=False)
    assert res["filestore"]["skipped"] == "gc_filestore is off"
    assert res["dbdata"]["deleted_keys"] == [c.t1]
    assert live_keys(c.store, fmt.DBDATA_ROOT) == sorted([c.u1, c.t3])


def test_stale_multipart_uploads_under_dbdata_are_aborted(chain):
    """Two real incomplete uploads a second apart; the planner's clock is put where the older is past
    the grace period and the newer is not (the server dates them, to the second)."""
    c = chain
    old_key, fresh_key = tkey(bid_at(NOW, "dddddd")), tkey(bid_at(NOW, "eeeeee"))
    c.client.create_multipart_upload(Bucket=c.bucket, Key=old_key)
    initiated = {}
    for _attempt in range(50):  # the server's Initiated has whole seconds: wait for the next one
        fresh_id = c.client.create_multipart_upload(Bucket=c.bucket, Key=fresh_key)["UploadId"]
        initiated = {u["key"]: u["initiated"] for u in c.store.list_multipart_uploads(fmt.DBDATA_ROOT)}
        if initiated[fresh_key] > initiated[old_key]:
            break
        c.store.abort_multipart(fresh_key, fresh_id)
        time.sleep(0.1)
    assert initiated[fresh_key] > initiated[old_key]
    now = initiated[fresh_key] + GRACE - dt.timedelta(milliseconds=500)
    plan = prune.run_retention(c.store, KEEP_ALL, check_mode=True, now=now, grace=GRACE)
    assert [u["key"] for u in plan["uploads_aborted"]] == [old_key]
    assert sorted(uploads(c.store)) == sorted([old_key, fresh_key])  # check mode aborted nothing
    res = prune.run_retention(c.store, KEEP_ALL, now=now, grace=GRACE)
    assert [u["key"] for u in res["uploads_aborted"]] == [old_key] and res["changed"]
    assert uploads(c.store) == [fresh_key]


# ------------------------------------------------------------------------------ verification


def test_verify_checks_table_data_at_both_levels(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b3)
    for level in ("full", "presence"):
        problems, stats = verify.check_objects(c.store, m, level=level)
        assert problems == [] and stats["objects"] == 4  # dump, index, two table-data objects
    _problems, stats = verify.check_objects(c.store, m, level="full")
    assert stats["bytes"] == sum(o["size"] for o in m.objects)
    # damaged (a new version of each): U1 same size other content, T3 truncated
    c.store.put_bytes(c.u1, b"X" + (b"U1" * 70)[1:])
    c.store.put_bytes(c.t3, (b"T3" * 60)[:-1])
    full, _s = verify.check_objects(c.store, m, level="full")
    assert {(p["key"], p["problem"], p["table"]) for p in full} == {
        (c.u1, "sha256", "account_move_line"),
        (c.t3, "size", "mail_message"),
    }
    presence, _s = verify.check_objects(c.store, m, level="presence")
    assert [(p["key"], p["problem"]) for p in presence] == [(c.t3, "size")]
    # missing (a delete marker): both levels name it
    c.client.delete_object(Bucket=c.bucket, Key=c.t3)
    for level in ("full", "presence"):
        problems, _s = verify.check_objects(c.store, m, level=level)
        assert (c.t3, "missing", "mail_message") in {(p["key"], p["problem"], p.get("table")) for p in problems}


def test_verify_presence_lists_each_dbdata_directory_once(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b3)
    sent = Requests(c.store)
    problems, _s = verify.check_objects(c.store, m, level="presence")
    assert problems == []
    dbdata = [p for p in sent.of("ListObjectVersions") if p.startswith(fmt.DBDATA_ROOT)]
    assert sorted(dbdata) == sorted({c.u1.rsplit("/", 1)[0] + "/", c.t3.rsplit("/", 1)[0] + "/"})
    assert not [k for k in sent.of("GetObject") if k.startswith(fmt.DBDATA_ROOT)]  # listing only


def test_restore_preflight_and_check_mode_cover_table_data(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b2)
    assert fetch.preflight(c.store, m, [], fmt.filestore_keyspace()) == {"objects_listed": 4, "tampered": [],
                                                                         "tampered_count": 0}
    r = Restore.__new__(Restore)
    r.store = c.store
    r.opts = types.SimpleNamespace(encryption_key=None, workers=2, progress_stream=None, progress_log=None)
    out = r._verify_only(m, [], fmt.filestore_keyspace())
    assert out["table_objects"] == 2 and out["table_bytes"] == 100 + 140 and out["dump_objects"] == 1
    assert r._progress(m, []).total == sum(o["size"] for o in m.database_objects)
    c.store.put_bytes(c.t1, b"T1" * 50 + b"!")
    with pytest.raises(RestoreIntegrity, match="mail_message"):
        fetch.preflight(c.store, m, [], fmt.filestore_keyspace())
    with pytest.raises(RestoreIntegrity):
        r._verify_only(m, [], fmt.filestore_keyspace())
    c.client.delete_object(Bucket=c.bucket, Key=c.u1)
    with pytest.raises(RestoreIntegrity, match=f"missing: {c.u1}"):
        fetch.preflight(c.store, m, [], fmt.filestore_keyspace())


# ------------------------------------------------------------------------------ copy to a second endpoint


class _Lockp:
    mode = "GOVERNANCE"
    days = 1


def test_replicate_copies_table_data_before_the_manifest_and_reuses_it_later(pair):
    src, dst = pair.src, pair.dst
    lock1 = LockSpec("GOVERNANCE", NOW + dt.timedelta(days=1))
    b1 = bid_at(NOW - dt.timedelta(minutes=10), "ffffff")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1}, lock=lock1)
    sent = Requests(dst)
    out = replicate(src, dst, m1, mbytes, index, [], _Lockp, lock1)
    assert out["table_data"] == {"copied": 1, "copied_bytes": 100, "reused": 0, "retention_extended": 0}
    assert out["copied"] == 2  # the table-data object and the dump
    assert dst.get_bytes(t1) == b"T1" * 50
    writes = sent.of("PutObject")
    assert writes.index(t1) < writes.index(m1.manifest_key) == len(writes) - 1  # the manifest last
    head = dst.head(t1)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] == lock1.until
    # the next backup references T1 with a longer lock: not copied again, its retention extended on dst
    lock2 = LockSpec("GOVERNANCE", NOW + dt.timedelta(days=2))
    b2 = bid_at(NOW - dt.timedelta(minutes=5), "ffff02")
    assert src.put_retention(t1, lock2) == "extended"  # as the backup's reuse did on src
    m2, mbytes2, index2 = put_backup(src, b2, [(t1, b"T1" * 50, "mail_message")], lock=lock2)
    sent.seen.clear()
    out = replicate(src, dst, m2, mbytes2, index2, [], _Lockp, lock2)
    assert out["table_data"] == {"copied": 0, "copied_bytes": 0, "reused": 1, "retention_extended": 1}
    assert t1 not in sent.of("PutObject") and len(versions_of(dst, t1)) == 1
    assert dst.head(t1)["ObjectLockRetainUntilDate"] == lock2.until
    # a third copy of the same: nothing to extend
    out = replicate(src, dst, m2, mbytes2, index2, [], _Lockp, lock2)
    assert out["table_data"]["retention_extended"] == 0 and out["table_data"]["reused"] == 1
    # dst verifies on its own
    for m in (dst.read_manifest(ENV, DB, b1), dst.read_manifest(ENV, DB, b2)):
        assert verify.check_objects(dst, m, level="full")[0] == []


def test_replicate_copies_again_when_the_size_differs_and_without_lock(pair):
    src, dst = pair.src, pair.dst
    b1 = bid_at(NOW, "abcabc")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1})
    dst.put_bytes(t1, b"short")
    out = replicate(src, dst, m1, mbytes, index, [], None, None)
    assert out["table_data"]["copied"] == 1 and dst.get_bytes(t1) == b"T1" * 50
    assert "ObjectLockMode" not in dst.head(t1)
    assert dst.retention_of(t1) == (None, None)


def test_replicate_refuses_a_damaged_table_object_and_writes_no_manifest(pair):
    src, dst = pair.src, pair.dst
    b1 = bid_at(NOW, "badbad")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1})
    src.put_bytes(t1, b"X" * 100)  # same size, other bytes
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        replicate(src, dst, m1, mbytes, index, [], None, None)
    assert live_keys(dst) == [] and dst.list_versions("") == []
    assert dst.list_backups() == []


def test_copy_object_streams_large_objects_and_refuses_longer_ones(pair):
    src, dst = pair.src, pair.dst
    data = bytes(range(256)) * (17 * 4096)  # 17 MiB: the streaming (multipart) path
    key = tkey(bid_at(NOW, "b1b1b1"))
    src.put_bytes(key, data)
    digest = hashlib.sha256(data).hexdigest()
    sent = Requests(dst)
    _copy_object(src, dst, key, len(data), digest, None)
    assert sent.of("CompleteMultipartUpload") == [key] and len(sent.of("UploadPart")) == 3  # 8 + 8 + 1 MiB
    assert dst.get_bytes(key) == data and uploads(dst) == []
    other = tkey(bid_at(NOW, "b2b2b2"))
    src.put_bytes(other, data + b"tail")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        _copy_object(src, dst, other, len(data), digest, None)
    assert versions_of(dst, other) == [] and uploads(dst) == []
