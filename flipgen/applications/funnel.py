"""The funnel of a site: how many applications reached each screen, where they gave up, how long they stayed."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..store.applications import Application, Visit
from .layout import SiteLayout

__all__ = ["Step", "Funnel", "funnel", "duration"]


@dataclass(frozen=True)
class Step:
    screen: str
    title: str
    reached: int
    left: int  # abandoned applications whose last screen was this one
    median_seconds: float | None  # from arriving to moving on (or submitting)

    @property
    def drop_off(self) -> float | None:
        """Share of the applications that reached this screen and gave up on it, in percent."""
        return 100.0 * self.left / self.reached if self.reached else None


@dataclass(frozen=True)
class Funnel:
    site: str
    title: str
    total: int
    counts: dict[str, int]  # by state: started, abandoned, submitted, completed
    steps: list[Step]


def funnel(
    site: str, apps: Sequence[Application], visits: Sequence[Visit], layout: SiteLayout | None, now: datetime
) -> Funnel:
    """Screens in the site's order (screens no longer in the site file after them, as first reached)."""
    by_app: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_app[v.application_id].append(v)
    order = list(layout.screens) if layout is not None else []
    for v in sorted(visits, key=lambda v: (v.position, v.reached_at)):
        if v.screen not in order:
            order.append(v.screen)
    reached: dict[str, int] = defaultdict(int)
    left: dict[str, int] = defaultdict(int)
    times: dict[str, list[float]] = defaultdict(list)
    counts = {"started": 0, "abandoned": 0, "submitted": 0, "completed": 0}
    for app in apps:
        state = app.state(now)
        counts[state] += 1
        path = sorted(by_app.get(app.id, []), key=lambda v: v.position)
        for v in path:
            reached[v.screen] += 1
            if v.left_at is not None:
                times[v.screen].append((v.left_at - v.reached_at).total_seconds())
        if path and state == "abandoned":
            left[path[-1].screen] += 1
    titles = layout.screens if layout is not None else {}
    steps = [
        Step(
            screen,
            titles.get(screen, screen),
            reached[screen],
            left[screen],
            statistics.median(times[screen]) if times[screen] else None,
        )
        for screen in order
    ]
    return Funnel(site, layout.title if layout is not None else site, len(apps), counts, steps)


def duration(seconds: float | None) -> str:
    """`42 s`, `3 min 05 s`, `2 h 03 min`; an em dash when unknown."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
