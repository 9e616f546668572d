"""Cross checks of one site that a schema alone cannot express (SPEC §3.3, §3.5, §3.7).

Each check reads the validated model and reports through the loader's positions, so every
message still points at `file:line:col`. All checks run; none stops at the first problem.
Routing has its own module (`routing`); running every site of a project is `checks`.
"""

from __future__ import annotations

import re
from typing import Literal

from .errors import Diagnostic, did_you_mean
from .limits import METADATA_MAX_KEYS
from .loader import Loaded, Positions
from .markdown import VAR_RE, has_raw_html, safe_url, unsafe_links
from .project import Project
from .routing import RoutingCheck
from .schema import CHOICE_TYPES, TEXT_TYPES, FieldSpec, FormScreen, Site, WinkScreen

__all__ = ["check_site", "contrast_ratio", "METADATA_LIMIT"]

METADATA_LIMIT = METADATA_MAX_KEYS
AA_CONTRAST = 4.5
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Keys that only mean something for some field types (SPEC §3.6.1).
_APPLIES: dict[str, frozenset[str]] = {
    "min_length": TEXT_TYPES,
    "max_length": TEXT_TYPES,
    "pattern": TEXT_TYPES,
    "placeholder": TEXT_TYPES | {"number", "date", "select"},
    "min": frozenset({"number", "date"}),
    "max": frozenset({"number", "date"}),
    "step": frozenset({"number", "date"}),
    "options": CHOICE_TYPES,
    "value": frozenset({"hidden"}),
}

