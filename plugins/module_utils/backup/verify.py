# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification of a backup: every object against its manifest, optionally a full test restore.

Levels:

* ``full`` (default): download every object of the backup (database archive, table-data archives
  of format version 2, filestore index, every filestore object the index lists), streaming, and
  compare size and SHA-256 with the manifest. Filestore objects are also checked against their
  SHA-1 name (after decryption when the key is given). Catches corruption, truncation, a missing
  object, a replaced object.
* ``presence``: listing only (no download): every object exists with the recorded size. Cheap
  enough to run after each backup; ``full`` belongs in a schedule. Table-data objects live outside
  the backup directory (under ``dbdata/<keyspace>/<backup that wrote them>/``): each such
  directory is listed once.

A damaged or altered manifest fails reading it (format, seal). Every problem names the object.

The test restore (:func:`restore_check`, module option ``test_restore``) restores the database into
a scratch database that did not exist before (and is always dropped afterwards), the filestore
into a temporary directory,
and compares the row count of every table with the counts the manifest took in the dump's own
snapshot. It proves that pg_restore accepts the archive, not only that the bytes are intact.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto, restore_core
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    BackupError,
    EncryptionError,
    RestoreError,
    StoreError,
)

LEVELS = ("full", "presence")


def _stream_digest(store, rel):
    h = hashlib.sha256()
    n = 0
    for chunk in store.iter_object(rel):
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def _problem(store, rel, problem, **kw):
    return {"key": store.full(rel), "problem": problem, **kw}


def _what(obj):
    """Extra fields naming what a database object holds (the table of a table-data object)."""
    return {"table": obj["table"]} if obj.get("role") == fmt.ROLE_TABLE else {}


def listed_sizes(store, prefix, objects):
    """rel key -> stored size of the objects present among ``objects``: one listing of ``prefix``, plus one
    of each other directory an object lives in (table-data objects are outside the backup directory)."""
    dirs = {prefix}
    for obj in objects:
        if not obj["key"].startswith(prefix):
            dirs.add(obj["key"].rsplit("/", 1)[0] + "/")
    wanted = {obj["key"] for obj in objects}
    out = {}
    for d in sorted(dirs):
        for k, size, _t in store.iter_objects(d):
            if k in wanted:
                out[k] = size
    return out


