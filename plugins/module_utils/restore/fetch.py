# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring a backup's objects out of the store, each one checked against its manifest on the way.

Nothing here writes to a target: the database dump goes to a private work directory, filestore
files to a staging directory (the filestore directory of the *new* database). Each object is
checked as it streams: the stored bytes against the manifest's size and SHA-256, then -- after
decryption and decompression -- the plain bytes against ``raw_size``/``raw_sha256`` (dump). A
filestore file is checked against its size and the SHA-1 of its content, which is its name and the
index's record (the index itself is covered by the manifest's SHA-256; an encrypted object is
also authenticated chunk by chunk). The SHA-256 of each stored file is compared only with
``strict`` (check mode, which reads every object without restoring): without SHA instructions
SHA-256 runs at 80-200 MB/s on the lab, and a second hash of every byte adds no check the SHA-1
lacks. A file is renamed to its final name only after all of its checks passed, so a staging
directory never holds an unchecked file under a real name.

:func:`preflight` checks, before anything is downloaded, that every object exists with the size the
manifest records (one listing of object versions, a request per 1000 versions). A pinned object
(format version 3) is checked, and later read, by its version id: a newer version written over it or
a delete marker hiding it is a warning (tampering), not a failure, since the pinned bytes are there.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import IntegrityError, RestoreError

try:
    import zstandard

    HAS_ZSTD = True
except ImportError:  # pragma: no cover - reported when a zstd backup is restored
    zstandard = None
    HAS_ZSTD = False

CHUNK = 1024 * 1024
SMALL_OBJECT = 16 * 1024 * 1024  # fetched with one GET, in memory
ZSTD_ERRORS = (zstandard.ZstdError,) if HAS_ZSTD else ()
MAX_LISTED_PROBLEMS = 50


def _decoders(manifest, key, what):
    """The decryption and decompression steps for one database object, in read order."""
    steps = []
    if manifest.encryption:
        from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto

        if key is None:
            raise RestoreError(f"backup {manifest.backup_id} is encrypted (key id {manifest.key_id}): the encryption "
                               "key is required")
        if crypto.key_id(key) != manifest.key_id:
            raise RestoreError(f"the encryption key given is not the backup's (key id {crypto.key_id(key)}, backup "
                               f"needs {manifest.key_id})")
        steps.append(crypto.Decryptor(key, what=what))
    return steps


class _Zstd:
    def __init__(self):
        if not HAS_ZSTD:
            raise RestoreError("this backup is zstd-compressed: the Python package zstandard is required")
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def update(self, data):
        return self._d.decompress(data)

    def finalize(self):
        return self._d.flush() if hasattr(self._d, "flush") else b""


def _pipeline(steps, data, final=False):
    for step in steps:
        data = step.update(data) if data else b""
        if final:
            data += step.finalize()
    return data


def _integrity(msg, **details):
    return IntegrityError(msg, **details)


def _tampering(store, rel, kv, version_id):
    found = kv.tampering(version_id) if kv is not None else None
    if not found:
        return None
    what = []
    if found["newer_versions"]:
        what.append(f"{len(found['newer_versions'])} newer version(s) written over it")
    if found["delete_marker"]:
        what.append("hidden by a delete marker")
    return f"{store.full(rel)}: {' and '.join(what)}; its pinned version {version_id} is read"


def preflight(store, manifest, index_entries, keyspace):
    """Every database object (dump and table-data), the index and every filestore object exists with its
    recorded stored size (no download); for pinned objects, that version.

    Table-data objects (format version 2) live outside the backup directory, under
    ``dbdata/<keyspace>/<backup that wrote them>/``: each such directory is listed once. Returns
    ``{"objects_listed", "tampered"}``: ``tampered`` names the keys written over or hidden since the
    backup (a restore of the pinned versions is unaffected; the caller reports them).
    """
    problems = []
    tampered = []
    objects = [*manifest.database_objects, manifest.index_object]
    dirs = {manifest.prefix} | {obj["key"].rsplit("/", 1)[0] + "/" for obj in objects
                                if not obj["key"].startswith(manifest.prefix)}
    present = {}
    for prefix in sorted(dirs):
        present.update(store.key_versions(prefix))
    for obj in objects:
        what = f"{obj['key']} (data of table {obj['table']})" if obj["role"] == fmt.ROLE_TABLE else obj["key"]
        kv = present.get(obj["key"])
        state, actual = kv.check(obj.get("version_id"), obj["size"]) if kv is not None else ("missing", None)
        if state == "missing":
            problems.append(f"missing: {what}")
        elif state == "size":
            problems.append(f"size {actual} instead of {obj['size']}: {what}")
        note = _tampering(store, obj["key"], kv, obj.get("version_id"))
        if note:
            tampered.append(note)
    listed = store.key_versions(keyspace)
    for e in index_entries:
        rel = fmt.filestore_key(e["sha1"], keyspace=keyspace)
        kv = listed.get(rel)
        state, actual = kv.check(e.get("version_id"), e["stored_size"]) if kv is not None else ("missing", None)
        if state == "missing":
            problems.append(f"missing filestore object {e['sha1']} ({e['fname']})")
        elif state == "size":
            problems.append(f"filestore object {e['sha1']} is {actual} bytes instead of {e['stored_size']}")
        note = _tampering(store, rel, kv, e.get("version_id"))
        if note:
            tampered.append(note)
        if len(problems) > MAX_LISTED_PROBLEMS:
            break
    if problems:
        raise _integrity(f"backup {manifest.backup_id} is incomplete or damaged, nothing was restored: "
                         + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                         problems=problems[:MAX_LISTED_PROBLEMS], backup_id=manifest.backup_id)
    return {"objects_listed": len(objects) + len(index_entries), "tampered": tampered[:MAX_LISTED_PROBLEMS],
            "tampered_count": len(tampered)}


