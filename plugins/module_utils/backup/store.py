# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup store: one bucket (and optional key prefix) on an S3 endpoint, laid out as
manifest.py describes. Everything that talks to S3 for backups goes through :class:`BackupStore`.

* Existence of filestore objects is learned by listing their keyspace once (1 request per 1000
  objects), never by a HEAD per file.
* Every write can carry object lock retention (mode + retain-until date) and a CRC32 checksum
  header, which the server verifies (SeaweedFS, AWS) before it stores the object; the SHA-256
  of every object is computed here, for the manifest.
* Large objects are written by :class:`MultipartWriter`: parts are uploaded while the data is
  still being produced, a bounded number in flight, and the upload is aborted on any failure.
* Deletion is by object *version*: in a bucket with object lock (always versioned) deleting a
  key without a version only adds a delete marker and frees nothing. A refusal because of object
  lock is collected and reported, never forced (no governance bypass here).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import hashlib
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    ConfigError,
    IntegrityError,
    ManifestError,
    ObjectLocked,
    StoreError,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import (
    FastS3,
    error_code,
    is_not_found,
    translate,
)

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10000


@dataclass(frozen=True)
class LockSpec:
    """Object lock retention to put on written objects."""

    mode: str
    until: _dt.datetime

    def __post_init__(self):
        if self.mode not in fmt.LOCK_MODES:
            raise ConfigError(f"object lock mode must be one of {', '.join(fmt.LOCK_MODES)}, not {self.mode!r}")
        if self.until.tzinfo is None:
            raise ValueError("retain-until must be an aware datetime")

    def active(self):
        """A retain-until date in the past protects nothing, and S3 refuses it: such a lock is not sent."""
        return self.until > _dt.datetime.now(_dt.timezone.utc)

    def put_kwargs(self):
        if not self.active():
            return {}
        return {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": self.until}

    def later(self, until):
        return LockSpec(self.mode, until)


def pinned(version_id):
    """A version id to send with a request: None for none, and for the "null" version of an unversioned bucket."""
    return version_id if version_id and version_id != "null" else None


@dataclass(frozen=True)
class KeyVersions:
    """Every version of one key, as one listing of object versions shows them.

    ``versions`` are the object versions, newest first: ``(version_id, size, last_modified)``.
    ``hidden``: the key's latest entry is a delete marker (a plain listing does not show the key).
    ``markers``: how many delete markers the key has.
    """

    key: str
    versions: tuple
    hidden: bool = False
    markers: int = 0

    @property
    def original(self):
        """The first version written, (version_id, size, last_modified); None if only delete markers remain.

        Nothing in a backup store is ever written twice on purpose (content-addressed objects are
        reused, a backup directory's objects are written once), so the first version is the one the
        backup wrote, and with object lock the one nobody could remove.
        """
        return self.versions[-1] if self.versions else None

    @property
    def current(self):
        """What a GET without a version id returns: the newest version, unless a delete marker hides it."""
        return None if self.hidden or not self.versions else self.versions[0]

    def version(self, version_id):
        for v in self.versions:
            if v[0] == version_id:
                return v
        return None

    def newer_than(self, version_id):
        """Version ids written over ``version_id`` (newest first); [] when it is the newest or unknown."""
        out = []
        for v in self.versions:
            if v[0] == version_id:
                return out
            out.append(v[0])
        return []

    def check(self, version_id, size):
        """None when the object is there with ``size``: its pinned ``version_id``, or without one the
        current object (what a reader without version ids reads); else ("missing", None) or ("size", actual)."""
        v = self.version(version_id) if pinned(version_id) else self.current
        if v is None:
            return "missing", None
        return (None, v[1]) if v[1] == size else ("size", v[1])

    def tampering(self, version_id):
        """What was done to the key over the pinned ``version_id``: {"newer_versions", "delete_marker"} or None."""
        if not pinned(version_id):
            return None
        newer = self.newer_than(version_id)
        if not newer and not self.hidden:
            return None
        return {"newer_versions": newer, "delete_marker": self.hidden}


@dataclass(frozen=True)
class BackupRef:
    """A restorable backup as a listing of object versions sees it: its manifest, no manifest read yet.

    ``version_id`` pins the manifest's first version (the one the backup sealed); ``newer_versions``
    were written over it later (by someone else: a backup writes its manifest once), ``hidden`` says a
    delete marker hides it from a plain listing. Such a backup is still listed, and read through
    ``version_id``.
    """

    environment: str
    db_name: str
    backup_id: str
    manifest_key: str
    size: int
    last_modified: _dt.datetime
    version_id: str = None
    newer_versions: tuple = ()
    hidden: bool = False

    @property
    def started_at(self):
        return fmt.backup_id_time(self.backup_id)

    @property
    def tampered(self):
        return bool(self.newer_versions) or self.hidden

    def as_dict(self):
        out = {"environment": self.environment, "db_name": self.db_name, "backup_id": self.backup_id,
               "manifest_key": self.manifest_key, "started_at": fmt.format_time(self.started_at)}
        if self.version_id and self.version_id != "null":
            out["manifest_version_id"] = self.version_id
        if self.hidden:
            out["hidden_by_delete_marker"] = True
        if self.newer_versions:
            out["newer_manifest_versions"] = list(self.newer_versions)
        return out


def _parse_mtime(text):
    if not text:
        return None
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def stream_body(body, chunk_size, on_error, on_data):
    """Yield a response body in blocks of ``chunk_size`` and close it; a failed read raises ``on_error(exc)``."""
    try:
        while True:
            try:
                data = body.read(chunk_size)
            except Exception as exc:
                raise on_error(exc) from exc
            if not data:
                return
            on_data(len(data))
            yield data
    finally:
        body.close()


def b64sha256(hexdigest):
    return base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")


def b64crc32(data):
    """x-amz-checksum-crc32 of ``data``: what the server verifies before storing (cheap, unlike SHA-256)."""
    return base64.b64encode(struct.pack(">I", zlib.crc32(data))).decode("ascii")


class BackupStore:
    """A backup store on one endpoint. ``root`` is an optional key prefix inside ``bucket``."""

    def __init__(self, client, bucket, root="", endpoint=None, label=None):
        if not bucket:
            raise ConfigError("a bucket is required", option="bucket")
        root = (root or "").strip("/")
        self.client = client
        self.bucket = bucket
        self.root = f"{root}/" if root else ""
        self.endpoint = endpoint or getattr(getattr(client, "meta", None), "endpoint_url", None)
        self.label = label or self.endpoint
        self.fast = FastS3.from_client(client)
        self.stats_lock = threading.Lock()
        self.stats = {"put": 0, "put_bytes": 0, "get": 0, "get_bytes": 0, "list": 0, "head": 0,
                      "retention": 0, "delete": 0}

    # ------------------------------------------------------------------ helpers
    def _count(self, name, n=1, nbytes=0, bytes_name=None):
        with self.stats_lock:
            self.stats[name] += n
            if nbytes:
                self.stats[bytes_name or f"{name}_bytes"] += nbytes

    def full(self, rel):
        return self.root + rel

    def rel(self, full):
        return full[len(self.root):] if self.root and full.startswith(self.root) else full

    def _err(self, exc, op, rel=None):
        return translate(exc, op, self.endpoint, self.bucket, self.full(rel) if rel else None)

    def where(self, rel=""):
        return f"{self.endpoint}/{self.bucket}/{self.full(rel)}"

    # ------------------------------------------------------------------ bucket
    def check_bucket(self, need_lock=False):
        """Fail early (before anything is written) if the bucket is missing or lacks object lock."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._err(exc, "HeadBucket") from exc
        if not need_lock:
            return None
        try:
            cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except Exception as exc:
            if error_code(exc) in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "404"):
                cfg = {}
            else:
                raise self._err(exc, "GetObjectLockConfiguration") from exc
        enabled = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        if not enabled:
            raise ConfigError(f"object lock was asked for, but bucket {self.bucket} on {self.endpoint} was not "
                              "created with object lock enabled", bucket=self.bucket, endpoint=self.endpoint)
        return cfg

    # ------------------------------------------------------------------ listing
    def iter_objects(self, prefix):
        """(rel_key, size, last_modified) of current objects under ``prefix``, in key order."""
        if self.fast is not None:
            for key, size, mtime in self.fast.list_objects(self.bucket, self.full(prefix),
                                                           on_page=lambda: self._count("list")):
                yield self.rel(key), size, _parse_mtime(mtime)
            return
        token = None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": self.full(prefix), "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            try:
                page = self.client.list_objects_v2(**kw)
            except Exception as exc:
                raise self._err(exc, "ListObjectsV2", prefix) from exc
            self._count("list")
            for obj in page.get("Contents", []) or []:
                yield self.rel(obj["Key"]), obj["Size"], obj["LastModified"]
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def iter_versions(self, prefix):
        """(rel_key, version_id, size or None for a delete marker, is_latest, last_modified) of every version
        under ``prefix``: by key, and for one key newest first (the order S3 lists them in)."""
        if self.fast is not None:
            for key, vid, size, latest, mtime in self.fast.list_versions(self.bucket, self.full(prefix),
                                                                         on_page=lambda: self._count("list")):
                yield self.rel(key), vid, size, latest, mtime
            return
        kw = {"Bucket": self.bucket, "Prefix": self.full(prefix)}
        while True:
            try:
                page = self.client.list_object_versions(**kw)
            except Exception as exc:
                raise self._err(exc, "ListObjectVersions", prefix) from exc
            self._count("list")
            # botocore separates versions and delete markers; each list keeps the server's order
            rows = [(v["Key"], v.get("VersionId"), v["Size"], v.get("IsLatest"), v["LastModified"])
                    for v in page.get("Versions", []) or []]
            rows += [(v["Key"], v.get("VersionId"), None, v.get("IsLatest"), v["LastModified"])
                     for v in page.get("DeleteMarkers", []) or []]
            for key, vid, size, latest, mtime in rows:
                yield self.rel(key), vid, size, bool(latest), mtime
            if not page.get("IsTruncated"):
                return
            kw["KeyMarker"] = page.get("NextKeyMarker")
            kw["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def key_versions(self, prefix):
        """rel_key -> :class:`KeyVersions` of every key under ``prefix`` (one listing of object versions)."""
        acc = {}
        for key, vid, size, latest, mtime in self.iter_versions(prefix):
            entry = acc.setdefault(key, [[], False, 0])
            if size is None:
                entry[2] += 1
                if latest:
                    entry[1] = True
            else:
                entry[0].append((vid, size, mtime if not isinstance(mtime, str) else _parse_mtime(mtime)))
        return {k: KeyVersions(k, tuple(v[0]), v[1], v[2]) for k, v in acc.items()}

    def list_filestore(self, keyspace):
        """sha1 -> (stored size, last modified, version id) of every object of a filestore keyspace.

        From one listing of object versions (as many requests as a plain listing): each object is its
        first version, the one a backup wrote. A newer version written over it (by someone holding
        PutObject) or a delete marker hiding it changes nothing here: backups reference and restores
        read the first version, by its id.
        """
        out = {}
        for key, kv in self.key_versions(keyspace).items():
            sha1 = fmt.sha1_from_key(key, keyspace)
            orig = kv.original
            if sha1 and orig is not None:
                out[sha1] = (orig[1], orig[2], orig[0])
        return out

    def list_filestore_keyspaces(self):
        """The keyspaces present in the store (plain, and one per encryption key)."""
        spaces = set()
        token = None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": self.full(fmt.FILESTORE_ROOT), "Delimiter": "/"}
            if token:
                kw["ContinuationToken"] = token
            try:
                page = self.client.list_objects_v2(**kw)
            except Exception as exc:
                raise self._err(exc, "ListObjectsV2", fmt.FILESTORE_ROOT) from exc
            self._count("list")
            for cp in page.get("CommonPrefixes", []) or []:
                sub = self.rel(cp["Prefix"])  # filestore/sha1/ or filestore/enc-<id>/
                spaces.add(sub if sub.endswith("sha1/") else sub + "sha1/")
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        return sorted(spaces)

    def list_backups(self, environment=None, db_name=None):
        """Restorable backups = manifests written, oldest first. No manifest is read.

        Listed from the object *versions*: a manifest hidden by a delete marker (which anyone allowed
        to DeleteObject can add, object lock or not) is still a backup, listed with ``hidden``, and
        each ref pins the manifest's first version (see :class:`BackupRef`).
        """
        out = []
        for key, kv in self.key_versions(fmt.env_prefix(environment, db_name)).items():
            parsed = fmt.parse_backup_key(key)
            orig = kv.original
            if parsed and parsed[3] == fmt.MANIFEST_NAME and orig is not None:
                env, db, bid, _rest = parsed
                out.append(BackupRef(env, db, bid, key, orig[1], orig[2], version_id=orig[0],
                                     newer_versions=tuple(kv.newer_than(orig[0])), hidden=kv.hidden))
        out.sort(key=lambda r: (r.started_at, r.backup_id))
        return out

    def scan_backup_dirs(self, environment=None, db_name=None):
        """(env, db, id) -> {"has_manifest", "newest", "keys", "size"} for every backup directory."""
        dirs = {}
        for key, kv in self.key_versions(fmt.env_prefix(environment, db_name)).items():
            parsed = fmt.parse_backup_key(key)
            if not parsed or not kv.versions:
                continue
            env, db, bid, rest = parsed
            size, mtime = kv.versions[0][1], max(v[2] for v in kv.versions)
            d = dirs.setdefault((env, db, bid), {"has_manifest": False, "newest": mtime, "keys": [], "size": 0})
            d["keys"].append(key)
            d["size"] += size
            d["newest"] = max(d["newest"], mtime)
            if rest == fmt.MANIFEST_NAME:
                d["has_manifest"] = True  # hidden by a delete marker or not: the backup exists
        return dirs

    # ------------------------------------------------------------------ reading
    def get_bytes(self, rel, max_size=None, version_id=None):
        """An object's bytes; with ``version_id`` that version (a pinned object), never a newer one."""
        version_id = pinned(version_id)
        if self.fast is not None:
            data = self.fast.get(self.bucket, self.full(rel), version_id)
            if max_size is not None and len(data) > max_size:
                raise StoreError(f"{self.where(rel)} is {len(data)} bytes, more than {max_size} expected",
                                 key=self.full(rel))
            self._count("get", nbytes=len(data))
            return data
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.full(rel),
                                          **({"VersionId": version_id} if version_id else {}))
            if max_size is not None and resp["ContentLength"] > max_size:
                resp["Body"].close()
                raise StoreError(f"{self.where(rel)} is {resp['ContentLength']} bytes, more than {max_size} expected",
                                 key=self.full(rel))
            data = resp["Body"].read()
        except StoreError:
            raise
        except Exception as exc:
            raise self._err(exc, "GetObject", rel) from exc
        self._count("get", nbytes=len(data))
        return data

    def iter_object(self, rel, chunk_size=1024 * 1024, version_id=None):
        """Stream an object's bytes (a generator; errors become StoreError); ``version_id`` as in get_bytes."""
        version_id = pinned(version_id)
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.full(rel),
                                          **({"VersionId": version_id} if version_id else {}))
        except Exception as exc:
            raise self._err(exc, "GetObject", rel) from exc
        self._count("get")
        yield from stream_body(resp["Body"], chunk_size, lambda exc: self._err(exc, "GetObject", rel),
                               lambda n: self._count("get", 0, nbytes=n))

    def head(self, rel, version_id=None):
        """HEAD an object (that version of it with ``version_id``); None if it does not exist."""
        version_id = pinned(version_id)
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=self.full(rel),
                                           **({"VersionId": version_id} if version_id else {}))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise self._err(exc, "HeadObject", rel) from exc
        self._count("head")
        return resp

    def manifest_versions(self, environment, db_name, backup_id):
        """:class:`KeyVersions` of one backup's manifest.json (one listing request), or None."""
        key = fmt.manifest_key(environment, db_name, backup_id)
        return self.key_versions(key).get(key)

    def read_manifest(self, environment, db_name, backup_id, ref=None):
        """The backup's manifest, read from its first version (pinned by ``ref.version_id`` when given).

        The returned Manifest carries ``version_id`` (the version read), ``newer_versions`` (written over
        it later: tampering, since a backup writes its manifest once) and ``hidden`` (a delete marker
        hides it). A newer version is never read, whatever it contains.
        """
        key = fmt.manifest_key(environment, db_name, backup_id)
        if ref is not None:
            version_id, newer, hidden = ref.version_id, tuple(ref.newer_versions), ref.hidden
        else:
            kv = self.manifest_versions(environment, db_name, backup_id)
            if kv is None or kv.original is None:
                raise ManifestError(f"backup {environment}/{db_name}/{backup_id} has no manifest in {self.where()}: "
                                    "it does not exist or is not complete", key=self.full(key))
            version_id, newer, hidden = kv.original[0], tuple(kv.newer_than(kv.original[0])), kv.hidden
        try:
            data = self.get_bytes(key, max_size=64 * 1024 * 1024, version_id=version_id)
        except StoreError as exc:
            if exc.details.get("code") in ("NoSuchKey", "404", "NotFound"):
                raise ManifestError(f"backup {environment}/{db_name}/{backup_id} has no manifest in {self.where()}: "
                                    "it does not exist or is not complete", key=self.full(key)) from exc
            raise
        m = fmt.Manifest.from_bytes(data, key=self.full(key))
        if (m.environment, m.db_name, m.backup_id) != (environment, db_name, backup_id):
            raise ManifestError(f"manifest at {self.full(key)} describes another backup "
                                f"({m.environment}/{m.db_name}/{m.backup_id})", key=self.full(key))
        m.version_id = pinned(version_id)
        m.newer_versions = newer
        m.hidden = hidden
        return m

    def latest_manifest(self, environment, db_name, before=None):
        """The newest valid manifest (optionally started before ``before``); invalid ones are skipped."""
        for ref in reversed(self.list_backups(environment, db_name)):
            if before is not None and ref.started_at > before:
                continue
            try:
                return self.read_manifest(ref.environment, ref.db_name, ref.backup_id, ref=ref)
            except ManifestError:
                continue
        return None

    def find_backup(self, environment, db_name, backup_id=None, before=None, skip_invalid=True):
        """The manifest of ``backup_id``, or of the newest backup (started before ``before``).

        With ``skip_invalid`` (what a restore wants) a newest backup whose manifest does not
        validate is passed over for the one before it; without (what a verification wants) its
        ManifestError is raised, naming it.
        """
        if backup_id:
            return self.read_manifest(environment, db_name, backup_id)
        if not skip_invalid:
            refs = [r for r in self.list_backups(environment, db_name) if before is None or r.started_at <= before]
            if refs:
                return self.read_manifest(refs[-1].environment, refs[-1].db_name, refs[-1].backup_id, ref=refs[-1])
        m = self.latest_manifest(environment, db_name, before=before)
        if m is None:
            when = f" before {fmt.format_time(before)}" if before else ""
            raise ManifestError(f"no restorable backup of {environment}/{db_name}{when} in {self.where()}",
                                environment=environment, db_name=db_name)
        return m

    def read_index(self, manifest):
        """(keyspace, entries) of a backup's filestore index, after checking its size and SHA-256."""
        return fmt.decode_index(self._index_bytes(manifest), key=self.full(manifest.index_object["key"]))

    def iter_index(self, manifest):
        """(keyspace, generator of entries): the same, one entry at a time (large filestores)."""
        return fmt.iter_index(self._index_bytes(manifest), key=self.full(manifest.index_object["key"]))

    def _index_bytes(self, manifest):
        obj = manifest.index_object
        data = self.get_bytes(obj["key"], max_size=obj["size"] + 1, version_id=obj.get("version_id"))
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != obj["size"] or digest != obj["sha256"]:
            raise IntegrityError(f"filestore index {self.full(obj['key'])} does not match its manifest "
                                 f"(size {len(data)}/{obj['size']}, sha256 {digest}/{obj['sha256']})",
                                 key=self.full(obj["key"]), expected=obj["sha256"], actual=digest)
        return data

    # ------------------------------------------------------------------ writing
    def put_bytes(self, rel, data, lock=None, metadata=None, content_type=None, sha256=None, if_absent=False):
        """PUT ``data`` (its SHA-256, computed if not given, is returned for the manifest).

        The request carries the CRC32 of the body, which the server verifies before storing it
        (S3 requires a checksum on uploads with object lock; CRC32 costs a fraction of SHA-256 on
        both sides). With ``if_absent``, the PUT is conditional (``If-None-Match: *``): the server
        refuses it with 412 PreconditionFailed when the key already exists, so of several writers
        of one key exactly one succeeds (the audit chain's compare-and-swap append).
        """
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        crc = b64crc32(data)
        if self.fast is not None:
            headers = {"x-amz-checksum-crc32": crc}
            lk = lock.put_kwargs() if lock is not None else {}
            if lk:
                headers["x-amz-object-lock-mode"] = lk["ObjectLockMode"]
                headers["x-amz-object-lock-retain-until-date"] = fmt.format_time(lk["ObjectLockRetainUntilDate"])
            for k, v in (metadata or {}).items():
                headers[f"x-amz-meta-{k}"] = v
            if content_type:
                headers["content-type"] = content_type
            if if_absent:
                headers["if-none-match"] = "*"
            resp = self.fast.put(self.bucket, self.full(rel), data, headers)
            self._count("put", nbytes=len(data))
            return {"key": rel, "size": len(data), "sha256": sha256, "version_id": resp.get("x-amz-version-id")}
        kw = {"Bucket": self.bucket, "Key": self.full(rel), "Body": data, "ChecksumCRC32": crc}
        if lock is not None:
            kw.update(lock.put_kwargs())
        if metadata:
            kw["Metadata"] = metadata
        if content_type:
            kw["ContentType"] = content_type
        if if_absent:
            kw["IfNoneMatch"] = "*"
        try:
            resp = self.client.put_object(**kw)
        except Exception as exc:
            raise self._err(exc, "PutObject", rel) from exc
        self._count("put", nbytes=len(data))
        return {"key": rel, "size": len(data), "sha256": sha256, "version_id": resp.get("VersionId")}

    def multipart(self, rel, lock=None, part_size=DEFAULT_PART_SIZE, max_inflight=2, metadata=None,
                  content_type=None, on_part=None):
        return MultipartWriter(self, rel, lock=lock, part_size=part_size, max_inflight=max_inflight,
                               metadata=metadata, content_type=content_type, on_part=on_part)

    def put_retention(self, rel, lock, version_id=None):
        """Set retention on the current version of ``rel``, or on ``version_id`` (only ever to a later date).

        Returns "extended", or "missing" when the object no longer exists. A refusal (the object is
        already locked longer in COMPLIANCE mode, or the caller may not shorten it) raises ObjectLocked.
        """
        if not lock.active():
            return "extended"  # nothing to extend to: the date has passed
        try:
            kw = {"VersionId": pinned(version_id)} if pinned(version_id) else {}
            self.client.put_object_retention(Bucket=self.bucket, Key=self.full(rel),
                                             Retention={"Mode": lock.mode, "RetainUntilDate": lock.until}, **kw)
        except Exception as exc:
            if is_not_found(exc):
                return "missing"
            raise self._err(exc, "PutObjectRetention", rel) from exc
        self._count("retention")
        return "extended"

    # ------------------------------------------------------------------ deleting
    def list_versions(self, prefix):
        """[(rel_key, version_id, is_delete_marker, last_modified)] of every version under ``prefix``."""
        out = []
        kw = {"Bucket": self.bucket, "Prefix": self.full(prefix)}
        while True:
            try:
                page = self.client.list_object_versions(**kw)
            except Exception as exc:
                raise self._err(exc, "ListObjectVersions", prefix) from exc
            self._count("list")
            for v in page.get("Versions", []) or []:
                out.append((self.rel(v["Key"]), v.get("VersionId"), False, v["LastModified"]))
            for v in page.get("DeleteMarkers", []) or []:
                out.append((self.rel(v["Key"]), v.get("VersionId"), True, v["LastModified"]))
            if not page.get("IsTruncated"):
                return out
            kw["KeyMarker"] = page.get("NextKeyMarker")
            kw["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def retention_of(self, rel, version_id=None):
        """(mode, retain_until) of an object version, (None, None) if it has no retention."""
        kw = {"Bucket": self.bucket, "Key": self.full(rel)}
        if version_id and version_id != "null":
            kw["VersionId"] = version_id
        try:
            resp = self.client.get_object_retention(**kw)
        except Exception as exc:
            if error_code(exc) in ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError",
                                   "InvalidRequest") or is_not_found(exc):
                return None, None
            raise self._err(exc, "GetObjectRetention", rel) from exc
        ret = resp.get("Retention") or {}
        until = ret.get("RetainUntilDate")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=_dt.timezone.utc)
        return ret.get("Mode"), until

    def delete_version(self, rel, version_id):
        """Delete one version. Returns None when deleted; raises ObjectLocked when S3 refuses."""
        kw = {"Bucket": self.bucket, "Key": self.full(rel)}
        if version_id and version_id != "null":
            kw["VersionId"] = version_id
        try:
            self.client.delete_object(**kw)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise self._err(exc, "DeleteObject", rel) from exc
        self._count("delete")
        return None

    def delete_all_versions(self, prefix, workers=8):
        """Delete every version (and delete marker) under ``prefix``.

        Returns ``(deleted, refused)``: lists of {"key", "version_id"} and of {"key", "version_id",
        "code", "message"} for versions the server refused to delete (object lock).
        """
        versions = self.list_versions(prefix)
        return self.delete_versions([(k, v) for k, v, _m, _t in versions], workers=workers)

    def delete_versions(self, versions, workers=8):
        deleted, refused = [], []

        def one(item):
            key, vid = item
            try:
                self.delete_version(key, vid)
                return True, {"key": self.full(key), "version_id": vid}
            except ObjectLocked as exc:
                return False, {"key": self.full(key), "version_id": vid, "code": exc.details.get("code"),
                               "message": exc.msg}

        if not versions:
            return deleted, refused
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(versions)))) as pool:
            for ok, info in pool.map(one, versions):
                (deleted if ok else refused).append(info)
        return deleted, refused

    def list_multipart_uploads(self, prefix):
        out = []
        kw = {"Bucket": self.bucket, "Prefix": self.full(prefix)}
        while True:
            try:
                page = self.client.list_multipart_uploads(**kw)
            except Exception as exc:
                raise self._err(exc, "ListMultipartUploads", prefix) from exc
            for u in page.get("Uploads", []) or []:
                out.append({"key": self.rel(u["Key"]), "upload_id": u["UploadId"], "initiated": u.get("Initiated")})
            if not page.get("IsTruncated"):
                return out
            kw["KeyMarker"] = page.get("NextKeyMarker")
            kw["UploadIdMarker"] = page.get("NextUploadIdMarker")

    def abort_multipart(self, rel, upload_id):
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.full(rel), UploadId=upload_id)
        except Exception as exc:
            if is_not_found(exc) or error_code(exc) == "NoSuchUpload":
                return
            raise self._err(exc, "AbortMultipartUpload", rel) from exc


