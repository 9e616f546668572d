"""The ``--project`` and ``--database`` options that every store-backed command takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["database_option", "project_option", "project_options"]

F = TypeVar("F", bound=Callable[..., Any])


def project_option(f: F) -> F:
    """``-p/--project``: the project folder (default: the current one)."""
    return click.option(
        "-p",
        "--project",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The project folder.",
    )(f)


def database_option(f: F) -> F:
    """``--database URL``: the store to open instead of the project's default."""
    return click.option(
        "--database",
        metavar="URL",
        help="Database URL (default: $FLIPGEN_DATABASE_URL, else .flipgen/flipgen.db in the project).",
    )(f)


def project_options(f: F) -> F:
    """Both, in the order ``--help`` lists them: project first."""
    return project_option(database_option(f))
