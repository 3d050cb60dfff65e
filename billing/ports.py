"""What billing needs from storage, as Protocols that ``store/`` implements, and the records they carry.

Billing never imports a store: a billing run, the issuer and the audit take objects with these
methods. An :class:`InvoiceRecord` is one row of the invoice book: the EN 16931 document in its
plain-data form (:func:`billing.documents.to_data`), the evidence behind it (tariff version,
devices, readings cut-off and digest, the rated statement) and the lifecycle facts around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from billing.ledger import LedgerEntry
from billing.lifecycle import InvoiceStatus
from devices.model import Contract, Customer, Device, MeterExchangeRecord
from devices.readings import Reading
from devices.trips import Trip, VehicleEvent

__all__ = [
    "BillingRunRecord",
    "BillingSource",
    "DraftInvoice",
    "Finalize",
    "InvoiceRecord",
    "InvoiceStore",
    "RunStatus",
    "SaveOutcome",
    "TariffVersion",
]

RunStatus = Literal["running", "finished", "failed"]
SaveOutcome = Literal["created", "replaced", "kept_issued"]


@dataclass(frozen=True)
class TariffVersion:
    """One stored version of a tariff: ``body`` is the meterbill tariff format (JSON text)."""

    tariff_id: str
    version: int
    body: str


@dataclass(frozen=True)
class DraftInvoice:
    """What a billing run (or a credit) hands the store: a document not yet numbered.

    ``id`` is deterministic (``{contract}-{period}`` for a run), so a re-run replaces it.
    """

    id: str
    type_code: Literal["380", "381"]
    contract_id: str
    customer_id: str
    period: str  # the billing run's key, "YYYY-MM"
    period_start: date  # BG-14, inclusive
    period_end: date  # inclusive
    currency: str
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    document: Mapping[str, Any]
    evidence: Mapping[str, Any]
    credited_invoice_id: str | None = None


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice or credit note as the store holds it; ``number`` is None until issued."""

    id: str
    number: str | None
    status: InvoiceStatus
    type_code: Literal["380", "381"]
    contract_id: str
    customer_id: str
    period: str
    period_start: date
    period_end: date
    currency: str
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    document: Mapping[str, Any]
    evidence: Mapping[str, Any]
    created_at: datetime
    issued_at: datetime | None = None
    issue_date: date | None = None
    credited_invoice_id: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class BillingRunRecord:
    """Progress of one billing run, for the CLI and the API."""

    id: str
    period: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    done: int
    total: int
    failed: int
    error: str | None


# (record being issued, its number, its issue date) -> the final document data (billing.issue builds it)
Finalize = Callable[[InvoiceRecord, str, date], Mapping[str, Any]]


class BillingSource(Protocol):
    """What a billing run reads: the registry, the versioned tariffs and the measurements."""

    def contracts(self, *, customer_id: str | None = None, device_id: str | None = None) -> list[Contract]: ...

    def customer(self, customer_id: str) -> Customer | None: ...

    def device(self, device_id: str) -> Device | None: ...

    def tariff_version(self, tariff_id: str, version: int | None = None) -> TariffVersion | None:
        """The given version, or the latest when ``version`` is None."""
        ...

    def readings(
        self,
        *,
        device_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Reading]: ...

    def trips(self, *, device_ids: Sequence[str] | None = None) -> list[Trip]: ...

    def events(self, *, device_ids: Sequence[str] | None = None) -> list[VehicleEvent]: ...

    def meter_exchanges(self, contract_id: str) -> list[MeterExchangeRecord]:
        """The recorded meter exchanges of a contract, oldest first."""
        ...


class InvoiceStore(Protocol):
    """The invoice book: drafts, the lifecycle, numbering at issue time, the ledger, run progress."""

    def add_tariff_version(self, tariff_id: str, body: str) -> int:
        """Store ``body`` (a validated tariff, JSON text) as the next version of ``tariff_id``; return it."""
        ...

    def tariff_version(self, tariff_id: str, version: int | None = None) -> TariffVersion | None: ...

    def save_draft(self, draft: DraftInvoice, *, run_id: str | None = None) -> SaveOutcome:
        """Create or replace a draft/approved document (back to draft); an issued one is kept as it is."""
        ...

    def invoice(self, invoice_id: str) -> InvoiceRecord | None: ...

    def invoice_by_number(self, number: str) -> InvoiceRecord | None: ...

    def invoices(
        self,
        *,
        period: str | None = None,
        status: InvoiceStatus | None = None,
        contract_id: str | None = None,
        credited_invoice_id: str | None = None,
    ) -> list[InvoiceRecord]: ...

    def set_invoice_status(self, invoice_id: str, status: InvoiceStatus) -> InvoiceRecord:
        """draft <-> approved (LifecycleError otherwise); issuing has its own method."""
        ...

    def issue_invoice(
        self, invoice_id: str, *, issue_date: date, issued_at: datetime, finalize: Finalize
    ) -> InvoiceRecord:
        """In one transaction: approved -> issued, the next number of its series and year, the final
        document, a ledger entry; a credit note also marks the invoice it credits ``credited``."""
        ...

    def ledger_entries(self) -> list[LedgerEntry]: ...

    def issued_records(self) -> list[InvoiceRecord]:
        """Every issued or credited document, as stored now (for the audit)."""
        ...

    def start_billing_run(self, run_id: str, period: str, total: int, started_at: datetime) -> BillingRunRecord:
        """A new run, or the unfinished run ``run_id`` resumed (its counters kept)."""
        ...

    def record_run_progress(self, run_id: str, *, done: int, failed: int) -> None: ...

    def finish_billing_run(
        self, run_id: str, *, status: RunStatus, failed: int, finished_at: datetime, error: str | None = None
    ) -> None: ...

    def billing_runs(self, *, period: str | None = None) -> list[BillingRunRecord]:
        """Most recent first."""
        ...
