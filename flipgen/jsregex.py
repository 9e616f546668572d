"""Field and param patterns with the browser's semantics, for the server's re-validation.

The runtime compiles a site's ``pattern`` as ``new RegExp("^(?:" + p + ")$")`` (no flags),
and ``flipgen check`` already refuses Python-only syntax. The remaining differences between
JavaScript's regular expressions and Python's are bridged here:

- ``\\d``, ``\\w`` and ``\\b`` are ASCII in JavaScript: compiled with the ASCII flag.
- ``\\s`` is JavaScript's whitespace set (which the ASCII flag would shrink): spelled out.
- ``.`` stops at every JavaScript line terminator (``\\n \\r \\u2028 \\u2029``), ``$`` is the
  very end, ``[]`` matches nothing and ``[^]`` matches anything.
- Without the ``u`` flag JavaScript sees UTF-16 code units: pattern and value are both
  turned into code-unit strings when they hold characters outside the BMP, so ``.{2}``
  counts an emoji as two, as the browser does.

The ``regex`` module runs the match because it takes a timeout: the value comes from an
anonymous visitor, and a site pattern with catastrophic backtracking must not stall a worker.
"""

from __future__ import annotations

import functools

import regex

__all__ = ["JS_WHITESPACE", "MATCH_TIMEOUT", "PatternTimeout", "compile_pattern", "fullmatch", "utf16_units"]

#: Exactly JavaScript's ``\\s`` and what ``String.prototype.trim`` removes.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WS_CLASS_BODY = "".join(f"\\u{ord(c):04x}" for c in JS_WHITESPACE)
_DOT = "[^\\n\\r\\u2028\\u2029]"
#: Seconds one match may take before the value is refused.
MATCH_TIMEOUT = 0.05


class PatternTimeout(Exception):
    """The pattern backtracked for longer than :data:`MATCH_TIMEOUT` on this value."""


def utf16_units(text: str) -> str:
    """``text`` with every astral character split into its two surrogate code units."""
    if text.isascii() or all(ord(c) < 0x10000 for c in text):
        return text
    data = text.encode("utf-16-be", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "big")) for i in range(0, len(data), 2))


def _translate(source: str) -> str:
    """The Python spelling of a JavaScript pattern body (see the module docstring)."""
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n:
            e = source[i + 1]
            if e == "s":
                out.append(_WS_CLASS_BODY if in_class else f"[{_WS_CLASS_BODY}]")
            elif e == "S" and not in_class:
                out.append(f"[^{_WS_CLASS_BODY}]")
            elif e == "k" and source.startswith("<", i + 2) and ">" in source[i + 3 :]:
                name = source[i + 3 : source.index(">", i + 3)]
                out.append(f"(?P={name})")
                i += len(name) + 4
                continue
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            if source.startswith("[]", i):
                out.append("(?!)")
                i += 2
                continue
            if source.startswith("[^]", i):
                out.append("[\\s\\S]")
                i += 3
                continue
            in_class = True
            # A `]` right after `[` or `[^` closes the class in JS; Python would read it as a literal.
            out.append(c)
        elif c == ".":
            out.append(_DOT)
        elif c == "$":
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def compile_pattern(source: str) -> regex.Pattern[str] | None:
    """The compiled whole-value pattern, or None when it does not compile (the browser ignores it then)."""
    try:
        return regex.compile(f"(?:{_translate(utf16_units(source))})", regex.ASCII | regex.V0)
    except (regex.error, ValueError, OverflowError):
        return None


def fullmatch(source: str, value: str) -> bool | None:
    """Whether ``value`` matches all of ``source``; None when the pattern does not compile.

    Raises :class:`PatternTimeout` when the match takes longer than :data:`MATCH_TIMEOUT`.
    """
    compiled = compile_pattern(source)
    if compiled is None:
        return None
    try:
        return compiled.fullmatch(utf16_units(value), timeout=MATCH_TIMEOUT) is not None
    except TimeoutError as exc:
        raise PatternTimeout(source) from exc
