"""Hypothesis strategies for random tariffs' kernel inputs and readings around awkward instants."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import strategies as st

from rating.kernels import IntervalArrays
from rating.schedule import ClockRange, Schedule

ZONES = ["Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata"]
# DST days (Paris 2026-03-29 is 23 h, 2026-10-25 is 25 h; New York 2026-03-08/11-01), a leap day, month edges.
ANCHORS = [
    datetime(2026, 3, 28, 20, tzinfo=UTC),
    datetime(2026, 10, 24, 20, tzinfo=UTC),
    datetime(2026, 3, 7, 22, tzinfo=UTC),
    datetime(2026, 10, 31, 22, tzinfo=UTC),
    datetime(2024, 2, 28, 18, tzinfo=UTC),
    datetime(2026, 1, 31, 21, tzinfo=UTC),
    datetime(2025, 12, 31, 22, 45, tzinfo=UTC),
]
LENGTHS = [900, 1800, 3600]


@st.composite
def clock_ranges(draw: st.DrawFn, bands: tuple[str, ...]) -> Schedule:
    ranges = []
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(st.lists(st.integers(0, 95), min_size=2, max_size=2, unique=True))
        ranges.append(
            ClockRange(
                band=draw(st.sampled_from(bands)),
                start=f"{start // 4:02d}:{start % 4 * 15:02d}",
                end=f"{end // 4:02d}:{end % 4 * 15:02d}",
                days=tuple(draw(st.sets(st.sampled_from(["weekday", "weekend", "holiday"]), min_size=1))),
                months=tuple(draw(st.sets(st.integers(1, 12), min_size=1))),
            )
        )
    return Schedule(ranges=tuple(ranges), default_band=bands[0])


@st.composite
def readings(draw: st.DrawFn, n_devices: int) -> IntervalArrays:
    """Sorted, non-overlapping readings of mixed lengths, some devices empty, some single readings."""
    device, start, length, quantity = [], [], [], []
    for d in range(n_devices):
        count = draw(st.sampled_from([0, 1, 2, 5, 40, 120]))
        t = int(draw(st.sampled_from(ANCHORS)).timestamp()) + 900 * draw(st.integers(0, 8))
        for _ in range(count):
            step = draw(st.sampled_from(LENGTHS))
            t += (-t) % step if draw(st.booleans()) else 0  # often on the grid of its own length
            # integers hit tier limits exactly; fractions exercise rounding
            q = draw(st.one_of(st.integers(0, 5).map(float), st.floats(0, 5, allow_nan=False)))
            device.append(d)
            start.append(t)
            length.append(step)
            quantity.append(q)
            t += step + draw(st.sampled_from([0, 0, 0, 900, 3600 * 20]))
    return IntervalArrays(
        np.asarray(device, dtype=np.int32),
        np.asarray(start, dtype=np.int64),
        np.asarray(length, dtype=np.int32),
        np.asarray(quantity, dtype=np.float64),
    )
