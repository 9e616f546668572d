"""The runtime's per-field rules, on the server: is one answer acceptable for its field?

:func:`validate` is ``validate(f, v, text)`` of the runtime (``flipgen/static/runtime/validate.js``),
rule for rule and message for message; ``tests/vectors/validation.json`` is run against both.
:mod:`flipgen.answers` applies it to the fields a screen or a submission shows, and re-exports
it. Like the rest of the answer checks, it never raises on hostile values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flipgen.conditions import filled
from flipgen.i18n.locales import latin_digits
from flipgen.jsregex import JS_WHITESPACE, PatternTimeout, fullmatch
from flipgen.limits import METADATA_VALUE_MAX, value_problem

__all__ = ["DEFAULT_TEXT", "SERVER_TEXT", "FieldData", "Problem", "validate"]

FieldData = Mapping[str, Any]

#: The theme's default texts for the validation rules (site_templates/default/strings.html).
DEFAULT_TEXT: dict[str, str] = {
    "required": "This field is required.",
    "choose": "Choose an option.",
    "many": "Choose at least one option.",
    "tick": "Tick this box to continue.",
    "options": "Choose one of the listed options.",
    "min_length": "Enter at least {n} characters.",
    "max_length": "Enter no more than {n} characters.",
    "pattern": "Enter a value in the expected format.",
    "number": "Enter a number.",
    "date": "Enter a real date.",
    "email": "Enter an email address like name@example.com.",
    "tel": "Enter a phone number like +1 555 010 0199.",
    "min": "Enter {n} or more.",
    "max": "Enter {n} or less.",
    "step": "Enter a multiple of {n}.",
    "dmin": "Enter a date on or after {n}.",
    "dmax": "Enter a date on or before {n}.",
    "ascii": "Use only English letters without accents, digits and common symbols here.",
}

# Rules only the server applies: the browser cannot produce these requests.
SERVER_TEXT: dict[str, str] = {
    "unknown": "There is no such field here.",
    "not_shown": "This field is not shown for these answers, so it cannot be answered.",
    "fixed": "This value is set by the site and cannot be changed.",
    "type_text": "Send this answer as text.",
    "type_bool": "Send this answer as true or false.",
    "type_list": "Send this answer as a list of distinct option values.",
    "line": "This answer cannot contain line breaks.",
    "characters": "This answer contains characters that cannot be stored (control characters or broken Unicode).",
    "timeout": "This answer took too long to check against the expected format.",
    "unknown_param": "This link parameter is not declared by the site.",
    "param_pattern": "This link parameter does not have the expected format.",
}

_WS = f"[{re.escape(JS_WHITESPACE)}]"
# The runtime's FORMAT table, with JavaScript's ASCII \d and Unicode \s spelled out.
_FORMAT = {
    "email": re.compile(
        f"[^{re.escape(JS_WHITESPACE)}@]+@[^{re.escape(JS_WHITESPACE)}@.]+(?:\\.[^{re.escape(JS_WHITESPACE)}@.]+)+"
    ),
    "tel": re.compile(f"\\+?(?:[0-9().-]|{_WS}){{6,24}}"),
    "date": re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}"),
}
_NUMBER = re.compile(f"{_WS}*[-+]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?{_WS}*")
_REQUIRED_TEXT = {"select": "choose", "radio": "choose", "checkboxes": "many", "checkbox": "tick", "consent": "tick"}
_WS_RUN = re.compile(f"{_WS}+")


@dataclass(frozen=True)
class Problem:
    """Why one answer (or param) is refused: the rule's name and a message for people."""

    rule: str
    message: str


def _number(value: object) -> float | None:
    """JavaScript's ``num()``: a finite number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value.strip(JS_WHITESPACE))
        return number if math.isfinite(number) else None
    return None


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm: proleptic Gregorian, year 0 included (as JavaScript's Date).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _day(text: str) -> int | None:
    """JavaScript's ``day()``: days since 1970-01-01 of a real ``YYYY-MM-DD`` date, else None."""
    if not _FORMAT["date"].fullmatch(text):
        return None
    y, m, d = int(text[:4]), int(text[5:7]), int(text[8:10])
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    length = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not (1 <= m <= 12 and 1 <= d <= length[m - 1]):
        return None
    return _days_from_civil(y, m, d)


