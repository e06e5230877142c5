# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and change options of an ``odoo.conf`` text without disturbing the rest of it (pure).

Odoo reads its configuration with ConfigParser, section ``[options]``, ``key = value`` lines and
``;``/``#`` comments. :func:`set_options` rewrites only the lines of the keys it is given, keeps
comments, order and unrelated lines byte for byte, and appends missing keys at the end of the
``[options]`` section (creating it if needed). Used to re-point an environment at a restored
database or a promoted server (``db_host``, ``db_port``, ``db_name``).
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^(\s*)([A-Za-z0-9_.-]+)(\s*[=:]\s*)(.*?)(\s*)$")


def _split_lines(text):
    return (text or "").splitlines(keepends=True)


def get_options(text, section="options"):
    """The key/value pairs of ``section`` (last occurrence wins, as ConfigParser in non-strict mode)."""
    out = {}
    current = None
    for line in _split_lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        m = _SECTION.match(line)
        if m:
            current = m.group(1).strip()
            continue
        if current != section:
            continue
        o = _OPTION.match(line.rstrip("\r\n"))
        if o:
            out[o.group(2)] = o.group(4)
    return out


def _render(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def set_options(text, updates, section="options"):
    """``text`` with every key of ``updates`` set; a value of None writes ``key =`` (Odoo: unset)."""
    for key in updates:
        if not re.match(r"^[A-Za-z0-9_.-]+$", str(key)):
            raise ValueError(f"not an odoo.conf option name: {key!r}")
        value = _render(updates[key])
        if "\n" in value or "\r" in value:
            raise ValueError(f"odoo.conf values are single lines: {key}")
    lines = _split_lines(text)
    todo = {k: _render(v) for k, v in updates.items()}
    done = set()
    out = []
    current = None
    section_end = None  # index in out after the last line of the target section
    newline = "\r\n" if any(line.endswith("\r\n") for line in lines) else "\n"
    for line in lines:
        m = _SECTION.match(line)
        if m:
            current = m.group(1).strip()
            out.append(line)
            if current == section:
                section_end = len(out)
            continue
        if current == section:
            o = _OPTION.match(line.rstrip("\r\n"))
            stripped = line.strip()
            if o and stripped[:1] not in (";", "#") and o.group(2) in todo:
                ending = line[len(line.rstrip("\r\n")):] or newline
                out.append(f"{o.group(1)}{o.group(2)}{o.group(3)}{todo[o.group(2)]}{ending}")
                done.add(o.group(2))
            else:
                out.append(line)
            if stripped:
                section_end = len(out)
        else:
            out.append(line)
    missing = [k for k in todo if k not in done]
    if missing:
        if section_end is None:
            if out and not out[-1].endswith(("\n", "\r")):
                out.append(newline)
            out.append(f"[{section}]{newline}")
            section_end = len(out)
        elif section_end and not out[section_end - 1].endswith(("\n", "\r")):
            out[section_end - 1] += newline
        add = [f"{k} = {todo[k]}{newline}" for k in missing]
        out[section_end:section_end] = add
    return "".join(out)
