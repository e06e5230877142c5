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

The source is the database's filestore directory (``<data_dir>/filestore/<db>``) or, for an Odoo
that keeps its attachments in object storage, a bucket (:class:`BucketSource`): objects
``<prefix><db>/<fname>`` (``per_database``) or ``<prefix><fname>``, the layout the restore writes
(restore/filestore.py ``S3Target``). One listing of the source prefix gives the sizes the plan needs;
an uploaded object is read with one GET (in memory up to :data:`SMALL_FILE`), a larger one is read
twice, streaming in 1 MiB blocks, like a large file: once to hash it (its SHA-1 names the stored
object), once into the multipart upload, checked against the first read before the upload completes.

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
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError, ConfigError, SourceError
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import (
    S3_OPTION_KEYS,
    FastS3,
    error_code,
    make_client,
    translate,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import LockSpec, stream_body

SMALL_FILE = 16 * 1024 * 1024
BLOCK = 1024 * 1024


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
    reuse: list = field(default_factory=list)  # (fname, sha1, size, stored_size, version_id or None)
    missing: list = field(default_factory=list)  # fnames referenced but not on disk (or not in the bucket)
    source: object = None  # a BucketSource, or None for a directory (``root``)

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


class BucketSource:
    """Attachments in a bucket (Odoo with object storage), read-only.

    Objects are ``<prefix><db>/<fname>`` with ``per_database`` (the default), else ``<prefix><fname>``:
    the layout governed.odoo.restore's ``filestore_s3`` writes, so that a backup of the bucket restores
    into it. :meth:`listing` lists the prefix once (fname -> size; 1 request per 1000 objects) and keeps
    the result; reads are single GETs (:meth:`get`) or streams of 1 MiB blocks (:meth:`blocks`).
    Every failure is a SourceError naming the bucket and key.
    """

    kind = "s3"

    def __init__(self, client, bucket, prefix="", per_database=True, db=None, endpoint=None):
        if not bucket:
            raise ConfigError("filestore_s3.bucket is required", option="filestore_s3.bucket")
        prefix = prefix or ""
        if prefix.startswith("/"):
            raise ConfigError(f"filestore_s3.prefix={prefix!r} must not start with /", option="filestore_s3.prefix")
        if per_database:
            if not db or "/" in db or db in (".", ".."):
                raise ConfigError(f"unsafe database name for a filestore prefix: {db!r}", option="db")
            self.base = f"{prefix}{db}/"
        else:
            self.base = prefix
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.per_database = bool(per_database)
        self.endpoint = endpoint or getattr(getattr(client, "meta", None), "endpoint_url", None)
        self.fast = FastS3.from_client(client)
        self.stats = {"list": 0, "get": 0, "get_bytes": 0}
        self._stats_lock = threading.Lock()
        self._listing = None

    @classmethod
    def open(cls, options, db, pool=32):
        """A source from the module's ``filestore_s3`` dict (S3 options, bucket, prefix, per_database)."""
        options = dict(options or {})
        s3 = {k: options[k] for k in S3_OPTION_KEYS if options.get(k) is not None}
        client = options.get("client") or make_client(s3, max_pool_connections=pool)
        return cls(client, options.get("bucket"), options.get("prefix") or "",
                   options.get("per_database") is not False, db, endpoint=s3.get("endpoint_url"))

    def describe(self):
        """Where the attachments are, for messages and the manifest (no credentials)."""
        return f"s3://{self.bucket}/{self.base}"

    def key(self, fname):
        return self.base + fname

    def _count(self, name, n=1, nbytes=0):
        with self._stats_lock:
            self.stats[name] += n
            if nbytes:
                self.stats["get_bytes"] += nbytes

    def _fail(self, exc, op, fname=None):
        """A SourceError for a failed request (botocore's, or a typed error of the fast path)."""
        what = f"filestore object {self.describe()}{fname}" if fname is not None else f"filestore {self.describe()}"
        if fname is not None and _not_found(exc):
            return SourceError(f"{what} disappeared during the backup", bucket=self.bucket, key=self.key(fname))
        if fname is not None and _code(exc) in ("PreconditionFailed", "412"):
            return SourceError(f"{what} changed during the backup", bucket=self.bucket, key=self.key(fname))
        err = exc if isinstance(exc, BackupError) else translate(
            exc, op, self.endpoint, self.bucket, self.key(fname) if fname is not None else None)
        return SourceError(f"cannot read {what}: {err.msg}", **err.details)

    def check(self):
        """Fail before anything is written if the bucket cannot be read."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if _not_found(exc) or _code(exc) == "NoSuchBucket":
                raise SourceError(f"the filestore bucket {self.bucket} does not exist on "
                                  f"{self.endpoint or 's3'} (filestore_s3.bucket)", bucket=self.bucket,
                                  endpoint=self.endpoint) from exc
            raise self._fail(exc, "HeadBucket") from exc

    def listing(self):
        """fname -> size of every object under the source prefix (listed once, then kept)."""
        if self._listing is not None:
            return self._listing
        out = {}
        n = len(self.base)
        try:
            if self.fast is not None:
                for key, size, _mtime in self.fast.list_objects(self.bucket, self.base,
                                                                on_page=lambda: self._count("list")):
                    if len(key) > n and not key.endswith("/"):
                        out[key[n:]] = size
            else:
                kw = {"Bucket": self.bucket, "Prefix": self.base, "MaxKeys": 1000}
                while True:
                    page = self.client.list_objects_v2(**kw)
                    self._count("list")
                    for obj in page.get("Contents") or []:
                        key = obj["Key"]
                        if len(key) > n and not key.endswith("/"):
                            out[key[n:]] = obj["Size"]
                    if not page.get("IsTruncated"):
                        break
                    kw["ContinuationToken"] = page.get("NextContinuationToken")
        except Exception as exc:
            raise self._fail(exc, "ListObjectsV2") from exc
        self._listing = out
        return out

    def get(self, fname):
        """The object's bytes (one GET)."""
        key = self.key(fname)
        try:
            if self.fast is not None:
                data = self.fast.get(self.bucket, key)
            else:
                data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise self._fail(exc, "GetObject", fname) from exc
        self._count("get", nbytes=len(data))
        return data

    def blocks(self, fname, etag=None, info=None):
        """The object's bytes in blocks of 1 MiB (a generator). With ``etag``, only that version of it
        (If-Match); ``info`` (a dict) receives the ETag of what is read."""
        kw = {"Bucket": self.bucket, "Key": self.key(fname)}
        if etag:
            kw["IfMatch"] = etag
        try:
            resp = self.client.get_object(**kw)
        except Exception as exc:
            raise self._fail(exc, "GetObject", fname) from exc
        self._count("get")
        if info is not None:
            info["etag"] = resp.get("ETag")
        yield from stream_body(resp["Body"], BLOCK, lambda exc: self._fail(exc, "GetObject", fname),
                               lambda n: self._count("get", 0, nbytes=n))


def _code(exc):
    """Error code of a botocore error or of a typed error of the fast path (None for anything else)."""
    code = error_code(exc)
    if code is None and isinstance(exc, BackupError):
        code = exc.details.get("code")
    return code


def _not_found(exc):
    return _code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


def plan(fnames, root, existing, encrypted_chunk=None, keyspace=None):
    """Decide per referenced file: reuse the stored object or upload it.

    ``root`` is the filestore directory (sizes from stat), or a :class:`BucketSource` (sizes from one
    listing of its prefix); ``existing`` is ``store.list_filestore(keyspace)`` (sha1 -> stored size,
    or (size, mtime[, version id]): the object's first version, which a reuse pins); ``encrypted_chunk``
    the encryption chunk size when encrypting (stored sizes differ then).
    """
    if isinstance(root, BucketSource):
        p = FilestorePlan(keyspace=keyspace, source=root)
        sizes = root.listing() if fnames else {}
        size_of = sizes.get
    else:
        root = os.path.abspath(root)
        p = FilestorePlan(keyspace=keyspace, root=root)

        def size_of(fname):
            path = os.path.join(root, fname)
            try:
                return os.stat(path).st_size
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise SourceError(f"cannot read filestore file {path}: {exc}", path=path) from exc

    for fname in sorted(set(fnames)):
        if not fname or fname.startswith("/") or ".." in fname.split("/"):
            p.missing.append(fname)  # never read outside the filestore (or the database's prefix)
            continue
        size = size_of(fname)
        if size is None:
            p.missing.append(fname)
            continue
        sha1 = fmt.sha1_from_fname(fname)
        stored = crypto.stored_size(size, encrypted_chunk) if encrypted_chunk else size
        have = existing.get(sha1) if sha1 else None
        vid = None
        if isinstance(have, tuple):
            vid = have[2] if len(have) > 2 else None
            have = have[0]
        if have is not None and have == stored:
            p.reuse.append((fname, sha1, size, stored, vid))
        else:
            p.upload.append((fname, size))
    return p


def _hash_blocks(blocks):
    sha1 = hashlib.sha1()  # noqa: S324 - Odoo's content address, not a security digest
    sha256 = hashlib.sha256()
    size = 0
    for block in blocks:
        sha1.update(block)
        sha256.update(block)
        size += len(block)
    return sha1.hexdigest(), sha256.hexdigest(), size


def _file_blocks(path):
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(BLOCK), b"")


