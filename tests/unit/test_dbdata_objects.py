"""Table-data objects (backup format version 2, under dbdata/) in retention, verification, restore
preflight and the copy to a second endpoint -- against an in-memory versioned S3 with object lock
behind the real BackupStore.

A table-data object is written by one backup and referenced by the later backups of the same
database while the table does not change. It lives outside every backup directory: deleting the
backup that wrote it must not delete it, only the last reference going (and the grace period,
and its lock) may.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import sys
import threading
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import prune, verify
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import _copy_object, replicate
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import IntegrityError
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore, LockSpec
from ansible_collections.governed.odoo.plugins.module_utils.restore import fetch
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import IntegrityError as RestoreIntegrity
from ansible_collections.governed.odoo.plugins.module_utils.restore.flow import Restore
from botocore.exceptions import ClientError

UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
ENV, DB = "prod", "odoo"
KEEP_ONE = Policy(daily=0, weekly=0, monthly=0, keep_last=1)
GRACE = dt.timedelta(hours=24)


# ------------------------------------------------------------------------------------ fake S3


def _error(code, op, status=400, message=None):
    return ClientError({"Error": {"Code": code, "Message": message or code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class _Body:
    def __init__(self, data):
        self._io = io.BytesIO(data)

    def read(self, n=-1):
        return self._io.read(n)

    def close(self):
        pass


class FakeS3:
    """The subset of a boto3 S3 client BackupStore uses: a versioned bucket with object lock.

    Versions carry an explicit LastModified (``clock``, settable) so tests can age objects; the
    server's lock check uses the real time, as S3 does.
    """

    def __init__(self):
        self.versions = {}  # key -> [version dict], oldest first
        self.uploads = {}  # upload id -> {"key", "parts", "initiated", "lock"}
        self.clock = NOW
        self.writes = []  # keys in the order they were completed
        self._n = 0
        self._mu = threading.Lock()

    # helpers of the tests
    def _vid(self):
        self._n += 1
        return f"v{self._n:06d}"

    def current(self, key):
        vs = self.versions.get(key) or []
        return vs[-1] if vs and not vs[-1]["marker"] else None

    def live_keys(self, prefix=""):
        return sorted(k for k in self.versions if k.startswith(prefix) and self.current(k) is not None)

    def age(self, prefix, when):
        for k, vs in self.versions.items():
            if k.startswith(prefix):
                for v in vs:
                    v["mtime"] = when

    def _store(self, key, data, lock_mode=None, lock_until=None, metadata=None):
        with self._mu:
            v = {"vid": self._vid(), "data": bytes(data), "marker": False, "mtime": self.clock,
                 "mode": lock_mode, "until": lock_until, "metadata": metadata or {}}
            self.versions.setdefault(key, []).append(v)
            self.writes.append(key)
            return v

    # the client API
    def put_object(self, Bucket, Key, Body, ChecksumCRC32=None, ObjectLockMode=None,
                   ObjectLockRetainUntilDate=None, Metadata=None, ContentType=None):
        v = self._store(Key, Body, ObjectLockMode, ObjectLockRetainUntilDate, Metadata)
        return {"VersionId": v["vid"]}

    def get_object(self, Bucket, Key, VersionId=None):
        v = self.current(Key)
        if v is None:
            raise _error("NoSuchKey", "GetObject", 404)
        return {"Body": _Body(v["data"]), "ContentLength": len(v["data"])}

    def head_object(self, Bucket, Key):
        v = self.current(Key)
        if v is None:
            raise _error("404", "HeadObject", 404)
        out = {"ContentLength": len(v["data"]), "Metadata": v["metadata"]}
        if v["mode"]:
            out.update(ObjectLockMode=v["mode"], ObjectLockRetainUntilDate=v["until"])
        return out

    def list_objects_v2(self, Bucket, Prefix="", MaxKeys=1000, ContinuationToken=None, Delimiter=None):
        contents = [{"Key": k, "Size": len(self.current(k)["data"]), "LastModified": self.current(k)["mtime"]}
                    for k in self.live_keys(Prefix)]
        return {"Contents": contents, "IsTruncated": False}

    def list_object_versions(self, Bucket, Prefix="", KeyMarker=None, VersionIdMarker=None):
        versions, markers = [], []
        for k in sorted(self.versions):
            if k.startswith(Prefix):
                for v in self.versions[k]:
                    (markers if v["marker"] else versions).append(
                        {"Key": k, "VersionId": v["vid"], "LastModified": v["mtime"]})
        return {"Versions": versions, "DeleteMarkers": markers, "IsTruncated": False}

    def _version(self, key, vid):
        return next((v for v in self.versions.get(key) or [] if v["vid"] == vid), None)

    def get_object_retention(self, Bucket, Key, VersionId=None):
        v = self._version(Key, VersionId) if VersionId else self.current(Key)
        if v is None:
            raise _error("NoSuchKey", "GetObjectRetention", 404)
        if not v["mode"]:
            raise _error("NoSuchObjectLockConfiguration", "GetObjectRetention", 404)
        return {"Retention": {"Mode": v["mode"], "RetainUntilDate": v["until"]}}

    def put_object_retention(self, Bucket, Key, Retention):
        v = self.current(Key)
        if v is None:
            raise _error("NoSuchKey", "PutObjectRetention", 404)
        if v["until"] is not None and Retention["RetainUntilDate"] < v["until"] and v["until"] > dt.datetime.now(UTC):
            raise _error("AccessDenied", "PutObjectRetention", 403)
        v["mode"], v["until"] = Retention["Mode"], Retention["RetainUntilDate"]
        return {}

    def delete_object(self, Bucket, Key, VersionId=None):
        with self._mu:
            if VersionId is None:
                self.versions.setdefault(Key, []).append({"vid": self._vid(), "data": b"", "marker": True,
                                                         "mtime": self.clock, "mode": None, "until": None,
                                                         "metadata": {}})
                return {}
            vs = self.versions.get(Key) or []
            for i, v in enumerate(vs):
                if v["vid"] == VersionId:
                    if v["mode"] and v["until"] > dt.datetime.now(UTC):
                        raise _error("AccessDenied", "DeleteObject", 403, "Access Denied")
                    del vs[i]
                    if not vs:
                        del self.versions[Key]
                    return {}
            raise _error("NoSuchVersion", "DeleteObject", 404)

    def create_multipart_upload(self, Bucket, Key, ChecksumAlgorithm=None, ObjectLockMode=None,
                                ObjectLockRetainUntilDate=None, Metadata=None, ContentType=None):
        with self._mu:
            uid = f"u{self._vid()}"
            self.uploads[uid] = {"key": Key, "parts": {}, "initiated": self.clock, "mode": ObjectLockMode,
                                 "until": ObjectLockRetainUntilDate, "metadata": Metadata}
        return {"UploadId": uid}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body, ChecksumCRC32=None):
        self.uploads[UploadId]["parts"][PartNumber] = bytes(Body)
        return {"ETag": f"e{PartNumber}"}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        up = self.uploads.pop(UploadId)
        data = b"".join(up["parts"][p["PartNumber"]] for p in MultipartUpload["Parts"])
        self._store(Key, data, up["mode"], up["until"], up["metadata"])
        return {}

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        if self.uploads.pop(UploadId, None) is None:
            raise _error("NoSuchUpload", "AbortMultipartUpload", 404)
        return {}

    def list_multipart_uploads(self, Bucket, Prefix="", KeyMarker=None, UploadIdMarker=None):
        ups = [{"Key": u["key"], "UploadId": uid, "Initiated": u["initiated"]}
               for uid, u in sorted(self.uploads.items()) if u["key"].startswith(Prefix)]
        return {"Uploads": ups, "IsTruncated": False}


def make_store(fake=None):
    fake = fake or FakeS3()
    return fake, BackupStore(fake, "bucket", endpoint="http://fake")


# ------------------------------------------------------------------------------ v2 backups


def bid_at(when, tag):
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{tag}"


def table_obj(key, data, table="mail_message", written_by=None, retain_until=None):
    return {"key": key, "role": fmt.ROLE_TABLE, "table": table, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "raw_size": len(data), "rows": 3,
            "fingerprint": hashlib.sha256(table.encode() + data).hexdigest(),
            "written_by": written_by or key.split("/")[2], "retain_until": retain_until}


def put_backup(fake, store, backup_id, tables=(), write=(), lock=None, env=ENV, db=DB, dump=b"PGDMP-small-tables"):
    """A complete v2 backup: dump, index (no files), the table-data objects in ``write``, manifest last.

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
        backup_id=backup_id, environment=env, db_name=db, started_at=started, finished_at=started,
        source={"environment": env, "database": db}, odoo={"version": "17.0"}, postgresql={},
        database={"format": "custom", "compression": "none", "raw_size": len(dump), "tables": {}},
        filestore={"keyspace": fmt.filestore_keyspace(), "index": prefix + fmt.INDEX_NAME, "count": 0, "size": 0},
        objects=[{"key": dump_key, "role": fmt.ROLE_DUMP, "size": len(dump), "sha256": hashlib.sha256(dump).hexdigest(),
                  "raw_size": len(dump)},
                 {"key": prefix + fmt.INDEX_NAME, "role": fmt.ROLE_INDEX, "size": len(index),
                  "sha256": hashlib.sha256(index).hexdigest()}, *objs],
        object_lock={"mode": lock.mode, "days": 1, "retain_until": fmt.format_time(until)} if lock else None,
    )
    data = fmt.encode_manifest(manifest)
    store.put_bytes(prefix + fmt.MANIFEST_NAME, data, lock=lock)
    return fmt.Manifest.from_bytes(data, key=prefix + fmt.MANIFEST_NAME), data, index


