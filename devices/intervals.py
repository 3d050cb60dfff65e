"""From cumulative register indexes to interval consumption, per (device, register).

A meter reports the *index* of a register: a running total [canonical unit, e.g. kWh or m^3] that only
grows. Billing wants *consumption per interval*: the difference of two consecutive indexes. The
difference is not always a plain subtraction (REFERENCES.md, "Meter semantics"):

- **rollover**: a register of N digits wraps at ``register_max`` = 10^N (values lie in
  ``[0, register_max)``). A drop larger than half the range is a wrap, and the consumption is
  ``(register_max - a) + b``. Two wraps inside one interval cannot be told from one: readings must
  come often enough that an interval never uses half the register.
- **reset**: any other drop (a meter reset, or an exchange nobody recorded). It becomes 0.0 with the
  ``reset`` flag, never a negative value nor a phantom spike of almost ``register_max``; staff review it.
- **exchange**: a recorded :class:`MeterExchange` inside the interval. The old meter's part
  ``old_final_index - a`` and the new meter's part ``b - new_first_index`` are added; from then on
  the new meter's ``new_register_max`` (when given) decides what a wrap is.
- **gap**: the interval spans more than the nominal interval. It stays one interval whose delta
  covers the whole span, so energy is conserved; :func:`split_evenly` can share it out later.

Readings may arrive in any order and more than once: they are sorted by ``ts`` and the first reading
of a timestamp (in input order) wins; a later one with another value is ignored here, because the
store records conflicts. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from devices.errors import DeviceError
from devices.model import ContractDevice, MeterExchangeRecord
from devices.readings import Reading, ReadingQuality

__all__ = [
    "IndexSeriesError",
    "Interval",
    "IntervalFlag",
    "MeterExchange",
    "contract_intervals",
    "split_evenly",
    "to_intervals",
]


class IndexSeriesError(DeviceError, ValueError):
    """A series of index readings, or the exchanges recorded for it, cannot be turned into intervals.

    ``device_id`` and ``register`` name the series when known. Defined here rather than in
    ``devices/errors.py`` only because that file belongs to another change; it may move there.
    """

    def __init__(self, message: str, *, device_id: str | None = None, register: str | None = None) -> None:
        where = f" (device {device_id!r}, register {register!r})" if device_id is not None else ""
        super().__init__(message + where)
        self.device_id = device_id
        self.register = register


class IntervalFlag(StrEnum):
    """Why an interval deserves a second look; stored as text."""

    ROLLOVER = "rollover"  # the register wrapped at its maximum
    RESET = "reset"  # an unexplained drop: meter reset or unrecorded exchange; consumption set to 0
    GAP = "gap"  # the interval spans more than the nominal interval; consumption covers the whole span
    EXCHANGE = "exchange"  # the interval spans a recorded meter exchange


@dataclass(frozen=True, slots=True)
class Interval:
    """Consumption of one register of one device between two index readings.

    ``consumption`` [``unit``, canonical, e.g. kWh] during ``[start, end)``; ``quality`` is
    ``estimated`` when either bounding index was estimated.
    """

    device_id: str
    register: str
    start: datetime
    end: datetime
    consumption: float
    unit: str
    quality: ReadingQuality
    flags: frozenset[IntervalFlag] = frozenset()

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise IndexSeriesError(
                f"interval end {self.end.isoformat()} must be after its start {self.start.isoformat()}",
                device_id=self.device_id,
                register=self.register,
            )
        if not (math.isfinite(self.consumption) and self.consumption >= 0.0):
            raise IndexSeriesError(
                f"interval consumption must be finite and >= 0, got {self.consumption!r}",
                device_id=self.device_id,
                register=self.register,
            )

    def as_reading(self, received_at: datetime) -> Reading:
        """This interval as an ``interval`` reading stamped at its start (a method: it needs ``received_at``)."""
        return Reading(
            self.device_id,
            self.register,
            self.start,
            self.consumption,
            self.unit,
            "interval",
            self.quality,
            received_at,
        )


@dataclass(frozen=True, slots=True)
class MeterExchange:
    """A recorded meter exchange of one (device, register) at ``at``.

    ``old_final_index`` [unit of the register]: the old meter's last index; ``new_first_index`` [same
    unit]: the new meter's index when installed; ``new_register_max`` [same unit]: the new meter's wrap
    modulus, or None to keep the one in effect (the new meter may have another number of digits).
    A reading stamped exactly ``at`` is taken from the new meter.
    """

    at: datetime
    old_final_index: float
    new_first_index: float
    new_register_max: float | None = None

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise IndexSeriesError(f"meter exchange at {self.at.isoformat()} needs a timezone-aware time")
        if not (math.isfinite(self.old_final_index) and math.isfinite(self.new_first_index)):
            raise IndexSeriesError(f"meter exchange at {self.at.isoformat()} has a non-finite index")
        if self.new_register_max is not None and not self.new_register_max > 0:
            raise IndexSeriesError(
                f"meter exchange at {self.at.isoformat()}: new_register_max must be > 0, got {self.new_register_max!r}"
            )


def to_intervals(
    indexes: Iterable[Reading],
    *,
    register_max: float | None,
    nominal_interval: timedelta | None = None,
    exchanges: Sequence[MeterExchange] = (),
) -> list[Interval]:
    """Interval consumption between consecutive index readings of one (device, register).

    ``indexes``: ``cumulative`` readings [unit of the register], in any order, duplicates allowed.
    ``register_max`` [same unit]: the wrap modulus of the meter at the first reading (10^N for N
    digits), or None when it is unknown (every drop is then a reset). ``nominal_interval``: the
    expected spacing of readings; longer intervals are flagged ``gap``. ``exchanges``: recorded meter
    exchanges of this (device, register), in any order; those after the last reading are ignored.

    Returns the intervals in time order, ``consumption`` [same unit] >= 0; fewer than two distinct
    timestamps give ``[]``. Raises :class:`IndexSeriesError` (a ``ValueError``) if the readings mix
    devices, registers or units, contain ``interval`` readings, naive timestamps, non-finite values or
    values outside ``[0, register_max)``, or if an exchange would make consumption negative.
    """
    series = _distinct_sorted(indexes)
    if len(series) < 2:
        return []
    device_id, register = series[0].device_id, series[0].register
    if register_max is not None and not register_max > 0:
        raise IndexSeriesError(
            f"register_max must be > 0, got {register_max!r}", device_id=device_id, register=register
        )
    if nominal_interval is not None and nominal_interval <= timedelta(0):
        raise IndexSeriesError(
            f"nominal_interval must be positive, got {nominal_interval}", device_id=device_id, register=register
        )

    pending = sorted(exchanges, key=lambda ex: ex.at)
    k = 0
    current_max = register_max
    # An exchange at or before the first reading only changes which meter that reading came from.
    while k < len(pending) and pending[k].at <= series[0].ts:
        current_max = _max_after(pending[k], current_max)
        k += 1
    _check_range(series[0], current_max)

    intervals: list[Interval] = []
    for a, b in pairwise(series):
        flags: set[IntervalFlag] = set()
        crossed: list[MeterExchange] = []
        while k < len(pending) and pending[k].at <= b.ts:  # exchanges in (a.ts, b.ts]
            crossed.append(pending[k])
            current_max = _max_after(pending[k], current_max)
            k += 1
        _check_range(b, current_max)
        if crossed:
            consumption = _across_exchanges(a, b, crossed)
            flags.add(IntervalFlag.EXCHANGE)
        else:
            consumption, flag = _index_delta(a.value, b.value, current_max)
            if flag is not None:
                flags.add(flag)
        if nominal_interval is not None and b.ts - a.ts > nominal_interval:
            flags.add(IntervalFlag.GAP)
        quality: ReadingQuality = "estimated" if "estimated" in (a.quality, b.quality) else "actual"
        intervals.append(
            Interval(device_id, register, a.ts, b.ts, consumption, a.unit, quality, frozenset(flags)),
        )
    return intervals


def contract_intervals(
    indexes: Iterable[Reading],
    *,
    register: str,
    devices: Sequence[ContractDevice],
    exchanges: Sequence[MeterExchangeRecord] = (),
    register_max: Mapping[str, float | None],
    nominal_interval: timedelta | None = None,
) -> list[Interval]:
    """One register's consumption across every meter of a contract, continuous over exchanges.

    ``devices``: the contract's devices with their periods; a device's readings count from its
    ``valid_from`` up to (not including) its ``valid_to``, because at the exchange instant the old
    meter's final index is the one recorded in ``exchanges``. ``register_max`` maps each device id to
    its wrap modulus [unit]. Each interval carries the id of the device whose reading ends it, so
    a line of the invoice points at the meter that measured it. Raises IndexSeriesError when the
    exchange data contradict the readings (a negative part).
    """
    periods = {cd.device_id: cd for cd in devices}
    owner: dict[datetime, str] = {}
    series: list[Reading] = []
    first = min(devices, key=lambda cd: cd.valid_from).device_id if devices else ""
    for r in indexes:
        period = periods.get(r.device_id)
        if r.register != register or period is None:
            continue
        if r.ts < period.valid_from or (period.valid_to is not None and r.ts >= period.valid_to):
            continue
        owner.setdefault(r.ts, r.device_id)
        series.append(r._replace(device_id=first))  # one logical series; owners restored below
    changes = [
        MeterExchange(x.at, x.old_final_index, x.new_first_index, register_max.get(x.new_device_id))
        for x in exchanges
        if x.register == register
    ]
    intervals = to_intervals(
        series, register_max=register_max.get(first), nominal_interval=nominal_interval, exchanges=changes
    )
    return [dataclasses.replace(i, device_id=owner[i.end]) for i in intervals]


def split_evenly(interval: Interval, nominal_interval: timedelta) -> list[Interval]:
    """Split ``interval`` into consecutive pieces of ``nominal_interval`` (the last may be shorter).

    Each piece gets ``consumption`` [unit of the interval] in proportion to its duration and keeps the
    flags and quality of the whole, so a ``gap`` stays visible after rating. The pieces' sum equals the
    original within float rounding. An interval no longer than ``nominal_interval`` comes back as is.
    """
    if nominal_interval <= timedelta(0):
        raise IndexSeriesError(
            f"nominal_interval must be positive, got {nominal_interval}",
            device_id=interval.device_id,
            register=interval.register,
        )
    span = interval.end - interval.start
    if span <= nominal_interval:
        return [interval]
    pieces: list[Interval] = []
    start = interval.start
    while start < interval.end:
        end = min(start + nominal_interval, interval.end)
        # timedelta / timedelta divides whole microseconds: an exact ratio, correctly rounded.
        share = interval.consumption * ((end - start) / span)
        pieces.append(dataclasses.replace(interval, start=start, end=end, consumption=share))
        start = end
    return pieces


def _distinct_sorted(indexes: Iterable[Reading]) -> list[Reading]:
    """The readings validated as one cumulative series, one per timestamp (first wins), sorted by ts."""
    by_ts: dict[datetime, Reading] = {}
    first: Reading | None = None
    for r in indexes:
        if first is None:
            first = r
        if r.kind != "cumulative":
            raise IndexSeriesError(
                f"to_intervals needs cumulative (index) readings, got kind {r.kind!r} at {r.ts.isoformat()}",
                device_id=r.device_id,
                register=r.register,
            )
        if (r.device_id, r.register, r.unit) != (first.device_id, first.register, first.unit):
            raise IndexSeriesError(
                "readings mix series: expected one (device, register, unit) = "
                f"{(first.device_id, first.register, first.unit)!r}, also got {(r.device_id, r.register, r.unit)!r}; "
                "group readings by device and register before calling to_intervals"
            )
        if r.ts.utcoffset() is None:
            raise IndexSeriesError(
                f"reading at {r.ts.isoformat()} has a naive timestamp; readings must be timezone-aware",
                device_id=r.device_id,
                register=r.register,
            )
        by_ts.setdefault(r.ts, r)
    return sorted(by_ts.values(), key=lambda r: r.ts)


def _check_range(r: Reading, register_max: float | None) -> None:
    """An index must be finite and, when the modulus is known, lie in [0, register_max)."""
    if not math.isfinite(r.value) or (register_max is not None and not 0.0 <= r.value < register_max):
        bounds = f" in [0, {register_max!r})" if register_max is not None else ""
        raise IndexSeriesError(
            f"index {r.value!r} at {r.ts.isoformat()} must be finite{bounds}; check register_max and exchanges",
            device_id=r.device_id,
            register=r.register,
        )


def _max_after(exchange: MeterExchange, current_max: float | None) -> float | None:
    return exchange.new_register_max if exchange.new_register_max is not None else current_max


def _index_delta(a: float, b: float, register_max: float | None) -> tuple[float, IntervalFlag | None]:
    """Consumption [unit of the index] from index ``a`` to index ``b`` of one meter, and its flag."""
    if b >= a:
        return b - a, None
    if register_max is not None and a - b > register_max / 2:
        return (register_max - a) + b, IntervalFlag.ROLLOVER
    return 0.0, IntervalFlag.RESET


def _across_exchanges(a: Reading, b: Reading, crossed: Sequence[MeterExchange]) -> float:
    """Consumption [unit] from ``a`` (old meter) to ``b`` (newest meter) across recorded exchanges.

    Each meter contributes its index at removal minus its index when read or installed; a negative
    part means the exchange record contradicts the readings, which is not guessed around.
    """
    parts: list[tuple[float, MeterExchange]] = []
    start_index = a.value
    for ex in crossed:
        parts.append((ex.old_final_index - start_index, ex))
        start_index = ex.new_first_index
    total = 0.0
    for part, ex in [*parts, (b.value - start_index, crossed[-1])]:
        if part < 0:
            raise IndexSeriesError(
                f"meter exchange at {ex.at.isoformat()} (old_final_index {ex.old_final_index!r}, new_first_index "
                f"{ex.new_first_index!r}) contradicts the indexes {a.value!r} at {a.ts.isoformat()} and {b.value!r} "
                f"at {b.ts.isoformat()}: a meter's part would be negative; correct the exchange record",
                device_id=a.device_id,
                register=a.register,
            )
        total += part
    return total
