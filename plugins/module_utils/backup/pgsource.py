# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The source database of a backup: client tools, versions, one consistent snapshot, Odoo metadata.

A backup reads everything it records from ONE snapshot: :class:`SnapshotSession` opens a
REPEATABLE READ transaction, exports its snapshot and passes it to ``pg_dump --snapshot``; the
attachment list (which filestore files belong to the backup), the installed modules and the row
counts come from the same transaction. So the filestore files saved are exactly those the dumped
``ir_attachment`` references, and the row counts are those of the dump.

Connection options are the collection's shared ``login_*`` options; client tools get them through
PG* environment variables, so a password never appears on a command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil

from ansible_collections.governed.odoo.plugins.module_utils import proc as _proc
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    PgDumpTooOld,
    SourceError,
    ToolError,
)

# psycopg as the one PostgreSQL helper imports it (None, with the reason, where it is missing)
from ansible_collections.governed.odoo.plugins.module_utils.pg import (
    HAS_PSYCOPG,
    PSYCOPG_IMPORT_ERROR,
    psycopg,
    sql,
)

_KEYS = (("login_host", "host"), ("login_port", "port"), ("login_user", "user"), ("login_password", "password"))
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")

LIST_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
    "ORDER BY 1, 2"
)


def table_name(schema, table):
    """How manifests name tables: bare in ``public``, ``schema.table`` elsewhere."""
    return table if schema == "public" else f"{schema}.{table}"


def conninfo_kwargs(params, dbname=None, application_name="governed.odoo.backup"):
    out = {}
    for ours, libpq in _KEYS:
        value = (params or {}).get(ours)
        if value is not None and value != "":
            out[libpq] = str(value) if libpq == "port" else value
    db = dbname or (params or {}).get("db")
    if db:
        out["dbname"] = db
    out.setdefault("connect_timeout", "10")
    out["application_name"] = application_name
    return out


def client_env(params, dbname=None, base=None, application_name="governed.odoo.backup"):
    """Environment for pg_dump/pg_restore: PG* variables from the options (the password too)."""
    env = dict(os.environ if base is None else base)
    kw = conninfo_kwargs(params, dbname, application_name)
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE",
               "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT"}
    for key, var in mapping.items():
        if key in kw:
            env[var] = str(kw[key])
    return env


def connect(params, dbname=None, autocommit=True, application_name="governed.odoo.backup"):
    if not HAS_PSYCOPG:
        raise SourceError(f"psycopg 3 is required: {PSYCOPG_IMPORT_ERROR}")
    kw = conninfo_kwargs(params, dbname, application_name)
    try:
        return psycopg.connect(autocommit=autocommit, **kw)
    except psycopg.Error as exc:
        where = f"{kw.get('host', '<default host>')}:{kw.get('port', '<default port>')}/{kw.get('dbname', '')}"
        raise SourceError(f"cannot connect to PostgreSQL at {where}: {exc}".strip(), target=where) from exc


# ---------------------------------------------------------------- client tools


