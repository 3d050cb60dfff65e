"""Server-drawn chart geometry (api/pages/charts.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from api.pages.charts import nice_ceiling, stacked_bars


@dataclass
class _Bucket:
    start: datetime
    total: float
    bands: dict[str, float] = field(default_factory=dict)


@pytest.mark.parametrize(("value", "top"), [(0.0, 1.0), (0.7, 1.0), (13.9, 20.0), (21.0, 25.0), (480.0, 500.0)])
def test_axis_top(value: float, top: float) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_bars_stack_the_bands_and_show_what_no_band_claims() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    buckets = [
        _Bucket(day, 10.0, {"hp": 6.0, "hc": 4.0}),
        _Bucket(day + timedelta(days=1), 12.0, {"hp": 8.0, "hc": 2.0}),  # 2.0 outside the bands
    ]
    chart = stacked_bars(buckets, unit="kWh")
    assert [band for band, _ in chart.bands] == ["hp", "hc", ""]  # biggest band at the bottom
    assert chart.y_max == 20.0
    first, second = chart.bars
    assert [s.band for s in first.segments] == ["hp", "hc"]
    assert [s.band for s in second.segments] == ["hp", "hc", ""]
    plot_height = chart.plot_bottom - chart.plot_top
    assert sum(s.height for s in second.segments) == pytest.approx(plot_height * 12 / 20)
    assert second.segments[0].y + second.segments[0].height == pytest.approx(chart.plot_bottom)
    assert first.x < second.x and first.label == "01"


def test_no_data_is_an_empty_chart() -> None:
    assert stacked_bars([], unit="kWh").empty
