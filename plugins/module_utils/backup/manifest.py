# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""THE backup format of governed.odoo (versions 1 and 2): object layout, manifest, filestore index.

This file is the one description of the format in code; docs/backup-format.md is the same in
prose. backup, backup_verify, backup_retention and restore all read and write backups through the
functions below, never by building keys or parsing JSON themselves.

Layout in a bucket (every key below is relative to the store *root*, an optional key prefix that
lets one bucket hold several stores; ``root=""`` is the bucket itself)::

    filestore/sha1/ab/abcdef0123...           filestore object: the bytes of one Odoo attachment
                                              file, named by the SHA-1 of its content (Odoo's own
                                              store_fname is "ab/abcdef0123..."), shared by every
                                              backup, environment and database in the store
    filestore/enc-<key_id>/sha1/ab/abcdef...  the same, client-side encrypted with key <key_id>
                                              (each key has its own keyspace, so switching keys or
                                              turning encryption on never mixes formats)
    dbdata/plain/<backup_id>/<n>.dump[.zst]   (version 2) the data of ONE large table: a pg_dump
    dbdata/enc-<key_id>/<backup_id>/<n>...    --data-only custom archive, written by the backup
                                              <backup_id> and referenced by every later backup of
                                              the same database whose fingerprint of that table
                                              is the same (see tabledata.py): an unchanged table
                                              is never dumped or uploaded again
    backups/<environment>/<db_name>/<backup_id>/
        db.dump[.zst][.enc]                   pg_dump custom-format archive (format "custom"), or
        db.dir/<file>[.zst][.enc]             the files of a directory-format archive ("directory")
        filestore-index.jsonl.gz              which attachment files this backup holds (see below)
        manifest.json                         written LAST; its presence makes the backup exist

A backup is restorable if and only if its ``manifest.json`` exists and validates: listing the
restorable backups is listing ``backups/*/*/*/manifest.json``. Everything else under a backup
directory without a manifest is debris of an interrupted run (retention removes it after a grace
period). Filestore objects are written once and never changed; a second backup uploads only the
files the store does not hold yet.

``backup_id`` is ``YYYYMMDDTHHMMSSZ-xxxxxx`` (UTC start time, 6 random hex digits): ids sort by time.
``environment`` and ``db_name`` follow Odoo's database name rule ``[A-Za-z0-9][A-Za-z0-9_.-]*``.

Stored object transformations, applied in this order on write and undone in reverse on read:
``zst`` = one zstandard frame with a content checksum (database objects only; attachments are
mostly compressed already),
``enc`` = the chunked AES-256-GCM stream of crypto.py. Suffixes appear in the key and are repeated
in the manifest (``compression``, ``encryption``), so a reader never guesses.

