# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit event of a restore into an inventory instance (docs/audit.md, kind ``restore``).

The migration-rehearsal gate (rule ``release.rehearsal``) reads these events: a staging instance whose
database is a neutralized copy of a production backup, restored at the record's time. So the event says
where the backup came from (instance, environment, database, backup id and when it was taken), where it
went (instance, environment, namespace, database, whether production), whether the copy was neutralized
(and that the neutralization verified), and that the restore succeeded. Pure: built from the result of
``governed.odoo.restore`` and the two instances' inventory facts, nothing read or written here.
"""

from __future__ import annotations

_INSTANCE_KEYS = ("instance", "environment", "database")


def _instance(value, what):
    if not isinstance(value, dict):
        raise ValueError(f"the {what} instance must be a mapping with instance, environment and database")
    missing = [k for k in _INSTANCE_KEYS if not value.get(k)]
    if missing:
        raise ValueError(f"the {what} instance needs {', '.join(missing)}")
    return value


def neutralized(result):
    """Whether the restore result shows a neutralized database whose neutralization verified."""
    mode = result.get("neutralize_mode")
    report = result.get("neutralization") if isinstance(result.get("neutralization"), dict) else {}
    verification = report.get("verification") if isinstance(report.get("verification"), dict) else {}
    return mode not in (None, "none") and verification.get("ok") is True


def restore_event(result, source, target, operator=None, operation="restore"):
    """The ``restore`` audit event of a successful ``governed.odoo.restore`` run.

    ``result``: what the module returned; ``source``/``target``: {instance, environment, database} (the
    target also namespace and production), as the inventory names them; ``operator``: who ran it.
    ``environment`` and ``instance`` at the top are the target's: the trail is read per instance.
    """
    if not isinstance(result, dict):
        raise ValueError("restore_event: expected the result of governed.odoo.restore")
    if result.get("failed"):
        raise ValueError("restore_event: the restore failed; a failed restore is no restore to record as one")
    src = _instance(source, "source")
    dst = _instance(target, "target")
    backup = result.get("backup") if isinstance(result.get("backup"), dict) else {}
    if not backup.get("id"):
        raise ValueError("restore_event: the result names no backup (backup.id)")
    switched = result.get("switched") is True
    event = {
        "kind": "restore",
        "operation": operation,
        "environment": dst["environment"],
        "instance": dst["instance"],
        "ok": switched,
        "neutralized": neutralized(result),
        "neutralize_mode": result.get("neutralize_mode"),
        "copy": bool(result.get("copy")) if result.get("copy") is not None else src["instance"] != dst["instance"],
        "source": {
            "instance": src["instance"],
            "environment": src["environment"],
            "database": src["database"],
            "backup": backup.get("id"),
            "backup_id": backup.get("backup_id"),
            "backup_created_at": backup.get("created_at"),
        },
        "target": {
            "instance": dst["instance"],
            "environment": dst["environment"],
            "namespace": dst.get("namespace"),
            "database": result.get("target_db") or dst["database"],
            "production": bool(result.get("target_production", dst.get("production", False))),
            "previous": result.get("previous"),
        },
    }
    if operator:
        event["operator"] = operator
    if not switched:
        event["reason"] = "the restored database was not switched in"
    return event
