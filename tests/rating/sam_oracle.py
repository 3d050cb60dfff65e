"""NREL SAM Utilityrate5 (``nrel-pysam``) as an independent oracle for URDB rates.

SAM's 8760-hour year has no DST and starts on a Monday, so comparisons use 2029 in UTC.
"""

from __future__ import annotations

import json
from typing import Any


def sam_monthly(rate: dict[str, Any], load_kw: list[float]) -> dict[str, list[float]]:
    """SAM's monthly bill and its parts [$] for an hourly load [kW] under a URDB rate."""
    import PySAM.Utilityrate5 as ur  # type: ignore[import-untyped]
    import PySAM.UtilityRateTools as urt  # type: ignore[import-untyped]

    model = ur.new()
    # SAM's converter edits schedules in place (+1): give it its own copy, without shared lists.
    model.ElectricityRates.assign(urt.URDBv8_to_ElectricityRates(json.loads(json.dumps(rate, default=float))))
    model.Load.load = load_kw
    model.SystemOutput.gen = [0.0] * len(load_kw)
    model.Lifetime.analysis_period = 1
    model.Lifetime.system_use_lifetime_output = 0
    model.Lifetime.inflation_rate = 0
    model.SystemOutput.degradation = [0]
    model.ElectricityRates.rate_escalation = [0]
    model.execute()
    out = model.Outputs
    return {
        "bill": list(out.year1_monthly_utility_bill_wo_sys),
        "energy": list(out.year1_monthly_ec_charge_without_system),
        "demand_flat": list(out.year1_monthly_dc_fixed_without_system),
        "demand_tou": list(out.year1_monthly_dc_tou_without_system),
        "fixed": list(out.year1_monthly_fixed_without_system),
        "minimum": list(out.year1_monthly_minimum_without_system),
    }