manifest.json (UTF-8 JSON, one object; unknown keys are ignored by readers of the same
``format_version``; a ``format_version`` this reader does not know is refused)::

    format            "governed.odoo/backup"
    format_version    1, or 2 when ``objects`` holds "table-data" objects (a reader of version 1
                      refuses it: it could not restore the tables stored outside db.dump), or 3
                      when every object (and every filestore index entry) carries ``version_id``:
                      the S3 version the backup wrote or referenced. A version 3 reader reads
                      those versions only (GetObject with VersionId): a newer version written over
                      a pinned key, or a delete marker, changes nothing it reads and is reported
                      as tampering. Written whenever the bucket is versioned (object lock implies
                      versioning); readers of versions 1 and 2 would read the newest versions
    backup_id, environment, db_name
    started_at        time of the database snapshot (the backup's point in time), ISO 8601 UTC "Z"
    finished_at       time the manifest was sealed
    source            {environment, database, host, port, filestore_path, runner, tool}, and
                      filestore_s3 ("s3://bucket/prefix/db/", no credentials) when the attachments
                      were read from a bucket instead of a directory
    odoo              Odoo's own dump manifest fields, as odoo/service/db.py writes them:
                      {odoo_dump: "1", db_name, version, version_info, major_version, pg_version,
                      modules: {name: installed version}} plus database_uuid (ir_config_parameter)
    postgresql        {server_version, server_version_num, pg_dump_version, database_size,
                      encoding, collate, ctype}
    database          {format: "custom"|"directory", compression: "zstd"|"none",
                      compression_level, jobs, raw_size, tables: {table: rows}}  row counts are
                      exact, taken in the same snapshot as the dump ("schema.table" outside
                      public, bare name in public)
    filestore         {keyspace, index (key of the index), count, size (plain bytes), stored_size,
                      new_count, new_size, reused_count, missing: [store_fname...], scope}
    encryption        null, or {algorithm: "AES-256-GCM-STREAM-1", key_id, chunk_size}
    object_lock       null, or {mode: "COMPLIANCE"|"GOVERNANCE", days, retain_until}
                      retain_until applies to every object of the backup directory; filestore
                      objects carry their own (>=) date in the index
    objects           every object of the backup directory except manifest.json itself:
                      [{key, role: "dump"|"filestore-index", size, sha256, raw_size?,
                      raw_sha256?, version_id (version 3)}], and (version 2) one object per large table whose data is
                      not in db.dump: {key (under dbdata/), role: "table-data", table,
                      size, sha256, raw_size, rows, fingerprint, written_by (backup id that
                      dumped it), retain_until (its lock, or null)}. db.dump then holds the
                      schema, the small tables, sequences and everything else; a restore loads
                      pre-data from it, then its data and every table-data archive, then
                      post-data.  size/sha256 describe the bytes as stored; raw_size the
                      bytes pg_dump wrote (before compression and encryption). raw_sha256 is
                      optional (writers of this version omit it: the zstd frame carries a checksum
                      of its content, AES-GCM authenticates every chunk); a reader checks it when
                      present
    manifest_sha256   SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of the
                      manifest without this field: a reader detects any change to the manifest

filestore-index.jsonl.gz (gzip of JSON lines; its SHA-256 is in the manifest's ``objects``, so the
manifest covers every filestore object by checksum through it). Line 1 is a header
``{"format": "governed.odoo/filestore-index", "format_version": 1, "keyspace": ...}``; then one line
per file, sorted by fname::

    {"fname": "ab/abcdef...", "sha1": <hex of the plain content>, "size": <plain bytes>,
     "stored_size": <bytes in the store>, "sha256": <hex of the stored bytes>,
     "retain_until": <ISO time or null>, "version_id": <S3 version id (manifest version 3)>}

The object of an entry is ``filestore_key(sha1, key_id)``. ``fname`` is normally
``sha1[:2] + "/" + sha1``; when a source file's content did not match its name, the entry keeps
Odoo's fname (where restore writes it) and the real sha1 (where the store holds it).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import io
import json
import re
import secrets

from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ConfigError, ManifestError

FORMAT = "governed.odoo/backup"
FORMAT_VERSION = 1
FORMAT_VERSION_TABLES = 2  # written when the manifest has table-data objects
FORMAT_VERSION_PINNED = 3  # written when every object is pinned by its S3 version id (a versioned bucket)
FORMAT_VERSIONS = (FORMAT_VERSION, FORMAT_VERSION_TABLES, FORMAT_VERSION_PINNED)
INDEX_FORMAT = "governed.odoo/filestore-index"
INDEX_FORMAT_VERSION = 1

FILESTORE_ROOT = "filestore/"
DBDATA_ROOT = "dbdata/"
BACKUPS_ROOT = "backups/"
MANIFEST_NAME = "manifest.json"
INDEX_NAME = "filestore-index.jsonl.gz"
DUMP_BASENAME = "db.dump"
DUMP_DIRNAME = "db.dir"

ROLE_DUMP = "dump"
ROLE_INDEX = "filestore-index"
ROLE_TABLE = "table-data"
ROLES = (ROLE_DUMP, ROLE_INDEX, ROLE_TABLE)

DB_FORMATS = ("custom", "directory")
COMPRESSIONS = ("zstd", "none")
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BACKUP_ID_RE = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-f]{6})$")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# ---------------------------------------------------------------- names, ids, times


def check_name(value, what):
    """An environment or database name usable in a key (Odoo's database name rule)."""
    if not isinstance(value, str) or not NAME_RE.match(value) or len(value) > 63:
        raise ConfigError(f"{what} {value!r} is not a valid name: letters, digits, '_', '.', '-', "
                          "starting with a letter or digit, at most 63 characters", option=what)
    return value


def utcnow():
    return _dt.datetime.now(_dt.timezone.utc)


