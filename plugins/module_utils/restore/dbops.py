# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database-level operations of a restore, and the switch that makes a restored database live.

The switch is one transaction on a maintenance database (``postgres``)::

    BEGIN;
    SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname IN (live, candidate);
    ALTER DATABASE "live" RENAME TO "live__prev_<ts>";      -- when live exists
    ALTER DATABASE "live__restore_<ts>" RENAME TO "live";
    COMMIT;

``ALTER DATABASE ... RENAME`` is transactional and takes an exclusive lock on the database: once
it holds the lock, new sessions wait, and when they get the lock after COMMIT they find the name
moved and fail, so clients reconnect to the new database. Either both renames happen or neither:
a process killed at any point before COMMIT leaves the server as it was (PostgreSQL rolls back
the transaction of a lost connection). A session that connects between the termination and the
rename makes the rename fail with ``object_in_use``; the whole transaction is then retried.

A per-database advisory lock (:func:`restore_lock`) keeps two restores of the same environment
apart; while it is held, databases named ``<live>__restore_*`` are leftovers of killed runs.
"""

from __future__ import annotations

import hashlib
import re
import time

from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import DatabaseError, RefusedError
from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import ident, psycopg, sql

MAX_IDENT = 63
RESTORE_INFIX = "__restore_"
PREVIOUS_INFIX = "__prev_"
_STAMP = re.compile(r"^[0-9]{8}T?[0-9]{6}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def check_db_name(name):
    """Odoo's database names: letters, digits, ``_``, ``.``, ``-`` (its db manager's rule)."""
    if not name or not _SAFE_NAME.match(name) or len(name.encode()) > MAX_IDENT:
        raise RefusedError(f"{name!r} is not an acceptable database name (letters, digits, _ . -, at most 63 bytes)")
    return name


def derived_name(live, infix, stamp):
    """``<live><infix><stamp>``, shortened with a hash of ``live`` to fit 63 bytes (pure)."""
    name = f"{live}{infix}{stamp}"
    if len(name.encode()) <= MAX_IDENT:
        return name
    tag = hashlib.sha1(live.encode()).hexdigest()[:8]  # noqa: S324 - a name tag, not security
    room = MAX_IDENT - len(f"_{tag}{infix}{stamp}".encode())
    return f"{live.encode()[:room].decode('utf-8', 'ignore')}_{tag}{infix}{stamp}"


def candidate_name(live, stamp):
    return derived_name(live, RESTORE_INFIX, stamp)


def previous_name(live, stamp):
    return derived_name(live, PREVIOUS_INFIX, stamp)


def is_leftover_of(live, name):
    """Whether ``name`` is a candidate database of ``live`` (pure)."""
    for prefix in (f"{live}{RESTORE_INFIX}",):
        if name.startswith(prefix):
            return True
    tag = hashlib.sha1(live.encode()).hexdigest()[:8]  # noqa: S324
    return f"_{tag}{RESTORE_INFIX}" in name


def server_info(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version'), "
                    "pg_is_in_recovery()")
        num, text, recovery = cur.fetchone()
    return {"version_num": num, "version": text, "major": num // 10000, "in_recovery": recovery}


def database_exists(conn, name):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def list_databases(conn, like=None):
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
        names = [r[0] for r in cur.fetchall()]
    return [n for n in names if like is None or like(n)]


def has_user_tables(params, name):
    """Whether database ``name`` holds any table outside the system schemas (an empty one is not data)."""
    from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import connect

    conn = connect(params, dbname=name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND n.nspname NOT LIKE 'pg\\_%')")
            return cur.fetchone()[0]
    finally:
        conn.close()


def database_owner(conn, name):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
        row = cur.fetchone()
    return row[0] if row else None


def create_database(conn, name, owner=None, template="template0", encoding="UTF8", locale=None):
    """CREATE DATABASE (not transactional: the caller's connection must be in autocommit)."""
    check_db_name(name)
    parts = [sql.SQL("CREATE DATABASE {}").format(ident(name))]
    if owner:
        parts.append(sql.SQL("OWNER {}").format(ident(owner)))
    parts.append(sql.SQL("TEMPLATE {} ENCODING {}").format(ident(template), sql.Literal(encoding)))
    if locale:
        parts.append(sql.SQL("LC_COLLATE {} LC_CTYPE {}").format(sql.Literal(locale), sql.Literal(locale)))
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(" ").join(parts))
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot create database {name}: {exc}", database=name) from exc


def drop_database(conn, name):
    """DROP DATABASE ... WITH (FORCE): sessions are terminated by the server itself."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(name)))
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot drop database {name}: {exc}", database=name) from exc


def terminate(conn, names, wait_ms=5000):
    """Terminate the other sessions of the databases ``names``; returns how many were signalled."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid, %s)) FROM pg_stat_activity "
            "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (int(wait_ms), list(names)),
        )
        return cur.fetchone()[0]


def switch_statements(live, candidate, previous, live_exists):
    """The renames of the switch, in order (pure; each a (description, Composed))."""
    out = []
    if live_exists:
        out.append((f"rename {live} -> {previous}",
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(live), ident(previous))))
    out.append((f"rename {candidate} -> {live}",
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(candidate), ident(live))))
    return out


def switch(conn, live, candidate, previous, attempts=6, wait_ms=5000, before_commit=None, sleep=time.sleep):
    """Make ``candidate`` the database named ``live`` in one transaction (see the module doc).

    ``before_commit`` (a callable) runs inside the transaction just before COMMIT; tests use it
    to kill the process there. Returns a dict with the statements run and the attempts needed.
    """
    for name in (live, candidate, previous):
        check_db_name(name)
    if not database_exists(conn, candidate):
        raise DatabaseError(f"the restored database {candidate} does not exist", database=candidate)
    if database_exists(conn, previous):
        raise RefusedError(f"{previous} already exists: refusing to switch over it", database=previous)
    live_exists = database_exists(conn, live)
    statements = switch_statements(live, candidate, previous, live_exists)
    last = None
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction(), conn.cursor() as cur:
                terminated = terminate(conn, [live, candidate], wait_ms)
                for _desc, stmt in statements:
                    cur.execute(stmt)
                if before_commit is not None:
                    before_commit()
            return {"statements": [desc for desc, _stmt in statements], "attempts": attempt, "terminated": terminated,
                    "previous": previous if live_exists else None}
        except psycopg.errors.ObjectInUse as exc:
            last = exc
            sleep(min(0.2 * attempt, 1.0))
        except psycopg.Error as exc:
            raise DatabaseError(f"switching {candidate} to {live} failed, nothing changed: {exc}",
                                database=live) from exc
    raise DatabaseError(f"switching {candidate} to {live} failed after {attempts} attempts, nothing changed: "
                        f"sessions keep connecting ({last})", database=live)


def lock_key(live):
    """A stable 64-bit advisory lock key for restores of ``live`` (pure)."""
    digest = hashlib.sha256(f"governed.odoo.restore:{live}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def restore_lock(conn, live, wait=False):
    """Take the session advisory lock for ``live``; refuses when another restore holds it."""
    key = lock_key(live)
    with conn.cursor() as cur:
        if wait:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
            return key
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        if not cur.fetchone()[0]:
            raise RefusedError(f"another restore of {live} is running on this server", database=live)
    return key


def restore_unlock(conn, live):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (lock_key(live),))
