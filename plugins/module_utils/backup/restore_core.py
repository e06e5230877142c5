# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal restore primitives for the backup format: fetch, check, pg_restore, compare.

This is the smallest restore that proves a backup: ``backup_verify``'s test restore and the
round-trip tests use it. The ``restore`` package (plugins/module_utils/restore/: target
selection, neutralization, the switch of an environment to the restored database) builds on
these functions rather than reading objects itself.

Every byte is checked on the way, before anything depends on it:

* ``fetch_dump``: the stored object's size and SHA-256 (manifest ``objects``), then, after
  decryption and decompression, the archive's ``raw_size`` (and ``raw_sha256`` when the manifest
  has one; zstd checks its own content checksum while decompressing). The archive is
  written to a local file because ``pg_restore -j`` needs a seekable file; a partial file is
  removed on failure.
* ``fetch_filestore``: per file the size, then the SHA-1 of the plain content, which is its name
  (``strict=True`` adds the stored SHA-256 of the index, as backup_verify checks it). Files are
  written to ``<name>.tmp`` and renamed, so a crash never leaves a
  truncated file under its final name.
* ``restore_database``: ``CREATE DATABASE`` (never over an existing one) and the load of
  ``dbload.DatabaseLoad`` (``pg_restore --exit-on-error -j N``, plus the table archives of a
  version 2 backup); the database is dropped again if the load fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.dbload import Background, DatabaseLoad
from ansible_collections.governed.odoo.plugins.module_utils.backup.dump import decompressor
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    EncryptionError,
    IntegrityError,
    RestoreError,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.pgsource import (
    check_tool_for_server,
    client_env,
    connect,
    find_tool,
    sql,
    table_name,
)


def _need_key(manifest, key):
    enc = manifest.encryption
    if enc is None:
        return None
    if key is None:
        raise EncryptionError(f"backup {manifest.backup_id} is encrypted with key {enc['key_id']}; give its key "
                              "(encryption_key or GOVERNED_ODOO_BACKUP_KEY)", key_id=enc["key_id"])
    if crypto.key_id(key) != enc["key_id"]:
        raise EncryptionError(f"the key given (id {crypto.key_id(key)}) is not the key of backup "
                              f"{manifest.backup_id} (id {enc['key_id']})", key_id=enc["key_id"])
    return key