def tkey(writer, n=0):
    return fmt.table_object_key(writer, n, "none", False)


@pytest.fixture
def chain():
    """Three daily backups: b1 writes T1 (mail_message) and U1 (account_move_line); b2 reuses both;
    b3 reuses U1 and writes T3 (mail_message changed). All objects are 3 days old."""
    fake, store = make_store()
    b1, b2, b3 = (bid_at(NOW - dt.timedelta(days=d), t) for d, t in ((3, "aaaaa1"), (2, "aaaaa2"), (1, "aaaaa3")))
    t1, u1, t3 = tkey(b1, 0), tkey(b1, 1), tkey(b3, 0)
    mm, aml = "mail_message", "account_move_line"
    put_backup(fake, store, b1, [(t1, b"T1" * 50, mm), (u1, b"U1" * 70, aml)], write={t1, u1})
    put_backup(fake, store, b2, [(t1, b"T1" * 50, mm), (u1, b"U1" * 70, aml)])
    put_backup(fake, store, b3, [(t3, b"T3" * 60, mm), (u1, b"U1" * 70, aml)], write={t3})
    fake.age("", NOW - dt.timedelta(days=3))
    return types.SimpleNamespace(fake=fake, store=store, b1=b1, b2=b2, b3=b3, t1=t1, u1=u1, t3=t3)


