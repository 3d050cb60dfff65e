"""devices.intervals: cumulative indexes to interval consumption (rollover, reset, gap, exchange)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.intervals import (
    IndexSeriesError,
    Interval,
    IntervalFlag,
    MeterExchange,
    contract_intervals,
    split_evenly,
    to_intervals,
)
from devices.model import ContractDevice, MeterExchangeRecord
from devices.readings import Reading, ReadingQuality

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
STEP = timedelta(minutes=15)
DEVICE, REGISTER = "m-0001", "1-0:1.8.0"
PROPERTY = settings(max_examples=200, deadline=None)


def idx(i: int, value: float, *, quality: ReadingQuality = "actual", device: str = DEVICE) -> Reading:
    """The index ``value`` [kWh] at T0 + i * 15 min."""
    return Reading(device, REGISTER, T0 + i * STEP, value, "kWh", "cumulative", quality, RECEIVED)


def test_increasing_indexes_give_their_differences() -> None:
    out = to_intervals([idx(0, 10.0), idx(1, 10.5), idx(2, 12.0)], register_max=100000.0)
    assert [(iv.start, iv.end) for iv in out] == [(T0, T0 + STEP), (T0 + STEP, T0 + 2 * STEP)]
    assert [iv.consumption for iv in out] == pytest.approx([0.5, 1.5])
    assert all(iv.flags == frozenset() and iv.quality == "actual" and iv.unit == "kWh" for iv in out)


def test_rollover_at_the_register_maximum() -> None:
    (iv,) = to_intervals([idx(0, 99999.9), idx(1, 0.4)], register_max=100000.0)
    assert iv.consumption == pytest.approx(0.5)
    assert iv.flags == {IntervalFlag.ROLLOVER}


def test_small_drop_is_a_reset_with_zero_consumption() -> None:
    out = to_intervals([idx(0, 500.0), idx(1, 480.0), idx(2, 481.0)], register_max=100000.0)
    assert out[0].consumption == 0.0
    assert out[0].flags == {IntervalFlag.RESET}
    assert out[1].consumption == pytest.approx(1.0) and out[1].flags == frozenset()


def test_any_drop_without_register_max_is_a_reset() -> None:
    (iv,) = to_intervals([idx(0, 99999.9), idx(1, 0.4)], register_max=None)
    assert iv.consumption == 0.0 and iv.flags == {IntervalFlag.RESET}


def test_gap_is_flagged_and_conserves_consumption() -> None:
    out = to_intervals([idx(0, 1.0), idx(1, 2.0), idx(5, 10.0)], register_max=100000.0, nominal_interval=STEP)
    assert out[0].flags == frozenset()
    assert out[1].flags == {IntervalFlag.GAP}
    assert (out[1].start, out[1].end) == (T0 + STEP, T0 + 5 * STEP)
    assert out[1].consumption == pytest.approx(8.0)


def test_exchange_adds_old_and_new_meter_parts_and_switches_register_max() -> None:
    exchange = MeterExchange(T0 + STEP + timedelta(minutes=5), 1500.0, 3.0, new_register_max=1000.0)
    readings = [idx(0, 1000.0), idx(1, 1400.0), idx(2, 10.0), idx(3, 999.5), idx(4, 0.5)]
    out = to_intervals(readings, register_max=100000.0, exchanges=[exchange])
    assert [iv.consumption for iv in out] == pytest.approx([400.0, 100.0 + 7.0, 989.5, 1.0])
    assert out[1].flags == {IntervalFlag.EXCHANGE}
    # Only the new 3-digit meter's modulus makes 999.5 -> 0.5 a wrap.
    assert out[3].flags == {IntervalFlag.ROLLOVER}


def test_exchange_contradicting_the_indexes_raises() -> None:
    exchange = MeterExchange(T0 + timedelta(minutes=5), 90.0, 0.0)
    with pytest.raises(ValueError, match="meter exchange at 2026-03-01T00:05:00"):
        to_intervals([idx(0, 100.0), idx(1, 5.0)], register_max=None, exchanges=[exchange])


def test_estimated_quality_is_carried_by_either_bound() -> None:
    out = to_intervals([idx(0, 1.0), idx(1, 2.0, quality="estimated"), idx(2, 3.0), idx(3, 4.0)], register_max=None)
    assert [iv.quality for iv in out] == ["estimated", "estimated", "actual"]


def test_duplicates_keep_the_first_occurrence_in_input_order() -> None:
    readings = [idx(1, 2.0), idx(0, 1.0), idx(1, 2.0), idx(1, 50.0), idx(2, 3.0), idx(0, 1.0)]
    out = to_intervals(readings, register_max=None)
    assert [iv.consumption for iv in out] == pytest.approx([1.0, 1.0])


def test_fewer_than_two_timestamps_give_nothing() -> None:
    assert to_intervals([], register_max=None) == []
    assert to_intervals([idx(0, 1.0), idx(0, 1.0)], register_max=None) == []


def test_mixing_devices_raises() -> None:
    with pytest.raises(ValueError, match="readings mix series"):
        to_intervals([idx(0, 1.0), idx(1, 2.0, device="m-0002")], register_max=None)


def test_interval_readings_are_refused() -> None:
    bad = idx(1, 2.0)._replace(kind="interval")
    with pytest.raises(IndexSeriesError, match="cumulative"):
        to_intervals([idx(0, 1.0), bad], register_max=None)


def test_index_outside_the_register_range_raises() -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1000.0\)"):
        to_intervals([idx(0, 1.0), idx(1, 1000.0)], register_max=1000.0)


def test_as_reading_is_an_interval_reading_at_the_start() -> None:
    (iv,) = to_intervals([idx(0, 1.0), idx(1, 3.0, quality="estimated")], register_max=None)
    assert iv.as_reading(RECEIVED) == Reading(DEVICE, REGISTER, T0, 2.0, "kWh", "interval", "estimated", RECEIVED)


def test_split_evenly_shares_by_duration() -> None:
    gap = Interval(
        DEVICE, REGISTER, T0, T0 + timedelta(minutes=40), 8.0, "kWh", "actual", frozenset({IntervalFlag.GAP})
    )
    pieces = split_evenly(gap, STEP)
    assert [p.end - p.start for p in pieces] == [STEP, STEP, timedelta(minutes=10)]
    assert [p.consumption for p in pieces] == pytest.approx([3.0, 3.0, 2.0])
    assert all(p.flags == {IntervalFlag.GAP} for p in pieces)


# -- properties -----------------------------------------------------------------------------------------------


@st.composite
def metered_series(draw: st.DrawFn) -> tuple[list[Reading], float, float, int]:
    """Readings of a wrapping register from true consumptions: (arrival order, register_max, total, wraps)."""
    register_max = float(10 ** draw(st.integers(4, 9)))
    # Strictly below half the range per interval: otherwise a wrap cannot be told from a reset.
    fractions = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 0.499)), min_size=1, max_size=60))
    consumptions = [f * register_max for f in fractions]
    index = draw(st.floats(0.0, register_max, exclude_max=True))
    readings, wraps = [idx(0, index)], 0
    for i, c in enumerate(consumptions, start=1):
        index += c
        if index >= register_max:
            index -= register_max  # exact (Sterbenz): index < 1.5 * register_max
            wraps += 1
        readings.append(idx(i, index))
    duplicated = draw(st.lists(st.sampled_from(readings), max_size=10))
    arrival = draw(st.permutations(readings + [r._replace(received_at=RECEIVED + STEP) for r in duplicated]))
    return arrival, register_max, math.fsum(consumptions), wraps


@PROPERTY
@given(metered_series())
def test_consumption_is_conserved_across_rollovers_in_any_arrival_order(
    case: tuple[list[Reading], float, float, int],
) -> None:
    arrival, register_max, total, wraps = case
    out = to_intervals(arrival, register_max=register_max)
    n = len({r.ts for r in arrival}) - 1
    assert len(out) == n
    assert all(a.end == b.start for a, b in pairwise(out))
    # Each index carries at most a few units in the last place of register_max of rounding.
    assert math.fsum(iv.consumption for iv in out) == pytest.approx(total, rel=1e-9, abs=8 * n * math.ulp(register_max))
    assert all(iv.consumption >= 0.0 for iv in out)
    assert sum(IntervalFlag.ROLLOVER in iv.flags for iv in out) == wraps
    assert not any(IntervalFlag.RESET in iv.flags for iv in out)


@PROPERTY
@given(
    st.integers(4, 9).flatmap(
        lambda digits: st.tuples(
            st.just(float(10**digits)), st.lists(st.floats(0.0, float(10**digits), exclude_max=True), max_size=40)
        )
    )
)
def test_arbitrary_indexes_never_give_negative_or_phantom_consumption(case: tuple[float, list[float]]) -> None:
    register_max, values = case
    out = to_intervals([idx(i, v) for i, v in enumerate(values)], register_max=register_max)
    assert len(out) == max(len(values) - 1, 0)
    for iv in out:
        if IntervalFlag.ROLLOVER in iv.flags:
            assert 0.0 < iv.consumption < register_max / 2  # a wrap is a drop of more than half the range
        elif IntervalFlag.RESET in iv.flags:
            assert iv.consumption == 0.0
        else:
            assert 0.0 <= iv.consumption < register_max


@PROPERTY
@given(
    span_s=st.integers(1, 2 * 86400),
    nominal_s=st.integers(300, 86400),
    consumption=st.floats(0.0, 1e9),
    flags=st.sets(st.sampled_from(list(IntervalFlag))),
)
def test_split_evenly_conserves_and_is_contiguous(
    span_s: int, nominal_s: int, consumption: float, flags: set[IntervalFlag]
) -> None:
    whole = Interval(
        DEVICE, REGISTER, T0, T0 + timedelta(seconds=span_s), consumption, "kWh", "actual", frozenset(flags)
    )
    nominal = timedelta(seconds=nominal_s)
    pieces = split_evenly(whole, nominal)
    assert pieces[0].start == whole.start and pieces[-1].end == whole.end
    assert all(a.end == b.start for a, b in pairwise(pieces))
    assert all(p.end - p.start == nominal for p in pieces[:-1]) and pieces[-1].end - pieces[-1].start <= nominal
    assert len(pieces) == math.ceil(span_s / nominal_s)
    assert math.fsum(p.consumption for p in pieces) == pytest.approx(consumption, rel=1e-9, abs=1e-12)
    assert all(p.consumption >= 0.0 and p.flags == whole.flags for p in pieces)


def test_contract_intervals_stay_continuous_across_a_meter_exchange() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    at = t0 + timedelta(hours=2)
    rx = t0 + timedelta(days=1)

    def idx(device: str, hours: float, value: float) -> Reading:
        return Reading(device, "1-0:1.8.0", t0 + timedelta(hours=hours), value, "kWh", "cumulative", "actual", rx)

    old = [idx("m-old", 0, 99_990.0), idx("m-old", 1, 99_995.0), idx("m-old", 2, 99_999.0)]  # at 2h: excluded
    new = [idx("m-new", 2, 3.0), idx("m-new", 3, 10.0)]
    stray = [idx("m-other", 1.5, 5.0)]  # not on the contract: ignored
    devices = [ContractDevice("m-old", t0, at), ContractDevice("m-new", at)]
    exchange = MeterExchangeRecord("k-1", at, "1-0:1.8.0", "m-old", 99_998.5, "m-new", 3.0)
    intervals = contract_intervals(
        [*new, *stray, *old],
        register="1-0:1.8.0",
        devices=devices,
        exchanges=[exchange],
        register_max={"m-old": 100_000.0, "m-new": 1_000_000.0},
    )
    # 5.0 (old), 3.5 (old up to its final index 99998.5) + 0 (new from its first index), 7.0 (new)
    assert [round(i.consumption, 9) for i in intervals] == [5.0, 3.5, 7.0]
    assert [i.device_id for i in intervals] == ["m-old", "m-new", "m-new"]
    assert IntervalFlag.EXCHANGE in intervals[1].flags
    assert sum(i.consumption for i in intervals) == pytest.approx((99_998.5 - 99_990.0) + (10.0 - 3.0))
