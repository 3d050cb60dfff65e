"""The readings CSV that ``meterbill rate`` takes and every invoice's evidence carries, parsed and rated.

One reader for every caller: ``meterbill rate`` (a file), a billing run and the API (the text a
billing run writes with :func:`billing.runs.gather_readings`). Rows are ``device_id,ts,value,unit``
with interval consumption starting at ``ts`` (ISO 8601 with an offset, or epoch seconds); units are
any pint unit of energy, volume or distance (converted by ``devices.units``). For pay-as-you-drive,
each distance row is one trip and rows with unit ``event:<type>`` (``event:harsh_brake``) count events.

An interval ends at the device's next reading of the same unit, unless that is more than an hour
later (a gap) or there is none: then it lasts the device's most common step of at most an hour
(15 minutes when the device has a single reading).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from devices.errors import UnitError
from devices.units import canonicalize
from rating.engine import EventArrays, Rating, rate
from rating.errors import ReadingsError
from rating.kernels import IntervalArrays
from rating.tariff import Tariff

__all__ = ["ReadingsFile", "parse_readings_csv", "rate_readings", "rate_readings_csv", "read_readings_csv"]

_MAX_STEP_S = 3600
_DEFAULT_STEP_S = 900
_EVENT_PREFIX = "event:"
_COLUMNS = ["device_id", "ts", "value", "unit"]


@dataclass
class _Rows:
    device: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)  # events only


@dataclass(frozen=True)
class ReadingsFile:
    """A parsed readings CSV: arrays per canonical unit, events, device ids, and CSV row per reading."""

    devices: tuple[str, ...]
    intervals: dict[str, IntervalArrays]  # canonical unit -> sorted readings
    rows: dict[str, np.ndarray]  # canonical unit -> CSV row of each reading (same order)
    events: EventArrays | None


def _bad(path: Path | str, row: int, message: str) -> Exception:
    return ReadingsError(f"{path} row {row}: {message}", index=row)


def _parse_ts(text: str) -> int | None:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return math.floor(parsed.timestamp())
    return int(value) if math.isfinite(value) and value == int(value) else None


def _parse_record(path: Path | str, number: int, record: list[str]) -> tuple[str, int, float, str]:
    """``(device_id, ts [s], value, unit)`` of one CSV record, or ``ReadingsError`` naming the row."""
    if len(record) < len(_COLUMNS):
        raise _bad(path, number, f"expected 4 columns ({','.join(_COLUMNS)}), got {len(record)}")
    device_id, ts_text, value_text, unit = (c.strip() for c in record[:4])
    if not device_id:
        raise _bad(path, number, "device_id is empty")
    ts = _parse_ts(ts_text)
    if ts is None:
        raise _bad(path, number, f"ts {ts_text!r} is neither ISO 8601 with an offset nor epoch seconds")
    try:
        value = float(value_text)
    except ValueError:
        raise _bad(path, number, f"value {value_text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise _bad(path, number, f"value must be a finite number >= 0, got {value_text}")
    return device_id, ts, value, unit


def _canonical(path: Path | str, number: int, value: float, unit: str) -> tuple[float, str]:
    try:
        value, canonical = canonicalize(value, unit)
    except UnitError as exc:
        raise _bad(path, number, f"unit: {exc}") from None
    if canonical not in ("kWh", "m^3", "km"):
        raise _bad(path, number, f"unit {unit!r} is a {canonical} unit; rating needs energy, volume or distance")
    return value, canonical


def read_readings_csv(path: Path) -> ReadingsFile:
    """Parse and check a readings CSV file; a bad row raises ``ReadingsError`` naming the row (header is row 1)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise _bad(path, 0, f"cannot read: {exc.strerror}") from None
    with handle:
        return parse_readings_csv(handle, source=str(path))


def parse_readings_csv(lines: Iterable[str], *, source: str = "readings.csv") -> ReadingsFile:
    """Parse and check readings CSV lines; errors name ``source`` and the row."""
    device_ids: dict[str, int] = {}
    by_unit: dict[str, _Rows] = {}
    events = _Rows()
    kinds: dict[str, int] = {}
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:4]] != _COLUMNS:
        raise _bad(source, 1, f"the header must be {','.join(_COLUMNS)}")
    for number, record in enumerate(reader, start=2):
        if not "".join(record).strip():
            continue
        device_id, ts, value, unit = _parse_record(source, number, record)
        if unit.startswith(_EVENT_PREFIX):
            target = events
            target.kind.append(kinds.setdefault(unit[len(_EVENT_PREFIX) :], len(kinds)))
        else:
            value, canonical = _canonical(source, number, value, unit)
            target = by_unit.setdefault(canonical, _Rows())
        target.device.append(device_ids.setdefault(device_id, len(device_ids)))
        target.ts.append(ts)
        target.value.append(value)
        target.row.append(number)
    return _assemble(source, device_ids, by_unit, events, kinds)


