# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule engine: every check that refuses input is a :class:`Rule` registered here.

A rule has an id, the layer it belongs to, the named inputs it reads, a one-line description of what it
refuses and an example of its message. Its check is a plain function that takes the inputs and yields one
message per problem (nothing when the input is acceptable). Policy decides and never acts: a check reads
values and returns verdicts, it never calls a server. Evidence from live state (the cluster, a database
server, an audit trail) is gathered elsewhere and handed in as named inputs like any other.

Scopes say where a rule's inputs come from:

``instance``   one instance's variables (inventory, group and role defaults);
``inventory``  every instance of the inventory at once (collisions, shared budgets), under ``instances``;
``live``       an instance's variables plus facts read from the running platform;
``release``    a release, the target environment's policy and the evidence (the promotion gates).

``evaluate`` runs every rule given and returns every finding: all problems of a run are reported at once.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError

SCOPES = ("instance", "inventory", "live", "release")

_MISSING = object()


class RuleDefinitionError(Exception):
    """A rule is declared wrongly (a programming error of the collection, never the user's)."""


class UndeclaredInput(RuleDefinitionError):
    """A check read an input its rule does not declare in ``reads``."""


class Refused(GovernedError):
    """Input refused by one or more rules; ``findings`` lists each with its rule id."""

    kind = "refused"

    def __init__(self, findings):
        self.findings = list(findings)
        super().__init__(
            "; ".join(str(f) for f in self.findings),
            findings=[f.as_dict() for f in self.findings],
        )


@dataclass(frozen=True)
class Finding:
    """One problem: the rule that found it and its message (which names the variable at fault)."""

    rule_id: str
    message: str

    def __str__(self):
        return f"{self.message} [{self.rule_id}]"

    def as_dict(self):
        return {"rule": self.rule_id, "message": self.message}


@dataclass(frozen=True)
class Rule:
    id: str
    layer: str
    scope: str
    reads: tuple[str, ...]
    refuses: str
    example: str
    check: Callable[[Inputs], Iterable[str]] = field(compare=False, repr=False)

    def evaluate(self, inputs):
        view = Inputs(inputs, allowed=self.reads, rule_id=self.id)
        return [Finding(self.id, str(message)) for message in self.check(view) or ()]


class Inputs(Mapping):
    """The named inputs of a rule. Reading a name the rule does not declare is a programming error, so that
    the documented ``reads`` of every rule stay true; an input that was not supplied reads as absent
    (``name in inputs`` is false, ``inputs.get(name)`` returns the default)."""

    def __init__(self, values, allowed=None, rule_id=""):
        self._values = values
        self._allowed = None if allowed is None else frozenset(allowed)
        self._rule_id = rule_id

    def _guard(self, key):
        if self._allowed is not None and key not in self._allowed:
            raise UndeclaredInput(f"rule {self._rule_id} reads {key!r}, which it does not declare")

    def __getitem__(self, key):
        self._guard(key)
        return self._values[key]

    def __contains__(self, key):
        self._guard(key)
        return key in self._values

    def get(self, key, default=None):
        self._guard(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._values if self._allowed is None or k in self._allowed)

    def __len__(self):
        return sum(1 for _key in self)


REGISTRY: dict[str, Rule] = {}


def rule(rule_id, *, layer, reads, refuses, example, scope="instance"):
    """Register the decorated check as a rule. Ids are unique, lower case, ``<layer>.<name>``."""
    if scope not in SCOPES:
        raise RuleDefinitionError(f"rule {rule_id}: scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not rule_id.startswith(f"{layer}.") or rule_id != rule_id.lower() or " " in rule_id:
        raise RuleDefinitionError(f"rule {rule_id}: ids are lower case and start with the layer ({layer}.)")
    if not reads:
        raise RuleDefinitionError(f"rule {rule_id}: a rule reads at least one input")

    def register(check):
        if rule_id in REGISTRY:
            raise RuleDefinitionError(f"rule {rule_id} is defined twice")
        REGISTRY[rule_id] = Rule(rule_id, layer, scope, tuple(reads), refuses, example, check)
        return check

    return register


def load_all():
    """Import every rule module so that REGISTRY is complete; return it."""
    from ansible_collections.governed.odoo.plugins.module_utils.rules import catalog  # noqa: F401

    return REGISTRY


def rule_by_id(rule_id):
    """The registered rule ``rule_id``, or None when there is none.

    The module named after the rule's layer (``rules/<layer>.py``) is imported first, and every rule module only
    when the rule is not there: a role's render re-checks single rules in every instance's worker process, where
    importing every rule module cost about 0.1 s of CPU per instance."""
    rule_id = str(rule_id)
    layer = rule_id.partition(".")[0]
    own_module = re.fullmatch(r"[a-z_]+", layer) and (Path(__file__).parent / f"{layer}.py").is_file()
    if rule_id not in REGISTRY and own_module:
        importlib.import_module(f"{__package__}.{layer}")
    if rule_id not in REGISTRY:
        load_all()
    return REGISTRY.get(rule_id)


def rules_for(layer=None, scope=None):
    """The registered rules of ``layer`` and/or ``scope``, in id order."""
    load_all()
    return [
        r
        for _rule_id, r in sorted(REGISTRY.items())
        if (layer is None or r.layer == layer) and (scope is None or r.scope == scope)
    ]


def inputs_of(rules):
    """Every input name the given rules read, sorted."""
    return sorted({name for r in rules for name in r.reads})


def evaluate(rules, inputs):
    """Run every rule over ``inputs`` (a mapping of named inputs); return all findings in rule order."""
    findings = []
    for r in rules:
        findings.extend(r.evaluate(inputs))
    return findings


def enforce(rules, inputs):
    """Raise :class:`Refused` with every finding, or return None when the inputs pass every rule."""
    findings = evaluate(rules, inputs)
    if findings:
        raise Refused(findings)
