"""The dashboard's chart of attempts per hour, as SVG geometry computed on the server (no
chart library, no CDN): stacked bars, one per hour, one colour per outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from midoffice.dashboard_selectors import OUTCOMES

COLOURS = {"succeeded": "#1e7d45", "failed": "#b3261e", "needs_review": "#8a3ffc", "unfinished": "#c58a00"}
WIDTH, HEIGHT, AXIS = 720, 180, 20  # the SVG's viewBox, and the room left for the hour labels


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    colour: str
    title: str


@dataclass(frozen=True)
class Label:
    x: int
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    peak: int
    legend: list[tuple[str, str]]


def hourly_chart(hours: list[tuple[datetime, dict[str, int]]]) -> Chart:
    peak = max((sum(counts.values()) for _hour, counts in hours), default=0)
    slot = WIDTH // max(1, len(hours))
    plot = HEIGHT - AXIS
    bars, labels = [], []
    for index, (hour, counts) in enumerate(hours):
        x, base = index * slot, plot
        for outcome in OUTCOMES:
            count = counts.get(outcome, 0)
            if not count:
                continue
            height = max(1, round(plot * count / peak))
            base -= height
            bars.append(Bar(x=x + 2, y=base, width=slot - 4, height=height, colour=COLOURS[outcome],
                            title=f"{hour:%H}:00 {outcome}: {count}"))
        if index % 3 == 0:
            labels.append(Label(x=x + slot // 2, text=f"{hour:%H}h"))
    return Chart(width=WIDTH, height=HEIGHT, bars=bars, labels=labels, peak=peak,
                 legend=[(outcome, COLOURS[outcome]) for outcome in OUTCOMES])
