# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applies retention to a store: expired backups, debris of interrupted runs, unreferenced
filestore objects and unreferenced table-data objects. Decisions come from retention.py (pure);
this file only observes and acts.

Safety rules, in the order they are enforced:

* A backup is removed manifest first: the moment anything of it is gone, it is no longer listed
  as restorable. If the server refuses to delete the manifest (object lock), nothing else of that
  backup is touched and the refusal is reported with the lock's mode and date.
* Object lock is never bypassed. Locked shared objects (filestore, table-data) are not even
  attempted: their retain-until date is read first and they are reported as locked.
* A filestore object is garbage only if NO manifest in the whole store references it (every
  environment and database, kept backups and backups whose deletion was refused) and it is older
  than the grace period (a running backup's new files have no manifest yet). If any manifest or
  index cannot be read, filestore garbage collection is skipped for this run, with a warning.
* Table-data objects (format version 2, under ``dbdata/``) are shared the same way: a later backup
  references the object an earlier one wrote while the table did not change, so deleting a backup
  never deletes them (they are outside its directory). One is garbage only if no surviving
  manifest of the whole store lists it among its ``table-data`` objects and it is older than the
  grace period; an unreadable manifest skips this collection for the run, with a warning. It runs
  whatever ``gc_filestore`` says: it is the database data of the deleted backups.
* Incomplete multipart uploads older than the grace period are aborted, under ``backups/`` (of the
  environment/database in scope) and under ``dbdata/``.
* Deletion is by version (lock-enabled buckets are versioned; a plain DELETE only hides).
* Check mode computes the same plan and deletes nothing.
"""

from __future__ import annotations

import datetime as _dt
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import retention
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError, ObjectLocked

MAX_LISTED = 200  # cap on per-object lists in results


def _locked(mode, until, now):
    return mode is not None and until is not None and until > now


def _group_refs(refs):
    groups = {}
    for r in refs:
        groups.setdefault((r.environment, r.db_name), []).append(r)
    return groups


def _dir_lock_state(store, prefix, now):
    """Versions under a backup directory and the latest lock among them."""
    versions = store.list_versions(prefix)
    locked_until, locked_mode = None, None
    for key, vid, is_marker, _t in versions:
        if is_marker:
            continue
        mode, until = store.retention_of(key, vid)
        if _locked(mode, until, now) and (locked_until is None or until > locked_until):
            locked_until, locked_mode = until, mode
    return versions, locked_mode, locked_until


def run_retention(store, policy, environment=None, db_name=None, check_mode=False, gc_filestore=True,
                  grace=_dt.timedelta(hours=24), now=None, workers=8):
    """Apply ``policy`` to the backups of ``environment``/``db_name`` (all when None). Returns a report."""
    now = now or fmt.utcnow()
    refs = store.list_backups()
    groups = _group_refs(refs)
    report = {
        "check_mode": check_mode,
        "policy": policy.as_dict(),
        "kept": [],
        "deleted": [],
        "locked": [],
        "refused": [],
        "incomplete_deleted": [],
        "incomplete_locked": [],
        "uploads_aborted": [],
        "filestore": _gc_section(),
        "dbdata": _gc_section(),
        "warnings": [],
    }
    to_delete = []
    for (env, db), grefs in sorted(groups.items()):
        if environment is not None and env != environment:
            continue
        if db_name is not None and db != db_name:
            continue
        keep, delete = retention.gfs([(r.backup_id, r.started_at) for r in grefs], policy)
        by_id = {r.backup_id: r for r in grefs}
        for bid in sorted(keep, reverse=True):
            report["kept"].append({"environment": env, "db_name": db, "backup_id": bid, "reasons": keep[bid]})
        for bid in delete:
            to_delete.append(by_id[bid])

    # 1. expired backups ---------------------------------------------------------------------
    survivors = {(r.environment, r.db_name, r.backup_id) for r in refs}
    for ref in to_delete:
        prefix = fmt.backup_prefix(ref.environment, ref.db_name, ref.backup_id)
        versions, mode, until = _dir_lock_state(store, prefix, now)
        item = {"environment": ref.environment, "db_name": ref.db_name, "backup_id": ref.backup_id,
                "objects": len(versions)}
        if until is not None:
            item.update({"lock_mode": mode, "retain_until": fmt.format_time(until)})
        if check_mode:
            (report["locked"] if until is not None else report["deleted"]).append(item)
            if until is None:
                survivors.discard((ref.environment, ref.db_name, ref.backup_id))
            continue
        manifest_versions = [(k, v) for k, v, _m, _t in versions if k.endswith("/" + fmt.MANIFEST_NAME)]
        others = [(k, v) for k, v, _m, _t in versions if not k.endswith("/" + fmt.MANIFEST_NAME)]
        # the manifest first: the server's answer decides (a locked manifest is refused, and reported)
        _deleted, refused = store.delete_versions(manifest_versions, workers=workers)
        if refused:
            item["server_refused"] = refused[0]["message"]
            report["locked"].append(item)
            continue
        if until is not None:
            # manifest deleted but other objects locked: never happens when all objects share the
            # backup's lock; report, the locked parts stay until their date and are debris then
            item["partially_locked"] = True
        survivors.discard((ref.environment, ref.db_name, ref.backup_id))
        _deleted, refused = store.delete_versions(others, workers=workers)
        if refused:
            item["refused_objects"] = refused[:MAX_LISTED]
            report["refused"].append(item)
        report["deleted"].append(item)

    # 2. debris of interrupted runs ----------------------------------------------------------
    dirs = store.scan_backup_dirs(environment, db_name)
    states = {k: (d["has_manifest"], d["newest"]) for k, d in dirs.items()}
    for env, db, bid in retention.incomplete_backups(states, now, grace):
        prefix = fmt.backup_prefix(env, db, bid)
        item = {"environment": env, "db_name": db, "backup_id": bid, "objects": len(dirs[(env, db, bid)]["keys"])}
        if check_mode:
            report["incomplete_deleted"].append(item)
            continue
        _deleted, refused = store.delete_all_versions(prefix, workers=workers)
        if refused:
            item["refused_objects"] = len(refused)
            report["incomplete_locked"].append(item)
        else:
            report["incomplete_deleted"].append(item)
    for prefix in (fmt.env_prefix(environment, db_name), fmt.DBDATA_ROOT):
        _abort_stale_uploads(store, prefix, report, now, grace, check_mode)

    # 3. shared objects no surviving manifest references: filestore, table data ---------------
    manifests, unreadable = _surviving_manifests(store, refs, survivors, workers)
    if unreadable is not None:
        report["dbdata"]["skipped"] = (f"manifest {unreadable} is unreadable; no table-data object is deleted in "
                                       "this run")
        report["warnings"].append(report["dbdata"]["skipped"])
    else:
        referenced = {o["key"] for m in manifests for o in m.table_objects}
        _gc_objects(store, fmt.DBDATA_ROOT, referenced, report["dbdata"], report, now, grace, check_mode, workers,
                    "table-data")
    if not gc_filestore:
        report["filestore"]["skipped"] = "gc_filestore is off"
    elif unreadable is not None:
        report["filestore"]["skipped"] = (f"manifest {unreadable} is unreadable; no filestore object is deleted in "
                                          "this run")
        report["warnings"].append(report["filestore"]["skipped"])
    else:
        _collect_garbage(store, manifests, report, now, grace, check_mode, workers)

    report["changed"] = bool(report["deleted"] or report["incomplete_deleted"] or report["uploads_aborted"]
                             or report["filestore"]["deleted"] or report["dbdata"]["deleted"])
    return report


def _gc_section():
    return {"deleted": 0, "locked": 0, "skipped": None, "deleted_keys": [], "locked_keys": []}


def _abort_stale_uploads(store, prefix, report, now, grace, check_mode):
    for up in store.list_multipart_uploads(prefix):
        initiated = up.get("initiated")
        if initiated is not None and initiated.tzinfo is None:
            initiated = initiated.replace(tzinfo=_dt.timezone.utc)
        if initiated is not None and initiated > now - grace:
            continue  # may belong to a running backup
        if not check_mode:
            store.abort_multipart(up["key"], up["upload_id"])
        report["uploads_aborted"].append({"key": store.full(up["key"]), "initiated": fmt.format_time(initiated)
                                          if initiated else None})


def _surviving_manifests(store, refs, survivors, workers):
    """(manifests of the surviving backups, None), or (None, "env/db/id (reason)") if one is unreadable."""
    alive = [r for r in refs if (r.environment, r.db_name, r.backup_id) in survivors]

    def read(ref):
        try:
            return store.read_manifest(ref.environment, ref.db_name, ref.backup_id, ref=ref), None
        except BackupError as exc:
            return None, f"of {ref.environment}/{ref.db_name}/{ref.backup_id} ({exc.msg})"

    if not alive:
        return [], None
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(alive)))) as pool:
        results = list(pool.map(read, alive))
    for _m, problem in results:
        if problem is not None:
            return None, problem
    return [m for m, _p in results], None


def _collect_garbage(store, manifests, report, now, grace, check_mode, workers):
    """Filestore objects that no surviving manifest's index lists (every keyspace)."""
    fsr = report["filestore"]
    referenced = set()
    for m in manifests:
        try:
            keyspace, entries = store.read_index(m)
        except BackupError as exc:
            fsr["skipped"] = (f"index of {m.environment}/{m.db_name}/{m.backup_id} is unreadable ({exc.msg}); no "
                              "filestore object is deleted in this run")
            report["warnings"].append(fsr["skipped"])
            return
        for e in entries:
            referenced.add(fmt.filestore_key(e["sha1"], keyspace=keyspace))
    _gc_objects(store, fmt.FILESTORE_ROOT, referenced, fsr, report, now, grace, check_mode, workers, "filestore")


def _gc_objects(store, root, referenced, section, report, now, grace, check_mode, workers, what):
    """Delete every version of the objects under ``root`` not in ``referenced`` and older than ``grace``.

    Locked versions are not attempted (reported in ``section["locked_keys"]`` with their date); a key's
    delete markers go only once every version of it is gone. ``section`` is filled like
    ``report["filestore"]``.
    """
    versions = store.list_versions(root)
    newest = {}
    for key, _vid, _marker, mtime in versions:
        if key not in newest or mtime > newest[key]:
            newest[key] = mtime
    garbage = set(retention.filestore_garbage(newest, referenced, now, grace))
    if not garbage:
        return
    candidates = [(k, v) for k, v, marker, _t in versions if k in garbage and not marker]
    markers = [(k, v) for k, v, marker, _t in versions if k in garbage and marker]

    def lock_of(item):
        key, vid = item
        mode, until = store.retention_of(key, vid)
        return item, _locked(mode, until, now), until

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        states = list(pool.map(lock_of, candidates))
    free = [item for item, locked, _u in states if not locked]
    locked = [(item, until) for item, locked, until in states if locked]
    section["locked"] = len(locked)
    section["locked_keys"] = [{"key": store.full(k), "retain_until": fmt.format_time(u)}
                              for (k, _v), u in locked][:MAX_LISTED]
    locked_keys = {k for (k, _v), _u in locked}
    if check_mode:
        section["deleted"] = len({k for k, _v in free} - locked_keys)
        section["deleted_keys"] = sorted({store.full(k) for k, _v in free if k not in locked_keys})[:MAX_LISTED]
        return
    deleted, refused = store.delete_versions(free, workers=workers)
    # delete markers only of keys whose every version is gone
    deleted_keys = {store.rel(d["key"]) for d in deleted}
    refused_keys = {store.rel(r["key"]) for r in refused}
    gone = deleted_keys - refused_keys - locked_keys
    # a key left with delete markers only (its versions went in an earlier run) loses them too
    markers_only = garbage - {k for k, _v in candidates}
    store.delete_versions([(k, v) for k, v in markers if k in gone or k in markers_only], workers=workers)
    section["deleted"] = len(gone)
    section["deleted_keys"] = sorted(store.full(k) for k in gone)[:MAX_LISTED]
    if refused:
        section["locked"] += len(refused)
        section["locked_keys"] += [{"key": r["key"], "server_refused": r["message"]} for r in refused][:MAX_LISTED]
        report["warnings"].append(f"the object store refused to delete {len(refused)} {what} object version(s) "
                                  "(object lock)")


__all__ = ["ObjectLocked", "run_retention"]
