"""`flipgen serve` (SPEC §7): build in memory, watch, rebuild what changed, reload open pages.

:class:`Session` wires the parts of one running preview together: the
:class:`~flipgen.preview.builder.Builder`, the :class:`~flipgen.preview.watcher.Watcher`,
the :class:`~flipgen.preview.app.PreviewApp` and the build folder mirrored on disk.
:func:`serve` is the body of the ``flipgen serve`` command.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path
from typing import Any

import uvicorn

from flipgen import build as _build
from flipgen.errors import UserError
from flipgen.handles import HandleSigner
from flipgen.project import CONFIG_NAME
from flipgen.server import create_app

from .app import HostCheck, PreviewApp, preview_origins
from .builder import Builder, Report
from .watcher import Watcher

__all__ = ["Session", "serve"]

# A site file missing at rebuild time gets this long to come back (delete-then-write saves).
VANISH_GRACE = 0.2
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LIVE_RATE_LIMIT = 30


def _say(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


class Session:
    """One running preview: the builder, the app, the watcher and the build folder on disk."""

    def __init__(
        self,
        root: Path,
        *,
        live: bool,
        livereload: bool,
        poll: bool,
        quiet: bool,
        verbose: int,
        host: str = "127.0.0.1",
        port: int = 8000,
    ) -> None:
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
        manifest = self.builder.snapshot.manifest
        # The manifest of a project that did not build yet still lets the server start.
        # With --live every mint creates a real (paid) Smile user: keep the production limit.
        # Test applications go to a throwaway database in the preview's temporary folder,
        # their handles are signed with a key that dies with the process.
        self.token_app = create_app(
            root,
            manifest=manifest,
            emulator=not live,
            sandbox=not live,
            rate_limit=LIVE_RATE_LIMIT if live else 0,
            public_origins=preview_origins(host, port),
            deliver_webhooks=False,
            database=f"sqlite:///{self.tmp / 'applications.db'}",
            handles=HandleSigner.random(),
        )
        self.app = PreviewApp(
            self.builder,
            self.token_app,
            livereload=livereload,
            mode="live" if live else "sandbox",
            hosts=HostCheck(host, port),
        )
        self.app.output_dir = self.output
        self.watcher = Watcher(self.on_change, poll=poll)

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
        self.token_app.update_manifest(self.builder.snapshot.manifest)

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
    root = _project_root(project)
    sock = _bind(host, port)
    session: Session | None = None
    try:
        actual = sock.getsockname()[1]
        session = Session(
            root, live=live, livereload=livereload, poll=poll, quiet=quiet, verbose=verbose, host=host, port=actual
        )
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
        server = _Server(_uvicorn_config(session.app, verbose), session.app)
        if open_browser:
            threading.Timer(0.3, webbrowser.open, args=(url,)).start()
        server.run(sockets=[sock])
    finally:
        if session is not None:
            session.close()
        sock.close()


def _project_root(project: str | os.PathLike[str] | None) -> Path:
    """The project folder (default: the current one); a UserError when it is not a folder."""
    root = Path(project).resolve() if project is not None else Path.cwd().resolve()
    if not root.is_dir():
        raise UserError(
            f"no such folder: {root}"
            if not root.exists()
            else f"{root} is a file; give the project folder (the one holding `sites/`)"
        )
    return root


def _uvicorn_config(app: PreviewApp, verbose: int) -> uvicorn.Config:
    """uvicorn for the preview: its logs only at -vv, no Server header, 2 s to shut down gracefully."""
    return uvicorn.Config(
        app,
        log_level="info" if verbose > 1 else "warning",
        access_log=verbose > 1,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=2,
    )


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before exiting: end the endless SSE streams first."""

    def __init__(self, config: uvicorn.Config, app: PreviewApp) -> None:
        super().__init__(config)
        self.dev_app = app

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.dev_app.close_streams()
        super().handle_exit(sig, frame)
