"""Large tables as their own archives (backup/tabledata.py, manifest format version 2): the pure parts."""

from __future__ import annotations

import copy
import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import tabledata
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ManifestError

BID = "20250304T020000Z-abcdef"
T0 = dt.datetime(2025, 3, 4, 2, 0, 0, tzinfo=dt.UTC)
COLS = [("id", "integer", "", ""), ("name", "character varying", "default", "")]


def table_obj(table="mail_message", key=None, written_by=BID, fingerprint="f" * 64, compression="zstd"):
    return {"key": key or fmt.table_object_key(written_by, 0, compression, False), "role": fmt.ROLE_TABLE,
            "table": table, "size": 7, "sha256": "c" * 64, "raw_size": 20, "rows": 3, "fingerprint": fingerprint,
            "compression": compression, "written_by": written_by, "retain_until": None}


def manifest(objects_extra=(), backup_id=BID):
    prefix = fmt.backup_prefix("production", "odoo", backup_id)
    return fmt.build_manifest(
        backup_id=backup_id, environment="production", db_name="odoo", started_at=T0, finished_at=T0,
        source={}, odoo={"version": "17.0"}, postgresql={"server_version_num": 150008},
        database={"format": "custom", "compression": "zstd", "raw_size": 10, "tables": {}},
        filestore={"keyspace": fmt.filestore_keyspace(), "count": 0, "size": 0},
        objects=[{"key": prefix + "db.dump.zst", "role": "dump", "size": 4, "sha256": "a" * 64},
                 {"key": prefix + fmt.INDEX_NAME, "role": "filestore-index", "size": 9, "sha256": "b" * 64},
                 *objects_extra])


def test_fingerprint_changes_with_every_part():
    base = tabledata.fingerprint("sale_order", 10, 123456789, COLS, "UTF8", 15)
    assert base == tabledata.fingerprint("sale_order", 10, 123456789, [list(c) for c in COLS], "UTF8", 15)
    variants = [
        tabledata.fingerprint("sale_order_line", 10, 123456789, COLS, "UTF8", 15),
        tabledata.fingerprint("sale_order", 11, 123456789, COLS, "UTF8", 15),
        tabledata.fingerprint("sale_order", 10, 123456780, COLS, "UTF8", 15),
        tabledata.fingerprint("sale_order", 10, 123456789, COLS[:1], "UTF8", 15),
        tabledata.fingerprint("sale_order", 10, 123456789, [COLS[0], ("label", *COLS[1][1:])], "UTF8", 15),
        tabledata.fingerprint("sale_order", 10, 123456789, [COLS[0], ("name", "text", "default", "")], "UTF8", 15),
        tabledata.fingerprint("sale_order", 10, 123456789, COLS, "LATIN1", 15),
        tabledata.fingerprint("sale_order", 10, 123456789, COLS, "UTF8", 16),
    ]
    assert len({base, *variants}) == len(variants) + 1


@pytest.mark.parametrize(("schema", "table", "pattern"), [
    ("public", "sale_order", '"public"."sale_order"'),
    ("public", 'we"ird.na*me?', '"public"."we""ird.na*me?"'),
    ("Sales", "Order", '"Sales"."Order"'),
])
def test_pg_dump_patterns_match_exactly_one_table(schema, table, pattern):
    st = tabledata.SplitTable(1, schema, table, 10, 0)
    assert st.pattern == pattern
    assert tabledata.exclude_args([st]) == [f"--exclude-table-data={pattern}"]
    assert tabledata.dump_argv("/usr/bin/pg_dump", "00000003-1", st)[-2:] == ["--data-only", f"--table={pattern}"]
    assert st.name == (table if schema == "public" else f"{schema}.{table}")


def test_table_keys_live_outside_backups_per_key():
    assert fmt.table_object_key(BID, 3, "zstd", False) == f"dbdata/plain/{BID}/3.dump.zst"
    kid = "0123456789abcdef"
    assert fmt.table_object_key(BID, 3, "none", True, kid) == f"dbdata/enc-{kid}/{BID}/3.dump.enc"
    with pytest.raises(ValueError, match="backup id"):
        fmt.table_object_key("../x", 1, "zstd", False)


def test_manifest_with_table_data_is_version_2_and_validated():
    m = fmt.Manifest(manifest([table_obj()]))
    assert m.data["format_version"] == 2
    assert [o["table"] for o in m.table_objects] == ["mail_message"]
    assert [o["role"] for o in m.database_objects] == ["dump", "table-data"]
    assert m.summary()["database_stored_size"] == 4 + 7
    assert fmt.Manifest(manifest()).data["format_version"] == 1
    # a table-data object outside dbdata/, or without its table, is refused
    for bad in ({"key": "backups/production/odoo/x/1.dump"}, {"key": "dbdata/../backups/x"}, {"table": ""}):
        data = copy.deepcopy(manifest([table_obj()]))
        data["objects"][2].update(bad)
        with pytest.raises(ManifestError):
            fmt.validate_manifest(fmt.seal(data))
    # a version 1 manifest cannot carry table-data objects (a version 1 reader would lose them)
    data = copy.deepcopy(manifest([table_obj()]))
    data["format_version"] = 1
    with pytest.raises(ManifestError, match="format_version 1"):
        fmt.validate_manifest(fmt.seal(data))
    # version 3 pins every object by its S3 version id; one without is refused
    data["format_version"] = 3
    with pytest.raises(ManifestError, match="without version_id"):
        fmt.validate_manifest(fmt.seal(data))
    data["format_version"] = max(fmt.FORMAT_VERSIONS) + 1
    with pytest.raises(ManifestError, match="not supported"):
        fmt.validate_manifest(fmt.seal(data))


def test_previous_objects_only_of_the_same_keyspace_and_compression():
    prev = fmt.Manifest(manifest([
        table_obj("mail_message"),
        table_obj("sale_order", compression="none"),
        table_obj("res_partner", key=fmt.table_object_key(BID, 2, "zstd", True, "0123456789abcdef")),
        table_obj("project_task", fingerprint=None),
    ]))
    got = tabledata.previous_objects(prev, fmt.dbdata_keyspace(), "zstd")
    assert sorted(got) == ["mail_message"]
    assert tabledata.previous_objects(None, fmt.dbdata_keyspace(), "zstd") == {}


def test_split_is_off_below_postgresql_11_and_when_disabled():
    class Snap:
        def _q(self, query, params=None):
            raise AssertionError("no query expected")

    assert tabledata.list_split_tables(Snap(), None, 150008) == []
    assert tabledata.list_split_tables(Snap(), -1, 150008) == []
    assert tabledata.list_split_tables(Snap(), 0, 100020) == []


def test_describe_and_entries():
    st = tabledata.SplitTable(5, "public", "sale_order", 10, 2)
    st.rows, st.columns, st.fingerprint = 4, COLS, "e" * 64
    info = {"key": fmt.table_object_key(BID, 2, "zstd", False), "size": 11, "sha256": "d" * 64, "raw_size": 40}
    entry = tabledata.table_entry(st, info, "zstd", BID, T0)
    assert entry["retain_until"] == "2025-03-04T02:00:00Z" and entry["columns"] == ["id", "name"]
    summary = tabledata.describe([entry, table_obj()], {"mail_message"})
    assert summary == {"count": 2, "reused": ["mail_message"], "dumped": ["sale_order"], "stored_size": 18,
                       "raw_size": 60}