def _js_string(value: object) -> str:
    """``String(value)`` as JavaScript writes it, for the ``{n}`` of a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        if 1e-6 <= abs(value) < 1e21:
            return format(Decimal(repr(value)), "f")
        mantissa, _, exponent = repr(value).partition("e")
        return f"{mantissa}e{'-' if exponent.startswith('-') else '+'}{exponent.lstrip('+-').lstrip('0')}"
    return "" if value is None else str(value)


def _round_half_up(x: float) -> float:
    return math.floor(x + 0.5)


def validate(spec: FieldData, value: object, text: Mapping[str, str] = DEFAULT_TEXT) -> Problem | None:
    """The first rule ``value`` breaks, or None: the runtime's ``validate(f, v, text)``."""
    kind, messages = spec.get("type"), spec.get("messages") or {}

    def fail(rule: str, n: object = "", default: str | None = None) -> Problem:
        message = messages.get(rule) or (rule == kind and messages.get("format")) or text.get(default or rule) or rule
        return Problem(rule, str(message).replace("{n}", _js_string(n), 1))

    if kind == "hidden":
        return None
    if not filled(value) or value is False:
        return fail("required", "", _REQUIRED_TEXT.get(str(kind))) if spec.get("required") else None
    if kind in ("checkbox", "consent"):
        return None
    options = spec.get("options")
    if options is not None:
        values = value if isinstance(value, list) else [value]
        return fail("options") if any(v not in options for v in values) else None
    v = _js_string(value)
    if kind in ("number", "tel"):  # Arabic-Indic, Thai… digits are checked as the digits they are
        v = latin_digits(v)
    if _format_fails(str(kind), v):
        return fail(str(kind))
    min_length, max_length, pattern = spec.get("min_length"), spec.get("max_length"), spec.get("pattern")
    if min_length is not None and len(v) < min_length:
        return fail("min_length", min_length)
    if max_length is not None and len(v) > max_length:
        return fail("max_length", max_length)
    if pattern:
        try:
            matched = fullmatch(pattern, v)
        except PatternTimeout:
            return Problem("pattern", SERVER_TEXT["timeout"])
        if matched is False:
            return fail("pattern")
    return _range(spec, str(kind), v, fail) or _metadata_rule(spec, v, fail)


def _metadata_rule(spec: FieldData, v: str, fail: Callable[..., Problem]) -> Problem | None:
    """An answer sent to Smile as externalMetadata must be what Smile accepts (flipgen/limits.py)."""
    if not spec.get("metadata"):
        return None
    problem = value_problem(_WS_RUN.sub(" ", v))
    if problem == "ascii":
        return fail("ascii")
    return fail("max_length", METADATA_VALUE_MAX) if problem else None


def _format_fails(kind: str, v: str) -> bool:
    if kind == "number":
        return _number(v) is None
    if kind in _FORMAT and not _FORMAT[kind].fullmatch(v):
        return True
    if kind == "tel" and sum(c in "0123456789" for c in v) < 5:
        return True
    return kind == "date" and _day(v) is None


def _range(spec: FieldData, kind: str, v: str, fail: Callable[..., Problem]) -> Problem | None:
    """min, max and step of number and date fields (the tail of the runtime's validate)."""
    low, high, step = spec.get("min"), spec.get("max"), spec.get("step")
    x: float | None = None
    base = 0.0
    if kind == "number":
        x = _number(v)
        assert x is not None  # the format rule ran first
        if low is not None and x < low:
            return fail("min", low)
        if high is not None and x > high:
            return fail("max", high)
        base = float(low or 0)
    elif kind == "date":
        if low and v < low:
            return fail("min", low, "dmin")
        if high and v > high:
            return fail("max", high, "dmax")
        x = _day(v)
        base = float(_day(low) or 0) if low else 0.0
    if x is None or isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
        return None
    q = (x - base) / step
    return fail("step", step) if abs(q - _round_half_up(q)) > 1e-9 else None
