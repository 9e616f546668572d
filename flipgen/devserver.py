"""`flipgen serve` (SPEC §7): build in memory, watch, rebuild what changed, reload open pages.

Four small parts, one process:

* :class:`Builder` loads, checks and renders sites with the functions of :mod:`flipgen.build`
  and keeps each site's last good output, so one site can be rebuilt alone and a broken
  file never takes the pages down. Every rebuild ends in a new immutable :class:`Snapshot`.
* :class:`Watcher` turns watchdog events into batches of paths: a burst of events (an
  editor's save, a rename-on-save) becomes one batch after ``DEBOUNCE`` seconds of quiet.
* :class:`DevApp` is a raw ASGI router under uvicorn: ``/_flipgen/…`` (live reload stream,
  client script, errors), the token endpoint (:class:`flipgen.token.TokenApp`), and the
  current snapshot's files from memory. Requests read one snapshot reference, so a page is
  never served half built; HTML responses get the live reload script injected here, which
  is why ``flipgen build`` output never contains it.
* :func:`serve` wires them together and is the body of the ``flipgen serve`` command.
"""

from __future__ import annotations

import asyncio
import errno
import html
import json
import mimetypes
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from . import build as _build
from .checks import load_and_check
from .errors import Diagnostic, UserError
from .project import CONFIG_NAME, Project, open_project

__all__ = ["serve", "Builder", "DevApp", "Snapshot"]

