# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disaster-recovery filters: odoo.conf options, the DR drill report (JSON facts and HTML page), and the audit
event of a restore.

Documentation of each filter is in the YAML file of the same name beside this one. The logic
lives in module_utils/restore (odooconf.py, drill.py, auditevent.py); these are thin, pure wrappers.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils.restore import auditevent, drill, odooconf


def odoo_conf_options(text, section="options"):
    if not isinstance(text, str):
        raise AnsibleFilterError(f"odoo_conf_options: expected the text of an odoo.conf, got {type(text).__name__}")
    return odooconf.get_options(text, section)


def odoo_conf_set(text, updates, section="options"):
    if not isinstance(text, str):
        raise AnsibleFilterError(f"odoo_conf_set: expected the text of an odoo.conf, got {type(text).__name__}")
    if not isinstance(updates, dict):
        raise AnsibleFilterError("odoo_conf_set: the options to set must be a mapping")
    try:
        return odooconf.set_options(text, updates, section)
    except ValueError as exc:
        raise AnsibleFilterError(f"odoo_conf_set: {exc}") from exc


_REPORT_KEYS = ("drill_id", "environment", "started_at", "verified_at", "finished_at", "backup", "source", "target",
                "restore", "data", "attachments", "neutralization", "smoke", "teardown", "phases",
                "rto_target_seconds", "rpo_target_seconds", "source_latest_write", "errors")


def drill_report(facts):
    if not isinstance(facts, dict):
        raise AnsibleFilterError("drill_report: expected a mapping of drill facts")
    unknown = sorted(set(facts) - set(_REPORT_KEYS))
    if unknown:
        raise AnsibleFilterError(f"drill_report: unknown keys {', '.join(unknown)}")
    for required in ("drill_id", "environment", "started_at"):
        if not facts.get(required):
            raise AnsibleFilterError(f"drill_report: {required} is required")
    try:
        return drill.build_report(**facts)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"drill_report: {exc}") from exc


def drill_report_html(report):
    if not isinstance(report, dict) or "result" not in report:
        raise AnsibleFilterError("drill_report_html: expected a report made by the drill_report filter")
    return drill.render_html(report)


def drill_metrics(report, labels=None):
    if not isinstance(report, dict) or "result" not in report:
        raise AnsibleFilterError("drill_metrics: expected a report made by the drill_report filter")
    if labels is not None and not isinstance(labels, dict):
        raise AnsibleFilterError("drill_metrics: labels must be a mapping")
    return drill.report_metrics(report, labels)


def restore_audit_event(result, source, target, operator=None, operation="restore", failure=None, secrets=None):
    try:
        return auditevent.restore_event(result, source, target, operator=operator, operation=operation,
                                        failure=failure, secrets=secrets or ())
    except ValueError as exc:
        raise AnsibleFilterError(f"restore_audit_event: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "odoo_conf_options": odoo_conf_options,
            "odoo_conf_set": odoo_conf_set,
            "drill_report": drill_report,
            "drill_report_html": drill_report_html,
            "drill_metrics": drill_metrics,
            "restore_audit_event": restore_audit_event,
        }