def check_objects(store, manifest, level="full", key=None, threads=8, progress=None, entries=None):
    """Problems (list of dicts naming each object) and counters for ``manifest``'s objects."""
    if level not in LEVELS:
        raise ValueError(f"unknown verification level {level!r}")
    problems = []
    stats = {"objects": 0, "bytes": 0}
    lock = threading.Lock()
    if manifest.encryption is not None and key is not None and crypto.key_id(key) != manifest.key_id:
        raise EncryptionError(f"the key given is not the key of backup {manifest.backup_id} "
                              f"(id {crypto.key_id(key)}, backup uses {manifest.key_id})")

    def note(n):
        with lock:
            stats["objects"] += 1
            stats["bytes"] += n
        if progress is not None:
            progress.advance(n, "verified", 1)

    # the backup directory's own objects, and the table-data objects it references
    listed = listed_sizes(store, manifest.prefix, manifest.objects) if level == "presence" else None

    def one_object(obj):
        rel = obj["key"]
        if level == "presence":
            note(0)
            if rel not in listed:
                return [_problem(store, rel, "missing", **_what(obj))]
            if listed[rel] != obj["size"]:
                return [_problem(store, rel, "size", expected=obj["size"], actual=listed[rel], **_what(obj))]
            return []
        try:
            n, digest = _stream_digest(store, rel)
        except StoreError as exc:
            return [_problem(store, rel, "missing" if exc.details.get("code") in ("NoSuchKey", "404", "NotFound")
                             else "unreadable", message=exc.msg, **_what(obj))]
        note(n)
        if n != obj["size"]:
            return [_problem(store, rel, "size", expected=obj["size"], actual=n, **_what(obj))]
        if digest != obj["sha256"]:
            return [_problem(store, rel, "sha256", expected=obj["sha256"], actual=digest, **_what(obj))]
        return []

    # streamed a few at a time: a version 2 backup can list dozens of large table archives
    with ThreadPoolExecutor(max_workers=max(1, min(threads, 4))) as pool:
        for found in pool.map(one_object, manifest.objects):
            problems.extend(found)

    # the filestore objects through the index (whose checksum was just verified, or is checked now)
    if entries is None:
        try:
            _ks, entries = store.read_index(manifest)
        except BackupError as exc:
            problems.append({"key": store.full(manifest.index_object["key"]), "problem": "index",
                             "message": exc.msg})
            return problems, stats
    keyspace = manifest.filestore_keyspace
    if level == "presence":
        present = store.list_filestore(keyspace)
        for e in entries:
            have = present.get(e["sha1"])
            rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
            if have is None:
                problems.append(_problem(store, rel, "missing", fname=e["fname"]))
            elif have[0] != e["stored_size"]:
                problems.append(_problem(store, rel, "size", fname=e["fname"], expected=e["stored_size"],
                                         actual=have[0]))
            note(0)
        return problems, stats

    encrypted = manifest.encryption is not None

    def one(e):
        rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
        try:
            data = store.get_bytes(rel, max_size=max(e["stored_size"], 0) + 1)
        except StoreError as exc:
            code = exc.details.get("code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return [_problem(store, rel, "missing", fname=e["fname"])]
            if "more than" in exc.msg:
                return [_problem(store, rel, "size", fname=e["fname"], expected=e["stored_size"], actual="larger")]
            return [_problem(store, rel, "unreadable", fname=e["fname"], message=exc.msg)]
        note(len(data))
        if len(data) != e["stored_size"]:
            return [_problem(store, rel, "size", fname=e["fname"], expected=e["stored_size"], actual=len(data))]
        digest = hashlib.sha256(data).hexdigest()
        if digest != e["sha256"]:
            return [_problem(store, rel, "sha256", fname=e["fname"], expected=e["sha256"], actual=digest)]
        plain = data
        if encrypted:
            if key is None:
                return []
            try:
                plain = crypto.decrypt_bytes(key, data, what=store.full(rel))
            except EncryptionError as exc:
                return [_problem(store, rel, "decrypt", fname=e["fname"], message=exc.msg)]
        sha1 = hashlib.sha1(plain).hexdigest()  # noqa: S324 - Odoo's content address
        if sha1 != e["sha1"]:
            return [_problem(store, rel, "sha1", fname=e["fname"], expected=e["sha1"], actual=sha1)]
        return []

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for found in pool.map(one, entries):
            problems.extend(found)
    return problems, stats


def restore_check(store, manifest, pg, key=None, jobs=2, threads=8, pg_bin_dir=None, scratch_db=None,
                  workdir=None, progress=None):
    """Restore into a scratch database and a temp directory, compare, drop both. Returns a report."""
    scratch = scratch_db or f"verify_{manifest.db_name[:30]}_{secrets.token_hex(4)}"
    fmt.check_name(scratch, "scratch database")
    if restore_core.database_exists(pg, scratch):
        raise RestoreError(f"scratch database {scratch} already exists; a test restore never touches an existing "
                           "database", database=scratch)
    tmp = tempfile.mkdtemp(prefix="governed-odoo-verify-", dir=workdir)
    t0 = time.monotonic()
    report = {"database": scratch, "ok": False}
    try:
        res = restore_core.restore_backup(store, manifest, pg, scratch, f"{tmp}/filestore", tmp, key=key, jobs=jobs,
                                          threads=threads, pg_bin_dir=pg_bin_dir, progress=progress)
        diffs = restore_core.compare_row_counts(pg, scratch, manifest.tables)
        files_expected = manifest.data["filestore"]["count"]
        report.update({
            "restore": res,
            "tables": len(manifest.tables),
            "rows": sum(v for v in manifest.tables.values() if isinstance(v, int)),
            "row_count_differences": diffs,
            "files": res["filestore"]["files"],
            "files_expected": files_expected,
            "ok": not diffs and res["filestore"]["files"] == files_expected,
        })
    except BackupError as exc:
        report.update({"error": exc.msg, "error_details": exc.as_result()})
    finally:
        try:
            restore_core.drop_database(pg, scratch)
            report["dropped"] = True
        except BackupError as exc:
            report["dropped"] = False
            report["drop_error"] = exc.msg
        shutil.rmtree(tmp, ignore_errors=True)
        report["seconds"] = round(time.monotonic() - t0, 3)
    return report
