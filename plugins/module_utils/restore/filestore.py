# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restored filestore in Odoo's layout, and its switch together with the database.

Odoo keeps a database's attachments in ``<data_dir>/filestore/<db name>/ab/abcdef...``. A
restore writes the checked files into the directory of the *new* database's name
(``filestore/<db>__restore_<ts>``, exactly where Odoo would look for that database), and the
switch then makes them the live database's files without a moment where either database misses
one:

1. before the database switch: the live directory is snapshotted as ``filestore/<db>__prev_<ts>``
   (hard links, no copy), then every restored file missing from the live directory is linked
   into it. Names are content hashes, so a file present under the same name is the same file
   (its size is compared, and a different one is replaced). The live directory now serves both
   the old and the new database;
2. the database switch (one transaction, dbops.switch);
3. after it: files of the live directory that the restored database does not have are removed
   (they stay in the ``__prev_`` snapshot with the previous database), and the staging directory
   is removed.

Killed before 2, the old database is served with all of its files; killed between 2 and 3, the
new database is served with all of its files plus some extra ones. Either way Odoo works, and the
next restore cleans up.

:func:`check_attachments` is the verification: every ``ir_attachment.store_fname`` of a database
has its file, with the SHA-1 of its name and the ``checksum`` and ``file_size`` of its row, and --
given a reference directory (the source filestore) -- the same bytes as the reference file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RestoreError

CHUNK = 1024 * 1024
TMP_SUFFIX = ".governed-tmp"


class PathTarget:
    """Odoo's filestore on a file system (the data_dir, mounted where the module runs)."""

    kind = "path"

    def __init__(self, data_dir):
        if not data_dir:
            raise RestoreError("filestore_path is required for a filestore restore")
        self.data_dir = os.path.abspath(data_dir)
        self.root = os.path.join(self.data_dir, "filestore")

    def db_dir(self, db):
        if not db or "/" in db or db in (".", ".."):
            raise RestoreError(f"unsafe database name for a filestore directory: {db!r}")
        return os.path.join(self.root, db)

    def describe(self, db):
        return self.db_dir(db)

    def exists(self, db):
        return os.path.isdir(self.db_dir(db))

    def list_files(self, db):
        """fname -> size of every file under the database's directory."""
        base = self.db_dir(db)
        out = {}
        if not os.path.isdir(base):
            return out
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.endswith(TMP_SUFFIX) or name.endswith(".part"):
                    continue
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, base).replace(os.sep, "/")] = os.path.getsize(path)
        return out

    def prepare_staging(self, candidate):
        path = self.db_dir(candidate)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(path, mode=0o750)
        return path

    def remove(self, db):
        path = self.db_dir(db)
        if os.path.exists(path):
            shutil.rmtree(path)
            return True
        return False

    def leftovers(self, is_leftover):
        if not os.path.isdir(self.root):
            return []
        return sorted(n for n in os.listdir(self.root) if is_leftover(n))

    # -- the switch ------------------------------------------------------------------------------
    def snapshot(self, live, previous):
        """Hard-link copy of ``live`` as ``previous`` (a real copy across file systems)."""
        src, dst = self.db_dir(live), self.db_dir(previous)
        if not os.path.isdir(src):
            return {"snapshot": None, "files": 0}
        if os.path.exists(dst):
            shutil.rmtree(dst)
        count = 0
        for dirpath, _dirs, files in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            os.makedirs(os.path.join(dst, rel), exist_ok=True)
            for name in files:
                if name.endswith(TMP_SUFFIX):
                    continue
                _link_or_copy(os.path.join(dirpath, name), os.path.join(dst, rel, name))
                count += 1
        return {"snapshot": dst, "files": count}

    def merge(self, candidate, live):
        """Link every file of ``candidate`` into ``live`` unless it is there already (same size)."""
        src, dst = self.db_dir(candidate), self.db_dir(live)
        os.makedirs(dst, mode=0o750, exist_ok=True)
        added = replaced = kept = 0
        for dirpath, _dirs, files in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            os.makedirs(os.path.join(dst, rel), exist_ok=True)
            for name in files:
                s = os.path.join(dirpath, name)
                d = os.path.join(dst, rel, name)
                try:
                    same = os.path.getsize(d) == os.path.getsize(s)
                    exists = True
                except OSError:
                    same, exists = False, False
                if same:
                    kept += 1
                    continue
                tmp = d + TMP_SUFFIX
                if os.path.exists(tmp):
                    os.unlink(tmp)
                _link_or_copy(s, tmp)
                os.replace(tmp, d)
                if exists:
                    replaced += 1
                else:
                    added += 1
        return {"added": added, "replaced": replaced, "already_present": kept}

    def prune(self, live, keep):
        """Remove files of ``live`` whose fname is not in ``keep``; empty directories too."""
        base = self.db_dir(live)
        removed = 0
        for fname in self.list_files(live):
            if fname not in keep:
                os.unlink(os.path.join(base, fname))
                removed += 1
        for dirpath, dirs, files in os.walk(base, topdown=False):
            if dirpath != base and not dirs and not files:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        return {"removed": removed}

    def open(self, db, fname):
        return open(os.path.join(self.db_dir(db), fname), "rb")

    def file_path(self, db, fname):
        return os.path.join(self.db_dir(db), fname)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
