"""The invoice document model: derived totals, VAT breakdown, credit notes, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from billing.invoice import (
    BillingPeriod,
    ElectronicAddress,
    InvoiceError,
    InvoiceLine,
    LineTrace,
    credit_note_for,
)
from tests.einvoice import samples


def test_totals_are_derived_from_the_lines() -> None:
    invoice = samples.electricity_b2c()
    assert invoice.line_total == sum(line.net_amount for line in invoice.lines) == D("125.64")
    assert invoice.vat_total == D("22.80")
    assert invoice.amount_due == invoice.tax_inclusive == D("148.44")


def test_two_vat_rates_give_two_breakdown_rows_each_computed_on_its_base() -> None:
    # EN 16931 BR-CO-17: VAT per rate = taxable amount of that rate x rate, rounded once.
    rows = {row.rate: row for row in samples.electricity_b2c().vat_breakdown}
    assert set(rows) == {D(20), D("5.5")}
    assert rows[D("5.5")].taxable_amount == D("16.10")
    assert rows[D("5.5")].tax_amount == D("0.89")  # 0.8855 half-up
    assert rows[D(20)].taxable_amount == D("109.54")
    assert rows[D(20)].tax_amount == D("21.91")  # 21.908


def test_exempt_insurance_has_its_own_row_with_the_reason() -> None:
    invoice = samples.payd_insurance()
    exempt = next(row for row in invoice.vat_breakdown if row.category == "E")
    assert exempt.rate == 0 and exempt.tax_amount == 0
    assert exempt.exemption_code == "VATEX-FR-CGI261C-2"
    assert exempt.taxable_amount == D("47.28")  # 52.28 premium - 5.00 bonus
    assert invoice.operation_category == "S1"


def test_full_credit_note_sums_back_to_the_invoice_to_the_cent() -> None:
    invoice = samples.electricity_b2b()
    credit = samples.credit_note()
    assert credit.type_code == "381"
    assert credit.preceding is not None
    assert (credit.preceding.number, credit.preceding.issue_date) == (invoice.number, invoice.issue_date)
    assert credit.amount_due == invoice.amount_due
    assert credit.vat_breakdown == invoice.vat_breakdown
    assert credit.amount_due - invoice.amount_due == D("0.00")


def test_partial_credit_note_credits_part_of_a_line() -> None:
    invoice = samples.electricity_b2b()
    demand = invoice.lines[1]
    part = InvoiceLine.priced(
        demand.line_id,
        demand.code,
        demand.description,
        D("1.6"),
        demand.unit,
        demand.net_price,
        demand.vat_category,
        demand.vat_rate,
    )
    credit = credit_note_for(invoice, "AV-2026-000004", date(2026, 2, 11), lines=(part,))
    assert credit.amount_due == D("5.47")  # 1.6 kW x 2.85 = 4.56 + 20 % VAT


def test_credit_note_cannot_credit_more_than_was_invoiced() -> None:
    invoice = samples.electricity_b2b()
    more = replace(invoice.lines[0], quantity=D(2), net_amount=D("96.40"))
    with pytest.raises(InvoiceError, match="does not credit"):
        credit_note_for(invoice, "AV-2026-000005", date(2026, 2, 11), lines=(more,))


def test_credit_note_without_reference_is_refused() -> None:
    with pytest.raises(InvoiceError, match="BT-25"):
        replace(samples.electricity_b2b(), type_code="381")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"net_price": D("-0.1"), "net_amount": D("-21.24")}, "net price"),
        ({"quantity": D("212.41812")}, "4 decimals"),
        ({"unit": "kWh"}, "Rec 20"),
        ({"net_amount": D("99.00")}, "not quantity x price"),
        ({"vat_category": "E"}, "rate 0"),
        ({"vat_category": "E", "vat_rate": D(0)}, "exemption reason"),
    ],
)
def test_line_refuses_what_en16931_refuses(change: dict[str, object], message: str) -> None:
    line = samples.electricity_b2c().lines[1]
    with pytest.raises(InvoiceError, match=message):
        replace(line, **change)


def test_invoice_refuses_a_number_outside_the_french_alphabet() -> None:
    with pytest.raises(InvoiceError, match="BR-FR-01/02"):
        replace(samples.gas_b2c(), number="FG 2026 57")


def test_business_buyer_needs_siren_and_addresses_are_required() -> None:
    invoice = samples.electricity_b2b()
    with pytest.raises(InvoiceError, match="BT-47"):
        replace(invoice, buyer=replace(invoice.buyer, siren=None))
    with pytest.raises(InvoiceError, match="BT-34/BT-49"):
        replace(invoice, buyer=replace(invoice.buyer, electronic_address=None))
    with pytest.raises(InvoiceError, match="BR-FR-23"):
        ElectronicAddress("418279361@factures", "0225")


def test_bar_treatment_follows_the_buyer() -> None:
    assert samples.electricity_b2c().bar_treatment == "B2C"
    assert samples.electricity_b2b().bar_treatment == "B2B"


def test_estimated_lines_come_from_the_trace() -> None:
    invoice = samples.electricity_b2c()
    assert [line.line_id for line in invoice.estimated_lines] == ["2"]
    trace = invoice.lines[1].trace
    assert trace is not None
    assert trace.as_mapping()["estimated_share"] == "0.0625"
    with pytest.raises(InvoiceError, match=r"0\.\.1"):
        LineTrace("T", 1, estimated_share=D("1.5"))


def test_period_is_inclusive_and_ordered() -> None:
    assert samples.JULY_2025.days == 31
    with pytest.raises(InvoiceError, match="before its start"):
        BillingPeriod(date(2026, 1, 31), date(2026, 1, 1))
