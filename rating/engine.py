"""The rating engine: a tariff and readings arrays in, rated quantities per billing period out.

``rate()`` builds the tariff's slot calendar over the readings, runs one sweep per pair of
(quantity charge, demand charge) on the same readings, splits tiers that work on period totals,
counts telematics events, and returns a :class:`Rating`: quantities only, no money
(``billing.lines`` prices them). Inputs are in canonical units (kWh, m^3, km; seconds); gas read
in m^3 is converted to kWh here when the tariff has a ``gas_conversion``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from rating.calendar import BillingPeriod, SlotCalendar, build_calendar
from rating.errors import ReadingsError
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
from rating.schedule import schedule_granularity_s
from rating.tariff import DemandCharge, QuantityCharge, Tariff

__all__ = ["EventArrays", "RatedDemand", "RatedQuantity", "Rating", "prepare_calendar", "rate"]


@dataclass(frozen=True)
class EventArrays:
    """Telematics events sorted by device: device [index], ts [s], kind [index into ``kinds``], count."""

    device: npt.NDArray[np.int32]
    ts_s: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int32]
    count: npt.NDArray[np.float64]
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class RatedQuantity:
    """A quantity charge's quantities [unit]: ``by_band_tier[device, period, band, tier]`` and the free part."""

    charge: QuantityCharge
    by_band_tier: npt.NDArray[np.float64]
    above_cap: npt.NDArray[np.float64]  # [device, period, band]
    count: npt.NDArray[np.int64]  # [device, period] readings, i.e. trips for distance
    outside: npt.NDArray[np.float64]  # [device] quantity outside every billing period


@dataclass(frozen=True)
class RatedDemand:
    """A demand charge's peaks [kW] per ``[device, period, band]`` and kW per tier ``[..., tier]``."""

    charge: DemandCharge
    peaks_kw: npt.NDArray[np.float64]
    by_band_tier: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Rating:
    """Everything billing needs from rating: periods and quantities, per device."""

    tariff: Tariff
    periods: tuple[BillingPeriod, ...]
    n_devices: int
    quantities: tuple[RatedQuantity, ...]
    demands: tuple[RatedDemand, ...]
    events: npt.NDArray[np.float64]  # [device, period, kind]
    event_kinds: tuple[str, ...]


def _granularity(tariff: Tariff) -> int:
    schedules = [c.schedule for c in tariff.energy_charges] + [c.schedule for c in tariff.demand_charges]
    return math.gcd(3600, *(schedule_granularity_s(s) for s in schedules))


def prepare_calendar(tariff: Tariff, first_s: int, last_s: int) -> SlotCalendar:
    """The tariff's slot calendar covering instants [first_s, last_s] [s]."""
    return build_calendar(
        tariff.zone,
        first_s,
        last_s,
        granularity_s=_granularity(tariff),
        cycle_day=tariff.billing.cycle_day,
        contract=tariff.contract,
        holiday_spec=tariff.holidays,
    )


def _span(arrays: list[IntervalArrays], events: EventArrays | None) -> tuple[int, int]:
    firsts = [int(a.start_s.min()) for a in arrays if len(a)]
    lasts = [int((a.start_s + a.length_s).max()) - 1 for a in arrays if len(a)]
    if events is not None and events.ts_s.size:
        firsts.append(int(events.ts_s.min()))
        lasts.append(int(events.ts_s.max()))
    if not firsts:
        raise ReadingsError("no readings to rate")
    return min(firsts), max(lasts)


def _by_unit(tariff: Tariff, intervals: Mapping[str, IntervalArrays]) -> dict[str, IntervalArrays]:
    arrays = dict(intervals)
    if tariff.gas_conversion is not None and "m^3" in arrays:
        if "kWh" in arrays:
            raise ReadingsError(
                "this tariff converts gas volume [m^3] to kWh; give volume or energy readings, not both"
            )
        volume = arrays.pop("m^3")
        kwh = volume.quantity * tariff.gas_conversion.kwh_per_m3
        arrays["kWh"] = IntervalArrays(volume.device, volume.start_s, volume.length_s, kwh)
    return arrays


