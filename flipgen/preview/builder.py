"""The preview's builder: sites rendered in memory, each keeping its last good output.

:class:`Builder` loads, checks and renders sites with the functions of :mod:`flipgen.build`
and :mod:`flipgen.render`, so one site can be rebuilt alone and a broken file never takes the
pages down. Every rebuild ends in a new immutable :class:`Snapshot`, which requests read whole.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from flipgen import build as _build
from flipgen import render as _rendering
from flipgen.checks import load_and_check
from flipgen.errors import Diagnostic, UserError
from flipgen.manifest import Manifest, SiteEntry
from flipgen.project import CONFIG_NAME, Project, open_project

__all__ = ["Builder", "Report", "SiteOutput", "Snapshot"]


@dataclass
class SiteOutput:
    """One site file after a (re)build: its files when it rendered, its problems always."""

    path: Path
    slug: str | None
    diagnostics: list[Diagnostic]
    files: dict[str, bytes] | None = None
    entry: SiteEntry | None = None
    deps: frozenset[Path] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    """One complete, immutable build as served: swapped in whole after each rebuild."""

    build: str
    files: Mapping[str, bytes]
    titles: Mapping[str, str]
    versions: Mapping[str, str]  # slug → build id of its last change (pages reload on a new one)
    errors: tuple[dict[str, Any], ...] = ()
    broken: frozenset[str] = frozenset()  # slugs whose file currently has errors
    manifest: Manifest = field(default_factory=Manifest)

    @cached_property
    def state(self) -> bytes:
        """The JSON the client script reads: build id, per-site versions, errors."""
        return json.dumps(
            {"build": self.build, "versions": dict(self.versions), "errors": list(self.errors)}, separators=(",", ":")
        ).encode()

    def csp(self, slug: str) -> str:
        entry = self.manifest.sites.get(slug)
        return entry.csp if entry is not None else ""


@dataclass
class Report:
    """What one rebuild did, for the console line and the reload event."""

    label: str
    seconds: float
    rebuilt: list[str]
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    changed: bool
    reason: str = ""  # the file that made a full rebuild necessary


class Builder:
    """Plans the project's files in memory, site by site, keeping each site's last good output."""

    def __init__(self, root: Path, *, sandbox: bool = True, strict: bool = False) -> None:
        self.root = root
        self.sandbox = sandbox
        self.strict = strict
        self.nonce = secrets.token_hex(4)
        self.counter = 0
        self.outputs: dict[Path, SiteOutput] = {}
        self.good: dict[Path, SiteOutput] = {}
        self.versions: dict[str, str] = {}
        self.project: Project | None = None
        self.project_errors: list[Diagnostic] = []
        self._rel: dict[Path, str] = {}
        self.snapshot = Snapshot(build=f"{self.nonce}.0", files={}, titles={}, versions={})
        self._open()

    # -- project

    def _open(self) -> None:
        try:
            self.project = open_project(self.root)
        except UserError as exc:
            self.project = None
            self.project_errors = [Diagnostic(CONFIG_NAME, 1, 1, exc.message, code="project")]
            return
        project = self.project
        self.project_errors = [d for d in project.diagnostics if d.severity == "error"]
        self.runtime = _build.runtime_assets(self.sandbox)
        # The same options as `flipgen build`, so the preview renders what a build would.
        self.options = _build.options_for(project, sandbox=self.sandbox, runtime=self.runtime)

    def site_files(self) -> list[Path]:
        return [p.resolve() for p in self.project.site_files()] if self.project else []

    def rel(self, path: Path) -> str:
        """A path as the overlay shows it: relative to the project when inside it."""
        shown = self._rel.get(path)
        if shown is None:
            try:
                shown = path.resolve().relative_to(self.root).as_posix()
            except ValueError:
                shown = str(path)
            self._rel[path] = shown
        return shown

    def watched_dirs(self) -> list[tuple[Path, bool]]:
        """Folders to watch, (path, recursive): the project root itself only shallowly."""
        dirs: list[tuple[Path, bool]] = [(self.root, False)]
        if self.project is not None:
            dirs.append((self.project.sites_dir, True))
        dirs.append((self.root / "site_templates", True))
        covered = [d for d, _ in dirs]
        for out in self.good.values():
            for dep in out.deps:
                if not any(dep.is_relative_to(d) for d in covered):
                    covered.append(dep.parent)
                    dirs.append((dep.parent, False))
        return [(d, r) for d, r in dirs if d.is_dir()]

    # -- rebuilding

    def rebuild_all(self, reason: str = "") -> Report:
        """Reopen the project (flipgen.yaml may have changed) and rebuild every site."""
        started = time.perf_counter()
        _rendering._environment.cache_clear()  # its Jinja environments cache compiled templates
        self._open()
        paths = self.site_files()
        self.outputs = {p: self._render(p) for p in paths}
        self.good = {p: o for p, o in self.good.items() if p in self.outputs}
        label = f"all {len(paths)} site{'s' * (len(paths) != 1)}"
        report = self._finish(label, paths, started, full=True)
        report.reason = reason
        return report

    def rebuild(self, paths: Iterable[Path]) -> Report:
        """Rebuild the given site files alone; a missing file removes its site."""
        started = time.perf_counter()
        done = []
        for path in sorted(set(paths)):
            if path.is_file():
                self.outputs[path] = self._render(path)
                done.append(path)
            else:
                self.outputs.pop(path, None)
                self.good.pop(path, None)
                done.append(path)
        names = []
        for p in done:
            out = self.outputs.get(p)
            names.append(f"{p.stem} (removed)" if out is None else out.slug or p.stem)
        label = ", ".join(names) if len(names) <= 3 else f"{len(names)} sites"
        return self._finish(label, done, started, full=False)

    def sites_for(self, changed: Path) -> set[Path]:
        """Site files affected by a change to an asset (or any non-site file) under sites/."""
        hit = {p for p, o in self.outputs.items() if changed in o.deps}
        hit |= {p for p, o in self.good.items() if changed in o.deps}
        if self.project is not None:
            try:
                first = changed.relative_to(self.project.sites_dir).parts[0]
            except (ValueError, IndexError):
                first = ""
            hit |= {p for p in self.outputs if p.stem == first}
        # A site that failed (say, on a missing asset) may be waiting for exactly this file.
        hit |= {p for p, o in self.outputs.items() if o.files is None}
        return hit

    def _render(self, path: Path) -> SiteOutput:
        project = self.project
        assert project is not None
        rel = self.rel(path)
        loaded = load_and_check(project, path, strict=self.strict, file=rel)
        site = loaded.site
        slug = site.slug if site else None
        deps: frozenset[Path] = frozenset()
        if site is not None:
            refs = [site.brand.logo, site.brand.favicon, site.brand.custom_css, site.seo.og_image]
            deps = frozenset(
                (path.parent / r).resolve() for r in refs if r and not r.startswith(("http://", "https://"))
            )
        out = SiteOutput(path, slug, list(loaded.diagnostics), deps=deps)
        if site is None or any(d.severity == "error" for d in out.diagnostics):
            return out
        try:
            out.files, out.entry = _rendering.render_site(loaded, self.options)
        except UserError as exc:
            out.diagnostics.append(self._render_error(exc, rel))
        return out

    def _render_error(self, exc: UserError, rel: str) -> Diagnostic:
        """A render failure (template, asset) as a positioned diagnostic where possible."""
        cause = exc.__cause__
        if isinstance(cause, jinja2.TemplateSyntaxError) and cause.filename:
            return Diagnostic(
                self.rel(Path(cause.filename)),
                cause.lineno or 1,
                1,
                f"template syntax error: {cause.message}",
                code="template",
            )
        if isinstance(cause, jinja2.TemplateError):
            # Jinja rewrites tracebacks so template frames carry the template file and line.
            tb = cause.__traceback__
            where = None
            while tb is not None:
                name = tb.tb_frame.f_code.co_filename
                if not name.endswith(".py") and os.path.isfile(name):
                    where = (name, tb.tb_lineno)
                tb = tb.tb_next
            if where:
                return Diagnostic(self.rel(Path(where[0])), where[1], 1, f"template error: {cause}", code="template")
        return Diagnostic(rel, 1, 1, exc.message.removeprefix(f"{rel}: "), code="render")

    def _finish(self, label: str, paths: list[Path], started: float, *, full: bool) -> Report:
        """Compose the new snapshot from every site's newest good output and swap it in."""
        previous = self.snapshot
        self.counter += 1
        build_id = f"{self.nonce}.{self.counter}"
        bumped = self._bumped(paths, previous)
        plan, titles, broken, errors, warnings = self._compose(paths)
        if self.project is not None and not self.project_errors:
            for rel, data in self.runtime.values():
                plan.files[rel] = data
            _build.shared_files(self.project, plan, self.options)
        elif self.project_errors:  # like `flipgen build`: a broken flipgen.yaml builds nothing new
            plan = _build.Plan(files=dict(previous.files), manifest=previous.manifest)
            titles = dict(previous.titles)
            bumped = set()
        versions = {slug: (build_id if slug in bumped else self.versions.get(slug, build_id)) for slug in titles}
        self.versions = versions
        errors = sorted(set(errors), key=lambda d: (d.file, d.line, d.col, d.message))
        error_dicts = tuple(self._error_dict(d) for d in errors)
        changed = bool(bumped) or error_dicts != previous.errors or set(titles) != set(previous.titles)
        if changed:
            self.snapshot = Snapshot(
                build=build_id,
                files=plan.files,
                titles=titles,
                versions=versions,
                errors=error_dicts,
                broken=frozenset(broken),
                manifest=plan.manifest,
            )
        else:
            self.counter -= 1
        return Report(
            label, time.perf_counter() - started, [s for s in titles if s in bumped], errors, warnings, changed
        )

    def _bumped(self, paths: list[Path], previous: Snapshot) -> set[str]:
        """Slugs whose output changed (their open pages reload); records the new good outputs."""
        bumped: set[str] = set()
        for path in paths:
            out = self.outputs.get(path)
            if out is None or out.files is None:
                continue
            before = self.good.get(path)
            if before is None or before.files != out.files or before.slug != out.slug or out.slug in previous.broken:
                bumped.add(out.slug or "")
            self.good[path] = out
        return bumped

    def _compose(
        self, paths: list[Path]
    ) -> tuple[_build.Plan, dict[str, str], set[str], list[Diagnostic], list[Diagnostic]]:
        """Every site's newest good output in one plan, with titles, broken slugs and problems."""
        errors: list[Diagnostic] = list(self.project_errors)
        warnings: list[Diagnostic] = []
        plan = _build.Plan()
        owners: dict[str, str] = {}
        titles: dict[str, str] = {}
        broken: set[str] = set()
        for path in sorted(self.outputs):
            out = self.outputs[path]
            errors += [d for d in out.diagnostics if d.severity == "error"]
            if path in paths:
                warnings += [d for d in out.diagnostics if d.severity == "warning"]
            if out.files is None:
                broken.add(out.slug or path.stem)
            use = out if out.files is not None else self.good.get(path)
            if use is None or use.slug is None or use.entry is None or use.files is None:
                continue
            if use.slug in owners:
                message = f"slug `{use.slug}` is already used by {owners[use.slug]}"
                errors.append(Diagnostic(self.rel(path), 1, 1, message, code="duplicate-slug"))
                continue
            owners[use.slug] = self.rel(path)
            plan.files.update(use.files)
            plan.sites[use.slug] = use.entry
            titles[use.slug] = use.entry.title or use.slug
        return plan, titles, broken, errors, warnings

    def _error_dict(self, d: Diagnostic) -> dict[str, Any]:
        """An error with its source line, so the overlay can point a caret at the column."""
        source = ""
        path = Path(d.file) if os.path.isabs(d.file) else self.root / d.file
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                for number, text in enumerate(handle, 1):
                    if number == d.line:
                        source = text.rstrip("\r\n")
                        break
        except OSError:
            pass
        return {**d.as_dict(), "source": source[:500]}
