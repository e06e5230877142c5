"""Attachment gaps (issue 14, item 9): a backup that lacks files its database references fails unless the policy
names them; a verification says so; a drill that checked fewer files than referenced is red and says what was
missing."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import check_missing
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    ConfigError,
    FilestoreIncomplete,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.verify import completeness
from ansible_collections.governed.odoo.plugins.module_utils.restore import drill

T0 = dt.datetime(2025, 3, 4, 2, 0, 0, tzinfo=dt.UTC)
A, B, C = ("0a/" + "0a" * 20), ("0b/" + "0b" * 20), ("0c/" + "0c" * 20)


def test_no_gap_no_policy_needed():
    assert check_missing([], where="s3://att/inst/db/") == {"files": [], "count": 0, "unnamed": 0}


def test_a_gap_fails_the_backup_naming_the_files_and_the_source():
    with pytest.raises(FilestoreIncomplete) as err:
        check_missing([A, B], where="s3://att/inst/db/")
    assert "2 attachment file(s)" in err.value.msg and "s3://att/inst/db/" in err.value.msg
    assert A in err.value.msg and B in err.value.msg and "nothing was sealed" in err.value.msg
    assert err.value.details["missing"] == [A, B] and err.value.details["missing_count"] == 2
    assert err.value.kind == "filestore_incomplete"


def test_the_policy_names_gaps_or_counts_them():
    assert check_missing([A, B], accept_files=[A, B, C]) == {"files": [A, B], "count": 0, "unnamed": 0}
    assert check_missing([A, B], accept_files=[A], accept_count=1) == {"files": [A], "count": 1, "unnamed": 1}
    with pytest.raises(FilestoreIncomplete) as err:
        check_missing([A, B, C], accept_files=[A], accept_count=1)
    assert err.value.details["missing"] == [B, C] and err.value.details["accepted"] == [A]
    with pytest.raises(ConfigError):
        check_missing([], accept_count=-1)


class _Store:
    def full(self, rel):
        return rel


def manifest(missing, policy):
    prefix = fmt.backup_prefix("production", "odoo", "20250304T020000Z-abcdef")
    fs = {"keyspace": fmt.filestore_keyspace(), "count": 1, "size": 5, "missing": missing}
    if policy is not None:
        fs["missing_accepted"] = policy
    return fmt.Manifest(
        fmt.build_manifest(
            backup_id="20250304T020000Z-abcdef",
            environment="production",
            db_name="odoo",
            started_at=T0,
            finished_at=T0,
            source={},
            odoo={},
            postgresql={},
            database={"format": "custom", "compression": "zstd"},
            filestore=fs,
            objects=[
                {"key": prefix + "db.dump.zst", "role": "dump", "size": 4, "sha256": "a" * 64},
                {"key": prefix + fmt.INDEX_NAME, "role": "filestore-index", "size": 9, "sha256": "b" * 64},
            ],
        )
    )


def test_verification_fails_a_backup_with_unaccepted_gaps():
    problems, warnings = completeness(_Store(), manifest([A], None))  # written before the policy existed
    assert [p["problem"] for p in problems] == ["incomplete"] and problems[0]["missing"] == [A] and not warnings
    problems, warnings = completeness(_Store(), manifest([A], {"files": [A], "count": 0, "unnamed": 0}))
    assert not problems and A in warnings[0] and "accepted" in warnings[0]
    assert completeness(_Store(), manifest([], None)) == ([], [])


def report(att):
    return drill.build_report(
        drill_id="20261126T020000Z",
        environment="prod",
        started_at="2026-11-26T02:00:00Z",
        verified_at="2026-11-26T02:10:00Z",
        data={"ok": True, "tables": []},
        attachments=att,
    )


def test_a_drill_that_checked_0_of_n_attachments_is_red_and_says_what_was_missing():
    missing = [f"{i:02x}/" + f"{i:02x}" * 20 for i in range(206)]
    att = {
        "ok": True,
        "checked": 0,
        "referenced": 206,
        "bytes": 0,
        "problems": [],
        "missing_at_source": missing,
        "reference": "content SHA-1",
    }
    r = report(att)
    assert r["result"] == "fail"
    gap = next(f for f in r["failures"] if "attachment" in f)
    assert gap.startswith("only 0 of 206 attachment files verified; 206 missing at the source")
    assert missing[0] in gap
    page = drill.render_html(r)
    assert "FAIL" in page and "0 of 206" in page and missing[0] in page and missing[199] in page
    assert "and 6 more" in page
    assert "Missing at the source when the backup was taken" in page


def test_a_drill_that_checked_fewer_than_all_is_red_and_all_is_green():
    r = report({"ok": True, "checked": 159, "referenced": 160, "bytes": 10, "problems": [], "missing_at_source": [A]})
    assert r["result"] == "fail" and any("only 159 of 160" in f and A in f for f in r["failures"])
    assert "159 of 160" in drill.render_html(r)
    r = report({"ok": True, "checked": 160, "referenced": 160, "bytes": 10, "problems": []})
    assert r["result"] == "pass", r["failures"]
    assert "160 of 160" in drill.render_html(r)
    # a check of an older version (no "referenced"): the files missing at the source still count
    r = report({"ok": True, "checked": 3, "bytes": 10, "problems": [], "missing_at_source": [A, B]})
    assert r["result"] == "fail" and any("only 3 of 5" in f for f in r["failures"])
