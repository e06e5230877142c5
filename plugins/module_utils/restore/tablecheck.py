# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-table row counts and content hashes: the evidence that two databases hold the same data.

The content hash of a table is order-independent (a restore does not keep the physical row order)
and computed in one pass by the server, without sorting and without sending rows to the client:
for every row, md5 of the row's text form, split into two 64-bit halves; each half is summed over
all rows modulo 2^64; the table hash is the hex of (row count, sum of high halves, sum of low
halves). This is a multiset hash: equal tables give equal hashes whatever the row order, a single
changed, added or removed row changes it.

The text form of a row depends on session settings (DateStyle, TimeZone, float digits,
bytea_output, IntervalStyle); :func:`fingerprint` pins them, so two servers with different defaults
still agree. Row order of columns is part of the text form, and a restore keeps it.
"""

from __future__ import annotations

import hashlib

from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import sql

SESSION_SETTINGS = (
    ("DateStyle", "ISO, YMD"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
)

LIST_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
    "ORDER BY 1, 2"
)

# 2^64 as numeric; bit(64)::bigint is signed, so shift into [0, 2^64) before summing.
_HASH_QUERY = (
    "SELECT count(*), "
    "coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric + 9223372036854775808), 0) "
    "% 18446744073709551616, "
    "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric + 9223372036854775808), 0) "
    "% 18446744073709551616 "
    "FROM (SELECT md5(t::text) AS h FROM {table} AS t) AS s"
)
_COUNT_QUERY = "SELECT count(*) FROM {table}"


def qualified(schema, table):
    return table if schema == "public" else f"{schema}.{table}"


def pin_session(cur):
    for name, value in SESSION_SETTINGS:
        cur.execute("SELECT set_config(%s, %s, false)", (name, value))


def list_tables(conn):
    with conn.cursor() as cur:
        cur.execute(LIST_TABLES)
        return [qualified(s, t) for s, t in cur.fetchall()]


def _split(name):
    if "." in name:
        schema, table = name.split(".", 1)
        return schema, table
    return "public", name


def table_hash(count, high, low):
    """The table hash string from the three aggregates (pure)."""
    return f"{int(count):x}-{int(high):016x}{int(low):016x}"


def fingerprint(conn, tables=None, hashes=True, progress=None):
    """``{table: {"rows": n, "hash": "..."}}`` for every user table (or the ``tables`` given).

    Runs in one REPEATABLE READ transaction so all tables are read from the same snapshot.
    ``hashes=False`` counts rows only. ``progress(done, total, table)`` is called after each table.
    """
    out = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        pin_session(cur)
        names = tables if tables is not None else list_tables(conn)
        template = _HASH_QUERY if hashes else _COUNT_QUERY
        for i, name in enumerate(names):
            schema, table = _split(name)
            query = sql.SQL(template).format(table=sql.Identifier(schema, table))
            cur.execute(query)
            row = cur.fetchone()
            entry = {"rows": int(row[0])}
            if hashes:
                entry["hash"] = table_hash(row[0], row[1], row[2])
            out[name] = entry
            if progress:
                progress(i + 1, len(names), name)
    return out


def compare(expected, actual, hashes=True, ignore=()):
    """Compare two fingerprints (pure). Returns ``{"ok", "tables": [...], "missing", "extra", ...}``.

    ``expected`` may carry only row counts (a manifest that recorded counts): then only counts are
    compared for those tables. Tables in ``ignore`` are left out on both sides.
    """
    ignore = set(ignore)
    exp = {k: v for k, v in (expected or {}).items() if k not in ignore}
    act = {k: v for k, v in (actual or {}).items() if k not in ignore}
    missing = sorted(set(exp) - set(act))
    extra = sorted(set(act) - set(exp))
    rows = []
    mismatched = []
    for name in sorted(set(exp) & set(act)):
        e, a = exp[name], act[name]
        e_rows = e.get("rows") if isinstance(e, dict) else e
        entry = {"table": name, "expected_rows": e_rows, "rows": a.get("rows"), "rows_ok": e_rows == a.get("rows")}
        if hashes and isinstance(e, dict) and e.get("hash") and a.get("hash"):
            entry["expected_hash"] = e["hash"]
            entry["hash"] = a["hash"]
            entry["hash_ok"] = e["hash"] == a["hash"]
        ok = entry["rows_ok"] and entry.get("hash_ok", True)
        entry["ok"] = ok
        if not ok:
            mismatched.append(name)
        rows.append(entry)
    return {
        "ok": not (missing or extra or mismatched),
        "tables": rows,
        "missing": missing,
        "extra": extra,
        "mismatched": mismatched,
        "compared": len(rows),
        "hashes_compared": sum(1 for r in rows if "hash_ok" in r),
    }


def digest_of(fp):
    """One sha256 over a whole fingerprint, for a compact line in reports (pure)."""
    h = hashlib.sha256()
    for name in sorted(fp):
        entry = fp[name]
        h.update(f"{name}\t{entry.get('rows')}\t{entry.get('hash', '')}\n".encode())
    return h.hexdigest()


LATEST_WRITE_COLUMNS = (
    "SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = 'write_date' "
    "AND data_type LIKE 'timestamp%%' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY 1, 2"
)


def latest_write(conn):
    """The latest ``write_date`` of any table (Odoo sets it, in UTC, on every create and write).

    Returns ``{"at": datetime or None, "basis": ..., "tables": n}``; commit timestamps are not used
    because they are cluster-wide, not per database.
    """
    with conn.cursor() as cur:
        cur.execute(LATEST_WRITE_COLUMNS)
        tables = cur.fetchall()
        if not tables:
            return {"at": None, "basis": "no table has a write_date column", "tables": 0}
        parts = [sql.SQL("SELECT max(write_date) AS w FROM {}").format(sql.Identifier(s, t)) for s, t in tables]
        cur.execute(sql.SQL("SELECT max(w) FROM ({}) AS u").format(sql.SQL(" UNION ALL ").join(parts)))
        at = cur.fetchone()[0]
    return {"at": at, "basis": "max(write_date) over Odoo tables", "tables": len(tables)}
