# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content-addressed backup of an Odoo filestore.

Odoo names each attachment file by the SHA-1 of its content (``store_fname`` = ``ab/abcdef...``)
and never changes a file once written. The store keeps one object per content
(``filestore/sha1/ab/abcdef...``), shared by every backup. A backup therefore:

1. lists the keyspace once (``list_filestore``: one request per 1000 objects, no HEAD per file);
2. plans: a referenced file whose object exists with the expected stored size is *reused*; any
   other file is *uploaded* (its content is hashed on the way: a file whose content does not match
   its name is stored under its real SHA-1 and reported);
3. for reused objects, takes the SHA-256 and retain-until date from the previous backup's index
   (or, for objects another environment uploaded, from one HEAD each), and extends the object lock
   of those whose retention would end before this backup's;
4. returns the index entries of every file of the backup.

Retention extension is amortized: a new or extended object is locked until
``now + days + slack + jitter`` (jitter from its SHA-1, spread over ``slack`` days), and only objects
whose retention ends before ``now + days`` are extended. With daily backups and the default slack
of 7 days, an unchanged file costs one PutObjectRetention per week or so, and not all on one day.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.dump import Cancelled
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import SourceError
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import LockSpec

SMALL_FILE = 16 * 1024 * 1024


@dataclass
class LockPolicy:
    """Object lock for filestore objects: ``days`` minimum from now, extended with slack and jitter."""

    mode: str
    days: int
    slack_days: int = 7
    now: _dt.datetime = field(default_factory=fmt.utcnow)

    @property
    def needed_until(self):
        return self.now + _dt.timedelta(days=self.days)

    def until_for(self, sha1):
        jitter = (int(sha1[:8], 16) % 1000) / 1000.0 if sha1 else 0.0
        extra = self.slack_days * (1.0 + jitter)
        until = self.now + _dt.timedelta(days=self.days + extra)
        return until.replace(microsecond=0)

    def spec_for(self, sha1):
        return LockSpec(self.mode, self.until_for(sha1))


@dataclass
class FilestorePlan:
    """What to do per file. Compact tuples: a plan for a million files must stay small."""

    keyspace: str
    root: str = "."
    upload: list = field(default_factory=list)  # (fname, size)
    reuse: list = field(default_factory=list)  # (fname, sha1, size, stored_size)
    missing: list = field(default_factory=list)  # fnames referenced but not on disk

    @property
    def upload_bytes(self):
        return sum(u[1] for u in self.upload)

    @property
    def reuse_bytes(self):
        return sum(r[2] for r in self.reuse)

    def path(self, fname):
        return os.path.join(self.root, fname)

    def as_dict(self):
        return {"upload_count": len(self.upload), "upload_bytes": self.upload_bytes, "reuse_count": len(self.reuse),
                "reuse_bytes": self.reuse_bytes, "missing": sorted(self.missing)}


def scan_directory(root):
    """Every file under ``root`` as Odoo fnames (for scope 'all': not only referenced files)."""
    out = []
    root = os.path.abspath(root)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return out


def plan(fnames, root, existing, encrypted_chunk=None, keyspace=None):
    """Decide per referenced file: reuse the stored object or upload it.

    ``existing`` is ``store.list_filestore(keyspace)`` (sha1 -> stored size, or (size, mtime));
    ``encrypted_chunk`` the encryption chunk size when encrypting (stored sizes differ then).
    """
    root = os.path.abspath(root)
    p = FilestorePlan(keyspace=keyspace, root=root)
    for fname in sorted(set(fnames)):
        if fname.startswith("/") or ".." in fname.split("/"):
            p.missing.append(fname)  # never read outside the filestore
            continue
        path = os.path.join(root, fname)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            p.missing.append(fname)
            continue
        except OSError as exc:
            raise SourceError(f"cannot read filestore file {path}: {exc}", path=path) from exc
        sha1 = fmt.sha1_from_fname(fname)
        stored = crypto.stored_size(size, encrypted_chunk) if encrypted_chunk else size
        have = existing.get(sha1) if sha1 else None
        if isinstance(have, tuple):
            have = have[0]
        if have is not None and have == stored:
            p.reuse.append((fname, sha1, size, stored))
        else:
            p.upload.append((fname, size))
    return p


def _hash_file(path):
    sha1 = hashlib.sha1()  # noqa: S324 - Odoo's content address, not a security digest
    sha256 = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            sha1.update(block)
            sha256.update(block)
            size += len(block)
    return sha1.hexdigest(), sha256.hexdigest(), size


