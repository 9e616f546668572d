"""The pages of one site: `<slug>/` in the default language and `<slug>/<lang>/` for each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..schema import Site
from .locales import Text, known, locale_info
from .overlay import Overlay, localize
from .translations import Translations, runtime_strings, ui_strings

__all__ = ["PageVariant", "variants", "alternates"]


@dataclass
class PageVariant:
    lang: str
    site: Site  # the localized copy (the base site itself for the default language)
    ui: dict[str, Text]
    dir: str
    prefix: str  # "" for `<slug>/`, "../" for `<slug>/<lang>/`: prepended to relative asset URLs
    path: str  # under the site folder: "index.html" or "<lang>/index.html"

    @property
    def runtime(self) -> dict[str, Text]:
        return runtime_strings(self.ui)


def variants(site: Site, translations: Translations | None) -> list[PageVariant]:
    """One page per language, the default first. A site without `locales:` has one page."""
    if translations is None:
        lang = site.lang
        direction = locale_info(lang).dir if known(lang) else "ltr"
        return [PageVariant(lang, site, ui_strings(lang), direction, "", "index.html")]
    out = []
    for lang in translations.languages:
        loaded = translations.overlays.get(lang)
        overlay = loaded.overlay if loaded is not None else None
        page_site = site if lang == translations.default else localize(site, overlay, lang)
        ui = ui_strings(lang, _overrides(overlay))
        default = lang == translations.default
        out.append(
            PageVariant(
                lang,
                page_site,
                ui,
                locale_info(lang).dir,
                "" if default else "../",
                "index.html" if default else f"{lang}/index.html",
            )
        )
    return out


def alternates(pages: list[PageVariant], current: PageVariant, site_url: str | None) -> list[dict[str, Any]]:
    """The language links of ``current``: native name, URL relative to it, and absolute when known."""
    if len(pages) < 2:
        return []
    out = []
    for page in pages:
        folder = page.path.rpartition("index.html")[0]  # "" or "<lang>/"
        rel = current.prefix + folder or "./"
        out.append(
            {
                "lang": page.lang,
                "name": locale_info(page.lang).name,
                "rel": rel,
                "href": f"{site_url}{folder}" if site_url else rel,
            }
        )
    return out


def _overrides(overlay: Overlay | None) -> dict[str, Text] | None:
    if overlay is None:
        return None
    out: dict[str, Text] = {}
    for key, value in overlay.ui.items():
        # An empty override (a skeleton not yet filled in) keeps the built-in text.
        if isinstance(value, str):
            if value.strip():
                out[key] = value
        elif any(t.strip() for t in value.values()):
            out[key] = {str(c): t for c, t in value.items()}
    return out
