# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one PostgreSQL connection helper.

``params`` is the dict of the shared postgres argument spec (``common_args.postgres_argument_spec()``:
login_host, login_port, login_user, login_password, db), optionally with ``ssl_mode`` (libpq's sslmode).
Options that are unset are left to libpq's own defaults (``PG*`` variables, ``.pgpass``). The same params
give the environment of the client tools (pg_dump, pg_restore, psql), so that a password never appears on a
command line.

Errors become :class:`PostgresError` (or the error class a caller passes), naming the server and the
database, never the password.
"""

from __future__ import annotations

import os

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError, mask

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

DEFAULT_CONNECT_TIMEOUT = "10"

_KEYS = (
    ("login_host", "host"),
    ("login_port", "port"),
    ("login_user", "user"),
    ("login_password", "password"),
    ("ssl_mode", "sslmode"),
)
_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


class PostgresError(GovernedError):
    """PostgreSQL refused or failed an operation; the message never holds a password."""

    kind = "postgres"


def conninfo_kwargs(params, dbname=None, application_name="governed.odoo"):
    """psycopg.connect() keyword arguments for ``params``, optionally for another database."""
    out = {}
    for ours, libpq in _KEYS:
        value = (params or {}).get(ours)
        if value is not None and value != "":
            out[libpq] = str(value) if libpq == "port" else value
    db = dbname or (params or {}).get("db")
    if db:
        out["dbname"] = db
    out["connect_timeout"] = str((params or {}).get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
    out["application_name"] = application_name
    return out


def target(params, dbname=None):
    """``host:port/dbname`` of a connection, for messages."""
    kw = conninfo_kwargs(params, dbname)
    return f"{kw.get('host', '<default host>')}:{kw.get('port', '<default port>')}/{kw.get('dbname', '')}"


def client_env(params, dbname=None, base=None, application_name="governed.odoo"):
    """Environment for pg_dump/pg_restore/psql: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE..."""
    env = dict(os.environ if base is None else base)
    for key, value in conninfo_kwargs(params, dbname, application_name).items():
        env[_ENV[key]] = str(value)
    return env


def error_text(exc, secrets=()):
    """One line of a psycopg error, masked: the server's primary message (and its SQLSTATE) when there is one.

    The primary message is used rather than ``str(exc)``, which may quote the statement that failed (a
    ``LINE 1: ...`` excerpt) and so the literal values in it.
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc).strip() or type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    if primary and state:
        text = f"{text} (SQLSTATE {state})"
    return mask(text, secrets)


def connect(params, dbname=None, autocommit=True, application_name="governed.odoo", error=PostgresError, **kwargs):
    """Open a connection; failures become ``error`` naming the server and database (never the password).

    ``kwargs`` go to psycopg.connect() (``row_factory``...).
    """
    if not HAS_PSYCOPG:
        raise error(f"psycopg 3 is required: {PSYCOPG_IMPORT_ERROR}")
    kw = conninfo_kwargs(params, dbname, application_name)
    where = target(params, dbname)
    try:
        return psycopg.connect(autocommit=autocommit, **kw, **kwargs)
    except psycopg.Error as exc:
        msg = mask(f"cannot connect to PostgreSQL at {where}: {exc}".strip(), [kw.get("password")])
        raise error(msg, target=where) from None


def ident(name):
    """A safely quoted SQL identifier."""
    return sql.Identifier(name)
