"""flipgen.limits against the shared vectors (tests/js/limits.test.mjs runs the same file in Node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flipgen import limits
from flipgen.checks import METADATA_LIMIT
from flipgen.manifest import journey_data
from flipgen.markdown import VAR_RE

VECTORS = json.loads((Path(__file__).parent / "vectors" / "limits.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", VECTORS["metadata"], ids=lambda c: c["name"])
def test_metadata_vectors(case: dict[str, Any]) -> None:
    assert limits.metadata_problems(case["metadata"]) == case["problems"]


@pytest.mark.parametrize("case", VECTORS["placeholders"], ids=lambda c: c["text"][:30])
def test_placeholder_vectors(case: dict[str, Any]) -> None:
    assert limits.PLACEHOLDER_RE.findall(case["text"]) == case["names"]


def test_vectors_cover_every_problem() -> None:
    seen = {p for case in VECTORS["metadata"] for p in case["problems"]}
    assert seen == {"ascii", "key_length", "keys", "type", "value_length"}


def test_one_definition_everywhere() -> None:
    # The checker and the Markdown renderer use the same figures and pattern, not copies.
    assert METADATA_LIMIT == limits.METADATA_MAX_KEYS
    assert VAR_RE is limits.PLACEHOLDER_RE


def test_the_journey_data_carries_the_limits(tmp_path: Path) -> None:
    from flipgen.loader import load_site

    site_file = tmp_path / "s.yaml"
    site_file.write_text("title: T\nscreens:\n  - {id: done, type: end, title: Done}\n", encoding="utf-8")
    loaded = load_site(site_file)
    assert loaded.site is not None
    data = journey_data(loaded.site, "/api/link-token", False)
    assert data["limits"] == {
        "metadata": {"max_keys": 5, "key_max": 50, "value_max": 500},
        "placeholder": limits.PLACEHOLDER,
    }


def test_an_answer_in_text_is_bidi_isolated() -> None:
    from flipgen.markdown import render_block, render_inline, render_text

    # A Latin name inside an Arabic sentence must not take the sentence's direction (or flip its punctuation).
    for render in (render_block, render_inline, render_text):
        html = str(render("مرحبا ${first_name}!"))
        assert '<bdi data-flip-var="first_name"></bdi>' in html and "<span" not in html
