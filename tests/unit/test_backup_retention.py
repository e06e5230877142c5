"""Grandfather-father-son retention and garbage selection (plugins/module_utils/backup/retention.py)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup.retention import (
    Policy,
    filestore_garbage,
    gfs,
    incomplete_backups,
)

UTC = dt.UTC


def daily(days, start=dt.datetime(2025, 1, 1, 2, 0, tzinfo=UTC), per_day=1):
    out = []
    for d in range(days):
        for k in range(per_day):
            t = start + dt.timedelta(days=d, hours=k)
            out.append((t.strftime("%Y%m%dT%H%M%SZ") + "-000000", t))
    return out


def test_seven_daily_four_weekly_twelve_monthly_over_a_year():
    backups = daily(365)
    keep, delete = gfs(backups, Policy(daily=7, weekly=4, monthly=12))
    assert len(keep) + len(delete) == 365
    newest = max(backups, key=lambda b: b[1])[0]
    assert "last 1" in keep[newest]
    days = [b for b, reasons in keep.items() if any(r.startswith("daily") for r in reasons)]
    assert len(days) == 7
    weeks = [b for b, reasons in keep.items() if any(r.startswith("weekly") for r in reasons)]
    months = [b for b, reasons in keep.items() if any(r.startswith("monthly") for r in reasons)]
    assert len(weeks) == 4 and len(months) == 12
    # at most 7 + 4 + 12 distinct backups, fewer where rules pick the same one
    assert 12 <= len(keep) <= 23


def test_newest_of_a_period_is_kept():
    backups = daily(2, per_day=3)
    keep, _delete = gfs(backups, Policy(daily=2, weekly=0, monthly=0))
    kept_times = sorted(t for b, t in backups if b in keep)
    assert [t.hour for t in kept_times] == [4, 4]


def test_periods_count_only_when_they_have_backups():
    # a 10-day outage: daily=3 keeps the three last days that HAVE backups, not 3 calendar days
    backups = daily(5) + daily(3, start=dt.datetime(2025, 1, 16, 2, 0, tzinfo=UTC))
    keep, _delete = gfs(backups, Policy(daily=5, weekly=0, monthly=0))
    assert len(keep) == 5


def test_keep_last_is_at_least_one_and_protects_the_newest():
    with pytest.raises(ValueError):
        Policy(keep_last=0)
    backups = daily(3)
    keep, delete = gfs(backups, Policy(daily=0, weekly=0, monthly=0, keep_last=1))
    assert list(keep) == [backups[-1][0]] and len(delete) == 2


def test_time_zone_moves_day_boundaries():
    # 23:30 UTC on Jan 1 and 00:30 UTC on Jan 2 are the same day in New York, different in UTC
    a = ("20250101T233000Z-000001", dt.datetime(2025, 1, 1, 23, 30, tzinfo=UTC))
    b = ("20250102T003000Z-000002", dt.datetime(2025, 1, 2, 0, 30, tzinfo=UTC))
    keep_utc, _delete = gfs([a, b], Policy(daily=2, weekly=0, monthly=0, keep_last=1))
    keep_ny, _delete = gfs([a, b], Policy(daily=2, weekly=0, monthly=0, keep_last=1, timezone="America/New_York"))
    assert len(keep_utc) == 2 and len(keep_ny) == 1
    with pytest.raises(ValueError):
        Policy(timezone="Mars/Olympus").tzinfo()


def test_deterministic_and_idempotent():
    backups = daily(60)
    p = Policy(daily=7, weekly=4, monthly=2)
    keep, delete = gfs(backups, p)
    assert gfs(list(reversed(backups)), p) == (keep, delete)
    # applying the policy to what it kept deletes nothing more
    kept = [b for b in backups if b[0] in keep]
    assert gfs(kept, p)[1] == []


def test_filestore_garbage_respects_references_and_grace():
    now = dt.datetime(2025, 1, 10, tzinfo=UTC)
    old, new = now - dt.timedelta(days=3), now - dt.timedelta(hours=1)
    objs = {"a": old, "b": old, "c": new}
    assert filestore_garbage(objs, {"a"}, now, dt.timedelta(hours=24)) == ["b"]
    assert filestore_garbage(objs, set(), now, dt.timedelta(days=5)) == []


def test_incomplete_backups_are_debris_after_grace():
    now = dt.datetime(2025, 1, 10, tzinfo=UTC)
    dirs = {("p", "o", "1"): (True, now - dt.timedelta(days=9)), ("p", "o", "2"): (False, now - dt.timedelta(days=2)),
            ("p", "o", "3"): (False, now - dt.timedelta(minutes=5))}
    assert incomplete_backups(dirs, now, dt.timedelta(hours=24)) == [("p", "o", "2")]
