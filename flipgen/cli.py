"""The `flipgen` command: click commands only — parse options, call the core, print, exit.

Exit codes (SPEC §5): 0 success, 1 user error (bad YAML, failed checks, missing
credentials), 2 bad usage. A traceback never reaches the user.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import Diagnostic, UserError

F = TypeVar("F", bound=Callable[..., Any])


class Output:
    """Where messages go: verbosity and colour (only on a terminal, and never with NO_COLOR)."""

    def __init__(self, verbose: int = 0, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet

    @staticmethod
    def colour(stream: Any) -> bool:
        return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())

    def style(self, text: str, stream: Any = None, **kw: Any) -> str:
        return click.style(text, **kw) if self.colour(stream or sys.stdout) else text

    def info(self, text: str) -> None:
        if not self.quiet:
            click.echo(text)

    def detail(self, text: str) -> None:
        if self.verbose and not self.quiet:
            click.echo(text)

    def error(self, text: str) -> None:
        click.echo(self.style("error: ", sys.stderr, fg="red", bold=True) + text, err=True)


def _verbosity(f: F) -> F:
    """-v/--verbose and -q/--quiet on every command, as well as on the group."""

    @click.option("-v", "--verbose", count=True, help="Say more (repeat for debug output).")
    @click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
    @functools.wraps(f)
    def wrapper(*args: Any, verbose: int, quiet: bool, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        parent: Output = ctx.find_object(Output) or Output()
        out = Output(verbose=max(verbose, parent.verbose), quiet=quiet or parent.quiet)
        ctx.obj = out
        try:
            return f(out, *args, **kwargs)
        except UserError as exc:
            out.error(exc.message)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: no tracebacks for users
            if out.verbose > 1:
                raise
            out.error(
                f"flipgen hit an internal error ({type(exc).__name__}: {exc}). "
                "Please report it; run again with -vv for the details."
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# Command groups kept in their own modules ("name": "module:attribute"), one line each. They are
# imported only when named (click's lazy-group pattern), so they can import Output/_verbosity from
# here without an import cycle, and `flipgen build` does not pay for importing them.
LAZY_COMMANDS = {
    "applications": "flipgen.applications.cli:applications_group",
    "db": "flipgen.store.cli:db_group",
    "invite": "flipgen.invites.cli:invite",
    "translations": "flipgen.i18n.cli:translations",
    "webhooks": "flipgen.webhooks.cli:webhooks_group",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="flipgen")
@click.option("-v", "--verbose", count=True, help="Say more (repeat for debug output).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """flipgen: YAML in, branded static intake journeys with the Smile Wink widget out."""
    ctx.obj = Output(verbose=verbose, quiet=quiet)


PROJECT = click.argument("project", required=False, type=click.Path(file_okay=True, dir_okay=True, path_type=Path))


def _print_diagnostics(out: Output, diagnostics: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        return
    for d in diagnostics:
        if fmt == "github":
            level = "error" if d.severity == "error" else "warning"
            # GitHub's workflow-command escaping: data escapes % CR LF; properties also , and :
            message = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            file = (
                d.file.replace("%", "%25")
                .replace("\r", "%0D")
                .replace("\n", "%0A")
                .replace(",", "%2C")
                .replace(":", "%3A")
            )
            click.echo(f"::{level} file={file},line={d.line},col={d.col}::{message}")
        else:
            label = "error" if d.severity == "error" else "warning"
            colour = "red" if d.severity == "error" else "yellow"
            where = out.style(f"{d.file}:{d.line}:{d.col}:", bold=True)
            click.echo(f"{where} {out.style(label + ':', fg=colour, bold=True)} {d.message}")


@main.command()
@PROJECT
@click.option("--strict", is_flag=True, help="Treat warnings (e.g. low colour contrast) as errors.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="`github` prints ::error annotations for GitHub Actions.",
)
@_verbosity
def check(out: Output, project: Path | None, strict: bool, fmt: str) -> None:
    """Validate every site of PROJECT (default: the current folder)."""
    from .checks import check_project
    from .project import open_project

    # Only diagnostics and slugs are printed, so large projects may be checked in parallel.
    result = check_project(open_project(project), strict=strict, keep_loaded=False)
    shown = result.errors if out.quiet and fmt == "text" else result.diagnostics
    _print_diagnostics(out, shown, fmt)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "sites": result.slugs,
                    "errors": len(result.errors),
                    "warnings": len(result.warnings),
                    "diagnostics": [d.as_dict() for d in result.diagnostics],
                },
                indent=2,
            )
        )
    elif fmt == "text":
        n = result.checked
        summary = f"{n} site{'s' * (n != 1)} checked: {len(result.errors)} error(s), {len(result.warnings)} warning(s)"
        if result.ok:
            out.info(out.style("✓ ", fg="green") + summary)
        else:
            click.echo(summary, err=True)
    if not result.ok:
        sys.exit(1)


@main.command()
@PROJECT
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output folder (default: `output` in flipgen.yaml, else dist).",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--base-url", help="Public URL the output is served from (absolute URLs, QR codes, sitemap).")
@click.option("--site", "sites", multiple=True, metavar="SLUG", help="Build only this site (repeatable).")
@click.option("--sandbox", is_flag=True, help="Point pages at the local Smile emulator and show a SANDBOX ribbon.")
@_verbosity
def build(
    out: Output,
    project: Path | None,
    output: Path | None,
    strict: bool,
    base_url: str | None,
    sites: tuple[str, ...],
    sandbox: bool,
) -> None:
    """Check, then write the static site(s) of PROJECT."""
    from .build import build as run_build
    from .errors import CheckFailed

    try:
        result = run_build(
            project, output=output, strict=strict, base_url=base_url, sites=list(sites) or None, sandbox=sandbox
        )
    except CheckFailed as exc:
        _print_diagnostics(out, exc.diagnostics, "text")
        errors = sum(1 for d in exc.diagnostics if d.severity == "error")
        click.echo(f"build failed: {errors} error(s); the previous output was left untouched", err=True)
        sys.exit(1)
    _print_diagnostics(out, result.warnings, "text")
    out.info(
        f"built {result.site_count} site{'s' * (result.site_count != 1)}, "
        f"{result.file_count} files in {result.seconds * 1000:.0f} ms → {result.display_output}"
    )


@main.command()
@PROJECT
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the site list in a browser.")
@click.option("--live", is_flag=True, help="Use the real Smile API (credentials required) instead of the emulator.")
@click.option("--no-livereload", is_flag=True, help="Do not reload pages on change.")
@click.option("--poll", is_flag=True, help="Poll for changes (network mounts, containers).")
@_verbosity
def serve(
    out: Output,
    project: Path | None,
    host: str,
    port: int,
    open_browser: bool,
    live: bool,
    no_livereload: bool,
    poll: bool,
) -> None:
    """Preview PROJECT with live reload and the offline Smile emulator."""
    from .preview import serve as run_serve

    run_serve(
        project,
        host=host,
        port=port,
        open_browser=open_browser,
        live=live,
        livereload=not no_livereload,
        poll=poll,
        verbose=out.verbose,
        quiet=out.quiet,
    )


@main.command("token-server")
@PROJECT
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option("--sandbox", is_flag=True, help="Answer from the built-in Smile emulator when no credentials are set.")
@click.option(
    "--rate-limit",
    default=30,
    show_default=True,
    type=click.IntRange(0),
    metavar="N",
    help="Requests per minute per client IP; 0 disables.",
)
@click.option(
    "--trust-proxy",
    "trust_proxy",
    multiple=True,
    metavar="ADDR",
    help="A proxy (address or CIDR) whose X-Forwarded-For/-Proto is believed; repeat for several.",
)
@click.option("--proxy-hops", default=1, show_default=True, type=click.IntRange(1), help="Trusted proxies in a row.")
@click.option("--public-origin", "public_origins", multiple=True, metavar="URL", help="This endpoint's own origin.")
@click.option("--redis", "redis_url", metavar="URL", help="Share rate limits and budgets through Redis.")
@click.option(
    "--redis-failure",
    type=click.Choice(["open", "closed"]),
    default="open",
    show_default=True,
    help="When Redis is down: count in each worker (open) or answer 503 (closed).",
)
@click.option("--body-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1), help="Seconds.")
@click.option("--max-concurrency", default=1000, show_default=True, type=click.IntRange(1), help="Per worker.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option(
    "--database",
    metavar="URL",
    help="Where applications are stored (default: $FLIPGEN_DATABASE_URL, else .flipgen/flipgen.db in the project).",
)
@_verbosity
def token_server(out: Output, project: Path | None, trust_proxy: tuple[str, ...], **options: Any) -> None:
    """Serve the token endpoint that mints Wink user tokens (keeps the API secret server-side)."""
    from .server import run_server

    level = "warning" if out.quiet else ("debug" if out.verbose > 1 else "info")
    run_server(project, trust_proxy=list(trust_proxy), log_level=level, **options)


@main.command()
@click.option("--overlay", is_flag=True, help="The schema of a translation overlay (`<slug>.<lang>.yaml`) instead.")
@_verbosity
def schema(out: Output, overlay: bool) -> None:
    """Print the JSON Schema of a site file (for editor autocompletion)."""
    from .schema import json_schema_text

    if overlay:
        from .i18n.overlay import overlay_json_schema

        click.echo(json.dumps(overlay_json_schema(), indent=2, sort_keys=True))
        return
    click.echo(json_schema_text(), nl=False)


@main.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@_verbosity
def init(out: Output, directory: Path) -> None:
    """Scaffold a project in DIRECTORY: flipgen.yaml, an example site, .env.example, .gitignore."""
    from .scaffold import scaffold

    written, skipped = scaffold(directory)
    for path in written:
        out.info(f"  created {path}")
    for path in skipped:
        out.info(f"  kept    {path} (already there)")
    out.info(f"Next: cd {directory} && flipgen check && flipgen serve")


if __name__ == "__main__":  # pragma: no cover
    main()
