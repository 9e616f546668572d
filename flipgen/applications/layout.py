"""What the project's site files say about an application's columns: fields, labels, screens."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..project import Project

__all__ = ["SiteLayout", "load_layouts"]


@dataclass(frozen=True)
class SiteLayout:
    """One site's fields (id → label) and screens (id → title), in the order a visitor meets them."""

    slug: str
    title: str
    fields: dict[str, str] = field(default_factory=dict)
    screens: dict[str, str] = field(default_factory=dict)
    params: list[str] = field(default_factory=list)

    def label(self, field_id: str) -> str:
        return self.fields.get(field_id) or field_id


def load_layouts(project: Project) -> tuple[dict[str, SiteLayout], list[str]]:
    """Every site of the project that loads, by slug, and a note for each site file that did not."""
    from ..checks import run_sites

    outcomes, _ = run_sites(project, keep_loaded=True)
    layouts: dict[str, SiteLayout] = {}
    notes: list[str] = []
    for outcome in outcomes:
        site = outcome.loaded.site if outcome.loaded is not None else None
        if site is None or site.slug is None:
            notes.append(f"{outcome.path.name} does not load (run `flipgen check`); its answers are shown by field id")
            continue
        fields: dict[str, str] = {}
        screens: dict[str, str] = {}
        for screen in site.screens:
            screens[screen.id] = screen.title or screen.id
            for spec in getattr(screen, "fields", None) or []:
                fields.setdefault(spec.id, spec.label or spec.id)
        layouts[site.slug] = SiteLayout(site.slug, site.title, fields, screens, [p.name for p in site.params])
    return layouts, notes
