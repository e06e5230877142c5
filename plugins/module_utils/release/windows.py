# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Allow and deny windows (RFC 5545 recurrence rules) and freeze calendars (iCalendar files), pure.

A window of the policy::

    {"name": "weekday mornings", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH", "start": "2026-01-05T06:00",
     "duration": "PT10H"}

``start`` is the DTSTART in the environment's time zone (``timezone``, an IANA name read with zoneinfo),
without an offset: occurrences are generated in local wall time by dateutil.rrule and only then placed on
the time line, so 06:00 stays 06:00 across a DST change. As RFC 5545 says, a local time that does not exist
(spring forward) is read with the offset before the gap, an ambiguous one (fall back) as its first
occurrence; a duration in days or weeks is nominal (to the same wall time), hours, minutes and seconds are
exact. A window without ``rrule`` happens once.

Freeze calendars are .ics texts as HR and finance tools export them (icalendar library): each VEVENT with
DTSTART (a date for an all-day event; a date-time with TZID, in UTC, or floating, which means the
environment's zone), DTEND or DURATION (an all-day event without either lasts one day), RRULE, RDATE and
EXDATE. Every instant is an aware datetime; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - Python >= 3.9
    ZoneInfo = None

try:
    from dateutil import rrule as _rrule

    HAS_DATEUTIL = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_DATEUTIL = False

try:
    import icalendar

    HAS_ICALENDAR = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_ICALENDAR = False

UTC = _dt.timezone.utc
_DURATION_RE = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")


def zone(name):
    if ZoneInfo is None:  # pragma: no cover
        raise ReleaseError("zoneinfo is required")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ReleaseError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None


def parse_duration(text):
    """(nominal days, exact timedelta) of an ISO 8601 / RFC 5545 duration such as PT10H, P1D, P1DT2H."""
    if isinstance(text, _dt.timedelta):
        return 0, text
    match = _DURATION_RE.match(str(text or "").strip().upper())
    if not match or str(text).strip().upper() in ("P", "PT"):
        raise ReleaseError(f"duration {text!r} is not an ISO 8601 duration such as PT10H or P1D")
    g = {k: int(v or 0) for k, v in match.groupdict().items()}
    return g["w"] * 7 + g["d"], _dt.timedelta(hours=g["h"], minutes=g["m"], seconds=g["s"])


def parse_instant(value):
    """An aware datetime from a datetime or ISO text with an offset (naive instants are refused)."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ReleaseError(f"instant {value!r} is not ISO 8601") from None
    if not isinstance(value, _dt.datetime) or value.tzinfo is None:
        raise ReleaseError(f"instant {value!r} must be a datetime with a UTC offset")
    return value


def localize(wall, tz):
    """A local wall time on the time line: fold 0 (RFC 5545: the offset before a gap, the first of a repeat)."""
    return wall.replace(tzinfo=tz, fold=0)


@dataclass
class Span:
    """Something that recurs (or happens once) in local wall time in ``tz``."""

    name: str
    kind: str  # allow, deny or freeze
    tz: object
    start: _dt.datetime  # naive local wall time
    days: int = 0
    exact: _dt.timedelta = field(default_factory=_dt.timedelta)
    rule: str | None = None
    rdates: tuple = ()
    exdates: frozenset = frozenset()
    all_day: bool = False
    _rule_cache: object = field(default=None, repr=False, compare=False)

    @property
    def reach(self):
        """An upper bound of an occurrence's length, to bound the search."""
        return _dt.timedelta(days=self.days + 1) + self.exact

    def _rrule(self):
        if self._rule_cache is None:
            try:
                self._rule_cache = _rrule.rrulestr(self.rule, dtstart=self.start, cache=True)
            except (ValueError, TypeError) as exc:
                raise ReleaseError(f"{self.kind} {self.name}: RRULE {self.rule!r} is not valid: {exc}") from None
        return self._rule_cache

    def bounds(self, wall):
        """(start, end) aware instants of the occurrence that starts at local ``wall``."""
        begin = localize(wall, self.tz)
        end = localize(wall + _dt.timedelta(days=self.days), self.tz).astimezone(UTC) + self.exact
        return begin, end

    def starts_between(self, lo, hi):
        """Local wall starts of occurrences in [lo, hi] (naive), EXDATEs removed."""
        if self.rule:
            starts = list(self._rrule().between(lo, hi, inc=True))
        else:
            starts = [self.start] if lo <= self.start <= hi else []
        starts.extend(d for d in self.rdates if lo <= d <= hi)
        return sorted(s for s in set(starts) if s not in self.exdates and s.date() not in self.exdates)

    def containing(self, instant):
        """(start, end) of the occurrence that contains ``instant`` (start <= instant < end), or None."""
        wall = instant.astimezone(self.tz).replace(tzinfo=None)
        for start in self.starts_between(wall - self.reach, wall + _dt.timedelta(days=1)):
            begin, end = self.bounds(start)
            if begin <= instant < end:
                return begin, end
        return None

    def next_start(self, instant, horizon_days=400):
        wall = instant.astimezone(self.tz).replace(tzinfo=None)
        for start in self.starts_between(wall, wall + _dt.timedelta(days=horizon_days)):
            begin, _end = self.bounds(start)
            if begin > instant:
                return begin
        return None

    def describe(self, begin, end):
        fmt = "%Y-%m-%d" if self.all_day else "%Y-%m-%d %H:%M %Z"
        local_end = end.astimezone(self.tz) - (_dt.timedelta(days=1) if self.all_day else _dt.timedelta())
        return f"{begin.astimezone(self.tz).strftime(fmt)} to {local_end.strftime(fmt)}"


def _need_libs():
    if not HAS_DATEUTIL:
        raise ReleaseError("the python library python-dateutil is required for release windows")


def window(spec, kind, tz):
    """A policy window (allow or deny) as a :class:`Span`."""
    _need_libs()
    if not isinstance(spec, dict):
        raise ReleaseError(f"a {kind} window must be a mapping with name, start, duration and optionally rrule")
    name = spec.get("name") or "(unnamed)"
    try:
        start = _dt.datetime.fromisoformat(str(spec.get("start")))
    except ValueError:
        raise ReleaseError(f"{kind} window {name}: start={spec.get('start')!r} is not a local date-time") from None
    if start.tzinfo is not None:
        raise ReleaseError(f"{kind} window {name}: start is local time in the environment's time zone, no offset")
    days, exact = parse_duration(spec.get("duration"))
    if not days and not exact:
        raise ReleaseError(f"{kind} window {name}: duration must be longer than zero")
    span_tz = zone(spec["timezone"]) if spec.get("timezone") else tz
    return Span(name, kind, span_tz, start, days, exact, rule=spec.get("rrule") or None)


def _ics_list(component, prop):
    value = component.get(prop)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [d.dt for v in values for d in v.dts]


def _to_wall(value, tz):
    """A DTSTART/EXDATE value as naive wall time in ``tz`` (a date: midnight)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return value
        return value.astimezone(tz).replace(tzinfo=None)
    return _dt.datetime(value.year, value.month, value.day)


def calendar(name, text, tz):
    """The VEVENTs of an .ics text as freeze :class:`Span`s (floating times in ``tz``)."""
    _need_libs()
    if not HAS_ICALENDAR:
        raise ReleaseError("the python library icalendar is required for freeze calendars")
    try:
        cal = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ReleaseError(f"freeze calendar {name} is not an iCalendar file: {exc}") from None
    spans = []
    for event in cal.walk("VEVENT"):
        summary = str(event.get("SUMMARY") or event.get("UID") or "event")
        if event.get("DTSTART") is None:
            raise ReleaseError(f"freeze calendar {name}: event {summary} has no DTSTART")
        dtstart = event.get("DTSTART").dt
        all_day = not isinstance(dtstart, _dt.datetime)
        event_tz = tz
        if not all_day and dtstart.tzinfo is not None:
            key = getattr(dtstart.tzinfo, "key", None)
            event_tz = zone(key) if key else dtstart.tzinfo
        start = _to_wall(dtstart, event_tz)
        days, exact = 0, _dt.timedelta()
        if event.get("DTEND") is not None:
            end = _to_wall(event.get("DTEND").dt, event_tz)
            if all_day:
                days = (end - start).days
            else:
                exact = localize(end, event_tz) - localize(start, event_tz)
        elif event.get("DURATION") is not None:
            delta = event.get("DURATION").dt
            days, exact = (delta.days, delta - _dt.timedelta(days=delta.days))
        elif all_day:
            days = 1
        if days <= 0 and exact <= _dt.timedelta():
            raise ReleaseError(f"freeze calendar {name}: event {summary} ends before it starts")
        rrule_prop = event.get("RRULE")
        rule = rrule_prop.to_ical().decode() if rrule_prop is not None else None
        if rule and "UNTIL=" in rule and not all_day:
            # RFC 5545: UNTIL is UTC when DTSTART has a zone; dateutil wants it in DTSTART's (naive) terms
            rule = _naive_until(rule, event_tz)
        exdates = frozenset(
            d if not isinstance(d, _dt.datetime) else _to_wall(d, event_tz) for d in _ics_list(event, "EXDATE"))
        rdates = tuple(_to_wall(d, event_tz) for d in _ics_list(event, "RDATE"))
        spans.append(Span(f"{name}: {summary}", "freeze", event_tz, start, days, exact, rule=rule,
                          rdates=rdates, exdates=exdates, all_day=all_day))
    return spans


def _naive_until(rule, tz):
    def repl(match):
        text = match.group(1)
        if not text.endswith("Z"):
            return match.group(0)
        until = _dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return "UNTIL=" + until.astimezone(tz).replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")

    return re.sub(r"UNTIL=([0-9TZ]+)", repl, rule)


@dataclass
class Schedule:
    """Every window and freeze of one environment."""

    tz: object
    allow: list
    deny: list
    freezes: list

    def decide(self, instant):
        """{"allowed", "decided_by": [...], "blocked_by": [...]} at ``instant``; every reason is precise."""
        instant = parse_instant(instant)
        blocked = []
        for span in self.deny + self.freezes:
            hit = span.containing(instant)
            if hit:
                blocked.append(f"{span.kind} {span.name} ({span.describe(*hit)})")
        decided = []
        if self.allow:
            inside = [(span, span.containing(instant)) for span in self.allow]
            inside = [(s, hit) for s, hit in inside if hit]
            if inside:
                decided = [f"allow window {s.name} ({s.describe(*hit)})" for s, hit in inside]
            else:
                nexts = [n for n in (s.next_start(instant) for s in self.allow) if n]
                after = f"; the next opens {min(nexts).astimezone(self.tz).strftime('%Y-%m-%d %H:%M %Z')}" \
                    if nexts else ""
                blocked.append(f"outside every allow window ({', '.join(s.name for s in self.allow)}){after}")
        else:
            decided = ["no allow windows: any time outside deny windows and freezes"]
        local = instant.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")
        return {"allowed": not blocked, "at": local, "blocked_by": blocked, "decided_by": blocked or decided}


def schedule(policy, calendars):
    """The :class:`Schedule` of a policy (release/policy.py keys) and the freeze calendars' texts by name."""
    tz = zone(policy.get("timezone") or "UTC")
    allow = [window(s, "allow", tz) for s in policy.get("allow_windows") or ()]
    deny = [window(s, "deny", tz) for s in policy.get("deny_windows") or ()]
    freezes = []
    calendars = calendars or {}
    for name in policy.get("freeze_calendars") or ():
        if name not in calendars:
            raise ReleaseError(f"freeze calendar {name} is named by the policy but its contents were not given")
        freezes.extend(calendar(name, calendars[name], tz))
    return Schedule(tz, allow, deny, freezes)
