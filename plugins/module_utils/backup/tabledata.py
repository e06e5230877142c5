# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Large tables stored one archive each, and reused while they do not change (format version 2).

Why: an incremental backup after a day of work still dumped and compressed the whole database,
although most of an Odoo database (mail_message, account_move_line, sale_order_line...) did not
change. Here each table of at least ``split_min_size`` bytes gets its own ``pg_dump --data-only
--table`` archive under ``dbdata/`` (manifest role ``table-data``), and the next backup reuses that
archive, without dumping or uploading it, when the table's *fingerprint* is the same. db.dump keeps
the schema, the small tables, sequences and everything else (``--exclude-table-data`` for the
large ones).

The fingerprint of a table, taken in the backup's snapshot (so it describes exactly the rows the
archive holds):

* its row count and the exact sum of a 64-bit hash of every row's text form (``t::text``: each
  column's output function, the text COPY writes too), with the output settings fixed
  (DateStyle, IntervalStyle, extra_float_digits, bytea_output, TimeZone), so any change to any
  value, a row added or removed, changes it (barring a 64-bit hash collision);
* its columns (name, type with modifier, collation, generated), so added, dropped, renamed or
  retyped columns change it even where no row was rewritten;
* the table's name, the database encoding and the server's major version.

It is computed from content, not from counters or transaction ids: statistics are flushed
lazily and can be reset, and a frozen tuple hides its xmin, so neither can prove a table
unchanged. Only tables whose columns all have built-in types (pg_catalog) are split: the text of
an enum, domain or extension type can change without any row changing. Tables with row-level
security, tables of extensions and partitions stay in db.dump.

Cost, measured on the lab (2 cores): the fingerprint of a 320 MB table takes about 1.3 s of one
backend; a ``pg_dump`` of the same table about 1.2 s plus its compression and upload.
"""

from __future__ import annotations

import contextlib
import hashlib

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.dump import pg_dump_argv, stream_dump
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import SourceError
from ansible_collections.governed.odoo.plugins.module_utils.backup.pgsource import connect, sql, table_name

try:
    import psycopg
except ImportError:  # pragma: no cover - pgsource reports it
    psycopg = None

FINGERPRINT_VERSION = 1
DEFAULT_SPLIT_MIN_SIZE = 16 * 1024 * 1024
MIN_SERVER_VERSION_NUM = 110000  # hashtextextended

SPLIT_TABLES = (
    "SELECT c.oid, n.nspname, c.relname, "
    "pg_relation_size(c.oid) + coalesce(pg_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS size "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u') AND NOT c.relispartition "
    "AND NOT c.relrowsecurity "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    "                AND d.deptype = 'e') "
    "AND NOT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "                AND t.typnamespace <> 'pg_catalog'::regnamespace) "
    "AND pg_relation_size(c.oid) + coalesce(pg_relation_size(NULLIF(c.reltoastrelid, 0)), 0) >= %s "
    "ORDER BY size DESC, n.nspname, c.relname"
)

COLUMNS = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(co.collname, ''), a.attgenerated "
    "FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation "
    "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)

# the text form of a row depends on these; fixed so that the fingerprint depends on the data only
OUTPUT_SETTINGS = (
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("TimeZone", "UTC"),
)


class SplitTable:
    """One large table of the source: what to fingerprint and dump."""

    __slots__ = ("columns", "fingerprint", "number", "oid", "rows", "schema", "size", "table")

    def __init__(self, oid, schema, table, size, number):
        self.oid = oid
        self.schema = schema
        self.table = table
        self.size = int(size)
        self.number = number
        self.columns = None
        self.rows = None
        self.fingerprint = None

    @property
    def name(self):
        """The manifest's table name (as in database.tables)."""
        return table_name(self.schema, self.table)

    @property
    def pattern(self):
        """An exact pg_dump table pattern: quoted, so no character of the name is a wildcard."""
        return '"{}"."{}"'.format(self.schema.replace('"', '""'), self.table.replace('"', '""'))


def list_split_tables(snap, min_size, server_version_num):
    """The tables of the snapshot to store as their own archives, largest first ([] when off)."""
    if min_size is None or min_size < 0 or int(server_version_num) < MIN_SERVER_VERSION_NUM:
        return []
    rows = snap._q(SPLIT_TABLES, (int(min_size),))
    return [SplitTable(oid, schema, table, size, i) for i, (oid, schema, table, size) in enumerate(rows)]


def fingerprint(table, rows, rowhash, columns, encoding, server_major):
    """The fingerprint (hex) of a table from its parts (pure)."""
    body = {"v": FINGERPRINT_VERSION, "table": table, "rows": int(rows), "rowhash": str(rowhash),
            "columns": [list(c) for c in columns], "encoding": encoding, "server_major": int(server_major)}
    return hashlib.sha256(fmt.canonical_json(body)).hexdigest()