def format_time(value):
    """ISO 8601 UTC with a 'Z', whole seconds: the only time format of the manifest."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(_dt.timezone.utc).strftime(TIME_FORMAT)


def parse_time(value):
    if value is None:
        return None
    try:
        return _dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"not a manifest time: {value!r}") from exc


def new_backup_id(now=None):
    now = now or utcnow()
    return f"{now.astimezone(_dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def backup_id_time(backup_id):
    """The start time encoded in a backup id (no manifest read needed)."""
    m = BACKUP_ID_RE.match(backup_id or "")
    if not m:
        raise ManifestError(f"not a backup id: {backup_id!r}")
    return _dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)


# ---------------------------------------------------------------- keys


def filestore_keyspace(key_id=None):
    """Prefix of the content-addressed filestore objects: plain, or per encryption key."""
    if key_id is None:
        return FILESTORE_ROOT + "sha1/"
    if not KEY_ID_RE.match(key_id):
        raise ConfigError(f"not an encryption key id: {key_id!r}")
    return f"{FILESTORE_ROOT}enc-{key_id}/sha1/"


def filestore_key(sha1, key_id=None, keyspace=None):
    if not SHA1_RE.match(sha1 or ""):
        raise ValueError(f"not a SHA-1 hex digest: {sha1!r}")
    return (keyspace or filestore_keyspace(key_id)) + sha1[:2] + "/" + sha1


def dbdata_keyspace(key_id=None):
    """Prefix of the per-table data archives: plain, or per encryption key (like the filestore)."""
    if key_id is None:
        return DBDATA_ROOT + "plain/"
    if not KEY_ID_RE.match(key_id):
        raise ConfigError(f"not an encryption key id: {key_id!r}")
    return f"{DBDATA_ROOT}enc-{key_id}/"


def table_object_key(backup_id, number, compression, encrypted, key_id=None):
    """Key of the data archive of one table, written by ``backup_id`` (``number`` tells tables apart)."""
    if not BACKUP_ID_RE.match(backup_id or ""):
        raise ValueError(f"not a backup id: {backup_id!r}")
    suffix = (".zst" if compression == "zstd" else "") + (".enc" if encrypted else "")
    return f"{dbdata_keyspace(key_id)}{backup_id}/{int(number)}.dump{suffix}"


def sha1_from_key(key, keyspace):
    """The SHA-1 of a filestore object key, or None if the key is not a well-formed member of keyspace."""
    if not key.startswith(keyspace):
        return None
    rest = key[len(keyspace):]
    if len(rest) != 43 or rest[2] != "/":
        return None
    sha1 = rest[3:]
    return sha1 if SHA1_RE.match(sha1) and sha1[:2] == rest[:2] else None


def sha1_from_fname(fname):
    """Odoo's store_fname 'ab/abcdef...' gives the SHA-1 it claims; None for other layouts."""
    if not isinstance(fname, str) or len(fname) != 43 or fname[2] != "/":
        return None
    sha1 = fname[3:]
    return sha1 if SHA1_RE.match(sha1) and fname[:2] == sha1[:2] else None


def env_prefix(environment=None, db_name=None):
    """Prefix to list: every backup, one environment's, or one database's of an environment."""
    if environment is None:
        return BACKUPS_ROOT
    if db_name is None:
        return f"{BACKUPS_ROOT}{environment}/"
    return f"{BACKUPS_ROOT}{environment}/{db_name}/"


def backup_prefix(environment, db_name, backup_id):
    return f"{BACKUPS_ROOT}{environment}/{db_name}/{backup_id}/"


def manifest_key(environment, db_name, backup_id):
    return backup_prefix(environment, db_name, backup_id) + MANIFEST_NAME


