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


def allowlist_problems(value, field, environment=None):
    """The message of the network plan's allowlist check (netplan.netplan_validate_allowlist) on ``value``:
    a list with at most one message, naming ``field`` and the index at fault; none when it is valid."""
    from ansible_collections.governed.odoo.plugins.module_utils.netplan import NetplanError, netplan_validate_allowlist

    try:
        netplan_validate_allowlist(value, field, environment)
    except NetplanError as exc:
        return [exc.msg]
    return []


def dig(value, key, default=None):
    """``value[key]`` when ``value`` is a mapping that holds ``key``, else ``default`` (inputs may be any type)."""
    if isinstance(value, dict) and key in value:
        return value[key]
    return default


def is_bucket_name(value, dots=False):
    """An S3 bucket name: 3-63 lower-case letters, digits and hyphens (and dots when ``dots``)."""
    pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" if dots else r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
    return isinstance(value, str) and bool(re.match(pattern, value))


def is_endpoint_url(value):
    """An http(s) URL without a path (an S3 endpoint)."""
    return isinstance(value, str) and bool(re.match(r"^https?://[^/]+/?$", value))


def covers_every_address(cidrs):
    """The IP version (4 or 6) whose whole address space the valid networks of ``cidrs`` cover together (for
    example 0.0.0.0/1 and 128.0.0.0/1), or None. Invalid entries are ignored (the allowlist check reports them)."""
    try:
        import netaddr
    except ImportError:  # pragma: no cover - the network plan reports the missing library
        return None
    nets = []
    for value in cidrs if isinstance(cidrs, (list, tuple)) else []:
        try:
            nets.append(netaddr.IPNetwork(str(value).strip()))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue
    for version, everything in ((4, "0.0.0.0/0"), (6, "::/0")):
        merged = netaddr.cidr_merge([n for n in nets if n.version == version])
        if any(str(n.cidr) == everything for n in merged):
            return version
    return None


def as_bool(value, default=False):
    """``value`` read as Ansible reads a boolean (true/yes/on/1 and false/no/off/0, any case); ``default`` when
    it is None or none of those."""
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "on", "1", "y", "t"):
        return True
    if lowered in ("false", "no", "off", "0", "n", "f", ""):
        return False
    return default


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


def as_dict(value):
    """``value`` when it is a mapping, else an empty one (a wrongly typed input is another rule's finding)."""
    return value if isinstance(value, dict) else {}


def as_list(value):
    """``value`` when it is a list, else an empty one (a wrongly typed input is another rule's finding)."""
    return value if isinstance(value, list) else []


RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


def resources_problems(where, resources):
    """Messages for a container's ``resources`` (``{requests: {...}, limits: {...}}``) the API server would refuse:
    values that are not non-negative Kubernetes quantities, and a request above its limit. ``where`` names the
    variable in the messages."""
    if not isinstance(resources, dict):
        yield f"{where} must be a mapping of requests and limits"
        return
    parsed = {}
    for kind in ("requests", "limits"):
        entries = resources.get(kind)
        if entries is not None and not isinstance(entries, dict):
            yield f"{where}.{kind} must be a mapping of resource names to quantities"
            continue
        for name, value in as_dict(entries).items():
            quantity = parse_quantity(value)
            if quantity is None or quantity < 0:
                yield f"{where}.{kind}.{name}={text(value)} is not a Kubernetes quantity (for example 500m, 2Gi)"
            else:
                parsed[(kind, name)] = quantity
    for name in RESOURCE_NAMES:
        req, lim = parsed.get(("requests", name)), parsed.get(("limits", name))
        if req is not None and lim is not None and req > lim:
            yield f"{where}.requests.{name} is above {where}.limits.{name}: the API server refuses the pod"


def size_problems(where, value):
    """Messages for a volume size the API server would refuse (not a positive Kubernetes quantity)."""
    quantity = parse_quantity(value)
    if quantity is None or quantity <= 0:
        yield f"{where}={text(value)} is not a positive Kubernetes quantity (for example 20Gi)"
