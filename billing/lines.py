"""Invoice-ready lines from rated quantities: one statement per rating, one block per billing period.

Each line is ``quantity [unit] x unit price = amount`` with the amount rounded once
(:mod:`billing.money`); period totals are sums of lines; VAT is computed per rate on the sum of
the lines it covers. Lines add up the devices of the rating (tiers, caps and demand were applied
per device by the engine). Line order: standing, quantity charges, demand, PAYD, excise, minimum.
Units are UN/ECE Rec 20 codes as EN 16931 prints them (KWH, MTQ, KMT, KWT, DAY, MON, C62, P1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from billing.money import line_amount, quantity_decimal, quantize_money, sum_money
from devices.units import unece_code
from rating.calendar import BillingPeriod
from rating.engine import Rating
from rating.tariff import Band, LineCategory, Tariff

__all__ = [
    "PeriodStatement",
    "Statement",
    "StatementLine",
    "TaxLine",
    "band_label",
    "build_statement",
    "statement_json",
]

_EXCISE_PER = {
    "kWh": (Decimal(1), "kWh"),
    "MWh": (Decimal(1000), "kWh"),
    "m^3": (Decimal(1), "m^3"),
    "km": (Decimal(1), "km"),
}
_MONTH_PLACES = 4  # EN 16931 France: quantities have at most 4 decimals (BR-FR-DEC-02)
# Demand prices per kW are ~100x energy prices per kWh: keep 0.1 W so the printed quantity x price stays
# within a cent of the exact charge (energy, volume and distance keep 0.001 of their unit).
_DEMAND_PLACES = 4


@dataclass(frozen=True)
class StatementLine:
    """One invoice line; ``amount`` = ``quantity`` x ``unit_price`` rounded once [currency]."""

    code: str
    description: str
    category: LineCategory
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class TaxLine:
    """VAT at ``rate_percent`` on ``base`` [currency], rounded once per rate and period."""

    code: str
    description: str
    rate_percent: Decimal
    base: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PeriodStatement:
    """A billing period's lines and totals; ``end`` is the first local day no longer covered."""

    currency: str
    start: date
    end: date
    lines: tuple[StatementLine, ...]
    taxes: tuple[TaxLine, ...]

    @property
    def net_total(self) -> Decimal:
        """Sum of the lines [currency]."""
        return sum_money([line.amount for line in self.lines], self.currency)

    @property
    def tax_total(self) -> Decimal:
        """Sum of the VAT amounts [currency]."""
        return sum_money([tax.amount for tax in self.taxes], self.currency)

    @property
    def gross_total(self) -> Decimal:
        return self.net_total + self.tax_total


@dataclass(frozen=True)
class Statement:
    """Every billing period of a rating, priced."""

    currency: str
    periods: tuple[PeriodStatement, ...]

    @property
    def net_total(self) -> Decimal:
        """Sum of the periods' net totals [currency]."""
        return sum_money([p.net_total for p in self.periods], self.currency)

    @property
    def tax_total(self) -> Decimal:
        """Sum of the periods' VAT [currency]."""
        return sum_money([p.tax_total for p in self.periods], self.currency)

    @property
    def gross_total(self) -> Decimal:
        return self.net_total + self.tax_total


