# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One governance_report task: the argument spec, gathering the evidence, building and writing the report."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.common_args import s3_argument_spec
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError
from ansible_collections.governed.odoo.plugins.module_utils.report import ReportError, gather, html, model

HTML_NAME = "governance-report.html"
JSON_NAME = "governance-report.json"


def argument_spec():
    spec = dict(
        output_dir=dict(type="path", required=True),
        title=dict(type="str", default="Odoo platform governance report"),
        environments=dict(type="list", elements="str"),
        audit_local_dir=dict(type="path"),
        audit_bucket=dict(type="str"),
        audit_prefix=dict(type="str", default=""),
        audit_public_keys=dict(type="list", elements="str"),
        backup_stores=dict(
            type="list",
            elements="dict",
            options=dict(bucket=dict(type="str", required=True), prefix=dict(type="str", default="")),
        ),
        backup_max_age=dict(type="dict"),
        backup_history=dict(type="int", default=60),
        drill_reports_dir=dict(type="path"),
        drift_report=dict(type="path"),
        recent=dict(type="int", default=10),
    )
    spec.update(s3_argument_spec())
    return spec


def _write(path, text):
    """Write ``text`` to ``path`` atomically unless it already holds it; whether it was written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def run(params, check_mode=False, now=None):
    """``(result, no_log_values)``."""
    try:
        needs_s3 = params.get("audit_bucket") or params.get("backup_stores")
        client = gather.s3_client(params) if needs_s3 else None
        audit = gather.read_audit(
            client,
            params.get("audit_local_dir"),
            params.get("audit_bucket"),
            params.get("audit_prefix"),
            params.get("audit_public_keys"),
        )
        backups, backup_problems = gather.read_backups(client, params.get("backup_stores"), params["backup_history"])
        drills, drill_problems = gather.read_drills(params.get("drill_reports_dir"))
        drift = gather.read_drift(params.get("drift_report"))
        max_age = {}
        for env, value in (params.get("backup_max_age") or {}).items():
            try:
                max_age[str(env)] = int(value)
            except (TypeError, ValueError):
                raise ReportError(f"backup_max_age.{env} must be a number of seconds, not {value!r}") from None
        report = model.build(
            now=now,
            audit=audit,
            backups=backups,
            drills=drills,
            drift=drift,
            environments=params.get("environments"),
            backup_max_age=max_age,
            recent=params["recent"],
            title=params["title"],
        )
        report["evidence_problems"] = backup_problems + drill_problems
        page = html.render(report)
        out = Path(params["output_dir"])
        changed = True
        if not check_mode:
            out.mkdir(parents=True, exist_ok=True)
            wrote_json = _write(out / JSON_NAME, json.dumps(report, indent=2, sort_keys=False) + "\n")
            wrote_html = _write(out / HTML_NAME, page)
            changed = wrote_json or wrote_html
    except GovernedError as exc:
        return {"failed": True, "changed": False, "msg": exc.msg, **exc.as_result()}, set()
    except OSError as exc:
        return {"failed": True, "changed": False, "msg": f"cannot write the report: {exc}"}, set()
    return {
        "changed": changed,
        "html": str(out / HTML_NAME),
        "json": str(out / JSON_NAME),
        "audit_ok": report["audit"]["ok"],
        "attention": report["attention"],
        "environments": [e["name"] for e in report["environments"]],
        "evidence_problems": report["evidence_problems"],
    }, set()
