"""Import of OpenEI Utility Rate Database (URDB) rates into the tariff model.

Accepts a bare rate object or the API's envelope ``{"items": [rate, ...]}`` (the first item, or
the one whose ``label`` is named). URDB rates carry no time zone: the caller gives one (default
UTC). Fields read, with the semantics of NREL SAM Utilityrate5 (``nrel-pysam``), which the tests
use as an oracle:

- ``energyratestructure`` (periods x tiers of ``rate`` + ``adj`` [$/kWh], ``max`` [kWh/month]) with
  ``energyweekdayschedule``/``energyweekendschedule`` (12 x 24, 0-based periods): tiers apply to
  the month's total and are shared among periods pro rata (``tier_basis = "pro_rata"``), reset monthly;
- ``demandratestructure`` + ``demandweekdayschedule``/``demandweekendschedule``: TOU demand [$/kW]
  on the maximum hourly average power in each period and month (``demandwindow`` if given);
- ``flatdemandstructure`` + ``flatdemandmonths``: flat demand per month on the month's maximum;
- ``fixedchargefirstmeter`` + ``fixedchargeunits`` ($/month or $/day); ``mincharge`` + ``minchargeunits``.

Deliberate differences from SAM (docs/tariff-format.md): $/day charges are charged per day of the
period (SAM: x 365/12 per month); $/year charges and demand ratchets are refused, not approximated.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from rating.errors import TariffError
from rating.tariff import Tariff
from rating.tariff_file import tariff_from_dict

__all__ = ["load_urdb", "urdb_to_tariff"]

_UNSUPPORTED = {
    "lookbackpercent": "demand ratchets (billing demand look-back) are not supported",
    "lookbackrange": "demand ratchets (billing demand look-back) are not supported",
    "coincidentratestructure": "coincident demand charges are not supported",
}
_PER = {"$/month": "month", "$/day": "day"}


def _pick(data: Any, label: str | None) -> dict[str, Any]:
    if isinstance(data, dict) and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or not items:
            raise TariffError("the URDB response has no rate", path="items")
        if label is None:
            rate = items[0]
        else:
            found = [r for r in items if isinstance(r, dict) and r.get("label") == label]
            if not found:
                labels = ", ".join(str(r.get("label")) for r in items if isinstance(r, dict))
                raise TariffError(f"no rate has label {label!r} (labels: {labels})", path="items")
            rate = found[0]
    else:
        rate = data
    if not isinstance(rate, dict):
        raise TariffError("a URDB rate must be a JSON object")
    return rate


def _price(entry: Any, path: str) -> Decimal:
    if not isinstance(entry, dict) or "rate" not in entry:
        raise TariffError("each tier needs a rate [$ per unit]", path=path)
    rate = Decimal(str(entry["rate"])) + Decimal(str(entry.get("adj", 0)))
    if rate < 0:
        raise TariffError("rate + adj must be >= 0 (export credits are not billed here)", path=f"{path}.rate")
    return rate


def _structure(rate: dict[str, Any], field: str, unit: str) -> tuple[list[dict[str, Any]], list[float]]:
    """Bands and shared tier limits of an URDB periods-x-tiers structure."""
    structure = rate[field]
    if not isinstance(structure, list) or not structure:
        raise TariffError("must be a non-empty list of periods, each a list of tiers", path=field)
    limits: list[float] = []
    per_period: list[list[Decimal]] = []
    for i, period in enumerate(structure):
        if not isinstance(period, list) or not period:
            raise TariffError("must be a non-empty list of tiers", path=f"{field}[{i}]")
        prices = []
        for j, entry in enumerate(period):
            path = f"{field}[{i}][{j}]"
            prices.append(_price(entry, path))
            if str(entry.get("unit", unit)).lower() != unit.lower():
                raise TariffError(f"only {unit!r} tiers are supported, got {entry.get('unit')!r}", path=f"{path}.unit")
            if j < len(period) - 1:
                if "max" not in entry:
                    raise TariffError("every tier but the last needs max", path=f"{path}.max")
                limit = float(entry["max"])
                if j < len(limits) and limits[j] != limit:
                    raise TariffError(
                        f"tier limit {limit} differs from {limits[j]} in another period; meterbill (like SAM) "
                        "needs the same tier limits in every period",
                        path=f"{path}.max",
                    )
                if j >= len(limits):
                    limits.append(limit)
        per_period.append(prices)
    # A period with fewer tiers keeps its last price in the tiers it does not list.
    n_tiers = len(limits) + 1
    bands = [
        {"name": f"P{i + 1}", "description": f"period {i + 1}", "prices": [*p, *[p[-1]] * (n_tiers - len(p))]}
        for i, p in enumerate(per_period)
    ]
    return bands, limits


def _matrix(rate: dict[str, Any], field: str, n_bands: int) -> list[list[int]]:
    table = rate.get(field)
    if not isinstance(table, list) or len(table) != 12 or any(not isinstance(r, list) or len(r) != 24 for r in table):
        raise TariffError("must be 12 lists (months) of 24 period indices (hours)", path=field)
    for m, row in enumerate(table):
        for h, value in enumerate(row):
            if not isinstance(value, int) or not 0 <= value < n_bands:
                raise TariffError(f"period {value!r} is not one of the {n_bands} periods", path=f"{field}[{m}][{h}]")
    return table


def _flat_demand(rate: dict[str, Any], window: int) -> dict[str, Any]:
    """``flatdemandstructure`` + ``flatdemandmonths`` as a demand charge whose band depends on the month only."""
    bands, limits = _structure(rate, "flatdemandstructure", "kW")
    months = rate.get("flatdemandmonths")
    if not isinstance(months, list) or len(months) != 12:
        raise TariffError("must list the flat demand period of each of the 12 months", path="flatdemandmonths")
    for m, value in enumerate(months):
        if not isinstance(value, int) or not 0 <= value < len(bands):
            raise TariffError(f"period {value!r} is not one of the {len(bands)} periods", path=f"flatdemandmonths[{m}]")
    matrix = [[value] * 24 for value in months]
    return {
        "code": "DEMAND_FLAT",
        "description": "Demand (flat)",
        "window_minutes": window,
        "bands": bands,
        "tier_limits": limits,
        "schedule": {"weekday": matrix, "weekend": matrix},
    }


def urdb_to_tariff(data: Any, *, timezone: str = "UTC", label: str | None = None) -> Tariff:
    """A :class:`Tariff` from a parsed URDB rate or API response; :class:`TariffError` names the URDB field."""
    rate = _pick(data, label)
    for field, reason in _UNSUPPORTED.items():
        if rate.get(field):
            raise TariffError(reason, path=field)
    tariff: dict[str, Any] = {
        "id": str(rate.get("label") or "urdb"),
        "version": str(rate.get("startdate") or "1"),
        "name": str(rate.get("name", "")),
        "timezone": timezone,
        "currency": "USD",
        "energy_charges": [],
        "demand_charges": [],
    }
    window = int(rate.get("demandwindow") or 60)
    if "energyratestructure" in rate:
        bands, limits = _structure(rate, "energyratestructure", "kWh")
        weekday = _matrix(rate, "energyweekdayschedule", len(bands))
        weekend = _matrix(rate, "energyweekendschedule", len(bands))
        tariff["energy_charges"].append(
            {
                "code": "ENERGY",
                "description": "Energy",
                "unit": "kWh",
                "bands": bands,
                "tier_limits": limits,
                "tier_basis": "pro_rata",
                "schedule": {"weekday": weekday, "weekend": weekend},
            }
        )
    if "demandratestructure" in rate:
        bands, limits = _structure(rate, "demandratestructure", "kW")
        weekday = _matrix(rate, "demandweekdayschedule", len(bands))
        weekend = _matrix(rate, "demandweekendschedule", len(bands))
        tariff["demand_charges"].append(
            {
                "code": "DEMAND_TOU",
                "description": "Demand (time of use)",
                "window_minutes": window,
                "bands": bands,
                "tier_limits": limits,
                "schedule": {"weekday": weekday, "weekend": weekend},
            }
        )
    if "flatdemandstructure" in rate:
        tariff["demand_charges"].append(_flat_demand(rate, window))
    if rate.get("fixedchargefirstmeter"):
        units = rate.get("fixedchargeunits", "$/month")
        if units not in _PER:
            raise TariffError(f"{units!r} is not supported (use $/month or $/day)", path="fixedchargeunits")
        tariff["standing_charges"] = [
            {
                "code": "FIXED",
                "description": "Fixed charge",
                "price": Decimal(str(rate["fixedchargefirstmeter"])),
                "per": _PER[units],
            }
        ]
    if rate.get("mincharge"):
        units = rate.get("minchargeunits", "$/month")
        if units not in _PER:
            raise TariffError(f"{units!r} is not supported (use $/month or $/day)", path="minchargeunits")
        tariff["minimum_charge"] = {"amount": Decimal(str(rate["mincharge"])), "per": _PER[units]}
    if not (tariff["energy_charges"] or tariff["demand_charges"] or "standing_charges" in tariff):
        raise TariffError("the rate has no energyratestructure, demand structure or fixed charge")
    return tariff_from_dict(tariff, source="URDB rate converted")


def load_urdb(path: Path, *, timezone: str = "UTC", label: str | None = None) -> Tariff:
    """A URDB JSON file (a rate or an API response) as a :class:`Tariff` in ``timezone``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise TariffError(f"cannot read URDB file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise TariffError(f"{path}: not valid JSON: {exc}") from None
    try:
        return urdb_to_tariff(data, timezone=timezone, label=label)
    except TariffError as exc:
        exc.args = (f"{path}: {exc.args[0]}",)
        raise
