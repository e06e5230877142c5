# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the audit trail (turned into a module failure in one place: audit/task.py)."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class AuditError(GovernedError):
    """The audit trail cannot be read or written as asked."""

    kind = "audit"


class KeyError_(AuditError):
    """A signing or verification key is missing, unreadable or not Ed25519."""

    kind = "audit_key"


class TamperedError(AuditError):
    """Verification found problems; ``details['problems']`` lists each with its sequence number."""

    kind = "audit_tampered"


class AppendConflict(AuditError):
    """Another writer appended the record of this sequence number first (the conditional PUT was refused)."""

    kind = "audit_conflict"


class AppendInProgress(AuditError):
    """The stored chain's last record has no head yet: another writer is between its two PUTs (or died there)."""

    kind = "audit_append_in_progress"


class ChainDiverged(AuditError):
    """A local copy of the chain and the stored chain (the authority) hold different records under one sequence
    number; ``details['seq']`` is the first such record. Nothing is appended, nothing is overwritten."""

    kind = "audit_diverged"
