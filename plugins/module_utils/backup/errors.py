# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the backup package.

Everything raised on purpose below ``module_utils/backup`` is a :class:`BackupError`. A module
catches that one class in one place and calls ``fail_json(msg=err.msg, **err.as_result())``.
``details`` never contains a secret (no password, no key, no signed URL).
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class BackupError(GovernedError):
    """Base class. ``details`` is a JSON-serialisable dict returned beside the message."""

    kind = "backup_error"


class ConfigError(BackupError):
    """The options given cannot work together (bad name, bad key, lock asked on an unlocked bucket)."""

    kind = "config"


class ToolError(BackupError):
    """A PostgreSQL client tool is missing, too old for the server, or failed."""

    kind = "tool"


class PgDumpTooOld(ToolError):
    """pg_dump's major version is older than the server's: refused before anything is written."""

    kind = "pg_dump_too_old"


class SourceError(BackupError):
    """The source database or filestore cannot be read (connection lost, not an Odoo database...)."""

    kind = "source"


class FilestoreIncomplete(SourceError):
    """The database references attachment files the source does not have (and the policy does not accept)."""

    kind = "filestore_incomplete"


class DumpError(SourceError):
    """pg_dump failed or produced something that is not a complete archive."""

    kind = "dump"


class StoreError(BackupError):
    """The object store refused or failed a request; ``details`` names the endpoint and the key."""

    kind = "store"


class StoreUnavailable(StoreError):
    """The object store could not be reached (connection refused, timeouts after retries)."""

    kind = "store_unavailable"


class ObjectLocked(StoreError):
    """The object store refused to delete or shorten an object under object lock retention."""

    kind = "object_locked"


class ManifestError(BackupError):
    """A manifest or filestore index is missing, unreadable, of an unknown format, or altered."""

    kind = "manifest"


class IntegrityError(BackupError):
    """An object is missing, truncated or does not match the checksum its manifest records."""

    kind = "integrity"


class EncryptionError(BackupError):
    """Client-side encryption failed: wrong or missing key, or ciphertext that does not authenticate."""

    kind = "encryption"


class RestoreError(BackupError):
    """A restore step (download, pg_restore, filestore write, comparison) failed."""

    kind = "restore"
