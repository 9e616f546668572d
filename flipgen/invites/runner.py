"""What the `flipgen invite` commands do, between parsing options and printing.

Kept apart from the click definitions so the commands stay thin and this stays testable:
it finds the project's template and site, opens the ledger and a Smile session, and drives
the async sender.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..cli import Output
from ..errors import UserError
from ..project import Project, open_project
from ..schema import WinkScreen
from ..smile import SmileClient, SmileError
from ..store import Store, open_store
from .pacing import Pacer
from .people import People, read_people
from .send import Report, Sender, plan
from .sync import changed_fields, remote_templates
from .template import LoadedTemplate, load_templates, to_smile

__all__ = ["SendOptions", "run_send", "run_list", "load_project_templates", "smile_session", "wink_template_id"]


def _diagnostics_error(what: str, diagnostics: list[Any]) -> UserError:
    shown = "\n".join(f"  {d}" for d in diagnostics[:20])
    more = f"\n  … and {len(diagnostics) - 20} more" if len(diagnostics) > 20 else ""
    return UserError(f"{what}; run `flipgen check`:\n{shown}{more}")


def load_project_templates(root: Path | None) -> tuple[Project, list[LoadedTemplate]]:
    """The project and every invite template in it; refuses when any has an error."""
    project = open_project(root)
    loaded = load_templates(project.root)
    if not loaded:
        raise UserError(f"no invite templates: add `invites/<name>.yaml` to {project.root}")
    errors = [d for item in loaded for d in item.diagnostics if d.severity == "error"]
    if errors:
        raise _diagnostics_error("the invite templates have errors", errors)
    return project, loaded


def _pick_template(loaded: list[LoadedTemplate], name: str) -> LoadedTemplate:
    for item in loaded:
        if name in (item.path.stem, item.name):
            return item
    from ..loader import did_you_mean

    hint = did_you_mean(name, [item.path.stem for item in loaded])
    raise UserError(f"no invite template `{name}` in invites/{hint}")


def wink_template_id(project: Project, slug: str) -> str:
    """The Wink template id the invite opens: the site's `wink.template_id` (else its wink screens')."""
    from ..checks import run_sites

    outcomes, diagnostics = run_sites(project, only=[slug], keep_loaded=True)
    errors = [d for d in diagnostics if d.severity == "error" and d.code != "no-sites"]
    if not outcomes:
        raise UserError(errors[0].message if errors else f"no site `{slug}`")
    if errors:
        raise _diagnostics_error(f"site `{slug}` has errors", errors)
    site = outcomes[0].loaded.site if outcomes[0].loaded is not None else None
    assert site is not None
    if site.wink is not None:
        return site.wink.template_id
    ids = sorted({s.template_id for s in site.screens if isinstance(s, WinkScreen) and s.template_id})
    if len(ids) == 1:
        return ids[0]
    raise UserError(f"site `{slug}` has no single Wink template id: set `wink.template_id` in its file")


def _client(project: Project) -> SmileClient:
    from ..token import load_credentials

    credentials = load_credentials(project.root)
    if credentials is None:
        raise UserError(
            "No Smile API credentials: set SMILE_API_KEY and SMILE_API_SECRET in the environment or in "
            f"{project.root / '.env'} (`flipgen invite list --local` shows the ledger without them)"
        )
    # No automatic retries: the sender waits out 429s itself, and a retried POST /invites
    # after a 5xx could email someone twice.
    return SmileClient(credentials, retries=0, read_timeout=30.0)


@asynccontextmanager
async def smile_session(project: Project, rate: float = 19.0) -> AsyncIterator[tuple[SmileClient, Pacer]]:
    """A Smile client and the pacer every request of this run shares; Smile errors → UserError."""
    client = _client(project)
    try:
        yield client, Pacer(rate)
    except SmileError as exc:
        raise smile_user_error(exc) from None
    finally:
        await client.aclose()


def smile_user_error(exc: SmileError) -> UserError:
    """A Smile failure as the user sees it: what happened and what to do, never a credential."""
    request = f" (request {exc.request_id})" if exc.request_id else ""
    if exc.status in (401, 403):
        return UserError(
            f"Smile refused the API credentials ({exc}){request}: check SMILE_API_KEY and SMILE_API_SECRET"
        )
    return UserError(f"Smile: {exc}{request}")


def _open_store(project: Project, database: str | None) -> Store:
    return open_store(database, project.root)


@dataclass
class SendOptions:
    csv_file: Path
    template: str
    site: str
    project: Path | None
    database: str | None
    dry_run: bool
    rate: float
    concurrency: int


def _read_rows(out: Output, options: SendOptions) -> People:
    people = read_people(options.csv_file)
    for problem in people.problems:
        out.error(f"{options.csv_file}: {problem}")
    if people.problems:
        out.info(f"{len(people.problems)} row(s) will not be sent; the {len(people.people)} valid row(s) will.")
    return people


async def _resolve_template(client: SmileClient, pacer: Pacer, template: LoadedTemplate) -> str:
    remote = (await remote_templates(client, pacer)).get(template.name)
    if remote is None:
        raise UserError(f"invite template `{template.name}` is not in Smile yet: run `flipgen invite templates sync`")
    fields = changed_fields(remote, to_smile(template))
    if fields:
        raise UserError(
            f"Smile's copy of `{template.name}` differs from {template.path.name} ({', '.join(fields)}): "
            "run `flipgen invite templates sync` first"
        )
    return str(remote["id"])


def run_send(out: Output, options: SendOptions) -> bool:
    """Validate, then send (or with ``dry_run`` only count); True when every row went."""
    project, loaded = load_project_templates(options.project)
    template = _pick_template(loaded, options.template)
    wink_id = wink_template_id(project, options.site)
    people = _read_rows(out, options)
    with _open_store(project, options.database) as store:
        if options.dry_run:
            todo, skipped = plan(store, people.people, options.site)
            out.info(
                f"dry run: would send {len(todo)} invite(s) with `{template.name}` for site `{options.site}` "
                f"(Wink template {wink_id}); {skipped} already invited"
            )
            return not people.problems
        report = asyncio.run(_send(out, options, project, store, template, wink_id, people))
    _summary(out, options, template, report, people)
    return not (people.problems or report.failed or report.unknown or report.stopped)


async def _send(
    out: Output,
    options: SendOptions,
    project: Project,
    store: Store,
    template: LoadedTemplate,
    wink_id: str,
    people: People,
) -> Report:
    from .cli import graceful_stop

    async with smile_session(project, options.rate) as (client, pacer):
        template_id = await _resolve_template(client, pacer, template)
        sender = Sender(client, store, pacer, options.site, template.name, template_id, wink_id, options.concurrency)
        with _Progress(out) as progress, graceful_stop(sender.stop, asyncio.get_running_loop()):
            sender.progress = progress.update
            return await sender.run(people.people)


class _Progress:
    """click's progress bar on stderr, labelled with the running counts."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _Progress:
        return self

    def update(self, report: Report) -> None:
        if self.out.quiet:
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=report.total, label="sending", file=sys.stderr, item_show_func=lambda r: r
            )
            self.bar.__enter__()
        counts = f"sent {report.sent} · skipped {report.skipped} · failed {len(report.failed) + len(report.unknown)}"
        self.bar.update(report.done - self.shown, counts)
        self.shown = report.done

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _summary(out: Output, options: SendOptions, template: LoadedTemplate, report: Report, people: People) -> None:
    for problem in [*report.failed, *report.unknown]:
        out.error(f"{options.csv_file}: {problem}")
    if report.reconciled:
        out.info(f"{report.reconciled} invite(s) of an interrupted run had reached Smile: marked as sent")
    out.info(
        f"site `{options.site}`, template `{template.name}`: {report.sent} sent, {report.skipped} already invited, "
        f"{len(report.failed) + len(report.unknown) + len(people.problems)} not sent"
        + (" (stopped early: run the same command again to send the rest)" if report.stopped else "")
    )


