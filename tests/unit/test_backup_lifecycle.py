"""Unit tests of the backups bucket's lifecycle rules (plugins/module_utils/backup/lifecycle.py, the filter
governed.odoo.backup_bucket_lifecycle): only backup directories expire; content-addressed objects that later backups
reuse without a new upload are never reached, by age or as noncurrent versions."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from ansible_collections.governed.odoo.plugins.filter.backup_bucket import backup_bucket_lifecycle  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.backup import lifecycle  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt  # noqa: E402
from s3_lifecycle import Version, reached  # noqa: E402

NOW = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=401)  # past a 400-day expiry
SHA1 = "ab" * 20
BID_OLD = "20260426T013000Z-aaaaaa"
BID_NEW = "20270531T013000Z-bbbbbb"
# the whole-bucket rules this collection shipped before: an age expiry over everything
WHOLE_BUCKET = [
    {"ID": "expire-old-backups", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 400}},
    {"ID": "expire-replaced-backups", "Status": "Enabled", "Filter": {"Prefix": ""},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 7}},
]


def store(root=""):
    """A year-old backup whose attachment and table archive today's backup still references, as versions."""
    old_dir = root + fmt.backup_prefix("prod", "odoo", BID_OLD)
    new_dir = root + fmt.backup_prefix("prod", "odoo", BID_NEW)
    return [
        Version(root + fmt.filestore_key(SHA1), "f1", OLD, True),
        Version(root + fmt.table_object_key(BID_OLD, 1, "zstd", False), "t1", OLD, True),
        Version(old_dir + "db.dump.zst", "d1", OLD, True),
        Version(old_dir + fmt.MANIFEST_NAME, "m1", OLD, True),
        Version(new_dir + "db.dump.zst", "d2", NOW - dt.timedelta(days=1), True),
        Version(new_dir + fmt.MANIFEST_NAME, "m2", NOW - dt.timedelta(days=1), True),
    ]


def test_rules_of_the_bucket_root():
    rules = lifecycle.backups_bucket_rules([""], 400, 7, 3)
    assert [(r["ID"], r["Filter"]) for r in rules] == [
        ("expire-old-backups", {"Prefix": "backups/"}),
        ("expire-replaced-backups", {"Prefix": "backups/"}),
        ("abort-incomplete-uploads", {"Prefix": ""}),
    ]
    assert rules[0]["Expiration"] == {"Days": 400}
    assert rules[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rules[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}


def test_one_pair_of_rules_per_store_root():
    rules = lifecycle.backups_bucket_rules(["", "team/a/", "/team/a", "", "b"], "400", "7", "7")
    ids = [r["ID"] for r in rules]
    assert ids == ["expire-old-backups", "expire-replaced-backups", "expire-old-backups-b",
                   "expire-replaced-backups-b", "expire-old-backups-team-a", "expire-replaced-backups-team-a",
                   "abort-incomplete-uploads"]
    assert len(set(ids)) == len(ids)
    assert {r["Filter"]["Prefix"] for r in rules} == {"backups/", "b/backups/", "team/a/backups/", ""}
    assert lifecycle.store_roots([]) == [""]


@pytest.mark.parametrize("root", ["", "stores/x/"])
def test_referenced_content_is_never_reached_only_the_old_backup_directory(root):
    rules = lifecycle.backups_bucket_rules([root], 400, 7, 7)
    got = reached(rules, store(root), NOW)
    old_dir = root + fmt.backup_prefix("prod", "odoo", BID_OLD)
    assert set(got) == {(old_dir + "db.dump.zst", "d1"), (old_dir + fmt.MANIFEST_NAME, "m1")}
    assert all(action == "expiration" for _id, action in got.values())


def test_the_whole_bucket_rule_expired_referenced_content():
    """What the fix is for: the old rule reached the attachment and the table archive today's backup references."""
    got = reached(WHOLE_BUCKET, store(), NOW)
    assert (fmt.filestore_key(SHA1), "f1") in got
    assert (fmt.table_object_key(BID_OLD, 1, "zstd", False), "t1") in got


def test_a_pinned_original_made_noncurrent_by_an_overwrite_is_kept():
    """Someone writes over a referenced attachment: the original, which every manifest pins, becomes noncurrent."""
    versions = [Version(fmt.filestore_key(SHA1), "f1", OLD, False),
                Version(fmt.filestore_key(SHA1), "evil", NOW - dt.timedelta(days=30), True)]
    assert reached(lifecycle.backups_bucket_rules([""], 400, 7, 7), versions, NOW) == {}
    assert reached(WHOLE_BUCKET, versions, NOW)[(fmt.filestore_key(SHA1), "f1")] == (
        "expire-replaced-backups", "noncurrent")


@pytest.mark.parametrize("bad", [0, -1, "x", None, 1.5, True])
def test_bad_periods_are_refused(bad):
    with pytest.raises(ValueError, match="storage_backups_expire_days"):
        lifecycle.backups_bucket_rules([""], bad, 7, 7)
    with pytest.raises(AnsibleFilterError, match="storage_abort_multipart_days"):
        backup_bucket_lifecycle([""], 400, 7, bad)


def test_the_filter_returns_the_rules():
    assert backup_bucket_lifecycle([""], 400, 7, 7) == lifecycle.backups_bucket_rules([""], 400, 7, 7)
