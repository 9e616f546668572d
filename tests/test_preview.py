"""`flipgen serve`: real server subprocesses on 127.0.0.1, SSE, and headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from flipgen.build import MANIFEST_NAME
from flipgen.preview.app import inject, safe_relpath
from flipgen.preview.watcher import ignored_name
from tests.support.serve import (
    FLIPGEN,
    REPO,
    EventStream,
    Server,
    copy_project,
    files_under,
    line_of,
    save,
)

ACME = "acme-income"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "proj")


@pytest.fixture()
def server(project: Path) -> Iterator[Server]:
    srv = Server(project)
    try:
        yield srv
    finally:
        code = srv.stop()
        assert "Traceback" not in srv.output, srv.output
        assert code in (0, 130), srv.output


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def site_file(project: Path, slug: str = ACME) -> Path:
    return project / "sites" / f"{slug}.yaml"


def retitle(project: Path, new_title: str, slug: str = ACME) -> None:
    path = site_file(project, slug)
    text = path.read_text(encoding="utf-8")
    save(path, re.sub(r"(?m)^title: .*$", f"title: {new_title}", text, count=1))


# --------------------------------------------------------------------------- serving


def test_index_lists_sites_and_pages_get_the_client_script(server: Server) -> None:
    status, headers, body = server.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    for slug in (ACME, "brightpath-onboarding", "harbor-tenant-screening"):
        assert f'href="/{slug}/"'.encode() in body
    status, _, body = server.get(f"/{ACME}/")
    assert status == 200
    assert re.search(rb'<script src="/_flipgen/livereload\.js"[^>]*defer></script>\s*</body>', body)
    status, headers, _ = server.get(f"/{ACME}")
    assert status == 301 and headers["location"] == f"/{ACME}/"
    status, headers, js = server.get("/_flipgen/livereload.js")
    assert status == 200 and "javascript" in headers["content-type"] and b"EventSource" in js
    assert server.get("/_flipgen/overlay.css")[0] == 200
    assert server.get("/nope/")[0] == 404


def test_token_endpoint_on_the_same_origin_uses_the_emulator(server: Server) -> None:
    body = json.dumps({"site": ACME, "metadata": {"ref": "abc"}}).encode()
    status, _, answer = server.request(
        "POST",
        "/api/link-token",
        body,
        {"Content-Type": "application/json", "Origin": server.base, "Host": f"127.0.0.1:{server.port}"},
    )
    assert status == 200, answer
    token = json.loads(answer)
    assert token["mode"] == "SANDBOX" and token["userToken"] and token["handle"] and "userId" not in token
    status, _, answer = server.request(
        "POST",
        "/api/link-token/refresh",
        json.dumps({"site": ACME, "handle": token["handle"]}).encode(),
        {"Content-Type": "application/json", "Origin": server.base},
    )
    assert status == 200 and json.loads(answer)["handle"] == token["handle"]
    status, _, answer = server.get("/healthz")
    assert status == 200 and json.loads(answer)["upstream"] == "emulator"


def test_token_endpoint_knows_a_site_added_while_serving(project: Path, server: Server) -> None:
    text = site_file(project).read_text(encoding="utf-8").replace(f"slug: {ACME}", "")
    mark = server.mark()
    (project / "sites" / "acme-copy.yaml").write_text(text, encoding="utf-8")
    server.wait_for(r"^rebuilt acme-copy in \d+ ms", after=mark)
    status, _, answer = server.request(
        "POST", "/api/link-token", json.dumps({"site": "acme-copy"}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, answer


@pytest.mark.parametrize(
    "path",
    [
        "/../.env",
        "/%2e%2e/.env",
        "/%2E%2E/%2e%2e/etc/passwd",
        f"/{ACME}/..%2f..%2f.env",
        f"/{ACME}/%2e%2e/%2e%2e/.env",
        "/..\\.env",
        f"/{ACME}\\..\\..\\.env",
        "/%5c..%5c.env",
        f"/{ACME}/index.html%00",
        "/%00",
        "//etc/passwd",
        "/./.env",
        "/sites/acme-income.yaml",
        "/.env",
        "/flipgen.yaml",
        "/etc/passwd",
    ],
)
def test_paths_outside_the_build_are_refused(project: Path, server: Server, path: str) -> None:
    (project / ".env").write_text("SMILE_API_SECRET=do-not-serve-me\n", encoding="utf-8")
    status, _, body = server.request("GET", path)
    assert status in (400, 404), (path, status)
    assert b"do-not-serve-me" not in body and b"root:" not in body and b"screens:" not in body


def test_unit_path_checks_and_editor_droppings() -> None:
    def rel(path: str, raw: bytes | None = None) -> str | None:
        return safe_relpath({"path": path, "raw_path": raw if raw is not None else path.encode()})

    assert rel("/") == "" and rel("/a/") == "a/" and rel("/a/b.css") == "a/b.css"
    assert rel("/../x") is None and rel("/a/../x", b"/a/%2e%2e/x") is None
    assert rel("/a\\b") is None and rel("/a/b", b"/a%5cb") is None and rel("/a\x00") is None
    for name in ("acme.yaml.swp", ".acme.yaml.swx", "acme.yaml~", ".#acme.yaml", "4913", "#acme.yaml#"):
        assert ignored_name(name), name
    assert not ignored_name("acme.yaml") and not ignored_name("logo.svg")
    assert inject(b"<p>x</p></BODY></html>", "v1", "s").startswith(b'<p>x</p><script src="/_flipgen/livereload.js"')


# --------------------------------------------------------------------------- rebuilding


def test_an_edit_sends_an_sse_event_for_that_site_only(project: Path, server: Server) -> None:
    stream = EventStream(server.port)
    try:
        hello = stream.next("hello").data
        mark = server.mark()
        retitle(project, "Edited over SSE")
        event = stream.next("build").data
        assert event["errors"] == []
        assert event["versions"][ACME] != hello["versions"][ACME]
        others = [s for s in hello["versions"] if s != ACME]
        assert all(event["versions"][s] == hello["versions"][s] for s in others)
        server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
        assert b"Edited over SSE" in server.get(f"/{ACME}/")[2]
    finally:
        stream.close()


def test_a_theme_edit_rebuilds_all_sites_a_site_edit_only_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "proj")
    theme = project / "site_templates" / "default"
    theme.mkdir(parents=True)
    shutil.copy(REPO / "site_templates" / "default" / "page.html", theme / "page.html")
    with Server(project) as server:
        mark = server.mark()
        retitle(project, "Only this one")
        server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
        assert server.count(r"^rebuilt all", after=mark) == 0

        mark = server.mark()
        text = (theme / "page.html").read_text(encoding="utf-8")
        save(theme / "page.html", text.replace("<body>", "<body>\n<p>theme-marker</p>", 1))
        server.wait_for(r"^rebuilt all 3 sites in \d+ ms \(site_templates/default/page\.html changed\)$", after=mark)
        for slug in (ACME, "brightpath-onboarding", "harbor-tenant-screening"):
            assert b"theme-marker" in server.get(f"/{slug}/")[2]

        mark = server.mark()
        config = project / "flipgen.yaml"
        config.write_text("token_endpoint: /api/link-token\n", encoding="utf-8")
        server.wait_for(r"^rebuilt all 3 sites in \d+ ms \(flipgen\.yaml changed\)", after=mark)
    assert "Traceback" not in server.output


def test_an_asset_edit_rebuilds_its_site(project: Path, server: Server) -> None:
    logo = project / "sites" / ACME / "logo.svg"
    mark = server.mark()
    logo.write_text(logo.read_text(encoding="utf-8").replace("</svg>", "<!-- edited --></svg>"), encoding="utf-8")
    server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
    page_html = server.get(f"/{ACME}/")[2].decode()
    src = re.search(r'src="(assets/logo\.[0-9a-f]+\.svg)"', page_html)
    assert src and b"edited" in server.get(f"/{ACME}/{src.group(1)}")[2]


def test_an_overlay_edit_rebuilds_the_site_it_translates(project: Path, server: Server) -> None:
    assert b"Tentang Anda" in server.get(f"/{ACME}/id/")[2]
    overlay = project / "sites" / f"{ACME}.id.yaml"
    mark = server.mark()
    save(overlay, overlay.read_text(encoding="utf-8").replace("title: Tentang Anda", "title: Tentang Anda (baru)"))
    server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
    assert b"Tentang Anda (baru)" in server.get(f"/{ACME}/id/")[2]
    mark = server.mark()
    save(project / "sites" / f"{ACME}.ms.yaml", "title: Sahkan pendapatan anda\n")  # a new overlay, not listed
    server.wait_for(rf"^rebuilt {ACME} in \d+ ms", after=mark)
    assert "acme-income.ms.yaml:1:1" in server.output and "not published" in server.output


def test_rename_on_save_and_editor_droppings_make_exactly_one_rebuild(project: Path, server: Server) -> None:
    path = site_file(project)
    sites = project / "sites"
    mark = server.mark()
    # Like vim: probe file, swap file, write aside, rename over, clean up.
    (sites / "4913").write_text("", encoding="utf-8")
    (sites / "4913").unlink()
    (sites / f".{ACME}.yaml.swp").write_bytes(b"\0swap")
    save(path, path.read_text(encoding="utf-8").replace("title: Verify", "title: Saved once, Verify", 1))
    (sites / f".{ACME}.yaml.swp").unlink()
    server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
    time.sleep(1.5)  # anything late would show up as a second line
    assert server.count(r"^rebuilt ", after=mark) == 1, server.output


def test_a_file_that_briefly_vanishes_keeps_its_site(project: Path, server: Server) -> None:
    path = site_file(project)
    text = path.read_text(encoding="utf-8")
    mark = server.mark()
    path.unlink()
    time.sleep(0.06)  # longer than the debounce: the rebuild sees the file missing
    path.write_text(text.replace("title: Verify", "title: Came back, Verify", 1), encoding="utf-8")
    server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
    time.sleep(1.0)
    assert server.count(r"removed", after=mark) == 0, server.output
    status, _, body = server.get(f"/{ACME}/")
    assert status == 200 and b"Came back" in body


def test_a_broken_project_at_startup_still_serves(project: Path) -> None:
    path = site_file(project)
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("title:", "titel:", 1), encoding="utf-8")
    line = line_of(good, "title:")
    with Server(project) as server:
        server.wait_for(rf"sites/{ACME}\.yaml:{line}:1: error: unknown key `titel`")
        assert server.get("/")[0] == 200
        errors = json.loads(server.get("/_flipgen/errors")[2])["errors"]
        assert any(
            e["file"] == f"sites/{ACME}.yaml" and e["line"] == line and e["source"].startswith("titel:") for e in errors
        )
        assert server.get(f"/{ACME}/")[0] == 404 and server.get("/brightpath-onboarding/")[0] == 200
        mark = server.mark()
        save(path, good)
        server.wait_for(rf"^rebuilt {ACME} in \d+ ms$", after=mark)
        assert server.get(f"/{ACME}/")[0] == 200
        assert json.loads(server.get("/_flipgen/errors")[2])["errors"] == []


def test_port_in_use_is_a_clear_error(project: Path, server: Server) -> None:
    result = subprocess.run(
        [*FLIPGEN, "serve", str(project), "--port", str(server.port)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"port {server.port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert server.get("/")[0] == 200


def test_ctrl_c_with_open_streams_exits_cleanly(project: Path) -> None:
    server = Server(project)
    stream = EventStream(server.port)
    stream.next("hello")
    started = time.monotonic()
    code = server.stop()
    stream.close()
    assert code in (0, 130) and "Traceback" not in server.output, server.output
    assert time.monotonic() - started < 15


# --------------------------------------------------------------------------- build output stays clean


def test_emulator_served_here_and_dev_files_never_in_build_output(
    project: Path, server: Server, tmp_path: Path
) -> None:
    page_html = server.get(f"/{ACME}/")[2].decode()
    emulator = re.search(r'src="\.\./(assets/smile-emulator\.[0-9a-f]+\.js)"', page_html)
    assert emulator, "the sandbox page loads the emulator script"
    status, headers, js = server.get("/" + emulator.group(1))
    assert status == 200 and "javascript" in headers["content-type"] and b"SmileLinkModal" in js

    for extra in ([], ["--sandbox"]):
        out = tmp_path / f"out{len(extra)}"
        subprocess.run(
            [*FLIPGEN, "build", str(project), "-o", str(out), *extra], check=True, capture_output=True, timeout=120
        )
        for file in files_under(out):
            data = file.read_bytes()
            assert b"livereload" not in data and b"_flipgen" not in data, file
            if not extra:
                assert b"smile-emulator" not in data and "smile-emulator" not in file.name, file


# --------------------------------------------------------------------------- in the browser


def test_the_page_reloads_itself_after_an_edit(project: Path, server: Server, page: Page) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.base}/{ACME}/")
    expect(page).to_have_title(re.compile("Acme"))
    page.evaluate("window.__notReloaded = true")
    retitle(project, "Reloaded by itself")
    expect(page).to_have_title("Reloaded by itself", timeout=20_000)
    assert page.evaluate("window.__notReloaded === undefined")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_overlay_shows_the_error_position_and_clears_on_fix(
    project: Path, server: Server, page: Page, browser: Browser
) -> None:
    path = site_file(project)
    good = path.read_text(encoding="utf-8")
    line = line_of(good, "title:")
    page.goto(f"{server.base}/{ACME}/")
    index = browser.new_page()
    index.goto(f"{server.base}/")
    other = browser.new_page()
    other.goto(f"{server.base}/brightpath-onboarding/")
    expect(page.locator("#flipgen-overlay")).to_have_count(0)

    save(path, good.replace("title:", "titel:", 1))
    for pg in (page, index, other):
        overlay = pg.locator("#flipgen-overlay")
        expect(overlay.get_by_text(f"sites/{ACME}.yaml:{line}:1").first).to_be_visible(timeout=20_000)
        expect(overlay.get_by_text("unknown key `titel`").first).to_be_visible()
        source = overlay.locator("pre").first
        expect(source).to_contain_text(f"{line} | titel:")
        expect(source).to_contain_text("^")
    assert server.get("/")[0] == 200, "the server keeps running"

    page.evaluate("window.__notReloaded = true")
    save(path, good.replace("title: Verify", "title: Fixed, Verify", 1))
    expect(page).to_have_title(re.compile("^Fixed, "), timeout=20_000)
    assert page.evaluate("window.__notReloaded === undefined")
    for pg in (page, index, other):
        expect(pg.locator("#flipgen-overlay")).to_have_count(0, timeout=20_000)
    index.close()
    other.close()


def test_overlay_shows_file_content_as_text_never_html(project: Path, server: Server, page: Page) -> None:
    path = site_file(project)
    good = path.read_text(encoding="utf-8")
    page.goto(f"{server.base}/{ACME}/")
    save(path, good.replace("title:", "<img src=x onerror=window.__pwned=1>:", 1))
    overlay = page.locator("#flipgen-overlay")
    expect(overlay.locator("pre").first).to_contain_text("<img src=x", timeout=20_000)
    assert page.evaluate("window.__pwned === undefined")
    expect(overlay.locator("img")).to_have_count(0)


def test_reconnects_and_reloads_after_a_server_restart(project: Path, page: Page) -> None:
    first = Server(project)
    try:
        page.goto(f"{first.base}/{ACME}/")
        expect(page).to_have_title(re.compile("Acme"))
        page.evaluate("window.__notReloaded = true")
        port = first.port
    finally:
        first.stop()
    retitle(project, "After restart")
    second = Server(project, "--port", str(port))  # the later --port wins over --port 0
    try:
        assert second.port == port
        expect(page).to_have_title("After restart", timeout=20_000)
        assert page.evaluate("window.__notReloaded === undefined")
    finally:
        second.stop()


def test_the_journey_mints_a_token_through_the_same_origin(server: Server, page: Page) -> None:
    page.goto(f"{server.base}/{ACME}/")
    result = page.evaluate("""async () => {
        const r = await fetch('/api/link-token', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                  body: JSON.stringify({site: 'acme-income'})});
        return {status: r.status, body: await r.json()};
    }""")
    assert result["status"] == 200 and result["body"]["mode"] == "SANDBOX"


def test_no_livereload_still_shows_errors(project: Path, page: Page) -> None:
    path = site_file(project)
    path.write_text(path.read_text(encoding="utf-8").replace("title:", "titel:", 1), encoding="utf-8")
    with Server(project, "--no-livereload") as server:
        page.goto(f"{server.base}/brightpath-onboarding/")
        expect(page.locator("#flipgen-overlay").get_by_text("unknown key `titel`").first).to_be_visible(timeout=20_000)
        assert server.get("/_flipgen/livereload")[0] == 404


def test_builds_in_a_temporary_folder_removed_on_exit(project: Path) -> None:
    with Server(project) as server:
        index = server.get("/")[2].decode()
        folder = Path(re.search(r"Build written to <code>([^<]+)</code>", index).group(1))
        assert (folder / MANIFEST_NAME).is_file() and (folder / ACME / "index.html").is_file()
        assert b"livereload" not in (folder / ACME / "index.html").read_bytes()
    assert not folder.exists() and not (project / "dist").exists()


# --------------------------------------------------------------------------- issue 12: DNS rebinding


def test_a_foreign_host_header_is_refused_with_421(server: Server) -> None:
    import httpx

    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"[::1]:{server.port}"):
        answer = httpx.get(server.base + "/", headers={"host": host})
        assert answer.status_code == 200, host
    # A page on a rebinding domain reaches 127.0.0.1 with its own name in Host.
    for host in (f"evil.example:{server.port}", "evil.example", f"127.0.0.1:{server.port + 1}"):
        for method, path in (("GET", "/"), ("POST", "/api/link-token")):
            answer = httpx.request(method, server.base + path, headers={"host": host}, json={"site": ACME})
            assert answer.status_code == 421, (host, path)
            assert "DNS rebinding" in answer.text


def test_live_mode_keeps_a_rate_limit(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from tests.support.fake_smile import FakeSmile

    with FakeSmile() as fake:
        monkeypatch.setenv("SMILE_API_KEY", fake.key)
        monkeypatch.setenv("SMILE_API_SECRET", fake.secret)
        monkeypatch.setenv("SMILE_API_HOST", fake.url)
        srv = Server(project, "--live")
        try:
            codes = [httpx.post(srv.base + "/api/link-token", json={"site": ACME}).status_code for _ in range(40)]
        finally:
            srv.stop()
    # 30 a minute with bursts of 30 (a little refills while the 40 requests run).
    assert codes[:30] == [200] * 30 and codes[-1] == 429 and codes.count(200) < 34
    assert len(fake.users) == codes.count(200)
