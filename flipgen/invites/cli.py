"""`flipgen invite …`: invite templates as code, bulk invitations from a CSV, and their status."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..cli import Output, _verbosity
from ..errors import UserError

PROJECT = click.option(
    "-p",
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="The flipgen project (default: the current folder).",
)
DATABASE = click.option(
    "--database", metavar="URL", help="Ledger database (default: $FLIPGEN_DATABASE_URL, else .flipgen/flipgen.db)."
)


@click.group()
def invite() -> None:
    """Invite people by email to connect their accounts (Smile invitations)."""


@invite.group()
def templates() -> None:
    """Invite templates kept as `invites/<name>.yaml`."""


@templates.command("sync")
@PROJECT
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@_verbosity
def templates_sync(out: Output, project: Path | None, dry_run: bool) -> None:
    """Create or update Smile's invite templates from `invites/*.yaml` (matched by name)."""
    from .runner import load_project_templates, smile_session
    from .sync import sync_templates

    proj, loaded = load_project_templates(project)

    async def go() -> list[Any]:
        async with smile_session(proj) as (client, pacer):
            return await sync_templates(client, loaded, pacer, dry_run=dry_run)

    changes = asyncio.run(go())
    for change in changes:
        out.info(("(dry run) " if dry_run and change.action != "unchanged" else "") + str(change))
    counts = {a: sum(1 for c in changes if c.action == a) for a in ("created", "updated", "unchanged")}
    out.info(", ".join(f"{n} {a}" for a, n in counts.items()))


@invite.command("send")
@click.argument("csv_file", metavar="PEOPLE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--template", "template_name", required=True, metavar="NAME", help="Invite template (file or name).")
@click.option("--site", required=True, metavar="SLUG", help="The site whose Wink template the invite opens.")
@PROJECT
@DATABASE
@click.option("--dry-run", is_flag=True, help="Validate and show what would be sent; send nothing.")
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 20.0),
    default=19.0,
    show_default=True,
    help="Requests per second (Smile allows 20 per IP).",
)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True, help="Requests in flight.")
@_verbosity
def send(
    out: Output,
    csv_file: Path,
    template_name: str,
    site: str,
    project: Path | None,
    database: str | None,
    dry_run: bool,
    rate: float,
    concurrency: int,
) -> None:
    """Send one invite per row of PEOPLE.csv (`email`, `full_name`, optional `first_name`, `last_name`).

    Rows are checked first; bad ones are listed with their row number and the rest still go.
    Re-running skips everyone already invited to SITE, so an interrupted run can simply be
    started again. Exits 1 when any row was not sent.
    """
    from .runner import SendOptions, run_send

    options = SendOptions(csv_file, template_name, site, project, database, dry_run, rate, concurrency)
    ok = run_send(out, options)
    if not ok:
        sys.exit(1)


@invite.command("list")
@PROJECT
@DATABASE
@click.option("--site", metavar="SLUG", help="Only this site's invites.")
@click.option("--status", metavar="STATUS", help="Only this status: INVITED, LINKED, … or pending, failed.")
@click.option("--local", is_flag=True, help="Show the ledger only; do not ask Smile.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_verbosity
def list_invites(
    out: Output, project: Path | None, database: str | None, site: str | None, status: str | None, local: bool, fmt: str
) -> None:
    """Invites with their status: Smile's (`GET /invites`) merged with the local ledger."""
    from .runner import run_list

    run_list(out, project, database, site=site, status=status, local=local, fmt=fmt)


@invite.command("schema")
@_verbosity
def schema(out: Output) -> None:
    """Print the JSON Schema of an invite template file (for editor autocompletion)."""
    from .template import json_schema_text

    click.echo(json_schema_text(), nl=False)


@contextlib.contextmanager
def graceful_stop(stop: asyncio.Event, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """First Ctrl-C: finish the requests in flight and stop; a second one stops at once."""

    def first() -> None:
        click.echo("\nstopping after the requests in flight (Ctrl-C again to abort)…", err=True)
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    try:
        loop.add_signal_handler(signal.SIGINT, first)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


__all__ = ["invite", "graceful_stop", "UserError"]