STATIC = Path(__file__).parent / "static"
# Quiet time that ends a burst of file events, and the longest a burst may delay a rebuild.
DEBOUNCE = 0.025
MAX_DELAY = 0.3
# A site file missing at rebuild time gets this long to come back (delete-then-write saves).
VANISH_GRACE = 0.2
SSE_PING = 15.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _say(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


# --------------------------------------------------------------------------- building


@dataclass
class SiteOutput:
    """One site file after a (re)build: its files when it rendered, its problems always."""

    path: Path
    slug: str | None
    diagnostics: list[Diagnostic]
    files: dict[str, bytes] | None = None
    entry: dict[str, Any] | None = None
    deps: frozenset[Path] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    """One complete, immutable build as served: swapped in whole after each rebuild."""

    build: str
    files: Mapping[str, bytes]
    titles: Mapping[str, str]
    versions: Mapping[str, str]  # slug → build id of its last change (pages reload on a new one)
    errors: tuple[dict[str, Any], ...] = ()
    broken: frozenset[str] = frozenset()  # slugs whose file currently has errors

    @cached_property
    def state(self) -> bytes:
        """The JSON the client script reads: build id, per-site versions, errors."""
        return json.dumps(
            {"build": self.build, "versions": dict(self.versions), "errors": list(self.errors)}, separators=(",", ":")
        ).encode()

    @cached_property
    def csp(self) -> dict[str, str]:
        manifest = self.files.get(_build.MANIFEST_NAME)
        sites = json.loads(manifest).get("sites", {}) if manifest else {}
        return {slug: entry.get("csp", "") for slug, entry in sites.items()}


@dataclass
class Report:
    """What one rebuild did, for the console line and the reload event."""

    label: str
    seconds: float
    rebuilt: list[str]
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    changed: bool
    reason: str = ""  # the file that made a full rebuild necessary


class Builder:
    """Plans the project's files in memory, site by site, keeping each site's last good output."""

    def __init__(self, root: Path, *, sandbox: bool = True, strict: bool = False) -> None:
        self.root = root
        self.sandbox = sandbox
        self.strict = strict
        self.nonce = secrets.token_hex(4)
        self.counter = 0
        self.outputs: dict[Path, SiteOutput] = {}
        self.good: dict[Path, SiteOutput] = {}
        self.versions: dict[str, str] = {}
        self.project: Project | None = None
        self.project_errors: list[Diagnostic] = []
        self._rel: dict[Path, str] = {}
        self.snapshot = Snapshot(build=f"{self.nonce}.0", files={}, titles={}, versions={})
        self._open()

    # -- project

    def _open(self) -> None:
        try:
            self.project = open_project(self.root)
        except UserError as exc:
            self.project = None
            self.project_errors = [Diagnostic(CONFIG_NAME, 1, 1, exc.message, code="project")]
            return
        project = self.project
        self.project_errors = [d for d in project.diagnostics if d.severity == "error"]
        self.runtime = _build.runtime_assets(self.sandbox)
        # The same options as `flipgen build`, so the preview renders what a build would.
        self.options = _build.options_for(project, sandbox=self.sandbox, runtime=self.runtime)

    def site_files(self) -> list[Path]:
        return [p.resolve() for p in self.project.site_files()] if self.project else []

    def rel(self, path: Path) -> str:
        """A path as the overlay shows it: relative to the project when inside it."""
        shown = self._rel.get(path)
        if shown is None:
            try:
                shown = path.resolve().relative_to(self.root).as_posix()
            except ValueError:
                shown = str(path)
            self._rel[path] = shown
        return shown

    def watched_dirs(self) -> list[tuple[Path, bool]]:
        """Folders to watch, (path, recursive): the project root itself only shallowly."""
        dirs: list[tuple[Path, bool]] = [(self.root, False)]
        if self.project is not None:
            dirs.append((self.project.sites_dir, True))
        dirs.append((self.root / "site_templates", True))
        covered = [d for d, _ in dirs]
        for out in self.good.values():
            for dep in out.deps:
                if not any(dep.is_relative_to(d) for d in covered):
                    covered.append(dep.parent)
                    dirs.append((dep.parent, False))
        return [(d, r) for d, r in dirs if d.is_dir()]

    # -- rebuilding

    def rebuild_all(self, reason: str = "") -> Report:
        """Reopen the project (flipgen.yaml may have changed) and rebuild every site."""
        started = time.perf_counter()
        _build._environment.cache_clear()  # its Jinja environments cache compiled templates
        self._open()
        paths = self.site_files()
        self.outputs = {p: self._render(p) for p in paths}
        self.good = {p: o for p, o in self.good.items() if p in self.outputs}
        label = f"all {len(paths)} site{'s' * (len(paths) != 1)}"
        report = self._finish(label, paths, started, full=True)
        report.reason = reason
        return report

    def rebuild(self, paths: Iterable[Path]) -> Report:
        """Rebuild the given site files alone; a missing file removes its site."""
        started = time.perf_counter()
        done = []
        for path in sorted(set(paths)):
            if path.is_file():
                self.outputs[path] = self._render(path)
                done.append(path)
            else:
                self.outputs.pop(path, None)
                self.good.pop(path, None)
                done.append(path)
        names = []
        for p in done:
            out = self.outputs.get(p)
            names.append(f"{p.stem} (removed)" if out is None else out.slug or p.stem)
        label = ", ".join(names) if len(names) <= 3 else f"{len(names)} sites"
        return self._finish(label, done, started, full=False)

    def sites_for(self, changed: Path) -> set[Path]:
        """Site files affected by a change to an asset (or any non-site file) under sites/."""
        hit = {p for p, o in self.outputs.items() if changed in o.deps}
        hit |= {p for p, o in self.good.items() if changed in o.deps}
        if self.project is not None:
            try:
                first = changed.relative_to(self.project.sites_dir).parts[0]
            except (ValueError, IndexError):
                first = ""
            hit |= {p for p in self.outputs if p.stem == first}
        # A site that failed (say, on a missing asset) may be waiting for exactly this file.
        hit |= {p for p, o in self.outputs.items() if o.files is None}
        return hit

    def _render(self, path: Path) -> SiteOutput:
        project = self.project
        assert project is not None
        rel = self.rel(path)
        loaded = load_and_check(project, path, strict=self.strict, file=rel)
        site = loaded.site
        slug = site.slug if site else None
        deps: frozenset[Path] = frozenset()
        if site is not None:
            refs = [site.brand.logo, site.brand.favicon, site.brand.custom_css, site.seo.og_image]
            deps = frozenset(
                (path.parent / r).resolve() for r in refs if r and not r.startswith(("http://", "https://"))
            )
        out = SiteOutput(path, slug, list(loaded.diagnostics), deps=deps)
        if site is None or any(d.severity == "error" for d in out.diagnostics):
            return out
        try:
            out.files, out.entry = _build.render_site(loaded, self.options)
        except UserError as exc:
            out.diagnostics.append(self._render_error(exc, rel))
        return out

    def _render_error(self, exc: UserError, rel: str) -> Diagnostic:
        """A render failure (template, asset) as a positioned diagnostic where possible."""
        cause = exc.__cause__
        if isinstance(cause, jinja2.TemplateSyntaxError) and cause.filename:
            return Diagnostic(
                self.rel(Path(cause.filename)),
                cause.lineno or 1,
                1,
                f"template syntax error: {cause.message}",
                code="template",
            )
        if isinstance(cause, jinja2.TemplateError):
            # Jinja rewrites tracebacks so template frames carry the template file and line.
            tb = cause.__traceback__
            where = None
            while tb is not None:
                name = tb.tb_frame.f_code.co_filename
                if not name.endswith(".py") and os.path.isfile(name):
                    where = (name, tb.tb_lineno)
                tb = tb.tb_next
            if where:
                return Diagnostic(self.rel(Path(where[0])), where[1], 1, f"template error: {cause}", code="template")
        return Diagnostic(rel, 1, 1, exc.message.removeprefix(f"{rel}: "), code="render")

    def _finish(self, label: str, paths: list[Path], started: float, *, full: bool) -> Report:
        """Compose the new snapshot from every site's newest good output and swap it in."""
        previous = self.snapshot
        self.counter += 1
        build_id = f"{self.nonce}.{self.counter}"
        errors: list[Diagnostic] = list(self.project_errors)
        warnings: list[Diagnostic] = []
        bumped: set[str] = set()
        for path in paths:
            out = self.outputs.get(path)
            if out is None or out.files is None:
                continue
            before = self.good.get(path)
            if before is None or before.files != out.files or before.slug != out.slug or out.slug in previous.broken:
                bumped.add(out.slug or "")
            self.good[path] = out
        plan = _build.Plan()
        owners: dict[str, str] = {}
        titles: dict[str, str] = {}
        broken: set[str] = set()
        for path in sorted(self.outputs):
            out = self.outputs[path]
            errors += [d for d in out.diagnostics if d.severity == "error"]
            if path in paths:
                warnings += [d for d in out.diagnostics if d.severity == "warning"]
            if out.files is None:
                broken.add(out.slug or path.stem)
            use = out if out.files is not None else self.good.get(path)
            if use is None or use.slug is None or use.entry is None or use.files is None:
                continue
            if use.slug in owners:
                errors.append(
                    Diagnostic(
                        self.rel(path),
                        1,
                        1,
                        f"slug `{use.slug}` is already used by {owners[use.slug]}",
                        code="duplicate-slug",
                    )
                )
                continue
            owners[use.slug] = self.rel(path)
            plan.files.update(use.files)
            plan.sites[use.slug] = use.entry
            titles[use.slug] = str(use.entry.get("title", use.slug))
        if self.project is not None and not self.project_errors:
            for rel, data in self.runtime.values():
                plan.files[rel] = data
            _build.shared_files(self.project, plan, self.options)
        elif self.project_errors:  # like `flipgen build`: a broken flipgen.yaml builds nothing new
            plan = _build.Plan(files=dict(previous.files))
            titles = dict(previous.titles)
            bumped = set()
        versions = {slug: (build_id if slug in bumped else self.versions.get(slug, build_id)) for slug in titles}
        self.versions = versions
        errors = sorted(set(errors), key=lambda d: (d.file, d.line, d.col, d.message))
        error_dicts = tuple(self._error_dict(d) for d in errors)
        changed = bool(bumped) or error_dicts != previous.errors or set(titles) != set(previous.titles)
        if changed:
            self.snapshot = Snapshot(
                build=build_id,
                files=plan.files,
                titles=titles,
                versions=versions,
                errors=error_dicts,
                broken=frozenset(broken),
            )
        else:
            self.counter -= 1
        return Report(
            label, time.perf_counter() - started, [s for s in titles if s in bumped], errors, warnings, changed
        )

    def _error_dict(self, d: Diagnostic) -> dict[str, Any]:
        """An error with its source line, so the overlay can point a caret at the column."""
        source = ""
        path = Path(d.file) if os.path.isabs(d.file) else self.root / d.file
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                for number, text in enumerate(handle, 1):
                    if number == d.line:
                        source = text.rstrip("\r\n")
                        break
        except OSError:
            pass
        return {**d.as_dict(), "source": source[:500]}


# --------------------------------------------------------------------------- watching

SWAP_SUFFIXES = (".swp", ".swx", ".swo", "~", ".tmp", ".part", ".crdownload")


def ignored_name(name: str) -> bool:
    """Editor droppings: vim swap files and its `4913` probe, Emacs `.#` locks, backups."""
    return (
        name.endswith(SWAP_SUFFIXES)
        or name == "4913"
        or name.startswith(".#")
        or (name.startswith("#") and name.endswith("#"))
        or name.startswith(".~")
    )


class Watcher:
    """Collects changed paths from watchdog and hands them to ``callback`` in debounced batches."""

    def __init__(self, callback: Callable[[set[Path]], None], *, poll: bool = False) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self.callback = callback
        self.observer = PollingObserver(timeout=0.25) if poll else Observer()
        self.pending: set[Path] = set()
        self.first = 0.0
        self.last = 0.0
        self.cond = threading.Condition()
        self.watches: dict[tuple[Path, bool], Any] = {}
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="flipgen-rebuild", daemon=True)

    def start(self, dirs: Iterable[tuple[Path, bool]]) -> None:
        self.update(dirs)
        self.observer.start()
        self.thread.start()

    def update(self, dirs: Iterable[tuple[Path, bool]]) -> None:
        """Watch exactly ``dirs`` (folders come and go: site_templates/ created later, …)."""
        wanted = {(d.resolve(), r) for d, r in dirs}
        for key in list(self.watches):
            if key not in wanted:
                self.observer.unschedule(self.watches.pop(key))
        for key in sorted(wanted - set(self.watches)):
            try:
                self.watches[key] = self.observer.schedule(_Handler(self), str(key[0]), recursive=key[1])
            except OSError:
                pass

    def add(self, path: str | bytes) -> None:
        text = os.fsdecode(path)
        if ignored_name(os.path.basename(text)):
            return
        with self.cond:
            now = time.monotonic()
            if not self.pending:
                self.first = now
            self.pending.add(Path(text))
            self.last = now
            self.cond.notify()

    def later(self, paths: set[Path], delay: float) -> None:
        """Queue paths again after ``delay`` (a file that vanished mid-save)."""

        def requeue() -> None:
            for p in paths:
                self.add(str(p))

        timer = threading.Timer(delay, requeue)
        timer.daemon = True
        timer.start()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending and not self.stopped:
                    self.cond.wait()
                if self.stopped:
                    return
                while True:  # wait for the burst to end
                    now = time.monotonic()
                    quiet_until = min(self.last + DEBOUNCE, self.first + MAX_DELAY)
                    if now >= quiet_until or self.stopped:
                        break
                    self.cond.wait(quiet_until - now)
                batch, self.pending = self.pending, set()
            try:
                self.callback(batch)
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any rebuild bug
                _say(
                    f"error: rebuild crashed ({type(exc).__name__}: {exc}); still serving the last good build", err=True
                )

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        self.observer.stop()
        self.observer.join(timeout=2)


