"""`flipgen build`: layout, determinism, atomicity, overrides, CSP, manifest, secrets, XSS."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from click.testing import CliRunner

from flipgen import build as build_mod
from flipgen import checks as checks_mod
from flipgen.build import build
from flipgen.cli import main
from flipgen.errors import CheckFailed, UserError
from tests.support.xss import PAYLOADS as XSS
from tests.support.xss import xss_site as support_xss_site

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "sites", root / "sites")
    return root


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def page(out: Path, slug: str) -> BeautifulSoup:
    return BeautifulSoup((out / slug / "index.html").read_text(encoding="utf-8"), "html5lib")


def journey(soup: BeautifulSoup) -> dict:
    blocks = soup.find_all("script", attrs={"type": "application/json", "id": "flip-journey"})
    assert len(blocks) == 1
    return json.loads(blocks[0].string)


def test_layout(project: Path) -> None:
    result = build(project, base_url="https://apply.example.com/")
    out = project / "dist"
    files = set(snapshot(out))
    assert result.site_count == 3 and result.file_count == len(files)
    for slug in ("acme-income", "brightpath-onboarding", "harbor-tenant-screening"):
        assert {f"{slug}/index.html", f"{slug}/embed.js", f"{slug}/qr.svg"} <= files
        assert any(re.fullmatch(rf"{slug}/assets/theme\.[0-9a-f]{{10}}\.css", f) for f in files)
    assert any(re.fullmatch(r"assets/flip\.[0-9a-f]{10}\.js", f) for f in files)
    assert any(re.fullmatch(r"assets/flip\.[0-9a-f]{10}\.css", f) for f in files)
    assert {"flipgen-manifest.json", "_headers", "robots.txt", "sitemap.xml"} <= files
    # Assets keep their extension and carry their content hash.
    logo = next(f for f in files if f.startswith("acme-income/assets/logo."))
    data = (out / logo).read_bytes()
    assert data == (project / "sites" / "acme-income" / "logo.svg").read_bytes()
    assert hashlib.sha256(data).hexdigest()[:10] in logo
    # Only harbor opts into indexing.
    sitemap = (out / "sitemap.xml").read_text()
    assert "https://apply.example.com/harbor-tenant-screening/" in sitemap
    assert "acme-income" not in sitemap
    robots = (out / "robots.txt").read_text()
    assert "Disallow: /acme-income/" in robots and "Disallow: /harbor-tenant-screening/" not in robots
    assert "Sitemap: https://apply.example.com/sitemap.xml" in robots
    qr = (out / "acme-income" / "qr.svg").read_text()
    assert qr.lstrip().startswith("<svg") and "<script" not in qr


def test_deterministic(project: Path, tmp_path: Path) -> None:
    build(project, output=tmp_path / "a", base_url="https://x.example")
    os.utime(project / "sites" / "acme-income.yaml")  # a touched file must not change output
    build(project, output=tmp_path / "b", base_url="https://x.example", jobs=1)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_parallel_and_serial_agree(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        text = (
            (project / "sites" / "acme-income.yaml")
            .read_text()
            .replace("acme-income/logo.svg", "../sites/acme-income/logo.svg")
        )
        (project / "sites" / f"copy-{i}.yaml").write_text(text)
    monkeypatch.setattr(checks_mod, "PARALLEL_THRESHOLD", 2)
    build(project, output=tmp_path / "par", jobs=2)
    build(project, output=tmp_path / "ser", jobs=1)
    assert snapshot(tmp_path / "par") == snapshot(tmp_path / "ser")
    # acme-income and its copies (en, id, fil) and harbor (en, es-419, ar) have a page per language.
    assert len([f for f in snapshot(tmp_path / "par") if f.endswith("/index.html")]) == 7 * 3 + 1 + 3


def test_failed_check_leaves_previous_output(project: Path) -> None:
    build(project)
    before = snapshot(project / "dist")
    site = project / "sites" / "acme-income.yaml"
    site.write_text(site.read_text().replace("goto: connect-gig", "goto: connect-gigg"))
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(project)])
    assert result.exit_code == 1
    assert "did you mean `connect-gig`" in result.output
    assert "previous output was left untouched" in result.output
    assert snapshot(project / "dist") == before


def test_failure_mid_write_leaves_previous_output(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(project)
    before = snapshot(project / "dist")
    (project / "sites" / "acme-income.yaml").write_text(
        (project / "sites" / "acme-income.yaml").read_text().replace("About you", "About you, changed")
    )
    written = 0
    real = Path.write_bytes

    def flaky(self: Path, data: bytes) -> int:
        nonlocal written
        written += 1
        if written == 5:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError):
        build(project)
    monkeypatch.setattr(Path, "write_bytes", real)
    assert written == 5
    assert snapshot(project / "dist") == before
    leftovers = [p.name for p in project.iterdir() if p.name.startswith(".dist.")]
    assert leftovers == []


def test_failure_while_rendering_leaves_previous_output(project: Path) -> None:
    build(project)
    before = snapshot(project / "dist")
    override = project / "site_templates" / "default" / "screens"
    override.mkdir(parents=True)
    (override / "end.html").write_text("<section>{{ no_such_variable }}</section>")
    result = CliRunner().invoke(main, ["build", str(project)])
    assert result.exit_code == 1
    assert "no_such_variable" in result.output and "Traceback" not in result.output
    assert snapshot(project / "dist") == before


def test_interrupted_swap_is_recovered(project: Path) -> None:
    build(project)
    before = snapshot(project / "dist")
    # Simulate a crash between the two renames: the old output parked, no dist/.
    os.replace(project / "dist", project / ".dist.old-crash")
    build_mod._recover(project / "dist")
    assert snapshot(project / "dist") == before


def test_override_one_partial(project: Path) -> None:
    fields = project / "site_templates" / "default" / "fields"
    fields.mkdir(parents=True)
    (fields / "email.html").write_text(
        '<div class="my-email" data-field="{{ field.id }}"><label for="f-{{ field.id }}">{{ field.label | text }}</label>'
        '<input id="f-{{ field.id }}" name="{{ field.id }}" type="email"></div>\n'
    )
    build(project)
    soup = page(project / "dist", "acme-income")
    assert soup.select_one('.my-email[data-field="email"]') is not None
    # Every other partial still comes from the built-in theme.
    assert soup.select_one('input[name="full_name"]') is not None
    assert soup.select_one('.my-email input[name="full_name"]') is None
    assert len(soup.find_all("section")) == 5


def test_semantic_html(project: Path) -> None:
    build(project)
    soup = page(project / "dist", "acme-income")
    sections = soup.find_all("section")
    assert len(sections) == 5 and all(s.find("form") for s in sections[:4])
    for inp in soup.select("form input:not([type=hidden]), form select, form textarea"):
        if inp.get("type") in ("radio", "checkbox") and inp.find_parent("fieldset"):
            assert soup.find("label", attrs={"for": inp["id"]}) or inp.find_parent("label")
            continue
        assert soup.find("label", attrs={"for": inp.get("id")}) is not None, inp
    radio_group = soup.select_one('fieldset:has(input[name="work_type"])')
    assert radio_group is not None and radio_group.find("legend") is not None
    assert soup.select_one('input[name="email"]')["autocomplete"] == "email"
    assert soup.select_one('input[name="full_name"]').has_attr("required")
    assert soup.find("noscript") is not None
    assert soup.html["lang"] == "en"


def test_csp_and_headers(project: Path) -> None:
    (project / "flipgen.yaml").write_text(
        "token_endpoint: https://tokens.acme.example/api/link-token\n"
        "allowed_origins: [https://www.acme.example]\n"
        "csp:\n  img-src: [https://cdn.acme.example]\n"
    )
    build(project)
    out = project / "dist"
    soup = page(out, "acme-income")
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["script-src"] == ["'self'", "https://web.smileapi.io"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "https://tokens.acme.example" in directives["connect-src"]
    assert "https://*.smileapi.io" in directives["frame-src"]
    assert "https://cdn.acme.example" in directives["img-src"]
    assert "frame-ancestors" not in directives  # ignored in <meta>; lives in _headers
    headers = (out / "_headers").read_text()
    # Framing is opt-in (embed.allowed_origins): nobody may frame these pages.
    assert f"/acme-income/*\n  Content-Security-Policy: {csp}; frame-ancestors 'none'" in headers
    # brightpath uses SDK v1.
    v1 = page(out, "brightpath-onboarding")
    assert v1.find("script", src="https://web.smileapi.io/v1/smile.v1.js") is not None
    # No inline script anywhere: every <script> has a src or is the JSON data block.
    for slug in ("acme-income", "brightpath-onboarding", "harbor-tenant-screening"):
        for script in page(out, slug).find_all("script"):
            assert script.get("src") or script.get("type") == "application/json"


def test_framing_and_messages_are_opt_in_per_origin(project: Path) -> None:
    (project / "flipgen.yaml").write_text(
        "embed:\n  allowed_origins: [https://www.acme.example, http://localhost:3000]\n", encoding="utf-8"
    )
    build(project)
    out = project / "dist"
    policies = [l for l in (out / "_headers").read_text().splitlines() if "Content-Security-Policy:" in l]
    assert len(policies) == 3
    for policy in policies:
        assert policy.endswith("; frame-ancestors https://www.acme.example http://localhost:3000")
    manifest = json.loads((out / "flipgen-manifest.json").read_text())
    assert manifest["embed"] == {"allowed_origins": ["http://localhost:3000", "https://www.acme.example"]}
    journey = json.loads(page(out, "acme-income").find("script", id="flip-journey").string)
    assert journey["embed"] == {"allowed_origins": ["https://www.acme.example", "http://localhost:3000"]}


def test_without_embed_origins_the_journey_posts_to_nobody(project: Path) -> None:
    build(project)
    journey = json.loads(page(project / "dist", "acme-income").find("script", id="flip-journey").string)
    assert journey["embed"] == {"allowed_origins": []}


def test_embed_origins_must_be_origins(project: Path) -> None:
    (project / "flipgen.yaml").write_text("embed:\n  allowed_origins: [https://www.acme.example/page]\n")
    with pytest.raises(CheckFailed) as failed:
        build(project)
    (problem,) = failed.value.diagnostics
    assert problem.line == 2 and "`https://www.acme.example/page` is not a valid value" in problem.message


def test_frame_ancestors_can_be_narrowed(project: Path) -> None:
    (project / "flipgen.yaml").write_text("csp:\n  frame-ancestors: [https://www.acme.example]\n")
    build(project)
    headers = (project / "dist" / "_headers").read_text()
    policies = [l for l in headers.splitlines() if l.startswith("  Content-Security-Policy:")]
    assert len(policies) == 3
    for policy in policies:
        assert policy.count("frame-ancestors") == 1 and "frame-ancestors https://www.acme.example" in policy
    meta = page(project / "dist", "acme-income").find("meta", attrs={"http-equiv": "Content-Security-Policy"})[
        "content"
    ]
    assert "frame-ancestors" not in meta  # not allowed in <meta>


def test_sandbox_build_uses_emulator_and_normal_build_never_does(project: Path, tmp_path: Path) -> None:
    build(project, output=tmp_path / "sbx", sandbox=True)
    soup = page(tmp_path / "sbx", "acme-income")
    srcs = [s.get("src") for s in soup.find_all("script") if s.get("src")]
    assert any(re.search(r"assets/smile-emulator\.[0-9a-f]{10}\.js$", s) for s in srcs)
    assert not any("smileapi.io" in s for s in srcs)
    assert "sandbox" in soup.get_text().lower()
    build(project, output=tmp_path / "prod")
    for path in (tmp_path / "prod").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"smile-emulator" not in data and b"SmileEmulator" not in data, path
            assert b"livereload" not in data, path


def test_manifest(project: Path) -> None:
    (project / "flipgen.yaml").write_text("allowed_origins: [https://www.acme.example, https://acme.example]\n")
    build(project)
    manifest = json.loads((project / "dist" / "flipgen-manifest.json").read_text())
    assert manifest["token_endpoint"] == "/api/link-token"
    assert manifest["allowed_origins"] == ["https://acme.example", "https://www.acme.example"]
    acme = manifest["sites"]["acme-income"]
    assert acme["metadata_keys"] == ["email", "ref"]
    assert acme["wink"] == {
        "template_id": "wtpl-demo-acme-0001",
        "providers": [],
        "top_providers": ["upwork", "grab"],
        "enable_upload": True,
    }
    assert acme["screens"]["connect-gig"]["top_providers"] == ["upwork", "grab", "freelancer"]
    assert acme["screens"]["connect-payroll"]["top_providers"] == ["upwork", "grab"]
    assert set(manifest["sites"]) == {"acme-income", "brightpath-onboarding", "harbor-tenant-screening"}


def test_journey_block_matches_site(project: Path) -> None:
    build(project)
    data = journey(page(project / "dist", "acme-income"))
    source = yaml.safe_load((project / "sites" / "acme-income.yaml").read_text())
    assert data["site"] == "acme-income"
    assert [s["id"] for s in data["screens"]] == [s["id"] for s in source["screens"]]
    about = data["screens"][0]
    assert about["next"][0] == {"if": {"work_type": "gig"}, "goto": "connect-gig"}
    assert about["next"][-1] == {"if": None, "goto": "connect-payroll"}
    assert data["screens"][-1]["next"] == []
    assert [p["name"] for p in data["params"]] == ["ref", "campaign"]


def test_secrets_never_in_output(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, secret = "key-9f8e7d6c5b4a-unique", "secret-0a1b2c3d4e5f-unique"
    monkeypatch.setenv("SMILE_API_KEY", key)
    monkeypatch.setenv("SMILE_API_SECRET", secret)
    (project / ".env").write_text(f"API_KEY={key}-dotenv\nAPI_SECRET={secret}-dotenv\n")
    result = CliRunner().invoke(main, ["build", str(project), "--base-url", "https://x.example", "-v"])
    assert result.exit_code == 0, result.output
    assert key not in result.output and secret not in result.output
    for path in (project / "dist").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert key.encode() not in data and secret.encode() not in data, path


def test_missing_asset_is_positioned(project: Path) -> None:
    site = project / "sites" / "acme-income.yaml"
    site.write_text(site.read_text().replace("acme-income/logo.svg", "acme-income/logo.png"))
    with pytest.raises(CheckFailed) as info:
        build(project)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    assert len(errors) == 1
    assert (errors[0].line, errors[0].col) == (9, 9) and "logo.png" in errors[0].message


def test_site_option_keeps_other_sites(project: Path) -> None:
    build(project)
    before = snapshot(project / "dist")
    site = project / "sites" / "acme-income.yaml"
    site.write_text(site.read_text().replace("title: About you", "title: About yourself"))
    result = build(project, sites=["acme-income"])
    after = snapshot(project / "dist")
    assert result.site_count == 3
    changed = {f for f in after if before.get(f) != after[f]}
    assert "acme-income/index.html" in changed
    assert not any(f.startswith(("brightpath-onboarding/", "harbor-tenant-screening/")) for f in changed)
    manifest = json.loads((project / "dist" / "flipgen-manifest.json").read_text())
    assert len(manifest["sites"]) == 3
    with pytest.raises(CheckFailed) as info:
        build(project, sites=["acme-incme"])
    assert "no site `acme-incme`" in str([d.message for d in info.value.diagnostics])


def test_output_may_not_replace_the_project(project: Path) -> None:
    with pytest.raises(UserError):
        build(project, output=project)
    with pytest.raises(UserError):
        build(project, output=project / "sites")


def test_no_third_party_requests_but_the_sdk(project: Path) -> None:
    build(project)
    for slug in ("acme-income", "brightpath-onboarding", "harbor-tenant-screening"):
        soup = page(project / "dist", slug)
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            for el in soup.find_all(tag):
                url = el.get(attr)
                if url and el.get("rel") != ["canonical"]:
                    assert not url.startswith(("http:", "https:", "//")) or "web.smileapi.io" in url, (slug, url)


def test_page_weight_is_small(project: Path) -> None:
    """SPEC §4.2 "Light": the page's own HTML + CSS + JS, gzip -9 (the benchmark prints it too)."""
    build(project)
    out = project / "dist"
    soup = page(out, "acme-income")
    total = len(gzip.compress((out / "acme-income" / "index.html").read_bytes(), 9))
    for el in soup.find_all(["script", "link"]):
        url = el.get("src") or (el.get("href") if el.get("rel") == ["stylesheet"] else None)
        if url and not url.startswith("http"):
            total += len(gzip.compress((out / "acme-income" / url).resolve().read_bytes(), 9))
    assert total <= 14 * 1024, total


