# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small predicates the rules share: digests, names, sizes, text that lands in another format."""

from __future__ import annotations

import re

DIGEST_RE = re.compile(r"^[^@\s]+@sha256:[a-f0-9]{64}$")
DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# C0 and C1 control characters and the Unicode line and paragraph separators: anything that can end a line
# or a value in YAML, INI, SQL or a log line
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_digest(image):
    """An image reference pinned by digest (name@sha256:<64 hex>)."""
    return isinstance(image, str) and bool(DIGEST_RE.match(image))


def is_dns_label(value, max_length=63):
    return isinstance(value, str) and len(value) <= max_length and bool(DNS_LABEL_RE.match(value))


def has_control_characters(value):
    """Whether ``value`` (a string, or the strings inside a list or dict) holds a control character."""
    if isinstance(value, str):
        return bool(_CONTROL_RE.search(value))
    if isinstance(value, dict):
        return any(has_control_characters(k) or has_control_characters(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_control_characters(v) for v in value)
    return False


def as_int(value):
    """``value`` as an int, or None when it is not a whole number (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return int(value)
    return None


def text(value):
    """The text of a value as a message shows it."""
    return "" if value is None else str(value)


# --- Kubernetes resource quantities -------------------------------------------------------------------------
# The grammar of k8s.io/apimachinery/pkg/api/resource (Quantity):
#   <quantity> ::= <signedNumber><suffix>
#   <suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
#   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei        <decimalSI> ::= m | "" | k | M | G | T | P | E
#   <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
#   <signedNumber> ::= <number> | +<number> | -<number>   <number> ::= digits | digits.digits | digits. | .digits
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value):
    """A Kubernetes resource quantity (``"500m"``, ``"2Gi"``, ``"1e3"``, ``4``) as an exact Fraction, or None
    when the API server would refuse it. Plain ints are accepted, as YAML gives them; bools and floats are not
    (a float is not exact; write the quantity as a string)."""
    from fractions import Fraction

    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY_RE.match(value)
    if not match:
        return None
    number, suffix = Fraction(match.group("number")), match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:])
    return number * Fraction(10) ** exponent


def is_port(value):
    """A TCP/UDP port number (1-65535)."""
    port = as_int(value)
    return port is not None and 1 <= port <= 65535


# --- cron schedules (Kubernetes CronJob: five fields, the standard cron syntax) ------------------------------
_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: n
            for n, m in enumerate(
                ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
            )
        },
    ),
    ("day of week", 0, 7, {d: n for n, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _cron_value(token, low, high, names):
    token = token.lower()
    if token in names:
        return names[token]
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def cron_schedule_problem(schedule):
    """None when ``schedule`` is a schedule a CronJob accepts (five fields, or a macro such as @daily), else
    what is wrong with it. Time zones belong in the CronJob's timeZone, not in the schedule (CRON_TZ/TZ)."""
    if not isinstance(schedule, str) or has_control_characters(schedule):
        return "must be a five-field cron schedule"
    if schedule.strip().lower() in _CRON_MACROS:
        return None
    fields = schedule.split()
    if len(fields) != 5:
        return "must be a five-field cron schedule"
    for (name, low, high, names), field_text in zip(_CRON_FIELDS, fields, strict=True):
        for part in field_text.split(","):
            base, dummy, step = part.partition("/")
            if dummy and not (step.isdigit() and int(step) >= 1):
                return f"has an invalid step in its {name} field ({part})"
            if base in ("*", "?"):
                continue
            first, dash, last = base.partition("-")
            start = _cron_value(first, low, high, names)
            end = _cron_value(last, low, high, names) if dash else start
            if start is None or end is None or end < start:
                return f"has {part} in its {name} field ({low}-{high})"
    return None


# --- networks ------------------------------------------------------------------------------------------------
def covers_whole_internet(cidrs):
    """The any-network ("0.0.0.0/0" or "::/0") that the union of ``cidrs`` covers entirely, or None. Entries
    that are not networks are ignored here (the network plan checks refuse them, naming them)."""
    try:
        import netaddr
    except ImportError:  # pragma: no cover - the network plan checks report it
        return None
    nets = []
    for cidr in cidrs or ():
        try:
            nets.append(netaddr.IPNetwork(str(cidr).strip()).cidr)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue
    union = netaddr.IPSet(nets)
    for whole in ("0.0.0.0/0", "::/0"):
        if netaddr.IPNetwork(whole) in union:
            return whole
    return None
