# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the evidence of the governance report, each through the module that owns its format:

* the audit trail through module_utils/audit (read, and verified against the trusted keys: the stored copy when
  there is a bucket, else the local one);
* backups through module_utils/backup: the restorable backups of each store, and each one's manifest (validated,
  through its pinned version) for its time;
* drill reports (``drill-*.json``, as dr_drill.yml writes them) and drift reports (a file, or the directory
  drift.yml writes ``drift-*.json`` into) from files.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain, RemoteChain
from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError
from ansible_collections.governed.odoo.plugins.module_utils.report import ReportError


def s3_client(params):
    if not s3client.HAS_BOTO3:
        raise ReportError("the python libraries boto3 and botocore are required to read buckets")
    return s3client.make_client({k: params.get(k) for k in s3client.S3_OPTION_KEYS}, max_pool_connections=8)


def read_audit(client, local_dir=None, bucket=None, prefix="", public_keys=None):
    """``{"records", "verification"}`` of the trail, or None when no location is given."""
    if not local_dir and not bucket:
        return None
    if not public_keys:
        raise ReportError("the audit trail cannot be verified without audit_public_keys")
    local = LocalChain(local_dir) if local_dir else None
    remote = RemoteChain(BackupStore(client, bucket, root=prefix or "")) if bucket else None
    trail = AuditTrail(local=local, remote=remote)
    try:
        verification = trail.verify(public_keys)
        records = remote.read()[0] if remote is not None else local.read()[0]
    except GovernedError as exc:
        # an unreadable trail is reported as one that fails verification, not as a report that cannot be made
        return {
            "records": [],
            "verification": {"ok": False, "problems": [{"seq": None, "kind": "unreadable", "reason": exc.msg}]},
        }
    return {"records": records, "verification": verification}


def read_backups(client, stores, history=60):
    """Manifest summaries of the newest ``history`` backups of each environment and database of each store."""
    out, problems = [], []
    for spec in stores or []:
        store = BackupStore(client, spec["bucket"], root=spec.get("prefix") or "")
        try:
            refs = store.list_backups()
        except GovernedError as exc:
            raise ReportError(f"cannot list the backups in {store.where()}: {exc.msg}") from None
        by_db = {}
        for ref in refs:
            by_db.setdefault((ref.environment, ref.db_name), []).append(ref)
        for (env, db), items in sorted(by_db.items()):
            for ref in items[-history:]:
                try:
                    manifest = store.read_manifest(env, db, ref.backup_id, ref=ref)
                except GovernedError as exc:
                    problems.append(f"{env}/{db}/{ref.backup_id}: {exc.msg}")
                    continue
                out.append(manifest.summary())
    return out, problems


def read_drills(directory):
    """Every drill report (``drill-*.json``) of ``directory``; one that is not JSON is named in the problems."""
    if not directory:
        return [], []
    path = Path(directory)
    if not path.is_dir():
        return [], []
    reports, problems = [], []
    for file in sorted(path.glob("drill-*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{file.name}: {exc}")
            continue
        if isinstance(data, dict):
            reports.append(data)
    return reports, problems


def _drift_file(file):
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read the drift report {file}: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"the drift report {file} is not a JSON object")
    return data


def read_drift(path):
    """The drift reports at ``path``: one JSON file, or a directory of them (``drift-*.json``, as drift.yml writes
    them into its governed_odoo_drift_report_dir); a list, None when no path is given."""
    if not path:
        return None
    where = Path(path)
    if where.is_dir():
        return [_drift_file(file) for file in sorted(where.glob("drift-*.json"))]
    return [_drift_file(where)]
