"""The whole XSS corpus (tests/fixtures/xss.json) in a running page: placed in the YAML's text
keys, passed in the query string and typed into answers. Nothing may run: no dialog (the `tab`
fixture fails on any), no script error, no CSP violation (which would mean markup got in)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import yaml
from conftest import Tab
from playwright.sync_api import Route, expect

from flipgen.build import build
from flipgen.markdown import unsafe_links
from tests.conftest import free_port, wait_for_port
from tests.support.xss import PAYLOADS, xss_site

TEXT = " ".join(PAYLOADS)
# Markdown keys refuse javascript:/data: links at check time; the rest go in.
MARKDOWN = " ".join(p for p in PAYLOADS if not unsafe_links(p))


@pytest.fixture(scope="module")
def xss_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("xss")
    (root / "project" / "sites").mkdir(parents=True)
    site = xss_site(TEXT, MARKDOWN, options=PAYLOADS)
    (root / "project" / "sites" / "xss.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    build(root / "project", output=root / "dist", sandbox=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root / "dist")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}/xss/"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def fake_applications(route: Route) -> None:
    """The page is served without a token server: answer its application calls (stored nowhere)."""
    path = route.request.url.split("?")[0]
    body = {"handle": "xss.handle", "status": "started"} if path.endswith("/api/applications") else {"status": "ok"}
    route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


def test_corpus_in_yaml_query_and_answers_never_runs(tab: Tab, xss_url: str) -> None:
    page = tab.page
    page.route(re.compile(r".*/api/applications.*"), fake_applications)
    page.goto(xss_url + "?ref=" + quote(TEXT, safe=""))
    # Text keys arrive as text: the heading's text is the payload string itself.
    assert page.locator("#h-one").evaluate("el => el.textContent") == TEXT
    # document.title strips and collapses ASCII white space only (not U+2028/U+2029).
    assert page.evaluate("document.title") == re.sub(r"[\t\n\f\r ]+", " ", TEXT).strip("\t\n\f\r ")
    # The query parameter is shown through its ${ref} span as text, not markup.
    assert page.locator("#s-one [data-flip-var=ref]").first.evaluate("el => el.textContent") == TEXT
    # Type every payload into the answers, one after another, and pick payload options.
    for payload in PAYLOADS:
        page.fill("#f-a", payload)
        page.fill("#f-f", payload)
    page.fill("#f-a", TEXT)
    page.select_option("#f-b", PAYLOADS[0])
    page.locator("#s-one input[name=c]").first.check()
    page.locator("#s-one input[name=d]").nth(1).check()
    page.locator("#s-one form [type=submit]").click()
    expect(page.locator("#s-two")).to_be_visible()
    page.locator("#s-two [data-flip-skip]").click()
    expect(page.locator("#s-end")).to_be_visible()
    spans = page.locator("#s-end [data-flip-var=a]")
    assert spans.count() == 2
    assert all(t == TEXT for t in spans.evaluate_all("els => els.map(e => e.textContent)"))
    # Nothing but our own markup: the interpolations added no elements.
    assert page.locator("#s-end [data-flip-var=a] *").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src]):not([type=\"application/json\"])').length") == 0
    assert tab.csp_violations() == []