class _Period:
    """Collects one period's lines; the currency rounds each line once."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.lines: list[StatementLine] = []

    def add(
        self, code: str, description: str, category: LineCategory, quantity: Decimal, unit: str, price: Decimal
    ) -> None:
        amount = line_amount(quantity, price, self.currency)
        self.lines.append(StatementLine(code, description, category, quantity, unit, price, amount))

    def total(self, categories: set[str] | None = None) -> Decimal:
        return sum_money(
            [ln.amount for ln in self.lines if categories is None or ln.category in categories], self.currency
        )


def band_label(band: Band, n_bands: int, tier: int, n_tiers: int) -> tuple[str, str]:
    """(code suffix, description suffix) of a band and tier."""
    code, text = "", ""
    if n_bands > 1:
        code += "_" + "".join(ch if ch.isalnum() else "_" for ch in band.name.upper())
        text += f", {band.description or band.name}"
    if n_tiers > 1:
        code += f"_T{tier + 1}"
        text += f", tier {tier + 1}"
    return code, text


def build_statement(rating: Rating) -> Statement:
    """Price a rating: lines, VAT and totals for every billing period."""
    return Statement(rating.tariff.currency, tuple(_period(rating, p) for p in rating.periods))


def _period(rating: Rating, period: BillingPeriod) -> PeriodStatement:  # noqa: PLR0912
    tariff, p = rating.tariff, period.index
    out = _Period(tariff.currency)
    days = Decimal(period.days)
    months = (days / Decimal(period.cycle_days)).quantize(Decimal(1).scaleb(-_MONTH_PLACES))
    for s in tariff.standing_charges:
        out.add(
            s.code,
            s.description,
            "standing",
            days if s.per == "day" else months,
            "DAY" if s.per == "day" else "MON",
            s.price,
        )
    charged: dict[str, float] = {}
    distance_km = 0.0
    trips = 0
    for rated in rating.quantities:
        c = rated.charge
        unit = unece_code(c.unit)
        sums = rated.by_band_tier[:, p].sum(axis=0)  # [band, tier]
        for b, band in enumerate(c.bands):
            prices = band.tier_prices
            for t, price in enumerate(prices):
                quantity = quantity_decimal(float(sums[b, t]))
                if quantity:
                    code, text = band_label(band, len(c.bands), t, len(prices))
                    out.add(c.code + code, c.description + text, c.category, quantity, unit, price)
        free = quantity_decimal(float(rated.above_cap[:, p].sum()))
        if free:
            out.add(
                f"{c.code}_ABOVE_CAP",
                f"{c.description}, above the daily cap (free)",
                c.category,
                free,
                unit,
                Decimal(0),
            )
        charged[c.code] = float(sums.sum())
        if c.unit == "km":
            distance_km += float(sums.sum() + rated.above_cap[:, p].sum())
            trips = max(trips, int(rated.count[:, p].sum()))
    for demand in rating.demands:
        dc = demand.charge
        sums = demand.by_band_tier[:, p].sum(axis=0)
        for b, band in enumerate(dc.bands):
            for t, price in enumerate(band.tier_prices):
                quantity = quantity_decimal(float(sums[b, t]), _DEMAND_PLACES)
                if quantity:
                    code, text = band_label(band, len(dc.bands), t, len(band.tier_prices))
                    out.add(dc.code + code, dc.description + text, "demand", quantity, "KWT", price)
    _payd(rating, p, out, trips, distance_km)
    for excise in tariff.taxes.excise:
        factor, _ = _EXCISE_PER[excise.per]
        base_unit = next(c.unit for c in tariff.energy_charges if c.code == excise.applies_to[0])
        quantity = quantity_decimal(sum(charged.get(code, 0.0) for code in excise.applies_to))
        if quantity:
            out.add(excise.code, excise.description, "excise", quantity, unece_code(base_unit), excise.price / factor)
    _minimum(tariff, period, out)
    taxes = []
    for vat in tariff.taxes.vat:
        base = out.total(set(vat.categories))
        if base:
            amount = quantize_money(base * vat.rate_percent / 100, tariff.currency)
            taxes.append(TaxLine(vat.code, vat.description, vat.rate_percent, base, amount))
    return PeriodStatement(tariff.currency, period.start, period.end, tuple(out.lines), tuple(taxes))


def _payd(rating: Rating, p: int, out: _Period, trips: int, distance_km: float) -> None:
    payd = rating.tariff.payd
    if payd is None:
        return
    if payd.trip_fee is not None and trips:
        out.add(payd.trip_code, payd.trip_description, "trip", Decimal(trips), "C62", payd.trip_fee)
    events = rating.events[:, p].sum(axis=0) if rating.event_kinds else np.zeros(0)
    per_kind = {kind: float(events[i]) for i, kind in enumerate(rating.event_kinds)}
    for s in payd.event_surcharges:
        n = per_kind.get(s.event, 0.0)
        if n:
            out.add(s.code, s.description, "surcharge", quantity_decimal(n, 0), "C62", s.price)
    discount = payd.risk_discount
    if discount is None or distance_km <= 0:
        return
    weighted = sum(w * per_kind.get(kind, 0.0) for kind, w in discount.weights.items())
    score = weighted / distance_km * 100.0  # [weighted events per 100 km]
    band = next(b for b in discount.bands if b.max_score is None or score <= b.max_score)
    base = out.total({"distance"})
    if band.percent and base:
        text = f"{discount.description} ({band.percent}% at risk score {score:.2f} per 100 km)"
        out.add(discount.code, text, "discount", band.percent, "P1", -base / 100)


def _minimum(tariff: Tariff, period: BillingPeriod, out: _Period) -> None:
    minimum = tariff.minimum_charge
    if minimum is None:
        return
    if minimum.per == "day":
        floor = minimum.amount * period.days
    else:  # prorated when the contract clips the period
        floor = minimum.amount * Decimal(period.days) / Decimal(period.cycle_days)
    floor = quantize_money(floor, tariff.currency)
    subtotal = out.total()
    if subtotal < floor:
        out.add(minimum.code, minimum.description, "minimum", Decimal(1), "C62", floor - subtotal)


def statement_json(statement: Statement) -> dict[str, Any]:
    """The ``meterbill rate --format json`` object: amounts, quantities and prices as decimal strings."""

    def line(ln: StatementLine) -> dict[str, str]:
        return {
            "code": ln.code,
            "description": ln.description,
            "category": ln.category,
            "quantity": str(ln.quantity),
            "unit": ln.unit,
            "unit_price": str(ln.unit_price),
            "amount": str(ln.amount),
        }

    def tax(t: TaxLine) -> dict[str, str]:
        return {
            "code": t.code,
            "description": t.description,
            "rate_percent": str(t.rate_percent),
            "base": str(t.base),
            "amount": str(t.amount),
        }

    return {
        "currency": statement.currency,
        "periods": [
            {
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "lines": [line(ln) for ln in p.lines],
                "net_total": str(p.net_total),
                "taxes": [tax(t) for t in p.taxes],
                "tax_total": str(p.tax_total),
                "gross_total": str(p.gross_total),
            }
            for p in statement.periods
        ],
        "net_total": str(statement.net_total),
        "tax_total": str(statement.tax_total),
        "gross_total": str(statement.gross_total),
    }
