# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task logic of governed.odoo.backup_retention and governed.odoo.backup_verify, shared by the modules and
their in-process action plugins (plugins/action/, in the controller's process with a local connection: no module
process to start, no boto3 to import again for each task). Each run returns (result, values to mask); a failure is
``failed: True`` with ``msg`` in the result, warnings are in ``warnings``."""

from __future__ import annotations

import datetime
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils.backup import args as bargs
from ansible_collections.governed.odoo.plugins.module_utils.backup import pgsource, s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.backup.prune import run_retention
from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import Policy
from ansible_collections.governed.odoo.plugins.module_utils.backup.verify import check_objects, restore_check
from ansible_collections.governed.odoo.plugins.module_utils.common_args import (
    postgres_argument_spec,
    s3_argument_spec,
)


def _missing(library, error):
    return {"failed": True, "changed": False, "msg": missing_required_lib(library), "exception": str(error)}


def retention_argument_spec():
    spec = s3_argument_spec()
    spec.update(bargs.store_argument_spec())
    spec.update(
        environment=dict(type="str"),
        database=dict(type="str"),
        policy=dict(
            type="dict",
            default={},
            options=dict(
                daily=dict(type="int", default=7),
                weekly=dict(type="int", default=4),
                monthly=dict(type="int", default=12),
                yearly=dict(type="int", default=0),
                keep_last=dict(type="int", default=1),
                timezone=dict(type="str", default="UTC"),
            ),
        ),
        gc_filestore=dict(type="bool", default=True),
        grace_hours=dict(type="int", default=24),
    )
    return spec


def run_retention_task(p, check_mode=False):
    """(result, values to mask) of one backup_retention task."""
    if not s3client.HAS_BOTO3:
        return _missing("boto3", s3client.BOTO3_IMPORT_ERROR), set()
    try:
        policy = Policy(**p["policy"])
        policy.tzinfo()
    except ValueError as exc:
        return {"failed": True, "changed": False, "msg": f"invalid retention policy: {exc}"}, set()
    if p["grace_hours"] < 1:
        return {"failed": True, "changed": False, "msg": "grace_hours must be at least 1"}, set()
    try:
        store = bargs.store_target(p).open(pool=max(32, p["threads"] * 2 + 4))
        report = run_retention(store, policy, environment=p["environment"], db_name=p["database"],
                               check_mode=check_mode, gc_filestore=p["gc_filestore"],
                               grace=datetime.timedelta(hours=p["grace_hours"]), workers=p["threads"])
    except BackupError as exc:
        return {"failed": True, "changed": False, "msg": exc.msg, **exc.as_result()}, set()
    warnings = list(report.pop("warnings", []))
    if report["locked"]:
        ids = ", ".join(f"{i['environment']}/{i['db_name']}/{i['backup_id']} (until {i.get('retain_until')})"
                        for i in report["locked"][:5])
        warnings.append(
            f"{len(report['locked'])} backup(s) due for deletion are under object lock and were kept: {ids}"
        )
    if warnings:
        report["warnings"] = warnings
    return report, set()


def verify_argument_spec():
    spec = postgres_argument_spec()
    spec.update(s3_argument_spec())
    spec.update(bargs.store_argument_spec())
    spec.update(
        environment=dict(type="str", required=True),
        database=dict(type="str", required=True),
        backup_id=dict(type="str"),
        db=dict(type="str", default="postgres"),
        level=dict(type="str", choices=["full", "presence"], default="full"),
        encryption_key=bargs.encryption_key_spec(),
        test_restore=dict(type="bool", default=False),
        scratch_db=dict(type="str"),
        restore_jobs=dict(type="int", default=2),
        pg_bin_dir=dict(type="path"),
        workdir=dict(type="path"),
    )
    return spec


def _summary(problems, limit=5):
    shown = "; ".join(f"{p['key']}: {p['problem']}" for p in problems[:limit])
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return shown + more


def run_verify_task(p, check_mode=False):
    """(result, values to mask) of one backup_verify task."""
    if not s3client.HAS_BOTO3:
        return _missing("boto3", s3client.BOTO3_IMPORT_ERROR), set()
    if p["test_restore"] and not pgsource.HAS_PSYCOPG:
        return _missing("psycopg", pgsource.PSYCOPG_IMPORT_ERROR), set()
    t0 = time.monotonic()
    result = {"changed": False, "ok": False, "problems": []}
    warnings = []
    try:
        key = bargs.parse_key(p)
        store = bargs.store_target(p).open(pool=max(32, p["threads"] * 2 + 4))
        try:
            manifest = store.find_backup(p["environment"], p["database"], p["backup_id"], skip_invalid=False)
        except BackupError as exc:
            # a damaged manifest is a verification failure of that backup, reported like the others
            result["problems"] = [{"key": exc.details.get("key"), "problem": "manifest", "message": exc.msg}]
            result["seconds"] = round(time.monotonic() - t0, 3)
            return {**result, "failed": True, "msg": f"backup verification failed: {exc.msg}"}, set()
        result.update(backup_id=manifest.backup_id, manifest_key=store.full(manifest.manifest_key),
                      manifest_version_id=manifest.version_id)
        problems, stats = check_objects(store, manifest, level=p["level"], key=key, threads=p["threads"])
        result.update(problems=problems, objects_checked=stats["objects"], bytes_checked=stats["bytes"])
        warnings.extend(stats.get("warnings", []))
        if p["test_restore"] and not problems:
            if check_mode:
                result["test_restore"] = {"skipped": "check mode"}
            else:
                report = restore_check(store, manifest, bargs.pg_options(p), key=key, jobs=p["restore_jobs"],
                                       threads=p["threads"], pg_bin_dir=p["pg_bin_dir"], scratch_db=p["scratch_db"],
                                       workdir=p["workdir"])
                result["test_restore"] = report
                if not report["ok"]:
                    reason = report.get("error") or (
                        f"{len(report.get('row_count_differences') or [])} table(s) differ in row count, "
                        f"{report.get('files')} of {report.get('files_expected')} files restored")
                    problems.append({"key": store.full(manifest.manifest_key), "problem": "test_restore",
                                     "message": reason})
    except BackupError as exc:
        result["seconds"] = round(time.monotonic() - t0, 3)
        return {**result, **exc.as_result(), "failed": True, "msg": exc.msg, "warnings": warnings}, set()
    result["seconds"] = round(time.monotonic() - t0, 3)
    result["ok"] = not result["problems"]
    if warnings:
        result["warnings"] = warnings
    if not result["ok"]:
        result.update(failed=True,
                      msg=f"backup {result.get('backup_id')} failed verification: {_summary(result['problems'])}")
    return result, set()
