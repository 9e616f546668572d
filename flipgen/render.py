"""One site's pages: theme templates, content-hashed brand assets, CSP, QR code.

`render_site` is the render stage of `flipgen build` (flipgen.build plans and writes what it
returns) and of the preview server, which renders one site at a time with the same `Options`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from .errors import UserError
from .i18n.pages import PageVariant, alternates, variants
from .loader import Loaded
from .manifest import SiteEntry, bot_protection, journey_data, site_entry
from .markdown import render_block, render_inline, render_text
from .schema import Site, WinkScreen

__all__ = ["Options", "render_site"]

SMILE_HOSTS = "https://*.smileapi.io"
# Languages whose visitors may type their own digits (Arabic-Indic, Thai, Devanagari, Tamil):
# number fields become text inputs that flip.js normalises to Latin digits.
DIGIT_LANGS = frozenset({"ar", "fa", "ur", "th", "hi", "mr", "ne", "bn", "ta"})
# Cloudflare Turnstile (site `bot_protection`): the script, rendered explicitly by flip.js.
TURNSTILE_JS = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"
SDK_URLS = {"v2": "https://web.smileapi.io/v2/smile.v2.js", "v1": "https://web.smileapi.io/v1/smile.v1.js"}


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


def _hashed_name(name: str, data: bytes) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{_hash(data)}.{ext}" if dot else f"{name}.{_hash(data)}"


@lru_cache(maxsize=16)
def _environment(search: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(search)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["md"] = render_block
    env.filters["md_inline"] = render_inline
    env.filters["text"] = render_text
    return env


def _json_for_script(value: Any) -> Markup:
    """JSON that cannot close its <script> element nor be read as HTML: <, >, & escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return Markup(text)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _csp(
    site: Site, token_endpoint: str, sdk_url: str, sandbox: bool, extra: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The policy the page really needs: its own origin, the SDK, the token endpoint, Smile."""
    has_wink = any(isinstance(s, WinkScreen) for s in site.screens)
    script = ["'self'"]
    connect = ["'self'"]
    style = ["'self'"]
    img = ["'self'", "data:"]
    frame: list[str] = []
    if has_wink:
        sdk_origin = _origin(sdk_url)
        if sdk_origin and sdk_origin not in script:
            script.append(sdk_origin)
        if not sandbox:
            # The real SDK draws its modal with injected styles and frames from Smile's hosts.
            style.append("'unsafe-inline'")
            img.append(SMILE_HOSTS)
            connect.append(SMILE_HOSTS)
            frame.append(SMILE_HOSTS)
        token_origin = _origin(token_endpoint)
        if token_origin and token_origin not in connect:
            connect.append(token_origin)
        if bot_protection(site):
            # Turnstile's script, the iframe it draws the check in, and the calls they make.
            script.append(TURNSTILE_ORIGIN)
            frame.append(TURNSTILE_ORIGIN)
            connect.append(TURNSTILE_ORIGIN)
    policy = {
        "default-src": ["'none'"],
        "script-src": script,
        "style-src": style,
        "img-src": img,
        "font-src": ["'self'"],
        "connect-src": connect,
        "frame-src": frame or ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
        # Framing is opt-in: `embed.allowed_origins` (merged in as `extra`) lists who may.
        "frame-ancestors": ["'none'"],
    }
    for directive, sources in sorted(extra.items()):
        merged = [s for s in policy.get(directive, []) if s != "'none'"]
        policy[directive] = merged + [s for s in sources if s not in merged]
    return policy


def _csp_text(policy: Mapping[str, list[str]], *, meta: bool) -> str:
    # frame-ancestors is ignored in a <meta> policy; it goes in the _headers file only.
    parts = [f"{k} {' '.join(v)}" for k, v in policy.items() if not (meta and k == "frame-ancestors")]
    return "; ".join(parts)


def _theme_css(site: Site) -> bytes:
    c = site.brand.colors
    font = site.brand.font
    lines = [
        ":root{",
        f"--flip-primary:{c.primary};--flip-on-primary:{c.on_primary};",
        f"--flip-background:{c.background};--flip-surface:{c.surface};",
        f"--flip-text:{c.text};--flip-error:{c.error};",
        f"--flip-font:{font};--flip-radius:{site.brand.radius}px",
        "}\n",
    ]
    return "".join(lines).encode()


@dataclass(frozen=True)
class Options:
    """What every site of one build shares."""

    token_endpoint: str
    base_url: str | None
    sandbox: bool
    csp_extra: tuple[tuple[str, tuple[str, ...]], ...]
    search: tuple[tuple[str, tuple[str, ...]], ...]  # theme → template folders in lookup order
    # Runtime file name → path under the output. Read once by the parent, so every page of a
    # build references the same runtime even if flip.js changes while the build runs.
    runtime: tuple[tuple[str, str], ...] = ()
    embed_origins: tuple[str, ...] = ()
    max_users_per_day: int | None = None  # flipgen.yaml `token:`; a site's own `token:` wins


def render_site(loaded: Loaded, options: Options) -> tuple[dict[str, bytes], SiteEntry]:
    """Render one checked site: its files (relative to the output folder) and manifest entry."""
    site = loaded.site
    assert site is not None and site.slug is not None
    slug = site.slug
    files: dict[str, bytes] = {}
    runtime = dict(options.runtime)
    brand_assets = _brand_assets(loaded, site, slug, options.base_url, files)

    wink = site.wink
    token_endpoint = wink.token_endpoint if wink and wink.token_endpoint else options.token_endpoint
    if options.sandbox:
        sdk_url = "../" + runtime["smile-emulator.js"]
    else:
        sdk_url = wink.sdk_url if wink and wink.sdk_url else SDK_URLS[wink.sdk if wink else "v2"]
    policy = _csp(site, token_endpoint, sdk_url, options.sandbox, dict(options.csp_extra))
    page_url = f"{options.base_url}/{slug}/" if options.base_url else None

    env = _theme_environment(loaded, site, options)
    shared = {
        "runtime_js": "../" + runtime["flip.js"],
        "runtime_css": "../" + runtime["flip.css"],
        "lang_js": "../" + runtime["lang.js"],
        "lang_css": "../" + runtime["lang.css"],
        "bot_js": "../" + runtime["bot.js"],
        "brand_assets": brand_assets,
        "sdk_url": sdk_url,
        "turnstile_js": TURNSTILE_JS if bot_protection(site) else None,
        "sandbox": options.sandbox,
        "csp": _csp_text(policy, meta=True),
    }
    pages = variants(site, loaded.translations)
    journeys = []
    for page in pages:
        journey = journey_data(page.site, token_endpoint, options.sandbox, options.embed_origins)
        context = _page_context(shared, page, pages, page_url, journey)
        _render(env, slug, context, files, page.path, "page.html")
        journeys.append(journey)
    _render(env, slug, {**shared, "site": site, "page_url": page_url}, files, "embed.js", "embed.js")

    if page_url:
        files[f"{slug}/qr.svg"] = _qr_svg(page_url, site.brand.colors.text)

    # The manifest keeps the default language's journey: answers are checked against it.
    entry = site_entry(
        site,
        token_endpoint=token_endpoint,
        journey=journeys[0],
        csp=_csp_text(policy, meta=False),
        max_users_per_day=options.max_users_per_day,
    )
    return files, entry.model_copy(update={"locales": [p.lang for p in pages]})


def _brand_assets(
    loaded: Loaded, site: Site, slug: str, base_url: str | None, files: dict[str, bytes]
) -> dict[str, str | None]:
    """Copy the site's brand files and theme CSS into ``files`` under content-hashed names.

    Returns each one's URL relative to the page (the og image's is absolute with a base URL).
    """
    site_dir = loaded.path.parent
    brand_assets: dict[str, str | None] = {}

    def copy_asset(key: str, ref: str | None) -> None:
        if not ref:
            return
        source = (site_dir / ref).resolve()
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise UserError(f"{loaded.positions.file}: cannot read asset `{ref}`: {exc.strerror or exc}") from exc
        name = _hashed_name(Path(ref).name, data)
        files[f"{slug}/assets/{name}"] = data
        brand_assets[key] = f"assets/{name}"

    copy_asset("logo", site.brand.logo)
    copy_asset("favicon", site.brand.favicon)
    copy_asset("custom_css", site.brand.custom_css)
    og = site.seo.og_image
    if og and not og.startswith(("http://", "https://")):
        copy_asset("og_image", og)
        if base_url and brand_assets.get("og_image"):
            brand_assets["og_image"] = f"{base_url}/{slug}/{brand_assets['og_image']}"
    theme = _theme_css(site)
    theme_name = _hashed_name("theme.css", theme)
    files[f"{slug}/assets/{theme_name}"] = theme
    brand_assets["theme_css"] = f"assets/{theme_name}"
    return brand_assets


def _theme_environment(loaded: Loaded, site: Site, options: Options) -> jinja2.Environment:
    """The Jinja environment of the site's theme: the project's folder first, then the built-in one."""
    search = dict(options.search)
    folders = search.get(site.theme)
    if not folders:
        raise UserError(
            f"{loaded.positions.file}: theme `{site.theme}` not found "
            f"(looked in site_templates/{site.theme}/ and the built-in themes)"
        )
    return _environment(folders)


def _page_context(
    shared: dict[str, Any], page: PageVariant, pages: list[PageVariant], site_url: str | None, journey: dict[str, Any]
) -> dict[str, Any]:
    """The template context of one language's page: relative URLs one folder deeper off the default."""
    context = dict(shared)
    if page.prefix:
        deeper = {
            k: page.prefix + v if isinstance(v, str) and "://" not in v else v
            for k, v in shared["brand_assets"].items()
        }
        context["brand_assets"] = deeper
        for key in ("runtime_js", "runtime_css", "lang_js", "lang_css", "bot_js", "sdk_url"):
            if "://" not in context[key]:
                context[key] = page.prefix + context[key]
    if len(pages) > 1:
        journey["lang"] = page.lang
        journey["langs"] = [p.lang for p in pages]
    context.update(
        site=page.site,
        ui=page.ui,
        lang_dir=page.dir,
        alternates=alternates(pages, page, site_url),
        runtime_strings=_json_for_script(page.runtime),
        journey_json=_json_for_script(journey),
        page_url=site_url + page.path.rpartition("index.html")[0] if site_url else None,
        text_numbers=page.lang.split("-")[0] in DIGIT_LANGS,
    )
    return context


def _render(
    env: jinja2.Environment, slug: str, context: dict[str, Any], files: dict[str, bytes], path: str, name: str
) -> None:
    try:
        files[f"{slug}/{path}"] = env.get_template(name).render(context).encode()
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', None) or getattr(exc, 'name', None) or 'template'}"
        line = getattr(exc, "lineno", None)
        raise UserError(
            f"{where}{':' + str(line) if line else ''}: template error while rendering `{slug}`: {exc}"
        ) from exc


def _qr_svg(url: str, dark: str) -> bytes:
    import segno  # imported here: only builds with a base_url need it

    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", scale=4, border=2, dark=dark, light="#ffffff", xmldecl=False, title=f"QR code for {url}"
    )
    return buffer.getvalue()
