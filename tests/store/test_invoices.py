"""The invoice book on both stores: tariff versions, drafts, lifecycle, numbering, immutability, ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.documents import from_data
from billing.errors import BillingError, LifecycleError
from billing.invoice import Invoice
from billing.issue import audit, draft_credit_note, finalize
from billing.ports import InvoiceRecord
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from store.contract import Store
from store.errors import StoreError
from tests.billing.billing_world import PERIOD, SELLER, add_world

ISSUED_AT = datetime(2026, 2, 3, 9, 30, 0, 123456, tzinfo=UTC)


def _billed(store: Store, contracts: int = 2) -> list[str]:
    add_world(store, contracts)
    result = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert not result.failures
    return [r.id for r in store.invoices(period=PERIOD)]


def _issue(store: Store, invoice_id: str, day: date = date(2026, 2, 3)) -> InvoiceRecord:
    store.set_invoice_status(invoice_id, "approved")
    return store.issue_invoice(invoice_id, issue_date=day, issued_at=ISSUED_AT, finalize=finalize)


@contextmanager
def _raw(store: Store) -> Iterator[Any]:
    """A write transaction on the store's own connection, for SQL a client could run behind its back."""
    with store._registry_write() as conn:  # type: ignore[attr-defined]
        yield conn


def _sql(store: Store, conn: Any, query: str, params: tuple[Any, ...] = ()) -> None:
    q = query if store.backend == "postgres" else query.replace("%s", "?")
    conn.cursor().execute(q, params)


def test_tariff_versions_are_numbered_and_exact(store: Store) -> None:
    body = json.dumps({"id": "t", "name": "T", "currency": "EUR", "timezone": "UTC", "price": 0.17400})
    assert store.add_tariff_version("t", body) == 1
    assert store.add_tariff_version("t", body.replace("0.174", "0.2")) == 2
    latest, first = store.tariff_version("t"), store.tariff_version("t", 1)
    assert latest is not None and latest.version == 2
    assert first is not None and json.loads(first.body, parse_float=Decimal)["price"] == Decimal("0.174")
    assert store.tariff_version("t", 3) is None and store.tariff_version("other") is None


def test_lifecycle_numbers_and_ledger(store: Store) -> None:
    first, second = _billed(store)
    with pytest.raises(LifecycleError, match=f"{first} cannot go from draft to issued"):
        store.issue_invoice(first, issue_date=date(2026, 2, 3), issued_at=ISSUED_AT, finalize=finalize)
    one = _issue(store, first)
    two = _issue(store, second, date(2027, 1, 2))  # a new year starts a new sequence
    assert (one.number, two.number) == ("FA-2026-000001", "FA-2027-000001")
    stored = store.invoice_by_number("FA-2026-000001")
    assert stored == one
    document = from_data(Invoice, stored.document)
    assert (document.number, document.issue_date, document.due_date) == (
        "FA-2026-000001",
        date(2026, 2, 3),
        date(2026, 2, 17),
    )
    assert [e.document_number for e in store.ledger_entries()] == ["FA-2026-000001", "FA-2027-000001"]
    assert audit(store).broken is None and audit(store).entries == 2
    with pytest.raises(LifecycleError, match="cannot go from issued to approved"):
        store.set_invoice_status(first, "approved")


def test_rerun_keeps_issued_documents(store: Store) -> None:
    first, _ = _billed(store)
    issued = _issue(store, first)
    again = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv, fresh=True)
    assert again.outcomes == {"ct-000": "kept_issued", "ct-001": "replaced"}
    assert store.invoice(first) == issued


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE invoices SET net_total = '0.01' WHERE id = %s",
        "UPDATE invoices SET status = 'draft' WHERE id = %s",
        "DELETE FROM invoices WHERE id = %s",
        "UPDATE invoice_lines SET amount = '0.01' WHERE invoice_id = %s",
        "DELETE FROM invoice_lines WHERE invoice_id = %s",
        "UPDATE ledger SET hash = 'x' WHERE invoice_id = %s",
        "DELETE FROM ledger WHERE invoice_id = %s",
    ],
)
def test_store_refuses_changes_to_issued_documents(store: Store, statement: str) -> None:
    first, _ = _billed(store)
    _issue(store, first)
    with pytest.raises(StoreError, match=r"never change|append-only"), _raw(store) as conn:
        _sql(store, conn, statement, (first,))
    assert audit(store).broken is None


