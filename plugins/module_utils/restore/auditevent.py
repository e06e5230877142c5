# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit event of a restore into an inventory instance (docs/audit.md, kind ``restore``).

The migration-rehearsal gate (rule ``release.rehearsal``) reads these events: a staging instance whose
database is a neutralized copy of a production backup, restored at the record's time. So the event says
where the backup came from (instance, environment, database, backup id and when it was taken), where it
went (instance, environment, namespace, database, whether production), whether the copy was neutralized
(and that the neutralization verified), and the outcome: ``succeeded`` (``ok`` true) or ``failed`` with the
reason (a failed restore is recorded too: every restore path writes exactly one record). Pure: built from the
result of ``governed.odoo.restore`` (or the failure that stopped the restore) and the two instances' inventory
facts, nothing read or written here.
"""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.errors import MASK, mask

_INSTANCE_KEYS = ("instance", "environment", "database")
REASON_MAX = 1000
# credentials that a failure message can carry despite the modules' no_log masking: a URL's userinfo, and
# key=value / key: value pairs of a connection string or a command line
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"(?P<key>\b(?:password|passwd|pgpassword|secret|secret_key|access_key|api_key|token|encryption_key)"
    r"\s*[=:]\s*)(?P<quote>['\"]?)[^\s'\",;]+", re.IGNORECASE)


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


def redact(text, secrets=()):
    """``text`` without the given secret values and without credentials in URLs or key=value pairs, shortened."""
    out = mask(text or "", secrets, shortest=4)
    out = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", out)
    out = _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['quote']}{MASK}", out)
    return out if len(out) <= REASON_MAX else out[: REASON_MAX - 3] + "..."


def restore_event(result, source, target, operator=None, operation="restore", failure=None, secrets=()):
    """The ``restore`` audit event of one run of ``governed.odoo.restore``, succeeded or failed.

    ``result``: what the module returned (``{}`` or None when the run stopped before it); ``source``/``target``:
    {instance, environment, database} (the target also namespace and production), as the inventory names them;
    ``operator``: who ran it. ``failure``: why the restore failed when a step failed (the module's or a later
    step's message); a result that failed gives its own ``msg``. ``secrets``: values that must not appear in the
    recorded reason (passwords, keys). ``environment`` and ``instance`` at the top are the target's: the trail is
    read per instance.
    """
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise ValueError("restore_event: expected the result of governed.odoo.restore")
    src = _instance(source, "source")
    dst = _instance(target, "target")
    failed = bool(failure) or bool(result.get("failed"))
    backup = result.get("backup") if isinstance(result.get("backup"), dict) else {}
    if not failed and not backup.get("id"):
        raise ValueError("restore_event: the result names no backup (backup.id)")
    switched = result.get("switched") is True and not failed
    event = {
        "kind": "restore",
        "operation": operation,
        "environment": dst["environment"],
        "instance": dst["instance"],
        "ok": switched,
        "outcome": "succeeded" if switched else "failed",
        "neutralized": neutralized(result) and not failed,
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
    if failed:
        event["reason"] = redact(failure or result.get("msg") or "the restore failed", secrets)
    elif not switched:
        event["reason"] = "the restored database was not switched in"
    return event
