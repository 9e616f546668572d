"""`flipgen check`: load and check every site of a project, serially or in a fork pool.

`run_sites` is the one per-site loop that check, build and serve all use. The checks of one
site are in `sitecheck` (and `routing`); their public names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .errors import Diagnostic, did_you_mean
from .loader import Loaded, display_path, load_site
from .project import Project
from .routing import effective_next
from .sitecheck import METADATA_LIMIT, check_site, contrast_ratio

__all__ = [
    "CheckResult",
    "SiteOutcome",
    "check_project",
    "check_site",
    "load_and_check",
    "run_sites",
    "effective_next",
    "contrast_ratio",
    "METADATA_LIMIT",
]


@dataclass
class CheckResult:
    """What `flipgen check` found: every loaded site and every diagnostic, sorted."""

    sites: list[Loaded] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- running every site

# Above this many sites, load+check (and a build's render stage) run in a fork pool: each
# worker sends back only small, picklable outcomes, never the models.
PARALLEL_THRESHOLD = 48


@dataclass
class SiteOutcome:
    """What one site produced: its slug, every diagnostic, and the stage's result when clean."""

    path: Path
    slug: str | None
    diagnostics: list[Diagnostic]
    loaded: Loaded | None = None
    payload: Any = None
    slug_at: tuple[str, int, int] = ("", 1, 1)  # where `slug:` is written (or the file start)


Stage = Callable[[Loaded, Any], Any]


def load_and_check(project: Project, path: Path, *, strict: bool = False, file: str | None = None) -> Loaded:
    """Load one site file of ``project`` (with the project's `defaults`) and run every check.

    ``file`` is the name diagnostics show (default: the path relative to the working folder).
    """
    defaults = project.config.defaults or None
    loaded = load_site(
        path, defaults=defaults, defaults_positions=project.config_positions if defaults else None, file=file
    )
    loaded.diagnostics.extend(check_site(loaded, project, strict=strict))
    if loaded.site is not None:
        from .i18n.translations import load_translations

        loaded.translations, found = load_translations(loaded, project, strict=strict)
        loaded.diagnostics.extend(found)
    return loaded


def _one(project: Project, path: Path, strict: bool, keep: bool, stage: Stage | None, arg: Any) -> SiteOutcome:
    loaded = load_and_check(project, path, strict=strict)
    slug = loaded.site.slug if loaded.site else None
    outcome = SiteOutcome(
        path, slug, loaded.diagnostics, loaded if keep else None, slug_at=loaded.positions.value(("slug",))
    )
    if stage is not None and loaded.site is not None and not any(d.severity == "error" for d in loaded.diagnostics):
        outcome.payload = stage(loaded, arg)
    return outcome


def _chunk(job: tuple[Path, list[Path], bool, Stage | None, Any]) -> list[SiteOutcome]:
    root, paths, strict, stage, arg = job
    from .project import open_project  # the worker opens the project itself (cheap, picklable args)

    project = open_project(root)
    return [_one(project, path, strict, False, stage, arg) for path in paths]