def fetch_dump_object(store, manifest, obj, dest, key=None, progress=None, sink=None):
    """Stream one database object to ``dest`` (or into ``sink(bytes)``), plain, checked.

    Returns ``{"key", "size", "raw_size"}``. Raises IntegrityError on any mismatch; ``dest`` is then
    removed.
    """
    steps = _decoders(manifest, key, obj["key"])
    if manifest.data["database"].get("compression") == "zstd":
        steps.append(_Zstd())
    stored = hashlib.sha256()
    raw = hashlib.sha256()
    n_stored = n_raw = 0
    tmp = f"{dest}.part" if dest else None
    fh = open(tmp, "wb") if tmp else None  # noqa: SIM115 - closed below on every path
    decode_error = None
    try:
        for chunk in store.iter_object(obj["key"], CHUNK, version_id=obj.get("version_id")):
            stored.update(chunk)
            n_stored += len(chunk)
            if n_stored > obj["size"]:
                raise _integrity(f"{obj['key']} is longer than the {obj['size']} bytes its manifest records",
                                 key=obj["key"])
            if decode_error is not None:
                continue  # keep hashing: a checksum mismatch is the clearer report
            try:
                plain = _pipeline(steps, chunk)
            except (BackupError, *ZSTD_ERRORS) as exc:
                decode_error = exc
                continue
            if plain:
                raw.update(plain)
                n_raw += len(plain)
                if fh:
                    fh.write(plain)
                elif sink is not None:
                    sink(plain)
            if progress:
                progress.advance(len(chunk), "db", 0)
        if n_stored != obj["size"] or stored.hexdigest() != obj["sha256"]:
            raise _integrity(f"{obj['key']} does not match its manifest: size {n_stored}/{obj['size']}, sha256 "
                             f"{stored.hexdigest()}/{obj['sha256']}", key=obj["key"], expected=obj["sha256"],
                             actual=stored.hexdigest())
        if decode_error is not None:
            raise decode_error
        plain = _pipeline(steps, b"", final=True)
        if plain:
            raw.update(plain)
            n_raw += len(plain)
            if fh:
                fh.write(plain)
            elif sink is not None:
                sink(plain)
        if obj.get("raw_sha256") and (raw.hexdigest() != obj["raw_sha256"] or n_raw != obj.get("raw_size", n_raw)):
            raise _integrity(f"{obj['key']}: the archive bytes after decoding do not match the manifest "
                             f"(sha256 {raw.hexdigest()}/{obj['raw_sha256']})", key=obj["key"])
        if fh:
            fh.close()
            fh = None
            os.replace(tmp, dest)
    except IntegrityError:
        raise
    except BackupError as exc:
        if exc.kind in ("encryption", "integrity"):
            raise _integrity(f"{obj['key']}: {exc.msg}", key=obj["key"]) from exc
        raise
    except ZSTD_ERRORS as exc:
        raise _integrity(f"{obj['key']} does not decompress: {exc}", key=obj["key"]) from exc
    finally:
        if fh:
            fh.close()
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return {"key": obj["key"], "size": n_stored, "raw_size": n_raw}


def fetch_dump(store, manifest, work_dir, key=None, progress=None):
    """All database objects into ``work_dir``: ``db.dump`` (custom) or ``db.dir/`` (directory)."""
    fmt_name = manifest.data["database"]["format"]
    results = []
    if fmt_name == "custom":
        objs = manifest.dump_objects
        if len(objs) != 1:
            raise _integrity(f"a custom-format backup has one dump object, this manifest lists {len(objs)}")
        path = os.path.join(work_dir, "db.dump")
        results.append(fetch_dump_object(store, manifest, objs[0], path, key, progress))
        return path, results
    path = os.path.join(work_dir, "db.dir")
    os.makedirs(path, exist_ok=True)
    for obj in manifest.dump_objects:
        name = obj.get("name")
        if not name or "/" in name or name in (".", ".."):
            raise _integrity(f"directory-format object without a safe file name: {obj['key']}")
        results.append(fetch_dump_object(store, manifest, obj, os.path.join(path, name), key, progress))
    return path, results