# ------------------------------------------------------------------------------ retention


def test_deleting_the_writer_keeps_objects_a_kept_backup_references(chain):
    """keep_last 2: b1 (which WROTE T1 and U1) goes; b2 still references both, so they stay."""
    c = chain
    res = prune.run_retention(c.store, Policy(daily=0, weekly=0, monthly=0, keep_last=2), now=NOW, grace=GRACE)
    assert [d["backup_id"] for d in res["deleted"]] == [c.b1]
    assert res["dbdata"] == {"deleted": 0, "locked": 0, "skipped": None, "deleted_keys": [], "locked_keys": []}
    assert c.fake.live_keys(fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])
    assert c.fake.live_keys(fmt.backup_prefix(ENV, DB, c.b1)) == []


def test_last_reference_gone_deletes_every_version_check_mode_first(chain):
    """keep_last 1: b1 and b2 go; T1 was referenced by them only -> garbage; U1 (b3) and T3 stay."""
    c = chain
    plan = prune.run_retention(c.store, KEEP_ONE, check_mode=True, now=NOW, grace=GRACE)
    assert plan["dbdata"]["deleted"] == 1 and plan["dbdata"]["deleted_keys"] == [c.t1]
    assert plan["changed"] is True
    assert c.fake.live_keys(fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])  # check mode deleted nothing
    c.store.put_bytes(c.t1, b"T1" * 50)  # a second version of it: every version must go
    c.fake.age(c.t1, NOW - dt.timedelta(days=3))
    res = prune.run_retention(c.store, KEEP_ONE, now=NOW, grace=GRACE)
    assert sorted(d["backup_id"] for d in res["deleted"]) == sorted([c.b1, c.b2])
    assert res["dbdata"]["deleted"] == 1 and res["dbdata"]["deleted_keys"] == [c.t1] and res["changed"]
    assert c.t1 not in c.fake.versions  # no version, no delete marker left
    assert c.fake.live_keys(fmt.DBDATA_ROOT) == sorted([c.u1, c.t3])
    again = prune.run_retention(c.store, KEEP_ONE, now=NOW, grace=GRACE)
    assert again["changed"] is False and again["dbdata"]["deleted"] == 0


