"""Translation overlays: `sites/<slug>.<lang>.yaml`, one language of one site, keyed by ids.

An overlay never changes a journey's shape (screens, fields, rules, option values); it only
replaces text. `units()` lists every translatable text of a site by its overlay path, which
the checks, `translations status` and `translations extract` share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import Diagnostic
from ..loader import Positions, parse_yaml, read_text, validate
from ..schema import FieldSpec, FormScreen, Model, Site

__all__ = ["Overlay", "LoadedOverlay", "load_overlay", "units", "localize", "overlay_json_schema"]

Rule = Literal["required", "min_length", "max_length", "pattern", "min", "max", "step", "format", "options"]
Category = Literal["zero", "one", "two", "few", "many", "other"]


class FieldText(Model):
    label: str | None = None
    help: str | None = None
    placeholder: str | None = None
    options: dict[str, str | None] = Field(default_factory=dict, description="Option value → translated label.")
    messages: dict[Rule, str | None] = Field(default_factory=dict)


class ScreenText(Model):
    title: str | None = None
    intro: str | None = None
    body: str | None = None
    button: str | None = None
    skip_label: str | None = None
    fields: dict[str, FieldText] = Field(default_factory=dict, description="Keyed by field id.")


class BrandText(Model):
    name: str | None = None


class CompleteText(Model):
    redirect: str | None = Field(default=None, description="A per-language redirect URL (placeholders allowed).")


UiText = str | dict[Category, str]


class Overlay(Model):
    """One language of one site. Every key is optional; what is left out falls back to the base."""

    title: Annotated[str, Field(min_length=1)] | None = None
    description: str | None = None
    brand: BrandText = Field(default_factory=BrandText)
    screens: dict[str, ScreenText] = Field(default_factory=dict, description="Keyed by screen id.")
    on_complete: CompleteText = Field(default_factory=CompleteText)
    ui: dict[str, UiText] = Field(
        default_factory=dict, description="Overrides of built-in UI strings; plurals as {one: …, other: …}."
    )


@dataclass
class LoadedOverlay:
    lang: str
    path: Path
    positions: Positions
    data: Any = None
    overlay: Overlay | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_overlay(path: Path, lang: str, file: str) -> LoadedOverlay:
    """Read, parse and validate one overlay file. Never raises on bad input."""
    loaded = LoadedOverlay(lang=lang, path=path, positions=Positions(file))
    text, problems = read_text(path, file)
    if text is None:
        loaded.diagnostics = problems
        return loaded
    data, pos, diags = parse_yaml(text, file)
    loaded.positions, loaded.diagnostics = pos, diags
    if diags:
        return loaded
    data = {} if data is None else data
    if not isinstance(data, dict):
        loaded.diagnostics.append(
            pos.diag((), "an overlay must be a mapping (`title: …`, `screens: …`)", code="not-mapping")
        )
        return loaded
    loaded.data = data
    overlay, errors = validate(Overlay, data, pos)
    loaded.diagnostics.extend(errors)
    loaded.overlay = overlay
    return loaded


Unit = tuple[tuple[str, ...], str]


def units(site: Site) -> list[Unit]:
    """Every translatable text of ``site``: (overlay path, base text), in file order."""
    # The brand name is left out: names are rarely translated, though an overlay may still set one.
    out: list[Unit] = [(("title",), site.title)]
    if site.description:
        out.append((("description",), site.description))
    for screen in site.screens:
        base = ("screens", screen.id)
        for key in ("title", "intro", "body", "button", "skip_label"):
            text = getattr(screen, key, None)
            if text:
                out.append((base + (key,), text))
        if isinstance(screen, FormScreen):
            for f in screen.fields:
                fb = base + ("fields", f.id)
                for key in ("label", "help", "placeholder"):
                    text = getattr(f, key)
                    if text:
                        out.append((fb + (key,), text))
                for opt in f.options or []:
                    out.append((fb + ("options", opt.value), opt.label))
                for rule, text in f.messages.items():
                    out.append((fb + ("messages", rule), text))
    return out


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def localize(site: Site, overlay: Overlay | None, lang: str) -> Site:
    """A copy of ``site`` with the overlay's texts in place; untranslated texts stay as they are."""
    out = _text_copy(site)
    out.lang = lang
    if overlay is None:
        return out
    out.title = overlay.title or out.title
    out.description = overlay.description or out.description
    out.brand.name = overlay.brand.name or out.brand.name
    out.on_complete.redirect = overlay.on_complete.redirect or out.on_complete.redirect
    for screen in out.screens:
        text = overlay.screens.get(screen.id)
        if text is None:
            continue
        for key in ("title", "intro", "body", "button", "skip_label"):
            value = getattr(text, key)
            if value and hasattr(screen, key):
                setattr(screen, key, value)
        if isinstance(screen, FormScreen):
            for f in screen.fields:
                ft = text.fields.get(f.id)
                if ft is None:
                    continue
                f.label = ft.label or f.label
                f.help = ft.help or f.help
                f.placeholder = ft.placeholder or f.placeholder
                for opt in f.options or []:
                    opt.label = ft.options.get(opt.value) or opt.label
                f.messages = {**f.messages, **{k: v for k, v in ft.messages.items() if v}}
    return out


def _text_copy(site: Site) -> Site:
    """A copy of ``site`` that owns every model ``localize`` writes to; the rest is shared.

    A deep copy of the whole model for each language was a tenth of a translated build; the
    shared parts (colours, wink, params, seo...) are only read while rendering.
    """
    out = site.model_copy()
    out.brand = site.brand.model_copy()
    out.on_complete = site.on_complete.model_copy()
    screens = []
    for screen in site.screens:
        copy = screen.model_copy()
        if isinstance(copy, FormScreen):
            copy.fields = [_field_copy(f) for f in copy.fields]
        screens.append(copy)
    out.screens = screens
    return out


def _field_copy(spec: FieldSpec) -> FieldSpec:
    copy = spec.model_copy()
    if spec.options is not None:
        copy.options = [opt.model_copy() for opt in spec.options]
    return copy


def overlay_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an overlay file."""
    schema = Overlay.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flipgen.dev/schema/overlay.json",
        **schema,
        "title": "flipgen translation overlay",
    }
