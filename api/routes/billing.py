"""Billing runs (started in a background thread), invoices and their lifecycle, and downloads."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from api import queries
from api.auth import not_found
from api.routes.deps import AnyDep, BillingDep, StaffDep, StoreDep, invoice_for, rate_csv, seller
from api.schemas import BillingRunCreate, BillingRunPublic, CreditRequest, InvoicePublic, InvoiceView, Items
from billing.invoice import SellerSettings
from billing.ports import BillingRunRecord, InvoiceRecord
from billing.runs import RateCsv, run_billing
from store.contract import Store

__all__ = ["approve", "credit_invoice", "issue", "router", "start_billing_run"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["billing"])

_DOWNLOADS = {
    "pdf": ("invoice.pdf", "application/pdf"),
    "cii": ("invoice.cii.xml", "application/xml"),
    "ubl": ("invoice.ubl.xml", "application/xml"),
    "readings": ("readings.csv", "text/csv; charset=utf-8"),
}
_RUN_APPEARS_S = 10.0


def _run_public(run: BillingRunRecord) -> BillingRunPublic:
    return BillingRunPublic(
        id=run.id,
        period=run.period,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        done=run.done,
        total=run.total,
        failed=run.failed,
        error=run.error,
    )


# -- billing runs ---------------------------------------------------------------------------------
@router.get("/billing-runs", response_model=Items[BillingRunPublic])
def billing_runs(
    principal: StaffDep, store: StoreDep, period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None
) -> Items[BillingRunPublic]:
    """Most recent first."""
    return Items(items=[_run_public(r) for r in store.billing_runs(period=period)])


@router.post("/billing-runs", response_model=BillingRunPublic, status_code=status.HTTP_202_ACCEPTED)
def start_billing_run(
    body: BillingRunCreate,
    request: Request,
    principal: BillingDep,
    store: StoreDep,
    rater: Annotated[RateCsv, Depends(rate_csv)],
    who: Annotated[SellerSettings, Depends(seller)],
) -> BillingRunPublic:
    """Start drafting every active contract of ``period`` in the background; poll the run for progress."""
    running: dict[str, threading.Thread] = request.app.state.__dict__.setdefault("billing_threads", {})
    lock: threading.Lock = request.app.state.__dict__.setdefault("billing_lock", threading.Lock())
    with lock:
        thread = running.get(body.period)
        if thread is not None and thread.is_alive():
            raise HTTPException(409, f"a billing run for {body.period} is in progress; poll GET /api/v1/billing-runs")
        before = {r.id for r in store.billing_runs(period=body.period)}

        def work() -> None:
            try:
                run_billing(store, period=body.period, seller=who, rate_csv=rater, fresh=body.fresh)
            except Exception:
                log.exception("billing run for %s failed", body.period)

        thread = threading.Thread(target=work, name=f"billing-{body.period}", daemon=True)
        running[body.period] = thread
        thread.start()
    deadline = time.monotonic() + _RUN_APPEARS_S
    while time.monotonic() < deadline:
        for run in store.billing_runs(period=body.period):
            if run.id not in before or run.status == "running":
                return _run_public(run)
        if not thread.is_alive():
            break
        time.sleep(0.05)
    latest = store.billing_runs(period=body.period)
    if latest:
        return _run_public(latest[0])
    raise HTTPException(503, f"the billing run for {body.period} did not start; see the API log")


@router.get("/billing-runs/{run_id}", response_model=BillingRunPublic)
def billing_run(run_id: str, principal: StaffDep, store: StoreDep) -> BillingRunPublic:
    for run in store.billing_runs():
        if run.id == run_id:
            return _run_public(run)
    raise not_found("billing run", run_id)


# -- invoices -------------------------------------------------------------------------------------
def _matches(record: InvoiceRecord, q: str) -> bool:
    needle = q.lower()
    party = record.document.get("buyer")
    buyer = str(party.get("name", "")) if isinstance(party, dict) else ""
    fields = (record.id, record.number or "", record.contract_id, record.customer_id, record.period, buyer)
    return any(needle in f.lower() for f in fields)


@router.get("/invoices", response_model=Items[InvoicePublic])
def invoices(
    principal: AnyDep,
    store: StoreDep,
    status_: Annotated[Literal["draft", "approved", "issued", "credited"] | None, Query(alias="status")] = None,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    contract_id: str | None = None,
    customer_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="search in number, ids, period and buyer name")] = None,
) -> Items[InvoicePublic]:
    """Invoices and credit notes, newest period first; a customer sees only their issued documents."""
    records = store.invoices(period=period, status=status_, contract_id=contract_id)
    if principal.role == "customer":
        records = [r for r in records if r.customer_id == principal.customer_id and r.status in ("issued", "credited")]
    if customer_id is not None:
        records = [r for r in records if r.customer_id == customer_id]
    if q:
        records = [r for r in records if _matches(r, q)]
    records.sort(key=lambda r: (r.period_start, r.id), reverse=True)
    return Items(items=[queries.invoice_public(r) for r in records])


@router.get("/invoices/{invoice_id}", response_model=InvoiceView)
def invoice(invoice_id: str, principal: AnyDep, store: StoreDep) -> InvoiceView:
    """One document with each line explained: readings used, estimated share, band, tier, price, tariff."""
    invoice_for(store, principal, invoice_id)
    view = queries.invoice_view(store, invoice_id)
    if view is None:
        raise not_found("invoice", invoice_id)
    return view


@router.post("/invoices/{invoice_id}/approve", response_model=InvoicePublic)
def approve(invoice_id: str, principal: BillingDep, store: StoreDep) -> InvoicePublic:
    invoice_for(store, principal, invoice_id)
    return queries.invoice_public(store.set_invoice_status(invoice_id, "approved"))


@router.post("/invoices/{invoice_id}/issue", response_model=InvoicePublic)
def issue(
    invoice_id: str,
    principal: BillingDep,
    store: StoreDep,
    issue_date: Annotated[date | None, Query(description="default: today")] = None,
) -> InvoicePublic:
    """Number the approved document, write its final form and append it to the ledger."""
    from billing.issue import finalize

    invoice_for(store, principal, invoice_id)
    record = store.issue_invoice(
        invoice_id, issue_date=issue_date or datetime.now(UTC).date(), issued_at=datetime.now(UTC), finalize=finalize
    )
    return queries.invoice_public(record)


def credit_invoice(store: Store, record: InvoiceRecord, body: CreditRequest) -> InvoiceRecord:
    """Draft, approve and issue a credit note for ``record`` (whole, or the quantities of ``body.lines``)."""
    from billing.issue import draft_credit_note, finalize

    quantities: dict[str, Decimal] | None = None
    if body.lines:
        try:
            quantities = {k: Decimal(v) for k, v in body.lines.items()}
        except InvalidOperation:
            raise HTTPException(422, "lines: each quantity must be a decimal number such as 12.5") from None
    today = body.issue_date or datetime.now(UTC).date()
    note = draft_credit_note(
        record,
        earlier=store.invoices(credited_invoice_id=record.id),
        today=today,
        quantities=quantities,
        reason=body.reason,
    )
    store.save_draft(note)
    store.set_invoice_status(note.id, "approved")
    return store.issue_invoice(note.id, issue_date=today, issued_at=datetime.now(UTC), finalize=finalize)


@router.post("/invoices/{invoice_id}/credit", response_model=InvoicePublic, status_code=status.HTTP_201_CREATED)
def credit(invoice_id: str, body: CreditRequest, principal: BillingDep, store: StoreDep) -> InvoicePublic:
    """Issue a credit note (type 381) for an issued invoice, in full or for some lines' quantities."""
    record = invoice_for(store, principal, invoice_id)
    return queries.invoice_public(credit_invoice(store, record, body))


@router.get(
    "/invoices/{invoice_id}/download/{fmt}",
    response_class=Response,
    responses={200: {"content": {t: {} for _, t in _DOWNLOADS.values()}, "description": "the file"}},
)
def download(
    invoice_id: str, fmt: Literal["pdf", "cii", "ubl", "readings"], principal: AnyDep, store: StoreDep
) -> Response:
    """The Factur-X PDF, the CII or UBL XML, or the readings CSV behind an issued document."""
    from billing.bundle import bundle_files

    record = invoice_for(store, principal, invoice_id)
    if record.status not in ("issued", "credited"):
        raise HTTPException(409, f"invoice {invoice_id} is {record.status}: only issued documents can be downloaded")
    name, media = _DOWNLOADS[fmt]
    files = bundle_files(store, store, record)
    filename = f"{record.number or record.id}-{name}"
    return Response(
        files[name], media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