def test_the_dbdata_report_counts_in_changed_alone(chain):
    """Nothing but an unreferenced old table-data object to remove: the run changed something."""
    c = chain
    orphan = tkey(bid_at(NOW - dt.timedelta(days=5), "0dead0"))
    c.store.put_bytes(orphan, b"debris of an interrupted backup")
    c.fake.age(orphan, NOW - dt.timedelta(days=5))
    res = prune.run_retention(c.store, Policy(daily=0, weekly=0, monthly=0, keep_last=3), now=NOW, grace=GRACE)
    assert res["deleted"] == [] and res["dbdata"]["deleted_keys"] == [orphan] and res["changed"] is True


def test_grace_protects_objects_of_a_running_backup(chain):
    c = chain
    running = tkey(bid_at(NOW, "bbbbb1"))
    c.store.put_bytes(running, b"written a minute ago, no manifest yet")
    c.fake.age(running, NOW - dt.timedelta(minutes=1))
    keep_all = Policy(daily=0, weekly=0, monthly=0, keep_last=3)
    res = prune.run_retention(c.store, keep_all, now=NOW, grace=GRACE)
    assert res["dbdata"]["deleted"] == 0 and running in c.fake.live_keys()
    later = prune.run_retention(c.store, keep_all, now=NOW + dt.timedelta(days=2), grace=GRACE)
    assert later["dbdata"]["deleted_keys"] == [running] and running not in c.fake.versions


def test_locked_unreferenced_objects_are_reported_not_attempted(chain):
    c = chain
    until = (NOW + dt.timedelta(days=2)).replace(microsecond=0)
    c.fake.current(c.t1)["mode"], c.fake.current(c.t1)["until"] = "GOVERNANCE", until
    deletes = []
    real = c.fake.delete_object
    c.fake.delete_object = lambda **kw: (deletes.append(kw["Key"]), real(**kw))[1]
    res = prune.run_retention(c.store, KEEP_ONE, now=NOW, grace=GRACE)
    assert res["dbdata"]["deleted"] == 0
    assert res["dbdata"]["locked"] == 1
    assert res["dbdata"]["locked_keys"] == [{"key": c.t1, "retain_until": fmt.format_time(until)}]
    assert c.t1 not in deletes and c.t1 in c.fake.live_keys()


def test_an_unreadable_manifest_skips_the_collection_with_a_warning(chain):
    c = chain
    mkey = fmt.manifest_key(ENV, DB, c.b3)
    c.store.put_bytes(mkey, b"{not json")
    res = prune.run_retention(c.store, Policy(daily=0, weekly=0, monthly=0, keep_last=3), now=NOW, grace=GRACE)
    assert "unreadable" in res["dbdata"]["skipped"] and c.b3 in res["dbdata"]["skipped"]
    assert res["dbdata"]["skipped"] in res["warnings"]
    assert res["filestore"]["skipped"] and res["filestore"]["deleted"] == 0
    assert c.fake.live_keys(fmt.DBDATA_ROOT) == sorted([c.t1, c.u1, c.t3])


def test_references_from_other_environments_count(chain):
    """Retention scoped to one environment still sees every manifest of the store."""
    c = chain
    put_backup(c.fake, c.store, bid_at(NOW - dt.timedelta(days=1), "cccccc"), [(c.t1, b"T1" * 50, "mail_message")],
               env="staging")
    res = prune.run_retention(c.store, KEEP_ONE, environment=ENV, now=NOW, grace=GRACE)
    assert sorted(d["backup_id"] for d in res["deleted"]) == sorted([c.b1, c.b2])
    assert res["dbdata"]["deleted"] == 0 and c.t1 in c.fake.live_keys()


