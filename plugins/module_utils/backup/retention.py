# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention decisions, pure: which backups a grandfather-father-son policy keeps, which filestore
objects no kept backup references. No I/O here; prune.py acts on these verdicts.

GFS semantics (the same as restic's ``--keep-daily`` and friends): ``daily: 7`` keeps the newest
backup of each of the 7 most recent calendar days *that have a backup*; weekly uses ISO weeks,
monthly calendar months, yearly calendar years, all in the policy's time zone. A backup kept by
several rules lists every reason. ``keep_last`` (at least 1) always keeps the newest backups, so a
policy can never delete the most recent backup. Counting periods that have backups, not calendar
periods, means that when backups stop (an outage), the old ones are kept, not aged out.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - Python < 3.9
    ZoneInfo = None


@dataclass(frozen=True)
class Policy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12
    yearly: int = 0
    keep_last: int = 1
    timezone: str = "UTC"

    def __post_init__(self):
        for name in ("daily", "weekly", "monthly", "yearly", "keep_last"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"retention {name} must be a non-negative integer, not {value!r}")
        if self.keep_last < 1:
            raise ValueError("retention keep_last must be at least 1: the newest backup is always kept")

    def tzinfo(self):
        if self.timezone in (None, "", "UTC"):
            return _dt.timezone.utc
        if ZoneInfo is None:  # pragma: no cover
            raise ValueError("time zones other than UTC need Python's zoneinfo")
        try:
            return ZoneInfo(self.timezone)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    def as_dict(self):
        return {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly, "yearly": self.yearly,
                "keep_last": self.keep_last, "timezone": self.timezone}


_RULES = (
    ("daily", lambda t: t.strftime("%Y-%m-%d")),
    ("weekly", lambda t: "%04d-W%02d" % t.isocalendar()[:2]),
    ("monthly", lambda t: t.strftime("%Y-%m")),
    ("yearly", lambda t: t.strftime("%Y")),
)


def gfs(backups, policy):
    """Apply ``policy`` to ``backups`` (iterable of (backup_id, aware datetime)).

    Returns ``(keep, delete)``: ``keep`` maps backup_id -> list of reasons (for example
    ``["last 1", "daily 2025-03-04", "monthly 2025-03"]``), ``delete`` is the list of the other ids,
    newest first. Ties in time are broken by id, so the result is deterministic.
    """
    tz = policy.tzinfo()
    items = sorted(((t, bid) for bid, t in backups), reverse=True)
    keep = {}
    for i, (_t, bid) in enumerate(items):
        if i < policy.keep_last:
            keep.setdefault(bid, []).append(f"last {policy.keep_last}")
    for rule, period_of in _RULES:
        limit = getattr(policy, rule)
        if limit <= 0:
            continue
        seen = []
        for t, bid in items:
            period = period_of(t.astimezone(tz))
            if period in seen:
                continue
            if len(seen) >= limit:
                break
            seen.append(period)
            keep.setdefault(bid, []).append(f"{rule} {period}")
    delete = [bid for _t, bid in items if bid not in keep]
    return keep, delete


def filestore_garbage(objects, referenced, now, grace):
    """Filestore object keys that no kept backup references and that are older than ``grace``.

    ``objects`` maps key -> last-modified time (aware), ``referenced`` is a set of keys. The grace
    period protects files uploaded by a backup that is still running (its manifest does not exist
    yet); it should exceed the longest backup run.
    """
    cutoff = now - grace
    return sorted(k for k, mtime in objects.items() if k not in referenced and mtime < cutoff)


def incomplete_backups(dirs, now, grace):
    """Backup directories without a manifest whose newest object is older than ``grace``.

    ``dirs`` maps (environment, db_name, backup_id) -> (has_manifest, newest last-modified).
    A directory without a manifest is debris of an interrupted run, never a backup.
    """
    cutoff = now - grace
    return sorted(k for k, (has_manifest, newest) in dirs.items() if not has_manifest and newest < cutoff)
