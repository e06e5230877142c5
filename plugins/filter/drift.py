# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift report filters: the report document (with staging/production parity) and its HTML page.

Documentation of each filter is in the YAML file of the same name beside this one. The logic lives in
module_utils/drift (parity.py, report.py); these are thin, pure wrappers.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils.drift import parity as parity_mod
from ansible_collections.governed.odoo.plugins.module_utils.drift import report


def _objects(value):
    """A declared set given as objects, JSON arrays of objects, or a list of those."""
    if isinstance(value, str):
        value = json.loads(value)
    out = []
    for item in value or []:
        if isinstance(item, (str, list)):
            out.extend(_objects(item))
        elif isinstance(item, dict):
            out.append(item)
    return out


def drift_report(results, instances=None, generated_at=None, policy=None, pairs=None):
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise AnsibleFilterError("drift_report: expected a list of governed.odoo.drift results")
    declared = []
    try:
        for item in instances or []:
            declared.append(dict(item, objects=_objects(item.get("objects"))))
        found = parity_mod.parity(declared, pairs=[tuple(p) for p in (pairs or [("staging", "prod")])], policy=policy)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"drift_report: cannot compare staging with production: {exc}") from None
    return report.build(results, found, generated_at=generated_at)


def drift_report_html(doc):
    if not isinstance(doc, dict) or doc.get("format") != report.FORMAT:
        raise AnsibleFilterError("drift_report_html: expected a report made by the drift_report filter")
    return report.render_html(doc)


class FilterModule:
    def filters(self):
        return {"drift_report": drift_report, "drift_report_html": drift_report_html}
