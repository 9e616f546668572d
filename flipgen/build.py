"""`flipgen build`: load → check → plan → render → write, atomically and deterministically.

Every output file is first planned as bytes in memory (`Plan.files`, keyed by its path
relative to the output folder); only a complete plan is written, to a sibling temporary
folder that is then swapped in. A failure anywhere leaves the previous output untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from . import __version__
from .checks import load_and_check, run_sites
from .errors import CheckFailed, Diagnostic, UserError
from .i18n.pages import PageVariant, alternates, variants
from .loader import Loaded, display_path
from .manifest import MANIFEST_NAME, EmbedSettings, Manifest, SiteEntry, bot_protection, journey_data, site_entry
from .manifest import read as read_manifest
from .markdown import render_block, render_inline, render_text
from .project import Project, open_project
from .runtime import runtime_source
from .schema import Site, WinkScreen

__all__ = [
    "build",
    "BuildResult",
    "Plan",
    "Options",
    "options_for",
    "plan_project",
    "load_and_check",
    "render_site",
    "shared_files",
    "write_atomic",
    "MANIFEST_NAME",
    "runtime_assets",
]

STATIC = Path(__file__).parent / "static"
EMULATOR_JS = Path(__file__).parent / "sandbox" / "smile-emulator.js"
SMILE_HOSTS = "https://*.smileapi.io"
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"
# Languages whose visitors may type their own digits (Arabic-Indic, Thai, Devanagari, Tamil):
# number fields become text inputs that flip.js normalises to Latin digits.
DIGIT_LANGS = frozenset({"ar", "fa", "ur", "th", "hi", "mr", "ne", "bn", "ta"})
# Cloudflare Turnstile (site `bot_protection`): the script, rendered explicitly by flip.js.
TURNSTILE_JS = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"
SDK_URLS = {"v2": "https://web.smileapi.io/v2/smile.v2.js", "v1": "https://web.smileapi.io/v1/smile.v1.js"}


@dataclass
class BuildResult:
    output: Path
    site_count: int
    file_count: int
    seconds: float
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def display_output(self) -> str:
        return display_path(self.output)


@dataclass
class Plan:
    """Everything a build writes, as bytes by relative path, plus the manifest entries."""

    files: dict[str, bytes] = field(default_factory=dict)
    sites: dict[str, SiteEntry] = field(default_factory=dict)
    manifest: Manifest = field(default_factory=Manifest)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


def _hashed_name(name: str, data: bytes) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{_hash(data)}.{ext}" if dot else f"{name}.{_hash(data)}"


def runtime_assets(sandbox: bool) -> dict[str, tuple[str, bytes]]:
    """The shared runtime files: logical name → (path under the output, bytes).

    The sources stay readable; visitors get them minified by tdewolff/minify, whose renaming
    of local names keeps the runtime (joined into one function scope) within its page-weight
    budget. Same input, same output: the hashed names are deterministic.
    """
    import minify

    sources = {
        "flip.js": minify.string("application/javascript", runtime_source()),
        "flip.css": minify.string("text/css", (STATIC / "flip.css").read_text(encoding="utf-8")),
        # The language choice: loaded only by the pages of sites published in several languages.
        "lang.js": minify.string("application/javascript", (STATIC / "lang.js").read_text(encoding="utf-8")),
        "lang.css": minify.string("text/css", (STATIC / "lang.css").read_text(encoding="utf-8")),
        # The Turnstile check: loaded only by the pages of sites with bot_protection.
        "bot.js": minify.string("application/javascript", (STATIC / "bot.js").read_text(encoding="utf-8")),
    }
    out = {}
    for name, text in sources.items():
        data = text.encode()
        out[name] = (f"assets/{_hashed_name(name, data)}", data)
    if sandbox:
        data = EMULATOR_JS.read_bytes()
        out["smile-emulator.js"] = (f"assets/{_hashed_name('smile-emulator.js', data)}", data)
    return out


# --------------------------------------------------------------------------- rendering


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
    site_dir = loaded.path.parent
    runtime = dict(options.runtime)
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
        if options.base_url and brand_assets.get("og_image"):
            brand_assets["og_image"] = f"{options.base_url}/{slug}/{brand_assets['og_image']}"
    theme = _theme_css(site)
    theme_name = _hashed_name("theme.css", theme)
    files[f"{slug}/assets/{theme_name}"] = theme
    brand_assets["theme_css"] = f"assets/{theme_name}"

    wink = site.wink
    token_endpoint = wink.token_endpoint if wink and wink.token_endpoint else options.token_endpoint
    if options.sandbox:
        sdk_url = "../" + runtime["smile-emulator.js"]
    else:
        sdk_url = wink.sdk_url if wink and wink.sdk_url else SDK_URLS[wink.sdk if wink else "v2"]
    policy = _csp(site, token_endpoint, sdk_url, options.sandbox, dict(options.csp_extra))
    page_url = f"{options.base_url}/{slug}/" if options.base_url else None

    search = dict(options.search)
    folders = search.get(site.theme)
    if not folders:
        raise UserError(
            f"{loaded.positions.file}: theme `{site.theme}` not found "
            f"(looked in site_templates/{site.theme}/ and the built-in themes)"
        )
    env = _environment(folders)
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


def shared_files(project: Project, plan: Plan, options: Options) -> None:
    """Files derived from every site's manifest entry: manifest, _headers, robots, sitemap."""
    config = project.config
    plan.manifest = Manifest(
        generator=f"flipgen {__version__}",
        token_endpoint=config.token_endpoint,
        allowed_origins=sorted(config.allowed_origins),
        embed=EmbedSettings(allowed_origins=sorted(config.embed.allowed_origins)),
        sites={slug: plan.sites[slug] for slug in sorted(plan.sites)},
    )
    plan.files[MANIFEST_NAME] = plan.manifest.to_bytes()
    headers = [
        "# Security headers for Netlify / Cloudflare Pages (generated by flipgen).",
        "/*",
        "  X-Content-Type-Options: nosniff",
        "  Referrer-Policy: strict-origin-when-cross-origin",
        "  Permissions-Policy: camera=(), microphone=(), geolocation=(), payment=()",
        "/assets/*",
        "  Cache-Control: public, max-age=31536000, immutable",
    ]
    for slug in sorted(plan.sites):
        csp = plan.sites[slug].csp  # frame-ancestors included: 'none' unless embed.allowed_origins
        headers += [f"/{slug}/*", f"  Content-Security-Policy: {csp}"]
        headers += [f"/{slug}/assets/*", "  Cache-Control: public, max-age=31536000, immutable"]
    plan.files["_headers"] = ("\n".join(headers) + "\n").encode()
    robots = ["User-agent: *"]
    hidden = [slug for slug in sorted(plan.sites) if plan.sites[slug].noindex]
    robots += [f"Disallow: /{slug}/" for slug in hidden] or ["Disallow:"]
    if options.base_url:
        robots.append(f"Sitemap: {options.base_url}/sitemap.xml")
        urls = "".join(
            _sitemap_entries(options.base_url, slug, plan.sites[slug].locales)
            for slug in sorted(plan.sites)
            if not plan.sites[slug].noindex
        )
        plan.files["sitemap.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
            f"{urls}</urlset>\n"
        ).encode()
    plan.files["robots.txt"] = ("\n".join(robots) + "\n").encode()


