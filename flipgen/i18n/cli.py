"""`flipgen translations status|extract`: coverage per site and language, and overlay skeletons."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import PROJECT, Output, _verbosity
from ..errors import UserError
from ..loader import Loaded, display_path
from ..schema import LANG

__all__ = ["translations"]


translations: click.Group = click.Group(
    "translations", help="Translation overlays: coverage, and skeletons for translators (docs/translations.md)."
)


def _loaded(project: Path | None, only: tuple[str, ...]) -> list[Loaded]:
    """The project's sites that load (their overlays read and checked)."""
    from ..checks import check_project
    from ..project import open_project

    result = check_project(open_project(project), only=list(only) or None)
    sites = [s for s in result.sites if s.site is not None]
    if not sites:
        raise UserError("; ".join(str(d) for d in result.errors) or "no site loaded")
    return sites


@translations.command()
@PROJECT
@click.option("--site", "sites", multiple=True, metavar="SLUG", help="Only this site (repeatable).")
@_verbosity
def status(out: Output, project: Path | None, sites: tuple[str, ...]) -> None:
    """Per site and language: how many texts the overlay translates."""
    from .extract import coverage

    rows = []
    for item in _loaded(project, sites):
        site, tr = item.site, item.translations
        assert site is not None
        if tr is None:
            rows.append((site.slug, site.lang, "default only", ""))
            continue
        rows.append((site.slug, tr.default, "default", ""))
        for lang in tr.others:
            ov = tr.overlays.get(lang)
            cov = coverage(site, lang, ov.data if ov else None, ov is not None)
            note = "" if cov.present else "no overlay file"
            rows.append((site.slug, lang, f"{cov.translated}/{cov.total} ({cov.percent:.0f}%)", note))
    width = max(len(str(r[0])) for r in rows)
    for slug, lang, figure, note in rows:
        click.echo(f"{slug!s:<{width}}  {lang:<8}  {figure}{'  ' + note if note else ''}")


@translations.command()
@PROJECT
@click.option("--lang", "lang", required=True, help="Language tag, e.g. id, fil, es-419.")
@click.option("--site", "sites", multiple=True, metavar="SLUG", help="Only this site (repeatable).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the skeleton instead of writing the file.")
@_verbosity
def extract(out: Output, project: Path | None, lang: str, sites: tuple[str, ...], to_stdout: bool) -> None:
    """Write `sites/<slug>.<lang>.yaml` with every text to translate (existing translations kept)."""
    import re

    from .extract import skeleton
    from .locales import known
    from .overlay import load_overlay

    if not re.match(LANG, lang) or not known(lang):
        raise UserError(f"`{lang}` is not a language tag CLDR knows (e.g. id, fil, zh-Hans, es-419)")
    for item in _loaded(project, sites):
        site, path = item.site, item.path
        assert site is not None
        target = path.with_name(f"{path.stem}.{lang}.yaml")
        existing = None
        if target.exists():
            current = load_overlay(target, lang, display_path(target))
            if current.data is None and current.diagnostics:
                raise UserError(f"{current.diagnostics[0]} (fix {display_path(target)} first)")
            existing = current.data
        text = skeleton(site, lang, display_path(path), existing)
        if to_stdout:
            sys.stdout.write(text)
        else:
            target.write_text(text, encoding="utf-8")
            out.info(f"  wrote {display_path(target)}")
