"""Naive twins of the kernels: slow, plain Python, obviously right.

They share no code with the kernels or the slot calendar: every reading's local time comes from
``zoneinfo`` directly, its band from reading the schedule as a person would, its period from
comparing instants with the period bounds. Tests check that kernels equal these on random
tariffs and readings (DST days, period edges, leap days, tier edges, empty periods, single readings).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rating.calendar import BillingPeriod
from rating.schedule import DAY_TYPES, Schedule

__all__ = [
    "LocalClock",
    "ref_event_counts",
    "ref_peaks",
    "ref_quantities",
    "ref_split_demand_tiers",
    "ref_split_pro_rata",
]

Nested = list[Any]  # the nested lists the twins return ([device][period][band]...)


class LocalClock:
    """Local facts of an instant in the tariff's zone, one ``datetime`` at a time."""

    def __init__(self, zone: ZoneInfo, holidays: set[date], periods: Sequence[BillingPeriod]) -> None:
        self.zone = zone
        self.holidays = holidays
        self.periods = periods

    def local(self, t: int) -> datetime:
        return datetime.fromtimestamp(t, UTC).astimezone(self.zone)

    def period(self, t: int) -> int:
        for p in self.periods:
            if p.start_s <= t < p.end_s:
                return p.index
        return -1

    def day_type(self, t: int) -> int:
        local = self.local(t)
        if local.date() in self.holidays:
            return 2
        return 1 if local.weekday() >= 5 else 0

    def band(self, schedule: Schedule | None, band_names: Sequence[str], t: int) -> int:
        if schedule is None:
            return 0
        local = self.local(t)
        day_type = self.day_type(t)
        if schedule.ranges is None:
            tables = (schedule.weekday, schedule.weekend, schedule.holiday or schedule.weekend)
            table = tables[day_type]
            assert table is not None
            return table[local.month - 1][local.hour]
        minute = local.hour * 60 + local.minute
        found = schedule.default_band
        for r in schedule.ranges:  # later ranges win
            if local.month not in r.months or DAY_TYPES[day_type] not in r.days:
                continue
            start = int(r.start[:2]) * 60 + int(r.start[3:])
            end = int(r.end[:2]) * 60 + int(r.end[3:])
            inside = start <= minute < end if start < end else (minute >= start or minute < end)
            if inside:
                found = r.band
        return list(band_names).index(found)  # type: ignore[arg-type]


def _zeros(*shape: int) -> Nested:
    if len(shape) == 1:
        return [0.0] * shape[0]
    return [_zeros(*shape[1:]) for _ in range(shape[0])]


def ref_quantities(
    readings: Sequence[tuple[int, int, int, float]],
    n_devices: int,
    clock: LocalClock,
    schedule: Schedule | None,
    band_names: Sequence[str],
    tier_limits: Sequence[float],
    daily_cap: float | None,
) -> tuple[Nested, Nested, Nested, list[float]]:
    """Twin of the sweep's quantity part: ``(by_band_tier, above_cap, count, outside)`` as nested lists.

    ``readings``: ``(device, start [s], length [s], quantity [unit])`` sorted by device then start.
    """
    n_periods, n_bands, n_tiers = len(clock.periods), len(band_names), len(tier_limits) + 1
    out = _zeros(n_devices, n_periods, n_bands, n_tiers)
    above = _zeros(n_devices, n_periods, n_bands)
    count = _zeros(n_devices, n_periods)
    outside = [0.0] * n_devices
    used_in_period: dict[tuple[int, int], float] = defaultdict(float)
    used_on_day: dict[tuple[int, date], float] = defaultdict(float)
    for device, start, _length, q in readings:
        p = clock.period(start)
        if p < 0:
            outside[device] += q
            continue
        band = clock.band(schedule, band_names, start)
        charged = q
        if daily_cap is not None:
            day = (device, clock.local(start).date())
            charged = min(q, max(daily_cap - used_on_day[day], 0.0))
            used_on_day[day] += q
            above[device][p][band] += q - charged
        count[device][p] += 1
        lower = 0.0
        used = used_in_period[(device, p)]
        for tier, upper in enumerate([*tier_limits, float("inf")]):
            # the part of [used, used + charged) that lies in [lower, upper)
            part = max(0.0, min(used + charged, upper) - max(used, lower))
            out[device][p][band][tier] += part
            lower = upper
        used_in_period[(device, p)] = used + charged
    return out, above, count, outside


def ref_peaks(
    readings: Sequence[tuple[int, int, int, float]],
    n_devices: int,
    clock: LocalClock,
    schedule: Schedule | None,
    band_names: Sequence[str],
    window_s: int,
) -> Nested:
    """Twin of the sweep's demand part: peak window power [kW] per ``[device][period][band]``."""
    energy: dict[tuple[int, int], float] = defaultdict(float)  # (device, window start [s]) -> kWh
    for device, start, length, q in readings:
        offset = int(clock.local(start).utcoffset().total_seconds())  # type: ignore[union-attr]
        window = start - (start + offset) % window_s  # on the local clock's grid
        while window < start + length:
            overlap = min(start + length, window + window_s) - max(start, window)
            energy[(device, window)] += q * overlap / length
            window += window_s
    peaks = _zeros(n_devices, len(clock.periods), len(band_names))
    for (device, window), kwh in energy.items():
        p = clock.period(window)
        if p >= 0:
            band = clock.band(schedule, band_names, window)
            peaks[device][p][band] = max(peaks[device][p][band], kwh * 3600.0 / window_s)
    return peaks


def ref_event_counts(
    events: Sequence[tuple[int, int, int, float]], n_devices: int, clock: LocalClock, n_kinds: int
) -> Nested:
    """Twin of the event kernel: ``(device, ts [s], kind, count)`` -> count per ``[device][period][kind]``."""
    out = _zeros(n_devices, len(clock.periods), n_kinds)
    for device, ts, kind, n in events:
        p = clock.period(ts)
        if p >= 0:
            out[device][p][kind] += n
    return out


def ref_split_pro_rata(by_band: Sequence[float], tier_limits: Sequence[float]) -> Nested:
    """Twin of :func:`rating.kernels.split_pro_rata` for one device-period: ``[band][tier]``."""
    total = sum(by_band)
    bounds = [0.0, *tier_limits, float("inf")]
    in_tier = [max(0.0, min(total, bounds[t + 1]) - bounds[t]) for t in range(len(bounds) - 1)]
    return [[(q / total if total > 0 else 0.0) * width for width in in_tier] for q in by_band]


def ref_split_demand_tiers(peak_kw: float, tier_limits: Sequence[float]) -> list[float]:
    """Twin of :func:`rating.kernels.split_demand_tiers` for one peak [kW]: kW per tier."""
    bounds = [0.0, *tier_limits, float("inf")]
    return [max(0.0, min(peak_kw, bounds[t + 1]) - bounds[t]) for t in range(len(bounds) - 1)]
