"""Server-side re-validation of a visitor's answers, with exactly the browser's rules.

The runtime (``flipgen/static/flip.js``) validates each field, decides which fields are shown
(``show_if``) and routes between screens. A request to the application endpoint does not come
from that runtime necessarily, so the server runs the same rules again over the same journey
data block (docs/internals.md, "The journey data block"):

- :func:`validate` (in :mod:`flipgen.fieldrules`, re-exported here) is ``validate(f, v, text)``
  of the runtime, rule for rule and message for message; ``tests/vectors/validation.json`` is
  run against both.
- :func:`route`, :func:`effective` and :func:`walk` are the runtime's routing: which screens a
  visitor passes through, and which fields count, for a given set of answers.
- :func:`check_params`, :func:`check_screen` and :func:`check_submission` add what only a
  server needs: every value has the type the browser sends (a string, a boolean or a list of
  option values, trimmed as the browser trims), and answers for unknown fields, for fields that
  ``show_if`` hides or for screens off the path the answers take are refused.

Every function is total over a well-formed journey and never raises on hostile answers: bad
input becomes a :class:`Problem` keyed by the field (or param) id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flipgen.conditions import evaluate
from flipgen.fieldrules import DEFAULT_TEXT, SERVER_TEXT, FieldData, Problem, validate
from flipgen.jsregex import JS_WHITESPACE, PatternTimeout, fullmatch
from flipgen.limits import PLACEHOLDER_RE

__all__ = [
    "DEFAULT_TEXT",
    "AnswersError",
    "Checked",
    "Problem",
    "check_params",
    "check_screen",
    "check_submission",
    "effective",
    "route",
    "validate",
    "walk",
]

Journey = Mapping[str, Any]

# The types whose answer the browser reads as `input.value.trim()`.
_TRIMMED = frozenset({"text", "email", "tel", "number", "date", "textarea", "select"})
_SINGLE_LINE = _TRIMMED - {"textarea"}
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class AnswersError(Exception):
    """A request that cannot be checked field by field (unknown screen, screen off the path)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Checked:
    """The outcome of a check: the answers to keep, the problems, the screens passed through.

    ``end`` is the end screen a submission leads to; ``next`` the screen a saved one leads to.
    """

    answers: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    end: str | None = None
    next: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------- the browser's routing


def route(screen: Mapping[str, Any], answers: Mapping[str, object]) -> str | None:
    """Id of the next screen: the first rule whose ``if`` is null or holds (the runtime's ``route``)."""
    for rule in screen.get("next") or []:
        if rule.get("if") is None or evaluate(rule["if"], answers):
            goto = rule.get("goto")
            return goto if isinstance(goto, str) and goto else None
    return None


def effective(
    journey: Journey, raw: Mapping[str, object], params: Mapping[str, str], path: Sequence[str]
) -> dict[str, object]:
    """The answers that count: the params, then the shown fields of the screens on ``path``.

    Screens are taken in the journey's order, fields in screen order, and each ``show_if`` sees
    only what came before it: exactly the runtime's ``effective``.
    """
    answers: dict[str, object] = {}
    for param in journey.get("params") or []:
        if params.get(param["name"]) is not None:
            answers[param["name"]] = params[param["name"]]
    on_path = set(path)
    for screen in journey["screens"]:
        if screen["id"] not in on_path:
            continue
        for spec in screen.get("fields") or []:
            if not spec.get("show_if") or evaluate(spec["show_if"], answers):
                answers[spec["id"]] = raw.get(spec["id"])
    return answers


@dataclass(frozen=True)
class Walk:
    path: tuple[str, ...]
    end: str | None


