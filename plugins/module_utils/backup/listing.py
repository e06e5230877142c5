# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lists the backups of a store the way an operator asks for them: newest first, each with its time, size, whether
its manifest is sealed (it validates, its own SHA-256 included) and whether it is under object lock now.

One listing of object versions finds the backups (a manifest hidden by a delete marker, or with a version written
over it, is listed and says so: store.list_backups); then per backup one read of its pinned manifest and one
GetObjectRetention of that version. Nothing is written.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError


def _size(manifest):
    """Bytes the backup holds in the store: its database objects, filestore index and filestore objects."""
    d = manifest.data
    own = sum(o["size"] for o in d["objects"])
    files = d["filestore"].get("stored_size") or 0
    return own + files


def describe(store, ref, now):
    """One backup (a store.BackupRef) as a listing shows it."""
    item = ref.as_dict()
    item.update(sealed=False, locked=False, lock_mode=None, retain_until=None, size=None)
    try:
        m = store.read_manifest(ref.environment, ref.db_name, ref.backup_id, ref=ref)
    except BackupError as exc:
        item["error"] = exc.msg
    else:
        summary = m.summary()
        item.update(
            sealed=True,
            finished_at=summary["finished_at"],
            odoo_version=summary["odoo_version"],
            size=_size(m),
            database_size=summary["database_stored_size"],
            filestore_count=summary["filestore_count"],
            filestore_size=summary["filestore_size"],
            encrypted=summary["encrypted"],
            format_version=m.data["format_version"],
        )
    mode, until = store.retention_of(ref.manifest_key, ref.version_id)
    if mode and until is not None:
        item.update(lock_mode=mode, retain_until=fmt.format_time(until), locked=until > now)
    item["tampered"] = ref.tampered
    return item


def list_backups(store, environment, db_name=None, now=None):
    """The backups of ``environment`` (and ``db_name``), newest first."""
    now = now or fmt.utcnow()
    refs = store.list_backups(environment, db_name)
    return [describe(store, ref, now) for ref in reversed(refs)]


def human_size(n):
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return None  # pragma: no cover


def line(item):
    """One backup as one line of text: id, start time, size, sealed, lock, tampering."""
    sealed = "sealed" if item["sealed"] else f"NOT SEALED ({item.get('error', 'unreadable')})"
    if item["locked"]:
        lock = f"locked {item['lock_mode']} until {item['retain_until']}"
    elif item.get("retain_until"):
        lock = f"lock lapsed {item['retain_until']}"
    else:
        lock = "not locked"
    out = f"{item['backup_id']}  {item['started_at']}  {human_size(item['size'])}  {sealed}  {lock}"
    if item.get("hidden_by_delete_marker"):
        out += "  TAMPERED (manifest hidden by a delete marker)"
    elif item.get("tampered"):
        out += "  TAMPERED (manifest written over)"
    return out
