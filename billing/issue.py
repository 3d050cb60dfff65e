"""Issuing, crediting and auditing documents: the pure half of what the store does in one transaction.

A draft carries a complete EN 16931 document whose number is the placeholder :data:`DRAFT_NUMBER`
and whose dates are provisional. At issue time the store takes the next number of the document's
series (:data:`SERIES`: ``FA`` invoices, ``AV`` credit notes) for the issue year, and calls
:func:`finalize` to write the number, the issue date (BT-2) and the due date (BT-9) into the
document. The ledger hashes :func:`ledger_payload` of the issued record: the document and every
column fixed at issue, so a direct edit of any of them breaks the chain (:func:`audit`).

A correction is a credit note (type 381, BT-25/BT-26 naming the invoice) plus a new invoice.
:func:`draft_credit_note` credits what is left of an invoice's lines, in full or in part; the
credit note that takes a line's last quantity takes the line's last cents, so the credit notes of
an invoice sum back to its lines exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from billing.documents import from_data, to_data
from billing.errors import BillingError, LifecycleError
from billing.invoice import Invoice, InvoiceLine, credit_note_for
from billing.ledger import Break, canonical_bytes, verify
from billing.money import line_amount, quantize_money, sum_money
from billing.ports import DraftInvoice, InvoiceRecord, InvoiceStore

__all__ = [
    "DRAFT_NUMBER",
    "SERIES",
    "AuditResult",
    "audit",
    "document_number",
    "draft_credit_note",
    "finalize",
    "fully_credited",
    "ledger_payload",
    "totals_of",
]

DRAFT_NUMBER = "DRAFT"  # BR-FR-01 valid placeholder; a draft is never sent, the real number comes at issue
SERIES: dict[str, str] = {"380": "FA", "381": "AV"}  # facture, avoir: one gap-free sequence each per year


def document_number(series: str, year: int, n: int) -> str:
    """``FA-2026-000042``: series, issue year and the sequence number (at most 35 characters, BR-FR-02)."""
    return f"{series}-{year}-{n:06d}"


def totals_of(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal]:
    """(net BT-109, VAT BT-110, gross BT-112) of a document [currency]."""
    return invoice.tax_exclusive, invoice.vat_total, invoice.tax_inclusive


def finalize(record: InvoiceRecord, number: str, issue_date: date) -> Mapping[str, Any]:
    """The document as issued: its number, issue date and due date (credit notes are due at once)."""
    invoice = from_data(Invoice, record.document)
    due = issue_date if invoice.is_credit_note else issue_date + timedelta(days=invoice.payment.due_days)
    issued = replace(invoice, number=number, issue_date=issue_date, due_date=due)
    if totals_of(issued) != (record.net_total, record.tax_total, record.gross_total):
        raise BillingError(
            f"invoice {record.id}: stored totals {record.net_total}/{record.tax_total}/{record.gross_total}"
            f" do not match its document {totals_of(issued)}; re-run the billing period"
        )
    data: Mapping[str, Any] = to_data(issued)
    return data


def ledger_payload(record: InvoiceRecord) -> dict[str, Any]:
    """What the ledger hashes for an issued record: the document and every column fixed at issue."""
    if record.number is None or record.issued_at is None or record.issue_date is None:
        raise BillingError(f"invoice {record.id} is not issued: it has no ledger payload")
    cur = record.currency
    return {
        "id": record.id,
        "number": record.number,
        "type_code": record.type_code,
        "contract_id": record.contract_id,
        "customer_id": record.customer_id,
        "period": record.period,
        "period_start": record.period_start.isoformat(),
        "period_end": record.period_end.isoformat(),
        "currency": cur,
        "net_total": format(quantize_money(record.net_total, cur), "f"),
        "tax_total": format(quantize_money(record.tax_total, cur), "f"),
        "gross_total": format(quantize_money(record.gross_total, cur), "f"),
        "credited_invoice_id": record.credited_invoice_id,
        "issue_date": record.issue_date.isoformat(),
        "issued_at": record.issued_at.astimezone(UTC).isoformat(),
        "document": record.document,
        "evidence": record.evidence,
    }


@dataclass(frozen=True)
class AuditResult:
    """The ledger re-computed: how many entries held, and the first break if any."""

    entries: int
    broken: Break | None


def audit(store: InvoiceStore) -> AuditResult:
    """Re-compute the hash chain over the documents as the store holds them now."""
    entries = store.ledger_entries()
    records = store.issued_records()
    current = {r.number: canonical_bytes(ledger_payload(r)) for r in records if r.number is not None}
    broken = verify(entries, current)
    if broken is None:
        chained = {e.document_number for e in entries}
        missing = sorted(set(current) - chained)
        if missing:
            broken = Break(len(entries) + 1, missing[0], "issued but never appended to the ledger")
    return AuditResult(len(entries), broken)


def _credited_so_far(credit_notes: Sequence[InvoiceRecord]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Quantity and amount already credited per line id, by issued or pending credit notes."""
    quantities: dict[str, Decimal] = {}
    amounts: dict[str, Decimal] = {}
    for record in credit_notes:
        for line in from_data(Invoice, record.document).lines:
            quantities[line.line_id] = quantities.get(line.line_id, Decimal(0)) + line.quantity
            amounts[line.line_id] = amounts.get(line.line_id, Decimal(0)) + line.net_amount
    return quantities, amounts


