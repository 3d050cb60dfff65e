"""Quantity charges, one reading at a time: the daily cap, then tiers (chronological blocks).

The part of a reading above the day's cap [unit per local day] is free; the rest fills the tiers
from the period's running total, which resets every billing period. The loop over readings that
calls these steps is :mod:`rating.kernels.sweep`. Steps take and return scalars only: passing an
array to a jitted function costs reference-count atomics that threads would fight over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rating.kernels._jit import kernel

__all__ = ["QuantityResult", "apply_cap", "tier_take"]


@dataclass(frozen=True)
class QuantityResult:
    """Outputs [unit] per device and period; ``outside`` is quantity in no billing period (contract dates)."""

    by_band_tier: npt.NDArray[np.float64]  # [device, period, band, tier]
    above_cap: npt.NDArray[np.float64]  # [device, period, band], free because of the daily cap
    count: npt.NDArray[np.int64]  # [device, period] readings if asked for (PAYD: a distance reading is a trip)
    outside: npt.NDArray[np.float64]  # [device]


@kernel
def apply_cap(q: float, daily: float, daily_cap: float) -> tuple[float, float]:
    """``(charged, new daily total)`` of a reading ``q`` [unit] when ``daily`` [unit] was used today."""
    room = daily_cap - daily
    room = max(room, 0.0)
    charged = q if q < room else room
    return charged, daily + q


@kernel
def tier_take(running: float, rest: float, limit: float) -> float:
    """How much of ``rest`` [unit] still fits below ``limit`` [unit] when ``running`` [unit] is used this period."""
    room = limit - running
    if room <= 0.0:
        return 0.0
    return rest if rest < room else room
