"""`flipgen applications …`: list, show, export, stats, report, delete, purge, erase."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ..cli import Output, _verbosity
from ..errors import UserError
from ..schema import FIELD_ID, PARAM_NAME
from ..store import Store, open_store
from ..store import applications as repo
from ..store.applications import Application
from ..store.options import project_options
from ..webhooks.status import Verified, verified_for
from .layout import SiteLayout, load_layouts

__all__ = ["applications_group"]

F = TypeVar("F", bound=Callable[..., Any])
STATES = ("started", "abandoned", "submitted", "completed")


@contextmanager
def opened(project: Path, database: str | None) -> Iterator[tuple[Store, dict[str, SiteLayout], list[str]]]:
    """The upgraded store and the project's site layouts (for labels)."""
    from ..project import open_project

    proj = open_project(project)
    layouts, notes = load_layouts(proj)
    store = open_store(database, proj.root)
    try:
        yield store, layouts, notes
    finally:
        store.close()


def parse_when(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date: use 2026-03-01 or 2026-03-01T09:30") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_age(text: str) -> timedelta:
    """`60d`, `12h`, `2w` (a bare number is days)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhw]?)\s*", text)
    if match is None:
        raise UserError(f"--older-than {text!r} is not an age: use e.g. 60d, 12h or 2w")
    n, unit = int(match.group(1)), match.group(2) or "d"
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "w": timedelta(weeks=n)}[unit]


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _short(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _summary(app: Application) -> str:
    return f"{app.id}  {app.site}  {app.state()}  created {_short(app.created_at)}"


def _filters(f: F) -> F:
    f = click.option("--until", metavar="DATE", help="Only applications created before DATE.")(f)
    f = click.option("--since", metavar="DATE", help="Only applications created on or after DATE.")(f)
    f = click.option("--status", type=click.Choice(STATES), help="Only applications in this state.")(f)
    return click.option("--site", metavar="SLUG", help="Only this site's applications.")(f)


def _select(
    store: Store, site: str | None, status: str | None, since: str | None, until: str | None
) -> list[Application]:
    with store.read() as conn:
        return repo.list_applications(
            conn, site=site, status=status, since=parse_when(since, "--since"), until=parse_when(until, "--until")
        )


@click.group("applications")
def applications_group() -> None:
    """List, export and report on visitors' applications."""


@applications_group.command("list")
@project_options
@_filters
@_verbosity
def list_cmd(
    out: Output,
    project: Path,
    database: str | None,
    site: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """A table of applications, oldest first."""
    with opened(project, database) as (store, _, _):
        apps = _select(store, site, status, since, until)
    if not apps:
        out.info("no applications")
        return
    rows = [
        [a.id, a.site, a.state(), _short(a.created_at), _short(a.updated_at), str(len(a.answers)), str(a.accounts)]
        for a in apps
    ]
    click.echo(text_table(["ID", "SITE", "STATUS", "CREATED", "UPDATED", "ANSWERS", "ACCOUNTS"], rows))
    out.detail(f"{len(apps)} application(s)")


def _indent(value: Any) -> str:
    """A value on the terminal: as typed (no formula guard), continuation lines indented."""
    from .export import cell

    text = value if isinstance(value, str) else cell(value)
    return text.replace("\n", "\n    ")


@applications_group.command("show")
@click.argument("app_id", metavar="ID")
@project_options
@_verbosity
def show_cmd(out: Output, app_id: str, project: Path, database: str | None) -> None:
    """Every answer of one application, with its field label."""
    with opened(project, database) as (store, layouts, _), store.read() as conn:
        app = repo.get(conn, app_id)
        if app is None:
            raise UserError(f"no application {app_id!r} (see `flipgen applications list`)")
        visits = repo.visits(conn, app_ids=[app.id])
        verified = verified_for(conn, [app]).get(app.id, Verified())
    layout = layouts.get(app.site)
    from .export import iso

    facts = [
        ("Application", app.id),
        ("Site", f"{app.site} ({layout.title})" if layout else app.site),
        ("Status", app.state()),
        ("Locale", app.locale or ""),
        ("Created", iso(app.created_at)),
        ("Updated", iso(app.updated_at)),
        ("Submitted", iso(app.submitted_at)),
        ("Completed", iso(app.completed_at)),
        ("Accounts", str(app.accounts)),
        ("Uploads", str(app.uploads)),
        ("Smile user", app.smile_user_id or ""),
    ]
    for name, value in facts:
        click.echo(f"{name:<12} {value}")
    order = list(layout.fields) if layout else []
    keys = [k for k in order if k in app.answers] + [k for k in app.answers if k not in order]
    click.echo("\nAnswers" if keys else "\nAnswers: none")
    for key in keys:
        label = layout.label(key) if layout else key
        click.echo(f"  {label} ({key}): {_indent(app.answers[key])}")
    if app.params:
        click.echo("\nParams")
        for key, value in app.params.items():
            click.echo(f"  {key}: {_indent(value)}")
    if visits:
        from .funnel import duration

        click.echo("\nScreens")
        for v in visits:
            spent = duration((v.left_at - v.reached_at).total_seconds()) if v.left_at else "still there"
            click.echo(f"  {v.screen:<24} reached {iso(v.reached_at)}  ({spent})")
    click.echo("")
    for line in verified.lines():
        click.echo(line)


@contextmanager
def _destination(output: Path | None, bom: bool) -> Iterator[IO[str]]:
    """The text stream to write: a temporary file renamed over ``output`` on success, or stdout."""
    encoding = "utf-8-sig" if bom else "utf-8"
    if output is None:
        stream = click.get_binary_stream("stdout")
        wrapper = io.TextIOWrapper(stream, encoding=encoding, newline="", write_through=True)
        try:
            yield wrapper
        finally:
            wrapper.detach()
        return
    target = output.resolve()
    if not target.parent.is_dir():
        raise UserError(f"cannot write {output}: the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


@applications_group.command("export")
@project_options
@_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
@click.option(
    "--header",
    type=click.Choice(["both", "ids"]),
    default="both",
    show_default=True,
    help="CSV: a row of labels then a row of ids, or ids only.",
)
@click.option("--bom", is_flag=True, help="Start with a UTF-8 byte order mark (Excel needs it to read UTF-8).")
@_verbosity
def export_cmd(
    out: Output,
    project: Path,
    database: str | None,
    site: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    output: Path | None,
    header: str,
    bom: bool,
) -> None:
    """One row per application: its answers, params, status, timestamps and accounts."""
    from .export import columns_for, write_csv, write_jsonl

    with opened(project, database) as (store, layouts, notes):
        apps = _select(store, site, status, since, until)
        with store.read() as conn:
            verified = verified_for(conn, apps)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    columns = columns_for(apps, layouts)
    now = datetime.now(UTC)
    with _destination(output, bom) as fh:
        if fmt == "csv":
            write_csv(fh, apps, columns, header=header, now=now, verified=verified)
        else:
            write_jsonl(fh, apps, columns, now=now, verified=verified)
    if output is not None:
        out.info(f"exported {len(apps)} application(s) to {output}")


@applications_group.command("stats")
@project_options
@click.option("--site", metavar="SLUG", help="Only this site.")
@_verbosity
def stats_cmd(out: Output, project: Path, database: str | None, site: str | None) -> None:
    """The funnel of each site: reached, left, drop-off and median time per screen."""
    from .funnel import duration

    funnels = _funnels(project, database, site)
    if not funnels:
        out.info("no applications")
    for i, f in enumerate(funnels):
        c = f.counts
        click.echo(
            ("\n" if i else "") + f"{f.title} ({f.site}): {f.total} started, "
            f"{c['submitted'] + c['completed']} submitted, {c['completed']} completed, "
            f"{c['abandoned']} abandoned, {c['started']} in progress"
        )
        rows = [
            [
                s.screen,
                str(s.reached),
                str(s.left),
                "—" if s.drop_off is None else f"{s.drop_off:.1f}%",
                duration(s.median_seconds),
            ]
            for s in f.steps
        ]
        click.echo(text_table(["SCREEN", "REACHED", "LEFT", "DROP-OFF", "MEDIAN TIME"], rows))


def _funnels(project: Path, database: str | None, site: str | None) -> list[Any]:
    from .funnel import funnel

    now = datetime.now(UTC)
    with opened(project, database) as (store, layouts, _), store.read() as conn:
        apps = repo.list_applications(conn, site=site)
        visits = repo.visits(conn, site=site)
    result = []
    for slug in sorted({a.site for a in apps}):
        mine = [a for a in apps if a.site == slug]
        ids = {a.id for a in mine}
        result.append(funnel(slug, mine, [v for v in visits if v.application_id in ids], layouts.get(slug), now))
    return result


@applications_group.command("report")
@project_options
@click.option("--site", metavar="SLUG", help="Only this site.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default="report.html", show_default=True
)
@_verbosity
def report_cmd(out: Output, project: Path, database: str | None, site: str | None, output: Path) -> None:
    """A self-contained HTML page with each site's funnel drawn as SVG."""
    from .report import render_report

    html = render_report(_funnels(project, database, site), datetime.now(UTC))
    with _destination(output, bom=False) as fh:
        fh.write(html)
    out.info(f"wrote {output}")


@applications_group.command("delete")
@click.argument("app_id", metavar="ID")
@project_options
@_verbosity
def delete_cmd(out: Output, app_id: str, project: Path, database: str | None) -> None:
    """Delete one application and the screens it reached."""
    with opened(project, database) as (store, _, _), store.write() as conn:
        removed = repo.delete_application(conn, app_id)
    if removed is None:
        raise UserError(f"no application {app_id!r} (see `flipgen applications list`)")
    click.echo(f"deleted {_summary(removed)}")


def _report_removed(removed: list[Application], what: str) -> None:
    for app in removed:
        click.echo(f"deleted {_summary(app)}")
    click.echo(f"{len(removed)} application(s) deleted: {what}")


@applications_group.command("purge")
@project_options
@click.option("--older-than", "age", default="60d", show_default=True, metavar="AGE", help="e.g. 60d, 12h, 2w.")
@_verbosity
def purge_cmd(out: Output, project: Path, database: str | None, age: str) -> None:
    """Delete applications created more than AGE ago (retention)."""
    cutoff = datetime.now(UTC) - parse_age(age)
    with opened(project, database) as (store, _, _), store.write() as conn:
        removed = repo.purge(conn, before=cutoff)
    _report_removed(removed, f"created before {cutoff.isoformat(timespec='seconds')}")


@applications_group.command("erase")
@project_options
@click.option("--field", "field_id", required=True, metavar="ID", help="A field id or param name, e.g. email.")
@click.option("--value", required=True, help="The value to match (case-insensitive), e.g. the person's email.")
@_verbosity
def erase_cmd(out: Output, project: Path, database: str | None, field_id: str, value: str) -> None:
    """Delete every application whose FIELD equals VALUE (a person's erasure request)."""
    if not (re.fullmatch(FIELD_ID, field_id) or re.fullmatch(PARAM_NAME, field_id)):
        raise UserError(f"--field {field_id!r} is not a field id or param name")
    with opened(project, database) as (store, _, _), store.write() as conn:
        removed = repo.erase(conn, field=field_id, value=value)
    _report_removed(removed, f"{field_id} = {value!r}")
