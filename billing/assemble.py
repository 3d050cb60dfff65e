"""From a rated statement to the EN 16931 invoice document: lines, VAT categories, parties, traces.

A billing period's :class:`~billing.lines.PeriodStatement` already holds every priced line
(standing charge prorated by days, energy by band and tier, demand, minimum, PAYD distance by
band, caps, discounts and surcharges, excise). This module turns each one into an
:class:`~billing.invoice.InvoiceLine` with its VAT category from the tariff's VAT rates, the
metered object (BT-128), and a :class:`~billing.invoice.LineTrace` (tariff version, band/tier,
reading interval range and count, share of estimated readings). A deduction (the safe-driving
discount, a negative unit price in the statement) becomes a negative quantity at a positive
price, as EN 16931 wants (BR-27); the amount is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.invoice import (
    BillingPeriod,
    DeliverTo,
    ElectronicAddress,
    Invoice,
    InvoiceLine,
    LegalNotes,
    LineTrace,
    OperationCategory,
    Party,
    PrecedingInvoice,
    SellerSettings,
    VatCategory,
)
from billing.lines import PeriodStatement, StatementLine, band_label
from devices.model import Customer
from rating.tariff import DemandCharge, QuantityCharge, Tariff

__all__ = ["UnitUsage", "assemble_invoice", "line_bands"]

# Lines a tariff charges no VAT on: insurance premiums are exempt (CGI art. 261 C, directive art. 135(1)(a)).
_INSURANCE = frozenset({"distance", "trip", "surcharge", "discount"})
_INSURANCE_REASON = ("VATEX-FR-CGI261C-2", "Exonération de TVA, article 261 C du CGI (assurance)")
_EXEMPT_REASON = (None, "Exonération de TVA (le tarif ne soumet pas cette ligne à la TVA)")
_UNIT_OF_CODE = {"KWH": "kWh", "KWT": "kWh", "MTQ": "m^3", "KMT": "km"}


@dataclass(frozen=True)
class UnitUsage:
    """The readings of one canonical unit behind a period: range, count, estimated share [1]."""

    first: datetime
    last: datetime
    count: int
    estimated_share: Decimal
    devices: tuple[str, ...] = ()  # the devices that measured them, in time order (two across a meter exchange)


def line_bands(tariff: Tariff) -> dict[str, tuple[str | None, int | None]]:
    """Line code -> (band name, tier number from 1), as :func:`billing.lines.build_statement` codes them."""
    out: dict[str, tuple[str | None, int | None]] = {}
    charges: list[QuantityCharge | DemandCharge] = [*tariff.energy_charges, *tariff.demand_charges]
    for charge in charges:
        for band in charge.bands:
            n_tiers = len(band.tier_prices)
            for tier in range(n_tiers):
                suffix, _ = band_label(band, len(charge.bands), tier, n_tiers)
                out[charge.code + suffix] = (
                    band.name if len(charge.bands) > 1 else None,
                    tier + 1 if n_tiers > 1 else None,
                )
    return out


def _vat(tariff: Tariff, line: StatementLine) -> tuple[VatCategory, Decimal, str | None, str | None]:
    """(category BT-151, rate BT-152 [%], exemption code BT-121, reason BT-120) of a line."""
    for vat in tariff.taxes.vat:
        if line.category in vat.categories:
            return ("S", vat.rate_percent, None, None) if vat.rate_percent > 0 else ("Z", Decimal(0), None, None)
    code, reason = _INSURANCE_REASON if line.category in _INSURANCE else _EXEMPT_REASON
    return "E", Decimal(0), code, reason


def _operation_category(tariff: Tariff) -> OperationCategory:
    """BT-23: energy and water are goods (B1), pay-as-you-drive cover a service (S1), both mixed (M1)."""
    units = {c.unit for c in tariff.energy_charges} | ({"kWh"} if tariff.demand_charges else set())
    services = "km" in units or tariff.payd is not None
    goods = bool(units - {"km"})
    if services and goods:
        return "M1"
    return "S1" if services else "B1"


def _explain(line: StatementLine, usage: UnitUsage | None, band: str | None, tier: int | None) -> str:
    text = f"{line.quantity} {line.unit} x {line.unit_price} = {line.amount}"
    if band is not None:
        text += f"; band {band}"
    if tier is not None:
        text += f", tier {tier}"
    if usage is not None:
        text += f"; from {usage.count} readings {usage.first.isoformat()} .. {usage.last.isoformat()}"
        if usage.estimated_share > 0:
            text += f", {usage.estimated_share * 100:.1f}% estimated"
        if len(usage.devices) > 1:
            text += f"; meters {' then '.join(usage.devices)}"
    return text


def assemble_invoice(
    *,
    period: PeriodStatement,
    tariff: Tariff,
    tariff_version: int,
    seller: SellerSettings,
    customer: Customer,
    contract_id: str,
    object_id: str,
    vehicle: bool,
    usage: Mapping[str, UnitUsage],
    number: str,
    issue_date: date,
    preceding: PrecedingInvoice | None = None,
) -> Invoice:
    """The invoice document of one contract's billing period (``period.end`` is exclusive).

    ``preceding``: the fully credited invoice of the same period this one replaces (BG-3: BT-25,
    BT-26).
    """
    invoice_period = BillingPeriod(period.start, period.end - timedelta(days=1))
    bands = line_bands(tariff)
    lines: list[InvoiceLine] = []
    for n, line in enumerate(period.lines, start=1):
        category, rate, ex_code, ex_reason = _vat(tariff, line)
        band, tier = bands.get(line.code, (None, None))
        unit = _UNIT_OF_CODE.get(line.unit)
        used = usage.get(unit) if unit is not None else None
        if unit is not None and used is None and len(usage) == 1:
            used = next(iter(usage.values()))  # gas: volume read, energy billed
        trace = LineTrace(
            tariff_id=tariff.id,
            tariff_version=tariff_version,
            band=band,
            tier=tier,
            first_interval=used.first if used else None,
            last_interval=used.last if used else None,
            interval_count=used.count if used else 0,
            estimated_share=used.estimated_share if used else Decimal(0),
            devices=used.devices if used else (),
        )
        quantity, price = (line.quantity, line.unit_price)
        if price < 0:  # a deduction: negative quantity at a positive price (BR-27)
            quantity, price = -quantity, -price
        lines.append(
            InvoiceLine(
                line_id=str(n),
                code=line.code,
                description=line.description,
                quantity=quantity,
                unit=line.unit,
                net_price=price,
                net_amount=line.amount,
                vat_category=category,
                vat_rate=rate,
                period=invoice_period,
                object_id=object_id,
                object_scheme="ABZ" if vehicle else "MG",
                exemption_code=ex_code,
                exemption_reason=ex_reason,
                explanation=_explain(line, used, band, tier),
                trace=trace,
            )
        )
    electronic = ElectronicAddress(customer.siren, "0225") if customer.siren else None
    buyer = Party.from_customer(customer, electronic)
    return Invoice(
        number=number,
        type_code="380",
        issue_date=issue_date,
        seller=seller.party,
        buyer=buyer,
        payment=seller.payment,
        period=invoice_period,
        lines=tuple(lines),
        operation_category=_operation_category(tariff),
        notes=LegalNotes.french(business=buyer.is_business),
        currency=period.currency,
        deliver_to=DeliverTo(customer.name, customer.address, location_id=object_id),
        buyer_reference=customer.id,
        contract_reference=contract_id,
        preceding=preceding,
    )
