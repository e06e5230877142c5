# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One restore: from a backup in the store to a verified database serving an environment.

The order is the safety argument; nothing live changes before step 9::

    1 select      the named backup, or the latest before a time (manifest validated, seal included),
                  found among object versions and read from its sealed version (a delete marker or a
                  newer version over it is reported, never followed)
    2 guard       target server is a primary; production overwrite needs the explicit flag;
                  PostgreSQL versions compatible; one restore per database at a time (advisory lock)
    3 preflight   every object exists with its recorded size (listing, no download); pinned objects
                  (format 3) by their version ids, which the fetch reads too
    4 fetch       dump to a private work directory, filestore files to the new database's
                  filestore directory, every object checked against its SHA-256 on the way
    5 restore     CREATE DATABASE <db>__restore_<ts>; pg_restore -j N into it
    6 verify      table list and row counts against the manifest; every attachment's file present
                  with the right SHA-1 and size (optionally: content hashes per table against a
                  reference database, attachments byte for byte against a reference filestore)
    7 identity    a copy gets a new database.uuid and database.secret
    8 neutralize  non-production targets: SQL mode or the `odoo neutralize` Job; then verified
    9 switch      filestore merged into the live directory, then one transaction renames
                  <db> -> <db>__prev_<ts> and <db>__restore_<ts> -> <db>; then the filestore is
                  pruned to match and the previous database kept or dropped

Any failure before step 9 drops the new database and its staging directory; the environment never
noticed. A process killed anywhere before the switch's COMMIT leaves the previous database serving
(the next run removes the leftovers under the same advisory lock). Check mode runs 1-3 and checks
every object's checksum (4 without writing), then reports the plan.

``GOVERNED_ODOO_RESTORE_PAUSE_AT=<point>:<marker file>`` is a fault-injection seam for tests: at
``<point>`` (``after_fetch``, ``during_pg_restore``, ``before_switch_commit``) the run writes the
marker file and sleeps, so a test can SIGKILL it at a known place.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.backup.dbload import DatabaseLoad
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.restore import dbops, fetch, pgtools, selection, tablecheck
from ansible_collections.governed.odoo.plugins.module_utils.restore import filestore as fsmod
from ansible_collections.governed.odoo.plugins.module_utils.restore import neutralize as nz
from ansible_collections.governed.odoo.plugins.module_utils.restore import targetenv as tenv
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import (
    DatabaseError,
    IntegrityError,
    RefusedError,
    RestoreError,
    VerificationError,
)
from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import client_env, connect

PAUSE_ENV = "GOVERNED_ODOO_RESTORE_PAUSE_AT"
NEUTRALIZE_MODES = ("auto", "sql", "job", "none")
_PRODUCTION = re.compile(r"^(prod|production|prd)([-_].*)?$", re.IGNORECASE)


@dataclass
class Options:
    """What to restore, where, and how (the module's options, minus connection plumbing)."""

    environment: str
    db_name: str
    target: dict
    backup_id: str = None
    before: str = None
    encryption_key: bytes = None
    target_db: str = None
    target_environment: str = None
    target_production: bool = None
    target_namespace: str = None  # the instance's namespace: its labels overrule a non-production claim
    allow_production_overwrite: bool = False
    copy: bool = None
    neutralize: str = "auto"
    dummy_mail_server: str = "active"
    job: dict = None
    kube_client_factory: object = None
    filestore_path: str = None
    filestore_s3: dict = None
    filestore_prune: bool = None
    keep_previous: bool = True
    switch: bool = True
    jobs: int = 2
    workers: int = 8
    owner: str = None
    work_dir: str = None
    pg_bin_dir: str = None
    compare_to: dict = None
    audit_log: str = None
    actor: str = None
    progress_log: str = None
    progress_stream: object = None
    stamp: str = None
    check_mode: bool = False
    cleanup_leftovers: bool = True


@dataclass
class Phases:
    items: list = field(default_factory=list)

    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.monotonic()
        entry = {"name": name, "seconds": None}
        self.items.append(entry)
        try:
            yield entry
        finally:
            entry["seconds"] = round(time.monotonic() - t0, 3)


def is_production(environment):
    return bool(environment) and bool(_PRODUCTION.match(environment))


