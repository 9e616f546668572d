"""`flipgen db upgrade|status`: the store's schema migrations."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import Output, _verbosity
from ..errors import UserError
from .options import project_options

__all__ = ["db_group"]


def _root(project: Path) -> Path:
    if not project.is_dir():
        raise UserError(f"no such folder: {project}")
    return project.resolve()


@click.group("db")
def db_group() -> None:
    """The application database: schema migrations."""


@db_group.command("upgrade")
@project_options
@_verbosity
def upgrade_cmd(out: Output, project: Path, database: str | None) -> None:
    """Apply pending schema migrations (servers also do this when they start)."""
    from . import migrations, open_store

    with open_store(database, _root(project), migrate=False) as store:
        applied = migrations.upgrade(store)
        for mid in applied:
            out.info(f"  applied {mid}")
        out.info(f"{store.display_url}: " + (f"{len(applied)} migration(s) applied" if applied else "up to date"))


@db_group.command("status")
@project_options
@_verbosity
def status_cmd(out: Output, project: Path, database: str | None) -> None:
    """Each migration, applied (when) or pending."""
    from . import migrations, open_store

    with open_store(database, _root(project), migrate=False) as store:
        state = migrations.status(store)
        unknown = migrations.unknown_applied(store)
        click.echo(f"database {store.display_url} ({store.backend})")
    for m, applied in state:
        when = applied.isoformat(timespec="seconds") if applied else "pending"
        click.echo(f"  {m.id:<24} {when:<26} {m.description}")
    for mid in unknown:
        click.echo(f"  {mid:<24} applied by a newer flipgen")
    pending = sum(1 for _, applied in state if applied is None)
    click.echo(f"{pending} pending: run `flipgen db upgrade`" if pending else "up to date")