def parse_backup_key(key):
    """(environment, db_name, backup_id, rest) for a key under backups/, or None."""
    if not key.startswith(BACKUPS_ROOT):
        return None
    parts = key[len(BACKUPS_ROOT):].split("/", 3)
    if len(parts) < 4 or not BACKUP_ID_RE.match(parts[2]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def dump_object_name(fmt, compression, encrypted, filename=None):
    """Key suffix (inside the backup directory) of a database object."""
    suffix = (".zst" if compression == "zstd" else "") + (".enc" if encrypted else "")
    if fmt == "custom":
        return DUMP_BASENAME + suffix
    if not filename or "/" in filename:
        raise ValueError(f"bad archive file name {filename!r}")
    return f"{DUMP_DIRNAME}/{filename}{suffix}"


# ---------------------------------------------------------------- manifest


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal(manifest):
    """Return a copy of ``manifest`` with ``manifest_sha256`` set over the rest of it."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    body["manifest_sha256"] = hashlib.sha256(canonical_json(body)).hexdigest()
    return body


def encode_manifest(manifest):
    """Bytes of manifest.json: sealed, pretty for the humans who will read it in a crisis."""
    return (json.dumps(seal(manifest), sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _require(cond, msg, **details):
    if not cond:
        raise ManifestError(msg, **details)


def validate_manifest(manifest, key=None):
    """Check structure and seal; return the manifest. Raises ManifestError naming the problem."""
    where = {"key": key} if key else {}
    _require(isinstance(manifest, dict), "manifest is not a JSON object", **where)
    _require(manifest.get("format") == FORMAT,
             f"not a governed.odoo backup manifest (format {manifest.get('format')!r})", **where)
    _require(manifest.get("format_version") in FORMAT_VERSIONS,
             f"manifest format_version {manifest.get('format_version')!r} is not supported (this reader: "
             f"{', '.join(str(v) for v in FORMAT_VERSIONS)})", **where)
    recorded = manifest.get("manifest_sha256")
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    actual = hashlib.sha256(canonical_json(body)).hexdigest()
    _require(recorded == actual, "manifest checksum mismatch: the manifest was altered or damaged",
             expected=recorded, actual=actual, **where)
    for field in ("backup_id", "environment", "db_name", "started_at", "finished_at", "odoo", "postgresql",
                  "database", "filestore", "objects"):
        _require(field in manifest, f"manifest lacks {field!r}", **where)
    _require(BACKUP_ID_RE.match(manifest["backup_id"] or ""), "manifest has a malformed backup_id", **where)
    parse_time(manifest["started_at"])
    parse_time(manifest["finished_at"])
    db = manifest["database"]
    _require(db.get("format") in DB_FORMATS, f"unknown database format {db.get('format')!r}", **where)
    _require(db.get("compression") in COMPRESSIONS, f"unknown compression {db.get('compression')!r}", **where)
    objs = manifest["objects"]
    _require(isinstance(objs, list) and objs, "manifest lists no objects", **where)
    prefix = backup_prefix(manifest["environment"], manifest["db_name"], manifest["backup_id"])
    for obj in objs:
        _require(isinstance(obj, dict) and isinstance(obj.get("key"), str), f"malformed object entry: {obj!r}",
                 **where)
        _require(obj.get("role") in ROLES, f"object with unknown role: {obj.get('key')}", **where)
        if obj["role"] == ROLE_TABLE:
            _require(manifest["format_version"] >= FORMAT_VERSION_TABLES,
                     f"table-data object in a format_version 1 manifest: {obj['key']}", **where)
            _require(obj["key"].startswith(DBDATA_ROOT) and ".." not in obj["key"].split("/"),
                     f"table-data object outside {DBDATA_ROOT}: {obj['key']}", **where)
            _require(isinstance(obj.get("table"), str) and obj["table"], f"table-data object without table: "
                     f"{obj['key']}", **where)
        else:
            _require(obj["key"].startswith(prefix), f"object entry outside the backup directory: {obj!r}", **where)
        _require(isinstance(obj.get("size"), int) and obj["size"] >= 0, f"object without size: {obj['key']}", **where)
        _require(SHA256_RE.match(obj.get("sha256") or ""), f"object without sha256: {obj['key']}", **where)
        if manifest["format_version"] >= FORMAT_VERSION_PINNED:
            _require(isinstance(obj.get("version_id"), str) and obj["version_id"] and obj["version_id"] != "null",
                     f"object without version_id in a format_version {manifest['format_version']} manifest: "
                     f"{obj['key']}", **where)
    _require(sum(1 for o in objs if o["role"] == ROLE_INDEX) == 1, "manifest must list one filestore index", **where)
    _require(any(o["role"] == ROLE_DUMP for o in objs), "manifest lists no database object", **where)
    enc = manifest.get("encryption")
    if enc is not None:
        _require(KEY_ID_RE.match(enc.get("key_id") or ""), "encryption entry without key_id", **where)
    lock = manifest.get("object_lock")
    if lock is not None:
        _require(lock.get("mode") in LOCK_MODES, f"unknown object lock mode {lock.get('mode')!r}", **where)
        parse_time(lock.get("retain_until"))
    return manifest


def decode_manifest(data, key=None):
    """Parse and validate manifest.json bytes."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc}", **({"key": key} if key else {})) from exc
    return validate_manifest(manifest, key=key)