ATTACHMENT_QUERY_CHECKSUM = (
    "SELECT id, store_fname, checksum, file_size FROM ir_attachment WHERE store_fname IS NOT NULL "
    "AND store_fname <> '' ORDER BY id"
)
ATTACHMENT_QUERY_PLAIN = (
    "SELECT id, store_fname, NULL, NULL FROM ir_attachment WHERE store_fname IS NOT NULL "
    "AND store_fname <> '' ORDER BY id"
)


def attachment_rows(conn):
    """(id, store_fname, checksum, file_size) of every attachment stored in the filestore."""
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = 'ir_attachment'")
        cols = {r[0] for r in cur.fetchall()}
        if "store_fname" not in cols:
            return []
        cur.execute(ATTACHMENT_QUERY_CHECKSUM if {"checksum", "file_size"} <= cols else ATTACHMENT_QUERY_PLAIN)
        return cur.fetchall()


def _hash_and_compare(path, ref_path):
    """(sha1, size, same_as_reference or None): one pass over the file, one over the reference."""
    h = hashlib.sha1()  # noqa: S324 - Odoo's content address
    size = 0
    same = None
    ref = open(ref_path, "rb") if ref_path else None  # noqa: SIM115 - closed below
    try:
        if ref is not None:
            same = True
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(CHUNK)
                if ref is not None and same:
                    other = ref.read(len(chunk)) if chunk else ref.read(1)
                    if other != chunk:
                        same = False
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
    finally:
        if ref is not None:
            ref.close()
    return h.hexdigest(), size, same


def check_attachments(conn, files_dir, reference_dir=None, expected_missing=(), workers=4, max_problems=200):
    """Check every filestore attachment of the database on ``conn`` against ``files_dir``.

    ``expected_missing`` are fnames the backup recorded as missing on the source (reported, not
    failed here: a drill report turns any file not checked into a failure). Returns ``{"ok", "checked",
    "referenced", "bytes", "problems", "missing_at_source", "reference"}``; ``referenced`` is the number of
    distinct files the database references, ``checked`` how many of them were verified.
    """
    rows = attachment_rows(conn)
    expected_missing = set(expected_missing or ())
    by_fname = {}
    for att_id, fname, checksum, file_size in rows:
        by_fname.setdefault(fname, []).append((att_id, checksum, file_size))
    problems, missing_at_source = [], []

    def one(item):
        fname, atts = item
        safe = fname if fname and not fname.startswith("/") and ".." not in fname.split("/") else None
        if safe is None:
            return fname, None, [f"{fname!r}: unsafe store_fname"]
        path = os.path.join(files_dir, safe)
        if not os.path.isfile(path):
            if fname in expected_missing:
                return fname, None, "missing-at-source"
            return fname, None, [f"{fname}: file missing (attachment id {atts[0][0]})"]
        ref_path = None
        issues = []
        if reference_dir is not None:
            ref_path = os.path.join(reference_dir, safe)
            if not os.path.isfile(ref_path):
                issues.append(f"{fname}: not in the reference filestore")
                ref_path = None
        sha1, size, same = _hash_and_compare(path, ref_path)
        claimed = fmt.sha1_from_fname(fname)
        if claimed and claimed != sha1:
            issues.append(f"{fname}: content SHA-1 is {sha1}")
        for att_id, checksum, file_size in atts:
            if checksum and checksum != sha1:
                issues.append(f"{fname}: attachment {att_id} checksum {checksum} but content SHA-1 {sha1}")
            if file_size is not None and int(file_size) != size:
                issues.append(f"{fname}: attachment {att_id} file_size {file_size} but {size} bytes on disk")
        if same is False:
            issues.append(f"{fname}: bytes differ from the reference file")
        return fname, size, issues

    total_bytes = 0
    checked = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="attcheck") as pool:
        for fname, size, issues in pool.map(one, sorted(by_fname.items())):
            if issues == "missing-at-source":
                missing_at_source.append(fname)
                continue
            if size is not None:
                checked += 1
                total_bytes += size
            if issues and len(problems) < max_problems:
                problems.extend(issues[: max_problems - len(problems)])
            elif issues:
                problems.append("...")
    return {
        "ok": not problems,
        "checked": checked,
        "referenced": len(by_fname),
        "attachments": len(rows),
        "bytes": total_bytes,
        "problems": problems,
        "missing_at_source": missing_at_source,
        "reference": f"reference filestore {reference_dir} (byte for byte)" if reference_dir
        else "content SHA-1 against file name and ir_attachment.checksum",
    }


