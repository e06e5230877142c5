"""The rule package: the engine, every rule's cases (cases_<layer>.py), and the generated docs/rules.md."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules.inputs import LAYERS  # noqa: E402


def _all_cases():
    """CASES of every cases_<layer>.py beside this file (one file per layer of rules)."""
    merged = {}
    for path in sorted(Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        overlap = set(merged) & set(module.CASES)
        assert not overlap, f"{path.name} repeats cases of {sorted(overlap)}"
        merged.update(module.CASES)
    return merged


CASES = _all_cases()

RULES = engine.load_all()


def _bad_cases():
    for rule_id, cases in sorted(CASES.items()):
        for n, (inputs, expected) in enumerate(cases["bad"]):
            yield pytest.param(rule_id, inputs, expected, id=f"{rule_id}-bad{n}")


def _good_cases():
    for rule_id, cases in sorted(CASES.items()):
        for n, inputs in enumerate(cases["good"]):
            yield pytest.param(rule_id, inputs, id=f"{rule_id}-good{n}")


@pytest.mark.parametrize(("rule_id", "inputs", "expected"), list(_bad_cases()))
def test_rule_refuses(rule_id, inputs, expected):
    findings = RULES[rule_id].evaluate(inputs)
    assert findings, f"{rule_id} accepted {inputs!r}"
    assert all(f.rule_id == rule_id for f in findings)
    if expected:
        assert any(expected in f.message for f in findings), [f.message for f in findings]


@pytest.mark.parametrize(("rule_id", "inputs"), list(_good_cases()))
def test_rule_accepts(rule_id, inputs):
    assert RULES[rule_id].evaluate(inputs) == []


def test_every_rule_has_cases_both_ways():
    missing = [r for r in RULES if not CASES.get(r, {}).get("bad") or not CASES.get(r, {}).get("good")]
    assert not missing, f"rules without a triggering and a passing case in cases_<layer>.py: {missing}"
    unknown = sorted(set(CASES) - set(RULES))
    assert not unknown, f"cases_<layer>.py names rules that do not exist: {unknown}"


def test_rules_are_well_formed():
    for rule in RULES.values():
        assert rule.layer in (*LAYERS, "release", "promotion"), rule.id
        assert rule.refuses and rule.example, rule.id


def test_a_rule_reading_an_undeclared_input_is_a_programming_error():
    def check(i):
        if i.get("undeclared"):
            yield "never"

    rule = engine.Rule("test.x", "test", "instance", ("declared",), "x", "x", check)
    with pytest.raises(engine.UndeclaredInput, match="undeclared"):
        rule.evaluate({"undeclared": 1})


def test_every_problem_is_reported_at_once():
    rules = [RULES["redis.password_length"], RULES["redis.maxmemory_size"]]
    with pytest.raises(engine.Refused) as caught:
        engine.enforce(rules, {"redis_password": "x", "redis_maxmemory": "lots"})
    assert [f.rule_id for f in caught.value.findings] == ["redis.password_length", "redis.maxmemory_size"]
    assert "[redis.password_length]" in caught.value.msg and "[redis.maxmemory_size]" in caught.value.msg


def test_ids_are_checked():
    with pytest.raises(engine.RuleDefinitionError):
        engine.rule("Redis.Bad", layer="redis", reads=("x",), refuses="x", example="x")
    with pytest.raises(engine.RuleDefinitionError):
        engine.rule("redis.password_length", layer="redis", reads=("x",), refuses="x", example="x")(lambda i: ())


def test_docs_table_is_generated_from_the_rules():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rules_doc.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    text = (ROOT / "docs" / "rules.md").read_text()
    for rule_id in RULES:
        assert f"`{rule_id}`" in text
