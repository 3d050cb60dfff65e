"""Numba kernels: contiguous arrays in, quantities out (never money).

Every kernel is a private ``@njit(cache=True)`` function behind a public wrapper that checks
dtypes, shapes and layout and says how to fix them; every kernel has a naive twin in
``rating/reference.py`` that the tests compare it with. ``_jit.py`` is the only import of numba.

One file per tariff component: ``quantity.py`` (daily cap, tiers), ``demand.py`` (windows),
``events.py`` (telematics event counts), ``tiers.py`` (tier splits on period totals); ``sweep.py``
is the single pass over interval readings that feeds a quantity and a demand charge at once.

Readings enter as four arrays sorted by device, then time (:class:`IntervalArrays`):
``device`` [int32 index], ``start_s`` [int64 epoch s], ``length_s`` [int32 s], ``quantity``
[float64, canonical unit]: 24 bytes per reading.
"""

from __future__ import annotations

from rating.kernels._jit import set_threads, threads
from rating.kernels.arrays import IntervalArrays, device_offsets
from rating.kernels.events import event_counts
from rating.kernels.quantity import QuantityResult
from rating.kernels.sweep import DemandSpec, QuantitySpec, quantities_by_band_tier, sweep_intervals, window_peaks
from rating.kernels.tiers import split_demand_tiers, split_pro_rata, tier_widths

__all__ = [
    "DemandSpec",
    "IntervalArrays",
    "QuantityResult",
    "QuantitySpec",
    "device_offsets",
    "event_counts",
    "quantities_by_band_tier",
    "set_threads",
    "split_demand_tiers",
    "split_pro_rata",
    "sweep_intervals",
    "threads",
    "tier_widths",
    "window_peaks",
]
