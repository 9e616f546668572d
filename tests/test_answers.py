"""flipgen.answers: the server's re-validation. The vectors are shared with tests/js/validation.test.mjs."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flipgen.answers import (
    DEFAULT_TEXT,
    AnswersError,
    check_params,
    check_screen,
    check_submission,
    validate,
    walk,
)
from flipgen.i18n.locales import builtin_strings

ROOT = Path(__file__).resolve().parent.parent
VECTORS: dict[str, Any] = json.loads((ROOT / "tests" / "vectors" / "validation.json").read_text(encoding="utf-8"))
JOURNEY: dict[str, Any] = VECTORS["journeys"]["main"]


@pytest.mark.parametrize("case", VECTORS["fields"], ids=lambda c: c["name"])
def test_field_vector(case: dict[str, Any]) -> None:
    problem = validate(case["field"], case["value"], VECTORS["text"])
    assert (problem.rule if problem else None) == case["rule"]
    if "message" in case:
        assert (problem.message if problem else None) == case["message"]


def test_field_vectors_cover_every_rule_and_type() -> None:
    rules = {c["rule"] for c in VECTORS["fields"]}
    assert rules >= {"required", "options", "email", "tel", "number", "date", "min_length", "max_length"}
    assert rules >= {"pattern", "min", "max", "step", None}
    types = {c["field"]["type"] for c in VECTORS["fields"]}
    assert types == {"text", "email", "tel", "number", "date", "textarea", "select", "radio", "checkbox"} | {
        "checkboxes",
        "consent",
        "hidden",
    }
    names = [c["name"] for c in VECTORS["fields"] + VECTORS["paths"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", VECTORS["paths"], ids=lambda c: c["name"])
def test_path_vector(case: dict[str, Any]) -> None:
    checked = check_submission(VECTORS["journeys"][case["journey"]], case["params"], case["answers"])
    assert list(checked.path) == case["path"]
    assert checked.end == case["end"]
    assert {k: p.rule for k, p in checked.problems.items()} == case["problems"]
    if "answers_kept" in case:
        assert checked.answers == case["answers_kept"]


def test_default_texts_are_the_themes() -> None:
    # The server's messages must read like the page's: the built-in English UI text is the source
    # (flipgen/i18n/strings/en.yaml; a plural map's `other` form).
    english = builtin_strings("en") or {}
    theme = {k: v["other"] if isinstance(v, dict) else v for k, v in english.items()}
    assert {k: theme[k] for k in DEFAULT_TEXT} == DEFAULT_TEXT
    assert VECTORS["text"] == DEFAULT_TEXT


# --------------------------------------------------------------------------- server-only rules

GOOD = {"kind": "job", "email": "a@b.co", "income": "10"}


def rules(answers: dict[str, Any], journey: dict[str, Any] = JOURNEY) -> dict[str, str]:
    return {k: p.rule for k, p in check_submission(journey, {}, answers).problems.items()}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("email", 5, "type"),
        ("email", ["a@b.co"], "type"),
        ("income", 10, "type"),
        ("kind", True, "type"),
        ("email", "a@b.co\nx", "type"),
        ("email", "a\x00@b.co", "characters"),
        ("email", "a\ud800@b.co", "characters"),
        ("employer", "\x1b[31m", "characters"),
    ],
)
def test_values_the_browser_cannot_send_are_refused(field: str, value: Any, rule: str) -> None:
    assert rules({**GOOD, field: value})[field] == rule


def test_checkbox_shapes() -> None:
    gig = {"kind": "gig", "email": "a@b.co"}
    assert rules({**gig, "platforms": "upwork"}) == {"platforms": "type"}
    assert rules({**gig, "platforms": ["upwork", "upwork"]}) == {"platforms": "type"}
    assert rules({**gig, "platforms": [1]}) == {"platforms": "type"}
    assert rules({**gig, "platforms": ["upwork"]}) == {}


def test_strings_are_trimmed_like_the_browser_reads_them() -> None:
    checked = check_submission(JOURNEY, {}, {"kind": "job", "email": "  a@b.co\u3000", "employer": " Acme "})
    assert checked.ok
    assert checked.answers["email"] == "a@b.co"
    assert checked.answers["employer"] == "Acme"


def test_textarea_keeps_its_lines_and_unicode() -> None:
    journey = copy.deepcopy(JOURNEY)
    journey["screens"][2]["fields"].append({"id": "notes", "type": "textarea", "required": False})
    value = 'Zo\u00eb, "quoted"\nline two\r\n=1+2 \U0001f600'
    checked = check_submission(journey, {}, {"kind": "job", "email": "a@b.co", "notes": value})
    assert checked.ok
    assert checked.answers["notes"] == value


def test_catastrophic_pattern_times_out_instead_of_stalling() -> None:
    journey = copy.deepcopy(JOURNEY)
    journey["screens"][2]["fields"][0]["pattern"] = "(x+x+)+y"
    journey["screens"][2]["fields"][0]["max_length"] = None
    started = time.perf_counter()
    got = rules({**GOOD, "employer": "x" * 5000}, journey)
    assert got == {"employer": "pattern"}
    assert time.perf_counter() - started < 2


def test_params() -> None:
    journey = copy.deepcopy(JOURNEY)
    journey["params"] = [
        {"name": "ref", "required": True, "pattern": "[A-Z]{3}"},
        {"name": "utm", "required": False, "pattern": None},
    ]
    assert check_params(journey, {"ref": "ABC", "utm": ""}) == ({"ref": "ABC"}, {})
    kept, problems = check_params(journey, {"ref": "ABCD", "bogus": "1", "utm": 5})
    assert kept == {}
    assert {k: p.rule for k, p in problems.items()} == {"ref": "pattern", "bogus": "unknown", "utm": "type"}
    _, problems = check_params(journey, {"utm": "a\x07"})
    assert {k: p.rule for k, p in problems.items()} == {"utm": "characters", "ref": "required"}


# --------------------------------------------------------------------------- one screen at a time


def test_save_screen_keeps_only_that_screens_shown_fields() -> None:
    checked = check_screen(JOURNEY, {"ref": "r"}, {}, "about", {"kind": "gig", "email": "a@b.co"})
    assert checked.ok
    assert checked.path == ("about",)
    assert checked.next == "gig"
    assert checked.answers == {"kind": "gig", "email": "a@b.co", "source": "ref=r"}


def test_save_screen_refuses_other_screens_fields_and_hidden_ones() -> None:
    checked = check_screen(JOURNEY, {}, {}, "about", {"kind": "gig", "email": "a@b.co", "income": "4", "employer": "x"})
    assert {k: p.rule for k, p in checked.problems.items()} == {"income": "not_shown", "employer": "unknown"}


def test_save_screen_validates() -> None:
    checked = check_screen(JOURNEY, {}, {}, "about", {"kind": "job", "email": "nope", "income": "-1"})
    assert {k: p.rule for k, p in checked.problems.items()} == {"email": "email", "income": "min"}
    assert checked.problems["email"].message == DEFAULT_TEXT["email"]


def test_save_screen_must_be_on_the_path_of_the_saved_answers() -> None:
    saved = {"kind": "gig", "email": "a@b.co"}
    assert check_screen(JOURNEY, {}, saved, "gig", {"platforms": ["grab"], "other": "x"}).ok
    with pytest.raises(AnswersError) as err:
        check_screen(JOURNEY, {}, saved, "job", {"employer": "Acme"})
    assert err.value.code == "not_on_path"
    # The visitor went back and chose another kind: the job screen is on the path now.
    assert check_screen(JOURNEY, {}, {**saved, "kind": "job"}, "job", {"employer": "Acme"}).ok


@pytest.mark.parametrize(("screen", "code"), [("nowhere", "unknown_screen"), ("connect", "not_a_form")])
def test_save_screen_refuses_screens_that_take_no_answers(screen: str, code: str) -> None:
    with pytest.raises(AnswersError) as err:
        check_screen(JOURNEY, {}, {"kind": "gig"}, screen, {})
    assert err.value.code == code


def test_walk_stops_at_a_loop() -> None:
    journey = copy.deepcopy(JOURNEY)
    journey["screens"][3]["next"] = [{"if": None, "goto": "about"}]
    assert walk(journey, {"kind": "gig"}, {}).path == ("about", "gig", "connect")
    assert walk(journey, {"kind": "gig"}, {}).end is None


# --------------------------------------------------------------------------- differential check against the runtime

NODE_VALIDATE = """
import { readFileSync } from "node:fs";
const { validate } = await import(process.argv[1]);
const cases = JSON.parse(readFileSync(0, "utf8"));
const text = cases.shift();
process.stdout.write(JSON.stringify(cases.map(([f, v]) => validate(f, v, text))));
"""


def _random_cases(seed: int, count: int) -> list[tuple[dict[str, Any], Any]]:
    import random

    rng = random.Random(seed)
    texts = ["", " ", "a", "ab", "abc", "Ada", "ada@example.com", "a@b", "+1 555 0100", "12", "-3.5", " 7 ", "1e3"]
    texts += ["0.1", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "\u00e9t\u00e9", "\U0001f600x", "a\u3000b"]
    texts += ["x" * 40, "12345", "A1", "2026-01-08", "٣", "1.005", "0x1", "?", "\u2028", "a\nb", "Yes", "no"]
    patterns = [None, "[0-9]{5}", "\\d+", "\\w+", "\\s*\\S+", ".{2,3}", "[A-Z][a-z]+", "a|ab", "(", "[^]+", "x$"]
    kinds = [
        "text",
        "email",
        "tel",
        "number",
        "date",
        "textarea",
        "select",
        "radio",
        "checkboxes",
        "checkbox",
        "consent",
    ]
    cases: list[tuple[dict[str, Any], Any]] = []
    for _ in range(count):
        kind = rng.choice(kinds)
        spec: dict[str, Any] = {"id": "f", "type": kind, "required": rng.random() < 0.5, "messages": {}}
        spec["metadata"] = rng.random() < 0.2
        if kind in ("select", "radio", "checkboxes"):
            spec["options"] = rng.sample(["a", "ab", "Yes", "\u00e9t\u00e9", "12"], rng.randint(0, 3))
            value: Any = rng.sample(texts + spec["options"] * 5, rng.randint(0, 2)) if kind == "checkboxes" else None
            value = value if kind == "checkboxes" else rng.choice([None, *texts, *spec["options"] * 3])
        elif kind in ("checkbox", "consent"):
            value = rng.choice([True, False, None])
        else:
            value = rng.choice(texts)
            spec["pattern"] = rng.choice(patterns)
            spec["min_length"], spec["max_length"] = rng.choice([None, 1, 3]), rng.choice([None, 2, 5])
            if kind == "number":
                value = rng.choice([value, f"{rng.randint(-20, 150) / rng.choice([1, 2, 10, 100]):g}"])
                spec["min"], spec["max"] = rng.choice([None, -1, 0, 0.5, 2]), rng.choice([None, 3, 12.5])
                spec["step"] = rng.choice([None, "any", 0.1, 0.5, 1, 3])
            if kind == "date":
                value = rng.choice(
                    [value, f"{rng.choice([2023, 2024, 2025, 2026])}-{rng.randint(0, 13):02}-{rng.randint(0, 32):02}"]
                )
                spec["min"], spec["max"] = rng.choice([None, "2024-01-01"]), rng.choice([None, "2025-12-31"])
                spec["step"] = rng.choice([None, 1, 7])
        cases.append((spec, value))
    return cases


def test_random_fields_agree_with_the_runtime() -> None:
    import shutil
    import subprocess

    node = shutil.which("node")
    assert node, "Node.js is required"
    cases = _random_cases(20261202, 4000)
    proc = subprocess.run(
        # tests/js/runtime.mjs: the runtime's units, set up with the limits Python emits.
        [node, "--input-type=module", "-e", NODE_VALIDATE, str(ROOT / "tests" / "js" / "runtime.mjs")],
        env={**os.environ, "PYTHON": sys.executable},
        input=json.dumps([DEFAULT_TEXT, *cases]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = json.loads(proc.stdout)
    mismatches = []
    for (spec, value), js in zip(cases, expected, strict=True):
        got = validate(spec, value)
        if (got and {"rule": got.rule, "message": got.message}) != (js or None):
            mismatches.append((spec, value, js, got))
    assert not mismatches[:5], f"{len(mismatches)} of {len(cases)} differ"