class FilestoreBackup:
    """Executes a :class:`FilestorePlan` against a store, in a thread pool.

    Results are kept as compact tuples ``fname -> (sha1, size, stored_size, sha256, retain_until)``;
    :meth:`iter_entries` yields the index entries (dicts) in fname order, one at a time.
    """

    def __init__(self, store, keyspace, key=None, lock=None, threads=8, progress=None, cancel=None,
                 prev_entries=None, root="."):
        self.store = store
        self.keyspace = keyspace
        self.key = key
        self.lock = lock  # LockPolicy or None
        self.threads = max(1, threads)
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.prev = prev_entries or {}  # sha1 -> (stored_size, sha256, retain_until) of the previous backup
        self.root = root
        self.entries = {}
        self.renamed = []  # files whose content does not match their name
        self.stats = {"uploaded": 0, "uploaded_bytes": 0, "uploaded_stored_bytes": 0, "reused": 0,
                      "reused_bytes": 0, "head": 0, "retention_extended": 0, "reuploaded": 0}
        self._lock = threading.Lock()

    @staticmethod
    def compact_index(entries):
        """sha1 -> (stored_size, sha256, retain_until) from index entries (the ``prev_entries`` form)."""
        return {e["sha1"]: (e["stored_size"], e["sha256"], e.get("retain_until")) for e in entries}

    def _record(self, fname, sha1, size, stored_size, sha256, retain):
        until = fmt.format_time(retain) if isinstance(retain, _dt.datetime) else retain
        with self._lock:
            self.entries[fname] = (sha1, size, stored_size, sha256, until)

    def iter_entries(self):
        for fname in sorted(self.entries):
            sha1, size, stored_size, sha256, until = self.entries[fname]
            yield fmt.index_entry(fname, sha1, size, stored_size, sha256, until)

    @property
    def count(self):
        return len(self.entries)

    @property
    def plain_size(self):
        return sum(e[1] for e in self.entries.values())

    @property
    def stored_size(self):
        return sum(e[2] for e in self.entries.values())

    # ---------------------------------------------------------------- one file
    def _upload(self, fname, size_hint):
        if self.cancel.is_set():
            return
        path = os.path.join(self.root, fname)
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise SourceError(f"filestore file {path} disappeared during the backup: {exc}", path=path) from exc
        if size <= SMALL_FILE:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise SourceError(f"cannot read filestore file {path}: {exc}", path=path) from exc
            sha1 = hashlib.sha1(data).hexdigest()  # noqa: S324
            stored = crypto.encrypt_bytes(self.key, data) if self.key is not None else data
            sha256 = hashlib.sha256(stored).hexdigest()
            lock = self.lock.spec_for(sha1) if self.lock else None
            key = fmt.filestore_key(sha1, keyspace=self.keyspace)
            self.store.put_bytes(key, stored, lock=lock, sha256=sha256,
                                 metadata={"sha256": sha256, "sha1": sha1, "size": str(len(data))})
            stored_size = len(stored)
            size = len(data)
            del data, stored
        else:
            sha1, plain_sha256, size = _hash_file(path)
            lock = self.lock.spec_for(sha1) if self.lock else None
            key = fmt.filestore_key(sha1, keyspace=self.keyspace)
            meta = {"sha1": sha1, "size": str(size)}
            if self.key is None:
                meta["sha256"] = plain_sha256
            writer = self.store.multipart(key, lock=lock, metadata=meta)
            enc = crypto.Encryptor(self.key) if self.key is not None else None
            with writer:
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1024 * 1024), b""):
                        writer.write(enc.update(block) if enc else block)
                if enc:
                    writer.write(enc.finalize())
                info = writer.close()
            sha256, stored_size = info["sha256"], info["size"]
        expected = fmt.sha1_from_fname(fname)
        if expected is not None and expected != sha1:
            with self._lock:
                self.renamed.append({"fname": fname, "content_sha1": sha1})
        self._record(fname, sha1, size, stored_size, sha256, lock.until if lock else None)
        with self._lock:
            self.stats["uploaded"] += 1
            self.stats["uploaded_bytes"] += size
            self.stats["uploaded_stored_bytes"] += stored_size
        if self.progress is not None:
            self.progress.advance(size, "files", 1)

    def _reuse(self, fname, sha1, size, stored_size):
        if self.cancel.is_set():
            return
        key = fmt.filestore_key(sha1, keyspace=self.keyspace)
        prev = self.prev.get(sha1)
        if prev is not None and prev[0] == stored_size:
            sha256, retain = prev[1], fmt.parse_time(prev[2])
        else:
            head = self.store.head(key)
            with self._lock:
                self.stats["head"] += 1
            meta = (head or {}).get("Metadata") or {}
            sha256 = meta.get("sha256")
            if head is None or not sha256 or head.get("ContentLength") != stored_size:
                # gone since the listing, or written by something that did not record its checksum
                with self._lock:
                    self.stats["reuploaded"] += 1
                self._upload(fname, size)
                return
            retain = head.get("ObjectLockRetainUntilDate")
            if retain is not None and retain.tzinfo is None:
                retain = retain.replace(tzinfo=_dt.timezone.utc)
        if self.lock is not None and (retain is None or retain < self.lock.needed_until):
            spec = self.lock.spec_for(sha1)
            if self.store.put_retention(key, spec) == "missing":
                with self._lock:
                    self.stats["reuploaded"] += 1
                self._upload(fname, size)
                return
            retain = spec.until
            with self._lock:
                self.stats["retention_extended"] += 1
        self._record(fname, sha1, size, stored_size, sha256, retain)
        with self._lock:
            self.stats["reused"] += 1
            self.stats["reused_bytes"] += size

    # ---------------------------------------------------------------- all files
    def run(self, p):
        """Upload and reuse everything in plan ``p``; returns the number of files in the backup."""
        self.root = p.root
        # big uploads first: the pool ends with small ones, which balance well; reuses are cheap
        tasks = [(self._upload, u) for u in sorted(p.upload, key=lambda u: -u[1])]
        tasks += [(self._reuse, r) for r in p.reuse]
        sem = threading.BoundedSemaphore(self.threads * 2)
        errors = []

        def call(fn, args):
            try:
                fn(*args)
            except BaseException as exc:  # handed to the submitting thread
                errors.append(exc)
                self.cancel.set()
            finally:
                sem.release()

        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="filestore") as pool:
            for fn, args in tasks:
                sem.acquire()
                if self.cancel.is_set():
                    sem.release()
                    break
                pool.submit(call, fn, args)
        if errors:
            raise errors[0]
        if self.cancel.is_set() and len(self.entries) < len(p.reuse) + len(p.upload):
            raise Cancelled("filestore backup stopped: another part of the backup failed")
        return len(self.entries)
