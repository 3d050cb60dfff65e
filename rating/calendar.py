"""The tariff's clock, precomputed: billing periods and a slot table of local facts.

Kernels never touch ``datetime``. This module cuts the covered time into slots of ``slot_s``
seconds (UTC epoch multiples, so slot edges are local clock edges too: every UTC offset of the
zone in the range is a multiple of ``slot_s``) and gives each slot its billing period, local day,
month and day type (weekday, weekend, public holiday) through zoneinfo and the ``holidays``
package. DST days come out right by construction: Europe/Paris 2026-03-29 has 23 hourly slots,
2026-10-25 has 25.

Billing periods run from local midnight of ``cycle_day`` to the same day next month (a calendar
month when ``cycle_day`` is 1), clipped to the contract dates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib
import numpy as np
import numpy.typing as npt

from rating.errors import RatingError
from rating.schedule import Schedule, band_table
from rating.tariff import Contract, Holidays

__all__ = ["BillingPeriod", "SlotCalendar", "billing_periods", "build_calendar", "local_midnight_s", "utc_offsets"]

_DAY_S = 86_400
_MIN_SLOT_S = 60  # a zone whose offsets need finer slots (pre-1900 local mean time) is refused
_SAMPLE_S = 6 * 3600  # zones change offset at most once in this span; bisect finds the exact second


@dataclass(frozen=True)
class BillingPeriod:
    """One billing period: local dates [start, end) and the same instants as UTC epoch seconds [s]."""

    index: int
    start: date
    end: date
    start_s: int
    end_s: int
    cycle_days: int  # days of the whole cycle (month) the period belongs to, for prorating monthly charges

    @property
    def days(self) -> int:
        """Local days in the period [day]."""
        return (self.end - self.start).days


def local_midnight_s(day: date, zone: ZoneInfo) -> int:
    """UTC epoch seconds [s] of local midnight starting ``day`` in ``zone``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _add_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, day.day)


def _cycle_start(day: date, cycle_day: int) -> date:
    if day.day >= cycle_day:
        return day.replace(day=cycle_day)
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, cycle_day)


def billing_periods(
    first_s: int, last_s: int, zone: ZoneInfo, *, cycle_day: int = 1, contract: Contract | None = None
) -> tuple[BillingPeriod, ...]:
    """The billing periods that contain the instants ``first_s`` .. ``last_s`` [s], clipped to the contract."""
    first = datetime.fromtimestamp(first_s, zone).date()
    last = datetime.fromtimestamp(last_s, zone).date()
    periods: list[BillingPeriod] = []
    start = _cycle_start(first, cycle_day)
    while start <= last:
        end = _add_month(start)
        lo, hi = start, end
        if contract is not None:
            lo = max(lo, contract.start) if contract.start else lo
            hi = min(hi, contract.end) if contract.end else hi
        if lo < hi:
            periods.append(
                BillingPeriod(
                    index=len(periods),
                    start=lo,
                    end=hi,
                    start_s=local_midnight_s(lo, zone),
                    end_s=local_midnight_s(hi, zone),
                    cycle_days=(end - start).days,
                )
            )
        start = end
    return tuple(periods)