def safe_fname(fname):
    """Odoo's store_fname, refused if it could escape the filestore directory (pure)."""
    if not isinstance(fname, str) or not fname or fname.startswith("/") or "\\" in fname or "\0" in fname:
        return None
    parts = fname.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return fname


class _Null:
    def write(self, data):
        return len(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fetch_file(store, entry, keyspace, dest_dir, key=None, progress=None, strict=False):
    """One filestore object to ``dest_dir/<fname>``, checked (size, plain SHA-1; ``strict``: stored SHA-256).

    ``dest_dir=None`` checks the object without writing it anywhere (check mode).
    """
    fname = safe_fname(entry["fname"])
    if fname is None:
        raise _integrity(f"unsafe filestore name in the index: {entry['fname']!r}")
    obj_key = fmt.filestore_key(entry["sha1"], keyspace=keyspace)
    if dest_dir is None:
        dest = tmp = None
    else:
        dest = os.path.join(dest_dir, fname)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.{threading.get_ident()}.part"
    steps = []
    if key is not None:
        from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto

        steps.append(crypto.Decryptor(key, what=obj_key))
    stored = hashlib.sha256() if strict else None
    sha1 = hashlib.sha1()  # noqa: S324 - Odoo names files by SHA-1; checked, not trusted for security
    n_stored = n_plain = 0
    try:
        # most attachments are small: one GET through the store's fast path, not a botocore stream
        # (botocore's per-request CPU made the module's restore twice as slow on 20,000 files)
        if entry["stored_size"] <= SMALL_OBJECT:
            chunks = (store.get_bytes(obj_key, version_id=entry.get("version_id")),)
        else:
            chunks = store.iter_object(obj_key, CHUNK, version_id=entry.get("version_id"))
        with (open(tmp, "wb") if tmp else _Null()) as fh:
            for chunk in chunks:
                if stored is not None:
                    stored.update(chunk)
                n_stored += len(chunk)
                if n_stored > entry["stored_size"]:
                    raise _integrity(f"filestore object {obj_key} is longer than recorded", key=obj_key)
                plain = _pipeline(steps, chunk)
                if plain:
                    sha1.update(plain)
                    n_plain += len(plain)
                    fh.write(plain)
            digest = stored.hexdigest() if stored is not None else None
            if n_stored != entry["stored_size"] or (digest is not None and digest != entry["sha256"]):
                raise _integrity(f"filestore object {obj_key} ({fname}) does not match the index: size "
                                 f"{n_stored}/{entry['stored_size']}, sha256 {digest or 'not checked'}/"
                                 f"{entry['sha256']}", key=obj_key, fname=fname)
            plain = _pipeline(steps, b"", final=True)
            if plain:
                sha1.update(plain)
                n_plain += len(plain)
                fh.write(plain)
        if sha1.hexdigest() != entry["sha1"] or n_plain != entry["size"]:
            raise _integrity(f"{fname}: content SHA-1 {sha1.hexdigest()} / {n_plain} bytes, the index records "
                             f"{entry['sha1']} / {entry['size']} bytes", key=obj_key, fname=fname)
        if tmp:
            os.replace(tmp, dest)
    except BackupError as exc:
        if exc.kind in ("encryption", "integrity"):
            raise _integrity(f"filestore object {obj_key}: {exc.msg}", key=obj_key) from exc
        raise
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    if progress:
        progress.advance(n_stored, "files", 1)
    return n_plain


def fetch_filestore(store, entries, keyspace, dest_dir, key=None, progress=None, workers=8, skip=None,
                    on_file=None, strict=False):
    """Every index entry into ``dest_dir`` with ``workers`` parallel downloads.

    ``skip(entry)`` returning True leaves an entry out (already present and checked).
    ``on_file(entry, path)`` is called with each checked file (to upload it elsewhere, for example).
    Stops at the first integrity problem. Returns ``{"files", "bytes", "skipped"}``.
    """
    if dest_dir is not None:
        os.makedirs(dest_dir, exist_ok=True)
    todo, skipped = [], 0
    for e in entries:
        if skip is not None and skip(e):
            skipped += 1
            if progress:
                progress.advance(e["stored_size"], "files", 1)
        else:
            todo.append(e)
    total = 0
    stop = threading.Event()

    def one(entry):
        if stop.is_set():
            return 0
        n = fetch_file(store, entry, keyspace, dest_dir, key, progress, strict=strict)
        if on_file is not None and dest_dir is not None:
            on_file(entry, os.path.join(dest_dir, entry["fname"]))
        return n

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
        futures = [pool.submit(one, e) for e in todo]
        try:
            for fut in as_completed(futures):
                total += fut.result()
        except BaseException:
            stop.set()
            for fut in futures:
                fut.cancel()
            raise
    return {"files": len(todo), "bytes": total, "skipped": skipped}
