"""Documents made by a billing run and issued (invoice and credit note) pass XSD, EN 16931 and BR-FR rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.documents import from_data
from billing.einvoice import to_cii, to_ubl
from billing.invoice import Invoice
from billing.issue import draft_credit_note, finalize
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from store.sqlite import SQLiteStore
from tests.billing.billing_world import PERIOD, SELLER, add_world
from tests.einvoice.validation import CII_RULES, UBL_RULES, SchematronValidator, XsdValidator


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Invoice]]:
    store = SQLiteStore(Path(tmp_path_factory.mktemp("docs")) / "b.db")
    try:
        store.upgrade()
        add_world(store, 2)
        assert not run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv).failures
        at = datetime(2026, 2, 3, tzinfo=UTC)
        records = []
        for r in store.invoices(period=PERIOD):
            store.set_invoice_status(r.id, "approved")
            records.append(store.issue_invoice(r.id, issue_date=date(2026, 2, 3), issued_at=at, finalize=finalize))
        note = draft_credit_note(
            records[0], earlier=[], today=date(2026, 2, 9), quantities={"2": Decimal("12.5")}, reason="misread"
        )
        store.save_draft(note)
        store.set_invoice_status(note.id, "approved")
        records.append(store.issue_invoice(note.id, issue_date=date(2026, 2, 9), issued_at=at, finalize=finalize))
        yield [from_data(Invoice, r.document) for r in records]
    finally:
        store.close()


@pytest.fixture(scope="module")
def schematron() -> Iterator[SchematronValidator]:
    validator = SchematronValidator()
    yield validator
    validator.close()


def test_issued_documents_pass_the_official_rules(issued: list[Invoice], schematron: SchematronValidator) -> None:
    xsd = XsdValidator()
    assert [d.type_code for d in issued] == ["380", "380", "381"]
    for document in issued:
        cii, ubl = to_cii(document), to_ubl(document)
        assert xsd.errors(cii, "cii") == [], document.number
        assert xsd.errors(ubl, "ubl-creditnote" if document.is_credit_note else "ubl-invoice") == []
        assert [str(f) for f in schematron.fatal(cii, CII_RULES)] == [], document.number
        assert [str(f) for f in schematron.fatal(ubl, UBL_RULES)] == [], document.number
