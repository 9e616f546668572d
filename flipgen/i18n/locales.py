"""Languages: CLDR facts from Babel (plural categories, script direction) and the built-in UI text.

The browser formats and picks plurals with `Intl`, the build checks with Babel; both are given
the same pinned tag (`-u-ca-gregory-nu-latn`) so a Thai page shows Gregorian dates and every
page shows the same Latin digits the Python side writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError

__all__ = [
    "BUILTIN",
    "CATEGORIES",
    "PAGE_KEYS",
    "LocaleInfo",
    "locale_info",
    "builtin_strings",
    "plural_category",
    "Text",
    "latin_digits",
]

STRINGS = Path(__file__).parent / "strings"
# Languages whose UI text ships with flipgen (flipgen/i18n/strings/<tag>.yaml).
BUILTIN = ("en", "fil", "id", "ms", "th", "vi", "zh-Hans", "hi", "ta", "es-419", "ar")
CATEGORIES = ("zero", "one", "two", "few", "many", "other")
# Rendered into the HTML at build time; every other key is runtime text sent to flip.js.
PAGE_KEYS = frozenset(
    {
        "continue",
        "back",
        "connect",
        "skip",
        "optional",
        "select_placeholder",
        "secure",
        "noscript",
        "progress_label",
        "sandbox_label",
        "sandbox_ribbon",
        "language",
    }
)

# One UI string: plain text, or a map of CLDR plural categories (`other` required).
Text = str | dict[str, str]


@dataclass(frozen=True)
class LocaleInfo:
    tag: str  # as written in `locales:` and <html lang>, e.g. "zh-Hans"
    name: str  # native name for the language switcher
    dir: str  # "ltr" or "rtl"
    intl: str  # the tag Intl.* receive, calendar and digits pinned
    plurals: frozenset[str]  # CLDR cardinal categories the language uses, `other` included


@lru_cache(maxsize=64)
def _babel(tag: str) -> Locale:
    return Locale.parse(tag, sep="-")


def known(tag: str) -> bool:
    """Whether CLDR knows the language of ``tag``."""
    try:
        _babel(tag)
    except (UnknownLocaleError, ValueError):
        return False
    return True


@lru_cache(maxsize=64)
def locale_info(tag: str) -> LocaleInfo:
    """Facts about one language tag. Raises ValueError for a tag CLDR does not know."""
    try:
        loc = _babel(tag)
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown language `{tag}`") from exc
    builtin = _strings_file(tag)
    name = builtin["name"] if builtin else (loc.get_display_name(loc) or tag)
    direction = "rtl" if loc.character_order == "right-to-left" else "ltr"
    return LocaleInfo(
        tag=tag,
        name=name,
        dir=direction,
        intl=f"{tag}-u-ca-gregory-nu-latn",
        plurals=frozenset(loc.plural_form.tags) | {"other"},
    )


@lru_cache(maxsize=32)
def _strings_file(tag: str) -> dict[str, Any] | None:
    path = STRINGS / f"{tag}.yaml"
    if tag not in BUILTIN or not path.is_file():
        return None
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def builtin_strings(tag: str) -> dict[str, Text] | None:
    """The built-in UI text for ``tag`` (a copy), or None when flipgen has none for it."""
    data = _strings_file(tag)
    return dict(data["strings"]) if data else None


def plural_category(tag: str, n: float) -> str:
    """The CLDR cardinal category of ``n`` in ``tag`` (what Intl.PluralRules picks)."""
    return str(_babel(tag).plural_form(n))


# The decimal digit blocks people type on phones (the runtime's language.js has the same list):
# Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, Tamil, Thai; plus the Arabic decimal
# and thousands separators.
_ZEROS = (0x660, 0x6F0, 0x966, 0x9E6, 0xBE6, 0xE50)
_DIGITS = {zero + i: str(i) for zero in _ZEROS for i in range(10)} | {0x66B: ".", 0x66C: ","}


def latin_digits(text: str) -> str:
    """``text`` with native digits as 0-9, as the runtime normalises number and phone answers."""
    return text.translate(_DIGITS)
