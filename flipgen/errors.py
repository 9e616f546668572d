"""User-facing errors: every one carries enough to act on, and none prints a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Diagnostic", "UserError", "CheckFailed", "did_you_mean"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a file, at a 1-based line and column."""

    file: str
    line: int
    col: int
    message: str
    severity: Severity = "error"
    # Free-form, stable identifier of the rule that fired (for JSON output and tests).
    code: str = field(default="", compare=False)

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


class UserError(Exception):
    """A problem the user can fix (bad input, missing credentials); printed without traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CheckFailed(UserError):
    """Validation found errors; ``diagnostics`` lists every one of them, warnings included."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(f"{len(errors)} error(s) found")
        self.diagnostics = diagnostics


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean `x`?`` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean `{match[0]}`?" if match else ""