class Manifest:
    """Read-only convenience view of a validated manifest dict (``.data`` is the dict itself).

    ``version_id``, ``newer_versions`` and ``hidden`` describe the manifest object it was read from
    (set by the store that read it): the version read, the versions written over it since, and
    whether a delete marker hides it.
    """

    def __init__(self, data, key=None):
        self.data = validate_manifest(data, key=key)
        self.key = key
        self.version_id = None
        self.newer_versions = ()
        self.hidden = False

    @property
    def pinned(self):
        """Whether every object is pinned by its version id (format version 3)."""
        return self.data["format_version"] >= FORMAT_VERSION_PINNED

    @classmethod
    def from_bytes(cls, data, key=None):
        return cls(decode_manifest(data, key=key), key=key)

    backup_id = property(lambda self: self.data["backup_id"])
    environment = property(lambda self: self.data["environment"])
    db_name = property(lambda self: self.data["db_name"])
    started_at = property(lambda self: parse_time(self.data["started_at"]))
    finished_at = property(lambda self: parse_time(self.data["finished_at"]))
    odoo = property(lambda self: self.data["odoo"])
    tables = property(lambda self: self.data["database"].get("tables") or {})
    encryption = property(lambda self: self.data.get("encryption"))
    object_lock = property(lambda self: self.data.get("object_lock"))

    @property
    def key_id(self):
        enc = self.encryption
        return enc["key_id"] if enc else None

    @property
    def prefix(self):
        return backup_prefix(self.environment, self.db_name, self.backup_id)

    @property
    def manifest_key(self):
        return self.prefix + MANIFEST_NAME

    @property
    def objects(self):
        return list(self.data["objects"])

    @property
    def dump_objects(self):
        return [o for o in self.data["objects"] if o["role"] == ROLE_DUMP]

    @property
    def table_objects(self):
        """The per-table data archives (format version 2), largest first as the backup wrote them."""
        return [o for o in self.data["objects"] if o["role"] == ROLE_TABLE]

    @property
    def database_objects(self):
        """Every object holding database content: db.dump (or its files) and the table archives."""
        return [o for o in self.data["objects"] if o["role"] in (ROLE_DUMP, ROLE_TABLE)]

    @property
    def index_object(self):
        return next(o for o in self.data["objects"] if o["role"] == ROLE_INDEX)

    @property
    def filestore_keyspace(self):
        return self.data["filestore"].get("keyspace") or filestore_keyspace(self.key_id)

    def summary(self):
        """What a listing shows: small, JSON-ready."""
        d = self.data
        return {
            "backup_id": d["backup_id"],
            "environment": d["environment"],
            "db_name": d["db_name"],
            "started_at": d["started_at"],
            "finished_at": d["finished_at"],
            "odoo_version": d["odoo"].get("version"),
            "database_stored_size": sum(o["size"] for o in self.database_objects),
            "filestore_count": d["filestore"].get("count"),
            "filestore_size": d["filestore"].get("size"),
            "encrypted": d.get("encryption") is not None,
            "object_lock": d.get("object_lock"),
            "manifest_key": self.manifest_key,
        }


# ---------------------------------------------------------------- filestore index


def index_entry(fname, sha1, size, stored_size, sha256, retain_until=None, version_id=None):
    entry = {"fname": fname, "sha1": sha1, "size": size, "stored_size": stored_size, "sha256": sha256,
             "retain_until": format_time(retain_until) if isinstance(retain_until, _dt.datetime) else retain_until}
    if version_id and version_id != "null":
        entry["version_id"] = version_id
    return entry


def encode_index(entries, keyspace, presorted=False):
    """Bytes of filestore-index.jsonl.gz for ``entries`` (dicts of index_entry), sorted by fname.

    With ``presorted`` the entries (any iterable, a generator too) are already in fname order and
    are consumed one at a time.
    """
    buf = io.BytesIO()
    # mtime=0: the same entries always give the same bytes
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        header = {"format": INDEX_FORMAT, "format_version": INDEX_FORMAT_VERSION, "keyspace": keyspace}
        gz.write(canonical_json(header) + b"\n")
        for entry in entries if presorted else sorted(entries, key=lambda e: e["fname"]):
            gz.write(canonical_json(entry) + b"\n")
    return buf.getvalue()