# --------------------------------------------------------------------------------------------
# Filestore in a bucket (Odoo with attachments in object storage)
# --------------------------------------------------------------------------------------------
class S3Target:
    """Attachments in a bucket: ``<prefix><db>/<fname>`` (``per_database``) or ``<prefix><fname>``.

    The switch is simpler than on a file system: restored files are *added* under the live
    database's keys before the database switch (only those missing: a key is a content hash, the
    same key is the same file), so the old database keeps every file it references and the new one
    finds all of its own. After the switch, ``prune`` deletes keys the restored database does not
    reference; in a versioned bucket (governed.odoo's attachment buckets are) they stay as noncurrent
    versions until the bucket's lifecycle expires them.
    """

    kind = "s3"

    def __init__(self, client, bucket, prefix="", per_database=True):
        if not bucket:
            raise RestoreError("filestore_s3.bucket is required")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix or ""
        self.per_database = per_database

    def base(self, db):
        if self.per_database:
            if not db or "/" in db:
                raise RestoreError(f"unsafe database name for a filestore prefix: {db!r}")
            return f"{self.prefix}{db}/"
        return self.prefix

    def key(self, db, fname):
        return self.base(db) + fname

    def describe(self, db):
        return f"s3://{self.bucket}/{self.base(db)}"

    def list_files(self, db):
        """fname -> size of every object under the database's prefix."""
        base = self.base(db)
        out = {}
        token = None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": base, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            try:
                page = self.client.list_objects_v2(**kw)
            except Exception as exc:
                raise RestoreError(f"cannot list {self.describe(db)}: {exc}") from exc
            for obj in page.get("Contents") or []:
                out[obj["Key"][len(base):]] = obj["Size"]
            if not page.get("IsTruncated"):
                return out
            token = page.get("NextContinuationToken")

    def upload(self, db, fname, path, sha256_hex=None):
        """PUT one checked file; the server verifies its SHA-256 before storing it."""
        if sha256_hex is None:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    h.update(chunk)
            sha256_hex = h.hexdigest()
        import base64

        kw = {"Bucket": self.bucket, "Key": self.key(db, fname),
              "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")}
        try:
            with open(path, "rb") as fh:
                self.client.put_object(Body=fh, **kw)
        except Exception as exc:
            raise RestoreError(f"cannot upload {fname} to {self.describe(db)}: {exc}") from exc

    def delete(self, db, fnames):
        fnames = sorted(fnames)
        for start in range(0, len(fnames), 1000):
            batch = [{"Key": self.key(db, f)} for f in fnames[start:start + 1000]]
            try:
                resp = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise RestoreError(f"cannot delete objects under {self.describe(db)}: {exc}") from exc
            errors = resp.get("Errors") or []
            if errors:
                raise RestoreError(f"the object store refused to delete {len(errors)} object(s) under "
                                   f"{self.describe(db)}: {errors[0].get('Code')} {errors[0].get('Message')}")
        return {"removed": len(fnames)}

    def prune(self, db, keep):
        extra = [f for f in self.list_files(db) if f not in keep]
        return self.delete(db, extra)


def check_attachments_listing(conn, listing, expected_missing=(), where="", max_problems=200):
    """Every filestore attachment of the database is an object of ``listing`` (fname -> size) with its size.

    The contents were checked when they were fetched (SHA-256 of the stored object, SHA-1 of the
    content) and again by the object store when they were uploaded (SHA-256).
    """
    expected_missing = set(expected_missing or ())
    problems, missing_at_source = [], []
    checked, total = set(), 0
    rows = attachment_rows(conn)
    for att_id, fname, checksum, file_size in rows:
        if fname in expected_missing:
            missing_at_source.append(fname)
            continue
        size = listing.get(fname)
        if size is None:
            problems.append(f"{fname}: object missing (attachment id {att_id})")
        elif file_size is not None and int(file_size) != size:
            problems.append(f"{fname}: attachment {att_id} file_size {file_size} but the object has {size} bytes")
        else:
            claimed = fmt.sha1_from_fname(fname)
            if claimed and checksum and checksum != claimed:
                problems.append(f"{fname}: attachment {att_id} checksum {checksum} differs from its name")
            elif fname not in checked:
                checked.add(fname)
                total += size
        if len(problems) >= max_problems:
            problems.append("...")
            break
    return {
        "ok": not problems,
        "checked": len(checked),
        "referenced": len({r[1] for r in rows}),
        "attachments": len(rows),
        "bytes": total,
        "problems": problems,
        "missing_at_source": sorted(set(missing_at_source)),
        "reference": f"objects under {where} (sizes; contents checked by SHA-256 and SHA-1 on the way)",
    }
