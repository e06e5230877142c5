# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One backup run: database and filestore of one Odoo, as one unit, manifest last.

Order of a run, and why:

1. Checks that write nothing: names, encryption key, pg_dump version against the server (an older
   pg_dump is refused here), bucket reachable and, if object lock is asked for, lock-enabled.
2. One snapshot (pgsource.SnapshotSession): Odoo metadata, the attachment list, sizes.
3. Check mode: one listing of the filestore keyspace and the previous backup's index give the
   upload plan, which is reported; nothing else happens.
4. pg_dump streams into a multipart upload in a thread (started first: it is the long pole),
   without the data of the large tables (tabledata.py); beside it, ``table_jobs`` at a time, each
   large table is fingerprinted in the same snapshot and either reused from the previous backup
   (unchanged) or dumped into an archive of its own under dbdata/;
   meanwhile the store is listed once, the previous index read, the plan made, the filestore
   files uploaded in a pool and the row counts read from the snapshot. The first failure stops
   the other side (pg_dump killed, multipart aborted, pool drained).
5. The filestore index, then manifest.json: only now does the backup exist.
6. With copy_to, every object of the backup is copied to the second endpoint (checked against
   the manifest's SHA-256 on the way), filestore objects and table archives only if missing
   there, and the same manifest written last there too.

A failure anywhere before step 5 leaves no manifest: nothing is listed as restorable, and a retry
reuses the filestore objects already uploaded.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import hashlib
import os
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto, tabledata
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.dump import Cancelled, pg_dump_argv, stream_dump
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    BackupError,
    ConfigError,
    FilestoreIncomplete,
    IntegrityError,
    SourceError,
    StoreError,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.filestore import (
    BucketSource,
    FilestoreBackup,
    LockPolicy,
    plan,
    scan_directory,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.pgsource import (
    SnapshotSession,
    check_tool_for_server,
    client_env,
    find_tool,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.progress import Progress
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore, LockSpec

TOOL = "governed.odoo.backup"


@dataclass
class StoreTarget:
    """Where a store lives: S3 options (shared spec), bucket, key prefix."""

    s3: dict
    bucket: str
    prefix: str = ""
    label: str = "primary"

    def open(self, pool=32):
        client = make_client(self.s3, max_pool_connections=pool)
        return BackupStore(client, self.bucket, self.prefix, endpoint=self.s3.get("endpoint_url"), label=self.label)


@dataclass
class BackupOptions:
    environment: str
    pg: dict  # shared postgres options; pg["db"] is the database to back up
    target: StoreTarget
    filestore_path: str | None = None
    # or attachments in a bucket: S3 options (endpoint_url, access_key, secret_key, region, s3_validate_certs),
    # bucket, prefix, per_database (objects <prefix><db>/<fname>, or <prefix><fname>)
    filestore_s3: dict | None = None
    filestore_scope: str = "referenced"  # or "all"
    pg_bin_dir: str | None = None
    compression: str = "zstd"
    compression_level: int = 3
    zstd_threads: int = -1  # zstd worker threads; -1 = one per CPU (measured: halves the dump time on 2 cores)
    encryption_key: bytes | None = None
    object_lock_mode: str | None = None
    object_lock_days: int = 0
    lock_slack_days: int = 7
    copy_to: StoreTarget | None = None
    threads: int = 8
    part_size: int = 8 * 1024 * 1024
    row_counts: bool = True
    # attachment files ir_attachment references that may be absent from the source (the instance's policy):
    # these store_fnames, plus at most accept_missing_count others; any other gap fails the backup
    accept_missing_files: list = field(default_factory=list)
    accept_missing_count: int = 0
    split_min_size: int | None = tabledata.DEFAULT_SPLIT_MIN_SIZE  # None or -1: every table in db.dump
    table_jobs: int = 2  # tables fingerprinted and dumped at the same time
    lock_wait_timeout: str | None = None
    progress_log: str | None = None
    progress_interval: float = 10.0
    progress_stream: object = None
    check_mode: bool = False
    now: _dt.datetime | None = None
    extra: dict = field(default_factory=dict)


def _lock_policy(opts, now):
    if not opts.object_lock_mode:
        return None
    if opts.object_lock_mode not in fmt.LOCK_MODES:
        raise ConfigError(f"object_lock_mode must be one of {', '.join(fmt.LOCK_MODES)}", option="object_lock_mode")
    if not opts.object_lock_days or opts.object_lock_days < 1:
        raise ConfigError("object_lock_days must be at least 1 when object lock is on", option="object_lock_days")
    return LockPolicy(opts.object_lock_mode, int(opts.object_lock_days), int(opts.lock_slack_days), now=now)


def check_missing(missing, accept_files=(), accept_count=0, where=""):
    """The gaps policy (pure): a backup that lacks attachment files its database references is a failed
    backup, unless the instance's policy names them (``accept_files``) or allows that many others
    (``accept_count``). Returns the policy record for the manifest; raises FilestoreIncomplete otherwise.
    """
    if accept_count is None or int(accept_count) < 0:
        raise ConfigError("accept_missing_count must be 0 or more", option="accept_missing_count")
    named = set(accept_files or ())
    accepted = sorted(f for f in missing if f in named)
    others = sorted(f for f in missing if f not in named)
    if len(others) > int(accept_count):
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
        raise FilestoreIncomplete(
            f"{len(missing)} attachment file(s) referenced by ir_attachment are not in {where}, "
            f"{len(others)} of them not accepted by the instance's policy (accept_missing_files names "
            f"{len(accepted)}, accept_missing_count allows {int(accept_count)}): {shown}. The backup would not "
            "restore them, so it is refused and nothing was sealed: bring the files back (or point the "
            "backup at where they are), or name the accepted gaps in the policy",
            missing=others[:200], missing_count=len(others), accepted=accepted[:200], source=where)
    return {"files": accepted, "count": int(accept_count), "unnamed": len(others)}


def _first_real_error(errors):
    for e in errors:
        if not isinstance(e, Cancelled):
            return e
    return errors[0]


def tune_malloc():
    """Keep the process's memory flat whatever the backup size (glibc only; a no-op elsewhere).

    The dump and the uploads allocate and free buffers of 1-8 MiB in a dozen threads. glibc's
    dynamic mmap threshold moves such buffers into the heap after the first frees, where each
    thread's arena keeps them: resident memory then grows with the run. A fixed threshold sends
    every buffer above 256 KiB back to the system when freed, and fewer arenas share the rest.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (also turns off the dynamic adjustment)
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def run_backup(opts, store=None, copy_store=None):
    """Run one backup (or, in check mode, plan it). Returns a JSON-ready result dict."""
    t0 = time.monotonic()
    tune_malloc()
    env = fmt.check_name(opts.environment, "environment")
    dbname = opts.pg.get("db")
    if not dbname:
        raise ConfigError("the database to back up (db) is required", option="db")
    fmt.check_name(dbname, "db")
    if opts.filestore_scope not in ("referenced", "all"):
        raise ConfigError("filestore_scope must be 'referenced' or 'all'", option="filestore_scope")
    if opts.filestore_path and opts.filestore_s3:
        raise ConfigError("filestore_path and filestore_s3 are mutually exclusive: the attachments are either in a "
                          "directory or in a bucket", option="filestore_path, filestore_s3")
    if opts.filestore_s3 is not None and not (opts.filestore_s3 or {}).get("bucket"):
        raise ConfigError("filestore_s3.bucket is required", option="filestore_s3.bucket")
    if opts.table_jobs is None or opts.table_jobs < 1:
        raise ConfigError("table_jobs must be at least 1", option="table_jobs")
    key = opts.encryption_key
    kid = crypto.key_id(key) if key is not None else None
    if key is not None and not crypto.HAS_CRYPTOGRAPHY:
        raise ConfigError(f"encryption needs the Python package cryptography: {crypto.CRYPTOGRAPHY_IMPORT_ERROR}")
    keyspace = fmt.filestore_keyspace(kid)
    store = store or opts.target.open(pool=max(32, opts.threads * 2 + 4))
    if opts.copy_to is not None and copy_store is None:
        copy_store = opts.copy_to.open(pool=max(32, opts.threads * 2 + 4))

    # 1. checks that write nothing -------------------------------------------------------------
    pg_dump = find_tool("pg_dump", opts.pg_bin_dir)
    snap = SnapshotSession(opts.pg, dbname)
    try:
        now = opts.now or fmt.utcnow()
        lockp = _lock_policy(opts, now)
        server = snap.server()
        pg_dump_version = check_tool_for_server(pg_dump, server["server_version_num"], server["server_version"])
        store.check_bucket(need_lock=lockp is not None)
        if copy_store is not None:
            copy_store.check_bucket(need_lock=lockp is not None)

        # 2. the snapshot ----------------------------------------------------------------------
        odoo = snap.odoo(server["server_version"])
        fnames = snap.store_fnames()
        fs_root = opts.filestore_path
        fs_bucket = None
        if opts.filestore_s3:
            fs_bucket = BucketSource.open(opts.filestore_s3, dbname, pool=max(32, opts.threads * 2 + 4))
            fs_bucket.check()
            if opts.filestore_scope == "all":
                fnames = sorted(set(fnames) | set(fs_bucket.listing()))
        if fs_root and opts.filestore_scope == "all" and os.path.isdir(fs_root):
            fnames = sorted(set(fnames) | set(scan_directory(fs_root)))
        if fnames and not fs_root and fs_bucket is None:
            raise ConfigError(f"{dbname} has {len(fnames)} attachment files but no filestore_path or filestore_s3 "
                              "was given", option="filestore_path")
        if fnames and fs_bucket is None and not os.path.isdir(fs_root):
            raise SourceError(f"filestore directory {fs_root} does not exist", path=fs_root)
        data_size = snap.data_size()
        split = tabledata.list_split_tables(snap, opts.split_min_size, server["server_version_num"])
        # the previous backup: its filestore index for the plan, its table archives for the tables
        prev = store.latest_manifest(env, dbname)

        def make_plan():
            existing = store.list_filestore(keyspace)
            prev_entries = {}
            if prev is not None and prev.filestore_keyspace == keyspace:
                try:
                    _ks, entries = store.iter_index(prev)
                    prev_entries = FilestoreBackup.compact_index(entries)
                except BackupError:
                    prev_entries = {}  # a damaged previous index only costs HEAD requests
            chunk = crypto.DEFAULT_CHUNK_SIZE if key is not None else None
            return plan(fnames, fs_bucket or fs_root or ".", existing, chunk, keyspace), prev_entries

        # 3. check mode: the plan is the answer -------------------------------------------------
        fs_where = fs_bucket.describe() if fs_bucket is not None else (fs_root or "the filestore")
        if opts.check_mode:
            fplan, _prev_entries = make_plan()
            gaps = check_missing(fplan.missing, opts.accept_missing_files, opts.accept_missing_count, fs_where)
            return {
                "changed": True,
                "check_mode": True,
                "environment": env,
                "db_name": dbname,
                "would_upload": fplan.as_dict(),
                "database_size": server["database_size"],
                "split_tables": [st.name for st in split],
                "pg_dump": {"path": pg_dump, "version": pg_dump_version},
                "postgresql_version": server["server_version"],
                "odoo_version": odoo.get("version"),
                "previous_backup": prev.backup_id if prev else None,
                "missing_accepted": gaps,
                "requests": dict(store.stats),
            }

        # 4. dump (started first: it is the long pole), row counts, plan, filestore ------------
        timings = {"checks": round(time.monotonic() - t0, 3)}
        backup_id = fmt.new_backup_id(now)
        prefix = fmt.backup_prefix(env, dbname, backup_id)
        dump_lock = None
        if lockp:
            dump_lock = LockSpec(lockp.mode, (now + _dt.timedelta(days=lockp.days)).replace(microsecond=0))
        progress = Progress(f"backup {env}/{dbname}", total=data_size, interval=opts.progress_interval,
                            log_path=opts.progress_log, stream=opts.progress_stream)
        cancel = threading.Event()
        errors = []
        dump_result = {}
        counts = {}
        dump_rel = prefix + fmt.dump_object_name("custom", opts.compression, key is not None)
        argv = pg_dump_argv(pg_dump, snap.snapshot, extra=tabledata.exclude_args(split),
                            lock_wait_timeout=opts.lock_wait_timeout)
        pg_env = client_env(opts.pg, dbname)
        table_entries = []
        reused = set()
        smajor = int(server["server_version_num"]) // 10000
        dbks = fmt.dbdata_keyspace(kid)

        def one_table(st, prev_objs):
            if cancel.is_set():
                raise Cancelled("table dump stopped: another part of the backup failed")
            reader = tabledata.SnapshotReader(opts.pg, dbname, snap.snapshot, opts.lock_wait_timeout)
            try:
                reader.measure(st, server["encoding"], smajor)
            finally:
                reader.close()
            prev_obj = prev_objs.get(st.name)
            if prev_obj is not None and prev_obj["fingerprint"] == st.fingerprint:
                entry = tabledata.reuse(store, st, prev_obj, dump_lock)
                if entry is not None:
                    reused.add(st.name)
                    progress.advance(st.size, "db")
                    return entry
            rel = fmt.table_object_key(backup_id, st.number, opts.compression, key is not None, kid)
            info = tabledata.dump_table(store, st, rel, pg_dump, snap.snapshot, pg_env, dump_lock, opts,
                                        progress=progress, cancel=cancel)
            return tabledata.table_entry(st, info, opts.compression, backup_id, dump_lock.until if dump_lock else None)

        def tables_thread():
            t = time.monotonic()
            try:
                prev_objs = tabledata.previous_objects(prev, dbks, opts.compression)
                with ThreadPoolExecutor(max_workers=max(1, opts.table_jobs), thread_name_prefix="table") as pool:
                    futures = [pool.submit(one_table, st, prev_objs) for st in split]
                    try:
                        for f in futures:
                            table_entries.append(f.result())
                    except BaseException as exc:  # first, before the pool waits for the other tables
                        errors.append(exc)
                        cancel.set()
                        raise
            except BaseException as exc:  # handed to the main thread
                if exc not in errors:
                    errors.append(exc)
                cancel.set()
            timings["tables"] = round(time.monotonic() - t, 3)

        def dump_thread():
            t = time.monotonic()
            try:
                dump_result.update(stream_dump(store, dump_rel, argv, pg_env, lock=dump_lock,
                                               compression=opts.compression, level=opts.compression_level,
                                               zstd_threads=opts.zstd_threads, key=key, part_size=opts.part_size,
                                               progress=progress, cancel=cancel))
            except BaseException as exc:  # handed to the main thread
                errors.append(exc)
                cancel.set()
            timings["dump"] = round(time.monotonic() - t, 3)

        def count_thread():
            t = time.monotonic()
            try:
                counts.update(snap.row_counts(skip={st.name for st in split}))
            except BaseException as exc:  # handed to the main thread
                errors.append(exc)
                cancel.set()
            timings["row_counts"] = round(time.monotonic() - t, 3)

        progress.start()
        ok = False
        fsb = None
        try:
            th = threading.Thread(target=dump_thread, name="pg_dump", daemon=True)
            th.start()
            tt = threading.Thread(target=tables_thread, name="tables", daemon=True)
            if split:
                tt.start()
            tc = threading.Thread(target=count_thread, name="row-counts", daemon=True)
            if opts.row_counts:
                tc.start()
            try:
                t = time.monotonic()
                fplan, prev_entries = make_plan()
                gaps = check_missing(fplan.missing, opts.accept_missing_files, opts.accept_missing_count, fs_where)
                timings["plan"] = round(time.monotonic() - t, 3)
                progress.add_total(fplan.upload_bytes)
                fsb = FilestoreBackup(store, keyspace, key=key, lock=lockp, threads=opts.threads, progress=progress,
                                      cancel=cancel, prev_entries=prev_entries, root=fplan.root)
                del prev_entries
                t = time.monotonic()
                fsb.run(fplan)
                timings["filestore"] = round(time.monotonic() - t, 3)
            except BaseException as exc:  # handed on below, after the others stopped
                errors.append(exc)
                cancel.set()
            th.join()
            if split:
                tt.join()
            if opts.row_counts:
                tc.join()
            if errors:
                raise _first_real_error(errors)
            ok = True
        finally:
            progress.finish(ok=ok)
    finally:
        snap.close()

    # 5. index, then manifest ------------------------------------------------------------------
    fsb.prev = {}  # only the new index matters from here on
    t = time.monotonic()
    index_bytes = fmt.encode_index(fsb.iter_entries(), keyspace, presorted=True)
    index_rel = prefix + fmt.INDEX_NAME
    index_obj = store.put_bytes(index_rel, index_bytes, lock=dump_lock, content_type="application/gzip")
    objects = [
        {k: dump_result[k] for k in ("key", "role", "size", "sha256", "raw_size", "version_id") if k in dump_result},
        {"key": index_rel, "role": fmt.ROLE_INDEX, "size": index_obj["size"], "sha256": index_obj["sha256"],
         **({"version_id": index_obj["version_id"]} if index_obj.get("version_id") else {})},
        *table_entries,
    ]
    if opts.row_counts:
        counts.update({e["table"]: e["rows"] for e in table_entries})
    tables_info = tabledata.describe(table_entries, reused)
    plain_total = fsb.plain_size
    stored_total = fsb.stored_size
    manifest = fmt.build_manifest(
        backup_id=backup_id,
        environment=env,
        db_name=dbname,
        started_at=now,
        finished_at=fmt.utcnow(),
        source={
            "environment": env,
            "database": dbname,
            "host": opts.pg.get("login_host"),
            "port": opts.pg.get("login_port"),
            "filestore_path": fs_root,
            **({"filestore_s3": fs_bucket.describe()} if fs_bucket is not None else {}),
            "runner": platform.node(),
            "tool": TOOL,
        },
        odoo=odoo,
        postgresql={
            "server_version": server["server_version"],
            "server_version_num": server["server_version_num"],
            "pg_dump_version": pg_dump_version,
            "database_size": server["database_size"],
            "encoding": server["encoding"],
            "collate": server["collate"],
            "ctype": server["ctype"],
        },
        database={
            "format": "custom",
            "compression": opts.compression,
            "compression_level": opts.compression_level if opts.compression == "zstd" else None,
            "jobs": 1,
            "raw_size": dump_result["raw_size"] + tables_info["raw_size"],
            "tables": counts,
            "table_data": {"split_min_size": opts.split_min_size, "count": tables_info["count"],
                           "reused": tables_info["reused"], "dumped": tables_info["dumped"]},
        },
        filestore={
            "keyspace": keyspace,
            "index": index_rel,
            "scope": opts.filestore_scope,
            "count": fsb.count,
            "size": plain_total,
            "stored_size": stored_total,
            "new_count": fsb.stats["uploaded"],
            "new_size": fsb.stats["uploaded_bytes"],
            "reused_count": fsb.stats["reused"],
            "missing": sorted(fplan.missing),
            "missing_accepted": gaps,
            "renamed": sorted(fsb.renamed, key=lambda r: r["fname"]),
        },
        objects=objects,
        encryption={"algorithm": crypto.ALGORITHM, "key_id": kid, "chunk_size": crypto.DEFAULT_CHUNK_SIZE}
        if key is not None else None,
        object_lock={"mode": lockp.mode, "days": lockp.days, "retain_until": fmt.format_time(dump_lock.until)}
        if lockp else None,
    )
    manifest_bytes = fmt.encode_manifest(manifest)
    mrel = prefix + fmt.MANIFEST_NAME
    mput = store.put_bytes(mrel, manifest_bytes, lock=dump_lock, content_type="application/json")
    timings["index_and_manifest"] = round(time.monotonic() - t, 3)
    backup_seconds = time.monotonic() - t0

    result = {
        "changed": True,
        "backup_id": backup_id,
        "environment": env,
        "db_name": dbname,
        "manifest_key": store.full(mrel),
        "manifest_version_id": mput.get("version_id"),
        "format_version": manifest["format_version"],
        "bucket": store.bucket,
        "endpoint": store.endpoint,
        "started_at": manifest["started_at"],
        "finished_at": manifest["finished_at"],
        "odoo_version": odoo.get("version"),
        "postgresql_version": server["server_version"],
        "pg_dump_version": pg_dump_version,
        "database": {"raw_size": dump_result["raw_size"] + tables_info["raw_size"],
                     "stored_size": dump_result["size"] + tables_info["stored_size"],
                     "uploaded_size": dump_result["size"] + sum(e["size"] for e in table_entries
                                                                if e["table"] not in reused),
                     "tables": len(counts), "rows": sum(counts.values()),
                     "table_archives": tables_info["count"], "tables_reused": tables_info["reused"],
                     "tables_dumped": tables_info["dumped"]},
        "filestore": {"count": fsb.count, "size": plain_total, "uploaded": fsb.stats["uploaded"],
                      "uploaded_bytes": fsb.stats["uploaded_bytes"], "reused": fsb.stats["reused"],
                      "retention_extended": fsb.stats["retention_extended"], "head_requests": fsb.stats["head"],
                      "missing": sorted(fplan.missing), "renamed": fsb.renamed},
        "encrypted": key is not None,
        "object_lock": manifest["object_lock"],
        "seconds": round(backup_seconds, 3),
        "timings": timings,
        "progress": progress.summary(),
        "requests": dict(store.stats),
        "warnings": [],
    }
    if fplan.missing:
        result["warnings"].append(f"{len(fplan.missing)} attachment file(s) referenced by ir_attachment are missing "
                                  f"from {fs_where}, accepted by the instance's policy; the backup records them "
                                  "under filestore.missing")
    if fsb.renamed:
        result["warnings"].append(f"{len(fsb.renamed)} filestore file(s) do not match their SHA-1 name; stored under "
                                  "their real SHA-1 (see filestore.renamed)")

    # 6. copy to the second endpoint -----------------------------------------------------------
    if copy_store is not None:
        t1 = time.monotonic()
        try:
            copy = replicate(store, copy_store, fmt.Manifest(manifest, key=mrel), manifest_bytes, index_bytes,
                             fsb.iter_entries, lockp, dump_lock, threads=opts.threads)
        except BackupError as exc:
            exc.details.setdefault("backup_id", backup_id)
            exc.details.setdefault("primary_manifest_key", store.full(mrel))
            exc.msg = (f"backup {backup_id} is complete on {store.endpoint}, but the copy to {copy_store.endpoint} "
                       f"failed: {exc.msg}")
            exc.args = (exc.msg,)
            raise
        copy["seconds"] = round(time.monotonic() - t1, 3)
        result["copied_to"] = copy
    return result


# ------------------------------------------------------------------------- copy to a second endpoint


def _copy_object(src, dst, rel, size, sha256, lock, metadata=None, version_id=None):
    """Copy one object src -> dst; its size and SHA-256 are checked against the manifest before it is sent.

    ``version_id`` is the pinned version on ``src`` (read, never a newer one). Returns the version id the
    copy got on ``dst`` (None in an unversioned bucket).
    """
    if size <= 16 * 1024 * 1024:
        data = src.get_bytes(rel, max_size=size + 1, version_id=version_id)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256 or len(data) != size:
            raise IntegrityError(f"{src.where(rel)} does not match its manifest (sha256 {actual}, expected {sha256}); "
                                 "not copied", key=src.full(rel), expected=sha256, actual=actual)
        return dst.put_bytes(rel, data, lock=lock, sha256=sha256, metadata=metadata).get("version_id")
    writer = dst.multipart(rel, lock=lock, metadata=metadata)
    with writer:
        h = hashlib.sha256()
        n = 0
        for chunk in src.iter_object(rel, version_id=version_id):
            h.update(chunk)
            n += len(chunk)
            if n > size:
                break  # longer than the manifest says: refused below, without reading the rest
            writer.write(chunk)
        if n != size or h.hexdigest() != sha256:
            writer.abort()
            raise IntegrityError(f"{src.where(rel)} does not match its manifest ({n} bytes, {size} expected); not "
                                 "copied", key=src.full(rel), expected=sha256, actual=h.hexdigest())
        return writer.close().get("version_id")


def _replicate_tables(src, dst, manifest, lockp, dump_lock, threads=8, versions=None):
    """Copy the table-data objects of ``manifest`` (format version 2) to ``dst``, only those missing there.

    A table-data object lives outside the backup directory and is shared by the later backups that
    reference it, so ``dst`` often has it already (from the copy of an earlier backup): an object
    whose first version on ``dst`` has the recorded size is reused, and with object lock its retention
    on ``dst`` is extended to the entry's ``retain_until`` when it ends earlier (never shortened). A
    copied one is locked until that date. ``versions`` (a dict) receives key -> version id on ``dst``.
    Returns counters.
    """
    stats = {"copied": 0, "copied_bytes": 0, "reused": 0, "retention_extended": 0}
    versions = {} if versions is None else versions
    objs = manifest.table_objects
    if not objs:
        return stats
    lk = threading.Lock()

    def one(obj):
        rel = obj["key"]
        lock = None
        if lockp is not None:
            until = fmt.parse_time(obj.get("retain_until")) or (dump_lock.until if dump_lock is not None else None)
            lock = LockSpec(lockp.mode, until) if until is not None else None
        kv = dst.key_versions(rel).get(rel)
        orig = kv.original if kv is not None else None
        head = dst.head(rel, version_id=orig[0]) if orig is not None and orig[1] == obj["size"] else None
        if head is not None and head.get("ContentLength") == obj["size"]:
            if lock is not None and lock.active():
                cur = head.get("ObjectLockRetainUntilDate")
                if cur is not None and cur.tzinfo is None:
                    cur = cur.replace(tzinfo=_dt.timezone.utc)
                if cur is None or cur < lock.until:
                    if dst.put_retention(rel, lock, version_id=orig[0]) == "missing":
                        head = None  # deleted meanwhile: copied below
                    else:
                        with lk:
                            stats["retention_extended"] += 1
            if head is not None:
                with lk:
                    stats["reused"] += 1
                    versions[rel] = orig[0]
                return
        vid = _copy_object(src, dst, rel, obj["size"], obj["sha256"], lock, metadata={"sha256": obj["sha256"]},
                           version_id=obj.get("version_id"))
        with lk:
            stats["copied"] += 1
            stats["copied_bytes"] += obj["size"]
            versions[rel] = vid

    # a few at a time: each large one streams through a multipart upload of its own
    with ThreadPoolExecutor(max_workers=max(1, min(threads, 4)), thread_name_prefix="copy-table") as pool:
        list(pool.map(one, objs))
    return stats


def replicate(src, dst, manifest, manifest_bytes, index_bytes, entries, lockp, dump_lock, threads=8):
    """Copy one complete backup from ``src`` to ``dst`` (manifest last), filestore objects only if missing.

    ``entries`` are the index entries (an iterable, or a callable returning one).

    Locks on ``dst`` mirror ``src``: each filestore object is locked at least until the date its
    index entry records, the backup directory until the manifest's retain_until. Table-data objects
    (format version 2, under ``dbdata/``, shared with other backups) are copied before the manifest
    too, only if missing on ``dst`` with the same size, each locked until its entry's
    ``retain_until``; see :func:`_replicate_tables`. Every copied object's SHA-256 is checked
    against the manifest (or index) on the way, and read from its pinned version on ``src``.

    Version ids are each store's own: ``dst``'s index and manifest are the primary's with ``dst``'s
    version ids (manifest.repin), sealed again; without version ids on either side (unversioned
    buckets) they are the primary's bytes.

    A backup whose manifest ``dst`` already has (a copy run again) keeps it: its shared objects are
    checked and their locks extended as above, but the backup directory is not written a second time
    (a second version there would read as tampering, and would not be read anyway).
    """
    done = dst.manifest_versions(manifest.environment, manifest.db_name, manifest.backup_id)
    done = done.original if done is not None else None
    keyspace = manifest.filestore_keyspace
    existing = dst.list_filestore(keyspace)
    prev = dst.latest_manifest(manifest.environment, manifest.db_name)
    known = {}
    if prev is not None and prev.filestore_keyspace == keyspace and prev.backup_id != manifest.backup_id:
        try:
            known = {e["sha1"]: e.get("retain_until") for e in dst.read_index(prev)[1]}
        except BackupError:
            known = {}
    stats = {"copied": 0, "copied_bytes": 0, "reused": 0, "retention_extended": 0}
    file_versions = {}  # sha1 -> version id on dst
    lk = threading.Lock()

    def one(entry):
        rel = fmt.filestore_key(entry["sha1"], keyspace=keyspace)
        until = fmt.parse_time(entry.get("retain_until"))
        lock = LockSpec(lockp.mode, until) if (lockp and until) else None
        have = existing.get(entry["sha1"])
        if have is not None and have[0] == entry["stored_size"]:
            vid = have[2] if len(have) > 2 else None
            if lock is not None:
                cur = fmt.parse_time(known.get(entry["sha1"]))
                if cur is None:
                    _mode, cur = dst.retention_of(rel, vid)
                if cur is None or cur < until:
                    if dst.put_retention(rel, lock, version_id=vid) == "missing":
                        have = None
                    else:
                        with lk:
                            stats["retention_extended"] += 1
            if have is not None:
                with lk:
                    stats["reused"] += 1
                    file_versions[entry["sha1"]] = vid
                return
        vid = _copy_object(src, dst, rel, entry["stored_size"], entry["sha256"], lock,
                           metadata={"sha256": entry["sha256"], "sha1": entry["sha1"], "size": str(entry["size"])},
                           version_id=entry.get("version_id"))
        with lk:
            stats["copied"] += 1
            stats["copied_bytes"] += entry["stored_size"]
            file_versions[entry["sha1"]] = vid

    errors = []
    sem = threading.BoundedSemaphore(max(1, threads) * 2)

    def call(entry):
        try:
            one(entry)
        except BaseException as exc:  # handed to the submitting thread
            errors.append(exc)
        finally:
            sem.release()

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for entry in (entries() if callable(entries) else entries):
            sem.acquire()
            if errors:
                sem.release()
                break
            pool.submit(call, entry)
    if errors:
        raise errors[0]
    versions = {}
    tables = _replicate_tables(src, dst, manifest, lockp, dump_lock, threads=threads, versions=versions)
    for name, value in tables.items():
        stats[name] += value
    if done is not None:
        return {"endpoint": dst.endpoint, "bucket": dst.bucket, "manifest_key": dst.full(manifest.manifest_key),
                "manifest_version_id": done[0], "already_copied": True,
                **stats, "table_data": tables, "requests": dict(dst.stats)}
    for obj in manifest.dump_objects:
        versions[obj["key"]] = _copy_object(src, dst, obj["key"], obj["size"], obj["sha256"], dump_lock,
                                            version_id=obj.get("version_id"))
        stats["copied"] += 1
        stats["copied_bytes"] += obj["size"]
    pinned = manifest.pinned or any(versions.values()) or any(file_versions.values())
    if pinned:
        # the same index with dst's version ids (entries are re-read: a generator cannot be replayed)
        src_keyspace, src_entries = fmt.iter_index(index_bytes)
        index_bytes = fmt.encode_index((fmt.index_entry(e["fname"], e["sha1"], e["size"], e["stored_size"],
                                                        e["sha256"], e.get("retain_until"),
                                                        file_versions.get(e["sha1"]))
                                        for e in src_entries), src_keyspace, presorted=True)
    index_key = manifest.index_object["key"]
    put = dst.put_bytes(index_key, index_bytes, lock=dump_lock, content_type="application/gzip")
    versions[index_key] = put.get("version_id")
    if pinned:
        manifest_bytes = fmt.encode_manifest(fmt.repin(manifest.data, versions, index_bytes))
    elif hashlib.sha256(index_bytes).hexdigest() != manifest.index_object["sha256"]:
        raise IntegrityError("filestore index changed during the copy")  # pragma: no cover - defensive
    put = dst.put_bytes(manifest.manifest_key, manifest_bytes, lock=dump_lock, content_type="application/json")
    return {"endpoint": dst.endpoint, "bucket": dst.bucket, "manifest_key": dst.full(manifest.manifest_key),
            "manifest_version_id": put.get("version_id"),
            **stats, "table_data": tables, "requests": dict(dst.stats)}


__all__ = ["BackupOptions", "StoreError", "StoreTarget", "replicate", "run_backup"]
