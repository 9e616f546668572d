"""The build manifest, ``dist/flipgen-manifest.json``: one typed model, three readers.

``flipgen build`` writes it (one :class:`SiteEntry` per site, from ``render_site``); the token
server and the preview server read it through :func:`read` / :func:`load`. It holds what a
server needs to answer for a site without the YAML sources: widget settings, metadata keys,
the journey data block the runtime runs on (for server-side answer checks), the page policy.
No secrets ever go in it. ``docs/internals.md`` documents the fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .checks import effective_next
from .errors import UserError
from .limits import for_runtime
from .schema import FormScreen, Site, WinkScreen

__all__ = [
    "APPLICATIONS_PATH",
    "MANIFEST_NAME",
    "BotProtection",
    "EmbedSettings",
    "Manifest",
    "SiteEntry",
    "WinkSettings",
    "bot_protection",
    "journey_data",
    "load",
    "parse",
    "read",
    "site_entry",
]

MANIFEST_NAME = "flipgen-manifest.json"
# Where the runtime saves answers: this path on the token endpoint's origin (docs/applications.md).
APPLICATIONS_PATH = "/api/applications"


class _Model(BaseModel):
    # Unknown keys are kept, not refused: a manifest written by a newer flipgen still serves.
    model_config = ConfigDict(extra="allow", frozen=True)


class WinkSettings(_Model):
    """What the widget opens with: the site's ``wink`` block or one wink screen's override."""

    template_id: str | None = None
    providers: list[str] = Field(default_factory=list)
    top_providers: list[str] = Field(default_factory=list)
    enable_upload: bool = False


class BotProtection(_Model):
    """A bot check the token endpoint runs before minting (Cloudflare Turnstile)."""

    provider: str = "turnstile"
    site_key: str


class SiteEntry(_Model):
    """One built site, as the servers see it."""

    title: str = ""
    token_endpoint: str | None = None
    metadata_keys: list[str] = Field(default_factory=list)
    # Declared `pattern` of each metadata key that has one (the endpoint enforces it).
    metadata_patterns: dict[str, str] = Field(default_factory=dict)
    wink: WinkSettings | None = None
    screens: dict[str, WinkSettings] = Field(default_factory=dict)
    noindex: bool = False
    csp: str = ""
    # Languages the site is published in, default first (docs/translations.md).
    locales: list[str] = Field(default_factory=list)
    # The `flip-journey` data block of the page (params, screens with fields, rules, next,
    # show_if): what the runtime runs on, so the server can check answers without YAML.
    journey: dict[str, Any] | None = None
    # `token.max_users_per_day`: mints a day before the endpoint answers `budget_exhausted`.
    max_users_per_day: int | None = None
    bot_protection: BotProtection | None = None


class EmbedSettings(_Model):
    """flipgen.yaml `embed`: the origins that may frame the pages and receive their messages."""

    allowed_origins: list[str] = Field(default_factory=list)


class Manifest(_Model):
    """The whole document: project-wide settings and one entry per site slug."""

    version: int = 1
    generator: str = ""
    token_endpoint: str | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    sites: dict[str, SiteEntry] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Sorted JSON with one site per line: readable in a diff, written by the C encoder
        (an indented dump goes through the pure-Python one, half of a one-site preview rebuild)."""
        head = self.model_dump(mode="json", exclude={"sites"})
        lines = [json.dumps(head, sort_keys=True)[:-1] + ', "sites": {']
        slugs = sorted(self.sites)
        for i, slug in enumerate(slugs):
            comma = "," if i < len(slugs) - 1 else ""
            entry = self.sites[slug].model_dump(mode="json", exclude_none=True)
            lines.append(f"  {json.dumps(slug)}: {json.dumps(entry, sort_keys=True)}{comma}")
        lines.append("}}")
        return ("\n".join(lines) + "\n").encode()


def _wink_settings(site: Site, screen: WinkScreen) -> dict[str, Any]:
    wink = site.wink
    return {
        "template_id": screen.template_id or (wink.template_id if wink else None),
        "providers": list(screen.providers if screen.providers is not None else (wink.providers if wink else [])),
        "top_providers": list(
            screen.top_providers if screen.top_providers is not None else (wink.top_providers if wink else [])
        ),
        "enable_upload": bool(
            screen.enable_upload if screen.enable_upload is not None else (wink.enable_upload if wink else False)
        ),
    }


