"""Large tables as their own archives (backup format version 2) against the lab: real PostgreSQL 15 and
real SeaweedFS S3.

Shown here: a backup with every eligible table split restores to equal data (every table, every
sequence value); the next backup dumps and uploads only the tables whose content changed (counted
PUTs) and reuses the rest; an unchanged table with an advanced sequence restores the new sequence
value; a column dropped or added without rewriting a row makes the table dump again; a table of a
non-built-in type stays in db.dump; a corrupted table archive is refused and the new database
dropped; the module reports the split tables in check mode.
"""

from __future__ import annotations

import sys
import time

import pytest
from backup_lab import REPO, Lab, make_bucket, run_module, table_fingerprints, unique, wipe_bucket

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup import restore_core
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import BackupOptions, StoreTarget, run_backup
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import IntegrityError

pytestmark = pytest.mark.lab

ENV = "tdtest"


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture
def source(lab, tmp_path):
    """A small generated Odoo-shaped database (~8 MiB) and filestore (60 files) per test."""
    import odoo_dataset

    db = unique("gbk_td_")
    fs = tmp_path / "fs" / db
    odoo_dataset.generate(lab.dsn, db, str(fs), 8 * 2**20, 60, 2 * 2**20, jobs=2, log=lambda m: None)
    yield {"db": db, "filestore": str(fs)}
    lab.drop_db(db)


@pytest.fixture
def bucket(lab):
    name = unique("gbk-td-")
    make_bucket(lab.client("a"), name)
    yield name
    wipe_bucket(lab.client("a"), name)


def backup(lab, source, bucket, **kw):
    s3 = lab.s3["a"]
    opts = BackupOptions(environment=ENV, pg=dict(lab.pg, db=source["db"]), target=StoreTarget(dict(s3), bucket),
                         filestore_path=source["filestore"], pg_bin_dir=lab.bin_dir, split_min_size=0,
                         progress_interval=60)
    for k, v in kw.items():
        setattr(opts, k, v)
    res = run_backup(opts)
    time.sleep(1.1)  # backup ids have second resolution
    return res


def restore(lab, bucket, source, backup_id, tmp_path):
    store = lab.store(bucket)
    m = store.read_manifest(ENV, source["db"], backup_id)
    target = unique("gbk_tdr_")
    restore_core.restore_backup(store, m, lab.pg, target, str(tmp_path / target), str(tmp_path), jobs=2)
    return target, m


def sequences(lab, db):
    with lab.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' "
                                            "ORDER BY 1").fetchall()]
        return {n: conn.execute(f'SELECT last_value, is_called FROM "{n}"').fetchone() for n in names}


def test_split_backup_round_trip_and_incremental_reuse(lab, source, bucket, tmp_path):
    import odoo_dataset

    first = backup(lab, source, bucket, object_lock_mode="GOVERNANCE", object_lock_days=1)
    store = lab.store(bucket)
    m1 = store.read_manifest(ENV, source["db"], first["backup_id"])
    assert m1.data["format_version"] == 3  # table archives (2), every object pinned by version id (3)
    assert all(o["version_id"] for o in m1.table_objects)
    tables = {o["table"] for o in m1.table_objects}
    assert {"mail_message", "account_move_line", "ir_attachment", "res_partner"} <= tables
    assert all(o["key"].startswith("dbdata/plain/" + first["backup_id"] + "/") for o in m1.table_objects)
    assert first["database"]["tables_reused"] == []
    # every table archive is locked like the backup directory
    for o in m1.table_objects:
        mode, until = store.retention_of(o["key"])
        assert mode == "GOVERNANCE" and fmt.format_time(until) == m1.object_lock["retain_until"]

    # a day of work: new attachments (ir_attachment rows), one partner renamed
    added = odoo_dataset.add_attachments(lab.dsn, source["db"], source["filestore"], count=3, seed=11)
    with lab.connect(source["db"]) as conn:
        conn.execute("UPDATE res_partner SET name = name || ' (renamed)' WHERE id = (SELECT min(id) FROM res_partner)")
    second = backup(lab, source, bucket, object_lock_mode="GOVERNANCE", object_lock_days=1)
    db = second["database"]
    assert db["tables_dumped"] == ["ir_attachment", "res_partner"]
    assert set(db["tables_reused"]) == tables - {"ir_attachment", "res_partner"}
    m2 = store.read_manifest(ENV, source["db"], second["backup_id"])
    by_table = {o["table"]: o for o in m2.table_objects}
    assert by_table["mail_message"]["written_by"] == first["backup_id"]
    assert by_table["mail_message"]["key"] == {o["table"]: o for o in m1.table_objects}["mail_message"]["key"]
    assert by_table["res_partner"]["written_by"] == second["backup_id"]
    # PUTs: the new files, db.dump, two table archives (one PUT each below the part size), index, manifest
    assert second["requests"]["put"] == added["files"] + 1 + 2 + 2
    assert db["uploaded_size"] < db["stored_size"] / 2

    target, _m = restore(lab, bucket, source, second["backup_id"], tmp_path)
    try:
        assert table_fingerprints(lab, target) == table_fingerprints(lab, source["db"])
        assert sequences(lab, target) == sequences(lab, source["db"])
    finally:
        lab.drop_db(target)


def test_reused_table_restores_the_current_sequence_value(lab, source, bucket, tmp_path):
    backup(lab, source, bucket)
    with lab.connect(source["db"]) as conn:
        conn.execute("SELECT nextval('sale_order_id_seq') FROM generate_series(1, 5)")
    second = backup(lab, source, bucket)
    assert "sale_order" in second["database"]["tables_reused"]  # the table itself did not change
    target, _m = restore(lab, bucket, source, second["backup_id"], tmp_path)
    try:
        assert sequences(lab, target)["sale_order_id_seq"] == sequences(lab, source["db"])["sale_order_id_seq"]
    finally:
        lab.drop_db(target)