def iter_index(data, key=None):
    """(keyspace, generator of entries) from the bytes of an index, one entry at a time."""
    where = {"key": key} if key else {}
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ManifestError(f"filestore index is not readable: {exc}", **where) from exc
    lines = iter(text.splitlines())
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError) as exc:
        raise ManifestError("filestore index has no valid header", **where) from exc
    _require(header.get("format") == INDEX_FORMAT and header.get("format_version") == INDEX_FORMAT_VERSION,
             f"not a filestore index of a supported version: {header!r}", **where)

    def entries():
        for line in lines:
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError as exc:
                raise ManifestError(f"filestore index is not valid JSON lines: {exc}", **where) from exc
            _require(SHA1_RE.match(e.get("sha1") or "") and SHA256_RE.match(e.get("sha256") or "")
                     and isinstance(e.get("fname"), str), f"malformed filestore index entry: {e!r}", **where)
            yield e

    return header["keyspace"], entries()


def decode_index(data, key=None):
    """(keyspace, [entries]) from the bytes of an index (after its SHA-256 was checked)."""
    where = {"key": key} if key else {}
    try:
        lines = gzip.decompress(data).decode("utf-8").splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ManifestError(f"filestore index is not readable: {exc}", **where) from exc
    _require(lines, "filestore index is empty", **where)
    try:
        header = json.loads(lines[0])
        entries = [json.loads(line) for line in lines[1:] if line]
    except ValueError as exc:
        raise ManifestError(f"filestore index is not valid JSON lines: {exc}", **where) from exc
    _require(header.get("format") == INDEX_FORMAT and header.get("format_version") == INDEX_FORMAT_VERSION,
             f"not a filestore index of a supported version: {header!r}", **where)
    for e in entries:
        _require(SHA1_RE.match(e.get("sha1") or "") and SHA256_RE.match(e.get("sha256") or "")
                 and isinstance(e.get("fname"), str), f"malformed filestore index entry: {e!r}", **where)
    return header["keyspace"], entries


# ---------------------------------------------------------------- building


def build_manifest(*, backup_id, environment, db_name, started_at, finished_at, source, odoo, postgresql, database,
                   filestore, objects, encryption=None, object_lock=None):
    """Assemble a manifest dict (not yet sealed) and validate it as a reader would."""
    manifest = {
        "format": FORMAT,
        "format_version": format_version_for(objects),
        "backup_id": backup_id,
        "environment": environment,
        "db_name": db_name,
        "started_at": format_time(started_at),
        "finished_at": format_time(finished_at),
        "source": source,
        "odoo": odoo,
        "postgresql": postgresql,
        "database": database,
        "filestore": filestore,
        "encryption": encryption,
        "object_lock": object_lock,
        "objects": objects,
    }
    return validate_manifest(seal(manifest))


def format_version_for(objects):
    """The format version a writer gives a manifest with ``objects`` (pure).

    3 when every object carries its version id (the bucket is versioned: the readers must read
    those versions), else 2 with table-data objects, else 1. Version ids of only some objects are
    dropped: a reader could not tell a pinned object from one that is not.
    """
    if objects and all(o.get("version_id") and o["version_id"] != "null" for o in objects):
        return FORMAT_VERSION_PINNED
    for o in objects:
        o.pop("version_id", None)
    return FORMAT_VERSION_TABLES if any(o.get("role") == ROLE_TABLE for o in objects) else FORMAT_VERSION


def repin(manifest_data, versions, index_bytes):
    """The manifest of the same backup in another store: ``versions`` (key -> version id there) replace
    the version ids, ``index_bytes`` (that store's index, whose entries carry its version ids) replace
    the index object's size and checksum; sealed again (pure).

    Version ids are the store's own names for the bytes: a copy on a second endpoint has other ones,
    so its manifest differs from the primary's in those fields (and its seal), nothing else.
    """
    body = {k: v for k, v in manifest_data.items() if k != "manifest_sha256"}
    objects = []
    for obj in body["objects"]:
        obj = dict(obj)
        obj.pop("version_id", None)
        if obj["role"] == ROLE_INDEX:
            obj["size"] = len(index_bytes)
            obj["sha256"] = hashlib.sha256(index_bytes).hexdigest()
        vid = versions.get(obj["key"])
        if vid and vid != "null":
            obj["version_id"] = vid
        objects.append(obj)
    body["objects"] = objects
    body["format_version"] = format_version_for(objects)
    return validate_manifest(seal(body))
