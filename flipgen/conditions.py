"""The condition evaluator used by routing rules (``next``) and ``show_if``.

A condition is data, never code, and the browser runtime ``flipgen/static/flip.js``
mirrors this module rule for rule; ``tests/vectors/conditions.json`` keeps the two honest.

Shape. A condition is a mapping whose entries must all hold (``{}`` holds). An entry is
``name: matcher`` where ``name`` is a field id or a param name and the matcher is a scalar
(equals), a list of scalars (equals one of them) or a mapping with exactly one operator
(``eq ne in not_in gt gte lt lte contains filled``). Two entry names are reserved:
``any: [cond, ...]`` (at least one holds; ``[]`` is false) and ``not: cond``. Scalars are
strings, booleans and finite numbers; ``null`` is never a valid operand.

Malformed conditions. The shape is checked first, before any answer is looked at; if any
part anywhere is malformed (unknown operator, two operators in one mapping, ``any`` not a
list, wrong operand type...) the *whole* condition is false, so ``not`` can never turn a
mistake into ``true``. :func:`validate` lists these problems for ``flipgen check``.

Values. A missing answer and ``null`` are the same thing.

- Blank: a string is blank when it is empty after trimming the whitespace that
  JavaScript's ``String.prototype.trim`` removes (``_WHITESPACE``).
- Number: an int/float that is finite (never a bool), or a string that after trimming
  matches ``[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?`` with ASCII digits and
  parses to a finite number. So ``" 12 "``, ``"1e3"``, ``"+5"``, ``".5"`` and ``"007"`` are
  numbers; ``""``, ``"0x10"``, ``"1_000"``, ``"1,000"``, ``"Infinity"``, ``"NaN"`` and
  ``"1e400"`` (overflows) are not. Numbers are compared as IEEE doubles, as in JS.
- Equality (scalar matcher, ``eq``, ``ne``, ``in``, ``not_in``, ``contains``): a missing
  answer or a list answer equals nothing. If either side is a boolean, both sides must be
  booleans, where the exact strings ``"true"``/``"false"`` count as booleans. Otherwise
  two numbers compare numerically (``"1000" == 1000``, ``"007" == "7"``), two strings
  compare exactly (case- and space-sensitive), anything else is unequal.
- Order (``gt gte lt lte``): two numbers compare numerically (``"10" > "9"``); two strings
  that are not both numbers compare by UTF-16 code units, which is JavaScript's native
  ``<`` (ISO ``YYYY-MM-DD`` dates work); anything else, booleans and missing answers
  included, is false.
- ``ne`` / ``not_in`` are the exact negations of ``eq`` / ``in`` (so true when missing).
- ``contains``: a list answer holds when one element equals the value; a string answer
  holds when it equals the value (a radio answer "contains" itself); anything else is false.
- ``filled: true`` holds unless the answer is missing, a blank string or an empty list
  (``false`` and ``0`` are filled); ``filled: false`` is its negation.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence

from .jsregex import JS_WHITESPACE

__all__ = ["COMBINATORS", "OPERATORS", "evaluate", "filled", "names", "validate"]

#: Operators allowed inside a matcher mapping (``field: {op: operand}``).
OPERATORS: frozenset[str] = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "filled"})
#: Reserved entry names that combine conditions instead of naming a field.
COMBINATORS: frozenset[str] = frozenset({"any", "not"})

_SCALAR_OPS = frozenset({"eq", "ne", "contains"})
_ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
_LIST_OPS = frozenset({"in", "not_in"})

# Exactly the characters String.prototype.trim removes (WhiteSpace + LineTerminator), so
# that Python's str.strip and JS agree on what "blank" and " 12 " mean.
_WHITESPACE = JS_WHITESPACE
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _Malformed(Exception):
    """Raised internally when a condition's shape is wrong; evaluate() turns it into False."""