def _sitemap_entries(base_url: str, slug: str, langs: list[str]) -> str:
    """One <url> per language page, each listing every language (Google's hreflang sitemap form)."""
    if len(langs) < 2:
        return f"  <url><loc>{base_url}/{slug}/</loc></url>\n"
    urls = {lang: f"{base_url}/{slug}/{'' if i == 0 else lang + '/'}" for i, lang in enumerate(langs)}
    links = "".join(f'<xhtml:link rel="alternate" hreflang="{lang}" href="{url}"/>' for lang, url in urls.items())
    links += f'<xhtml:link rel="alternate" hreflang="x-default" href="{urls[langs[0]]}"/>'
    return "".join(f"  <url><loc>{url}</loc>{links}</url>\n" for url in urls.values())


# --------------------------------------------------------------------------- planning


def options_for(
    project: Project,
    *,
    sandbox: bool = False,
    base_url: str | None = None,
    runtime: Mapping[str, tuple[str, bytes]] | None = None,
) -> Options:
    """The settings every site of one build shares (the preview server renders with these too)."""
    themes = sorted({"default"} | {p.name for p in (project.root / "site_templates").glob("*") if p.is_dir()})
    runtime = runtime if runtime is not None else runtime_assets(sandbox)
    config = project.config
    csp_extra = {k: list(v) for k, v in config.csp.items()}
    if config.embed.allowed_origins:
        csp_extra["frame-ancestors"] = config.embed.allowed_origins + csp_extra.get("frame-ancestors", [])
    return Options(
        token_endpoint=project.config.token_endpoint,
        base_url=(base_url or project.config.base_url or "").rstrip("/") or None,
        sandbox=sandbox,
        csp_extra=tuple(sorted((k, tuple(v)) for k, v in csp_extra.items())),
        embed_origins=tuple(config.embed.allowed_origins),
        max_users_per_day=config.token.max_users_per_day,
        search=tuple((t, tuple(str(d) for d in project.theme_dirs(t))) for t in themes),
        runtime=tuple((name, rel) for name, (rel, _) in sorted(runtime.items())),
    )


