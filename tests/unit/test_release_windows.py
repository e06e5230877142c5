"""Allow/deny windows and freeze calendars at fixed instants (no wall clock): time zones, DST, .ics files."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.release import windows as win
from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calendars"
UTC = dt.UTC


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def decide(policy, instant, calendars=None):
    return win.schedule(policy, calendars or {}).decide(instant)


# -- a tenant's time zone ahead of UTC ---------------------------------------------------------------------

AUCKLAND = {"timezone": "Pacific/Auckland",
            "deny_windows": [{"name": "Monday payroll run", "rrule": "FREQ=WEEKLY;BYDAY=MO",
                              "start": "2026-01-05T00:00", "duration": "PT12H"}]}


def test_a_deny_window_in_the_tenants_zone_while_utc_is_still_on_the_previous_day():
    # Sunday 20:00 UTC is Monday 09:00 in Auckland (NZDT, +13): the Monday deny window is open there
    sunday_utc = at(2026, 12, 6, 20, 0)
    assert sunday_utc.weekday() == 6
    result = decide(AUCKLAND, sunday_utc)
    assert not result["allowed"]
    assert result["at"] == "2026-12-07 09:00 NZDT"
    assert result["blocked_by"] == ["deny Monday payroll run (2026-12-07 00:00 NZDT to 2026-12-07 12:00 NZDT)"]


def test_the_same_utc_day_earlier_is_still_sunday_in_the_tenants_zone():
    # 10:00 UTC on Sunday is 23:00 on Sunday in Auckland: not yet Monday
    assert decide(AUCKLAND, at(2026, 12, 6, 10, 0))["allowed"]
    # and Monday 00:30 UTC is already 13:30 there, after the window
    assert decide(AUCKLAND, at(2026, 12, 7, 0, 30))["allowed"]


# -- DST in Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00 -------------------------------

BERLIN_HOURS = {"timezone": "Europe/Berlin",
                "allow_windows": [{"name": "office hours", "rrule": "FREQ=DAILY", "start": "2026-01-01T06:00",
                                   "duration": "PT10H"}]}


@pytest.mark.parametrize(("instant", "allowed"), [
    (at(2026, 3, 28, 4, 30), False),  # 05:30 CET, the day before: not yet open
    (at(2026, 3, 28, 5, 30), True),  # 06:30 CET
    (at(2026, 3, 29, 4, 30), True),  # 06:30 CEST on spring-forward day: 06:00 is still 06:00 local
    (at(2026, 3, 29, 3, 30), False),  # 05:30 CEST
    (at(2026, 3, 29, 14, 30), False),  # 16:30 CEST: closed at 16:00 local, not 16:00 CET
    (at(2026, 10, 25, 5, 30), True),  # 06:30 CET on fall-back day
    (at(2026, 10, 25, 4, 30), False),  # 05:30 CET
    (at(2026, 10, 25, 14, 30), True),  # 15:30 CET
    (at(2026, 10, 25, 15, 30), False),  # 16:30 CET
])
def test_an_allow_window_keeps_its_local_hours_across_dst(instant, allowed):
    assert decide(BERLIN_HOURS, instant)["allowed"] is allowed


def test_a_window_starting_in_the_spring_forward_gap_uses_the_offset_before_the_gap():
    policy = {"timezone": "Europe/Berlin", "deny_windows": [
        {"name": "nightly batch", "rrule": "FREQ=DAILY", "start": "2026-03-01T02:30", "duration": "PT1H"}]}
    # 02:30 does not exist on 2026-03-29; RFC 5545 reads it as 02:30 CET = 01:30 UTC, for one exact hour
    assert not decide(policy, at(2026, 3, 29, 1, 45))["allowed"]
    assert decide(policy, at(2026, 3, 29, 2, 35))["allowed"]
    assert decide(policy, at(2026, 3, 29, 1, 25))["allowed"]


def test_an_ambiguous_start_on_fall_back_day_is_its_first_occurrence_and_hours_are_exact():
    policy = {"timezone": "Europe/Berlin", "deny_windows": [
        {"name": "backup", "rrule": "FREQ=DAILY", "start": "2026-10-01T02:30", "duration": "PT30M"}]}
    assert not decide(policy, at(2026, 10, 25, 0, 45))["allowed"]  # 02:45 CEST, the first 02:45
    assert decide(policy, at(2026, 10, 25, 1, 45))["allowed"]  # 02:45 CET, the repeat
    three_hours = {"timezone": "Europe/Berlin", "deny_windows": [
        {"name": "maintenance", "rrule": "FREQ=DAILY", "start": "2026-10-01T01:00", "duration": "PT3H"}]}
    # 01:00 CEST = 23:00 UTC; three exact hours end at 02:00 UTC (03:00 CET), not at 04:00 local
    assert not decide(three_hours, at(2026, 10, 25, 1, 55))["allowed"]
    assert decide(three_hours, at(2026, 10, 25, 2, 5))["allowed"]


def test_a_nominal_day_duration_ends_at_the_same_wall_time():
    policy = {"timezone": "Europe/Berlin", "deny_windows": [
        {"name": "weekend", "rrule": "FREQ=WEEKLY;BYDAY=SA", "start": "2026-01-03T00:00", "duration": "P2D"}]}
    # the weekend of the spring change: Sat 00:00 CET to Mon 00:00 CEST (47 hours)
    assert not decide(policy, at(2026, 3, 29, 21, 55))["allowed"]  # Sunday 23:55 CEST
    assert decide(policy, at(2026, 3, 29, 22, 5))["allowed"]  # Monday 00:05 CEST


def test_outside_every_allow_window_names_the_next_opening():
    result = decide(BERLIN_HOURS, at(2026, 12, 5, 20, 0))
    assert result["blocked_by"] == ["outside every allow window (office hours); the next opens 2026-12-06 06:00 CET"]


def test_a_pass_says_which_window_decided():
    assert decide(BERLIN_HOURS, at(2026, 12, 7, 9, 0))["decided_by"] == [
        "allow window office hours (2026-12-07 06:00 CET to 2026-12-07 16:00 CET)"]


# -- freeze calendars exported as .ics -------------------------------------------------------------------

FINANCE = {"timezone": "Europe/Berlin", "freeze_calendars": ["finance"]}
CALENDARS = {"finance": (FIXTURES / "finance-freezes.ics").read_text()}


@pytest.mark.parametrize(("instant", "frozen_by"), [
    (at(2026, 6, 20, 9, 59), None),  # 11:59 CEST on the 20th: the cutoff starts at 12:00
    (at(2026, 6, 20, 10, 0), "Payroll cutoff (2026-06-20 12:00 CEST to 2026-06-22 12:00 CEST)"),
    (at(2026, 6, 22, 9, 59), "Payroll cutoff (2026-06-20 12:00 CEST to 2026-06-22 12:00 CEST)"),
    (at(2026, 6, 22, 10, 0), None),
    (at(2026, 8, 20, 12, 0), None),  # EXDATE: no cutoff in August
    (at(2026, 2, 26, 23, 30), "Month-end close (2026-02-27 to 2026-03-02)"),  # 00:30 CET on the 27th
    (at(2026, 2, 26, 22, 30), None),  # 23:30 CET on the 26th
    (at(2026, 3, 2, 22, 59), "Month-end close (2026-02-27 to 2026-03-02)"),
    (at(2026, 3, 2, 23, 0), None),  # midnight Berlin: the close has ended
    (at(2026, 12, 15, 12, 0), "External audit on site (2026-12-15 to 2026-12-15)"),  # one-off all-day date
    (at(2026, 12, 16, 12, 0), None),
    (at(2027, 12, 15, 12, 0), None),  # a one-off date does not recur
])
def test_an_ics_freeze_calendar(instant, frozen_by):
    result = decide(FINANCE, instant, CALENDARS)
    if frozen_by is None:
        assert result["allowed"], result
    else:
        assert result["blocked_by"] == [f"freeze finance: {frozen_by}"]


def test_an_ics_event_in_utc_with_until_and_a_floating_one():
    text = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//HR//Payroll//EN
BEGIN:VEVENT
UID:a
SUMMARY:Quarter close
DTSTART:20260101T230000Z
DURATION:PT26H
RRULE:FREQ=MONTHLY;INTERVAL=3;UNTIL=20261231T220000Z
END:VEVENT
BEGIN:VEVENT
UID:b
SUMMARY:Inventory count
DTSTART:20261127T080000
DTEND:20261127T170000
END:VEVENT
END:VCALENDAR
"""
    cals = {"hr": text}
    policy = {"timezone": "Europe/Berlin", "freeze_calendars": ["hr"]}
    assert not decide(policy, at(2026, 10, 2, 0, 0), cals)["allowed"]  # Oct 1 23:00 UTC + 26 h
    assert decide(policy, at(2026, 10, 3, 1, 1), cals)["allowed"]
    assert decide(policy, at(2027, 1, 2, 0, 0), cals)["allowed"]  # after UNTIL
    # floating time: 08:00 in the environment's zone (CET), 07:00 UTC
    assert decide(policy, at(2026, 11, 27, 6, 59), cals)["allowed"]
    assert not decide(policy, at(2026, 11, 27, 7, 0), cals)["allowed"]


def test_bad_inputs_are_refused_with_their_name():
    with pytest.raises(ReleaseError, match="unknown time zone"):
        win.schedule({"timezone": "Mars/Olympus"}, {})
    with pytest.raises(ReleaseError, match="not an ISO 8601 duration"):
        win.schedule({"deny_windows": [{"name": "x", "start": "2026-01-01T00:00", "duration": "10 hours"}]}, {})
    with pytest.raises(ReleaseError, match="RRULE"):
        win.schedule({"deny_windows": [{"name": "x", "rrule": "FREQ=SOMETIMES", "start": "2026-01-01T00:00",
                                        "duration": "PT1H"}]}, {}).decide(at(2026, 1, 1))
    with pytest.raises(ReleaseError, match="contents were not given"):
        win.schedule({"freeze_calendars": ["finance"]}, {})
    with pytest.raises(ReleaseError, match="offset"):
        win.schedule({}, {}).decide(dt.datetime(2026, 1, 1))
