"""One pass over interval readings that feeds a quantity charge and a demand charge at once.

Reading the inputs is the cost that cannot be avoided, so the engine reads them once: per device,
in time order, the loop tracks the current calendar slot and the open demand window by
comparison rather than division (an int64 division costs more than the rest of a reading's work),
calls the quantity steps (:mod:`.quantity`) and the demand steps (:mod:`.demand`), and checks
every reading on the way (device order, time order without overlap, length > 0, quantity >= 0).

Parallel over devices: a device's outputs are its own rows, so each thread writes a disjoint slab
and no reduction is needed. A reading is attributed whole to the slot its interval starts in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rating.calendar import SlotCalendar
from rating.errors import InputArrayError
from rating.kernels._jit import kernel, parallel_kernel, prange
from rating.kernels.arrays import IntervalArrays, raise_first_error, require
from rating.kernels.demand import average_power_kw, window_start
from rating.kernels.quantity import QuantityResult, apply_cap, tier_take

__all__ = ["DemandSpec", "QuantitySpec", "quantities_by_band_tier", "sweep_intervals", "window_peaks"]

_MIN = np.iinfo(np.int64).min


@dataclass(frozen=True)
class QuantitySpec:
    """A quantity charge for the kernel: band per slot, tier limits [unit per period], daily cap [unit] or None."""

    slot_band: npt.NDArray[np.int16]
    n_bands: int
    tier_limits: npt.NDArray[np.float64]
    daily_cap: float | None = None
    count_readings: bool = False  # readings per period (PAYD trips); off on the hot path when unused


@dataclass(frozen=True)
class DemandSpec:
    """A demand charge for the kernel: band per slot and window length [s]."""

    slot_band: npt.NDArray[np.int16]
    n_bands: int
    window_s: int


@kernel
def _slot_of(t: int, t0_s: int, slot_s: int, n_slots: int) -> int:
    slot = (t - t0_s) // slot_s
    return min(max(slot, 0), n_slots - 1)


@kernel
def _error_code(wrong_device: bool, out_of_order: bool, no_length: bool, bad_quantity: bool) -> int:
    """The rule a bad reading broke (rating.kernels.arrays.ERRORS); 3 when none of these: outside the calendar."""
    if wrong_device:
        return 1
    if out_of_order:
        return 2
    if no_length:
        return 5
    if bad_quantity:
        return 4
    return 3


@parallel_kernel
def _sweep_kernel(  # noqa: PLR0912, PLR0915 - one flat loop per reading is the point of this kernel
    offsets: npt.NDArray[np.int64],
    device: npt.NDArray[np.int32],
    start_s: npt.NDArray[np.int64],
    length_s: npt.NDArray[np.int32],
    quantity: npt.NDArray[np.float64],
    t0_s: int,
    slot_s: int,
    slot_period: npt.NDArray[np.int32],
    slot_day: npt.NDArray[np.int32],
    q_band: npt.NDArray[np.int16],
    tier_limits: npt.NDArray[np.float64],
    daily_cap: float,
    out: npt.NDArray[np.float64],
    above_cap: npt.NDArray[np.float64],
    count: npt.NDArray[np.int64],
    count_readings: bool,
    outside: npt.NDArray[np.float64],
    d_band: npt.NDArray[np.int16],
    window_s: int,
    origin_s: int,
    peaks: npt.NDArray[np.float64],
    error_code: npt.NDArray[np.int64],
    error_index: npt.NDArray[np.int64],
) -> None:
    n_slots = slot_period.shape[0]
    do_quantity = q_band.shape[0] > 0
    do_demand = window_s > 0
    n_limits = tier_limits.shape[0]

    def _close(
        peaks: npt.NDArray[np.float64],
        d: int,
        slot: int,
        energy_kwh: float,
        window_s: int,
        slot_period: npt.NDArray[np.int32],
        slot_band: npt.NDArray[np.int16],
    ) -> None:
        # An inner closure is inlined by numba: no call, no reference counting of the arrays.
        p = slot_period[slot]
        if p >= 0:
            power_kw = average_power_kw(energy_kwh, window_s)
            b = slot_band[slot]
            peaks[d, p, b] = max(peaks[d, p, b], power_kw)

    for d in prange(offsets.shape[0] - 1):
        period = -1
        day = -1
        running = 0.0  # [unit] charged this period: picks the tier
        daily = 0.0  # [unit] this local day: applies the cap
        previous_end = _MIN
        slot = -1
        slot_start = _MIN
        slot_end = _MIN
        w_start = _MIN
        w_end = _MIN
        w_slot = -1  # slot of the open window's start, -1 when none is open
        acc = 0.0  # [kWh] in the open window
        for i in range(offsets[d], offsets[d + 1]):
            ts = start_s[i]
            length = length_s[i]
            q = quantity[i]
            # One test for the common case; which rule failed is worked out only on the rare bad reading.
            bad = (device[i] != d) | (ts < previous_end) | (length <= 0) | (not q >= 0.0)
            if not bad and ts >= slot_end:
                if slot >= 0 and ts - slot_end < slot_s:  # the next slot: no division
                    slot += 1
                    slot_start = slot_end
                else:
                    slot = (ts - t0_s) // slot_s
                    slot_start = t0_s + slot * slot_s
                slot_end = slot_start + slot_s
                bad = slot < 0 or slot >= n_slots
            if bad:
                error_code[d] = _error_code(device[i] != d, ts < previous_end, length <= 0, not q >= 0.0)
                error_index[d] = i
                break
            end = ts + length
            previous_end = end
            if do_quantity:
                p = slot_period[slot]
                if p < 0:
                    outside[d] += q
                else:
                    if p != period:
                        period = p
                        running = 0.0
                    charged = q
                    if daily_cap > 0.0:
                        if slot_day[slot] != day:
                            day = slot_day[slot]
                            daily = 0.0
                        charged, daily = apply_cap(q, daily, daily_cap)
                        above_cap[d, p, q_band[slot]] += q - charged
                    if count_readings:
                        count[d, p] += 1
                    band = q_band[slot]
                    for t in range(n_limits):
                        take = tier_take(running, charged, tier_limits[t])
                        if take > 0.0:
                            out[d, p, band, t] += take
                            charged -= take
                            # landing exactly on the limit keeps the next tier's start free of rounding drift
                            running = tier_limits[t] if charged > 0.0 else running + take
                        if charged <= 0.0:
                            break
                    if charged > 0.0:
                        out[d, p, band, n_limits] += charged
                        running += charged
            if do_demand:
                if ts >= w_end:
                    if w_slot >= 0:
                        _close(peaks, d, w_slot, acc, window_s, slot_period, d_band)
                    w_start = window_start(ts, w_end if w_slot >= 0 else _MIN, window_s, origin_s)
                    w_end = w_start + window_s
                    acc = 0.0
                    w_slot = slot if w_start >= slot_start else _slot_of(w_start, t0_s, slot_s, n_slots)
                if end <= w_end:
                    acc += q
                else:  # the reading spans several windows: spread it evenly over its interval
                    position = ts
                    while end > w_end:
                        acc += q * (w_end - position) / length
                        _close(peaks, d, w_slot, acc, window_s, slot_period, d_band)
                        position = w_end
                        w_start = w_end
                        w_end += window_s
                        acc = 0.0
                        w_slot = _slot_of(w_start, t0_s, slot_s, n_slots)
                    acc += q * (end - position) / length
        if do_demand and w_slot >= 0 and error_code[d] == 0:
            _close(peaks, d, w_slot, acc, window_s, slot_period, d_band)


def _check_band(name: str, slot_band: npt.NDArray[np.int16], n_bands: int, calendar: SlotCalendar) -> None:
    require(name, slot_band, np.int16)
    if slot_band.shape[0] != calendar.period.shape[0]:
        raise InputArrayError(f"{name} must have one entry per calendar slot; use calendar.bands(...)")
    if slot_band.size and (int(slot_band.max()) >= n_bands or int(slot_band.min()) < 0):
        raise InputArrayError(f"{name} has bands outside [0, {n_bands})")


def sweep_intervals(
    readings: IntervalArrays,
    offsets: npt.NDArray[np.int64],
    calendar: SlotCalendar,
    quantity: QuantitySpec | None,
    demand: DemandSpec | None,
) -> tuple[QuantityResult | None, npt.NDArray[np.float64] | None]:
    """Quantities [unit] per (device, period, band, tier) and peaks [kW] per (device, period, band), one pass.

    ``readings`` sorted by device then start; ``offsets`` from :func:`~rating.kernels.arrays.device_offsets`.
    Raises ``ReadingsError`` naming the first bad reading.
    """
    require("offsets", offsets, np.int64)
    n_devices, n_periods = offsets.shape[0] - 1, len(calendar.periods)
    empty_band = np.zeros(0, dtype=np.int16)
    if quantity is not None:
        _check_band("quantity.slot_band", quantity.slot_band, quantity.n_bands, calendar)
        require("tier_limits", quantity.tier_limits, np.float64)
        if quantity.daily_cap is not None and not quantity.daily_cap > 0:
            raise InputArrayError("daily_cap must be > 0 [unit per day] or None")
        shape = (n_devices, n_periods, quantity.n_bands)
        out = np.zeros((*shape, quantity.tier_limits.shape[0] + 1))
        above_cap, count = np.zeros(shape), np.zeros((n_devices, n_periods), dtype=np.int64)
        q_band, limits, cap = quantity.slot_band, quantity.tier_limits, float(quantity.daily_cap or 0.0)
        count_readings = quantity.count_readings
    else:
        out, above_cap, count = np.zeros((0, 0, 0, 0)), np.zeros((0, 0, 0)), np.zeros((0, 0), dtype=np.int64)
        q_band, limits, cap = empty_band, np.zeros(0), 0.0
        count_readings = False
    if demand is not None:
        _check_band("demand.slot_band", demand.slot_band, demand.n_bands, calendar)
        if demand.window_s <= 0 or 86_400 % demand.window_s:
            raise InputArrayError(f"window_s must divide a day [s], got {demand.window_s}")
        peaks = np.zeros((n_devices, n_periods, demand.n_bands))
        d_band, window_s, origin_s = demand.slot_band, demand.window_s, calendar.window_origin_s(demand.window_s)
    else:
        peaks, d_band, window_s, origin_s = np.zeros((0, 0, 0)), empty_band, 0, 0
    outside = np.zeros(n_devices)
    error_code = np.zeros(n_devices, dtype=np.int64)
    error_index = np.zeros(n_devices, dtype=np.int64)
    _sweep_kernel(
        offsets,
        readings.device,
        readings.start_s,
        readings.length_s,
        readings.quantity,
        calendar.t0_s,
        calendar.slot_s,
        calendar.period,
        calendar.day,
        q_band,
        limits,
        cap,
        out,
        above_cap,
        count,
        count_readings,
        outside,
        d_band,
        window_s,
        origin_s,
        peaks,
        error_code,
        error_index,
    )
    raise_first_error(error_code, error_index)
    result = QuantityResult(out, above_cap, count, outside) if quantity is not None else None
    return result, (peaks if demand is not None else None)


def quantities_by_band_tier(
    readings: IntervalArrays, offsets: npt.NDArray[np.int64], calendar: SlotCalendar, spec: QuantitySpec
) -> QuantityResult:
    """Quantities [unit] per (device, period, band, tier) of one quantity charge."""
    result, _ = sweep_intervals(readings, offsets, calendar, spec, None)
    assert result is not None
    return result


def window_peaks(
    readings: IntervalArrays, offsets: npt.NDArray[np.int64], calendar: SlotCalendar, spec: DemandSpec
) -> npt.NDArray[np.float64]:
    """Peak window power [kW] per (device, period, band) of energy readings [kWh]."""
    _, peaks = sweep_intervals(readings, offsets, calendar, None, spec)
    assert peaks is not None
    return peaks