class MultipartWriter:
    """File-like sink that uploads what is written as a multipart upload, streaming.

    ``write()`` buffers up to ``part_size`` bytes, then hands the part to a small pool (at most
    ``max_inflight`` parts uploading, the writer blocks beyond that: memory stays bounded at about
    ``(max_inflight + 1) * part_size``). ``close()`` completes the upload and returns
    ``{"key", "size", "sha256", "parts"}``; an object smaller than one part is sent as one PUT.
    ``abort()`` (also called by ``close()`` on failure and by ``__exit__`` on an exception) aborts
    the upload so that nothing of it remains on the server.
    """

    def __init__(self, store, rel, lock=None, part_size=DEFAULT_PART_SIZE, max_inflight=2, metadata=None,
                 content_type=None, on_part=None):
        if part_size < MIN_PART_SIZE:
            raise ConfigError(f"multipart part size must be at least {MIN_PART_SIZE} bytes")
        self.store = store
        self.rel = rel
        self.lock = lock
        self.part_size = part_size
        self.metadata = metadata
        self.content_type = content_type
        self.on_part = on_part
        self._buf = bytearray()
        self._sha = hashlib.sha256()
        self._size = 0
        self._upload_id = None
        self._parts = {}
        self._futures = []
        self._sem = threading.BoundedSemaphore(max_inflight)
        self._pool = ThreadPoolExecutor(max_workers=max_inflight, thread_name_prefix="mpu")
        self._error = None
        self._closed = False

    @property
    def size(self):
        return self._size

    def _start(self):
        kw = {"Bucket": self.store.bucket, "Key": self.store.full(self.rel), "ChecksumAlgorithm": "CRC32"}
        if self.lock is not None:
            kw.update(self.lock.put_kwargs())
        if self.metadata:
            kw["Metadata"] = self.metadata
        if self.content_type:
            kw["ContentType"] = self.content_type
        try:
            self._upload_id = self.store.client.create_multipart_upload(**kw)["UploadId"]
        except Exception as exc:
            raise self.store._err(exc, "CreateMultipartUpload", self.rel) from exc

    def _upload(self, number, data):
        try:
            if self._error is not None:
                return
            crc = b64crc32(data)
            try:
                resp = self.store.client.upload_part(Bucket=self.store.bucket, Key=self.store.full(self.rel),
                                                     UploadId=self._upload_id, PartNumber=number, Body=data,
                                                     ChecksumCRC32=crc)
            except Exception as exc:
                self._error = self.store._err(exc, "UploadPart", self.rel)
                return
            self._parts[number] = {"PartNumber": number, "ETag": resp["ETag"], "ChecksumCRC32": crc}
            self.store._count("put", nbytes=len(data))
            if self.on_part:
                self.on_part(len(data))
        finally:
            self._sem.release()

    def _flush_part(self, data):
        if self._upload_id is None:
            self._start()
        number = len(self._futures) + 1
        if number > MAX_PARTS:
            raise StoreError(f"{self.store.where(self.rel)}: more than {MAX_PARTS} parts; raise the part size")
        self._sem.acquire()
        if self._error is not None:
            self._sem.release()
            raise self._error
        self._futures.append(self._pool.submit(self._upload, number, data))

    def write(self, data):
        if self._closed:
            raise ValueError("write to a closed MultipartWriter")
        if self._error is not None:
            raise self._error
        if not data:
            return 0
        self._sha.update(data)
        self._size += len(data)
        self._buf += data
        while len(self._buf) >= self.part_size:
            with memoryview(self._buf) as view:
                part = view[:self.part_size].tobytes()  # one copy, no temporary bytearray
            del self._buf[:self.part_size]
            self._flush_part(part)
        return len(data)

    def close(self):
        if self._closed:
            raise ValueError("MultipartWriter already closed")
        self._closed = True
        try:
            sha256 = self._sha.hexdigest()
            if self._upload_id is None:
                # smaller than one part: a single PUT, verified by the server against its SHA-256
                data = bytes(self._buf)
                self._buf = bytearray()
                put = self.store.put_bytes(self.rel, data, lock=self.lock, metadata=self.metadata,
                                           content_type=self.content_type, sha256=sha256)
                if self.on_part:
                    self.on_part(len(data))
                return {"key": self.rel, "size": self._size, "sha256": sha256, "parts": 1,
                        "version_id": put.get("version_id")}
            if self._buf:
                self._flush_part(bytes(self._buf))
                self._buf = bytearray()
            for f in self._futures:
                f.result()
            if self._error is not None:
                raise self._error
            parts = [self._parts[n] for n in sorted(self._parts)]
            try:
                done = self.store.client.complete_multipart_upload(
                    Bucket=self.store.bucket, Key=self.store.full(self.rel), UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts})
            except Exception as exc:
                raise self.store._err(exc, "CompleteMultipartUpload", self.rel) from exc
            return {"key": self.rel, "size": self._size, "sha256": sha256, "parts": len(parts),
                    "version_id": done.get("VersionId")}
        except BaseException:
            self.abort()
            raise
        finally:
            self._pool.shutdown(wait=True)

    def abort(self):
        """Abort the upload (best effort: an endpoint that is gone cannot be told; retention cleans up)."""
        self._closed = True
        if self._error is None:
            self._error = StoreError("upload aborted")
        for f in self._futures:
            f.cancel()
        self._pool.shutdown(wait=True)
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(StoreError):
                self.store.abort_multipart(self.rel, upload_id)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self._closed:
            self.abort()
