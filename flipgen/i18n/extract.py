"""`translations extract` and `translations status`: overlay skeletons and coverage figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from ..schema import Site
from .locales import BUILTIN, builtin_strings
from .overlay import lookup, units

__all__ = ["skeleton", "Coverage", "coverage"]

SCHEMA_COMMENT = "# yaml-language-server: $schema=../flipgen.overlay.schema.json"


def _scalar(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, and needs no thought about `: ` or `#`.
    return json.dumps(text, ensure_ascii=False)


def _plain_key(key: str) -> bool:
    """Whether ``key`` reads back as the same text unquoted (`yes`, `no`, `1` would not)."""
    simple = key.replace("_", "").replace("-", "").isalnum()
    return simple and yaml.safe_load(f"{key}: 0") == {key: 0}


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in text.strip().splitlines() or [""]]


def skeleton(site: Site, lang: str, source: str, existing: Any = None) -> str:
    """A complete overlay for ``lang``: every translatable key, its base text as a comment above it.

    Translations already in ``existing`` (the overlay's data) are kept, so running it again after
    the site changes only adds the new keys; an empty key (`~`) falls back to the base text.
    """
    tree: dict[str, Any] = {}
    for path, base in units(site):
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        current = lookup(existing, path)
        node[path[-1]] = (base, current if isinstance(current, str) else None)
    lines = [
        SCHEMA_COMMENT,
        f"# `{lang}` translation of {source} (written by `flipgen translations extract`).",
        "# The base text of each key is in the comment above it. A key left empty (~) shows the base text.",
        "",
    ]
    _emit(tree, "", lines)
    redirect = lookup(existing, ("on_complete", "redirect"))
    if site.on_complete.redirect:
        lines += ["on_complete:", *_comment(site.on_complete.redirect, "  ")]
        lines.append(f"  redirect: {_scalar(redirect) if isinstance(redirect, str) else '~'}")
    lines += _ui_lines(lang, lookup(existing, ("ui",)))
    return "\n".join(lines) + "\n"


def _emit(tree: dict[str, Any], indent: str, lines: list[str]) -> None:
    for key, value in tree.items():
        name = key if _plain_key(key) else _scalar(key)
        if isinstance(value, dict):
            lines.append(f"{indent}{name}:")
            _emit(value, indent + "  ", lines)
        else:
            base, current = value
            lines += _comment(base, indent)
            lines.append(f"{indent}{name}: {_scalar(current) if current else '~'}")


def _ui_lines(lang: str, existing: Any) -> list[str]:
    """`ui:` overrides in use, kept; for a language flipgen has no UI text for, every key to fill."""
    existing = existing if isinstance(existing, dict) else {}
    if lang in BUILTIN and not existing:
        return ["", f"# UI strings: flipgen's built-in `{lang}` text is used; override a key under `ui:`."]
    english = builtin_strings("en") or {}
    lines = ["", "ui:"]
    keys = list(existing) if lang in BUILTIN else list(english)
    for key in keys:
        base = english.get(key, "")
        value = existing.get(key)
        if isinstance(base, dict):
            lines += _comment(" / ".join(f"{c}: {t}" for c, t in base.items()), "  ")
            lines.append(f"  {key}:")
            for cat, text in (value if isinstance(value, dict) else {"other": ""}).items():
                lines.append(f"    {cat}: {_scalar(text)}")
        else:
            lines += _comment(str(base), "  ")
            lines.append(f"  {key}: {_scalar(value) if isinstance(value, str) else _scalar('')}")
    return lines


@dataclass
class Coverage:
    slug: str
    lang: str
    translated: int
    total: int
    present: bool  # whether the overlay file exists

    @property
    def percent(self) -> float:
        return 100.0 * self.translated / self.total if self.total else 100.0


def coverage(site: Site, lang: str, data: Any, present: bool) -> Coverage:
    """How many of the site's texts the overlay data translates."""
    all_units = units(site)
    done = sum(1 for path, _ in all_units if isinstance(t := lookup(data, path), str) and t.strip())
    return Coverage(site.slug or "", lang, done, len(all_units), present)