def walk(journey: Journey, raw: Mapping[str, object], params: Mapping[str, str]) -> Walk:
    """The screens a visitor with these answers passes through, from the first to the end.

    ``end`` is the end screen shown, or None when the journey completes without one. A loop
    (which ``flipgen check`` refuses) stops the walk where it would repeat.
    """
    screens = {s["id"]: s for s in journey["screens"]}
    path = [journey["screens"][0]["id"]]
    while screens[path[-1]]["type"] != "end":
        nxt = route(screens[path[-1]], effective(journey, raw, params, path))
        if nxt is None or nxt not in screens or nxt in path:
            return Walk(tuple(path), None)
        path.append(nxt)
    return Walk(tuple(path), path[-1])


# --------------------------------------------------------------------------- what only the server checks


def _fields(journey: Journey) -> dict[str, tuple[str, FieldData]]:
    """Every field of the journey by id, with the id of its screen."""
    return {f["id"]: (s["id"], f) for s in journey["screens"] for f in s.get("fields") or []}


def _interpolate(text: str, params: Mapping[str, str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: params.get(m.group(1), ""), text)


def _fixed_value(spec: FieldData, params: Mapping[str, str]) -> object:
    """What the runtime puts in a ``hidden`` field: its ``value`` (else ``default``), params filled in."""
    value = spec.get("value") if spec.get("value") is not None else spec.get("default")
    return _interpolate(value, params) if isinstance(value, str) else value


def _string_problem(value: str, single_line: bool) -> Problem | None:
    if _BAD_CHARS.search(value):
        return Problem("characters", SERVER_TEXT["characters"])
    if single_line and ("\n" in value or "\r" in value):
        return Problem("type", SERVER_TEXT["line"])
    return None


def _normalise(spec: FieldData, value: object) -> tuple[object, Problem | None]:
    """The value as the browser would have sent it, or the reason it could not come from one.

    Strings are trimmed as the runtime trims what it reads from an input; a ``checkbox`` is a
    boolean and ``checkboxes`` a list of distinct strings.
    """
    kind = spec.get("type")
    if value is None:
        return None, None
    if kind in ("checkbox", "consent"):
        return (value, None) if isinstance(value, bool) else (None, Problem("type", SERVER_TEXT["type_bool"]))
    if kind == "checkboxes":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
            return None, Problem("type", SERVER_TEXT["type_list"])
        bad = next((p for p in (_string_problem(v, True) for v in value) if p), None)
        return (None, bad) if bad else (list(value), None)
    if not isinstance(value, str):
        return None, Problem("type", SERVER_TEXT["type_text"])
    bad = _string_problem(value, kind != "textarea")
    if bad:
        return None, bad
    return (value.strip(JS_WHITESPACE) if kind in _TRIMMED else value), None


def check_params(journey: Journey, params: Mapping[str, object]) -> tuple[dict[str, str], dict[str, Problem]]:
    """The declared params of a new application, checked as the runtime reads them from the URL.

    An empty value counts as absent; a required param must be present; a param's ``pattern``
    must match the whole value. Unknown names are refused rather than dropped, so a caller
    learns about a typo.
    """
    declared = {p["name"]: p for p in journey.get("params") or []}
    kept: dict[str, str] = {}
    problems: dict[str, Problem] = {}
    for name, value in params.items():
        if name not in declared:
            problems[name] = Problem("unknown", SERVER_TEXT["unknown_param"])
        elif value is not None and not isinstance(value, str):
            problems[name] = Problem("type", SERVER_TEXT["type_text"])
        elif isinstance(value, str) and value:
            bad = _string_problem(value, True)
            pattern = declared[name].get("pattern")
            try:
                if bad is None and pattern and fullmatch(pattern, value) is False:
                    bad = Problem("pattern", SERVER_TEXT["param_pattern"])
            except PatternTimeout:
                bad = Problem("pattern", SERVER_TEXT["timeout"])
            if bad:
                problems[name] = bad
            else:
                kept[name] = value
    for name, spec in declared.items():
        if spec.get("required") and name not in kept and name not in problems:
            problems[name] = Problem("required", DEFAULT_TEXT["required"])
    return kept, problems


def _take(
    specs: Mapping[str, FieldData], answers: Mapping[str, object], problems: dict[str, Problem]
) -> dict[str, object]:
    """The normalised answers of known, non-``hidden`` fields; other keys become problems."""
    raw: dict[str, object] = {}
    for key, value in answers.items():
        spec = specs.get(key)
        if spec is None:
            problems[key] = Problem("unknown", SERVER_TEXT["unknown"])
            continue
        if spec.get("type") == "hidden":
            continue  # compared with the site's value once the params are known
        raw[key], bad = _normalise(spec, value)
        if bad:
            problems[key] = bad
    return raw


def _judge(
    journey: Journey,
    screen_ids: Sequence[str],
    raw: Mapping[str, object],
    sent: Mapping[str, object],
    params: Mapping[str, str],
    result: Checked,
) -> None:
    """Refuse answers for fields not shown on ``result.path``, validate the shown ones, keep them."""
    shown = effective(journey, raw, params, result.path)
    for screen in journey["screens"]:
        if screen["id"] not in screen_ids:
            continue
        for spec in screen.get("fields") or []:
            fid = spec["id"]
            if fid not in shown:
                if fid in sent:
                    result.problems.setdefault(fid, Problem("not_shown", SERVER_TEXT["not_shown"]))
                continue
            if spec.get("type") == "hidden" and fid in sent and sent[fid] != shown[fid]:
                result.problems.setdefault(fid, Problem("fixed", SERVER_TEXT["fixed"]))
            if fid not in result.problems:
                bad = validate(spec, shown[fid])
                if bad:
                    result.problems[fid] = bad
            result.answers[fid] = shown[fid]


def _with_fixed(journey: Journey, raw: dict[str, object], params: Mapping[str, str]) -> dict[str, object]:
    for _, spec in _fields(journey).values():
        if spec.get("type") == "hidden":
            raw[spec["id"]] = _fixed_value(spec, params)
    return raw


def check_screen(
    journey: Journey,
    params: Mapping[str, str],
    saved: Mapping[str, object],
    screen_id: str,
    answers: Mapping[str, object],
) -> Checked:
    """One form screen's answers ("save on Next"), given the answers already saved.

    The screen must be a form screen on the path that the saved answers take (so saves arrive
    in the order the visitor made them); its answers replace any earlier ones for that screen.
    Raises :class:`AnswersError` for an unknown screen, a screen that is not a form, or a
    screen off the path.
    """
    screens = {s["id"]: s for s in journey["screens"]}
    screen = screens.get(screen_id)
    if screen is None:
        raise AnswersError("unknown_screen", "This journey has no such screen.")
    if screen.get("type") != "form":
        raise AnswersError("not_a_form", "Only the answers of a form screen can be saved.")
    result = Checked()
    own = {f["id"]: f for f in screen["fields"]}
    raw = dict(saved)
    raw.update({fid: None for fid in own})
    raw.update(_take(own, answers, result.problems))
    _with_fixed(journey, raw, params)
    path = walk(journey, raw, params).path
    if screen_id not in path:
        raise AnswersError(
            "not_on_path", "The answers saved so far do not lead to this screen: save the earlier screens first."
        )
    result.path = path[: path.index(screen_id) + 1]
    _judge(journey, [screen_id], raw, answers, params, result)
    result.next = route(screen, effective(journey, raw, params, result.path))
    return result


def check_submission(journey: Journey, params: Mapping[str, str], answers: Mapping[str, object]) -> Checked:
    """The complete answers of a finished journey: every screen on the path they take.

    Returns the answers to store (only shown fields on the path, ``hidden`` fields filled in
    from the params), the problems keyed by field id, and the path and end screen.
    """
    result = Checked()
    raw = _with_fixed(
        journey, _take({fid: spec for fid, (_, spec) in _fields(journey).items()}, answers, result.problems), params
    )
    done = walk(journey, raw, params)
    result.path, result.end = done.path, done.end
    _judge(journey, [s["id"] for s in journey["screens"]], raw, answers, params, result)
    return result
