"""YAML with positions → model. Every problem becomes a `file:line:col` Diagnostic.

The YAML is composed (not constructed) so each key and value keeps its mark; the plain data
is then validated by pydantic, whose error locations are mapped back to those marks. All
errors in a file are collected; nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from .errors import Diagnostic
from .schema import Config, Site

__all__ = ["Positions", "Loaded", "parse_yaml", "load_site", "load_config", "display_path", "did_you_mean"]

try:  # the C loader is several times faster; fall back quietly where libyaml is missing
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

Path_ = tuple[str | int, ...]
Mark = tuple[str, int, int]  # file, 1-based line, 1-based column


@dataclass
class Positions:
    """Where each key and value of a document sits. Paths are tuples of keys and indexes."""

    file: str
    keys: dict[Path_, Mark] = field(default_factory=dict)
    values: dict[Path_, Mark] = field(default_factory=dict)

    def value(self, path: Path_) -> Mark:
        """Position of the value at ``path``, or of the deepest part of it that exists."""
        for i in range(len(path), -1, -1):
            mark = self.values.get(path[:i])
            if mark is not None:
                return mark
        return (self.file, 1, 1)

    def key(self, path: Path_) -> Mark:
        """Position of the key naming ``path`` (falls back to the value's position)."""
        mark = self.keys.get(path)
        return mark if mark is not None else self.value(path)

    def diag(
        self,
        path: Path_,
        message: str,
        *,
        at_key: bool = False,
        code: str = "",
        severity: typing.Literal["error", "warning"] = "error",
    ) -> Diagnostic:
        file, line, col = self.key(path) if at_key else self.value(path)
        return Diagnostic(file, line, col, message, severity, code)


@dataclass
class Loaded:
    """One site file after loading: the model when it validated, and every problem found."""

    path: Path
    positions: Positions
    data: Any = None
    site: Site | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """`` — did you mean `x`?`` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean `{match[0]}`?" if match else ""


# --------------------------------------------------------------------------- YAML → data

_constructor = yaml.constructor.SafeConstructor()
_SYNTAX_HINTS = (
    (
        "found character that cannot start any token",
        "a character that cannot start a value here; put the text in quotes",
    ),
    (
        "mapping values are not allowed",
        "a `:` where a value was expected: put text containing `: ` in quotes, or check the indentation",
    ),
    ("could not find expected ':'", "a line that is not `key: value`: check the indentation or add the missing `:`"),
    ("expected ',' or ']'", "an unclosed `[`: add the missing `]` or a comma between items"),
    ("expected ',' or '}'", "an unclosed `{`: add the missing `}` or a comma between entries"),
    ("found unexpected end of stream", "the file ends inside a quoted string: close the quote"),
    ("did not find expected key", "a line indented differently from the keys around it"),
    (
        "did not find expected '-' indicator",
        "this line is indented differently from the lines above it: line up `- ` items with each other and keys with the keys above",
    ),
    ("found undefined alias", "an `*alias` with no matching `&anchor`"),
)


def _syntax_diagnostic(exc: yaml.YAMLError, file: str, source: str = "") -> Diagnostic:
    if isinstance(exc, yaml.reader.ReaderError):
        # A control character (NUL, form feed…): usually a binary or mis-saved file.
        before = source[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return Diagnostic(
            file,
            line,
            col,
            f"the file contains a control character (U+{exc.character:04X}) that YAML does not allow: "
            "remove it, or check that this is a text file saved as UTF-8",
            code="yaml-syntax",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(getattr(exc, "problem", "") or exc)
    context = str(getattr(exc, "context", "") or "")
    text = f"{context} {problem}".strip()
    lines = source.split("\n")
    message = f"YAML syntax error: {problem}"
    # libyaml reports a tab as "a character that cannot start any token": look at it.
    if mark is not None and line <= len(lines) and lines[line - 1][col - 1 : col] == "\t":
        message = "YAML syntax error: a tab character: YAML indentation must use spaces"
    else:
        for needle, hint in _SYNTAX_HINTS:
            if needle in text:
                message = f"YAML syntax error: {hint}"
                break
    ctx_mark = getattr(exc, "context_mark", None)
    if ctx_mark is not None and ctx_mark is not mark and ctx_mark.line + 1 != line:
        message += f" (started at line {ctx_mark.line + 1})"
    return Diagnostic(file, line, col, message, code="yaml-syntax")


_resolver = yaml.resolver.Resolver()
_plain_cache: dict[str, Any] = {}
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_BASIC_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp"))


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _construct(tag: str, value: str, mark: Any) -> Any:
    result = _constructor.construct_object(yaml.ScalarNode(tag, value, mark, mark), deep=True)
    if isinstance(result, (_dt.date, _dt.datetime)):
        return result.isoformat()
    return result


def _plain(value: str, mark: Any) -> Any:
    # Plain scalars repeat a lot (`true`, `form`, `text`): resolve each distinct one once.
    try:
        return _plain_cache[value]
    except KeyError:
        pass
    tag = _resolver.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    result = value if tag == _STR_TAG else _construct(tag, value, mark)
    if len(_plain_cache) < 4096:
        _plain_cache[value] = result
    return result


class _Builder:
    """Plain data from the C parser's event stream, recording the mark of every key and value.

    Faster than compose + construct (PyYAML's constructor is pure Python), and it keeps what
    the constructor throws away: where each thing was written.
    """

    def __init__(self, pos: Positions, diags: list[Diagnostic]) -> None:
        self.pos = pos
        self.diags = diags
        self.anchors: dict[str, Any] = {}

    def mark(self, event: Any) -> Mark:
        m = event.start_mark
        return (self.pos.file, m.line + 1, m.column + 1)

    def problem(self, event: Any, message: str, code: str) -> None:
        file, line, col = self.mark(event)
        self.diags.append(Diagnostic(file, line, col, message, code=code))

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            return _plain(event.value, event.start_mark) if event.implicit[0] else event.value
        if tag in _BASIC_TAGS:
            try:
                return _construct(tag, event.value, event.start_mark)
            except (yaml.YAMLError, ValueError):
                self.problem(event, f"`{event.value}` cannot be read as `{tag.rsplit(':', 1)[1]}`", "yaml-tag")
                return None
        self.problem(event, f"unsupported YAML tag `{_short_tag(tag)}`: only plain values are allowed", "yaml-tag")
        return None

    def value(self, events: Iterator[Any], event: Any, path: Path_) -> Any:
        self.pos.values[path] = self.mark(event)
        kind = type(event)
        result: Any
        bad_tag = kind is not yaml.ScalarEvent and getattr(event, "tag", None) not in _COLLECTION_TAGS
        if bad_tag:
            # e.g. `!!python/object/apply:os.system [...]`: read safely, but never silently.
            self.problem(
                event, f"unsupported YAML tag `{_short_tag(event.tag)}`: only plain values are allowed", "yaml-tag"
            )
        if kind is yaml.ScalarEvent:
            result = self.scalar(event)
        elif kind is yaml.MappingStartEvent:
            result = self.mapping(events, path)
        elif kind is yaml.SequenceStartEvent:
            items: list[Any] = []
            for item in events:
                if type(item) is yaml.SequenceEndEvent:
                    break
                items.append(self.value(events, item, path + (len(items),)))
            result = items
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                self.problem(
                    event, f"YAML syntax error: `*{event.anchor}` has no matching `&{event.anchor}`", "yaml-syntax"
                )
            return self.anchors.get(event.anchor)
        else:  # pragma: no cover - the parser yields only the kinds above here
            return None
        if bad_tag:
            result = None
        if event.anchor:
            self.anchors[event.anchor] = result
        return result

    def mapping(self, events: Iterator[Any], path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_event in events:
            if type(key_event) is yaml.MappingEndEvent:
                break
            value_event = next(events)
            if type(key_event) is not yaml.ScalarEvent:
                self.problem(key_event, "a key must be plain text", "yaml-key")
                self.value(events, value_event, path + ("\0",))  # consume and drop
                continue
            key = key_event.value  # keys are names: keep `yes:` or `1:` as written
            kpath = path + (key,)
            if key in out:
                first = self.pos.keys[kpath]
                self.problem(
                    key_event,
                    f"duplicate key `{key}` (first set at line {first[1]}); remove one of them",
                    "duplicate-key",
                )
                self.value(events, value_event, path + ("\0",))
                continue
            self.pos.keys[kpath] = self.mark(key_event)
            out[key] = self.value(events, value_event, kpath)
        return out


def parse_yaml(text: str, file: str) -> tuple[Any, Positions, list[Diagnostic]]:
    """Parse one YAML document, keeping positions. Returns (data, positions, diagnostics)."""
    pos = Positions(file)
    diags: list[Diagnostic] = []
    builder = _Builder(pos, diags)
    data: Any = None
    documents = 0
    loader = None
    try:
        # The parser's own get_event, not yaml.parse(): that generator costs 2-3x the parsing.
        loader = _Loader(text)
        events = iter(loader.get_event, None)
        for event in events:
            kind = type(event)
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    builder.problem(
                        event, "only one YAML document per file: remove this `---` and what follows", "yaml-documents"
                    )
                    break
            elif kind in (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent):
                data = builder.value(events, event, ())
    except yaml.YAMLError as exc:
        return None, pos, [_syntax_diagnostic(exc, file, text)]
    except (ValueError, RecursionError) as exc:  # e.g. NUL bytes, absurd nesting
        return (
            None,
            pos,
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    f"not readable as YAML ({type(exc).__name__}); check the file is text",
                    code="yaml-syntax",
                )
            ],
        )
    finally:
        if loader is not None:
            loader.dispose()
    return data, pos, diags


def read_text(path: Path, file: str) -> tuple[str | None, list[Diagnostic]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(file, 1, 1, f"cannot read the file: {exc.strerror or exc}", code="io")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Diagnostic(file, line, col, "the file is not UTF-8 text: save it as UTF-8", code="encoding")]


# --------------------------------------------------------------------------- data → model

_TYPE_WORDS = {
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "list_type": "a list (`- item` lines or `[a, b]`)",
    "dict_type": "a mapping (`key: value` lines)",
    "model_type": "a mapping (`key: value` lines)",
    "model_attributes_type": "a mapping (`key: value` lines)",
}

_PATTERN_HELP = {
    ("screen", "id"): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    ("rule", "goto"): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    (
        "screen",
        "next",
    ): "a screen id starts with a lowercase letter, then up to 49 lowercase letters, digits, `-` or `_`",
    ("field", "id"): "a field id starts with a lowercase letter, then up to 49 lowercase letters, digits or `_`",
    ("site", "slug"): "a slug is lowercase letters, digits and `-`, starting with a letter or digit (at most 63)",
    ("site", "lang"): "use a BCP 47 language tag such as `en`, `en-GB` or `es-419`",
    ("site", "theme"): "a theme is a folder name: letters, digits, `-` and `_`",
    ("colors", "*"): 'a colour is `#rgb` or `#rrggbb`, e.g. `#0b5fff` (quote it: `"#0b5fff"`)',
    ("param", "name"): "a param name starts with a letter, then up to 49 letters, digits or `_`",
    ("config", "base_url"): "use an absolute http(s) URL such as `https://apply.acme.example`",
    ("config", "allowed_origins"): "an origin is `scheme://host[:port]`, e.g. `https://www.acme.example`, with no path",
}


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in args if typing.get_origin(_strip(a)) is list]
            if len(args) == 1:
                tp = args[0]
            else:
                return tuple(models) or tuple(lists) or tp
        else:
            return tp


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _walk(root: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> tuple[Path_, Any, bool]:
    """Map a pydantic error location to a data path, and the model class found at its parent.

    Returns (data_path, model_at_parent_or_None, via_union): discriminator tags that pydantic
    inserts (`('screens', 0, 'form', …)`) and the member names of scalar unions
    (`('min', 'float')`) are dropped; via_union says the latter happened.
    """
    path: list[str | int] = []
    tp: Any = root
    cur = data
    parent_model: Any = root
    via_union = False
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, tuple):  # a union of models: pick the one the data's `type` names
            chosen = None
            for member in tp:
                if isinstance(member, type) and issubclass(member, BaseModel):
                    lit = member.model_fields.get("type")
                    if (
                        lit is not None
                        and isinstance(cur, dict)
                        and typing.get_args(lit.annotation) == (cur.get("type"),)
                    ):
                        chosen = member
            if chosen is None and tp and typing.get_origin(_strip(tp[0])) is list:
                chosen = tp[0]
            tp = chosen
            if isinstance(part, str) and isinstance(cur, dict) and cur.get("type") == part and part not in cur:
                continue
        if isinstance(part, int):
            if isinstance(cur, list) and 0 <= part < len(cur):
                cur = cur[part]
            else:
                cur = None
            path.append(part)
            origin = typing.get_origin(_strip(tp)) if tp is not None else None
            tp = typing.get_args(_strip(tp))[0] if origin is list else None
            continue
        key = str(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent_model = tp
            field = tp.model_fields.get(key)
            if field is None:
                for _name, f in tp.model_fields.items():
                    if f.alias == key:
                        field = f
                        break
            tp = field.annotation if field is not None else None
        elif typing.get_origin(_strip(tp) if tp is not None else None) is dict:
            parent_model = None
            tp = typing.get_args(_strip(tp))[1]
        elif not (isinstance(cur, dict) and key in cur):
            via_union = True  # `float`, `list[str]`…: pydantic names a member of a union, not a key
            continue
        else:
            parent_model = None
            tp = None
        path.append(key)
        cur = cur.get(key) if isinstance(cur, dict) else None
    return tuple(path), parent_model, via_union


def _keys_of(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _kind(model: Any) -> str:
    name = getattr(model, "__name__", "")
    return {
        "Site": "site",
        "Config": "config",
        "FormScreen": "screen",
        "WinkScreen": "screen",
        "EndScreen": "screen",
        "FieldSpec": "field",
        "Rule": "rule",
        "Colors": "colors",
        "Param": "param",
        "Brand": "brand",
        "Wink": "wink",
    }.get(name, name.lower())


# How an unknown key's owner is named: "unknown key `x` in a field".
_OWNERS = {
    "site": "",
    "screen": "a screen",
    "field": "a field",
    "rule": "a routing rule",
    "param": "a param",
    "colors": "`brand.colors`",
    "brand": "`brand`",
    "wink": "`wink`",
    "option": "an option",
    "oncomplete": "`on_complete`",
    "seo": "`seo`",
    "config": "flipgen.yaml",
}


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "…"


def _message(err: Any, path: Path_, parent: Any, data: Any) -> tuple[str, bool]:
    """A marketer-readable message for one pydantic error; bool = point at the key."""
    kind = err["type"]
    name = str(path[-1]) if path and isinstance(path[-1], str) else ""
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = _kind(parent)
    if kind == "extra_forbidden":
        allowed = _keys_of(parent)
        if where == "screen" and name == "next" and isinstance(parent, type) and parent.__name__ == "EndScreen":
            return "an `end` screen is the last step and cannot have `next`; remove it", True
        hint = did_you_mean(name, allowed)
        if not hint and allowed:
            hint = f" (expected one of: {', '.join(f'`{k}`' for k in allowed)})"
        owner = _OWNERS.get(where, f"`{where}`" if where else "")
        return f"unknown key `{name}`{' in ' + owner if owner else ''}{hint}", True
    if kind == "missing":
        owner = {
            "screen": "screen",
            "field": "field",
            "rule": "routing rule",
            "param": "param",
            "wink": "`wink` block",
            "site": "site",
        }.get(where, where or "mapping")
        return f"missing required key `{name}` in this {owner}", False
    if kind == "union_tag_invalid":
        tag = ctx.get("tag", "")
        return (
            f"unknown screen type `{tag}`{did_you_mean(str(tag), ['form', 'wink', 'end'])} (expected form, wink or end)",
            False,
        )
    if kind == "union_tag_not_found":
        node = data
        for part in path:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                node = None
        typo = [k for k in node if k != "type" and did_you_mean(str(k), ["type"])] if isinstance(node, dict) else []
        hint = f" (is `{typo[0]}` a misspelled `type`?)" if typo else ""
        return f"this screen needs a `type`: form, wink or end{hint}", False
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "`")
        choices = [c.strip(" `") for c in expected.replace(" or ", ",").split(",") if c.strip(" `")]
        what = {"type": f"{where} type", "sdk": "SDK version"}.get(name, f"value for `{name}`" if name else "value")
        return (
            f"`{_shown(value)}` is not a valid {what}{did_you_mean(str(value), choices)} (expected {expected})",
            False,
        )
    if kind in _TYPE_WORDS:
        expected = _TYPE_WORDS[kind]
        if name == "next" and kind == "list_type":
            expected = "a screen id or a list of rules (`- if: …` / `goto: …`)"
        if len(path) >= 2 and path[-2] == "options" and isinstance(path[-1], int):
            expected = "text or a `{value, label}` mapping"
        extra = ""
        if value is None and kind in ("string_type", "model_type", "list_type", "dict_type", "model_attributes_type"):
            extra = " — it is empty"
            if where == "colors":
                extra += ': an unquoted `#` starts a YAML comment, so quote the colour (`"#0b5fff"`)'
        elif isinstance(value, bool) and (kind == "string_type" or "text" in expected.split(" ")[:1]):
            extra = (
                f" — YAML read `{str(value).lower()}` as a true/false value (unquoted yes/no/on/off are too); "
                "put it in quotes"
            )
        elif kind == "string_type" and isinstance(value, (int, float)):
            extra = f" — YAML read `{_shown(value)}` as a number; put it in quotes"
        if name:
            label = f"`{name}` expects"
        elif len(path) >= 2 and isinstance(path[-1], int):
            label = f"each item of `{path[-2]}` must be"
        else:
            label = "expected"
        return f"{label} {expected}{extra}", False
    if kind == "string_pattern_mismatch":
        help_ = _PATTERN_HELP.get((where, name)) or _PATTERN_HELP.get((where, "*"))
        if where == "rule" or (where == "screen" and name == "next") or (where == "config" and not help_):
            help_ = help_ or f"does not match {ctx.get('pattern')}"
        shown = _shown(value)
        noun = (
            f"{where} {name}" if where in ("screen", "field", "param") and name in ("id", "name") else (name or "value")
        )
        if where == "colors":
            noun = f"colour for `{name}`"
        return f"`{shown}` is not a valid {noun}: {help_ or 'it does not match ' + str(ctx.get('pattern'))}", False
    if kind == "too_short":
        noun = {"screens": "one screen", "fields": "one field"}.get(name, "one item")
        return f"`{name}` needs at least {noun}", False
    if kind in ("string_too_short",):
        return f"`{name}` must not be empty", False
    if kind in ("string_too_long",):
        return f"`{name}` is too long (at most {ctx.get('max_length')} characters)", False
    bounds = {
        "greater_than_equal": "at least",
        "greater_than": "more than",
        "less_than_equal": "at most",
        "less_than": "less than",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"`{name}` must be {bounds[kind]} {limit}", False
    msg = str(err.get("msg", "invalid value"))
    return (f"`{name}`: {msg}" if name else msg), False


def _key_message(err: Any, path: Path_) -> str:
    """A key of a free-form mapping (`messages`, `csp`) that is not one of the allowed ones."""
    name = str(path[-1]) if path else ""
    owner = f" in `{path[-2]}`" if len(path) >= 2 else ""
    expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "`")
    if not expected:
        return f"key `{name}`{owner}: {err.get('msg', 'not allowed')}"
    choices = [c.strip(" `") for c in expected.replace(" or ", ",").split(",") if c.strip(" `")]
    return f"unknown key `{name}`{owner}{did_you_mean(name, choices)} (expected {expected})"


def validate(model: type[BaseModel], data: Any, pos: Positions) -> tuple[Any, list[Diagnostic]]:
    """Validate plain data against a model; map every error back to its position."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        diags: list[Diagnostic] = []
        seen: set[tuple[Path_, str]] = set()
        union_paths: set[Path_] = set()
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            bad_key = bool(loc) and loc[-1] == "[key]"  # a dict key failed, e.g. `messages: {requird: …}`
            path, parent, via_union = _walk(model, data, loc[:-1] if bad_key else loc)
            if via_union:  # one error per union member: the first one says enough
                if path in union_paths:
                    continue
                union_paths.add(path)
            if bad_key:
                message, at_key = _key_message(err, path), True
            else:
                message, at_key = _message(err, path, parent, data)
            if (path, message) in seen:
                continue
            seen.add((path, message))
            if err["type"] == "missing":  # at the key that names the incomplete block (`wink:`)
                target = pos.key(path[:-1])
            elif err["type"] == "union_tag_invalid":  # at the unknown `type: …`, not the screen
                target = pos.value(path + ("type",))
            elif at_key:
                target = pos.key(path)
            else:
                target = pos.value(path)
            diags.append(Diagnostic(target[0], target[1], target[2], message, code=f"schema:{err['type']}"))
        return None, diags


def deep_merge(base: Any, over: Any) -> Any:
    """`over` wins; mappings merge recursively; everything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return over


def _merge_positions(pos: Positions, defaults: Positions, base: Any, over: Any, path: Path_) -> None:
    """Positions for values that came from `defaults` point into flipgen.yaml."""
    if isinstance(base, dict):
        for key, value in base.items():
            sub = path + (key,)
            if not isinstance(over, dict) or key not in over:
                for table_src, table_dst in ((defaults.keys, pos.keys), (defaults.values, pos.values)):
                    for p, mark in table_src.items():
                        if p[: len(sub) + 1] == ("defaults",) + sub:
                            table_dst[p[1:]] = mark
            else:
                _merge_positions(pos, defaults, value, over[key], sub)


def load_site(
    path: Path,
    *,
    defaults: dict[str, Any] | None = None,
    defaults_positions: Positions | None = None,
    file: str | None = None,
) -> Loaded:
    """Read, parse and validate one site file. Never raises on bad input."""
    file = file or display_path(path)
    loaded = Loaded(path=path, positions=Positions(file))
    text, problems = read_text(path, file)
    if text is None:
        loaded.diagnostics = problems
        return loaded
    data, pos, diags = parse_yaml(text, file)
    loaded.positions = pos
    loaded.diagnostics = diags
    if data is None and not diags:
        loaded.diagnostics.append(
            Diagnostic(file, 1, 1, "the file is empty: a site needs at least `title` and `screens`", code="empty")
        )
        return loaded
    if data is None:
        return loaded
    if not isinstance(data, dict):
        loaded.diagnostics.append(
            pos.diag((), "a site file must be a mapping of keys (`title: …`, `screens: …`)", code="not-mapping")
        )
        return loaded
    if defaults:
        merged = deep_merge(defaults, data)
        if defaults_positions is not None:
            _merge_positions(pos, defaults_positions, defaults, data, ())
        data = merged
    loaded.data = data
    site, errors = validate(Site, data, pos)
    # A bad tag or alias became null; "expects text" at the same spot would only repeat it.
    spots = {(d.line, d.col) for d in diags}
    loaded.diagnostics.extend(e for e in errors if (e.line, e.col) not in spots or e.file != file)
    if site is not None and not diags:
        if site.slug is None:
            site.slug = path.stem
        loaded.site = site
    return loaded


def load_config(path: Path) -> tuple[Config, Positions, list[Diagnostic]]:
    """Read `flipgen.yaml`; a missing file gives the defaults."""
    file = display_path(path)
    pos = Positions(file)
    if not path.exists():
        return Config(), pos, []
    text, problems = read_text(path, file)
    if text is None:
        return Config(), pos, problems
    data, pos, diags = parse_yaml(text, file)
    if diags:
        return Config(), pos, diags
    if data is None:
        return Config(), pos, []
    if not isinstance(data, dict):
        return (
            Config(),
            pos,
            [pos.diag((), "flipgen.yaml must be a mapping of keys (`output: dist`, …)", code="not-mapping")],
        )
    config, errors = validate(Config, data, pos)
    return (config if config is not None else Config()), pos, errors