def _hash_file(path):
    return _hash_blocks(_file_blocks(path))


class FilestoreBackup:
    """Executes a :class:`FilestorePlan` against a store, in a thread pool.

    Results are kept as compact tuples ``fname -> (sha1, size, stored_size, sha256, retain_until)``;
    :meth:`iter_entries` yields the index entries (dicts) in fname order, one at a time.
    """

    def __init__(self, store, keyspace, key=None, lock=None, threads=8, progress=None, cancel=None,
                 prev_entries=None, root=".", source=None):
        self.store = store
        self.keyspace = keyspace
        self.key = key
        self.lock = lock  # LockPolicy or None
        self.threads = max(1, threads)
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.prev = prev_entries or {}  # sha1 -> (stored_size, sha256, retain_until, version_id) of the previous backup
        self.root = root
        self.source = source  # a BucketSource, or None: files under ``root``
        self.entries = {}
        self.renamed = []  # files whose content does not match their name
        self.stats = {"uploaded": 0, "uploaded_bytes": 0, "uploaded_stored_bytes": 0, "reused": 0,
                      "reused_bytes": 0, "head": 0, "retention_extended": 0, "reuploaded": 0}
        self._lock = threading.Lock()

    @staticmethod
    def compact_index(entries):
        """sha1 -> (stored_size, sha256, retain_until, version_id) from index entries (the ``prev_entries`` form)."""
        return {e["sha1"]: (e["stored_size"], e["sha256"], e.get("retain_until"), e.get("version_id"))
                for e in entries}

    def _record(self, fname, sha1, size, stored_size, sha256, retain, version_id=None):
        until = fmt.format_time(retain) if isinstance(retain, _dt.datetime) else retain
        with self._lock:
            self.entries[fname] = (sha1, size, stored_size, sha256, until, version_id)

    def iter_entries(self):
        for fname in sorted(self.entries):
            sha1, size, stored_size, sha256, until, vid = self.entries[fname]
            yield fmt.index_entry(fname, sha1, size, stored_size, sha256, until, vid)

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
    def _put_small(self, data):
        """Store ``data`` (one PUT); (sha1, size, stored_size, sha256, lock, version_id)."""
        sha1 = hashlib.sha1(data).hexdigest()  # noqa: S324
        stored = crypto.encrypt_bytes(self.key, data) if self.key is not None else data
        sha256 = hashlib.sha256(stored).hexdigest()
        lock = self.lock.spec_for(sha1) if self.lock else None
        key = fmt.filestore_key(sha1, keyspace=self.keyspace)
        put = self.store.put_bytes(key, stored, lock=lock, sha256=sha256,
                                   metadata={"sha256": sha256, "sha1": sha1, "size": str(len(data))})
        return sha1, len(data), len(stored), sha256, lock, put.get("version_id")

    def _put_large(self, sha1, plain_sha256, size, blocks, check=None):
        """Stream ``blocks`` (content of SHA-1 ``sha1``, hashed beforehand) into a multipart upload.

        With ``check`` (a description of the source), the streamed content is hashed again and the
        upload aborted, before it completes, unless it is the content hashed beforehand.
        """
        lock = self.lock.spec_for(sha1) if self.lock else None
        key = fmt.filestore_key(sha1, keyspace=self.keyspace)
        meta = {"sha1": sha1, "size": str(size)}
        if self.key is None:
            meta["sha256"] = plain_sha256
        writer = self.store.multipart(key, lock=lock, metadata=meta)
        enc = crypto.Encryptor(self.key) if self.key is not None else None
        again = hashlib.sha1() if check else None  # noqa: S324
        n = 0
        with writer:
            for block in blocks:
                if again is not None:
                    again.update(block)
                    n += len(block)
                writer.write(enc.update(block) if enc else block)
            if enc:
                writer.write(enc.finalize())
            if again is not None and (n != size or again.hexdigest() != sha1):
                writer.abort()
                raise SourceError(f"{check} changed while it was read ({n} bytes, SHA-1 {again.hexdigest()}; "
                                  f"{size} bytes, SHA-1 {sha1} a moment before)")
            info = writer.close()
        return sha1, size, info["size"], info["sha256"], lock, info.get("version_id")

    def _uploaded(self, fname, sha1, size, stored_size, sha256, lock, version_id=None):
        expected = fmt.sha1_from_fname(fname)
        if expected is not None and expected != sha1:
            with self._lock:
                self.renamed.append({"fname": fname, "content_sha1": sha1})
        self._record(fname, sha1, size, stored_size, sha256, lock.until if lock else None, version_id)
        with self._lock:
            self.stats["uploaded"] += 1
            self.stats["uploaded_bytes"] += size
            self.stats["uploaded_stored_bytes"] += stored_size
        if self.progress is not None:
            self.progress.advance(size, "files", 1)

    def _upload(self, fname, size_hint):
        if self.cancel.is_set():
            return
        if self.source is not None:
            self._upload_object(fname, size_hint)
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
            done = self._put_small(data)
            del data
        else:
            sha1, plain_sha256, size = _hash_file(path)
            done = self._put_large(sha1, plain_sha256, size, _file_blocks(path))
        self._uploaded(fname, *done)

    def _upload_object(self, fname, size_hint):
        """Upload one object of a bucket source: one GET when small, else two streaming reads."""
        src = self.source
        if size_hint <= SMALL_FILE:
            data = src.get(fname)
            done = self._put_small(data)
            del data
        else:
            # hashed first (its SHA-1 names the stored object), then read again - that same version
            # of it (If-Match) - into the multipart upload, checked before the upload completes
            info = {}
            sha1, plain_sha256, size = _hash_blocks(src.blocks(fname, info=info))
            done = self._put_large(sha1, plain_sha256, size, src.blocks(fname, etag=info.get("etag")),
                                   check=f"filestore object {src.describe()}{fname}")
        self._uploaded(fname, *done)

    def _reuse(self, fname, sha1, size, stored_size, vid=None):
        """Reference the stored object: its first version ``vid`` (from the listing), by id from now on."""
        if self.cancel.is_set():
            return
        key = fmt.filestore_key(sha1, keyspace=self.keyspace)
        prev = self.prev.get(sha1)
        if prev is not None and prev[0] == stored_size and (not prev[3] or not vid or prev[3] == vid):
            sha256, retain = prev[1], fmt.parse_time(prev[2])
        else:
            head = self.store.head(key, version_id=vid)
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
            vid = vid or head.get("VersionId")
            retain = head.get("ObjectLockRetainUntilDate")
            if retain is not None and retain.tzinfo is None:
                retain = retain.replace(tzinfo=_dt.timezone.utc)
        if self.lock is not None and (retain is None or retain < self.lock.needed_until):
            spec = self.lock.spec_for(sha1)
            if self.store.put_retention(key, spec, version_id=vid) == "missing":
                with self._lock:
                    self.stats["reuploaded"] += 1
                self._upload(fname, size)
                return
            retain = spec.until
            with self._lock:
                self.stats["retention_extended"] += 1
        self._record(fname, sha1, size, stored_size, sha256, retain, vid)
        with self._lock:
            self.stats["reused"] += 1
            self.stats["reused_bytes"] += size

    # ---------------------------------------------------------------- all files
    def run(self, p):
        """Upload and reuse everything in plan ``p``; returns the number of files in the backup."""
        self.root = p.root
        self.source = p.source
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
