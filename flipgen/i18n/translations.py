"""The languages of one site: which ones, their overlays, and the UI text of each page.

`load_translations` runs beside a site's other checks (flipgen.checks.load_and_check) and its
result rides on the `Loaded` site to the render stage, so overlays are read once per build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import Diagnostic
from ..loader import Loaded, Positions, display_path
from ..schema import Locales, Site
from .locales import BUILTIN, PAGE_KEYS, Text, builtin_strings, known, locale_info
from .overlay import LoadedOverlay, load_overlay

if TYPE_CHECKING:
    from ..project import Project

__all__ = ["Translations", "load_translations", "site_locales", "ui_strings", "runtime_strings"]


@dataclass
class Translations:
    """A site's languages: the default (the site file's own) and each other one's overlay."""

    default: str
    languages: list[str]  # every language, the default first
    overlays: dict[str, LoadedOverlay] = field(default_factory=dict)

    @property
    def others(self) -> list[str]:
        return [lang for lang in self.languages if lang != self.default]


def site_locales(site: Site, project: Project | None) -> tuple[Locales | None, Positions | None, tuple[str, ...]]:
    """The site's `locales:`, else flipgen.yaml's; with the positions and path to report at."""
    if site.locales is not None:
        return site.locales, None, ("locales",)
    if project is not None and project.config.locales is not None:
        return project.config.locales, project.config_positions, ("locales",)
    return None, None, ()


def load_translations(
    loaded: Loaded, project: Project | None, *, strict: bool = False
) -> tuple[Translations | None, list[Diagnostic]]:
    """Read and check a loaded site's overlays. Never raises on bad input."""
    site = loaded.site
    assert site is not None
    files = project.overlay_files(loaded.path) if project is not None else {}
    locales, where, path = site_locales(site, project)
    severity: Literal["error", "warning"] = "error" if strict else "warning"
    if locales is None:
        return None, [
            _unlisted(
                file,
                f"this `{lang}` translation is not published: list the site's languages in "
                f"`locales: {{default: {site.lang}, languages: [{site.lang}, {lang}]}}`",
                severity,
            )
            for lang, file in sorted(files.items())
        ]
    pos = where or loaded.positions
    languages = [locales.default] + [lang for lang in dict.fromkeys(locales.languages) if lang != locales.default]
    out, bad = _check_locales(loaded, locales, pos, path)
    if bad:
        return None, out
    site.lang = locales.default
    result = Translations(default=locales.default, languages=languages)
    out.extend(_read_overlays(loaded, result, files, pos, path, strict=strict))
    for lang, file in sorted(files.items()):
        if lang not in languages:
            out.append(
                _unlisted(
                    file,
                    f"`{lang}` is not in the site's `locales.languages`, so this translation is not published",
                    severity,
                )
            )
    return result, out


def _unlisted(file: Path, message: str, severity: Literal["error", "warning"]) -> Diagnostic:
    return Diagnostic(display_path(file), 1, 1, message, severity, "unlisted-translation")


def _check_locales(
    loaded: Loaded, locales: Locales, pos: Positions, path: tuple[str, ...]
) -> tuple[list[Diagnostic], bool]:
    """Problems with `locales:` itself; True when a language is unknown (nothing can be built)."""
    site = loaded.site
    assert site is not None
    out: list[Diagnostic] = []
    bad = False
    for i, lang in enumerate(locales.languages):
        if not known(lang):
            out.append(pos.diag(path + ("languages", i), f"`{lang}` is not a language CLDR knows", code="unknown-lang"))
            bad = True
    if not known(locales.default):
        out.append(
            pos.diag(path + ("default",), f"`{locales.default}` is not a language CLDR knows", code="unknown-lang")
        )
        bad = True
    if isinstance(loaded.data, dict) and "lang" in loaded.data and site.lang != locales.default:
        out.append(
            loaded.positions.diag(
                ("lang",),
                f"`lang: {site.lang}` differs from `locales.default: {locales.default}`",
                code="lang-mismatch",
            )
        )
    return out, bad


def _read_overlays(
    loaded: Loaded,
    result: Translations,
    files: Mapping[str, Path],
    pos: Positions,
    path: tuple[str, ...],
    *,
    strict: bool,
) -> list[Diagnostic]:
    """Load and check the overlay of each non-default language into ``result.overlays``."""
    from .checks import check_overlay

    site = loaded.site
    assert site is not None
    out: list[Diagnostic] = []
    for lang in result.others:
        overlay_file = files.get(lang)
        if overlay_file is None:
            expected = loaded.path.with_name(f"{loaded.path.stem}.{lang}.yaml")
            out.append(
                pos.diag(
                    path + ("languages",),
                    f"no `{lang}` translation: create {display_path(expected)} "
                    f"(`flipgen translations extract --lang {lang}` writes a skeleton)",
                    code="missing-translation",
                    severity="error" if strict else "warning",
                )
            )
            continue
        overlay = load_overlay(overlay_file, lang, display_path(overlay_file))
        out.extend(overlay.diagnostics)
        if overlay.overlay is not None:
            out.extend(check_overlay(site, overlay, strict=strict))
        result.overlays[lang] = overlay
    return out


def ui_strings(lang: str, overrides: dict[str, Text] | None = None) -> dict[str, Text]:
    """The UI text of a page in ``lang``: built-in (English where flipgen has none), then overrides."""
    base = builtin_strings(lang) if lang in BUILTIN else None
    strings = base if base is not None else dict(builtin_strings("en") or {})
    if overrides:
        strings.update(overrides)
    return strings


def runtime_strings(strings: dict[str, Text]) -> dict[str, Text]:
    """The part of the UI text flip.js needs (the page's chrome is already in the HTML)."""
    return {k: v for k, v in strings.items() if k not in PAGE_KEYS}


def direction(lang: str) -> str:
    return locale_info(lang).dir if known(lang) else "ltr"