def test_gc_filestore_off_still_collects_table_data(chain):
    c = chain
    res = prune.run_retention(c.store, KEEP_ONE, now=NOW, grace=GRACE, gc_filestore=False)
    assert res["filestore"]["skipped"] == "gc_filestore is off"
    assert res["dbdata"]["deleted_keys"] == [c.t1]


def test_stale_multipart_uploads_under_dbdata_are_aborted(chain):
    c = chain
    old = c.fake.create_multipart_upload(Bucket="bucket", Key=tkey(bid_at(NOW, "dddddd")))["UploadId"]
    c.fake.uploads[old]["initiated"] = NOW - dt.timedelta(days=2)
    fresh = c.fake.create_multipart_upload(Bucket="bucket", Key=tkey(bid_at(NOW, "eeeeee")))["UploadId"]
    keep_all = Policy(daily=0, weekly=0, monthly=0, keep_last=3)
    plan = prune.run_retention(c.store, keep_all, check_mode=True, now=NOW, grace=GRACE)
    assert [u["key"] for u in plan["uploads_aborted"]] == [tkey(bid_at(NOW, "dddddd"))]
    assert set(c.fake.uploads) == {old, fresh}
    res = prune.run_retention(c.store, keep_all, now=NOW, grace=GRACE)
    assert [u["key"] for u in res["uploads_aborted"]] == [tkey(bid_at(NOW, "dddddd"))] and res["changed"]
    assert set(c.fake.uploads) == {fresh}


# ------------------------------------------------------------------------------ verification


def test_verify_checks_table_data_at_both_levels(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b3)
    for level in ("full", "presence"):
        problems, stats = verify.check_objects(c.store, m, level=level)
        assert problems == [] and stats["objects"] == 4  # dump, index, two table-data objects
    _problems, stats = verify.check_objects(c.store, m, level="full")
    assert stats["bytes"] == sum(o["size"] for o in m.objects)
    # damaged: U1 same size other content, T3 truncated
    c.store.put_bytes(c.u1, b"X" + (b"U1" * 70)[1:])
    c.store.put_bytes(c.t3, (b"T3" * 60)[:-1])
    full, _s = verify.check_objects(c.store, m, level="full")
    assert {(p["key"], p["problem"], p["table"]) for p in full} == {
        (c.u1, "sha256", "account_move_line"), (c.t3, "size", "mail_message")}
    presence, _s = verify.check_objects(c.store, m, level="presence")
    assert [(p["key"], p["problem"]) for p in presence] == [(c.t3, "size")]
    # missing (a delete marker): both levels name it
    c.fake.delete_object(Bucket="bucket", Key=c.t3)
    for level in ("full", "presence"):
        problems, _s = verify.check_objects(c.store, m, level=level)
        assert (c.t3, "missing", "mail_message") in {(p["key"], p["problem"], p.get("table")) for p in problems}


def test_verify_presence_lists_each_dbdata_directory_once(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b3)
    prefixes = []
    real = c.fake.list_objects_v2
    c.fake.list_objects_v2 = lambda **kw: (prefixes.append(kw["Prefix"]), real(**kw))[1]
    verify.check_objects(c.store, m, level="presence")
    dbdata = [p for p in prefixes if p.startswith(fmt.DBDATA_ROOT)]
    assert sorted(dbdata) == sorted({c.u1.rsplit("/", 1)[0] + "/", c.t3.rsplit("/", 1)[0] + "/"})


def test_restore_preflight_and_check_mode_cover_table_data(chain):
    c = chain
    m = c.store.read_manifest(ENV, DB, c.b2)
    assert fetch.preflight(c.store, m, [], fmt.filestore_keyspace()) == {"objects_listed": 4}
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
    c.fake.delete_object(Bucket="bucket", Key=c.u1)
    with pytest.raises(RestoreIntegrity, match=f"missing: {c.u1}"):
        fetch.preflight(c.store, m, [], fmt.filestore_keyspace())


# ------------------------------------------------------------------------------ copy to a second endpoint


class _Lockp:
    mode = "GOVERNANCE"
    days = 1