def test_drafts_may_change(store: Store) -> None:
    first, _ = _billed(store)
    with _raw(store) as conn:
        _sql(store, conn, "UPDATE invoices SET net_total = '1.00' WHERE id = %s", (first,))
    assert store.invoice(first).net_total == Decimal("1.00")  # type: ignore[union-attr]


def test_audit_names_the_document_edited_behind_the_triggers(store: Store) -> None:
    ids = _billed(store, 3)
    for invoice_id in ids:
        _issue(store, invoice_id)
    victim = store.invoice(ids[1])
    assert victim is not None and victim.number == "FA-2026-000002"
    with _raw(store) as conn:
        if store.backend == "postgres":
            _sql(store, conn, "SET LOCAL session_replication_role = replica")
        else:
            _sql(store, conn, "DROP TRIGGER invoices_no_update_issued")
        _sql(store, conn, "UPDATE invoices SET gross_total = '1.00' WHERE id = %s", (victim.id,))
    broken = audit(store).broken
    assert broken is not None
    assert (broken.seq, broken.document_number) == (2, "FA-2026-000002")
    assert "changed after issue" in broken.reason


def test_credit_notes_sum_back_to_the_invoice(store: Store) -> None:
    first, _ = _billed(store)
    invoice = _issue(store, first)
    lines = from_data(Invoice, invoice.document).lines
    # part of the energy line, then everything left
    partial = {lines[1].line_id: (lines[1].quantity / 3).quantize(Decimal("0.001"))}
    notes = []
    for quantities in (partial, None):
        earlier = store.invoices(credited_invoice_id=first)
        draft = draft_credit_note(
            store.invoice(first),  # type: ignore[arg-type]
            earlier=earlier,
            today=date(2026, 3, 1),
            quantities=quantities,
            reason="meter misread",
        )
        store.save_draft(draft)
        store.set_invoice_status(draft.id, "approved")
        notes.append(store.issue_invoice(draft.id, issue_date=date(2026, 3, 1), issued_at=ISSUED_AT, finalize=finalize))
    assert [n.number for n in notes] == ["AV-2026-000001", "AV-2026-000002"]
    credited = store.invoice(first)
    assert credited is not None and credited.status == "credited"
    note = from_data(Invoice, notes[0].document)
    assert note.type_code == "381" and note.preceding is not None
    assert (note.preceding.number, note.preceding.issue_date) == (invoice.number, date(2026, 2, 3))
    net = sum(n.net_total for n in notes)
    assert net == invoice.net_total
    per_line: dict[str, Decimal] = {}
    for n in notes:
        for line in from_data(Invoice, n.document).lines:
            per_line[line.line_id] = per_line.get(line.line_id, Decimal(0)) + line.net_amount
    assert per_line == {line.line_id: line.net_amount for line in lines}
    with pytest.raises(BillingError, match="already credited in full"):
        draft_credit_note(credited, earlier=store.invoices(credited_invoice_id=first), today=date(2026, 3, 2))
    assert audit(store).broken is None and audit(store).entries == 3


def test_full_credit_note_mirrors_the_invoice(store: Store) -> None:
    first, _ = _billed(store)
    invoice = _issue(store, first)
    draft = draft_credit_note(invoice, earlier=[], today=date(2026, 3, 1))
    assert (draft.net_total, draft.tax_total, draft.gross_total) == (
        invoice.net_total,
        invoice.tax_total,
        invoice.gross_total,
    )
    with pytest.raises(BillingError, match=r"has .* left to credit, not"):
        draft_credit_note(invoice, earlier=[], today=date(2026, 3, 1), quantities={"1": Decimal(10**6)})