def utc_stamp(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S")


def resolve_modes(opts):
    """(production, copy, neutralize mode) from the options (pure). Refuses impossible combinations."""
    production = opts.target_production if opts.target_production is not None else is_production(
        opts.target_environment)
    if opts.neutralize not in NEUTRALIZE_MODES:
        raise RefusedError(f"neutralize must be one of {', '.join(NEUTRALIZE_MODES)}")
    copy = opts.copy
    if copy is None:
        copy = not (production and (opts.target_environment in (None, opts.environment)))
    if production:
        if opts.neutralize in ("sql", "job"):
            raise RefusedError("a production target is not neutralized: neutralize must be 'auto' or 'none'")
        mode = "none"
    else:
        if opts.neutralize == "none":
            raise RefusedError("non-production targets are always neutralized (neutralize: auto, sql or job); "
                               "mark the target as production to restore it as it is")
        mode = opts.neutralize
        if mode == "auto":
            mode = "job" if (opts.job or {}).get("image") else "sql"
    return production, copy, mode


def audit_record(event, opts, live, backup, server, extra=None):
    record = {
        "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event": event,
        "actor": opts.actor or os.environ.get("SUDO_USER") or _whoami(),
        "host": socket.gethostname(),
        "target": {"server": server, "database": live, "environment": opts.target_environment},
        "backup": backup.get("id"),
        "allow_production_overwrite": bool(opts.allow_production_overwrite),
    }
    record.update(extra or {})
    return record


def _whoami():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def write_audit(path, record):
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _pause(point):
    spec = os.environ.get(PAUSE_ENV, "")
    if not spec or ":" not in spec:
        return
    want, marker = spec.split(":", 1)
    if want != point:
        return
    with open(marker, "w", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(300)


def _server_label(params):
    return f"{params.get('login_host') or 'local'}:{params.get('login_port') or 5432}"


def _backup_error(exc):
    """Map the backup package's errors to ours (integrity problems stay integrity problems)."""
    if exc.kind in ("integrity", "encryption", "manifest"):
        return IntegrityError(exc.msg, **exc.details)
    return RestoreError(exc.msg, **exc.details)


class Restore:
    """One run. ``store`` is a module_utils.backup.store.BackupStore."""

    def __init__(self, store, opts):
        self.store = store
        self.opts = opts
        self.phase = Phases()
        self.result = {"changed": False, "switched": False, "warnings": []}
        self.admin = None
        self.target_fs = None
        self._uploaded = []
        self._upload_lock = threading.Lock()
        if opts.filestore_path and opts.filestore_s3:
            raise RefusedError("filestore_path and filestore_s3 are exclusive: the filestore is in one place")
        if opts.filestore_path:
            self.target_fs = fsmod.PathTarget(opts.filestore_path)
        elif opts.filestore_s3:
            s3 = dict(opts.filestore_s3)
            client = s3.pop("client", None)
            if client is None:
                from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client

                client = s3client.make_client({k: s3.get(k) for k in s3client.S3_OPTION_KEYS})
            self.target_fs = fsmod.S3Target(client, s3.get("bucket"), s3.get("prefix") or "",
                                            s3.get("per_database", True))
        # pruning the live filestore after the switch: on by default on a file system (the previous
        # files stay in the __prev_ snapshot), off in a bucket (nothing to snapshot them into)
        self.prune = opts.filestore_prune if opts.filestore_prune is not None else \
            (self.target_fs is not None and self.target_fs.kind == "path")

    @property
    def on_disk(self):
        return self.target_fs is not None and self.target_fs.kind == "path"

    # ------------------------------------------------------------------------------------------
    def run(self):
        try:
            return self._run()
        except BackupError as exc:
            err = _backup_error(exc)
            self._attach(err)
            raise err from exc
        except RestoreError as exc:
            self._attach(exc)
            raise
        finally:
            self.result["phases"] = self.phase.items
            if self.admin is not None:
                with contextlib.suppress(Exception):
                    self.admin.close()

    def _run(self):
        o = self.opts
        res = self.result
        live = dbops.check_db_name(o.target_db or o.db_name)
        production, copy, mode = resolve_modes(o)
        if o.target_namespace:  # a caller cannot downgrade a target the cluster labels production
            res["target_namespace"] = tenv.check(o.kube_client_factory, o.target_namespace, production,
                                                 is_production)
        res.update({"target_db": live, "target_production": production, "copy": copy, "neutralize_mode": mode})

        with self.phase("select backup"):
            _ref, manifest = selection.load(self.store, o.environment, o.db_name, o.backup_id, o.before)
            backup = selection.describe(manifest)
            backup["store"] = self.store.where()
            res["backup"] = backup
            res["warnings"].extend(selection.warnings(self.store, manifest))
            keyspace, entries = self.store.read_index(manifest)

        with self.phase("guard"):
            self.admin = connect(o.target, dbname=o.target.get("db") or "postgres")
            info = dbops.server_info(self.admin)
            if info["in_recovery"]:
                raise RefusedError("the target server is a replica (in recovery): restore into the primary")
            dbops.restore_lock(self.admin, live)
            live_exists = dbops.database_exists(self.admin, live)
            res["target_exists"] = live_exists
            holds_data = production and live_exists and dbops.has_user_tables(o.target, live)
            if holds_data and not o.allow_production_overwrite:
                raise RefusedError(
                    f"{live} on {_server_label(o.target)} is a production database and exists: refusing to "
                    "overwrite it without allow_production_overwrite=true (the flag is recorded in the audit log)",
                    database=live)
            pg_restore = pgtools.find_binary("pg_restore", o.pg_bin_dir, info["major"])
            pr_major = pgtools.tool_version(pg_restore)[0]
            pginfo = manifest.data.get("postgresql") or {}
            notes = pgtools.check_compatible(
                pr_major, pgtools.major_of(pginfo.get("pg_dump_version")),
                pgtools.major_of(pginfo.get("server_version_num") or pginfo.get("server_version")), info["major"])
            res["warnings"].extend(notes)
            if manifest.encryption and o.encryption_key is None:
                raise RefusedError(f"backup {manifest.backup_id} is encrypted (key id {manifest.key_id}): "
                                   "encryption_key is required")
            stamp = base_stamp = o.stamp or utc_stamp()
            n = 1
            while dbops.database_exists(self.admin, dbops.previous_name(live, stamp)):
                n += 1  # a restore of the same database in the same second (tests, retries)
                stamp = f"{base_stamp}_{n}"
            candidate = dbops.candidate_name(live, stamp)
            previous = dbops.previous_name(live, stamp)
            owner = o.owner or (dbops.database_owner(self.admin, live) if live_exists else None)
            login_user = o.target.get("login_user") or _whoami()
            plan = {
                "backup": backup["id"],
                "restore_into": candidate,
                "then_switch": o.switch,
                "live_database": live,
                "previous_kept_as": previous if (live_exists and o.keep_previous and o.switch) else None,
                "previous_dropped": bool(live_exists and not o.keep_previous and o.switch),
                "filestore": self.target_fs.describe(live) if self.target_fs else None,
                "neutralize": mode,
                "new_identity": copy,
                "owner": owner or login_user,
                "pg_restore": pg_restore,
                "jobs": o.jobs,
            }
            res["plan"] = plan
            if production and live_exists:
                event = "production_overwrite_authorized" if holds_data else \
                    "production_empty_database_replace_authorized"
                res["audit"] = audit_record(event, o, live, backup, _server_label(o.target),
                                            {"previous_kept_as": plan["previous_kept_as"]})

        with self.phase("preflight"):
            res["preflight"] = fetch.preflight(self.store, manifest, entries, keyspace)
            if res["preflight"]["tampered"]:
                res["warnings"].append(
                    f"{res['preflight']['tampered_count']} object(s) of backup {manifest.backup_id} were written over "
                    "or hidden since the backup (tampering); the pinned versions are restored: "
                    + "; ".join(res["preflight"]["tampered"][:5]))

        if o.check_mode:
            with self.phase("verify every object"):
                res["verified_objects"] = self._verify_only(manifest, entries, keyspace)
            res["changed"] = True
            return res

        if o.cleanup_leftovers:
            res["leftovers_removed"] = self._cleanup_leftovers(live)

        work = tempfile.mkdtemp(prefix="governed-odoo-restore-", dir=o.work_dir)
        if self.on_disk:
            staging = self.target_fs.prepare_staging(candidate)
        elif self.target_fs is not None:
            staging = os.path.join(work, "files")  # files in flight to the bucket
        else:
            staging = None
        switched = False
        self._owner = owner
        progress = self._progress(manifest, entries)
        try:
            with progress, self.phase("fetch and restore"):
                dump_path, files = self._fetch_and_restore(manifest, entries, keyspace, work, staging, candidate,
                                                           owner if owner and owner != login_user else None,
                                                           pg_restore, progress)
            res["progress"] = progress.summary()
            res["fetched"] = {"dump": dump_path and os.path.basename(dump_path), "filestore": files}
            shutil.rmtree(work, ignore_errors=True)

            cconn = connect(o.target, dbname=candidate)
            try:
                with self.phase("verify database"):
                    res["database"] = self._verify_database(cconn, manifest)
                with self.phase("verify attachments"):
                    res["attachments"] = self._verify_attachments(cconn, manifest, staging)
                with self.phase("identity and neutralization"):
                    res["neutralization"] = self._neutralize(cconn, candidate, mode, copy, manifest)
            finally:
                cconn.close()

            if not o.switch:
                res["changed"] = True
                res["restored_database"] = candidate
                res["warnings"].append(f"switch=false: {candidate} is restored and verified, the environment still "
                                       f"uses {live}")
                return res

            with self.phase("switch"):
                if res.get("audit"):
                    write_audit(o.audit_log, res["audit"])
                if self.on_disk:
                    res["filestore_switch"] = {"snapshot": self.target_fs.snapshot(live, previous)["snapshot"]}
                    res["filestore_switch"].update(self.target_fs.merge(candidate, live))
                elif self.target_fs is not None:
                    res["filestore_switch"] = {"uploaded": len(self._uploaded)}
                _pause("before_switch_commit")
                res["switch"] = dbops.switch(self.admin, live, candidate, previous)
                switched = True
                res["changed"] = True
                res["switched"] = True
            with self.phase("after switch"):
                self._after_switch(live, candidate, previous, entries, res)
            if res.get("audit"):
                done = dict(res["audit"], event=res["audit"]["event"].replace("_authorized", "_done"),
                            previous_kept_as=res.get("previous"))
                write_audit(o.audit_log, done)
                res["audit"] = done
            return res
        except BaseException:
            if not switched:
                self._discard(candidate, live, previous)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _attach(self, exc):
        """What was known when it failed goes with the error (reports use it)."""
        self.result["phases"] = self.phase.items
        for key in ("backup", "plan", "phases", "preflight", "target_db", "source_latest_write", "switched"):
            if key in self.result and key not in exc.details:
                exc.details[key] = self.result[key]

    # ------------------------------------------------------------------------------------------
    def _progress(self, manifest, entries):
        from ansible_collections.governed.odoo.plugins.module_utils.backup.progress import Progress

        total = sum(ob["size"] for ob in manifest.database_objects) + sum(e["stored_size"] for e in entries)
        label = f"restore {manifest.environment}/{manifest.db_name}/{manifest.backup_id}"
        stream = self.opts.progress_stream if self.opts.progress_stream is not None else _Quiet()
        return Progress(label, total=total, interval=5.0, log_path=self.opts.progress_log, stream=stream)

    def _verify_only(self, manifest, entries, keyspace):
        """Check mode: every database object (dump and table-data archives) and filestore object, checked."""
        key = self.opts.encryption_key
        dump_bytes = sum(fetch.fetch_dump_object(self.store, manifest, ob, None, key)["size"]
                         for ob in manifest.dump_objects)
        table_bytes = sum(fetch.fetch_dump_object(self.store, manifest, ob, None, key)["size"]
                          for ob in manifest.table_objects)
        files = fetch.fetch_filestore(self.store, entries, keyspace, None, key if manifest.encryption else None,
                                      workers=self.opts.workers, strict=True)
        return {"dump_objects": len(manifest.dump_objects), "dump_bytes": dump_bytes,
                "table_objects": len(manifest.table_objects), "table_bytes": table_bytes,
                "filestore_files": files["files"], "filestore_bytes": files["bytes"]}

    def _fetch_and_restore(self, manifest, entries, keyspace, work, staging, candidate, role, pg_restore, progress):
        o = self.opts
        key = o.encryption_key
        file_key = key if manifest.encryption else None
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="restore") as pool:
            files_future = None
            if staging is not None and self.on_disk:
                files_future = pool.submit(fetch.fetch_filestore, self.store, entries, keyspace, staging, file_key,
                                           progress, o.workers)
            elif staging is not None:
                files_future = pool.submit(self._fill_bucket, entries, keyspace, staging, file_key, progress)
            try:
                dump_path, _objs = fetch.fetch_dump(self.store, manifest, work, key, progress)
                _pause("after_fetch")
                self._create_candidate(candidate, manifest)
                restore_thread_error = []

                def restore():
                    try:
                        self._load(manifest, dump_path, candidate, role, pg_restore, progress)
                    except BaseException as exc:
                        restore_thread_error.append(exc)

                t = threading.Thread(target=restore, name="pg_restore", daemon=True)
                t.start()
                _pause("during_pg_restore")
                t.join()
                if restore_thread_error:
                    raise restore_thread_error[0]
            except BaseException:
                if files_future is not None:
                    files_future.cancel()
                raise
            files = files_future.result() if files_future is not None else None
        return dump_path, files

    def _load(self, manifest, dump_path, candidate, role, pg_restore, progress):
        """pg_restore of db.dump (or db.dir), and the table archives of a version 2 backup (backup/dbload.py)."""
        o = self.opts
        base = pgtools.restore_command(pg_restore, candidate, dump_path, jobs=1, role=role)[:-1]
        env = client_env(o.target, dbname=candidate)
        env["PGAPPNAME"] = "governed.odoo pg_restore"
        load = DatabaseLoad(self.store, manifest, dump_path, base, env,
                            key=o.encryption_key if manifest.encryption else None, jobs=o.jobs, progress=progress)
        try:
            return load.run()
        except BackupError as exc:
            if exc.kind in ("integrity", "encryption", "manifest"):
                raise  # mapped to an IntegrityError by run()
            raise DatabaseError(f"restoring {manifest.backup_id} into {candidate} failed: {exc.msg}",
                                database=candidate, **exc.details) from exc

    def _fill_bucket(self, entries, keyspace, staging, file_key, progress):
        """Add the backup's files missing under the live database's keys, each checked, then uploaded."""
        live = self.result["target_db"]
        present = self.target_fs.list_files(live)

        def skip(entry):
            return present.get(entry["fname"]) == entry["size"]

        def upload(entry, path):
            self.target_fs.upload(live, entry["fname"], path)
            with self._upload_lock:
                self._uploaded.append(entry["fname"])
            os.unlink(path)

        out = fetch.fetch_filestore(self.store, entries, keyspace, staging, file_key, progress, self.opts.workers,
                                    skip=skip, on_file=upload)
        out["uploaded"] = len(self._uploaded)
        return out

    def _create_candidate(self, candidate, manifest):
        pg = manifest.data.get("postgresql") or {}
        owner = self._owner
        locale = pg.get("collate") if pg.get("collate") and pg.get("collate") == pg.get("ctype") else None
        encoding = pg.get("encoding") or "UTF8"
        try:
            dbops.create_database(self.admin, candidate, owner=owner, encoding=encoding, locale=locale)
        except RestoreError:
            if locale is None:
                raise
            dbops.create_database(self.admin, candidate, owner=owner, encoding=encoding)
            self.result["warnings"].append(f"locale {locale} of the source is not available on the target server; "
                                           "the restored database uses the server's default")

    def _verify_database(self, cconn, manifest):
        o = self.opts
        recorded = manifest.tables
        # content hashes recorded by the backup (same algorithm as tablecheck), when the format has them
        recorded_hashes = manifest.data["database"].get("table_hashes") or {}
        hashes = bool(o.compare_to) or bool(recorded_hashes)
        fp = tablecheck.fingerprint(cconn, hashes=hashes)
        out = {"tables": len(fp), "rows": sum(v["rows"] for v in fp.values())}
        if recorded_hashes:
            expected = {t: {"rows": recorded.get(t), "hash": h} for t, h in recorded_hashes.items()}
            vs_hashes = tablecheck.compare(expected, fp, hashes=True)
            vs_hashes["reference"] = "backup manifest (content hashes in the dump's snapshot)"
            out["manifest_hashes"] = vs_hashes
            if not vs_hashes["ok"]:
                raise VerificationError("the restored database does not match the content hashes of the backup: "
                                        + _mismatch_text(vs_hashes), database=vs_hashes)
        if recorded:
            vs_manifest = tablecheck.compare(recorded, fp, hashes=False)
            vs_manifest["reference"] = "backup manifest (row counts in the dump's snapshot)"
            out["manifest"] = vs_manifest
            if not vs_manifest["ok"]:
                raise VerificationError(
                    "the restored database does not match the backup's manifest: "
                    + _mismatch_text(vs_manifest), database=vs_manifest)
        else:
            out["manifest"] = None
            self.result["warnings"].append("the manifest records no table row counts: tables not compared")
        if o.compare_to:
            src = connect(o.compare_to, dbname=o.compare_to.get("db"))
            try:
                source_fp = tablecheck.fingerprint(src, hashes=True)
                latest = tablecheck.latest_write(src)
            finally:
                src.close()
            vs_source = tablecheck.compare(source_fp, fp, hashes=True)
            vs_source["reference"] = f"source database {o.compare_to.get('db')} on {_server_label(o.compare_to)}"
            out["source"] = vs_source
            out["source_latest_write"] = {"at": latest["at"].isoformat() if latest["at"] else None,
                                          "basis": latest["basis"]}
            self.result["source_latest_write"] = out["source_latest_write"]
            if not vs_source["ok"]:
                raise VerificationError("the restored database differs from the reference database: "
                                        + _mismatch_text(vs_source), database=vs_source)
        out["fingerprint_sha256"] = tablecheck.digest_of(fp)
        return out

    def _verify_attachments(self, cconn, manifest, staging):
        if staging is None:
            self.result["warnings"].append("no filestore_path or filestore_s3: the filestore was not restored")
            return None
        ref = (self.opts.compare_to or {}).get("filestore_path")
        missing = manifest.data["filestore"].get("missing") or []
        if self.on_disk:
            report = fsmod.check_attachments(cconn, staging, reference_dir=ref, expected_missing=missing,
                                             workers=max(2, min(8, self.opts.workers)))
        else:
            live = self.result["target_db"]
            report = fsmod.check_attachments_listing(cconn, self.target_fs.list_files(live), missing,
                                                     where=self.target_fs.describe(live))
        if missing:
            self.result["warnings"].append(f"{len(missing)} attachment file(s) were already missing on the source "
                                           "when the backup was taken")
        if not report["ok"]:
            raise VerificationError(f"attachments of the restored database are not right: {report['problems'][:5]}",
                                    attachments=report)
        return report

    def _neutralize(self, cconn, candidate, mode, copy, manifest):
        before = nz.read_identity(cconn)
        out = {"mode": mode}
        if copy:
            renewed = nz.renew_identity(cconn)
            out["identity"] = {"new_uuid": renewed["uuid"], "previous_uuid": before.get(nz.PARAM_UUID),
                               "secret": "renewed"}
        if mode == "sql":
            applied = nz.apply_sql(cconn, dummy_mail_server=self.opts.dummy_mail_server)
            out["sql"] = {"rows": applied["rows"], "autovacuum_cron_ids": applied["autovacuum_cron_ids"],
                          "autovacuum_found_by": applied["autovacuum_found_by"]}
        elif mode == "job":
            out["job"] = self._run_neutralize_job(candidate, manifest)
        if mode != "none":
            out["verification"] = nz.verify(cconn, before=before, expect_copy=copy)
        return out

    def _run_neutralize_job(self, candidate, manifest):
        from ansible_collections.governed.odoo.plugins.module_utils.restore import k8sjob

        job = dict(self.opts.job or {})
        for required in ("namespace", "image"):
            if not job.get(required):
                raise RefusedError(f"neutralize mode 'job' needs job.{required}")
        if bool(job.get("config_secret")) == bool(job.get("config_configmap")):
            raise RefusedError("neutralize mode 'job' needs exactly one of job.config_secret and job.config_configmap")
        version = job.get("odoo_version") or (manifest.data.get("odoo") or {}).get("major_version") \
            or (manifest.data.get("odoo") or {}).get("version")
        stamp = self.opts.stamp or utc_stamp()
        manifest_obj = nz.render_neutralize_job(
            name=nz.job_name(self.opts.target_db or self.opts.db_name, stamp), namespace=job["namespace"],
            image=job["image"], db_name=candidate, config_secret=job.get("config_secret"),
            config_configmap=job.get("config_configmap"), env_from=job.get("env_from"),
            config_key=job.get("config_key") or "odoo.conf", odoo_version=version, command=job.get("command"),
            odoo_bin=job.get("odoo_bin") or "odoo", annotations=job.get("annotations"),
            service_account=job.get("service_account"), env=job.get("env"),
            node_selector=job.get("node_selector"), tolerations=job.get("tolerations"),
            run_as_user=job.get("run_as_user"))
        if self.opts.kube_client_factory is None:
            raise RefusedError("neutralize mode 'job' needs a Kubernetes connection")
        client = self.opts.kube_client_factory()
        return k8sjob.run_job(client, manifest_obj, timeout=int(job.get("timeout") or 1800))

    def _after_switch(self, live, candidate, previous, entries, res):
        o = self.opts
        previous_exists = bool(res["switch"].get("previous"))
        res["previous"] = previous if previous_exists else None
        if self.target_fs is not None:
            try:
                if self.prune:
                    res["filestore_switch"].update(self.target_fs.prune(live, {e["fname"] for e in entries}))
                if self.on_disk:
                    self.target_fs.remove(candidate)
            except (OSError, RestoreError) as exc:
                res["warnings"].append(f"the switch succeeded, but tidying the filestore failed: {exc}")
        if previous_exists and not o.keep_previous:
            try:
                dbops.drop_database(self.admin, previous)
                if self.on_disk:
                    self.target_fs.remove(previous)
                res["previous"] = None
                res["previous_dropped"] = previous
            except (RestoreError, OSError) as exc:
                res["warnings"].append(f"the switch succeeded, but dropping {previous} failed: {exc}")
        if not previous_exists and self.on_disk:
            self.target_fs.remove(previous)

    def _discard(self, candidate, live, previous):
        """Undo a run that did not switch: the new database and its files go, nothing else."""
        with contextlib.suppress(Exception):
            if candidate:
                dbops.drop_database(self.admin, candidate)
        if self.target_fs is not None and not self.on_disk and self._uploaded:
            # only files this run added (they were missing): the previous database references none of them
            with contextlib.suppress(Exception):
                self.target_fs.delete(live, self._uploaded)
        if self.on_disk:
            with contextlib.suppress(Exception):
                self.target_fs.remove(candidate)
            with contextlib.suppress(Exception):
                if not dbops.database_exists(self.admin, previous):
                    self.target_fs.remove(previous)

    def _cleanup_leftovers(self, live):
        """Candidates of killed runs (safe: we hold the advisory lock for ``live``)."""
        removed = []
        for name in dbops.list_databases(self.admin, lambda n: dbops.is_leftover_of(live, n)):
            dbops.drop_database(self.admin, name)
            removed.append(name)
        if self.on_disk:
            for name in self.target_fs.leftovers(lambda n: dbops.is_leftover_of(live, n)):
                self.target_fs.remove(name)
                removed.append(f"filestore/{name}")
            for name in self.target_fs.leftovers(lambda n: n.startswith(f"{live}{dbops.PREVIOUS_INFIX}")):
                if not dbops.database_exists(self.admin, name):
                    self.target_fs.remove(name)
                    removed.append(f"filestore/{name}")
        return removed


class _Quiet:
    """A stream that drops progress lines (the module result carries the summary)."""

    def write(self, text):
        return len(text)

    def flush(self):
        return None


def _mismatch_text(cmp):
    parts = []
    if cmp.get("missing"):
        parts.append("missing tables " + ", ".join(cmp["missing"][:10]))
    if cmp.get("extra"):
        parts.append("unexpected tables " + ", ".join(cmp["extra"][:10]))
    for t in cmp.get("tables", []):
        if not t["ok"]:
            if not t["rows_ok"]:
                parts.append(f"{t['table']}: {t['rows']} rows instead of {t['expected_rows']}")
            else:
                parts.append(f"{t['table']}: content differs")
        if len(parts) > 12:
            parts.append("...")
            break
    return "; ".join(parts)


def run(store, opts):
    """Restore per ``opts`` from ``store``; returns the result dict (see Restore)."""
    return Restore(store, opts).run()