def fetch_dump(store, manifest, dest_path, key=None, progress=None):
    """Download, check, decrypt and decompress the database archive of ``manifest`` to ``dest_path``."""
    key = _need_key(manifest, key)
    objs = manifest.dump_objects
    if manifest.data["database"]["format"] != "custom" or len(objs) != 1:
        raise RestoreError(f"database format {manifest.data['database']['format']} is not supported by this reader")
    obj = objs[0]
    stored_sha = hashlib.sha256()
    raw_sha = hashlib.sha256() if obj.get("raw_sha256") else None
    stored_n = raw_n = 0
    dec = crypto.Decryptor(key, what=store.full(obj["key"])) if key is not None else None
    dcmp = decompressor(manifest.data["database"]["compression"])
    tmp = dest_path + ".part"

    def emit(out, data):
        nonlocal raw_n
        if dcmp is not None and data:
            try:
                data = dcmp.decompress(data)
            except Exception as exc:  # zstandard.ZstdError: corrupt frame or content checksum mismatch
                raise IntegrityError(f"the archive in {store.where(obj['key'])} does not decompress: {exc}",
                                     key=store.full(obj["key"])) from exc
        if data:
            if raw_sha is not None:
                raw_sha.update(data)
            raw_n += len(data)
            out.write(data)

    try:
        with open(tmp, "wb") as out:
            for chunk in store.iter_object(obj["key"], version_id=obj.get("version_id")):
                stored_sha.update(chunk)
                stored_n += len(chunk)
                emit(out, dec.update(chunk) if dec is not None else chunk)
                if progress is not None:
                    progress.advance(len(chunk), "db")
            if dec is not None:
                emit(out, dec.finalize())
        if stored_n != obj["size"] or stored_sha.hexdigest() != obj["sha256"]:
            raise IntegrityError(f"{store.where(obj['key'])} does not match the manifest: {stored_n} bytes sha256 "
                                 f"{stored_sha.hexdigest()}, expected {obj['size']} bytes sha256 {obj['sha256']}",
                                 key=store.full(obj["key"]), expected=obj["sha256"], actual=stored_sha.hexdigest())
        if raw_n != obj.get("raw_size", raw_n) or (raw_sha is not None and raw_sha.hexdigest() != obj["raw_sha256"]):
            raise IntegrityError(f"the archive in {store.where(obj['key'])} does not match the manifest after "
                                 "decompression", key=store.full(obj["key"]), expected=obj.get("raw_sha256"),
                                 actual=raw_sha.hexdigest() if raw_sha is not None else None)
        os.replace(tmp, dest_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return {"path": dest_path, "stored_size": stored_n, "raw_size": raw_n}


def fetch_file(store, keyspace, entry, dest_root, key=None, strict=False):
    """Fetch one filestore object to ``dest_root/<fname>``, checking its size and content address.

    The content's SHA-1 must equal the object's name (and, encrypted, every chunk must authenticate):
    for a content-addressed object that is the integrity check. ``strict`` also compares the
    SHA-256 the index records (what backup_verify does); it costs a second hash of every byte.
    """
    rel = fmt.filestore_key(entry["sha1"], keyspace=keyspace)
    data = store.get_bytes(rel, max_size=entry["stored_size"] + 1, version_id=entry.get("version_id"))
    if len(data) != entry["stored_size"]:
        raise IntegrityError(f"filestore object {store.where(rel)} is {len(data)} bytes, the index says "
                             f"{entry['stored_size']}", key=store.full(rel), expected=entry["stored_size"],
                             actual=len(data))
    if strict:
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise IntegrityError(f"filestore object {store.where(rel)} does not match the index (sha256 {digest}, "
                                 f"expected {entry['sha256']})", key=store.full(rel), expected=entry["sha256"],
                                 actual=digest)
    plain = crypto.decrypt_bytes(key, data, what=store.full(rel)) if key is not None else data
    sha1 = hashlib.sha1(plain).hexdigest()  # noqa: S324 - Odoo's content address
    if sha1 != entry["sha1"]:
        raise IntegrityError(f"filestore object {store.where(rel)} content does not match its SHA-1 name",
                             key=store.full(rel), expected=entry["sha1"], actual=sha1)
    fname = entry["fname"]
    if fname.startswith("/") or ".." in fname.split("/"):
        raise IntegrityError(f"refusing filestore name outside the filestore: {fname!r}")
    path = os.path.join(dest_root, fname)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(plain)
    os.replace(tmp, path)
    return len(plain)


def fetch_filestore(store, manifest, dest_root, key=None, threads=8, progress=None, entries=None, strict=False):
    """Restore the filestore of ``manifest`` into ``dest_root`` (Odoo's filestore/<db> directory)."""
    key = _need_key(manifest, key)
    if entries is None:
        _ks, entries = store.read_index(manifest)
    keyspace = manifest.filestore_keyspace
    os.makedirs(dest_root, exist_ok=True)
    total = {"files": 0, "bytes": 0}
    lock = threading.Lock()

    def one(entry):
        n = fetch_file(store, keyspace, entry, dest_root, key, strict=strict)
        with lock:
            total["files"] += 1
            total["bytes"] += n
        if progress is not None:
            progress.advance(n, "files", 1)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for _done in pool.map(one, entries):
            pass
    return total


def _ident(name):
    return sql.Identifier(name)


def database_exists(pg, dbname):
    with connect(pg, pg.get("maintenance_db") or "postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is not None


def drop_database(pg, dbname):
    with connect(pg, pg.get("maintenance_db") or "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(dbname)))


def create_database(pg, dbname, manifest=None):
    """CREATE DATABASE from template0 with the source's encoding; refuses an existing database."""
    fmt.check_name(dbname, "target database")
    if database_exists(pg, dbname):
        raise RestoreError(f"database {dbname} already exists; a restore never writes over a database",
                           database=dbname)
    encoding = ((manifest.data.get("postgresql") or {}).get("encoding") if manifest else None) or "UTF8"
    with connect(pg, pg.get("maintenance_db") or "postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(
            _ident(dbname), sql.Literal(encoding)))


def _pg_restore_base(pg, dbname, pg_bin_dir, no_owner):
    """pg_restore and its options up to --dbname (no jobs, section or archive)."""
    tool = find_tool("pg_restore", pg_bin_dir)
    with connect(pg, dbname) as conn:
        vnum = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
    check_tool_for_server(tool, vnum)
    argv = [tool, "--exit-on-error", "--no-password", f"--dbname={dbname}"]
    if no_owner:
        argv += ["--no-owner", "--no-acl"]
    return argv


def start_load(store, manifest, pg, dbname, dump_path, key=None, jobs=2, pg_bin_dir=None, no_owner=True,
               progress=None):
    """Start loading the backup (db.dump and any table archives) into the empty ``dbname``, in a thread."""
    base = _pg_restore_base(pg, dbname, pg_bin_dir, no_owner)
    env = client_env(pg, dbname, application_name="governed.odoo.restore")
    key = _need_key(manifest, key) if manifest.table_objects else None  # db.dump is fetched decrypted already
    load = DatabaseLoad(store, manifest, dump_path, base, env, key=key, jobs=jobs, progress=progress)
    return Background(load).start()


def row_counts(pg, dbname):
    from ansible_collections.governed.odoo.plugins.module_utils.backup.pgsource import LIST_TABLES

    out = {}
    with connect(pg, dbname) as conn:
        for schema, table in conn.execute(LIST_TABLES).fetchall():
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(_ident(schema), _ident(table))
            out[table_name(schema, table)] = conn.execute(q).fetchone()[0]
    return out


def compare_row_counts(pg, dbname, expected):
    """[{table, expected, actual}] for every table whose row count differs from the manifest."""
    actual = row_counts(pg, dbname)
    diffs = []
    for table in sorted(set(expected) | set(actual)):
        if expected.get(table) != actual.get(table):
            diffs.append({"table": table, "expected": expected.get(table), "actual": actual.get(table)})
    return diffs


def restore_database(pg, dbname, manifest, dump_path, jobs=2, pg_bin_dir=None, store=None, key=None):
    """Create ``dbname`` and load the backup into it; drop it again if the load fails.

    A backup with table archives (format version 2) needs ``store`` (and ``key`` if encrypted).
    """
    if manifest.table_objects and store is None:
        raise RestoreError(f"backup {manifest.backup_id} stores large tables as separate archives; "
                           "restoring it needs the store")
    create_database(pg, dbname, manifest)
    try:
        res = start_load(store, manifest, pg, dbname, dump_path, key=key, jobs=jobs, pg_bin_dir=pg_bin_dir).wait()
        return {"database": dbname, "jobs": jobs, **res}
    except BaseException:
        with contextlib.suppress(Exception):  # the original error matters more
            drop_database(pg, dbname)
        raise


def restore_backup(store, manifest, pg, dbname, filestore_dest, workdir, key=None, jobs=2, threads=8,
                   pg_bin_dir=None, progress=None, yield_cpu=True):
    """Whole restore into a NEW database: the archive first, then pg_restore and the filestore concurrently.

    The archive is fetched alone (pg_restore waits for it); then pg_restore -j ``jobs`` runs while
    this process fetches the filestore. pg_restore is the critical path: with ``yield_cpu`` this
    process lowers its own CPU priority (nice +5) once pg_restore is started, so on a busy machine
    the filestore fetch uses the CPU pg_restore leaves free instead of slowing it down. Returns
    timings and sizes. On failure the new database is dropped; the filestore directory is left for
    the caller to remove (it may be one the caller created).
    """
    import time

    t0 = time.monotonic()
    dump_path = os.path.join(workdir, f"{manifest.backup_id}.dump")
    result = {}
    try:
        t = time.monotonic()
        result["dump"] = fetch_dump(store, manifest, dump_path, key=key, progress=progress)
        result["dump"]["seconds"] = round(time.monotonic() - t, 3)
        create_database(pg, dbname, manifest)
        try:
            t = time.monotonic()
            proc = start_load(store, manifest, pg, dbname, dump_path, key=key, jobs=jobs, pg_bin_dir=pg_bin_dir,
                              progress=progress)
            try:
                if yield_cpu:
                    with contextlib.suppress(OSError):
                        os.nice(5)
                t1 = time.monotonic()
                result["filestore"] = fetch_filestore(store, manifest, filestore_dest, key=key, threads=threads,
                                                      progress=progress)
                result["filestore"]["seconds"] = round(time.monotonic() - t1, 3)
            except BaseException:
                proc.kill()
                raise
            result["load"] = proc.wait()
            result["pg_restore_seconds"] = round(time.monotonic() - t, 3)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more
                drop_database(pg, dbname)
            raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(dump_path)
    result["seconds"] = round(time.monotonic() - t0, 3)
    return result
