"""Re-billing a credited period on both stores: a fully credited invoice makes way for a new one that
references it (BG-3); a partly credited one stands, and the period is not billed again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.documents import from_data
from billing.einvoice import to_cii, to_ubl
from billing.invoice import Invoice, PrecedingInvoice
from billing.issue import draft_credit_note, finalize, fully_credited
from billing.ports import InvoiceRecord
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from store.contract import Store
from tests.billing.billing_world import PERIOD, SELLER, add_world
from tests.einvoice.validation import CII_RULES, UBL_RULES, SchematronValidator, XsdValidator

AT = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> Iterator[SchematronValidator]:
    validator = SchematronValidator()
    yield validator
    validator.close()


def _issue(store: Store, invoice_id: str, day: date) -> InvoiceRecord:
    store.set_invoice_status(invoice_id, "approved")
    return store.issue_invoice(invoice_id, issue_date=day, issued_at=AT, finalize=finalize)


def _credit(store: Store, record: InvoiceRecord, day: date, quantities: dict[str, Decimal] | None = None) -> None:
    earlier = store.invoices(credited_invoice_id=record.id)
    note = draft_credit_note(record, earlier=earlier, today=day, quantities=quantities, reason="index misread")
    store.save_draft(note)
    _issue(store, note.id, day)


def test_a_fully_credited_period_is_billed_again_referencing_the_credited_invoice(
    store: Store, rules: SchematronValidator
) -> None:
    add_world(store, 2)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    first = _issue(store, f"ct-000-{PERIOD}", date(2026, 2, 3))
    _issue(store, f"ct-001-{PERIOD}", date(2026, 2, 3))
    _credit(store, first, date(2026, 2, 10))
    credited = store.invoice(first.id)
    assert credited is not None and credited.status == "credited"
    assert fully_credited(credited, store.invoices(credited_invoice_id=first.id))

    again = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert again.outcomes == {"ct-000": "created", "ct-001": "kept_issued"}
    new = store.invoice(f"ct-000-{PERIOD}-2")
    assert new is not None and new.status == "draft" and new.evidence["replaces"] == first.number
    draft = from_data(Invoice, new.document)
    assert draft.preceding == PrecedingInvoice(str(first.number), date(2026, 2, 3))  # BT-25, BT-26
    assert new.net_total == first.net_total  # the same readings, the same lines
    # a re-run replaces the new draft, byte for byte, and never touches the credited invoice
    rerun = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert rerun.outcomes == {"ct-000": "replaced", "ct-001": "kept_issued"}
    assert store.invoice(new.id) == new.__class__(**{**new.__dict__, "run_id": rerun.run_id})

    issued = _issue(store, new.id, date(2026, 2, 11))
    document = from_data(Invoice, issued.document)
    cii, ubl = to_cii(document), to_ubl(document)
    assert b"<ram:InvoiceReferencedDocument>" in cii and b"<cac:BillingReference>" in ubl
    xsd = XsdValidator()
    assert xsd.errors(cii, "cii") == [] and xsd.errors(ubl, "ubl-invoice") == []
    assert [str(f) for f in rules.fatal(cii, CII_RULES)] == []
    assert [str(f) for f in rules.fatal(ubl, UBL_RULES)] == []

    # and once more: the second invoice credited in full gives a third, referencing the second
    _credit(store, issued, date(2026, 2, 12))
    third = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert third.outcomes["ct-000"] == "created"
    record = store.invoice(f"ct-000-{PERIOD}-3")
    assert record is not None
    assert from_data(Invoice, record.document).preceding == PrecedingInvoice(str(issued.number), date(2026, 2, 11))


def test_a_partly_credited_invoice_stands_and_the_period_is_not_billed_again(store: Store) -> None:
    add_world(store, 1)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    record = _issue(store, f"ct-000-{PERIOD}", date(2026, 2, 3))
    _credit(store, record, date(2026, 2, 10), {"2": Decimal("12.5")})
    partly = store.invoice(record.id)
    assert partly is not None and partly.status == "credited"
    assert not fully_credited(partly, store.invoices(credited_invoice_id=record.id))
    again = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert again.outcomes == {"ct-000": "kept_issued"}
    assert [r.id for r in store.invoices(period=PERIOD, status="draft")] == []
    # crediting the rest completes the credit: now the period is billed again
    _credit(store, record, date(2026, 2, 11))
    assert run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv).outcomes == {
        "ct-000": "created"
    }
