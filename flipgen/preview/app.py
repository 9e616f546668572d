"""The preview server's Starlette app: one origin for pages, live reload and the token endpoint.

Routes, in order: the token endpoint's paths (the same :class:`~flipgen.server.TokenApp` as
``flipgen token-server``, mounted as is), ``/_flipgen/…`` (the live-reload event stream, the
client script, the overlay's style and errors), and the current snapshot's files from
memory. A request reads one snapshot reference, so a page is never served half built; HTML
answers get the live-reload script injected here, which is why ``flipgen build`` output
never contains it.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import mimetypes
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route, request_response
from starlette.types import Receive, Scope, Send

from flipgen.server import TokenApp

from .applications import latest_applications_html
from .builder import Builder, Snapshot

__all__ = ["HostCheck", "PreviewApp", "inject", "preview_origins", "safe_relpath"]

STATIC = Path(__file__).resolve().parents[1] / "static"
SSE_PING = 15.0
_HASHED = re.compile(r"(^|/)assets/[^/]+\.[0-9a-f]{10}(\.[A-Za-z0-9]+)?$")


class _TokenRoutes(BaseRoute):
    """Hands the token endpoint's own paths (and anything under ``/api/``) to the token app."""

    def __init__(self, token_app: TokenApp) -> None:
        self.token_app = token_app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        app = self.token_app
        claimed = (
            path.startswith("/api/")
            or path in app.token_paths
            or path in app.refresh_paths
            or path in ("/healthz", "/openapi.json")
        )
        return (Match.FULL, {}) if claimed else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.token_app(scope, receive, send)


class _AnyMethod:
    """A handler as an ASGI app, so Starlette routes every method to it (it answers 405 itself)."""

    def __init__(self, handler: object) -> None:
        self.app = request_response(handler)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class HostCheck:
    """Which ``Host`` headers the preview answers: DNS rebinding protection.

    A page on another domain can make its own name resolve to 127.0.0.1 and then call the
    preview "same-origin", with the developer's live credentials behind it. Such a request
    carries that domain in ``Host``. Only the bound address, ``localhost`` and IP literals
    (which no rebinding can produce), with the bound port, are answered; the rest get 421.
    """

    def __init__(self, host: str, port: int) -> None:
        self.port = port
        self.names = {"localhost", host.lower().strip("[]")}

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        parts = urlsplit("//" + header.strip().lower())
        try:
            port = parts.port or 80
        except ValueError:
            return False
        name = parts.hostname or ""
        if port != self.port:
            return False
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def refusal(self) -> Response:
        text = (
            f"421 Misdirected Request: this preview answers only to http://127.0.0.1:{self.port}/ or "
            f"http://localhost:{self.port}/ (a request for another host name may be a DNS rebinding attack).\n"
        )
        return _text(421, text)