# --------------------------------------------------------------------------- XSS corpus


def xss_site(payload: str, *, safe_for_markdown: bool) -> dict:
    return support_xss_site(payload, payload if safe_for_markdown else "Plain intro")


@pytest.mark.parametrize("index", range(len(XSS)), ids=[f"xss{i}" for i in range(len(XSS))])
def test_xss_payload_is_inert(tmp_path: Path, index: int) -> None:
    from flipgen.markdown import unsafe_links

    payload = XSS[index]
    safe_md = not unsafe_links(payload)
    root = tmp_path / "p"
    (root / "sites").mkdir(parents=True)
    site = xss_site(payload, safe_for_markdown=safe_md)
    (root / "sites" / "xss.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    build(root)
    html = (root / "dist" / "xss" / "index.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html5lib")
    scripts = soup.find_all("script")
    ours = [s for s in scripts if s.get("src")]
    assert [s["src"] for s in ours][0].startswith("../assets/flip.")
    assert all(
        s["src"].startswith("../assets/flip.") or s["src"] == "https://web.smileapi.io/v2/smile.v2.js" for s in ours
    )
    data_blocks = [s for s in scripts if s.get("type") == "application/json"]
    assert len(scripts) == len(ours) + len(data_blocks)  # nothing else: no inline code
    for block in data_blocks:
        json.loads(block.string)  # data, and well-formed
    for el in soup.find_all(True):
        for attr, value in el.attrs.items():
            assert not attr.lower().startswith("on"), (el.name, attr)
            if attr in ("href", "src", "action", "formaction", "data"):
                assert not re.match(r"\s*(javascript|data|vbscript):", str(value), re.I), (el.name, value)
    assert not soup.find_all(
        ["iframe", "object", "embed", "base", "style", "svg", "math", "form"], recursive=True
    ) or all(
        f.name == "form" and not f.get("action")
        for f in soup.find_all(["iframe", "object", "embed", "base", "style", "svg", "math", "form"])
    )
    refresh = soup.find_all("meta", attrs={"http-equiv": re.compile("refresh", re.I)})
    assert refresh == []
    # The data block round-trips exactly: the payload comes back as the same string.
    data = journey(soup)
    assert data["title"] == payload
    field = data["screens"][0]["fields"][0]
    assert field["label"] == payload and field["messages"]["required"] == payload and field["default"] == payload
    assert data["screens"][0]["fields"][1]["options"][0] == payload
    # The <title> shows the payload as text.
    assert soup.title.string == payload.replace("\r\n", "\n") or payload.strip() != payload


def test_unsafe_markdown_links_are_refused_by_check(tmp_path: Path) -> None:
    from flipgen.markdown import unsafe_links

    refused = [p for p in XSS if unsafe_links(p)]
    assert len(refused) >= 4
    root = tmp_path / "p"
    (root / "sites").mkdir(parents=True)
    site = xss_site("ok", safe_for_markdown=True)
    site["screens"][0]["intro"] = refused[0]
    (root / "sites" / "xss.yaml").write_text(yaml.safe_dump(site), encoding="utf-8")
    with pytest.raises(CheckFailed) as info:
        build(root)
    assert any("is not allowed" in d.message for d in info.value.diagnostics)


def test_bot_protection_loads_turnstile_and_allows_it_in_the_csp(project: Path) -> None:
    site = project / "sites" / "acme-income.yaml"
    site.write_text(
        site.read_text(encoding="utf-8") + "\nbot_protection: {provider: turnstile, site_key: 0x4AAAAAAAtest}\n",
        encoding="utf-8",
    )
    build(project)
    out = project / "dist"
    soup = page(out, "acme-income")
    srcs = [s.get("src") for s in soup.find_all("script") if s.get("src")]
    assert "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit" in srcs
    journey = json.loads(soup.find("script", id="flip-journey").string)
    assert journey["bot_protection"] == {"provider": "turnstile", "site_key": "0x4AAAAAAAtest"}
    wink_screens = soup.select("[data-flip-type=wink]")
    assert len(wink_screens) == 3 and all(s.select_one("[data-flip-turnstile]") for s in wink_screens)
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert "https://challenges.cloudflare.com" in directives["script-src"]
    assert "https://challenges.cloudflare.com" in directives["frame-src"]
    manifest = json.loads((out / "flipgen-manifest.json").read_text())
    assert manifest["sites"]["acme-income"]["bot_protection"]["site_key"] == "0x4AAAAAAAtest"
    # The other sites stay as they were.
    other = page(out, "harbor-tenant-screening")
    assert "challenges.cloudflare.com" not in str(other)
    assert json.loads(other.find("script", id="flip-journey").string)["bot_protection"] is None
