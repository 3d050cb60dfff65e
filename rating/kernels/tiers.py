"""Tier splits done on period totals (small arrays: NumPy, no loop over readings).

- :func:`split_pro_rata`: blocks on the period's total quantity, each tier's quantity shared among
  bands in proportion to their share of the total. This is how NREL SAM Utilityrate5 applies URDB
  tiers inside TOU periods (its tier limits are equal across the periods of a month).
- :func:`split_demand_tiers`: the peak [kW] of each band cut into demand tiers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rating.kernels.arrays import require

__all__ = ["split_demand_tiers", "split_pro_rata", "tier_widths"]


def tier_widths(total: npt.NDArray[np.float64], tier_limits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """How much of ``total`` [unit] falls in each tier: shape ``total.shape + (tiers,)``."""
    require("tier_limits", tier_limits, np.float64)
    lower = np.concatenate(([0.0], tier_limits))
    upper = np.concatenate((tier_limits, [np.inf]))
    return np.clip(total[..., None] - lower, 0.0, upper - lower)


def split_pro_rata(by_band: npt.NDArray[np.float64], tier_limits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``[..., band]`` period quantities [unit] -> ``[..., band, tier]`` with tiers on the all-band total."""
    total = by_band.sum(axis=-1)
    widths = tier_widths(total, tier_limits)  # [..., tier]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[..., None] > 0, by_band / total[..., None], 0.0)  # [..., band]
    return share[..., :, None] * widths[..., None, :]


def split_demand_tiers(peaks: npt.NDArray[np.float64], tier_limits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``[..., band]`` peaks [kW] -> ``[..., band, tier]`` kW billed in each demand tier."""
    return tier_widths(peaks, tier_limits)
