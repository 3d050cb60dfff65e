"""Typed dependencies of the route handlers: the store, the settings, who is asking and may they.

Role groups (``admin`` is in every group):

* ``STAFF_READ``: billing, support, auditor: read everything staff sees;
* ``BILLING``: billing runs, invoice lifecycle, tariffs, disputes resolved or credited;
* ``ANSWER``: billing and support answer disputes;
* customers reach only their own objects; another customer's object is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from api.auth import AuthSettings, Principal, api_principal, not_found, own_customer, require
from billing.invoice import SellerSettings
from billing.ports import InvoiceRecord
from billing.runs import RateCsv
from devices.model import Contract, Device
from store.contract import Store

__all__ = [
    "AdminDep",
    "AnswerDep",
    "AnyDep",
    "BillingDep",
    "SettingsDep",
    "StaffDep",
    "StoreDep",
    "StoredInt",
    "contract_for",
    "device_for",
    "invoice_for",
    "rate_csv",
    "seller",
]

# A positive integer as the stores keep it (64-bit columns on both backends): a larger path value is a
# precise 422 instead of the driver's overflow, whichever route takes it.
StoredInt = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(_store)]
SettingsDep = Annotated[AuthSettings, Depends(_settings)]
AnyDep = Annotated[Principal, Depends(api_principal)]
StaffDep = Annotated[Principal, Depends(require("billing", "support", "auditor"))]
BillingDep = Annotated[Principal, Depends(require("billing"))]
AnswerDep = Annotated[Principal, Depends(require("billing", "support"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


def rate_csv(request: Request) -> RateCsv:
    rater: RateCsv = request.app.state.rate_csv
    return rater


def seller(request: Request) -> SellerSettings:
    found: SellerSettings | None = request.app.state.seller
    if found is None:
        raise HTTPException(503, "no seller settings are configured in this API process: billing is unavailable")
    return found


def contract_for(store: Store, principal: Principal, contract_id: str) -> Contract:
    contract = store.contract(contract_id)
    if contract is None:
        raise not_found("contract", contract_id)
    own_customer(principal, contract.customer_id, "contract", contract_id)
    return contract


def invoice_for(store: Store, principal: Principal, invoice_id: str) -> InvoiceRecord:
    record = store.invoice(invoice_id)
    if record is None:
        raise not_found("invoice", invoice_id)
    own_customer(principal, record.customer_id, "invoice", invoice_id)
    if principal.role == "customer" and record.status not in ("issued", "credited"):
        raise not_found("invoice", invoice_id)  # drafts are internal until issued
    return record


def customer_device_ids(store: Store, customer_id: str) -> set[str]:
    return {d.device_id for c in store.contracts(customer_id=customer_id) for d in c.devices}


def device_for(store: Store, principal: Principal, device_id: str) -> Device:
    device = store.device(device_id)
    if device is None:
        raise not_found("device", device_id)
    if principal.role == "customer" and (
        principal.customer_id is None or device_id not in customer_device_ids(store, principal.customer_id)
    ):
        raise not_found("device", device_id)
    return device
