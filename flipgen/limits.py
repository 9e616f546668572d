"""Limits that the checker, the token endpoint and the browser runtime share, defined once.

Smile's `externalMetadata` accepts at most five keys of up to 50 characters, each value
printable ASCII text of up to 500 characters. The runtime gets these figures from the journey
data block (`for_runtime()`), never from a copy of its own; `tests/vectors/limits.json` runs
the same cases against this module and against `flipgen/static/runtime/limits.js`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "METADATA_MAX_KEYS",
    "METADATA_KEY_MAX",
    "METADATA_VALUE_MAX",
    "PLACEHOLDER",
    "PLACEHOLDER_RE",
    "value_problem",
    "metadata_problems",
    "for_runtime",
]

METADATA_MAX_KEYS = 5
METADATA_KEY_MAX = 50
METADATA_VALUE_MAX = 500
# `${name}` in texts, defaults and redirects. Written in the common subset of Python's and
# JavaScript's regular expressions, because the runtime compiles this very string.
PLACEHOLDER = r"\$\{([A-Za-z][A-Za-z0-9_]{0,49})\}"
PLACEHOLDER_RE = re.compile(PLACEHOLDER)
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def value_problem(value: object) -> str | None:
    """Why Smile would refuse one metadata value: "type", "ascii", "value_length", or None."""
    if not isinstance(value, str):
        return "type"
    if not _PRINTABLE_ASCII.fullmatch(value):
        return "ascii"
    return "value_length" if len(value) > METADATA_VALUE_MAX else None


def metadata_problems(metadata: Mapping[str, object]) -> list[str]:
    """Every reason Smile would refuse this externalMetadata object, sorted; [] when it is fine."""
    found = {"keys"} if len(metadata) > METADATA_MAX_KEYS else set()
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX:
            found.add("key_length")
        problem = value_problem(value)
        if problem:
            found.add(problem)
    return sorted(found)


def for_runtime() -> dict[str, Any]:
    """The limits as the journey data block carries them to flip.js."""
    return {
        "metadata": {"max_keys": METADATA_MAX_KEYS, "key_max": METADATA_KEY_MAX, "value_max": METADATA_VALUE_MAX},
        "placeholder": PLACEHOLDER,
    }
