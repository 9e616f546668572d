"""Browser tests: a real build served over HTTP on 127.0.0.1, the real token endpoint (sandbox
emulator upstream) and Debian's headless Chromium driven by Playwright.

The session fixture makes a temporary project from the repository's `sites/` whose
`flipgen.yaml` points `token_endpoint` at the token server's absolute URL and allows the
static server's origin, builds it with `--sandbox` semantics and starts the servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.conftest import free_port, wait_for_port
from tests.support.npm import node_tools

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SCREENSHOTS = HERE / "screenshots"
# Records CSP violations, dialogs are caught by Playwright; flipgen events are logged for asserts.
INIT_SCRIPT = """
window.__csp = []; window.__events = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
for (const n of ['flipgen:step', 'flipgen:complete', 'flipgen:error'])
  document.addEventListener(n, e => window.__events.push({type: n, detail: e.detail}));
"""


@dataclass
class Env:
    project: Path
    dist: Path
    base: str  # static server origin
    token: str  # token endpoint URL (main server)
    short_token: str  # same endpoint, tokens valid a few seconds
    host: str  # another origin, for embed.js host pages; the only one in embed.allowed_origins
    host_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def stranger(self) -> str:
        """The host pages' server under an origin the project does not allow (localhost)."""
        return self.host.replace("127.0.0.1", "localhost")

    def url(self, slug: str, query: str = "") -> str:
        return f"{self.base}/{slug}/" + (f"?{query}" if query else "")


SHORT_TTL = 4.0
TOKEN_RUNNER = """
import sys, uvicorn
from flipgen.token import create_app
app = create_app(sys.argv[1], sandbox=True, rate_limit=0, token_ttl=float(sys.argv[3]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from flipgen.build import build

    root = tmp_path_factory.mktemp("browser")
    project, dist, host_dir = root / "project", root / "dist", root / "host"
    shutil.copytree(REPO / "sites", project / "sites")
    # acme-income behind a bot check (test_turnstile.py), with Cloudflare's always-pass test key.
    guarded = (REPO / "sites" / "acme-income.yaml").read_text(encoding="utf-8")
    guarded += "\nbot_protection: {provider: turnstile, site_key: 1x00000000000000000000AA}\n"
    (project / "sites" / "acme-guarded.yaml").write_text(guarded, encoding="utf-8")
    host_dir.mkdir()
    static_port, token_port, short_port, host_port = free_port(), free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{static_port}"
    token = f"http://127.0.0.1:{token_port}/api/link-token"
    host = f"http://127.0.0.1:{host_port}"
    (project / "flipgen.yaml").write_text(
        f'token_endpoint: {token}\nallowed_origins: ["{base}"]\nembed:\n  allowed_origins: ["{host}"]\n',
        encoding="utf-8",
    )
    build(project, output=dist, sandbox=True)
    e = Env(
        project,
        dist,
        base,
        token,
        f"http://127.0.0.1:{short_port}/api/link-token",
        host,
        host_dir,
    )
    py = sys.executable
    flipgen_cli = [py, "-c", "from flipgen.cli import main; main()"]
    # Both token servers sign application handles with one key, as a production fleet does.
    env = {**os.environ, "FLIPGEN_SECRET_KEY": "browser-tests-" + "k" * 32}
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": REPO, "env": env}
    starts = [
        (static_port, [py, "-m", "http.server", str(static_port), "--bind", "127.0.0.1", "--directory", str(dist)]),
        (host_port, [py, "-m", "http.server", str(host_port), "--bind", "127.0.0.1", "--directory", str(host_dir)]),
        (
            token_port,
            [
                *flipgen_cli,
                "token-server",
                str(project),
                "--sandbox",
                "--port",
                str(token_port),
                "--rate-limit",
                "0",
                "-q",
            ],
        ),
        (short_port, [py, "-c", TOKEN_RUNNER, str(project), str(short_port), str(SHORT_TTL)]),
    ]
    try:
        for port, cmd in starts:
            proc = subprocess.Popen(cmd, **quiet)
            e.procs.append(proc)
            wait_for_port(port, proc)
        yield e
    finally:
        for proc in e.procs:
            proc.terminate()
        for proc in e.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core at the version package-lock.json pins; never loaded from a CDN."""
    return node_tools() / "axe-core" / "axe.min.js"


class Tab:
    """A page plus what it recorded: console errors, page errors, dialogs, token requests."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.token_bodies: list[dict[str, Any]] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("request", self._request)

    def _console(self, msg: ConsoleMessage) -> None:
        # Failing network requests are provoked on purpose by some tests; scripts must not fail.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.errors.append(msg.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        if "/api/link-token" in request.url and request.method == "POST":
            self.token_bodies.append({"url": request.url, "body": json.loads(request.post_data or "{}")})

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.page.evaluate("window.__events") if e["type"] == kind]

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp"))


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    # param: viewport width, or (width, bypass_csp) for tests that inject axe-core.
    width, bypass = (lambda p: p if isinstance(p, tuple) else (p, False))(getattr(request, "param", 1280))
    context = browser.new_context(viewport={"width": width, "height": 900}, reduced_motion="reduce", bypass_csp=bypass)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page)
    yield t
    try:
        assert not t.errors, f"JavaScript errors: {t.errors}"
        assert not t.dialogs, f"unexpected dialogs: {t.dialogs}"
    finally:
        context.close()
