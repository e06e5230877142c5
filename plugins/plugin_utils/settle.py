# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a variable's value may read, and templating the values that many others read once.

ansible-core templates a variable again every time a template reads it (no value is kept across templates): an
inventory value that reads a file and is read, through other values, by twenty role options is read and templated
twenty times. ``settle_reads`` templates each such value once, before the values that read it, for the action plugins
that template many values of one host (``governed.odoo.render_instance``, ``governed.odoo.check_instances``); it
keeps only values that give the same result each time (``Reads.settled``: no lookup but env and file, nothing random,
nothing that changes meanwhile).
"""

from __future__ import annotations

import contextlib
import re
from collections import ChainMap

# a name in a template's text: a variable it may read (or a filter, an attribute...: more names, never fewer)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# what may read variables not named in the text (a lookup other than env and file, vars, hostvars) or give another
# value each time (random, now): a value whose text holds one of these is templated where it is read
OPAQUE = re.compile(
    r"\b(?:lookup|query|q)\s*\(\s*(?![\"'](?:ansible\.builtin\.)?(?:env|file)[\"'])"
    r"|\b(?:vars|hostvars|varnames|random|shuffle|now|password)\b"
)


def texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


class Reads:
    """What the values of ``variables`` may read: ``names_read(name)`` is the set of variables its value may read
    directly, or None when it may read any or changes (a lookup other than env or file, something random) or reads
    one of ``changing``; ``settled(name)`` tells whether templating it again gives the same value as long as none of
    ``changing`` changes (nothing it reads, directly or through others, is None)."""

    def __init__(self, variables, changing):
        self.variables = variables
        self.changing = changing
        self._reads = {}

    def names_read(self, name):
        if name not in self._reads:
            found = set()
            for text in texts(self.variables.get(name)):
                if OPAQUE.search(text):
                    found = None
                    break
                found |= set(IDENTIFIER.findall(text))
            self._reads[name] = (
                None if found is None or found & self.changing else {n for n in found if n in self.variables}
            )
        return self._reads[name]

    def settled(self, name):
        todo, seen = [name], {name}
        while todo:
            found = self.names_read(todo.pop())
            if found is None:
                return False
            todo += found - seen
            seen |= found
        return True

    def dependencies(self, names):
        """The variables the values of ``names`` read, directly or through others, each after those it reads (and
        ``names`` themselves not among them unless another of them reads it)."""
        order, done = [], set()

        def visit(name, path):
            if name in done or name in path:
                return
            path.add(name)
            for dep in sorted(self.names_read(name) or ()):
                visit(dep, path)
            path.discard(name)
            done.add(name)
            order.append(name)

        for name in names:
            for dep in sorted(self.names_read(name) or ()):
                visit(dep, set())
        return order


def read_only_settled(variables, changing):
    """A test of a variable of ``variables``: whether templating it again gives the same value as long as none of
    ``changing`` changes (``Reads.settled``)."""
    return Reads(variables, changing).settled


def _has_template(value):
    return any("{{" in text or "{%" in text for text in texts(value))


def settle_reads(templar, variables, names, changing, and_names=False):
    """The variables the values of ``names`` read (directly or through others), templated once each, those they read
    first: {name: value}; with ``and_names``, ``names`` too, last. An inventory's value read by many options
    (connection details read from a file, and the values built from them) is then templated once, not again inside
    every option that reads it. Only settled variables (``Reads.settled``) that hold a template and are not among
    ``changing`` are in it; one that fails is left out, to fail where it is read. ``templar``'s variables are left set
    to ``variables`` under the settled values."""
    reads = Reads(variables, changing)
    out = {}
    templar.available_variables = ChainMap(out, variables)
    order = reads.dependencies(names)
    if and_names:
        order += [name for name in dict.fromkeys(names) if name not in order]
    for name in order:
        if name in variables and name not in changing and reads.settled(name) and _has_template(variables[name]):
            with contextlib.suppress(Exception):
                out[name] = templar.template(variables[name])
    return out
