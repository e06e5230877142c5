# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backup to restore: a named one, or the latest whose snapshot is not after a given time.

A backup exists only through its manifest (module_utils/backup/manifest.py): candidates are the
manifests listed in the store, never directories without one. The newest candidate is chosen
first and its manifest must validate; a damaged newest manifest is an error, not a reason to
quietly restore something older (name the older backup explicitly to do that).

Candidates come from a listing of object *versions* (store.list_backups): a manifest hidden by a
delete marker is still a candidate, so deleting the newest manifest never rolls "latest" back to
an older backup; it is chosen, read from its sealed version and reported (:func:`warnings`). The
manifest read is always its first version, whatever was written over it since.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError, ManifestError
from ansible_collections.governed.odoo.plugins.module_utils.restore.drill import parse_time
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import BackupNotFound, IntegrityError


def choose(refs, backup_id=None, before=None):
    """Pick one of ``refs`` (objects with ``backup_id`` and ``started_at``), pure.

    ``before`` is a datetime (or ISO text): the newest backup whose snapshot time is at or before it.
    """
    refs = sorted(refs, key=lambda r: (r.started_at, r.backup_id))
    if backup_id:
        for ref in refs:
            if ref.backup_id == backup_id:
                return ref
        raise BackupNotFound(f"backup {backup_id} is not in the store (no manifest under that id)",
                             backup_id=backup_id, available=[r.backup_id for r in refs[-10:]])
    limit = parse_time(before) if before is not None else None
    eligible = [r for r in refs if limit is None or r.started_at <= limit]
    if not eligible:
        what = f"taken at or before {limit.isoformat()}" if limit else "at all"
        raise BackupNotFound(f"no restorable backup {what}", before=before,
                             oldest=refs[0].backup_id if refs else None)
    return eligible[-1]


def load(store, environment, db_name, backup_id=None, before=None):
    """(BackupRef, Manifest) of the chosen backup; the manifest is validated (seal included)."""
    try:
        refs = store.list_backups(environment, db_name)
    except BackupError as exc:
        raise BackupNotFound(f"cannot list backups of {environment}/{db_name} in {store.where()}: {exc.msg}",
                             **exc.details) from exc
    if not refs:
        raise BackupNotFound(f"no restorable backup of {environment}/{db_name} in {store.where()}",
                             environment=environment, db_name=db_name)
    ref = choose(refs, backup_id=backup_id, before=before)
    try:
        manifest = store.read_manifest(ref.environment, ref.db_name, ref.backup_id, ref=ref)
    except ManifestError as exc:
        raise IntegrityError(f"the manifest of backup {ref.backup_id} is damaged or invalid, nothing was restored: "
                             f"{exc.msg}", backup_id=ref.backup_id, **exc.details) from exc
    except BackupError as exc:
        raise IntegrityError(f"cannot read the manifest of backup {ref.backup_id}: {exc.msg}",
                             backup_id=ref.backup_id, **exc.details) from exc
    return ref, manifest


def warnings(store, manifest):
    """What was done to the chosen manifest, for the result's warnings (naming it)."""
    out = []
    key = store.full(manifest.manifest_key)
    if manifest.hidden:
        out.append(f"the manifest of backup {manifest.backup_id} ({key}) is hidden by a delete marker: it was found "
                   f"among the object versions and its sealed version {manifest.version_id} is used")
    if manifest.newer_versions:
        out.append(f"{len(manifest.newer_versions)} newer version(s) were written over the sealed manifest of backup "
                   f"{manifest.backup_id} ({key}): ignored, the sealed version {manifest.version_id} is used "
                   "(someone with write access to the store altered it; see backup_verify)")
    return out


def describe(manifest):
    """What a result and a drill report show about the backup (pure)."""
    d = manifest.data
    summary = manifest.summary()
    return {
        "id": f"{d['environment']}/{d['db_name']}/{d['backup_id']}",
        "backup_id": d["backup_id"],
        "environment": d["environment"],
        "db_name": d["db_name"],
        "created_at": d["started_at"],
        "finished_at": d["finished_at"],
        "odoo_version": (d.get("odoo") or {}).get("version"),
        "odoo_major": (d.get("odoo") or {}).get("major_version"),
        "pg_version": (d.get("postgresql") or {}).get("server_version"),
        "dump_format": d["database"].get("format"),
        "dump_bytes": summary.get("database_stored_size"),
        "filestore_files": d["filestore"].get("count"),
        "filestore_bytes": d["filestore"].get("size"),
        "encrypted": d.get("encryption") is not None,
        "tables_recorded": len(d["database"].get("tables") or {}),
        "manifest_key": manifest.manifest_key,
        "manifest_version_id": manifest.version_id,
        "hidden_by_delete_marker": manifest.hidden,
        "pinned": manifest.pinned,
    }


__all__ = ["choose", "describe", "fmt", "load", "warnings"]
