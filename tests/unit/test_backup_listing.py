"""Unit tests of how a backup listing reads as text (plugins/module_utils/backup/listing.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup.listing import human_size, line  # noqa: E402

ITEM = {"backup_id": "20261206T013000Z-4f2a9c", "started_at": "2026-12-06T01:30:00Z", "size": 3 * 2**30 // 2,
        "sealed": True, "locked": True, "lock_mode": "COMPLIANCE", "retain_until": "2027-01-10T01:34:12Z",
        "tampered": False}


def test_sizes():
    assert [human_size(n) for n in (None, 0, 1023, 1024, 5 * 2**20 + 2**19, 2**50)] == [
        "?", "0 B", "1023 B", "1.0 KiB", "5.5 MiB", "1024.0 TiB"]


def test_a_sealed_locked_backup():
    assert line(ITEM) == ("20261206T013000Z-4f2a9c  2026-12-06T01:30:00Z  1.5 GiB  sealed  "
                          "locked COMPLIANCE until 2027-01-10T01:34:12Z")


def test_lapsed_lock_unsealed_and_tampered():
    item = dict(ITEM, locked=False, sealed=False, error="manifest checksum mismatch", size=None, tampered=True,
                hidden_by_delete_marker=True)
    assert line(item) == ("20261206T013000Z-4f2a9c  2026-12-06T01:30:00Z  ?  NOT SEALED (manifest checksum mismatch)"
                          "  lock lapsed 2027-01-10T01:34:12Z  TAMPERED (manifest hidden by a delete marker)")
    item = dict(ITEM, locked=False, retain_until=None, lock_mode=None, tampered=True)
    assert line(item).endswith("sealed  not locked  TAMPERED (manifest written over)")