def journey_data(site: Site, token_endpoint: str, sandbox: bool, embed_origins: Sequence[str] = ()) -> dict[str, Any]:
    """The data block flip.js runs on (docs/internals.md): rules only, never code."""
    screens = []
    for i, screen in enumerate(site.screens):
        entry: dict[str, Any] = {"id": screen.id, "type": screen.type, "next": effective_next(site, i)}
        if isinstance(screen, FormScreen):
            entry["fields"] = [
                {
                    "id": f.id,
                    "type": f.type,
                    "label": f.label,
                    "required": f.required,
                    "min_length": f.min_length,
                    "max_length": f.max_length,
                    "pattern": f.pattern,
                    "min": f.min,
                    "max": f.max,
                    "step": f.step,
                    "options": [o.value for o in f.options] if f.options is not None else None,
                    "messages": dict(f.messages),
                    "show_if": f.show_if,
                    "metadata": f.metadata,
                    "value": f.value,
                    "default": f.default,
                }
                for f in screen.fields
            ]
        elif isinstance(screen, WinkScreen):
            entry["wink"] = {**_wink_settings(site, screen), "min_accounts": screen.min_accounts}
        screens.append(entry)
    return {
        "v": 1,
        "site": site.slug,
        "title": site.title,
        "token_endpoint": token_endpoint,
        "applications_endpoint": urljoin(token_endpoint, APPLICATIONS_PATH),
        "sandbox": sandbox,
        "limits": for_runtime(),
        "params": [
            {"name": p.name, "required": p.required, "pattern": p.pattern, "metadata": p.metadata} for p in site.params
        ],
        "screens": screens,
        "on_complete": {"redirect": site.on_complete.redirect, "post_message": site.on_complete.post_message},
        # The only parents the runtime posts messages to (flipgen.yaml `embed.allowed_origins`).
        "embed": {"allowed_origins": list(embed_origins)},
        "bot_protection": bot_protection(site),
    }


def bot_protection(site: Site) -> dict[str, str] | None:
    """The bot check the Wink screens show before a mint; only for sites that can mint."""
    bot = site.bot_protection
    if bot is None or not any(isinstance(s, WinkScreen) for s in site.screens):
        return None
    return {"provider": bot.provider, "site_key": bot.site_key}


def site_entry(
    site: Site, *, token_endpoint: str, journey: dict[str, Any], csp: str, max_users_per_day: int | None = None
) -> SiteEntry:
    """The manifest entry of one checked site (``journey`` is its page's data block);
    ``max_users_per_day`` is the project's default budget, which the site's own overrides."""
    wink = site.wink
    metadata = [(p.name, p.pattern) for p in site.params if p.metadata]
    metadata += [(f.id, f.pattern) for s in site.screens if isinstance(s, FormScreen) for f in s.fields if f.metadata]
    return SiteEntry(
        title=site.title,
        token_endpoint=token_endpoint,
        metadata_keys=sorted(name for name, _ in metadata),
        metadata_patterns={name: pattern for name, pattern in sorted(metadata) if pattern},
        wink=(
            WinkSettings(
                template_id=wink.template_id,
                providers=list(wink.providers),
                top_providers=list(wink.top_providers),
                enable_upload=wink.enable_upload,
            )
            if wink
            else None
        ),
        screens={
            s.id: WinkSettings.model_validate(_wink_settings(site, s))
            for s in site.screens
            if isinstance(s, WinkScreen)
        },
        noindex=site.seo.noindex,
        csp=csp,
        journey=journey,
        max_users_per_day=(site.token.max_users_per_day if site.token else None) or max_users_per_day,
        bot_protection=journey.get("bot_protection"),
    )


def parse(document: Mapping[str, Any] | bytes | str | Manifest, source: str = "the build manifest") -> Manifest:
    """A :class:`Manifest` from its JSON text or decoded form; :class:`UserError` when unusable."""
    if isinstance(document, Manifest):
        return document
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except ValueError as err:
            raise UserError(f"{source} is not valid JSON ({err}); rebuild with `flipgen build`.") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("sites"), Mapping):
        raise UserError(f"{source} has no `sites` mapping: rebuild with `flipgen build`.")
    try:
        return Manifest.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{source} is not a flipgen manifest ({where}: {first['msg']}); rebuild it.") from None


def read(path: str | os.PathLike[str]) -> Manifest:
    """The manifest in a JSON file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"Cannot read the build manifest {path}: {err.strerror}.") from None
    return parse(data, str(path))


def load(project: str | os.PathLike[str] | None = None) -> Manifest:
    """The manifest of a project: the built one when present and newer than every source,
    else compiled from the sources (nothing written)."""
    # Imported here because build imports this module for the model.
    from .build import plan_project
    from .project import open_project

    proj = open_project(project)
    built = proj.output_dir / MANIFEST_NAME
    if built.is_file():
        newest_source = max((p.stat().st_mtime for p in proj.site_files()), default=0.0)
        if proj.config_path.exists():
            newest_source = max(newest_source, proj.config_path.stat().st_mtime)
        if built.stat().st_mtime >= newest_source:
            try:
                return read(built)
            except UserError:
                pass  # a damaged file: compile afresh below
    plan, _ = plan_project(proj)
    return plan.manifest
