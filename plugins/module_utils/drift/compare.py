# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions: every field that differs between a declared and a live value, and findings.

``differences(declared, live)`` walks both values together and returns ``(path, declared, live)`` for every leaf
that differs. Paths read like ``spec.template.spec.containers[name=odoo].image`` or ``data["odoo.conf"]``:
lists of mappings are matched by a key their items carry (``name``, ``ID``, ``containerPort``...), so an item
that moved is not reported as every field of two items. A multi-line text made of ``key = value`` lines (an
``odoo.conf``) is compared option by option (``data["odoo.conf"]#workers``). A field on one side only is
reported with ``ABSENT`` on the other.

Secret values are never compared or shown as they are: ``SecretHasher`` turns each into an HMAC-SHA256 under a
key drawn once per run, so two equal values give the same text within a report, and a report says which key of
a Secret changed without giving anything that could be checked against a guessed password outside the run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets

ABSENT = "(absent)"
LIST_KEYS = ("name", "ID", "containerPort", "mountPath", "devicePath", "port", "ip", "key", "type")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_OPTION = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def child_path(path, key):
    """``path.key``, or ``path["key"]`` when the key is not a plain word (labels, file names)."""
    key = str(key)
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _list_key(declared, live):
    """The field that identifies the items of two lists of mappings (present and unique in all), or None."""
    items = list(declared) + list(live)
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in LIST_KEYS:
        for side in (declared, live):
            values = [i.get(key) for i in side]
            if any(v is None or isinstance(v, (dict, list)) for v in values) or len(set(map(str, values))) != len(
                values
            ):
                break
        else:
            return key
    return None


def ini_options(text):
    """``{"section.option": value}`` of a text made of ``[section]`` and ``key = value`` lines, or None."""
    if not isinstance(text, str) or "\n" not in text:
        return None
    out, section, count = {}, None, 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        match = _SECTION.match(stripped)
        if match:
            section = match.group(1)
            continue
        match = _OPTION.match(stripped)
        if not match:
            return None
        out[f"{section}.{match.group(1)}" if section else match.group(1)] = match.group(2)
        count += 1
    return out if count else None


def _scalar_equal(declared, live):
    if declared == live and type(declared) is type(live):
        return True
    if isinstance(declared, bool) or isinstance(live, bool):
        return False
    if isinstance(declared, (int, float)) and isinstance(live, (int, float)):
        return declared == live
    return False


def differences(declared, live, path=""):
    """Every ``(path, declared, live)`` where the two values differ (``ABSENT`` for a side without the field)."""
    out = []
    _walk(declared, live, path, out)
    return out


def _walk(declared, live, path, out):
    if isinstance(declared, dict) and isinstance(live, dict):
        for key in sorted(set(declared) | set(live), key=str):
            sub = child_path(path, key)
            if key not in live:
                out.append((sub, declared[key], ABSENT))
            elif key not in declared:
                out.append((sub, ABSENT, live[key]))
            else:
                _walk(declared[key], live[key], sub, out)
        return
    if isinstance(declared, list) and isinstance(live, list):
        key = _list_key(declared, live)
        if key is not None:
            mine = {str(i[key]): i for i in declared}
            theirs = {str(i[key]): i for i in live}
            order = [str(i[key]) for i in declared] + [str(i[key]) for i in live if str(i[key]) not in mine]
            for ident in order:
                sub = f"{path}[{key}={ident}]"
                if ident not in theirs:
                    out.append((sub, mine[ident], ABSENT))
                elif ident not in mine:
                    out.append((sub, ABSENT, theirs[ident]))
                else:
                    _walk(mine[ident], theirs[ident], sub, out)
            if [str(i[key]) for i in declared] != [str(i[key]) for i in live if str(i[key]) in mine] and not any(
                p.startswith(path + "[") for p, _d, _l in out
            ):
                out.append((path, [i[key] for i in declared], [i[key] for i in live]))
            return
        if len(declared) == len(live):
            for index, (mine, theirs) in enumerate(zip(declared, live, strict=True)):
                _walk(mine, theirs, f"{path}[{index}]", out)
            return
        out.append((path, declared, live))
        return
    if isinstance(declared, str) and isinstance(live, str) and declared != live:
        mine, theirs = ini_options(declared), ini_options(live)
        if mine is not None and theirs is not None:
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key, ABSENT) != theirs.get(key, ABSENT):
                    out.append((f"{path}#{key}", mine.get(key, ABSENT), theirs.get(key, ABSENT)))
            if any(p.startswith(path + "#") for p, _d, _l in out):
                return
    if isinstance(declared, (dict, list)) or isinstance(live, (dict, list)):
        if declared != live:
            out.append((path, declared, live))
        return
    if not _scalar_equal(declared, live):
        out.append((path, declared, live))


class SecretHasher:
    """Keyed hashes of Secret values, under a key drawn once per hasher (one per run)."""

    def __init__(self, key=None):
        self._key = key if key is not None else secrets.token_bytes(32)

    def __call__(self, value):
        if value is None or value == ABSENT:
            return ABSENT
        if not isinstance(value, (bytes, bytearray)):
            value = str(value).encode("utf-8")
        return "hmac-sha256:" + hmac.new(self._key, bytes(value), hashlib.sha256).hexdigest()[:16]

    def secret_data(self, data):
        """A Secret's ``data`` (base64 values) as ``{key: hash of the decoded value}``."""
        out = {}
        for key, value in (data or {}).items():
            try:
                raw = base64.b64decode(value or "", validate=False)
            except (ValueError, TypeError):
                raw = str(value).encode("utf-8")
            out[key] = self(raw)
        return out


def finding(layer, obj, field, declared, live, note=None):
    """One changed field: the layer (kubernetes, database, bucket), the object, the field path, both values."""
    out = {"layer": layer, "object": obj, "field": field, "declared": declared, "live": live}
    if note:
        out["note"] = note
    return out
