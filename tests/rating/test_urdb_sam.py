"""``meterbill rate --urdb`` agrees with NREL SAM Utilityrate5 to the cent, month by month, on a year of
hourly data (2029, UTC: SAM's year has no DST and starts on a Monday). Skips when nrel-pysam is absent.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from billing.lines import build_statement
from rating.engine import rate
from rating.kernels import IntervalArrays
from rating.urdb import urdb_to_tariff
from tests.rating.sam_oracle import sam_monthly

pytest.importorskip("PySAM.Utilityrate5", reason="nrel-pysam is the oracle of these tests")

YEAR_START_S = 1861920000  # 2029-01-01T00:00:00Z, a Monday
CATEGORY = {
    "energy": "energy",
    "demand_flat": "DEMAND_FLAT",
    "demand_tou": "DEMAND_TOU",
    "fixed": "standing",
    "minimum": "minimum",
}


def _schedule(shape: str) -> list[list[int]]:
    if shape == "summer_peak":  # two seasons; peak 12-18 h in summer
        return [
            [2 if 5 <= m <= 8 and 12 <= h < 18 else (1 if 8 <= h < 22 else 0) for h in range(24)] for m in range(12)
        ]
    return [[0 if h < 7 or h >= 23 else 1 for h in range(24)] for _ in range(12)]


RATES: dict[str, dict[str, Any]] = {
    "tou_tiers_demand_fixed_min": {
        "label": "test-a",
        "energyratestructure": [
            [{"rate": 0.08, "max": 400}, {"rate": 0.11, "max": 900}, {"rate": 0.13}],
            [{"rate": 0.14, "adj": 0.01, "max": 400}, {"rate": 0.17, "max": 900}, {"rate": 0.19}],
            [{"rate": 0.29, "max": 400}, {"rate": 0.33, "max": 900}, {"rate": 0.37}],
        ],
        "energyweekdayschedule": _schedule("summer_peak"),
        "energyweekendschedule": [[0] * 24 for _ in range(12)],
        "demandratestructure": [
            [{"rate": 0.0, "max": 5}, {"rate": 0.0}],
            [{"rate": 4.5, "max": 5}, {"rate": 5.0}],
            [{"rate": 12.25, "max": 5}, {"rate": 15.0}],
        ],
        "demandweekdayschedule": _schedule("summer_peak"),
        "demandweekendschedule": [[0] * 24 for _ in range(12)],
        "flatdemandstructure": [[{"rate": 7.1}], [{"rate": 9.35, "max": 8}, {"rate": 11.0}]],
        "flatdemandmonths": [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
        "fixedchargefirstmeter": 14.5,
        "fixedchargeunits": "$/month",
        "mincharge": 90,
        "minchargeunits": "$/month",
    },
    "two_period_tiers_minimum_binds": {
        "label": "test-b",
        "energyratestructure": [
            [{"rate": 0.05, "max": 100}, {"rate": 0.07}],
            [{"rate": 0.12, "max": 100}, {"rate": 0.2}],
        ],
        "energyweekdayschedule": _schedule("day_night"),
        "energyweekendschedule": _schedule("day_night"),
        "fixedchargefirstmeter": 9.99,
        "fixedchargeunits": "$/month",
        "mincharge": 60,
        "minchargeunits": "$/month",
    },
}


DEVIATIONS: list[tuple[float, float]] = []  # per month: (rounded lines' total, unrounded total) vs SAM [$]


def _load(seed: int, scale: float) -> list[float]:
    rng = random.Random(seed)
    load = []
    for hour in range(8760):
        daily = 1.0 + 0.8 * math.sin((hour % 24 - 6) / 24 * 2 * math.pi)
        season = 1.0 + 0.5 * math.cos((hour / 8760 - 0.55) * 2 * math.pi)
        load.append(round(max(0.0, scale * daily * season * rng.uniform(0.4, 1.6)), 4))
    # a month with almost nothing, so a minimum charge binds
    for hour in range(24 * 59, 24 * 90):
        load[hour] = 0.001
    return load


@pytest.mark.parametrize("name", sorted(RATES))
@pytest.mark.parametrize("seed", [1, 2])
def test_urdb_matches_sam_month_by_month_to_the_cent(name: str, seed: int) -> None:
    rate_json = RATES[name]
    load = _load(seed, scale=1.2 if seed == 1 else 3.0)
    expected = sam_monthly(rate_json, load)
    tariff = urdb_to_tariff(rate_json, timezone="UTC")
    arrays = IntervalArrays(
        np.zeros(8760, np.int32),
        YEAR_START_S + 3600 * np.arange(8760, dtype=np.int64),
        np.full(8760, 3600, np.int32),
        np.asarray(load, dtype=np.float64),
    )
    statement = build_statement(rate(tariff, {"kWh": arrays}, 1))
    assert len(statement.periods) == 12
    for month, period in enumerate(statement.periods):
        ours = period.net_total
        sam = Decimal(repr(expected["bill"][month])).quantize(Decimal("0.01"))
        # Each of our lines is rounded once to the cent; SAM's bill is not rounded at all.
        assert abs(ours - sam) <= Decimal("0.005") * len(period.lines), (month, ours, sam, period.lines)
        unrounded = sum((ln.quantity * ln.unit_price for ln in period.lines), Decimal(0))
        DEVIATIONS.append((abs(float(ours) - expected["bill"][month]), abs(float(unrounded) - expected["bill"][month])))
        for part, code_or_category in CATEGORY.items():
            lines = [ln for ln in period.lines if code_or_category in (ln.category, ln.code.rsplit("_P", 1)[0])]
            amount = sum((ln.amount for ln in lines), Decimal(0))
            assert abs(float(amount) - expected[part][month]) <= 0.005 * max(1, len(lines)) + 1e-4, (month, part)


def test_max_deviation_from_sam_is_within_a_cent() -> None:
    """Runs after the comparisons above (same module, definition order): the worst month of all."""
    if not DEVIATIONS:
        pytest.skip("the comparisons did not run")
    assert len(DEVIATIONS) == 12 * 2 * len(RATES)
    rounded = max(r for r, _ in DEVIATIONS)
    exact = max(e for _, e in DEVIATIONS)
    # Before the once-per-line rounding, our total is SAM's within half a cent (the minimum top-up line
    # absorbs the other lines' rounding)...
    assert exact < 0.005, exact
    # ...and after it, each line moves by at most half a cent.
    assert rounded < 0.03, rounded