def run_list(
    out: Output, root: Path | None, database: str | None, *, site: str | None, status: str | None, local: bool, fmt: str
) -> None:
    """Print the ledger, brought up to date from ``GET /invites`` unless ``local``."""
    from . import ledger

    project = open_project(root)
    remote: list[dict[str, Any]] = []
    if not local:
        remote = asyncio.run(_fetch_invites(project))
    with _open_store(project, database) as store:
        with store.write() as conn:
            for item in remote:
                ledger.apply_smile_invite(conn, item)
            ledger.link_applications(conn)
        with store.read() as conn:
            rows = ledger.rows(conn, site=site)
    known = {r.smile_invite_id for r in rows if r.smile_invite_id}
    table = [_row_of(r) for r in rows]
    if site is None:  # invites sent outside flipgen (the portal, a script) belong to no site
        table += [_remote_row(item) for item in remote if item.get("id") not in known]
    if status:
        wanted = status.strip().lower()
        table = [r for r in table if wanted in (r["status"].lower(), r["state"].lower())]
    if fmt == "json":
        click.echo(json.dumps(table, indent=2))
        return
    _print_table(out, table)


async def _fetch_invites(project: Project) -> list[dict[str, Any]]:
    from .sync import all_pages

    async with smile_session(project) as (client, pacer):
        return [item async for item in all_pages(pacer, lambda cursor: client.list_invites(cursor))]


def _row_of(row: Any) -> dict[str, str]:
    return {
        "email": row.email,
        "site": row.site,
        "state": row.state,
        "status": row.smile_status or "",
        "sent_at": row.sent_at.isoformat(timespec="seconds") if row.sent_at else "",
        "linked_at": row.linked_at.isoformat(timespec="seconds") if row.linked_at else "",
        "application": row.application_id or "",
        "invite_id": row.smile_invite_id or "",
        "error": row.error or "",
    }


def _remote_row(item: dict[str, Any]) -> dict[str, str]:
    def text(key: str) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    return {
        "email": text("email"),
        "site": "",
        "state": "",
        "status": text("status"),
        "sent_at": text("invitedAt"),
        "linked_at": text("linkedAt") if text("status") == "LINKED" else "",
        "application": "",
        "invite_id": text("id"),
        "error": "",
    }


def _print_table(out: Output, table: list[dict[str, str]]) -> None:
    if not table:
        out.info("no invites")
        return
    columns = ["email", "site", "state", "status", "sent_at", "linked_at", "application"]
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in table:
        click.echo("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())
    out.info(f"{len(table)} invite(s)")
