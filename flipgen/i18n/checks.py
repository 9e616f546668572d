"""Checks of one overlay against its site: missing and orphaned keys, placeholders, plurals.

Missing translations and orphaned keys are warnings (errors under --strict): the page still
works, in the base language where text is missing. A placeholder that differs from the base
text, or a plural map without a category the language needs, is always an error: the page
would show a blank or the wrong sentence.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ..errors import Diagnostic
from ..loader import did_you_mean
from ..schema import FormScreen, Site
from .locales import BUILTIN, builtin_strings, locale_info
from .overlay import LoadedOverlay, lookup, units

__all__ = ["check_overlay", "placeholders", "braces"]

VAR = re.compile(r"\$\{([A-Za-z_]\w*)\}")
BRACE = re.compile(r"(?<!\$)\{(\w+)\}")


def _texts(value: object) -> list[str]:
    return [str(t) for t in value.values()] if isinstance(value, dict) else [str(value)]


def placeholders(text: str) -> set[str]:
    """The `${name}` placeholders of a text."""
    return set(VAR.findall(text))


def braces(text: str) -> set[str]:
    """The `{n}`-style slots of a built-in UI string."""
    return set(BRACE.findall(text))


def _differs(base: set[str], got: set[str]) -> str:
    parts = []
    if base - got:
        parts.append("missing " + ", ".join(sorted(base - got)))
    if got - base:
        parts.append("unexpected " + ", ".join(sorted(got - base)))
    return "; ".join(parts)


class _Check:
    def __init__(self, site: Site, loaded: LoadedOverlay, strict: bool) -> None:
        self.site = site
        self.ov = loaded
        self.pos = loaded.positions
        self.strict = strict
        self.out: list[Diagnostic] = []

    def warn(self, path: tuple[str | int, ...], message: str, code: str, *, at_key: bool = False) -> None:
        severity: Literal["error", "warning"] = "error" if self.strict else "warning"
        self.out.append(self.pos.diag(path, message, at_key=at_key, code=code, severity=severity))

    def error(self, path: tuple[str | int, ...], message: str, code: str, *, at_key: bool = False) -> None:
        self.out.append(self.pos.diag(path, message, at_key=at_key, code=code))

    def content(self) -> None:
        lang, data = self.ov.lang, self.ov.data
        for path, base in units(self.site):
            text = lookup(data, path)
            where = ".".join(path)
            if not isinstance(text, str) or not text.strip():
                self.warn(
                    path, f"no `{lang}` translation of `{where}` (base text: {base[:60]!r})", "missing-translation"
                )
                continue
            want, got = placeholders(base), placeholders(text)
            if want != got:
                self.error(
                    path,
                    f"placeholders differ from the base text of `{where}`: {_differs(want, got)}",
                    "translation-placeholders",
                )
        redirect = lookup(data, ("on_complete", "redirect"))
        base_redirect = self.site.on_complete.redirect
        if isinstance(redirect, str) and base_redirect is None:
            self.warn(
                ("on_complete", "redirect"), "the base site has no `on_complete.redirect` to translate", "orphan-key"
            )

    def orphans(self) -> None:
        data = self.ov.data if isinstance(self.ov.data, dict) else {}
        known = {path for path, _ in units(self.site)}
        screens = {s.id: s for s in self.site.screens}
        for sid, stext in (data.get("screens") or {}).items():
            if sid not in screens:
                self.warn(
                    ("screens", sid),
                    f"no screen `{sid}` in the site{did_you_mean(sid, screens)}",
                    "orphan-key",
                    at_key=True,
                )
                continue
            self._orphans_in(("screens", sid), stext, known, screens[sid])
        for key in ("title", "description"):
            if key in data and (key,) not in known:
                self.warn((key,), f"the base site has no `{key}` to translate", "orphan-key", at_key=True)
        if isinstance(data.get("brand"), dict) and "name" in data["brand"] and not self.site.brand.name:
            self.warn(("brand", "name"), "the base site has no `brand.name` to translate", "orphan-key", at_key=True)

    def _orphans_in(self, base: tuple[str, ...], stext: Any, known: set[tuple[str, ...]], screen: Any) -> None:
        if not isinstance(stext, dict):
            return
        fields = {f.id: f for f in screen.fields} if isinstance(screen, FormScreen) else {}
        for key, value in stext.items():
            if key != "fields":
                if base + (key,) not in known:
                    self.warn(
                        base + (key,), f"screen `{screen.id}` has no `{key}` to translate", "orphan-key", at_key=True
                    )
                continue
            for fid, ftext in (value or {}).items():
                fpath = base + ("fields", fid)
                if fid not in fields:
                    msg = f"screen `{screen.id}` has no field `{fid}`{did_you_mean(fid, fields)}"
                    self.warn(fpath, msg, "orphan-key", at_key=True)
                    continue
                for fkey, fval in (ftext or {}).items():
                    if isinstance(fval, dict):
                        for sub in fval:
                            if fpath + (fkey, sub) not in known:
                                what = "option" if fkey == "options" else "message"
                                msg = f"field `{fid}` has no {what} `{sub}` to translate"
                                self.warn(fpath + (fkey, sub), msg, "orphan-key", at_key=True)
                    elif fpath + (fkey,) not in known:
                        self.warn(
                            fpath + (fkey,), f"field `{fid}` has no `{fkey}` to translate", "orphan-key", at_key=True
                        )

    def ui(self) -> None:
        """`ui:` overrides: known keys, the same `{slots}` as English, every plural category."""
        overlay = self.ov.overlay
        assert overlay is not None
        english = builtin_strings("en") or {}
        needed = locale_info(self.ov.lang).plurals
        if self.ov.lang not in BUILTIN:
            # No built-in text for this language: every UI string the overlay leaves out is English.
            left = [k for k in english if not any(t.strip() for t in _texts(overlay.ui.get(k, "")))]
            if left:
                shown = ", ".join(left[:6]) + (f" and {len(left) - 6} more" if len(left) > 6 else "")
                msg = f"flipgen has no `{self.ov.lang}` UI text: add {shown} under `ui:` (`flipgen translations extract` lists them)"
                self.warn(("ui",), msg, "missing-translation", at_key=True)
        for key, text in overlay.ui.items():
            path = ("ui", key)
            if key not in english:
                self.warn(
                    path, f"`{key}` is not a built-in UI string{did_you_mean(key, english)}", "orphan-key", at_key=True
                )
                continue
            base = english[key]
            base_slots = set().union(*(braces(t) for t in (base.values() if isinstance(base, dict) else [base])))
            if isinstance(text, dict):
                if not isinstance(base, dict):
                    self.error(path, f"`{key}` takes one text, not a plural map", "plural-shape")
                    continue
                if "other" not in text or needed - set(text):
                    missing = ", ".join(
                        c for c in ("zero", "one", "two", "few", "many", "other") if c in needed - set(text)
                    )
                    self.error(
                        path,
                        f"`{key}` needs every plural category of `{self.ov.lang}`: add {missing}",
                        "plural-missing",
                        at_key=True,
                    )
                texts: list[tuple[str, str]] = [(str(c), t) for c, t in text.items()]
            else:
                texts = [("", text)]
            for cat, t in texts:
                got = braces(t)
                if got - base_slots:
                    where = path + ((cat,) if cat else ())
                    msg = f"`{key}` has slots the runtime does not fill: {', '.join(sorted(got - base_slots))}"
                    self.error(where, msg, "translation-placeholders")

    def run(self) -> list[Diagnostic]:
        self.content()
        self.orphans()
        self.ui()
        return self.out


def check_overlay(site: Site, loaded: LoadedOverlay, *, strict: bool = False) -> list[Diagnostic]:
    """Every problem of one loaded overlay against its site."""
    return _Check(site, loaded, strict).run()