def rate(
    tariff: Tariff,
    intervals: Mapping[str, IntervalArrays],
    n_devices: int,
    events: EventArrays | None = None,
    calendar: SlotCalendar | None = None,
) -> Rating:
    """Rate interval readings [canonical unit per interval] keyed by unit (``kWh``, ``m^3``, ``km``).

    Each device is rated on its own (tiers, caps and demand are per device). ``calendar``, when
    given, must cover every reading (the bench reuses one); otherwise it is built here.
    """
    arrays = _by_unit(tariff, intervals)
    if calendar is None:
        calendar = prepare_calendar(tariff, *_span(list(arrays.values()), events))
    empty = IntervalArrays(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))
    quantities: list[RatedQuantity] = []
    demands: list[RatedDemand] = []
    units = {c.unit for c in tariff.energy_charges} | ({"kWh"} if tariff.demand_charges else set())
    for unit in sorted(units):
        readings = arrays.get(unit, empty)
        try:
            offsets = device_offsets(readings.device, n_devices)
        except ReadingsError as exc:
            exc.unit = unit
            raise
        q_charges = [c for c in tariff.energy_charges if c.unit == unit]
        d_charges = list(tariff.demand_charges) if unit == "kWh" else []
        for i in range(max(len(q_charges), len(d_charges))):
            q = q_charges[i] if i < len(q_charges) else None
            d = d_charges[i] if i < len(d_charges) else None
            q_spec = _quantity_spec(q, calendar) if q is not None else None
            d_spec = _demand_spec(d, calendar) if d is not None else None
            try:
                result, peaks = sweep_intervals(readings, offsets, calendar, q_spec, d_spec)
            except ReadingsError as exc:
                exc.unit = unit
                raise
            if q is not None and result is not None:
                by_band_tier = result.by_band_tier
                if q.tier_basis == "pro_rata" and q.tier_limits:
                    by_band_tier = split_pro_rata(by_band_tier[..., 0], np.asarray(q.tier_limits, dtype=np.float64))
                quantities.append(RatedQuantity(q, by_band_tier, result.above_cap, result.count, result.outside))
            if d is not None and peaks is not None:
                tiers = split_demand_tiers(peaks, np.asarray(d.tier_limits, dtype=np.float64))
                demands.append(RatedDemand(d, peaks, tiers))
    order = {c.code: i for i, c in enumerate(tariff.energy_charges)}
    quantities.sort(key=lambda r: order[r.charge.code])
    counts, kinds = _events(tariff, events, n_devices, calendar)
    return Rating(tariff, calendar.periods, n_devices, tuple(quantities), tuple(demands), counts, kinds)


def _quantity_spec(charge: QuantityCharge, calendar: SlotCalendar) -> QuantitySpec:
    names = tuple(b.name for b in charge.bands)
    chronological = charge.tier_basis == "chronological"
    limits = np.asarray(charge.tier_limits if chronological else (), dtype=np.float64)
    trips = charge.unit == "km"  # a distance reading is a trip: count them for the trip fee
    return QuantitySpec(calendar.bands(charge.schedule, names), len(names), limits, charge.daily_cap, trips)


def _demand_spec(charge: DemandCharge, calendar: SlotCalendar) -> DemandSpec:
    names = tuple(b.name for b in charge.bands)
    return DemandSpec(calendar.bands(charge.schedule, names), len(names), charge.window_minutes * 60)


def _events(
    tariff: Tariff, events: EventArrays | None, n_devices: int, calendar: SlotCalendar
) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
    if events is None or not events.kinds:
        return np.zeros((n_devices, len(calendar.periods), 0)), ()
    offsets = device_offsets(events.device, n_devices)
    counts = event_counts(offsets, events.device, events.ts_s, events.kind, events.count, calendar, len(events.kinds))
    return counts, events.kinds


def period_label(period: BillingPeriod) -> tuple[date, date]:
    """First and last local day of a period (inclusive), as invoices print it."""
    return period.start, period.end - timedelta(days=1)
