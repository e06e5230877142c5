# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a Kubernetes CronJob schedule and time zone before a CronJob is applied.

Pure functions, used by the rule package and by the filters of the same names (plugins/filter/cron.py, documented
in cron_validate.yml and time_zone_validate.yml beside it).

Kubernetes parses ``spec.schedule`` with the standard five-field cron syntax of robfig/cron
(minute, hour, day of month, month, day of week) plus the descriptors ``@yearly`` ... ``@hourly``,
and ``spec.timeZone`` as an IANA time zone name. The API server rejects a bad schedule only when
the object is written, and in a dry run; these functions give the same verdict while validating
inputs, with errors that name the variable, so that nothing is applied.
"""

from __future__ import annotations

import re

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9
    zoneinfo = None

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = {m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                          "DEC"))}
DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# (name, low, high, names, '?' allowed)
FIELDS = (
    ("minute", 0, 59, {}, False),
    ("hour", 0, 23, {}, False),
    ("day of month", 1, 31, {}, True),
    ("month", 1, 12, MONTHS, False),
    ("day of week", 0, 6, DAYS, True),
)
_ITEM = re.compile(r"^(?P<range>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")


def _value(text, low, high, names):
    if text.isdigit():
        number = int(text)
    elif text.upper() in names:
        number = names[text.upper()]
    else:
        return None, f"{text!r} is not a number"
    if not low <= number <= high:
        return None, f"{text} is outside {low}-{high}"
    return number, None


def _field_errors(text, name, low, high, names, question):
    errors = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            errors.append(f"{name} {item!r} is not a value, range, list or step")
            continue
        part, step = match.group("range"), match.group("step")
        if step is not None and int(step) == 0:
            errors.append(f"{name} {item!r} has a step of 0")
        if part == "?" and not question:
            errors.append(f"{name} does not accept '?'")
        if part in ("*", "?"):
            continue
        bounds = []
        for piece in part.split("-"):
            number, problem = _value(piece, low, high, names)
            if problem:
                errors.append(f"{name} {problem}")
            bounds.append(number)
        if len(bounds) == 2 and None not in bounds and bounds[0] > bounds[1]:
            errors.append(f"{name} range {part} runs backwards")
    return errors


def cron_validate(value, field_name, time_zone=None, time_zone_field="timeZone"):
    """Problems of a CronJob schedule (and optionally its time zone), each naming ``field_name``; [] if none."""
    if not isinstance(field_name, str) or not field_name:
        raise ValueError("cron_validate: field_name must be the name of the variable being checked")
    problems = []
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        problems.append(f"{field_name} must be a cron schedule string such as '30 1 * * *', got {value!r}")
    else:
        text = value.strip()
        fields = text.split()
        if fields[0].upper().startswith(("TZ=", "CRON_TZ=")):
            problems.append(f"{field_name}={text!r}: set the time zone with {time_zone_field}, not TZ= in the schedule")
        elif text.startswith("@"):
            if text not in DESCRIPTORS:
                problems.append(f"{field_name}={text!r} is not one of {', '.join(DESCRIPTORS)}")
        elif len(fields) != 5:
            problems.append(f"{field_name}={text!r} must have five fields (minute hour day-of-month month "
                            f"day-of-week), it has {len(fields)}")
        else:
            for text_field, spec in zip(fields, FIELDS, strict=True):
                for problem in _field_errors(text_field, *spec):
                    problems.append(f"{field_name}={text!r}: {problem}")
    if time_zone is not None:
        problems.extend(time_zone_validate(time_zone, time_zone_field))
    return problems


def time_zone_validate(value, field_name):
    """Problems of an IANA time zone name (as CronJob spec.timeZone takes it), each naming ``field_name``."""
    if isinstance(value, bool) or not isinstance(value, str) or not value:
        return [f"{field_name} must be an IANA time zone name such as Etc/UTC or Europe/Brussels, got {value!r}"]
    if value == "Local" or value.startswith("/") or ".." in value:
        return [f"{field_name}={value!r} is not an IANA time zone name"]
    if zoneinfo is None:  # pragma: no cover
        return []
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [f"{field_name}={value!r} is not a known IANA time zone name"]
    return []