def _outcomes(
    project: Project,
    paths: list[Path],
    strict: bool,
    keep_loaded: bool,
    stage: Stage | None,
    stage_arg: Any,
    jobs: int,
) -> list[SiteOutcome]:
    """Each site's outcome, in file order; many sites go to a fork pool unless models are kept."""
    if jobs > 1 and len(paths) >= PARALLEL_THRESHOLD and not keep_loaded:
        size = max(8, len(paths) // (jobs * 4))
        chunks = [(project.root, paths[i : i + size], strict, stage, stage_arg) for i in range(0, len(paths), size)]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            return [o for part in pool.map(_chunk, chunks) for o in part]
    return [_one(project, p, strict, keep_loaded, stage, stage_arg) for p in paths]


def _duplicate_slugs(outcomes: list[SiteOutcome]) -> list[Diagnostic]:
    """One error per site whose slug an earlier site already uses; its stage result is dropped."""
    found: list[Diagnostic] = []
    owners: dict[str, SiteOutcome] = {}
    for outcome in outcomes:
        if outcome.slug is None:
            continue
        first = owners.setdefault(outcome.slug, outcome)
        if first is outcome:
            continue
        file, line, col = outcome.slug_at
        found.append(
            Diagnostic(
                file or display_path(outcome.path),
                line,
                col,
                f"slug `{outcome.slug}` is already used by {display_path(first.path)}",
                code="duplicate-slug",
            )
        )
        outcome.payload = None
    return found


def run_sites(
    project: Project,
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    stage: Stage | None = None,
    stage_arg: Any = None,
    keep_loaded: bool = False,
    jobs: int | None = None,
) -> tuple[list[SiteOutcome], list[Diagnostic]]:
    """Load and check each site (and run ``stage`` on each clean one), serially or in a pool.

    Returns the outcomes in file order and every diagnostic, sorted: the project's own, each
    site's, duplicate slugs, and names in ``only`` that match no site.
    """
    diagnostics = list(project.diagnostics)
    files = project.site_files()
    if not files:
        diagnostics.append(
            Diagnostic(
                project.config_path.name,
                1,
                1,
                f"no site files found in `{project.config.sites_dir}/` (expected `{project.config.sites_dir}/<slug>.yaml`)",
                code="no-sites",
            )
        )
        return [], diagnostics
    wanted = set(only) if only else None
    if wanted is not None:
        # Cheap pre-filter by file name; a slug set inside a file is matched after loading.
        by_stem = [p for p in files if p.stem in wanted]
        candidates = by_stem if len(by_stem) == len(wanted) else files
    else:
        candidates = files
    outcomes = _outcomes(project, candidates, strict, keep_loaded, stage, stage_arg, jobs or (os.cpu_count() or 1))
    kept = [o for o in outcomes if wanted is None or (o.slug or o.path.stem) in wanted]
    for outcome in kept:
        diagnostics.extend(outcome.diagnostics)
    diagnostics.extend(_duplicate_slugs(kept))
    if wanted is not None:
        found = {o.slug or o.path.stem for o in kept}
        for missing in sorted(wanted - found):
            diagnostics.append(
                Diagnostic(
                    project.config.sites_dir,
                    1,
                    1,
                    f"no site `{missing}`{did_you_mean(missing, [p.stem for p in files])}",
                    code="unknown-site",
                )
            )
    diagnostics.sort(key=lambda d: (d.file, d.line, d.col, d.message))
    return kept, diagnostics


def _webhook_sites(project: Project, slugs: set[str]) -> list[Diagnostic]:
    """A webhook target limited to a site that no site file has would never receive an event."""
    if not slugs:
        return []  # no site loaded (none found, or all broken): already reported
    found = []
    for i, target in enumerate(project.config.webhooks):
        for j, slug in enumerate(target.sites or []):
            if slug not in slugs:
                _, line, col = project.config_positions.value(("webhooks", i, "sites", j))
                found.append(
                    Diagnostic(
                        project.config_path.name,
                        line,
                        col,
                        f"webhook `{target.url[:100]}` lists site `{slug}`, which no site file has, so it "
                        f"would never receive that site's events{did_you_mean(slug, sorted(slugs))}",
                        code="unknown-site",
                    )
                )
    return found


def check_project(
    project: Project,
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    keep_loaded: bool = True,
    jobs: int | None = None,
) -> CheckResult:
    """Load and check every site of a project (or only the slugs in ``only``).

    With ``keep_loaded=False`` the loaded models are not kept (``result.sites`` is empty),
    which lets large projects be checked in parallel; ``result.slugs`` is always set.
    """
    outcomes, diagnostics = run_sites(project, strict=strict, only=only, keep_loaded=keep_loaded, jobs=jobs)
    if only is None:  # the project's other files: invite templates (`invites/*.yaml`)
        from .invites.template import check_invites

        extra = check_invites(project.root, strict=strict)
        extra += _webhook_sites(project, {o.slug for o in outcomes if o.slug})
        if extra:
            diagnostics = sorted(diagnostics + extra, key=lambda d: (d.file, d.line, d.col, d.message))
    return CheckResult(
        sites=[o.loaded for o in outcomes if o.loaded is not None],
        diagnostics=diagnostics,
        slugs=sorted({o.slug for o in outcomes if o.slug}),
        checked=len(outcomes),
    )
