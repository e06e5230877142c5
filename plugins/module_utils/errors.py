# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the typed errors that modules report as ``msg`` plus structured details.

``module_utils/backup/errors.py`` (BackupError) and ``module_utils/restore/errors.py`` (RestoreError)
derive their error families from it.
"""

from __future__ import annotations

# what a secret value becomes in a message
MASK = "********"


def mask(text, secrets, shortest=1):
    """``text`` with every value of ``secrets`` of at least ``shortest`` characters replaced by ``********``, the
    longest first (a secret that contains another is masked whole)."""
    text = str(text)
    for secret in sorted(
        {str(s) for s in secrets or () if s is not None and len(str(s)) >= shortest}, key=len, reverse=True
    ):
        text = text.replace(secret, MASK)
    return text


class GovernedError(Exception):
    """``details`` is a JSON-serialisable dict returned beside the message; ``kind`` names the error."""

    kind = "error"

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def as_result(self):
        out = {"error": self.kind}
        out.update(self.details)
        return out
