"""The browser runtime as one script: the units under `static/runtime/`, joined in order.

The units are ES modules so that ESLint and the Node tests see each one's imports. Pages get
them as ONE classic script (one request, `script-src 'self'`, no bundler for users to
install): the relative `import {…} from "./unit.js";` lines are dropped and `export ` is cut,
so every unit shares one function scope. Top-level names must therefore be unique across
units; tests/js/bundle.test.mjs proves the joined script parses and runs.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["UNITS", "RUNTIME_DIR", "runtime_source"]

RUNTIME_DIR = Path(__file__).parent / "static" / "runtime"
# Dependencies first; main.js last, as it starts the page.
UNITS = (
    "util",
    "language",
    "limits",
    "conditions",
    "validate",
    "answers",
    "strings",
    "state",
    "api",
    "applications",
    "embed",
    "form",
    "screens",
    "wink",
    "main",
)
_IMPORT = re.compile(r'^import \{[^}]*\} from "\./[a-z]+\.js";\n', re.M)
_EXPORT = re.compile(r"^export (?=(?:async )?function |const |let |class )", re.M)
_LEFT = re.compile(r"^(?:import|export)\b.*", re.M)
# Prettier keeps top-level declarations at column 0, and ESLint's one-var rule one per line.
_DECLARED = re.compile(r"^(?:export )?(?:async )?(?:function\*? ?|const |let |class )([A-Za-z_$][\w$]*)", re.M)


def runtime_source() -> str:
    """The unminified runtime script (build.py minifies it)."""
    parts = ['/* flipgen journey runtime (flipgen/static/runtime/, joined). */\n(() => {\n"use strict";\n']
    owner: dict[str, str] = {}
    for unit in UNITS:
        text = (RUNTIME_DIR / f"{unit}.js").read_text(encoding="utf-8")
        for name in _DECLARED.findall(text):
            if name in owner:
                # One scope: a second `function` of the same name would silently replace the first.
                raise RuntimeError(f"static/runtime/{unit}.js: `{name}` is already declared in {owner[name]}.js")
            owner[name] = unit
        text = _EXPORT.sub("", _IMPORT.sub("", text))
        left = _LEFT.search(text)
        if left:
            raise RuntimeError(
                f"static/runtime/{unit}.js: cannot join `{left.group(0)}`; use `export function|const|let`"
            )
        parts.append(f"// --- {unit}.js\n{text}")
    parts.append("})();\n")
    return "".join(parts)
