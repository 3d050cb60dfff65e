"""Demand charges, one window at a time: the maximum average power [kW] over fixed windows.

Windows of ``window_s`` seconds sit on the tariff's local clock. Each reading's energy [kWh] is
spread evenly over its interval (a 1-hour reading puts a quarter in each 15-minute window; four
15-minute readings fill a 1-hour window; missing readings count as zero). A window's average power
is its energy / window length [h]; it counts in the period and band in force at its start.
The loop over readings that fills and closes windows is :mod:`rating.kernels.sweep`; the steps take
and return scalars only (arrays passed to jitted functions cost reference-count atomics).
"""

from __future__ import annotations

import numpy as np

from rating.kernels._jit import kernel

__all__ = ["average_power_kw", "window_start"]

_NONE = np.iinfo(np.int64).min


@kernel
def window_start(ts: int, open_end: int, window_s: int, origin_s: int) -> int:
    """Start [s] of the window holding ``ts``; ``open_end`` [s] is the end of the window before (or none: min int64).

    The window right after the previous one is found without a division, the usual case.
    """
    if open_end != _NONE and ts - open_end < window_s:
        return open_end
    return ts - (ts - origin_s) % window_s


@kernel
def average_power_kw(energy_kwh: float, window_s: int) -> float:
    """Average power [kW] of ``energy_kwh`` [kWh] over a window of ``window_s`` [s]."""
    return energy_kwh * 3600.0 / window_s
