# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for the restore package: the collection's one helper (``module_utils/pg.py``),
re-exported with the restore package's application name and error class so that its callers keep working.
New code imports ``module_utils.pg`` directly."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils import pg
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import DatabaseError

# re-exported for the restore package's modules and module_utils
HAS_PSYCOPG = pg.HAS_PSYCOPG
PSYCOPG_IMPORT_ERROR = pg.PSYCOPG_IMPORT_ERROR
psycopg = pg.psycopg
sql = pg.sql
ident = pg.ident

APPLICATION_NAME = "governed.odoo.restore"


def conninfo_kwargs(params, dbname=None):
    """psycopg.connect() keyword arguments for ``params`` (see pg.conninfo_kwargs)."""
    return pg.conninfo_kwargs(params, dbname, APPLICATION_NAME)


def client_env(params, dbname=None, base=None):
    """Environment for pg_restore/psql/pg_dump (see pg.client_env)."""
    return pg.client_env(params, dbname, base, APPLICATION_NAME)


def connect(params, dbname=None, autocommit=True):
    """Open a connection; errors become :class:`DatabaseError` (see pg.connect)."""
    return pg.connect(params, dbname, autocommit, APPLICATION_NAME, error=DatabaseError)
