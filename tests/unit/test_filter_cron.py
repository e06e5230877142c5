"""Unit tests of the CronJob schedule and time zone filters (plugins/filter/cron.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.filter import cron  # noqa: E402

VALID = [
    "30 1 * * *",
    "0 0 * * 0",
    "*/15 * * * *",
    "0 2 1-7 * MON",
    "0 2 ? * mon-fri",
    "5,35 0-6/2 1,15 JAN,jul *",
    "0 3 28 2 *",
    "  30 1 * * *  ",
    "@daily",
    "@midnight",
    "@hourly",
    "@yearly",
]


@pytest.mark.parametrize("schedule", VALID)
def test_valid_schedules_have_no_problems(schedule):
    assert cron.cron_validate(schedule, "backup_schedule") == []


INVALID = {
    "61 1 * * *": "minute 61 is outside 0-59",
    "0 24 * * *": "hour 24 is outside 0-23",
    "0 1 0 * *": "day of month 0 is outside 1-31",
    "0 1 * 13 *": "month 13 is outside 1-12",
    "0 1 * * 7": "day of week 7 is outside 0-6",
    "0 1 * * FUN": "day of week 'FUN' is not a number",
    "0 1 * JAN-XYZ *": "month 'XYZ' is not a number",
    "*/0 * * * *": "has a step of 0",
    "? 1 * * *": "minute does not accept '?'",
    "0 5-2 * * *": "hour range 5-2 runs backwards",
    "0 1 * * 1,,2": "day of week '' is not a value",
    "0 30 1 * * *": "must have five fields",
    "30 1 * *": "must have five fields",
    "@every 1h": "is not one of @yearly",
    "@nightly": "is not one of @yearly",
    "TZ=Europe/Brussels 30 1 * * *": "not TZ= in the schedule",
    "CRON_TZ=UTC 30 1 * * *": "not TZ= in the schedule",
}


@pytest.mark.parametrize("schedule", list(INVALID))
def test_invalid_schedules_are_named_and_explained(schedule):
    problems = cron.cron_validate(schedule, "backup_schedule")
    assert problems, schedule
    assert all(p.startswith("backup_schedule") for p in problems), problems
    assert any(INVALID[schedule] in p for p in problems), problems


@pytest.mark.parametrize("value", [None, "", "   ", 5, True, ["30", "1"]])
def test_non_strings_are_refused(value):
    (problem,) = cron.cron_validate(value, "backup_schedule")
    assert problem.startswith("backup_schedule must be a cron schedule string")


def test_field_name_is_required():
    with pytest.raises(AnsibleFilterError):
        cron.cron_validate("30 1 * * *", "")


def test_every_field_problem_is_reported():
    problems = cron.cron_validate("99 99 * * *", "s")
    assert len(problems) == 2 and "minute" in problems[0] and "hour" in problems[1]


@pytest.mark.parametrize("zone", ["Etc/UTC", "UTC", "Europe/Brussels", "America/Argentina/Buenos_Aires"])
def test_known_time_zones(zone):
    assert cron.time_zone_validate(zone, "backup_time_zone") == []
    assert cron.cron_validate("30 1 * * *", "backup_schedule", time_zone=zone) == []


@pytest.mark.parametrize("zone", ["Europe/Brusels", "Mars/Olympus", "Local", "/etc/localtime", "../../etc/passwd",
                                  "", None, 1])
def test_unknown_time_zones_are_named(zone):
    (problem,) = cron.time_zone_validate(zone, "backup_time_zone")
    assert problem.startswith("backup_time_zone")


def test_schedule_and_time_zone_problems_together():
    problems = cron.cron_validate("61 * * * *", "backup_schedule", time_zone="Nowhere/Land",
                                  time_zone_field="backup_time_zone")
    assert [p.split("=")[0].split(" ")[0] for p in problems] == ["backup_schedule", "backup_time_zone"]


def test_filters_are_registered():
    filters = cron.FilterModule().filters()
    assert filters["cron_validate"] is cron.cron_validate
    assert filters["time_zone_validate"] is cron.time_zone_validate