def plan_project(
    project: Project,
    *,
    sandbox: bool = False,
    base_url: str | None = None,
    strict: bool = False,
    only: Iterable[str] | None = None,
    jobs: int | None = None,
) -> tuple[Plan, list[Diagnostic]]:
    """Load, check and render the project's sites. Raises CheckFailed with every error found."""
    if any(d.severity == "error" for d in project.diagnostics):
        raise CheckFailed(list(project.diagnostics))
    runtime = runtime_assets(sandbox)
    options = options_for(project, sandbox=sandbox, base_url=base_url, runtime=runtime)
    outcomes, diagnostics = run_sites(
        project, strict=strict, only=only, stage=render_site, stage_arg=options, jobs=jobs
    )
    if not outcomes or any(d.severity == "error" for d in diagnostics):
        raise CheckFailed(diagnostics)
    plan = Plan()
    for outcome in outcomes:
        if outcome.slug is not None and outcome.payload is not None:
            site_files, entry = outcome.payload
            plan.files.update(site_files)
            plan.sites[outcome.slug] = entry
    for rel, data in runtime.values():
        plan.files[rel] = data
    shared_files(project, plan, options)
    return plan, diagnostics


# --------------------------------------------------------------------------- writing


def _carry_over(previous: Path, plan: Plan) -> None:
    """For `--site` builds: keep the other sites' files and manifest entries from the last build."""
    try:
        old_sites = read_manifest(previous / MANIFEST_NAME).sites
    except UserError:
        return
    for slug, entry in old_sites.items():
        if slug in plan.sites or not (previous / slug).is_dir():
            continue
        plan.sites[slug] = entry
        for file in (previous / slug).rglob("*"):
            if file.is_file():
                plan.files.setdefault(file.relative_to(previous).as_posix(), file.read_bytes())
    assets = previous / "assets"
    if assets.is_dir():  # content-hashed: older pages may still reference older runtimes
        for file in assets.iterdir():
            if file.is_file():
                plan.files.setdefault(f"assets/{file.name}", file.read_bytes())


def write_atomic(output: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a sibling temporary folder, then swap it in for ``output``.

    A crash between the two renames leaves `<output>.old-*` beside an absent output; the
    next build restores it before anything else.
    """
    output = output.resolve()
    parent = output.parent
    parent.mkdir(parents=True, exist_ok=True)
    _recover(output)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=parent))
    try:
        made: set[Path] = set()
        for rel in sorted(files):
            target = staging / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(files[rel])
        os.chmod(staging, 0o755)
        if output.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=parent))
            os.rmdir(old)
            os.replace(output, old)
            os.replace(staging, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _recover(output: Path) -> None:
    if output.exists():
        for stale in output.parent.glob(f".{output.name}.old-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return
    olds = sorted(output.parent.glob(f".{output.name}.old-*"))
    if olds:
        os.replace(olds[-1], output)


def build(
    project: str | os.PathLike[str] | Project | None = None,
    *,
    output: str | os.PathLike[str] | None = None,
    strict: bool = False,
    base_url: str | None = None,
    sites: Iterable[str] | None = None,
    sandbox: bool = False,
    jobs: int | None = None,
) -> BuildResult:
    """Check and build a project. Raises CheckFailed (nothing written) when any site has errors."""
    started = time.perf_counter()
    proj = project if isinstance(project, Project) else open_project(project)
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise UserError(f"--base-url must be an absolute http(s) URL, not `{base_url}`")
    out = Path(output).resolve() if output is not None else proj.output_dir
    if out == proj.root or out in proj.root.parents or out == proj.sites_dir or proj.sites_dir.is_relative_to(out):
        raise UserError(f"the output folder {display_path(out)} would replace the project's own files; choose another")
    only = list(sites) if sites else None
    plan, diagnostics = plan_project(proj, sandbox=sandbox, base_url=base_url, strict=strict, only=only, jobs=jobs)
    if only and out.is_dir():
        _carry_over(out, plan)
        shared_files(proj, plan, options_for(proj, sandbox=sandbox, base_url=base_url))
    write_atomic(out, plan.files)
    return BuildResult(
        output=out,
        site_count=len(plan.sites),
        file_count=len(plan.files),
        seconds=time.perf_counter() - started,
        warnings=[d for d in diagnostics if d.severity == "warning"],
    )