def _handler_base() -> type:
    from watchdog.events import FileSystemEventHandler

    return FileSystemEventHandler


class _Handler(_handler_base()):  # type: ignore[misc]
    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self.watcher = watcher

    def on_any_event(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if (
            event.event_type == "closed"
            or not event.is_directory
            or event.event_type in ("created", "deleted", "moved")
        ):
            self.watcher.add(event.src_path)
            dest = getattr(event, "dest_path", "")
            if dest:
                self.watcher.add(dest)


# --------------------------------------------------------------------------- the ASGI app


class DevApp:
    """Routes one origin: ``/_flipgen/…``, the token endpoint, and the snapshot's files."""

    def __init__(self, builder: Builder, token_app: Any, *, livereload: bool = True, mode: str = "sandbox") -> None:
        self.builder = builder
        self.token_app = token_app
        self.livereload = livereload
        self.mode = mode
        self.client_js = (STATIC / "livereload.js").read_bytes()
        self.overlay_css = (STATIC / "overlay.css").read_bytes()
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.output_dir: Path | None = None

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

    # -- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._broadcast(None)
                await self.token_app.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        token = self.token_app
        if (
            path.startswith("/api/")
            or path in token.token_paths
            or path in token.refresh_paths
            or path in ("/healthz", "/openapi.json")
        ):
            await token(scope, receive, send)
            return
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method not allowed\n", "text/plain", [(b"allow", b"GET, HEAD")])
            return
        snapshot = self.builder.snapshot  # one reference for the whole request: never half a build
        if path.startswith("/_flipgen/"):
            await self._internal(path[len("/_flipgen/") :], snapshot, receive, send, method)
            return
        rel = _safe_relpath(scope)
        if rel is None:
            await _respond(send, 400, b"Bad request path\n", "text/plain")
            return
        if rel == "":
            await self._html(send, self._index(snapshot), snapshot.build, method)
            return
        key = rel + "index.html" if rel.endswith("/") else rel
        data = snapshot.files.get(key)
        if data is None:
            if (rel + "/index.html") in snapshot.files:
                location = (
                    "/" + rel + "/" + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
                )
                await _respond(send, 301, b"", "text/plain", [(b"location", location.encode("latin-1"))])
                return
            slug = rel.split("/", 1)[0]
            page = _PAGE.format(
                title="Not found",
                body=(
                    f"<h1>Not found</h1><p><code>/{html.escape(rel)}</code> is not part of the build. "
                    f'<a href="/">All sites</a></p>'
                ),
            )
            await self._html(send, page.encode(), snapshot.versions.get(slug, ""), method, site=slug, status=404)
            return
        ctype = _content_type(key)
        headers: list[tuple[bytes, bytes]] = []
        slug = key.split("/", 1)[0]
        if ctype.startswith("text/html"):
            csp = snapshot.csp.get(slug)
            if csp:
                headers.append((b"content-security-policy", csp.encode("latin-1")))
            await self._html(
                send, data, snapshot.versions.get(slug, snapshot.build), method, site=slug, headers=headers
            )
            return
        if _HASHED.search(key):
            # Content-hashed names never change meaning: a reload then refetches only the HTML.
            headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
        await _respond(send, 200, b"" if method == "HEAD" else data, ctype, headers, length=len(data))

    async def _html(
        self,
        send: Send,
        page: bytes,
        version: str,
        method: str,
        *,
        site: str = "",
        status: int = 200,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = inject(page, version, site, self.livereload)
        await _respond(
            send, status, b"" if method == "HEAD" else body, "text/html; charset=utf-8", headers, length=len(body)
        )

    async def _internal(self, name: str, snapshot: Snapshot, receive: Receive, send: Send, method: str) -> None:
        if name == "livereload" and self.livereload:
            await self._stream(snapshot, receive, send)
        elif name == "livereload.js":
            await _respond(send, 200, self.client_js, "text/javascript; charset=utf-8")
        elif name == "overlay.css":
            await _respond(send, 200, self.overlay_css, "text/css; charset=utf-8")
        elif name == "errors":
            await _respond(send, 200, snapshot.state, "application/json")
        else:
            await _respond(send, 404, b"Not found\n", "text/plain")

    async def _stream(self, snapshot: Snapshot, receive: Receive, send: Send) -> None:
        """Server-Sent Events: a `hello` with the current state, then a `build` per rebuild."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.listeners.add(queue)

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(None)

        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": b"retry: 500\n\n" + _event("hello", snapshot.state),
                    "more_body": True,
                }
            )
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), SSE_PING)
                except TimeoutError:
                    item = b": ping\n\n"
                if item is None:
                    break
                await send({"type": "http.response.body", "body": item, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass
        finally:
            self.listeners.discard(queue)
            watcher.cancel()

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
        body = (
            f"<h1>flipgen preview</h1><p>{len(snapshot.titles)} site{'s' * (len(snapshot.titles) != 1)}. "
            f"Token endpoint <code>POST /api/link-token</code> answers from {upstream}.</p>{listing}{where}"
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


def _safe_relpath(scope: Scope) -> str | None:
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


_HASHED = re.compile(r"(^|/)assets/[^/]+\.[0-9a-f]{10}(\.[A-Za-z0-9]+)?$")


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    ctype: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    length: int | None = None,
) -> None:
    extra = headers or []
    base = [
        (b"content-type", ctype.encode()),
        (b"content-length", str(len(body) if length is None else length).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if not any(name == b"cache-control" for name, _ in extra):
        base.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": base + extra})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- the command


class Session:
    """One running preview: the builder, the app, the watcher and the build folder on disk."""

    def __init__(self, root: Path, *, live: bool, livereload: bool, poll: bool, quiet: bool, verbose: int) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.builder = Builder(root, sandbox=not live)
        self.tmp = Path(tempfile.mkdtemp(prefix="flipgen-serve-"))
        self.output = self.tmp / "site"
        self.lock = threading.Lock()
        self._grace: set[Path] = set()
        self.written: dict[str, bytes] = {}
        report = self.builder.rebuild_all()
        self._log(report, startup=True)
        self._write()
        from .token import create_app

        manifest = self._manifest()
        # The manifest of a project that did not build yet still lets the server start.
        self.token_app = create_app(root, manifest=manifest, emulator=not live, sandbox=not live, rate_limit=0)
        self.app = DevApp(self.builder, self.token_app, livereload=livereload, mode="live" if live else "sandbox")
        self.app.output_dir = self.output
        self.watcher = Watcher(self.on_change, poll=poll)

    def _manifest(self) -> dict[str, Any]:
        data = self.builder.snapshot.files.get(_build.MANIFEST_NAME)
        return json.loads(data) if data else {"version": 1, "sites": {}, "allowed_origins": []}

    def on_change(self, batch: set[Path]) -> None:
        """A debounced batch of changed paths → the smallest rebuild that covers it."""
        builder = self.builder
        project = builder.project
        root = builder.root
        templates = (root / "site_templates").resolve()
        ignored = [project.output_dir] if project else []
        ignored += [self.tmp.resolve()]
        full_reason = ""
        sites: set[Path] = set()
        for raw in batch:
            path = raw.resolve() if raw.exists() else raw.parent.resolve() / raw.name
            if any(path == d or path.is_relative_to(d) for d in ignored) or ".git" in path.parts:
                continue
            if path == root / CONFIG_NAME or path == templates or path.is_relative_to(templates):
                full_reason = full_reason or builder.rel(path)
            elif project is not None and (path == project.sites_dir or path.is_relative_to(project.sites_dir)):
                if (
                    path.parent == project.sites_dir
                    and path.suffix in (".yaml", ".yml")
                    and not path.name.startswith(".")
                ):
                    sites.add(project.site_of(path) or path)  # an overlay rebuilds the site it translates
                elif path == project.sites_dir:
                    full_reason = full_reason or builder.rel(path)
                elif not path.is_dir():
                    sites |= builder.sites_for(path)
            elif project is not None and path.parent == root and path.name == project.sites_dir.name:
                full_reason = full_reason or builder.rel(path)
            else:
                hit = builder.sites_for(path)
                sites |= {p for p in hit if p in builder.outputs and path in builder.outputs[p].deps}
        # A site file that vanished may be mid-save: look again shortly before removing it.
        gone = {p for p in sites if not p.exists() and p in builder.outputs and p not in self._grace}
        if gone and not full_reason:
            self._grace |= gone
            self.watcher.later(gone, VANISH_GRACE)
            sites -= gone
        self._grace -= {p for p in self._grace if p.exists() or p in sites}
        if not full_reason and not sites:
            return
        with self.lock:
            report = builder.rebuild_all(full_reason) if full_reason else builder.rebuild(sites)
            if full_reason:
                self.watcher.update(builder.watched_dirs())
            if report.changed:
                self.app.publish(builder.snapshot)
                self._refresh_tokens()
            self._log(report)
            if report.changed:
                self._write()

    def _refresh_tokens(self) -> None:
        self.token_app.update_manifest(self._manifest())

    def _write(self) -> None:
        """Mirror the snapshot on disk for inspection; pages are served from memory.

        Only files that changed are rewritten (each through a temporary name and
        ``os.replace``): rewriting a 100-site tree on every keystroke would compete with
        the reload it follows.
        """
        files = self.builder.snapshot.files
        try:
            if not self.written:
                _build.write_atomic(self.output, files)
            else:
                for rel in self.written.keys() - files.keys():
                    (self.output / rel).unlink(missing_ok=True)
                for rel, data in files.items():
                    old = self.written.get(rel)
                    if old is data or old == data:
                        continue
                    target = self.output / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_name(f".{target.name}.tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, target)
            self.written = dict(files)
        except OSError as exc:
            self.written = {}
            _say(f"warning: could not write the preview build to {self.output}: {exc}", err=True)

    def _log(self, report: Report, *, startup: bool = False) -> None:
        for d in report.warnings:
            if not self.quiet:
                _say(f"{d.file}:{d.line}:{d.col}: warning: {d.message}", err=True)
        ms = report.seconds * 1000
        why = f" ({report.reason} changed)" if report.reason else ""
        if report.errors:
            for d in report.errors:
                _say(f"{d.file}:{d.line}:{d.col}: error: {d.message}", err=True)
            _say(
                f"{'built' if startup else 'rebuilt'} {report.label} in {ms:.0f} ms{why} with {len(report.errors)} "
                "error(s): pages show them in an overlay and keep their last good build",
                err=True,
            )
        elif not self.quiet:
            if startup:
                _say(f"built {report.label.removeprefix('all ')} in {ms:.0f} ms")
            else:
                _say(f"rebuilt {report.label} in {ms:.0f} ms{why}" + ("" if report.changed else " (no change)"))

    def close(self) -> None:
        self.watcher.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn, so a busy port is a clear UserError (and port 0 works)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"cannot bind to {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is already in use (another `flipgen serve`?); "
                f"stop it or choose another port with --port {port + 1 if port else 8001}"
            ) from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    project: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = False,
    live: bool = False,
    livereload: bool = True,
    poll: bool = False,
    verbose: int = 0,
    quiet: bool = False,
) -> None:
    """Build PROJECT in memory, serve it with the token endpoint, and rebuild on change.

    Runs until interrupted. Raises :class:`UserError` for an unusable folder, missing
    credentials with ``live``, or a port that is already in use.
    """
    import uvicorn

    root = Path(project).resolve() if project is not None else Path.cwd().resolve()
    if not root.is_dir():
        raise UserError(
            f"no such folder: {root}"
            if not root.exists()
            else f"{root} is a file; give the project folder (the one holding `sites/`)"
        )
    sock = _bind(host, port)
    session: Session | None = None
    try:
        session = Session(root, live=live, livereload=livereload, poll=poll, quiet=quiet, verbose=verbose)
        actual = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{actual}/"
        if host not in LOCAL_HOSTS:
            _say(
                f"warning: listening on {host}: anyone on your network can open the preview and mint "
                f"{'real Smile' if live else 'emulator'} tokens. Use --host 127.0.0.1 to keep it local.",
                err=True,
            )
        # Watch before saying "serving": an edit made right after that line is seen.
        session.watcher.start(session.builder.watched_dirs())
        if not quiet:
            upstream = "real Smile API" if live else "Smile emulator"
            _say(
                f"serving {url} (token endpoint: {upstream}; "
                f"live reload {'on' if livereload else 'off'}) — press Ctrl-C to stop"
            )
        config = uvicorn.Config(
            session.app,
            log_level="info" if verbose > 1 else "warning",
            access_log=verbose > 1,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = _Server(config, session.app)
        if open_browser:
            threading.Timer(0.3, webbrowser.open, args=(url,)).start()
        server.run(sockets=[sock])
    finally:
        if session is not None:
            session.close()
        sock.close()


def _server_base() -> type:
    import uvicorn

    return uvicorn.Server


class _Server(_server_base()):  # type: ignore[misc]
    """uvicorn waits for open responses before exiting: end the endless SSE streams first."""

    def __init__(self, config: Any, app: DevApp) -> None:
        super().__init__(config)
        self.dev_app = app

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.dev_app.close_streams()
        super().handle_exit(sig, frame)