# Python-only regular expression syntax that ECMAScript rejects or reads differently.
_PY_ONLY = (
    (re.compile(r"\(\?P[<=>]"), "named groups are written `(?<name>…)` in JavaScript, not `(?P<name>…)`"),
    (re.compile(r"\(\?#"), "`(?#…)` comments are Python-only"),
    (re.compile(r"\(\?[aiLmsux]+[):]"), "inline flags such as `(?i)` are Python-only"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[AZz]"), "`\\A`, `\\Z` and `\\z` are Python-only: use `^` and `$`"),
    (re.compile(r"\(\?>"), "atomic groups `(?>…)` are not supported in JavaScript"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers (`*+`, `++`) are not supported in JavaScript"),
)


def _relative_luminance(hex_color: str) -> float:
    h = hex_color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = []
    for i in (0, 2, 4):
        c = int(h[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio between two `#rgb`/`#rrggbb` colours (1 to 21)."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


class _Site:
    """One site's check run: the model, its positions, and the diagnostics found so far."""

    def __init__(self, loaded: Loaded, project: Project | None, strict: bool) -> None:
        assert loaded.site is not None
        self.site: Site = loaded.site
        self.pos: Positions = loaded.positions
        self.path = loaded.path
        self.project = project
        self.strict = strict
        self.out: list[Diagnostic] = []
        self.fields: dict[str, tuple[int, int, FieldSpec]] = {}
        self.params = {p.name for p in self.site.params}

    def error(self, path: tuple[str | int, ...], message: str, code: str, *, at_key: bool = False) -> None:
        self.out.append(self.pos.diag(path, message, at_key=at_key, code=code))

    def warn(self, path: tuple[str | int, ...], message: str, code: str) -> None:
        severity: Literal["error", "warning"] = "error" if self.strict else "warning"
        self.out.append(self.pos.diag(path, message, code=code, severity=severity))

    # ----------------------------------------------------------------- ids and fields
    def ids(self) -> None:
        seen_screens: dict[str, int] = {}
        for i, screen in enumerate(self.site.screens):
            if screen.id in seen_screens:
                first = self.pos.value(("screens", seen_screens[screen.id], "id"))
                self.error(
                    ("screens", i, "id"),
                    f"duplicate screen id `{screen.id}` (first used at line {first[1]})",
                    "duplicate-id",
                )
            else:
                seen_screens[screen.id] = i
            if isinstance(screen, FormScreen):
                for j, spec in enumerate(screen.fields):
                    if spec.id in self.fields:
                        fi, fj, _ = self.fields[spec.id]
                        first = self.pos.value(("screens", fi, "fields", fj, "id"))
                        self.error(
                            ("screens", i, "fields", j, "id"),
                            f"duplicate field id `{spec.id}` (first used at line {first[1]}); field ids are unique across the site",
                            "duplicate-id",
                        )
                    else:
                        self.fields[spec.id] = (i, j, spec)
        seen_params: set[str] = set()
        for k, param in enumerate(self.site.params):
            if param.name in seen_params:
                self.error(("params", k, "name"), f"duplicate param `{param.name}`", "duplicate-id")
            seen_params.add(param.name)
            if param.name in self.fields:
                self.error(
                    ("params", k, "name"),
                    f"param `{param.name}` has the same name as a field; rename one of them",
                    "duplicate-id",
                )
            if param.pattern is not None:
                self.regex(("params", k, "pattern"), param.pattern)

    def field_keys(self) -> None:
        for i, screen in enumerate(self.site.screens):
            if not isinstance(screen, FormScreen):
                continue
            for j, spec in enumerate(screen.fields):
                base = ("screens", i, "fields", j)
                for key, types in _APPLIES.items():
                    if key in spec.model_fields_set and spec.type not in types:
                        self.error(
                            base + (key,), f"`{key}` does not apply to a `{spec.type}` field", "field-key", at_key=True
                        )
                if spec.type != "hidden" and not spec.label:
                    self.error(
                        base, f"field `{spec.id}` needs a `label` (only hidden fields go without)", "field-label"
                    )
                if spec.type == "hidden":
                    if spec.value is None:
                        self.error(
                            base, f"hidden field `{spec.id}` needs a `value` (a literal or `${{param}}`)", "field-value"
                        )
                    if spec.required:
                        self.error(
                            base + ("required",), "a hidden field cannot be `required`", "field-key", at_key=True
                        )
                if spec.type in CHOICE_TYPES:
                    self.options(base, spec)
                if spec.pattern is not None:
                    self.regex(base + ("pattern",), spec.pattern)
                if spec.min_length is not None and spec.max_length is not None and spec.min_length > spec.max_length:
                    self.error(
                        base + ("min_length",),
                        f"`min_length` ({spec.min_length}) is more than `max_length` ({spec.max_length})",
                        "field-range",
                    )
                self.bounds(base, spec)
                for key in ("default", "value"):
                    raw = getattr(spec, key)
                    if isinstance(raw, str):
                        self.placeholders(base + (key,), raw, params_only=True)
                for key in ("label", "help"):
                    text = getattr(spec, key)
                    if text:
                        # Markdown in help and in consent labels (a link to the terms);
                        # other labels are plain text, so links are inert there.
                        if key == "help" or spec.type == "consent":
                            self.markdown(base + (key,), text)
                        self.placeholders(base + (key,), text)

    def options(self, base: tuple[str | int, ...], spec: FieldSpec) -> None:
        if not spec.options:
            self.error(base, f"`{spec.type}` field `{spec.id}` needs `options`", "field-options")
            return
        seen: set[str] = set()
        for k, option in enumerate(spec.options):
            if option.value in seen:
                self.error(base + ("options", k), f"duplicate option value `{option.value}`", "field-options")
            seen.add(option.value)
        if spec.default is not None:
            defaults = spec.default if isinstance(spec.default, list) else [spec.default]
            for d in defaults:
                if isinstance(d, str) and d not in seen and not VAR_RE.fullmatch(d):
                    self.error(
                        base + ("default",),
                        f"default `{d}` is not one of the options{did_you_mean(d, seen)}",
                        "field-options",
                    )

    def bounds(self, base: tuple[str | int, ...], spec: FieldSpec) -> None:
        if spec.type == "number":
            for key in ("min", "max"):
                value = getattr(spec, key)
                if isinstance(value, str) or isinstance(value, bool):
                    self.error(base + (key,), f"`{key}` of a number field must be a number", "field-range")
            if isinstance(spec.min, (int, float)) and isinstance(spec.max, (int, float)) and spec.min > spec.max:
                self.error(base + ("min",), f"`min` ({spec.min}) is more than `max` ({spec.max})", "field-range")
        elif spec.type == "date":
            for key in ("min", "max"):
                value = getattr(spec, key)
                if value is not None and not (isinstance(value, str) and ISO_DATE.match(value)):
                    self.error(base + (key,), f"`{key}` of a date field must be a date like 2024-01-31", "field-range")
            if isinstance(spec.min, str) and isinstance(spec.max, str) and spec.min > spec.max:
                self.error(base + ("min",), f"`min` ({spec.min}) is after `max` ({spec.max})", "field-range")

    def regex(self, path: tuple[str | int, ...], pattern: str) -> None:
        try:
            re.compile(pattern)
        except re.error as exc:
            self.error(path, f"`pattern` is not a valid regular expression: {exc}", "pattern")
            return
        for probe, why in _PY_ONLY:
            if probe.search(pattern):
                self.error(path, f"`pattern` must work in browsers too: {why}", "pattern")
                return

    # ----------------------------------------------------------------- text and links
    def markdown(self, path: tuple[str | int, ...], text: str) -> None:
        if "[" not in text and "<" not in text:  # no link or HTML can be written without these
            return
        for href in unsafe_links(text):
            self.error(
                path, f"link to `{href[:60]}` is not allowed: use an http(s), mailto: or tel: link", "unsafe-link"
            )
        if has_raw_html(text):
            self.warn(
                path,
                "raw HTML is shown as plain text, not rendered: use Markdown (`*emphasis*`, `[link](https://…)`)",
                "raw-html",
            )

    def placeholders(self, path: tuple[str | int, ...], text: str, *, params_only: bool = False) -> None:
        if "${" not in text:
            return
        known = self.params if params_only else self.params | set(self.fields)
        for name in VAR_RE.findall(text):
            if name not in known:
                what = "param" if params_only else "field or param"
                self.error(path, f"`${{{name}}}` names no {what}{did_you_mean(name, known)}", "unknown-placeholder")

    def texts(self) -> None:
        for i, screen in enumerate(self.site.screens):
            for key in ("title", "intro", "body"):
                text = getattr(screen, key, None)
                if text:
                    if key != "title":
                        self.markdown(("screens", i, key), text)
                    self.placeholders(("screens", i, key), text)
        redirect = self.site.on_complete.redirect
        if redirect:
            if not safe_url(redirect) or redirect.lower().startswith(("mailto:", "tel:")):
                self.error(
                    ("on_complete", "redirect"), "`redirect` must be an http(s) URL or a relative path", "unsafe-link"
                )
            self.placeholders(("on_complete", "redirect"), redirect)

    # ----------------------------------------------------------------- wink and metadata
    def wink(self) -> None:
        for i, screen in enumerate(self.site.screens):
            if isinstance(screen, WinkScreen) and self.site.wink is None and not screen.template_id:
                self.error(
                    ("screens", i),
                    f"wink screen `{screen.id}` has no template id: add a `wink:` block with `template_id` (or `template_id` on the screen)",
                    "wink-template",
                )
        if self.site.wink and self.site.wink.sdk_url and not self.site.wink.sdk_url.startswith("https://"):
            self.error(("wink", "sdk_url"), "`sdk_url` must be an https:// URL", "wink-sdk")

    def metadata(self) -> None:
        keys: list[tuple[tuple[str | int, ...], str]] = []
        for k, param in enumerate(self.site.params):
            if param.metadata:
                keys.append((("params", k, "metadata"), param.name))
        for name, (i, j, spec) in self.fields.items():
            if spec.metadata:
                keys.append((("screens", i, "fields", j, "metadata"), name))
        keys.sort(key=lambda item: self.pos.value(item[0])[1:])
        if len(keys) > METADATA_LIMIT:
            names = ", ".join(f"`{n}`" for _, n in keys)
            path = keys[METADATA_LIMIT][0]
            self.error(
                path,
                f"Smile accepts at most {METADATA_LIMIT} metadata keys; this site marks {len(keys)} ({names})",
                "metadata-limit",
            )

    # ----------------------------------------------------------------- assets and brand
    def assets(self) -> None:
        site_dir = self.path.parent
        refs: list[tuple[tuple[str | int, ...], str | None]] = [
            (("brand", "logo"), self.site.brand.logo),
            (("brand", "favicon"), self.site.brand.favicon),
            (("brand", "custom_css"), self.site.brand.custom_css),
        ]
        og = self.site.seo.og_image
        if og and not og.startswith(("https://", "http://")):
            refs.append((("seo", "og_image"), og))
        root = (self.project.root if self.project else site_dir).resolve()
        for path, ref in refs:
            if not ref:
                continue
            target = (site_dir / ref).resolve()
            if not target.is_relative_to(root):
                self.error(path, f"`{ref}` points outside the project; keep assets beside the site file", "asset")
            elif not target.is_file():
                self.error(
                    path,
                    f"asset `{ref}` not found (looked for {target.relative_to(root) if target.is_relative_to(root) else target})",
                    "asset",
                )

    def contrast(self) -> None:
        colors = self.site.brand.colors
        pairs = (
            ("text", "background", colors.text, colors.background),
            ("text", "surface", colors.text, colors.surface),
            ("on_primary", "primary", colors.on_primary, colors.primary),
        )
        for fg, bg, a, b in pairs:
            ratio = contrast_ratio(a, b)
            if ratio < AA_CONTRAST:
                path = ("brand", "colors", fg) if ("brand", "colors", fg) in self.pos.values else ("brand", "colors")
                self.warn(path, f"contrast of `{fg}` on `{bg}` is {ratio:.2f}:1, below WCAG AA (4.5:1)", "contrast")

    def run(self) -> list[Diagnostic]:
        self.ids()
        self.field_keys()
        self.texts()
        self.wink()
        self.metadata()
        self.assets()
        self.contrast()
        RoutingCheck(self.site, set(self.fields), self.params, self.error).run()
        return self.out


def check_site(loaded: Loaded, project: Project | None = None, *, strict: bool = False) -> list[Diagnostic]:
    """Cross checks of one loaded site; [] when it did not load (its load errors stand)."""
    if loaded.site is None:
        return []
    return _Site(loaded, project, strict).run()