def _transitions(zone: ZoneInfo, start_s: int, end_s: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Instants [s] from which each UTC offset [s] holds, covering [start_s, end_s]."""

    def offset(t: int) -> int:
        delta = datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset() or timedelta(0)
        return int(delta.total_seconds())

    t = start_s - _DAY_S
    times, offsets = [t], [offset(t)]
    while t < end_s + _DAY_S:
        nxt = t + _SAMPLE_S
        if offset(nxt) != offsets[-1]:
            lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new one: bisect to the second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offsets[-1] else (lo, mid)
            times.append(hi)
            offsets.append(offset(hi))
        t = nxt
    return np.asarray(times, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def utc_offsets(zone: ZoneInfo, instants_s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """UTC offset [s] of ``zone`` at each instant [s] (vectorised; exact to the second)."""
    if instants_s.size == 0:
        return np.zeros(0, dtype=np.int64)
    times, offsets = _transitions(zone, int(instants_s.min()), int(instants_s.max()))
    return offsets[np.searchsorted(times, instants_s, side="right") - 1]


def holiday_days(spec: Holidays | None, first: date, last: date) -> npt.NDArray[np.int64]:
    """Public holidays between ``first`` and ``last`` as local day numbers (days since 1970-01-01)."""
    if spec is None:
        return np.zeros(0, dtype=np.int64)
    try:
        found = holidays_lib.country_holidays(
            spec.country, subdiv=spec.subdivision, years=range(first.year, last.year + 1)
        )
    except NotImplementedError:
        raise RatingError(f"the holidays package knows no country {spec.country!r}") from None
    days = sorted({*found.keys(), *spec.extra})
    return np.asarray([(d - date(1970, 1, 1)).days for d in days], dtype=np.int64)


@dataclass(frozen=True)
class SlotCalendar:
    """Per-slot local facts over [t0_s, t0_s + slot_s x n): the arrays kernels index by ``(ts - t0_s) // slot_s``."""

    t0_s: int
    slot_s: int
    period: npt.NDArray[np.int32]  # billing period index, -1 outside every period
    day: npt.NDArray[np.int32]  # local day number (days since 1970-01-01 local)
    month: npt.NDArray[np.int8]  # 0-11
    day_type: npt.NDArray[np.int8]  # 0 weekday, 1 weekend, 2 public holiday (schedule.DAY_TYPES)
    second_of_day: npt.NDArray[np.int32]  # local [s] since midnight at the slot's start
    first_offset_s: int  # UTC offset at t0 [s], to align demand windows to the local clock
    periods: tuple[BillingPeriod, ...]

    @property
    def end_s(self) -> int:
        """First instant after the table [s]."""
        return self.t0_s + self.slot_s * len(self.period)

    def bands(self, schedule: Schedule | None, band_names: tuple[str, ...]) -> npt.NDArray[np.int16]:
        """Band index of each slot under ``schedule``."""
        table = band_table(schedule, band_names, self.slot_s)
        return np.ascontiguousarray(table[self.month, self.day_type, self.second_of_day // self.slot_s])

    def window_origin_s(self, window_s: int) -> int:
        """An instant [s] on the local clock's window grid: windows are [origin + k x window_s, ...)."""
        return (-self.first_offset_s) % window_s


def build_calendar(
    zone: ZoneInfo,
    first_s: int,
    last_s: int,
    *,
    granularity_s: int = 3600,
    cycle_day: int = 1,
    contract: Contract | None = None,
    holiday_spec: Holidays | None = None,
) -> SlotCalendar:
    """A slot calendar covering every instant in [first_s, last_s] and the billing periods around them.

    ``granularity_s`` [s] is the coarsest slot that divides every band change of the tariff's
    schedules (3600 for hourly schedules); the slot is finer if the zone's offsets need it.
    """
    if last_s < first_s:
        raise ValueError("last_s must be >= first_s")
    periods = billing_periods(first_s, last_s, zone, cycle_day=cycle_day, contract=contract)
    lo = min([first_s, *(p.start_s for p in periods)])
    hi = max([last_s + 1, *(p.end_s for p in periods)])
    times, offsets = _transitions(zone, lo, hi)
    slot_s = math.gcd(granularity_s, _DAY_S, *(int(o) for o in offsets))
    if slot_s < _MIN_SLOT_S:
        raise RatingError(f"time zone {zone.key} has an offset that is not a whole minute in this range")
    t0 = lo - lo % slot_s
    n = (hi - t0 + slot_s - 1) // slot_s
    starts = t0 + slot_s * np.arange(n, dtype=np.int64)
    local = starts + offsets[np.searchsorted(times, starts, side="right") - 1]
    day = local // _DAY_S
    months = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    day_type = np.where(weekday >= 5, 1, 0)
    if holiday_spec is not None:
        first_day = date(1970, 1, 1) + timedelta(days=int(day[0]))
        last_day = date(1970, 1, 1) + timedelta(days=int(day[-1]))
        day_type = np.where(np.isin(day, holiday_days(holiday_spec, first_day, last_day)), 2, day_type)
    period = np.full(n, -1, dtype=np.int32)
    for p in periods:
        period[(starts >= p.start_s) & (starts < p.end_s)] = p.index
    return SlotCalendar(
        t0_s=int(t0),
        slot_s=int(slot_s),
        period=period,
        day=day.astype(np.int32),
        month=months.astype(np.int8),
        day_type=day_type.astype(np.int8),
        second_of_day=(local % _DAY_S).astype(np.int32),
        first_offset_s=int(offsets[np.searchsorted(times, t0, side="right") - 1]),
        periods=periods,
    )
