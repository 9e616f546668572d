"""YAML with positions: plain data from the parser's event stream, and where each thing was written.

The C parser's events are turned into plain data directly (no compose, no construct), and the
mark of every key and value is kept in a `Positions` table, so every later problem can point
at `file:line:col`. Syntax errors become one positioned Diagnostic; nothing here raises on bad
input.
"""

from __future__ import annotations

import datetime as _dt
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Diagnostic

__all__ = ["Positions", "Path_", "Mark", "parse_yaml", "read_text"]

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
    """The file's text (UTF-8, a BOM allowed), or None and a positioned Diagnostic saying why not."""
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