def test_column_changes_without_a_rewrite_dump_the_table_again(lab, source, bucket, tmp_path):
    backup(lab, source, bucket)
    with lab.connect(source["db"]) as conn:
        # neither statement rewrites a row, so no row's ctid or xmin changes
        conn.execute("ALTER TABLE product_template ADD COLUMN zz_flag boolean NOT NULL DEFAULT true")
        conn.execute("ALTER TABLE project_task DROP COLUMN IF EXISTS description")
        conn.execute("ALTER TABLE res_partner RENAME COLUMN name TO zz_name")
    second = backup(lab, source, bucket)
    assert {"product_template", "project_task", "res_partner"} <= set(second["database"]["tables_dumped"])
    target, _m = restore(lab, bucket, source, second["backup_id"], tmp_path)
    try:
        assert table_fingerprints(lab, target) == table_fingerprints(lab, source["db"])
    finally:
        lab.drop_db(target)


def test_a_value_rewritten_with_another_text_form_dumps_the_table_again(lab, source, bucket):
    """1.5 and 1.50 are equal numerics with different text: the archive must hold the new text."""
    with lab.connect(source["db"]) as conn:
        conn.execute("ALTER TABLE sale_order ADD COLUMN zz_amount numeric")
        conn.execute("UPDATE sale_order SET zz_amount = 1.5")
    backup(lab, source, bucket)
    with lab.connect(source["db"]) as conn:
        conn.execute("UPDATE sale_order SET zz_amount = 1.50 WHERE id = (SELECT min(id) FROM sale_order)")
    second = backup(lab, source, bucket)
    assert "sale_order" in second["database"]["tables_dumped"]


def test_tables_with_non_builtin_types_stay_in_db_dump(lab, source, bucket, tmp_path):
    with lab.connect(source["db"]) as conn:
        conn.execute("CREATE TYPE zz_mood AS ENUM ('ok', 'good')")
        conn.execute("CREATE TABLE zz_moods (id serial PRIMARY KEY, mood zz_mood)")
        conn.execute("INSERT INTO zz_moods (mood) SELECT 'ok' FROM generate_series(1, 100)")
    first = backup(lab, source, bucket)
    m = lab.store(bucket).read_manifest(ENV, source["db"], first["backup_id"])
    assert "zz_moods" not in {o["table"] for o in m.table_objects}
    assert m.tables["zz_moods"] == 100
    # renaming an enum label changes the text of every row without touching one: still right
    with lab.connect(source["db"]) as conn:
        conn.execute("ALTER TYPE zz_mood RENAME VALUE 'ok' TO 'fine'")
    second = backup(lab, source, bucket)
    target, _m = restore(lab, bucket, source, second["backup_id"], tmp_path)
    try:
        with lab.connect(target) as conn:
            assert conn.execute("SELECT DISTINCT mood::text FROM zz_moods").fetchall() == [("fine",)]
    finally:
        lab.drop_db(target)


def test_corrupted_table_archive_is_refused_and_the_new_database_dropped(lab, source, tmp_path):
    # an unversioned bucket: the only place where an archive can be changed in place (in a versioned one the
    # backup reads the version it pinned, test_backup_pinned.py)
    bucket = make_bucket(lab.client("a"), unique("gbk-tdc-"), lock=False)
    try:
        corrupt_and_restore(lab, source, bucket, tmp_path)
    finally:
        wipe_bucket(lab.client("a"), bucket)


def corrupt_and_restore(lab, source, bucket, tmp_path):
    first = backup(lab, source, bucket)
    store = lab.store(bucket)
    m = store.read_manifest(ENV, source["db"], first["backup_id"])
    obj = next(o for o in m.table_objects if o["table"] == "mail_message")
    body = bytearray(lab.client("a").get_object(Bucket=bucket, Key=obj["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF  # same size, one byte flipped
    lab.client("a").put_object(Bucket=bucket, Key=obj["key"], Body=bytes(body))
    target = unique("gbk_tdr_")
    with pytest.raises(IntegrityError):
        restore_core.restore_backup(store, m, lab.pg, target, str(tmp_path / target), str(tmp_path), jobs=2)
    assert not lab.db_exists(target)


def test_module_check_mode_names_the_split_tables_and_a_real_run_reports_reuse(lab, source, bucket):
    args = dict(lab.pg, **lab.s3["a"], environment=ENV, db=source["db"], filestore_path=source["filestore"],
                bucket=bucket, pg_bin_dir=lab.bin_dir, split_min_size=1024 * 1024)
    res, _err = run_module("backup", args, check_mode=True)
    assert not res.get("failed"), res
    assert "mail_message" in res["split_tables"]
    assert "res_company" not in res["split_tables"]  # far below 1 MiB
    assert lab.store(bucket).latest_manifest(ENV, source["db"]) is None
    res, _err = run_module("backup", args)
    assert not res.get("failed"), res
    time.sleep(1.1)
    again, _err = run_module("backup", args)
    assert not again.get("failed"), again
    assert again["database"]["tables_dumped"] == []
    assert set(again["database"]["tables_reused"]) == set(res["database"]["tables_dumped"])
    bad, _err = run_module("backup", dict(args, table_jobs=0))
    assert bad.get("failed") and "table_jobs" in bad["msg"]
