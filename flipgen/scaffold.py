"""`flipgen init`: copy the starter project (flipgen/starter/) without overwriting anything."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .handles import ENV_VAR, new_secret_key
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
    _secret_key(directory / ".env", written, skipped)
    return written, skipped


def _secret_key(dotenv: Path, written: list[Path], skipped: list[Path]) -> None:
    """Give the project its own FLIPGEN_SECRET_KEY in `.env` (never printed, never committed)."""
    existing = dotenv.read_text(encoding="utf-8") if dotenv.exists() else ""
    if any(line.strip().startswith(f"{ENV_VAR}=") for line in existing.splitlines()):
        skipped.append(dotenv)
        return
    line = f"# Signs application handles: keep it secret, and the same on every server.\n{ENV_VAR}={new_secret_key()}\n"
    if existing and not existing.endswith("\n"):
        line = "\n" + line
    # Created readable by the owner only: it holds a secret from the first byte.
    fd = os.open(dotenv, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line)
    written.append(dotenv)