def fully_credited(record: InvoiceRecord, credit_notes: Sequence[InvoiceRecord]) -> bool:
    """Whether the issued credit notes among ``credit_notes`` cancel every line of ``record`` in full.

    Only then may the period be billed again (a new invoice referencing this one, BG-3); a partly
    credited invoice still stands for the rest of its lines and is left alone.
    """
    if record.type_code != "380" or record.status != "credited":
        return False
    issued = [c for c in credit_notes if c.credited_invoice_id == record.id and c.status in ("issued", "credited")]
    if not issued:
        return False
    quantities, amounts = _credited_so_far(issued)
    return all(
        quantities.get(line.line_id) == line.quantity and amounts.get(line.line_id) == line.net_amount
        for line in from_data(Invoice, record.document).lines
    )


def draft_credit_note(
    record: InvoiceRecord,
    *,
    earlier: Sequence[InvoiceRecord],
    today: date,
    quantities: Mapping[str, Decimal] | None = None,
    reason: str | None = None,
) -> DraftInvoice:
    """A credit note draft for ``record``: what is left of every line, or ``quantities`` per line id.

    ``earlier`` are the credit notes already drafted or issued for this invoice.
    """
    if record.type_code != "380" or record.status not in ("issued", "credited") or record.number is None:
        raise LifecycleError(
            f"invoice {record.number or record.id} is {record.status}: only an issued invoice can be credited"
        )
    invoice = from_data(Invoice, record.document)
    done_q, done_amount = _credited_so_far(earlier)
    lines: list[InvoiceLine] = []
    for line in invoice.lines:
        left = line.quantity - done_q.get(line.line_id, Decimal(0))
        wanted = left if quantities is None else quantities.get(line.line_id, Decimal(0))
        if wanted < 0 or wanted > left:
            raise BillingError(
                f"credit note for {record.number}: line {line.line_id} ({line.code}) has {left} {line.unit}"
                f" left to credit, not {wanted}"
            )
        if wanted == 0:
            continue
        if wanted == left:  # the last of the line takes its last cents: credit notes sum back exactly
            amount = line.net_amount - done_amount.get(line.line_id, Decimal(0))
        else:
            amount = line_amount(wanted, line.net_price, invoice.currency)
        lines.append(replace(line, quantity=wanted, net_amount=amount))
    unknown = sorted(set(quantities or {}) - {line.line_id for line in invoice.lines})
    if unknown:
        raise BillingError(f"credit note for {record.number}: no line {', '.join(unknown)} on the invoice")
    if not lines:
        raise BillingError(f"invoice {record.number} is already credited in full: nothing left to credit")
    note = credit_note_for(invoice, DRAFT_NUMBER, today, lines=tuple(lines), reason=reason)
    net, tax, gross = totals_of(note)
    return DraftInvoice(
        id=f"{record.id}-cn{len(earlier) + 1}",
        type_code="381",
        contract_id=record.contract_id,
        customer_id=record.customer_id,
        period=record.period,
        period_start=record.period_start,
        period_end=record.period_end,
        currency=record.currency,
        net_total=net,
        tax_total=tax,
        gross_total=gross,
        document=to_data(note),
        evidence={"credits": record.number, "reason": reason or ""},
        credited_invoice_id=record.id,
    )


def credited_total(credit_notes: Sequence[InvoiceRecord], currency: str) -> Decimal:
    """The net amount credited by ``credit_notes`` [currency]."""
    return sum_money([r.net_total for r in credit_notes], currency)
