"""The backup format (plugins/module_utils/backup/manifest.py): keys, ids, seal, validation, index."""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ConfigError, ManifestError

SHA1 = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
T0 = dt.datetime(2025, 3, 4, 2, 0, 0, tzinfo=dt.UTC)


def sample(backup_id="20250304T020000Z-abcdef"):
    prefix = fmt.backup_prefix("production", "odoo", backup_id)
    return fmt.build_manifest(
        backup_id=backup_id, environment="production", db_name="odoo", started_at=T0,
        finished_at=T0 + dt.timedelta(minutes=3),
        source={"environment": "production", "database": "odoo"},
        odoo={"odoo_dump": "1", "db_name": "odoo", "version": "17.0", "major_version": "17.0",
              "pg_version": "15.8", "modules": {"base": "17.0.1.3"}},
        postgresql={"server_version": "15.8", "server_version_num": 150008},
        database={"format": "custom", "compression": "zstd", "compression_level": 3, "raw_size": 10,
                  "tables": {"res_partner": 3}},
        filestore={"keyspace": fmt.filestore_keyspace(), "count": 1, "size": 5},
        objects=[{"key": prefix + "db.dump.zst", "role": "dump", "size": 4, "sha256": "a" * 64},
                 {"key": prefix + fmt.INDEX_NAME, "role": "filestore-index", "size": 9, "sha256": "b" * 64}],
    )


def test_keys_follow_odoo_layout():
    assert fmt.filestore_key(SHA1) == f"filestore/sha1/0a/{SHA1}"
    assert fmt.filestore_key(SHA1, key_id="0123456789abcdef") == f"filestore/enc-0123456789abcdef/sha1/0a/{SHA1}"
    assert fmt.sha1_from_key(f"filestore/sha1/0a/{SHA1}", "filestore/sha1/") == SHA1
    assert fmt.sha1_from_key(f"filestore/sha1/0b/{SHA1}", "filestore/sha1/") is None  # wrong fan-out dir
    assert fmt.sha1_from_fname(f"0a/{SHA1}") == SHA1
    assert fmt.sha1_from_fname("checklist/whatever") is None
    assert fmt.manifest_key("prod", "odoo", "20250304T020000Z-abcdef") == (
        "backups/prod/odoo/20250304T020000Z-abcdef/manifest.json")
    assert fmt.parse_backup_key("backups/prod/odoo/20250304T020000Z-abcdef/db.dump.zst") == (
        "prod", "odoo", "20250304T020000Z-abcdef", "db.dump.zst")
    assert fmt.parse_backup_key("backups/prod/odoo/not-an-id/manifest.json") is None
    assert fmt.dump_object_name("custom", "zstd", True) == "db.dump.zst.enc"
    assert fmt.dump_object_name("custom", "none", False) == "db.dump"


def test_backup_ids_sort_by_time_and_carry_it():
    a = fmt.new_backup_id(T0)
    b = fmt.new_backup_id(T0 + dt.timedelta(seconds=1))
    assert a < b
    assert fmt.backup_id_time(a) == T0
    with pytest.raises(ManifestError):
        fmt.backup_id_time("yesterday")


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 64, "..", "é"])
def test_bad_names_are_refused(name):
    with pytest.raises(ConfigError):
        fmt.check_name(name, "environment")


def test_manifest_round_trip_and_seal():
    m = sample()
    data = fmt.encode_manifest(m)
    back = fmt.decode_manifest(data)
    assert back == m
    view = fmt.Manifest.from_bytes(data)
    assert view.backup_id == "20250304T020000Z-abcdef"
    assert view.started_at == T0
    assert [o["role"] for o in view.dump_objects] == ["dump"]
    assert view.index_object["key"].endswith(fmt.INDEX_NAME)
    assert view.tables == {"res_partner": 3}
    assert view.summary()["odoo_version"] == "17.0"


def test_any_change_to_a_manifest_is_detected():
    data = json.loads(fmt.encode_manifest(sample()))
    data["database"]["tables"]["res_partner"] = 4  # still valid JSON, still well-formed
    with pytest.raises(ManifestError, match="checksum mismatch"):
        fmt.decode_manifest(json.dumps(data).encode())


def test_damaged_manifests_are_refused():
    good = fmt.encode_manifest(sample())
    with pytest.raises(ManifestError, match="not valid JSON"):
        fmt.decode_manifest(good[: len(good) // 2])
    other = json.loads(good)
    other["format_version"] = 3
    other = fmt.seal(other)
    with pytest.raises(ManifestError, match="format_version"):
        fmt.decode_manifest(json.dumps(other).encode())


def test_objects_must_stay_inside_the_backup_directory():
    m = copy.deepcopy(sample())
    m["objects"][0]["key"] = "backups/production/odoo/20250101T000000Z-000000/db.dump.zst"
    with pytest.raises(ManifestError, match="outside"):
        fmt.validate_manifest(fmt.seal(m))


def test_index_round_trip_is_deterministic():
    entries = [fmt.index_entry(f"0a/{SHA1}", SHA1, 5, 5, "c" * 64, T0),
               fmt.index_entry(f"00/00{SHA1[2:]}", "00" + SHA1[2:], 7, 7, "d" * 64)]
    blob = fmt.encode_index(entries, fmt.filestore_keyspace())
    assert blob == fmt.encode_index(list(reversed(entries)), fmt.filestore_keyspace())
    keyspace, back = fmt.decode_index(blob)
    assert keyspace == "filestore/sha1/"
    assert [e["fname"] for e in back] == sorted(e["fname"] for e in entries)
    assert back[1]["retain_until"] == "2025-03-04T02:00:00Z"
    with pytest.raises(ManifestError):
        fmt.decode_index(blob[:-10])


def test_streaming_index_reader_agrees_with_the_list_reader():
    entries = [fmt.index_entry(f"{i:02x}/{i:02x}" + SHA1[2:], f"{i:02x}" + SHA1[2:], i, i, "e" * 64)
               for i in range(50)]
    blob = fmt.encode_index(iter(sorted(entries, key=lambda e: e["fname"])), "filestore/sha1/", presorted=True)
    ks, gen = fmt.iter_index(blob)
    assert ks == "filestore/sha1/" and list(gen) == fmt.decode_index(blob)[1]
    with pytest.raises(ManifestError):
        fmt.iter_index(b"not gzip")
