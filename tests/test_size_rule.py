"""The size rule: no module in flipgen/ over 500 lines, no function over 60 (split them instead)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flipgen"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE.parent).as_posix()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            found.append(f"{rel}: {lines} lines (module limit {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source, filename=rel)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{rel}:{node.lineno}: {node.name} is {length} lines (function limit {MAX_FUNCTION_LINES})"
                    )
    return found


def test_modules_and_functions_stay_small() -> None:
    found = offenders()
    assert not found, "split these:\n" + "\n".join(found)


def test_the_rule_sees_the_package() -> None:
    assert (PACKAGE / "build.py").is_file() and len(list(PACKAGE.rglob("*.py"))) > 50
