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

Pinned versions (format version 3): every object is read by the version id the manifest records,
and one listing of object versions per directory (1 request per 1,000 versions, at both levels)
shows what was done over them: a newer version written over a pinned key is a ``tampered`` problem
(someone holding PutObject; the pinned bytes are still there and are what a restore reads), a
delete marker hiding a pinned key or the manifest is a warning (the backup stays usable).

Completeness: a backup whose manifest records attachment files the source did not have
(``filestore.missing``) fails verification (``incomplete``) unless the instance's policy accepted
them when the backup was taken (``filestore.missing_accepted``, then a warning).

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


def _stream_digest(store, rel, version_id=None):
    h = hashlib.sha256()
    n = 0
    for chunk in store.iter_object(rel, version_id=version_id):
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def _problem(store, rel, problem, **kw):
    return {"key": store.full(rel), "problem": problem, **kw}


def _what(obj):
    """Extra fields naming what a database object holds (the table of a table-data object)."""
    return {"table": obj["table"]} if obj.get("role") == fmt.ROLE_TABLE else {}


def listed_versions(store, prefix, objects):
    """rel key -> KeyVersions of the objects among ``objects``: one listing of the versions under ``prefix``,
    plus one of each other directory an object lives in (table-data objects are outside the backup directory)."""
    dirs = {prefix}
    for obj in objects:
        if not obj["key"].startswith(prefix):
            dirs.add(obj["key"].rsplit("/", 1)[0] + "/")
    wanted = {obj["key"] for obj in objects}
    out = {}
    for d in sorted(dirs):
        for k, kv in store.key_versions(d).items():
            if k in wanted:
                out[k] = kv
    return out


def tampering(store, rel, kv, version_id, what=None):
    """(problems, warnings) for what was written over the pinned ``version_id`` of ``rel`` (pure but for names)."""
    found = kv.tampering(version_id) if kv is not None else None
    if not found:
        return [], []
    problems, warnings = [], []
    if found["newer_versions"]:
        problems.append(_problem(store, rel, "tampered", version_id=version_id,
                                 newer_versions=found["newer_versions"],
                                 message=f"{len(found['newer_versions'])} newer version(s) written over the pinned "
                                         "version (the backup reads the pinned one)", **(what or {})))
    if found["delete_marker"]:
        warnings.append(f"{store.full(rel)} is hidden by a delete marker; its pinned version {version_id} is intact "
                        "and is what a restore reads")
    return problems, warnings


def manifest_findings(store, manifest):
    """(problems, warnings) about the manifest object itself: versions written over it, a delete marker."""
    problems, warnings = [], []
    if manifest.newer_versions:
        problems.append(_problem(store, manifest.manifest_key, "tampered", version_id=manifest.version_id,
                                 newer_versions=list(manifest.newer_versions),
                                 message=f"{len(manifest.newer_versions)} newer version(s) of the manifest written "
                                         "over the sealed one (ignored: the sealed version is read)"))
    if manifest.hidden:
        warnings.append(f"the manifest {store.full(manifest.manifest_key)} of backup {manifest.backup_id} is hidden by "
                        f"a delete marker; its sealed version {manifest.version_id} was found and used")
    return problems, warnings


def completeness(store, manifest):
    """(problems, warnings): attachment files the database references that the backup does not hold."""
    fs = manifest.data["filestore"]
    missing = fs.get("missing") or []
    if not missing:
        return [], []
    policy = fs.get("missing_accepted")
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    if policy is None:
        return [_problem(store, manifest.index_object["key"], "incomplete", missing=missing[:200],
                         message=f"the database references {len(missing)} attachment file(s) the backup does not "
                                 f"hold, accepted by no policy: {shown}")], []
    return [], [f"backup {manifest.backup_id} lacks {len(missing)} attachment file(s) the database references, "
                f"accepted by the instance's policy: {shown}"]


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
    warnings = stats["warnings"] = []
    found, warned = manifest_findings(store, manifest)
    problems.extend(found)
    warnings.extend(warned)
    found, warned = completeness(store, manifest)
    problems.extend(found)
    warnings.extend(warned)
    listed = listed_versions(store, manifest.prefix, manifest.objects)
    for obj in manifest.objects:
        found, warned = tampering(store, obj["key"], listed.get(obj["key"]), obj.get("version_id"), _what(obj))
        problems.extend(found)
        warnings.extend(warned)

    def one_object(obj):
        rel = obj["key"]
        if level == "presence":
            note(0)
            kv = listed.get(rel)
            state, actual = kv.check(obj.get("version_id"), obj["size"]) if kv is not None else ("missing", None)
            if state == "missing":
                return [_problem(store, rel, "missing", **_what(obj))]
            if state == "size":
                return [_problem(store, rel, "size", expected=obj["size"], actual=actual, **_what(obj))]
            return []
        try:
            n, digest = _stream_digest(store, rel, obj.get("version_id"))
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
    versions = store.key_versions(keyspace)  # one listing (1 request per 1,000 versions), at both levels
    if level == "presence":
        for e in entries:
            rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
            kv = versions.get(rel)
            found, warned = tampering(store, rel, kv, e.get("version_id"), {"fname": e["fname"]})
            problems.extend(found)
            warnings.extend(warned)
            state, actual = kv.check(e.get("version_id"), e["stored_size"]) if kv is not None else ("missing", None)
            if state == "missing":
                problems.append(_problem(store, rel, "missing", fname=e["fname"]))
            elif state == "size":
                problems.append(_problem(store, rel, "size", fname=e["fname"], expected=e["stored_size"],
                                         actual=actual))
            note(0)
        return problems, stats
    entries = list(entries)
    for e in entries:
        rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
        found, warned = tampering(store, rel, versions.get(rel), e.get("version_id"), {"fname": e["fname"]})
        problems.extend(found)
        warnings.extend(warned)
    del versions

    encrypted = manifest.encryption is not None

    def one(e):
        rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
        try:
            data = store.get_bytes(rel, max_size=max(e["stored_size"], 0) + 1, version_id=e.get("version_id"))
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
