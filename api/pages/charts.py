"""Charts drawn on the server: stacked bars of consumption per bucket and time-of-use band, as SVG geometry.

The page embeds the SVG inline (no script, no charting library, nothing fetched), drawn from the
same buckets the consumption query returns and that the table under the chart lists, so the chart
and its accessible alternative never disagree. This module computes the geometry only; the
template ``_chart.html`` writes the elements. Coordinates are in SVG user units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Bar", "BarChart", "ChartBucket", "Segment", "nice_ceiling", "stacked_bars"]

WIDTH = 720.0
HEIGHT = 260.0
MARGIN_LEFT = 56.0
MARGIN_RIGHT = 12.0
MARGIN_TOP = 12.0
MARGIN_BOTTOM = 36.0
PALETTE_SIZE = 6  # CSS classes band-0 .. band-5 (api/static/portal.css)
UNBANDED = ""  # the part of a bucket no band claims (no TOU tariff, or readings outside the bands)


class ChartBucket(Protocol):
    @property
    def start(self) -> datetime: ...

    @property
    def total(self) -> float: ...

    @property
    def bands(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Segment:
    band: str
    css: str
    value: float  # [unit]
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    label: str  # e.g. the day of month, under the bar
    title: str  # the full date, for the tooltip
    start: datetime
    total: float  # [unit]
    x: float
    width: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_max: float  # [unit] at the top of the plot
    ticks: tuple[tuple[float, float], ...]  # (value [unit], y)
    bars: tuple[Bar, ...]
    bands: tuple[tuple[str, str], ...]  # legend: (band, css class), in stacking order
    unit: str

    @property
    def empty(self) -> bool:
        return not self.bars or self.y_max <= 0


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (an axis top that reads well)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


def _band_order(buckets: Sequence[ChartBucket]) -> list[str]:
    seen: dict[str, float] = {}
    for bucket in buckets:
        for band, value in bucket.bands.items():
            seen[band] = seen.get(band, 0.0) + value
    # Stack the biggest band at the bottom: the eye compares bars' bases best.
    return sorted(seen, key=lambda band: (-seen[band], band))


def stacked_bars(
    buckets: Sequence[ChartBucket],
    *,
    unit: str,
    label: str = "%d",
    title: str = "%Y-%m-%d",
) -> BarChart:
    """Geometry of one bar per bucket, split by band; what no band covers is the bar's top segment."""
    plot_left, plot_right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    plot_top, plot_bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    order = _band_order(buckets)
    css = {band: f"band-{i % PALETTE_SIZE}" for i, band in enumerate(order)}
    y_max = nice_ceiling(max((b.total for b in buckets), default=0.0))
    scale = (plot_bottom - plot_top) / y_max
    slot = (plot_right - plot_left) / max(len(buckets), 1)
    gap = min(slot * 0.2, 6.0)
    bars: list[Bar] = []
    has_rest = False
    for i, bucket in enumerate(buckets):
        y = plot_bottom
        segments: list[Segment] = []
        parts = [(band, bucket.bands.get(band, 0.0)) for band in order]
        rest = bucket.total - sum(value for _, value in parts)
        if rest > max(1e-9, abs(bucket.total) * 1e-6):
            parts.append((UNBANDED, rest))
            has_rest = True
        for band, value in parts:
            if value <= 0:
                continue
            height = value * scale
            y -= height
            segments.append(Segment(band, css.get(band, "band-other"), value, y, height))
        bars.append(
            Bar(
                label=bucket.start.strftime(label),
                title=bucket.start.strftime(title),
                start=bucket.start,
                total=bucket.total,
                x=plot_left + i * slot + gap / 2,
                width=max(slot - gap, 1.0),
                segments=tuple(segments),
            )
        )
    ticks = tuple((y_max * k / 4, plot_bottom - (plot_bottom - plot_top) * k / 4) for k in range(5))
    legend = [(band, css[band]) for band in order]
    if has_rest:
        legend.append((UNBANDED, "band-other"))
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        y_max=y_max,
        ticks=ticks,
        bars=tuple(bars),
        bands=tuple(legend),
        unit=unit,
    )
