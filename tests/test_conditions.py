"""Tests of flipgen.conditions; the JSON vectors are shared with the JS runtime's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flipgen.conditions import COMBINATORS, OPERATORS, evaluate, names, validate

VECTORS_PATH = Path(__file__).parent / "vectors" / "conditions.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def test_vectors_are_well_formed() -> None:
    assert len(VECTORS) >= 60
    seen: set[str] = set()
    for case in VECTORS:
        assert set(case) == {"name", "cond", "answers", "expected"}, case
        assert isinstance(case["expected"], bool)
        assert isinstance(case["answers"], dict)
        assert case["name"] not in seen, f"duplicate vector name {case['name']!r}"
        seen.add(case["name"])


def test_vectors_cover_every_operator() -> None:
    used: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            used.update(k for k in node if k in OPERATORS | COMBINATORS)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for case in VECTORS:
        walk(case["cond"])
    assert used >= OPERATORS | COMBINATORS


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vector(case: dict[str, Any]) -> None:
    assert evaluate(case["cond"], case["answers"]) is case["expected"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors_named_malformed_are_exactly_the_invalid_ones(case: dict[str, Any]) -> None:
    assert bool(validate(case["cond"])) == case["name"].startswith("malformed")


# --- names() --------------------------------------------------------------------------


def test_names_collects_every_depth() -> None:
    cond = {
        "work_type": "gig",
        "any": [{"income": {"lt": 1000}}, {"not": {"ref": {"filled": True}}}],
        "not": {"any": [{"sources": {"contains": "gig"}}]},
    }
    assert names(cond) == {"work_type", "income", "ref", "sources"}


def test_names_of_empty_and_non_conditions() -> None:
    assert names({}) == set()
    assert names({"any": []}) == set()
    assert names(None) == set()
    assert names("work_type") == set()


def test_names_best_effort_on_malformed() -> None:
    assert names({"a": {"bogus": 1}, "any": {"b": 1}, "not": [{"c": 1}]}) == {"a"}


# --- validate() -----------------------------------------------------------------------


def test_validate_accepts_well_formed() -> None:
    cond = {
        "a": "x",
        "b": [1, "2", True],
        "c": {"gte": "2026-01-01"},
        "d": {"filled": False},
        "any": [{"e": {"not_in": []}}, {"not": {"f": {"contains": "gig"}}}],
    }
    assert validate(cond) == []
    assert validate({}) == []


def test_validate_unknown_operator_suggests() -> None:
    (problem,) = validate({"income": {"gtee": 5}})
    assert "`income`" in problem
    assert "unknown operator `gtee`" in problem
    assert "did you mean `gte`?" in problem


def test_validate_unknown_operator_without_close_match() -> None:
    (problem,) = validate({"income": {"between": [1, 2]}})
    assert "unknown operator `between`" in problem
    assert "did you mean" not in problem


def test_validate_combinator_used_as_operator() -> None:
    (problem,) = validate({"a": {"any": [1]}})
    assert "unknown operator `any`" in problem
    assert "condition level" in problem


def test_validate_two_operators() -> None:
    (problem,) = validate({"income": {"gt": 5, "lt": 50}})
    assert "exactly one operator" in problem
    assert "`gt`, `lt`" in problem


def test_validate_any_not_a_list() -> None:
    (problem,) = validate({"any": {"a": 1}})
    assert problem.startswith("`any`: expected a list of conditions")


def test_validate_paths_point_into_nesting() -> None:
    problems = validate({"any": [{"a": 1}, {"not": {"b": {"in": "x"}}}]})
    assert problems == ["`any[1].not.b` `in`: expected a list of values, got a string"]


def test_validate_collects_every_problem() -> None:
    problems = validate({"a": None, "b": {"filled": "yes"}, "c": {"eq": [1]}, "not": 3})
    assert len(problems) == 4
    assert "filled: false" in problems[0]
    assert "use `in`" in problems[2]


def test_validate_misspelled_any_hint() -> None:
    (problem,) = validate({"ayn": [{"a": 1}]})
    assert "did you mean `any`?" in problem


def test_validate_non_mapping_condition() -> None:
    assert validate([{"a": 1}]) == ["condition: expected a mapping of conditions, got a list"]


# --- properties -----------------------------------------------------------------------

KEYS = st.sampled_from(sorted(OPERATORS | COMBINATORS) + ["a", "b", "work_type", "", "gtee"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["true", "false", " 12 ", "1e3", "2026-08-31", "", "gig"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
ANSWERS = st.dictionaries(st.sampled_from(["a", "b", "work_type", "x"]), JSON, max_size=4)


@settings(max_examples=400, deadline=None)
@given(cond=JSON, answers=ANSWERS)
def test_evaluate_is_total(cond: object, answers: dict[str, object]) -> None:
    result = evaluate(cond, answers)
    assert isinstance(result, bool)
    assert isinstance(validate(cond), list)
    assert isinstance(names(cond), set)
    if validate(cond):
        assert result is False


@settings(max_examples=300, deadline=None)
@given(cond=JSON, answers=ANSWERS)
def test_not_is_exact_negation_of_well_formed(cond: object, answers: dict[str, object]) -> None:
    if validate(cond):
        assert evaluate({"not": cond}, answers) is False
    else:
        assert evaluate({"not": cond}, answers) is not evaluate(cond, answers)


@settings(max_examples=300, deadline=None)
@given(value=SCALARS, items=st.lists(SCALARS, max_size=4), answer=JSON)
def test_negated_operators_mirror(value: object, items: list[object], answer: object) -> None:
    answers = {"a": answer}
    if not validate({"a": {"eq": value}}):
        assert evaluate({"a": {"ne": value}}, answers) is not evaluate({"a": {"eq": value}}, answers)
        assert evaluate({"a": value}, answers) is evaluate({"a": {"eq": value}}, answers)
    if not validate({"a": {"in": items}}):
        assert evaluate({"a": {"not_in": items}}, answers) is not evaluate({"a": {"in": items}}, answers)
        assert evaluate({"a": items}, answers) is evaluate({"a": {"in": items}}, answers)
    assert evaluate({"a": {"filled": False}}, answers) is not evaluate({"a": {"filled": True}}, answers)
