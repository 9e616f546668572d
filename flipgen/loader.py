"""Site and config files -> validated models. Every problem becomes a `file:line:col` Diagnostic.

The YAML is read event by event (`yamlpos`), so each key and value keeps its mark; the plain
data is then validated by pydantic (`validation`), whose error locations are mapped back to
those marks. All errors in a file are collected; nothing here raises on bad input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Diagnostic, did_you_mean
from .schema import Config, Site
from .validation import validate
from .yamlpos import Mark, Path_, Positions, parse_yaml, read_text

__all__ = [
    "Positions",
    "Loaded",
    "Mark",
    "Path_",
    "parse_yaml",
    "read_text",
    "validate",
    "load_site",
    "load_config",
    "deep_merge",
    "display_path",
    "did_you_mean",
]


@dataclass
class Loaded:
    """One site file after loading: the model when it validated, and every problem found."""

    path: Path
    positions: Positions
    data: Any = None
    site: Site | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    translations: Any = None  # flipgen.i18n.Translations once checked, for the render stage


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


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
