"""Telematics events: count per (device, billing period, event type)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rating.calendar import SlotCalendar
from rating.errors import InputArrayError
from rating.kernels._jit import parallel_kernel, prange
from rating.kernels.arrays import raise_first_error, require

__all__ = ["event_counts"]


@parallel_kernel
def _event_kernel(
    offsets: npt.NDArray[np.int64],
    device: npt.NDArray[np.int32],
    ts_s: npt.NDArray[np.int64],
    kind: npt.NDArray[np.int32],
    count: npt.NDArray[np.float64],
    t0_s: int,
    slot_s: int,
    slot_period: npt.NDArray[np.int32],
    out: npt.NDArray[np.float64],
    error_code: npt.NDArray[np.int64],
    error_index: npt.NDArray[np.int64],
) -> None:
    n_slots = slot_period.shape[0]
    for d in prange(offsets.shape[0] - 1):
        for i in range(offsets[d], offsets[d + 1]):
            slot = (ts_s[i] - t0_s) // slot_s
            code = 0
            if device[i] != d:
                code = 1
            elif not count[i] >= 0.0:
                code = 4
            elif slot < 0 or slot >= n_slots:
                code = 3
            if code != 0:
                error_code[d] = code
                error_index[d] = i
                break
            p = slot_period[slot]
            if p >= 0:
                out[d, p, kind[i]] += count[i]


def event_counts(
    offsets: npt.NDArray[np.int64],
    device: npt.NDArray[np.int32],
    ts_s: npt.NDArray[np.int64],
    kind: npt.NDArray[np.int32],
    count: npt.NDArray[np.float64],
    calendar: SlotCalendar,
    n_kinds: int,
) -> npt.NDArray[np.float64]:
    """Events per ``[device, period, kind]`` of events sorted by device (``kind`` in [0, n_kinds))."""
    for name, array, dtype in (("device", device, np.int32), ("ts_s", ts_s, np.int64), ("kind", kind, np.int32)):
        require(name, array, dtype)
    require("count", count, np.float64)
    require("offsets", offsets, np.int64)
    if kind.size and (int(kind.min()) < 0 or int(kind.max()) >= n_kinds):
        raise InputArrayError(f"kind must lie in [0, {n_kinds})")
    n_devices = offsets.shape[0] - 1
    out = np.zeros((n_devices, len(calendar.periods), n_kinds))
    error_code = np.zeros(n_devices, dtype=np.int64)
    error_index = np.zeros(n_devices, dtype=np.int64)
    _event_kernel(
        offsets,
        device,
        ts_s,
        kind,
        count,
        calendar.t0_s,
        calendar.slot_s,
        calendar.period,
        out,
        error_code,
        error_index,
    )
    raise_first_error(error_code, error_index)
    return out
