"""`flipgen applications report`: one self-contained HTML page, the funnel of each site drawn as SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .export import iso
from .funnel import Funnel, Step, duration

__all__ = ["render_report"]

ROW = 40  # SVG units per screen
LABEL_W = 260  # room for the screen title left of the bars
BAR_W = 520


@dataclass(frozen=True)
class Bar:
    step: Step
    y: int
    width: float
    drop_off: str
    median: str


def _bars(f: Funnel) -> list[Bar]:
    top = max((s.reached for s in f.steps), default=0) or 1
    return [
        Bar(
            step=s,
            y=i * ROW,
            width=round(BAR_W * s.reached / top, 1),
            drop_off="—" if s.drop_off is None else f"{s.drop_off:.1f} %",
            median=duration(s.median_seconds),
        )
        for i, s in enumerate(f.steps)
    ]


def render_report(funnels: list[Funnel], now: datetime) -> str:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    sites = [(f, _bars(f)) for f in funnels]
    return env.get_template("report.html").render(
        sites=sites,
        generated=iso(now),
        total=sum(f.total for f in funnels),
        row=ROW,
        label_w=LABEL_W,
        bar_w=BAR_W,
    )
