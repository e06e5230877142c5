# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The governance report: what an executive reads about the platform, per environment.

model.py    pure: the evidence (audit records and their verification, backup manifests, drill reports, a drift
            report) in, the report as plain data (its JSON) out
html.py     pure: that data as one self-contained HTML page (inline CSS and SVG charts, no script, no asset)
gather.py   reading the evidence: the audit trail (module_utils/audit), the backup store's manifests
            (module_utils/backup), drill and drift reports from files
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class ReportError(GovernedError):
    """The evidence could not be read."""

    kind = "report"
