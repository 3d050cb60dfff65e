"""Kernels equal their naive twins (rating/reference.py) on random tariffs and readings.

Readings start around DST days (23 and 25 hours), month edges and a leap day, with mixed interval
lengths (15 min, 30 min, 1 h), gaps, empty devices and single readings; quantities hit tier limits
exactly. The same tests run uncompiled (NUMBA_DISABLE_JIT=1) in test_kernels_uncompiled.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rating.calendar import BillingPeriod, build_calendar, holiday_days
from rating.errors import InputArrayError, ReadingsError
from rating.kernels import (
    DemandSpec,
    IntervalArrays,
    QuantitySpec,
    device_offsets,
    event_counts,
    split_demand_tiers,
    split_pro_rata,
    sweep_intervals,
)
from rating.reference import (
    LocalClock,
    ref_event_counts,
    ref_peaks,
    ref_quantities,
    ref_split_demand_tiers,
    ref_split_pro_rata,
)
from rating.tariff import Holidays
from tests.rating.strategies import ZONES, clock_ranges, readings

BANDS = ("a", "b", "c")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _clock(
    zone: ZoneInfo, cal_periods: tuple[BillingPeriod, ...], holiday_spec: Holidays | None, first: int, last: int
) -> LocalClock:
    dates: set[date] = set()
    if holiday_spec is not None:
        # local dates may be a day off the UTC ones: ask for a margin
        for day in holiday_days(
            holiday_spec,
            datetime.fromtimestamp(first - 2 * 86400, UTC).date(),
            datetime.fromtimestamp(last + 2 * 86400, UTC).date(),
        ):
            dates.add(datetime.fromtimestamp(int(day) * 86400, UTC).date())
    return LocalClock(zone, dates, cal_periods)


@FAST
@given(
    data=st.data(),
    zone_name=st.sampled_from(ZONES),
    n_devices=st.integers(1, 3),
    limits=st.lists(st.integers(1, 30).map(float), max_size=2, unique=True).map(sorted),
    cap=st.one_of(st.none(), st.integers(1, 20).map(float)),
    window_min=st.sampled_from([10, 15, 30, 60]),
    cycle_day=st.sampled_from([1, 1, 15]),
    with_holidays=st.booleans(),
)
def test_sweep_equals_reference(
    data: st.DataObject,
    zone_name: str,
    n_devices: int,
    limits: list[float],
    cap: float | None,
    window_min: int,
    cycle_day: int,
    with_holidays: bool,
) -> None:
    zone = ZoneInfo(zone_name)
    arrays = data.draw(readings(n_devices))
    q_schedule = data.draw(clock_ranges(BANDS))
    d_schedule = data.draw(clock_ranges(BANDS[:2]))
    if len(arrays) == 0:
        first = last = int(datetime(2026, 3, 29, tzinfo=UTC).timestamp())
    else:
        first, last = int(arrays.start_s.min()), int((arrays.start_s + arrays.length_s).max()) - 1
    holiday_spec = Holidays(country="FR") if with_holidays else None
    cal = build_calendar(zone, first, last, granularity_s=900, cycle_day=cycle_day, holiday_spec=holiday_spec)
    tier_limits = np.asarray(limits, dtype=np.float64)
    q_spec = QuantitySpec(cal.bands(q_schedule, BANDS), 3, tier_limits, cap, count_readings=True)
    d_spec = DemandSpec(cal.bands(d_schedule, BANDS[:2]), 2, window_min * 60)
    offsets = device_offsets(arrays.device, n_devices)
    result, peaks = sweep_intervals(arrays, offsets, cal, q_spec, d_spec)
    assert result is not None and peaks is not None

    clock = _clock(zone, cal.periods, holiday_spec, first, last)
    rows = list(
        zip(
            arrays.device.tolist(),
            arrays.start_s.tolist(),
            arrays.length_s.tolist(),
            arrays.quantity.tolist(),
            strict=True,
        )
    )
    out, above, count, outside = ref_quantities(rows, n_devices, clock, q_schedule, BANDS, limits, cap)
    np.testing.assert_allclose(result.by_band_tier, np.asarray(out).reshape(result.by_band_tier.shape), atol=1e-9)
    np.testing.assert_allclose(result.above_cap, np.asarray(above).reshape(result.above_cap.shape), atol=1e-9)
    np.testing.assert_array_equal(result.count, np.asarray(count).reshape(result.count.shape))
    np.testing.assert_allclose(result.outside, outside, atol=1e-9)
    expected_peaks = ref_peaks(rows, n_devices, clock, d_schedule, BANDS[:2], window_min * 60)
    np.testing.assert_allclose(peaks, np.asarray(expected_peaks).reshape(peaks.shape), atol=1e-9)
    # Nothing is lost: every reading is in a tier, above the cap, or outside the periods.
    total = result.by_band_tier.sum() + result.above_cap.sum() + result.outside.sum()
    assert total == pytest.approx(arrays.quantity.sum(), abs=1e-9)


@FAST
@given(
    by_band=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=4),
    limits=st.lists(st.integers(1, 200).map(float), max_size=3, unique=True).map(sorted),
)
def test_tier_splits_equal_reference(by_band: list[float], limits: list[float]) -> None:
    tier_limits = np.asarray(limits, dtype=np.float64)
    got = split_pro_rata(np.asarray([by_band]), tier_limits)[0]
    np.testing.assert_allclose(got, ref_split_pro_rata(by_band, limits), atol=1e-9)
    assert got.sum() == pytest.approx(sum(by_band), abs=1e-9)
    peaks = np.asarray(by_band)
    np.testing.assert_allclose(
        split_demand_tiers(peaks, tier_limits), [ref_split_demand_tiers(p, limits) for p in by_band], atol=1e-12
    )


@FAST
@given(data=st.data(), n_devices=st.integers(1, 3), n_kinds=st.integers(1, 3))
def test_event_counts_equal_reference(data: st.DataObject, n_devices: int, n_kinds: int) -> None:
    arrays = data.draw(readings(n_devices))
    kinds = np.asarray(
        data.draw(st.lists(st.integers(0, n_kinds - 1), min_size=len(arrays), max_size=len(arrays))), dtype=np.int32
    )
    zone = ZoneInfo("Europe/Paris")
    first = int(arrays.start_s.min()) if len(arrays) else 1_774_000_000
    last = int(arrays.start_s.max()) if len(arrays) else first
    cal = build_calendar(zone, first, last)
    got = event_counts(
        device_offsets(arrays.device, n_devices), arrays.device, arrays.start_s, kinds, arrays.quantity, cal, n_kinds
    )
    rows = list(
        zip(arrays.device.tolist(), arrays.start_s.tolist(), kinds.tolist(), arrays.quantity.tolist(), strict=True)
    )
    expected = ref_event_counts(rows, n_devices, LocalClock(zone, set(), cal.periods), n_kinds)
    np.testing.assert_allclose(got, np.asarray(expected).reshape(got.shape), atol=1e-9)


def _simple(start: list[int], quantity: list[float], device: list[int] | None = None) -> IntervalArrays:
    return IntervalArrays(
        np.asarray(device or [0] * len(start), dtype=np.int32),
        np.asarray(start, dtype=np.int64),
        np.full(len(start), 900, dtype=np.int32),
        np.asarray(quantity, dtype=np.float64),
    )


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (_simple([0, 900], [1.0, 1.0], device=[1, 0]), "not sorted by device"),
        (_simple([900, 0], [1.0, 1.0]), "reading 1: readings of a device are not in time order"),
        (_simple([0, 600], [1.0, 1.0]), "reading 1: readings of a device are not in time order or overlap"),
        (_simple([0, 900], [1.0, float("nan")]), "reading 1: quantity is negative or not a number"),
        (_simple([0, 900], [-1.0, 1.0]), "reading 0: quantity is negative"),
        (_simple([0, 10**9], [1.0, 1.0]), "reading 1: reading starts outside the calendar"),
    ],
)
def test_bad_readings_name_the_reading(arrays: IntervalArrays, message: str) -> None:
    cal = build_calendar(ZoneInfo("UTC"), 0, 3600)
    spec = QuantitySpec(cal.bands(None, ("all",)), 1, np.zeros(0))
    with pytest.raises(ReadingsError, match=message):
        sweep_intervals(arrays, device_offsets(arrays.device, 2), cal, spec, DemandSpec(spec.slot_band, 1, 900))


def test_wrong_dtypes_are_refused_with_a_remedy() -> None:
    with pytest.raises(InputArrayError, match=r"np.ascontiguousarray\(start_s, dtype=np.int64\)"):
        IntervalArrays(np.zeros(1, np.int32), np.zeros(1, np.float64), np.zeros(1, np.int32), np.zeros(1))
    cal = build_calendar(ZoneInfo("UTC"), 0, 3600)
    with pytest.raises(InputArrayError, match="slot_band"):
        sweep_intervals(
            _simple([0], [1.0]), np.asarray([0, 1]), cal, QuantitySpec(np.zeros(3, np.int16), 1, np.zeros(0)), None
        )


def test_hourly_reading_spreads_over_quarter_hour_windows_and_quarters_fill_an_hour() -> None:
    cal = build_calendar(ZoneInfo("UTC"), 0, 7200)
    bands = cal.bands(None, ("all",))
    hourly = IntervalArrays(np.zeros(1, np.int32), np.zeros(1, np.int64), np.full(1, 3600, np.int32), np.ones(1) * 4.0)
    peaks = sweep_intervals(hourly, np.asarray([0, 1]), cal, None, DemandSpec(bands, 1, 900))[1]
    assert peaks is not None and peaks[0, 0, 0] == pytest.approx(4.0)  # 1 kWh per 15 min = 4 kW
    quarters = _simple([0, 900, 1800, 2700], [1.0, 2.0, 0.5, 0.5])
    peaks = sweep_intervals(quarters, np.asarray([0, 4]), cal, None, DemandSpec(bands, 1, 3600))[1]
    assert peaks is not None and peaks[0, 0, 0] == pytest.approx(4.0)  # 4 kWh in the hour = 4 kW