def preview_origins(host: str, port: int) -> list[str]:
    """The origins the preview's pages have: same-origin token calls come from these."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    shown = f"[{host}]" if ":" in host else host
    if shown not in names:
        names.append(shown)
    return [f"http://{name}:{port}" for name in names]


class PreviewApp:
    """The preview's ASGI app: see the module docstring for its routes."""

    def __init__(
        self,
        builder: Builder,
        token_app: TokenApp,
        *,
        livereload: bool = True,
        mode: str = "sandbox",
        hosts: HostCheck | None = None,
    ) -> None:
        self.builder = builder
        self.hosts = hosts
        self.token_app = token_app
        self.livereload = livereload
        self.mode = mode
        self.client_js = (STATIC / "livereload.js").read_bytes()
        self.overlay_css = (STATIC / "overlay.css").read_bytes()
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.output_dir: Path | None = None
        routes: list[BaseRoute] = [
            _TokenRoutes(token_app),
            Route("/_flipgen/livereload", self._stream),
            Route("/_flipgen/{name}", self._internal),
            Route("/{path:path}", _AnyMethod(self._file)),
        ]
        self.starlette = Starlette(routes=routes, lifespan=self._lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not self.hosts.allows(host):
                await self.hosts.refusal()(scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.loop = asyncio.get_running_loop()
        yield
        self._broadcast(None)
        await self.token_app.aclose()

    # -- called from the rebuild thread

    def publish(self, snapshot: Snapshot) -> None:
        """Tell every open page about a new snapshot (thread-safe)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._broadcast, _event("build", snapshot.state))

    def close_streams(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._broadcast, None)

    def _broadcast(self, item: bytes | None) -> None:
        for queue in list(self.listeners):
            queue.put_nowait(item)

    # -- routes

    async def _stream(self, request: Request) -> Response:
        """Server-Sent Events: a `hello` with the current state, then a `build` per rebuild."""
        if not self.livereload:
            return _text(404, "Not found\n")
        snapshot = self.builder.snapshot
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.listeners.add(queue)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 500\n\n" + _event("hello", snapshot.state)
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), SSE_PING)
                    except TimeoutError:
                        item = b": ping\n\n"
                    if item is None:
                        return
                    yield item
            finally:
                self.listeners.discard(queue)

        # StreamingResponse ends the generator when the client disconnects.
        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def _internal(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "livereload.js":
            return _bytes(200, self.client_js, "text/javascript; charset=utf-8")
        if name == "overlay.css":
            return _bytes(200, self.overlay_css, "text/css; charset=utf-8")
        if name == "errors":
            return _bytes(200, self.builder.snapshot.state, "application/json")
        return _text(404, "Not found\n")

    async def _file(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _text(405, "Method not allowed\n", {"allow": "GET, HEAD"})
        snapshot = self.builder.snapshot  # one reference for the whole request: never half a build
        rel = safe_relpath(request.scope)
        if rel is None:
            return _text(400, "Bad request path\n")
        if rel == "":
            return self._html(self._index(snapshot), snapshot.build)
        key = rel + "index.html" if rel.endswith("/") else rel
        data = snapshot.files.get(key)
        if data is None:
            if (rel + "/index.html") in snapshot.files:
                query = request.scope["query_string"].decode("latin-1")
                location = "/" + rel + "/" + ("?" + query if query else "")
                return _bytes(301, b"", "text/plain", {"location": location})
            slug = rel.split("/", 1)[0]
            body = (
                f"<h1>Not found</h1><p><code>/{html.escape(rel)}</code> is not part of the build. "
                f'<a href="/">All sites</a></p>'
            )
            page = _PAGE.format(title="Not found", body=body).encode()
            return self._html(page, snapshot.versions.get(slug, ""), site=slug, status=404)
        ctype = _content_type(key)
        slug = key.split("/", 1)[0]
        if ctype.startswith("text/html"):
            csp = snapshot.csp(slug)
            headers = {"content-security-policy": csp} if csp else {}
            return self._html(data, snapshot.versions.get(slug, snapshot.build), site=slug, headers=headers)
        if _HASHED.search(key):
            # Content-hashed names never change meaning: a reload then refetches only the HTML.
            return _bytes(200, data, ctype, {"cache-control": "public, max-age=31536000, immutable"})
        return _bytes(200, data, ctype)

    def _html(
        self, page: bytes, version: str, *, site: str = "", status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return _bytes(status, inject(page, version, site, self.livereload), "text/html; charset=utf-8", headers)

    def _index(self, snapshot: Snapshot) -> bytes:
        rows = []
        for slug in sorted(snapshot.titles):
            badge = ' <span class="fg-badge">error</span>' if slug in snapshot.broken else ""
            rows.append(
                f'<li><a href="/{html.escape(slug)}/"><strong>{html.escape(snapshot.titles[slug])}</strong>'
                f"<span>/{html.escape(slug)}/</span></a>{badge}</li>"
            )
        listing = f'<ul class="fg-sites">{"".join(rows)}</ul>' if rows else "<p>No site has built yet.</p>"
        upstream = "the offline Smile emulator" if self.mode == "sandbox" else "the real Smile API"
        where = (
            f"<p class='fg-note'>Build written to <code>{html.escape(str(self.output_dir))}</code>.</p>"
            if self.output_dir
            else ""
        )
        count = len(snapshot.titles)
        applications = latest_applications_html(self.token_app.store, self.token_app.manifest)
        body = (
            f"<h1>flipgen preview</h1><p>{count} site{'s' * (count != 1)}. "
            f"Token endpoint <code>POST /api/link-token</code> answers from {upstream}.</p>{listing}{where}"
            f"{applications}"
        )
        return _PAGE.format(title="flipgen preview", body=body).encode()


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/_flipgen/overlay.css">
</head>
<body class="fg-index">
<main>
{body}
</main>
</body>
</html>
"""


def inject(page: bytes, version: str, site: str = "", livereload: bool = True) -> bytes:
    """Add the client script before ``</body>`` (the overlay works even with reloading off).

    ``version`` is what the page was built from (a site's version, or the build id for
    the site list); the script reloads the page when the server announces another one.
    """
    mode = "" if livereload else ' data-reload="off"'
    tag = (
        f'<script src="/_flipgen/livereload.js" data-build="{html.escape(version)}" '
        f'data-site="{html.escape(site)}"{mode} defer></script>\n'
    ).encode()
    at = page.lower().rfind(b"</body>")
    return page[:at] + tag + page[at:] if at >= 0 else page + tag


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def safe_relpath(scope: Scope) -> str | None:
    """The request path as a key of the build, or None when it tries to leave the build.

    Files are looked up in memory, never on disk, so nothing outside the build can be read;
    these refusals make the intent explicit: `..`/`.` segments (also percent-encoded),
    backslashes, NUL and empty segments.
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    lowered = raw.split(b"?", 1)[0].lower()
    if b"\\" in lowered or b"%5c" in lowered or b"\x00" in lowered or b"%00" in lowered:
        return None
    path: str = scope["path"]
    if not path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    parts = path[1:].split("/")
    inner = parts[:-1] if parts and parts[-1] == "" else parts
    if any(p in ("", ".", "..") for p in inner) and path != "/":
        return None
    return path[1:]


def _content_type(name: str) -> str:
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml", "application/json"):
        ctype = ("text/javascript" if ctype == "application/javascript" else ctype) + "; charset=utf-8"
    return ctype


def _bytes(status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> Response:
    base = {"x-content-type-options": "nosniff", "cache-control": "no-store", **(headers or {})}
    return Response(body, status, headers=base, media_type=ctype)


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return _bytes(status, text.encode(), "text/plain", headers)