def evaluate(cond: object, answers: Mapping[str, object]) -> bool:
    """Return whether ``cond`` holds for ``answers``; malformed conditions are false.

    Never raises: any malformed condition (see :func:`validate`) or unexpected answer
    shape yields ``False``.
    """
    try:
        if validate(cond):
            return False
        return _holds(cond, answers)
    except Exception:  # noqa: BLE001 - totality is the contract, also for odd Mapping types
        return False


def validate(cond: object) -> list[str]:
    """Return human-readable problems in the shape of ``cond`` (``[]`` when well formed)."""
    problems: list[str] = []
    _check_condition(cond, "", problems)
    return problems


def names(cond: object) -> set[str]:
    """Return every field or param name that ``cond`` refers to, at any depth.

    Best effort on malformed conditions: whatever names can be found are returned.
    """
    found: set[str] = set()
    _collect_names(cond, found)
    return found


# --- shape ---------------------------------------------------------------------------


def _where(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _suggest(word: str, choices: frozenset[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" — did you mean `{close[0]}`?" if close else ""


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _is_scalar(value: object) -> bool:
    if isinstance(value, (str, bool)):
        return True
    if isinstance(value, (int, float)):
        return _finite(value) is not None
    return False


def _check_condition(cond: object, path: str, problems: list[str]) -> None:
    label = f"`{path}`" if path else "condition"
    if not isinstance(cond, Mapping):
        problems.append(f"{label}: expected a mapping of conditions, got {_describe(cond)}")
        return
    for key, value in cond.items():
        if not isinstance(key, str) or not key:
            problems.append(f"{label}: names must be non-empty strings, got {key!r}")
            continue
        where = _where(path, key)
        if key == "any":
            if not isinstance(value, list):
                problems.append(f"`{where}`: expected a list of conditions, got {_describe(value)}")
                continue
            for i, item in enumerate(value):
                _check_condition(item, f"{where}[{i}]", problems)
        elif key == "not":
            _check_condition(value, where, problems)
        else:
            _check_matcher(value, where, problems)


def _check_matcher(matcher: object, where: str, problems: list[str]) -> None:
    if isinstance(matcher, list):
        _check_scalar_list(matcher, where, problems)
    elif isinstance(matcher, Mapping):
        if len(matcher) != 1:
            ops = ", ".join(f"`{k}`" for k in matcher) or "none"
            problems.append(f"`{where}`: an operator mapping needs exactly one operator, got {ops}")
            return
        ((op, operand),) = matcher.items()
        if not isinstance(op, str) or op not in OPERATORS:
            text = str(op)
            hint = (
                " — it combines conditions and belongs at the condition level"
                if text in COMBINATORS
                else _suggest(text, OPERATORS)
            )
            problems.append(f"`{where}`: unknown operator `{text}`{hint}")
            return
        _check_operand(op, operand, where, problems)
    elif matcher is None:
        problems.append(f"`{where}`: no value to compare with; use `{{filled: false}}` to test for an empty answer")
    elif not _is_scalar(matcher):
        problems.append(f"`{where}`: expected a value, a list or an operator, got {_describe(matcher)}")


def _check_operand(op: str, operand: object, where: str, problems: list[str]) -> None:
    at = f"`{where}` `{op}`"
    if op == "filled":
        if not isinstance(operand, bool):
            problems.append(f"{at}: expected true or false, got {_describe(operand)}")
    elif op in _LIST_OPS:
        if not isinstance(operand, list):
            problems.append(f"{at}: expected a list of values, got {_describe(operand)}")
        else:
            _check_scalar_list(operand, f"{where}.{op}", problems)
    elif op in _ORDER_OPS:
        if isinstance(operand, bool) or not _is_scalar(operand):
            problems.append(f"{at}: expected a number or a string, got {_describe(operand)}")
    elif not _is_scalar(operand):
        hint = "; use `in` for a list of values" if isinstance(operand, list) and op != "contains" else ""
        problems.append(f"{at}: expected a single value, got {_describe(operand)}{hint}")


def _check_scalar_list(items: list[object], where: str, problems: list[str]) -> None:
    for i, item in enumerate(items):
        if not _is_scalar(item):
            hint = ""
            if isinstance(item, Mapping):
                last = where.rsplit(".", 1)[-1]
                hint = _suggest(last, COMBINATORS) if last not in COMBINATORS else ""
            problems.append(
                f"`{where}[{i}]`: list items must be strings, numbers or booleans, got {_describe(item)}{hint}"
            )


def _collect_names(cond: object, found: set[str]) -> None:
    if not isinstance(cond, Mapping):
        return
    for key, value in cond.items():
        if key == "any":
            if isinstance(value, list):
                for item in value:
                    _collect_names(item, found)
        elif key == "not":
            _collect_names(value, found)
        elif isinstance(key, str):
            found.add(key)


# --- evaluation (only ever called on well-formed conditions) --------------------------


def _holds(cond: object, answers: Mapping[str, object]) -> bool:
    if not isinstance(cond, Mapping):
        raise _Malformed
    for key, value in cond.items():
        if key == "any":
            if not isinstance(value, list):
                raise _Malformed
            ok = any(_holds(item, answers) for item in value)
        elif key == "not":
            ok = not _holds(value, answers)
        else:
            ok = _match(answers.get(key), value)
        if not ok:
            return False
    return True


def _match(answer: object, matcher: object) -> bool:
    if isinstance(matcher, list):
        return any(_equals(answer, v) for v in matcher)
    if not isinstance(matcher, Mapping):
        return _equals(answer, matcher)
    ((op, operand),) = matcher.items()
    if op == "eq":
        return _equals(answer, operand)
    if op == "ne":
        return not _equals(answer, operand)
    if op == "in":
        return _match(answer, operand)
    if op == "not_in":
        return not _match(answer, operand)
    if op == "contains":
        if isinstance(answer, list):
            return any(_equals(item, operand) for item in answer)
        return isinstance(answer, str) and _equals(answer, operand)
    if op == "filled":
        return filled(answer) is operand
    return _compare(op, answer, operand)


def _finite(value: object) -> float | None:
    """The value as a finite float, or None when it is not a number (bools never are)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip(_WHITESPACE)
        if not _NUMBER.fullmatch(text):
            return None
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _equals(answer: object, expected: object) -> bool:
    if answer is None or isinstance(answer, (list, Mapping)):
        return False
    if isinstance(answer, bool) or isinstance(expected, bool):
        left, right = _as_bool(answer), _as_bool(expected)
        return left is not None and left == right
    left_num, right_num = _finite(answer), _finite(expected)
    if left_num is not None and right_num is not None:
        return left_num == right_num
    if isinstance(answer, str) and isinstance(expected, str):
        return answer == expected
    return False


def _utf16(text: str) -> bytes:
    # Big-endian UTF-16 bytes order exactly like JS compares strings (by code unit).
    return text.encode("utf-16-be", "surrogatepass")


def _compare(op: str, answer: object, operand: object) -> bool:
    if isinstance(answer, bool) or isinstance(operand, bool):
        return False
    left_num, right_num = _finite(answer), _finite(operand)
    if left_num is not None and right_num is not None:
        sign = (left_num > right_num) - (left_num < right_num)
    elif isinstance(answer, str) and isinstance(operand, str):
        left, right = _utf16(answer), _utf16(operand)
        sign = (left > right) - (left < right)
    else:
        return False
    if op == "gt":
        return sign > 0
    if op == "gte":
        return sign >= 0
    if op == "lt":
        return sign < 0
    return sign <= 0


def filled(answer: object) -> bool:
    """Whether an answer counts as given: not None, not blank text, not an empty list (as the runtime)."""
    if answer is None:
        return False
    if isinstance(answer, str):
        return answer.strip(_WHITESPACE) != ""
    if isinstance(answer, Sequence):
        return len(answer) > 0
    return True