def test_replicate_copies_table_data_before_the_manifest_and_reuses_it_later():
    src_fake, src = make_store()
    dst_fake, dst = make_store()
    lock1 = LockSpec("GOVERNANCE", NOW + dt.timedelta(days=1))
    b1 = bid_at(NOW - dt.timedelta(minutes=10), "ffffff")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src_fake, src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1}, lock=lock1)
    out = replicate(src, dst, m1, mbytes, index, [], _Lockp, lock1)
    assert out["table_data"] == {"copied": 1, "copied_bytes": 100, "reused": 0, "retention_extended": 0}
    assert out["copied"] == 2  # the table-data object and the dump
    assert dst.get_bytes(t1) == b"T1" * 50
    assert dst_fake.writes.index(t1) < dst_fake.writes.index(m1.manifest_key) == len(dst_fake.writes) - 1
    head = dst_fake.head_object(Bucket="bucket", Key=t1)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] == lock1.until
    # the next backup references T1 with a longer lock: not copied again, its retention extended on dst
    lock2 = LockSpec("GOVERNANCE", NOW + dt.timedelta(days=5))
    b2 = bid_at(NOW - dt.timedelta(minutes=5), "ffff02")
    src_fake.current(t1)["until"] = lock2.until  # as the backup's reuse did on src
    m2, mbytes2, index2 = put_backup(src_fake, src, b2, [(t1, b"T1" * 50, "mail_message")], lock=lock2)
    n_writes = dst_fake.writes.count(t1)
    out = replicate(src, dst, m2, mbytes2, index2, [], _Lockp, lock2)
    assert out["table_data"] == {"copied": 0, "copied_bytes": 0, "reused": 1, "retention_extended": 1}
    assert dst_fake.writes.count(t1) == n_writes
    assert dst_fake.head_object(Bucket="bucket", Key=t1)["ObjectLockRetainUntilDate"] == lock2.until
    # a third copy of the same: nothing to extend
    out = replicate(src, dst, m2, mbytes2, index2, [], _Lockp, lock2)
    assert out["table_data"]["retention_extended"] == 0 and out["table_data"]["reused"] == 1
    # dst verifies on its own
    for m in (dst.read_manifest(ENV, DB, b1), dst.read_manifest(ENV, DB, b2)):
        assert verify.check_objects(dst, m, level="full")[0] == []


def test_replicate_copies_again_when_the_size_differs_and_without_lock():
    src_fake, src = make_store()
    dst_fake, dst = make_store()
    b1 = bid_at(NOW, "abcabc")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src_fake, src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1})
    dst.put_bytes(t1, b"short")
    out = replicate(src, dst, m1, mbytes, index, [], None, None)
    assert out["table_data"]["copied"] == 1 and dst.get_bytes(t1) == b"T1" * 50
    assert "ObjectLockMode" not in dst_fake.head_object(Bucket="bucket", Key=t1)


def test_replicate_refuses_a_damaged_table_object_and_writes_no_manifest():
    src_fake, src = make_store()
    dst_fake, dst = make_store()
    b1 = bid_at(NOW, "badbad")
    t1 = tkey(b1)
    m1, mbytes, index = put_backup(src_fake, src, b1, [(t1, b"T1" * 50, "mail_message")], write={t1})
    src.put_bytes(t1, b"X" * 100)  # same size, other bytes
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        replicate(src, dst, m1, mbytes, index, [], None, None)
    assert dst_fake.live_keys() == []


def test_copy_object_streams_large_objects_and_refuses_longer_ones():
    _src_fake, src = make_store()
    dst_fake, dst = make_store()
    data = bytes(range(256)) * (17 * 4096)  # 17 MiB: the streaming (multipart) path
    key = tkey(bid_at(NOW, "b1b1b1"))
    src.put_bytes(key, data)
    digest = hashlib.sha256(data).hexdigest()
    _copy_object(src, dst, key, len(data), digest, None)
    assert dst.get_bytes(key) == data and dst_fake.uploads == {}
    other = tkey(bid_at(NOW, "b2b2b2"))
    src.put_bytes(other, data + b"tail")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        _copy_object(src, dst, other, len(data), digest, None)
    assert other not in dst_fake.versions and dst_fake.uploads == {}