def _assemble(
    path: Path | str, device_ids: dict[str, int], by_unit: dict[str, _Rows], events: _Rows, kinds: dict[str, int]
) -> ReadingsFile:
    """Sorted arrays per unit; device indices follow the sorted ids, so output does not depend on row order."""
    order = sorted(device_ids)
    remap = np.zeros(len(order), dtype=np.int32)
    for new, device_id in enumerate(order):
        remap[device_ids[device_id]] = new
    intervals: dict[str, IntervalArrays] = {}
    rows: dict[str, np.ndarray] = {}
    for unit, data in by_unit.items():
        device = remap[np.asarray(data.device, dtype=np.int64)]
        ts = np.asarray(data.ts, dtype=np.int64)
        sort = np.lexsort((ts, device))
        device, ts, row = device[sort], ts[sort], np.asarray(data.row)[sort]
        same = (device[1:] == device[:-1]) & (ts[1:] == ts[:-1])
        if same.any():
            i = int(np.flatnonzero(same)[0])
            raise _bad(path, int(max(row[i], row[i + 1])), f"same device and ts as row {min(row[i], row[i + 1])}")
        quantity = np.asarray(data.value, dtype=np.float64)[sort]
        intervals[unit] = IntervalArrays(np.ascontiguousarray(device), ts, _lengths(device, ts), quantity)
        rows[unit] = row
    event_arrays = None
    if events.ts:
        device = remap[np.asarray(events.device, dtype=np.int64)]
        ts = np.asarray(events.ts, dtype=np.int64)
        sort = np.lexsort((ts, device))
        event_arrays = EventArrays(
            np.ascontiguousarray(device[sort]),
            ts[sort],
            np.asarray(events.kind, dtype=np.int32)[sort],
            np.asarray(events.value, dtype=np.float64)[sort],
            tuple(sorted(kinds, key=kinds.__getitem__)),
        )
    return ReadingsFile(tuple(order), intervals, rows, event_arrays)


def _lengths(device: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Interval length [s] of each reading (see the module docstring)."""
    lengths = np.full(ts.shape[0], _DEFAULT_STEP_S, dtype=np.int64)
    step = np.diff(ts)
    next_same = np.r_[device[1:] == device[:-1], False]
    for d in np.unique(device):
        mine = np.flatnonzero(device == d)
        steps = step[mine[:-1]]
        usual = Counter(int(s) for s in steps if 0 < s <= _MAX_STEP_S).most_common(1)
        typical = usual[0][0] if usual else _DEFAULT_STEP_S
        lengths[mine] = typical
        inner = mine[:-1]
        lengths[inner] = np.where(steps <= _MAX_STEP_S, np.minimum(steps, _MAX_STEP_S), typical)
    lengths[~next_same] = np.minimum(lengths[~next_same], _MAX_STEP_S)
    return lengths.astype(np.int32)


def rate_readings(tariff: Tariff, parsed: ReadingsFile, *, source: str = "readings.csv") -> Rating:
    """Rate parsed readings; a kernel's complaint about a reading names its CSV row."""
    try:
        return rate(tariff, parsed.intervals, len(parsed.devices), events=parsed.events)
    except ReadingsError as exc:
        rows = parsed.rows.get(exc.unit or "")
        if exc.index is not None and rows is not None and exc.index < rows.shape[0]:
            # kernels name a reading by its index in the sorted arrays: tell the person the CSV row
            row = int(rows[exc.index])
            message = str(exc).split(": ", 1)[-1]
            raise ReadingsError(f"{source} row {row}: {message}", index=row, unit=exc.unit) from None
        raise


def rate_readings_csv(tariff: Tariff, text: str) -> Rating:
    """Rate a readings CSV given as text exactly as ``meterbill rate`` rates the same file."""
    return rate_readings(tariff, parse_readings_csv(io.StringIO(text, newline="")))
