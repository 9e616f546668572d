"""`flipgen init`: copy the starter project (flipgen/starter/) without overwriting anything."""

from __future__ import annotations

import shutil
from pathlib import Path

from .schema import json_schema_text

__all__ = ["scaffold"]

STARTER = Path(__file__).parent / "starter"
# Dotfiles are stored without their dot so packaging tools never mistake them for config.
RENAMES = {"env.example": ".env.example", "gitignore": ".gitignore"}


def scaffold(directory: Path) -> tuple[list[Path], list[Path]]:
    """Write the starter files into ``directory``; returns (written, kept-because-present)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[Path] = []
    for source in sorted(STARTER.rglob("*")):
        if not source.is_file():
            continue
        relative = source.relative_to(STARTER)
        target = directory / relative.parent / RENAMES.get(relative.name, relative.name)
        if target.exists():
            skipped.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    schema = directory / "flipgen.schema.json"
    if not schema.exists():
        schema.write_text(json_schema_text(), encoding="utf-8")
        written.append(schema)
    return written, skipped