def find_tool(name, bin_dir=None):
    """Path of a PostgreSQL client tool: in ``bin_dir`` if given, else on PATH."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if os.access(path, os.X_OK):
            return path
        raise ToolError(f"{name} not found in {bin_dir}", tool=name)
    path = shutil.which(name)
    if not path:
        raise ToolError(f"{name} not found on PATH; set pg_bin_dir to the directory of the PostgreSQL client "
                        "tools matching the server's major version", tool=name)
    return path


def tool_version(path):
    """(major, "15.8") of a client tool from its --version output."""
    try:
        out = _proc.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise ToolError(f"cannot run {path}: {exc}", tool=path) from exc
    m = _VERSION_RE.search(out.stdout or "")
    if out.returncode != 0 or not m:
        raise ToolError(f"cannot tell the version of {path}: {(out.stdout or out.stderr).strip()}", tool=path)
    major = int(m.group(1))
    return major, f"{m.group(1)}.{m.group(2) or 0}"


def server_major(server_version_num):
    """Major version from server_version_num (150008 -> 15; 90624 -> 9, servers before 10 are not supported)."""
    return int(server_version_num) // 10000


def check_tool_for_server(path, server_version_num, server_version=None):
    """Refuse a client tool older than the server's major version (before anything is written).

    pg_dump of an older major version refuses newer servers or, with some older pairs, produced
    dumps that could not be restored; both have cost people their backups.
    """
    major, full = tool_version(path)
    smajor = server_major(server_version_num)
    if major < smajor:
        name = os.path.basename(path)
        raise PgDumpTooOld(
            f"{name} {full} ({path}) is older than the PostgreSQL server (major {smajor}, "
            f"{server_version or server_version_num}); install the client tools of version {smajor} or later and "
            "point pg_bin_dir at them. Nothing was written.",
            tool=path, tool_version=full, server_version=server_version or str(server_version_num))
    return full


# ---------------------------------------------------------------- the snapshot


class SnapshotSession:
    """A REPEATABLE READ, read-only transaction whose snapshot pg_dump imports.

    Keep it open until pg_dump has finished (pg_dump imports the snapshot at start, and each
    parallel worker imports it again).
    """

    def __init__(self, params, dbname=None):
        self.params = params
        self.conn = connect(params, dbname, autocommit=False, application_name="governed.odoo.backup.snapshot")
        self.dbname = self.conn.info.dbname
        try:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self.snapshot = self.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        except psycopg.Error as exc:
            self.close()
            raise SourceError(f"cannot open a snapshot on {self.dbname}: {exc}") from exc

    def _q(self, query, params=None):
        try:
            return self.conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise SourceError(f"reading {self.dbname} failed: {exc}".strip(), database=self.dbname) from exc

    def server(self):
        (version, version_num, size, encoding, collate, ctype) = self._q(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
            "pg_database_size(current_database()), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype "
            "FROM pg_database d WHERE d.datname = current_database()")[0]
        return {"server_version": version, "server_version_num": version_num, "database_size": size,
                "encoding": encoding, "collate": collate, "ctype": ctype}

    def has_table(self, name):
        return bool(self._q("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])

    def odoo(self, pg_version):
        """Odoo's dump manifest fields (odoo/service/db.py dump_db) from this snapshot."""
        if not self.has_table("public.ir_module_module"):
            raise SourceError(f"database {self.dbname} is not an Odoo database (no ir_module_module table)",
                              database=self.dbname)
        modules = dict(self._q("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' "
                               "ORDER BY name"))
        base = modules.get("base") or ""
        parts = base.split(".")
        # base's latest_version is "<series>.<module version>", e.g. 17.0.1.3 or saas~17.2.1.3
        major = ".".join(parts[:2]) if len(parts) >= 2 else None
        version_info = []
        for p in parts[:2]:
            version_info.append(int(p) if p.isdigit() else p)
        uuid = None
        if self.has_table("public.ir_config_parameter"):
            row = self._q("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
            uuid = row[0][0] if row else None
        return {
            "odoo_dump": "1",
            "db_name": self.dbname,
            "version": major,
            "version_info": [*version_info, 0, "final", 0, ""] if version_info else [],
            "major_version": major,
            "pg_version": pg_version,
            "modules": modules,
            "database_uuid": uuid,
        }

    def store_fnames(self):
        """Distinct store_fname of the attachments in this snapshot (the filestore files to save)."""
        if not self.has_table("public.ir_attachment"):
            return []
        return [r[0] for r in self._q("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL "
                                      "AND store_fname <> ''")]

    def tables(self):
        return [tuple(row) for row in self._q(LIST_TABLES)]

    def data_size(self):
        """Heap + TOAST bytes of user tables: the estimate of what pg_dump will write (progress)."""
        return int(self._q(
            "SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%'")[0][0])

    def row_counts(self, skip=()):
        """Exact row counts of this snapshot (``skip``: manifest names counted elsewhere)."""
        counts = {}
        for schema, table in self.tables():
            if table_name(schema, table) in skip:
                continue
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            counts[table_name(schema, table)] = self._q(q)[0][0]
        return counts

    def close(self):
        # closing a connection that may already be dead (PostgreSQL killed mid-backup)
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
