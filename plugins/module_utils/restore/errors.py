# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the restore package.

Every error raised on purpose below ``module_utils/restore`` is a :class:`RestoreError`; a module
catches that one class and reports ``msg`` plus the structured ``details`` in a single place.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class RestoreError(GovernedError):
    """Base class. ``details`` is a JSON-serialisable dict that modules return beside the message."""

    kind = "restore_error"


class BackupNotFound(RestoreError):
    """No backup matches the name or the point in time asked for."""

    kind = "backup_not_found"


class IntegrityError(RestoreError):
    """An object of the backup is missing, truncated or does not match its recorded checksum."""

    kind = "integrity"


class RefusedError(RestoreError):
    """A safety rule refused the operation (production overwrite, replica lag, unsafe name...)."""

    kind = "refused"


class DatabaseError(RestoreError):
    """PostgreSQL refused or failed an operation (connection, pg_restore, rename...)."""

    kind = "database"


class VerificationError(RestoreError):
    """The restored database or filestore does not match what the backup recorded."""

    kind = "verification"


class NeutralizationError(RestoreError):
    """Neutralization failed, or its result did not pass the checks afterwards."""

    kind = "neutralization"


class KubernetesError(RestoreError):
    """A Kubernetes step (Job for `odoo neutralize`, configuration re-pointing) failed."""

    kind = "kubernetes"


class FailoverError(RestoreError):
    """Promotion of the replica failed or could not be verified."""

    kind = "failover"
