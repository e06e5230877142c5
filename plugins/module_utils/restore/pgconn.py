# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for the restore package, from the collection's ``login_*`` options.

``params`` is the dict of the shared postgres argument spec (login_host, login_port, login_user,
login_password, db); unset options are left to libpq's own defaults (PG* variables, .pgpass).
The same params give the environment for the client tools (pg_restore, psql) so that the
password never appears on a command line.
"""

from __future__ import annotations

import os

from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import DatabaseError

try:
    import psycopg
    from psycopg import sql

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    psycopg = None
    sql = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc

_KEYS = (("login_host", "host"), ("login_port", "port"), ("login_user", "user"), ("login_password", "password"))


def conninfo_kwargs(params, dbname=None):
    """psycopg.connect() keyword arguments for ``params``, optionally for another database."""
    out = {}
    for ours, libpq in _KEYS:
        value = (params or {}).get(ours)
        if value is not None and value != "":
            out[libpq] = str(value) if libpq == "port" else value
    db = dbname or (params or {}).get("db")
    if db:
        out["dbname"] = db
    out.setdefault("connect_timeout", "10")
    out.setdefault("application_name", "governed.odoo.restore")
    return out


def client_env(params, dbname=None, base=None):
    """Environment for pg_restore/psql/pg_dump: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE."""
    env = dict(os.environ if base is None else base)
    kw = conninfo_kwargs(params, dbname)
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE"}
    for key, var in mapping.items():
        if key in kw:
            env[var] = str(kw[key])
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def connect(params, dbname=None, autocommit=True):
    """Open a connection; errors become :class:`DatabaseError` with the target named (no secrets)."""
    if not HAS_PSYCOPG:
        raise DatabaseError(f"psycopg 3 is required: {PSYCOPG_IMPORT_ERROR}")
    kw = conninfo_kwargs(params, dbname)
    try:
        return psycopg.connect(autocommit=autocommit, **kw)
    except psycopg.Error as exc:
        where = f"{kw.get('host', '<default host>')}:{kw.get('port', '<default port>')}/{kw.get('dbname', '')}"
        raise DatabaseError(f"cannot connect to PostgreSQL at {where}: {exc}".strip(), target=where) from exc


def ident(name):
    """A safely quoted SQL identifier."""
    return sql.Identifier(name)
