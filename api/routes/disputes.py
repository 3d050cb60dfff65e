"""Disputes: a customer opens one on an invoice line; staff answer, resolve or credit it.

Every step is timestamped with its actor and shown to the customer. Who may take which step:
the customer (their own invoices) opens and adds messages; billing and support answer; billing
resolves and credits (a credit note is issued and linked); auditors read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from api import queries
from api.auth import Principal, not_found, own_customer
from api.routes.billing import credit_invoice
from api.routes.deps import AnyDep, BillingDep, StoreDep, invoice_for
from api.schemas import CreditRequest, DisputeCreate, DisputePublic, DisputeStep, Items
from store.contract import Dispute, Store

__all__ = ["router"]

router = APIRouter(tags=["disputes"])


def _dispute_for(store: Store, principal: Principal, dispute_id: str) -> Dispute:
    dispute = store.dispute(dispute_id)
    if dispute is None:
        raise not_found("dispute", dispute_id)
    own_customer(principal, dispute.customer_id, "dispute", dispute_id)
    return dispute


def _public(store: Store, dispute: Dispute) -> DisputePublic:
    return queries.dispute_public(dispute)


@router.get("/disputes", response_model=Items[DisputePublic])
def disputes(principal: AnyDep, store: StoreDep, invoice_id: str | None = None) -> Items[DisputePublic]:
    """Oldest first; a customer sees their own."""
    customer_id = principal.customer_id if principal.role == "customer" else None
    found = store.disputes(customer_id=customer_id, invoice_id=invoice_id)
    return Items(items=[_public(store, d) for d in found])


@router.post("/disputes", response_model=DisputePublic, status_code=status.HTTP_201_CREATED)
def open_dispute(body: DisputeCreate, principal: AnyDep, store: StoreDep) -> DisputePublic:
    """A customer disputes one of their issued invoices (a line of it when ``line_no`` is given)."""
    if principal.role not in ("customer", "admin"):
        raise HTTPException(403, "disputes are opened by the customer (or an admin on their behalf)")
    record = invoice_for(store, principal, body.invoice_id)
    lines = record.document.get("lines", [])
    if body.line_no is not None and body.line_no > len(lines):
        raise HTTPException(422, f"invoice {body.invoice_id} has {len(lines)} lines; line_no {body.line_no} is not one")
    dispute = store.open_dispute(
        dispute_id=uuid.uuid4().hex,
        invoice_id=record.id,
        line_no=body.line_no,
        customer_id=record.customer_id,
        actor_id=principal.user_id,
        actor_role=principal.role,
        message=body.message,
        at=datetime.now(UTC),
    )
    return _public(store, dispute)


@router.get("/disputes/{dispute_id}", response_model=DisputePublic)
def dispute(dispute_id: str, principal: AnyDep, store: StoreDep) -> DisputePublic:
    return _public(store, _dispute_for(store, principal, dispute_id))


@router.post("/disputes/{dispute_id}/events", response_model=DisputePublic, status_code=status.HTTP_201_CREATED)
def add_step(dispute_id: str, body: DisputeStep, principal: AnyDep, store: StoreDep) -> DisputePublic:
    """A message (the customer or staff), an answer (billing, support) or the resolution (billing)."""
    allowed = {
        "message": {"customer", "admin", "billing", "support"},
        "answered": {"admin", "billing", "support"},
        "resolved": {"admin", "billing"},
    }[body.kind]
    if principal.role not in allowed:
        raise HTTPException(403, f"role {principal.role} may not add a {body.kind!r} step to a dispute")
    _dispute_for(store, principal, dispute_id)
    updated = store.add_dispute_event(
        dispute_id,
        kind=body.kind,
        actor_id=principal.user_id,
        actor_role=principal.role,
        message=body.message,
        at=datetime.now(UTC),
    )
    return _public(store, updated)


@router.post("/disputes/{dispute_id}/credit", response_model=DisputePublic, status_code=status.HTTP_201_CREATED)
def credit_dispute(dispute_id: str, body: CreditRequest, principal: BillingDep, store: StoreDep) -> DisputePublic:
    """Settle a dispute with a credit note on its invoice (the disputed line's quantity, or as given)."""
    found = _dispute_for(store, principal, dispute_id)
    if found.status in ("resolved", "credited"):
        raise HTTPException(409, f"dispute {dispute_id} is {found.status}: it takes no further step")
    record = invoice_for(store, principal, found.invoice_id)
    note = credit_invoice(store, record, body)
    updated = store.add_dispute_event(
        dispute_id,
        kind="credited",
        actor_id=principal.user_id,
        actor_role=principal.role,
        message=body.reason or f"credited by credit note {note.number}",
        at=datetime.now(UTC),
        credit_note_id=note.id,
    )
    return _public(store, updated)