class SnapshotReader:
    """A connection that sees exactly the backup's snapshot (``SET TRANSACTION SNAPSHOT``)."""

    def __init__(self, pg, dbname, snapshot, lock_wait_timeout=None):
        self.conn = connect(pg, dbname, autocommit=False, application_name="governed.odoo.backup.tables")
        try:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            settings = list(OUTPUT_SETTINGS)
            if lock_wait_timeout:  # like pg_dump --lock-wait-timeout: fail rather than queue behind a DDL lock
                settings.append(("lock_timeout", str(lock_wait_timeout)))
            for name, value in settings:
                self.conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        except Exception as exc:
            self.close()
            raise SourceError(f"cannot read {dbname} in the backup's snapshot: {exc}", database=dbname) from exc

    def measure(self, st, encoding, server_major):
        """Fill ``st.columns``, ``st.rows`` and ``st.fingerprint`` from the snapshot."""
        try:
            st.columns = [tuple(r) for r in self.conn.execute(COLUMNS, (st.oid,)).fetchall()]
            q = sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) "
                        "FROM ONLY {}.{} t").format(sql.Identifier(st.schema), sql.Identifier(st.table))
            rows, rowhash = self.conn.execute(q).fetchone()
        except psycopg.Error as exc:
            raise SourceError(f"reading table {st.name} failed: {exc}".strip(), table=st.name) from exc
        st.rows = int(rows)
        st.fingerprint = fingerprint(st.name, rows, rowhash, st.columns, encoding, server_major)
        return st

    def close(self):
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()


def previous_objects(prev, keyspace, compression):
    """{table name: table-data entry} of the previous backup that this one may reuse."""
    if prev is None:
        return {}
    out = {}
    for obj in prev.table_objects:
        if obj["key"].startswith(keyspace) and obj.get("compression", prev.data["database"].get("compression")) \
                == compression and obj.get("fingerprint"):
            out[obj["table"]] = obj
    return out


def table_entry(st, info, compression, written_by, retain_until):
    return {
        "key": info["key"],
        "role": fmt.ROLE_TABLE,
        "table": st.name,
        "size": info["size"],
        "sha256": info["sha256"],
        "raw_size": info["raw_size"],
        "rows": st.rows,
        "columns": [c[0] for c in st.columns or ()],
        "fingerprint": st.fingerprint,
        "compression": compression,
        "written_by": written_by,
        "retain_until": fmt.format_time(retain_until) if retain_until is not None else None,
        **({"version_id": info["version_id"]} if info.get("version_id") else {}),
    }


def exclude_args(tables):
    """pg_dump arguments that leave the data of ``tables`` out of db.dump."""
    return [f"--exclude-table-data={st.pattern}" for st in tables]


def dump_argv(pg_dump, snapshot, st, lock_wait_timeout=None):
    return pg_dump_argv(pg_dump, snapshot, extra=["--data-only", f"--table={st.pattern}"],
                        lock_wait_timeout=lock_wait_timeout)


def reuse(store, st, prev_obj, lock):
    """Reuse ``prev_obj`` for ``st`` if it still exists with its size; extend its lock. None if not usable.

    The version reused is the one the previous backup pinned (``version_id``). A previous backup
    without version ids (format 1 or 2) in a versioned bucket (the HEAD answers with a version id: the
    first backup after an upgrade) gets the archive's first version, from one listing of its versions,
    never a version written over it later; in an unversioned bucket there is nothing to pin and the
    HEAD is the only request, as before.
    """
    vid = prev_obj.get("version_id")
    head = store.head(prev_obj["key"], version_id=vid)
    if not vid and head is not None and head.get("VersionId") not in (None, "null"):
        kv = store.key_versions(prev_obj["key"]).get(prev_obj["key"])
        orig = kv.original if kv is not None else None
        vid = orig[0] if orig is not None else None
        if vid != head.get("VersionId"):
            head = store.head(prev_obj["key"], version_id=vid) if vid else None
    if head is None or head.get("ContentLength") != prev_obj["size"]:
        return None
    entry = dict(prev_obj)
    entry.pop("version_id", None)
    vid = vid or head.get("VersionId")
    if vid and vid != "null":
        entry["version_id"] = vid
    entry["rows"] = st.rows
    if lock is not None:
        cur = fmt.parse_time(prev_obj.get("retain_until"))
        if cur is None or cur < lock.until:
            if store.put_retention(prev_obj["key"], lock, version_id=vid) == "missing":
                return None
            entry["retain_until"] = fmt.format_time(lock.until)
    return entry


def dump_table(store, st, rel, pg_dump, snapshot, env, lock, opts, progress=None, cancel=None):
    """pg_dump --data-only of one table, streamed into ``rel``; returns stream_dump's entry."""
    argv = dump_argv(pg_dump, snapshot, st, opts.lock_wait_timeout)
    return stream_dump(store, rel, argv, env, lock=lock, compression=opts.compression, level=opts.compression_level,
                       zstd_threads=opts.zstd_threads, key=opts.encryption_key, part_size=opts.part_size,
                       progress=progress, cancel=cancel)


def describe(entries, reused):
    """Summary for the result and the manifest's database section."""
    return {
        "count": len(entries),
        "reused": sorted(reused),
        "dumped": sorted(e["table"] for e in entries if e["table"] not in reused),
        "stored_size": sum(e["size"] for e in entries),
        "raw_size": sum(e["raw_size"] for e in entries),
    }
