"""Pure logic of pinned versions (backup format version 3): what one listing of object versions says about a key,
which format version a writer gives a manifest, the manifest of a copy on another endpoint."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ManifestError
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import (
    BackupRef,
    KeyVersions,
    pinned,
)

T0 = dt.datetime(2025, 3, 4, 2, 0, 0, tzinfo=dt.UTC)
BID = "20250304T020000Z-abcdef"
PREFIX = fmt.backup_prefix("production", "odoo", BID)


def objects(vids=("v-dump", "v-index", "v-table")):
    out = [
        {"key": PREFIX + "db.dump.zst", "role": "dump", "size": 4, "sha256": "a" * 64},
        {"key": PREFIX + fmt.INDEX_NAME, "role": "filestore-index", "size": 9, "sha256": "b" * 64},
        {
            "key": f"dbdata/plain/{BID}/0.dump.zst",
            "role": "table-data",
            "table": "mail_message",
            "size": 7,
            "sha256": "c" * 64,
        },
    ]
    for obj, vid in zip(out, vids, strict=True):
        if vid is not None:
            obj["version_id"] = vid
    return out


def build(objs):
    return fmt.build_manifest(
        backup_id=BID,
        environment="production",
        db_name="odoo",
        started_at=T0,
        finished_at=T0 + dt.timedelta(minutes=3),
        source={},
        odoo={"version": "17.0"},
        postgresql={"server_version": "15.8"},
        database={"format": "custom", "compression": "zstd", "tables": {"res_partner": 3}},
        filestore={"keyspace": fmt.filestore_keyspace(), "count": 1, "size": 5},
        objects=objs,
    )


def kv(*versions, hidden=False):
    return KeyVersions("k", tuple((v, s, T0) for v, s in versions), hidden, 1 if hidden else 0)


def test_the_first_version_is_the_original_and_newer_ones_are_tampering():
    k = kv(("v3", 9), ("v2", 9), ("v1", 5))  # newest first, as S3 lists them
    assert k.original == ("v1", 5, T0) and k.current == ("v3", 9, T0)
    assert k.newer_than("v1") == ["v3", "v2"] and k.newer_than("v3") == [] and k.newer_than("nope") == []
    assert k.tampering("v1") == {"newer_versions": ["v3", "v2"], "delete_marker": False}
    assert k.tampering("v3") is None
    assert k.tampering(None) is None and k.tampering("null") is None  # unpinned: nothing to compare with
    assert k.check("v1", 5) == (None, 5)
    assert k.check("v1", 6) == ("size", 5)
    assert k.check("v9", 5) == ("missing", None)
    assert k.check(None, 9) == (None, 9)  # without a version id: what a plain GET reads


def test_a_delete_marker_hides_the_current_object_but_not_the_pinned_version():
    k = kv(("v1", 5), hidden=True)
    assert k.current is None and k.original == ("v1", 5, T0)
    assert k.check("v1", 5) == (None, 5)
    assert k.check(None, 5) == ("missing", None)  # an unpinned reader sees nothing
    assert k.tampering("v1") == {"newer_versions": [], "delete_marker": True}
    assert KeyVersions("k", (), True, 1).original is None


def test_pinned_ignores_the_null_version_of_unversioned_buckets():
    assert pinned("abc") == "abc" and pinned("null") is None and pinned(None) is None and pinned("") is None


def test_format_version_3_only_when_every_object_is_pinned():
    assert build(objects())["format_version"] == fmt.FORMAT_VERSION_PINNED == 3
    partial = build(objects(("v-dump", None, "v-table")))
    assert partial["format_version"] == fmt.FORMAT_VERSION_TABLES
    assert not any("version_id" in o for o in partial["objects"])  # a half-pinned manifest would mislead readers
    no_tables = [o for o in objects((None, None, None)) if o["role"] != "table-data"]
    assert build(no_tables)["format_version"] == fmt.FORMAT_VERSION
    m = fmt.Manifest(build(objects()))
    assert m.pinned and m.version_id is None and m.newer_versions == () and m.hidden is False


def test_a_version_3_manifest_without_a_version_id_is_refused():
    body = build(objects())
    body = copy.deepcopy(body)
    del body["objects"][0]["version_id"]
    with pytest.raises(ManifestError, match="without version_id"):
        fmt.validate_manifest(fmt.seal(body))
    body["objects"][0]["version_id"] = "null"
    with pytest.raises(ManifestError, match="without version_id"):
        fmt.validate_manifest(fmt.seal(body))
    body["format_version"] = 4
    with pytest.raises(ManifestError, match="not supported"):
        fmt.validate_manifest(fmt.seal(body))


def test_older_format_versions_stay_readable():
    v1 = build([o for o in objects((None, None, None)) if o["role"] != "table-data"])
    v2 = build(objects((None, None, None)))
    for data in (v1, v2):
        m = fmt.Manifest.from_bytes(fmt.encode_manifest(data))
        assert not m.pinned and all("version_id" not in o for o in m.objects)


def test_repin_gives_the_copy_its_own_version_ids_and_index():
    src = build(objects())
    index = fmt.encode_index(
        [fmt.index_entry("0a/" + "0a" * 20, "0a" * 20, 5, 5, "d" * 64, None, "b-file")], fmt.filestore_keyspace()
    )
    versions = {
        PREFIX + "db.dump.zst": "b-dump",
        PREFIX + fmt.INDEX_NAME: "b-index",
        f"dbdata/plain/{BID}/0.dump.zst": "b-table",
    }
    dst = fmt.repin(src, versions, index)
    assert [o["version_id"] for o in dst["objects"]] == ["b-dump", "b-index", "b-table"]
    idx = next(o for o in dst["objects"] if o["role"] == "filestore-index")
    assert idx["size"] == len(index) and idx["sha256"] == hashlib.sha256(index).hexdigest()
    fmt.validate_manifest(dst)  # sealed again
    same = {k: v for k, v in dst.items() if k not in ("objects", "manifest_sha256")}
    assert same == {k: v for k, v in src.items() if k not in ("objects", "manifest_sha256")}
    # an unversioned copy: no version ids, the format version of the content
    plain = fmt.repin(src, {}, index)
    assert plain["format_version"] == fmt.FORMAT_VERSION_TABLES and all("version_id" not in o for o in plain["objects"])


def test_index_entries_carry_version_ids_except_the_null_one():
    assert fmt.index_entry("f", "0a" * 20, 1, 1, "d" * 64, None, "v1")["version_id"] == "v1"
    assert "version_id" not in fmt.index_entry("f", "0a" * 20, 1, 1, "d" * 64, None, "null")
    assert "version_id" not in fmt.index_entry("f", "0a" * 20, 1, 1, "d" * 64)


def test_a_backup_ref_says_what_was_done_to_its_manifest():
    ref = BackupRef(
        "production",
        "odoo",
        BID,
        PREFIX + "manifest.json",
        10,
        T0,
        version_id="v1",
        newer_versions=("v2",),
        hidden=True,
    )
    assert ref.tampered
    d = ref.as_dict()
    assert d["manifest_version_id"] == "v1" and d["hidden_by_delete_marker"] is True
    assert d["newer_manifest_versions"] == ["v2"]
    plain = BackupRef("production", "odoo", BID, PREFIX + "manifest.json", 10, T0, version_id="null")
    assert not plain.tampered and "manifest_version_id" not in plain.as_dict()
