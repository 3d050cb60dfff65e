"""Customers, contracts and devices. Staff read all; admin creates; a customer reads their own."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api import queries
from api.auth import not_found, own_customer
from api.routes.deps import AdminDep, AnyDep, StoreDep, contract_for, customer_device_ids, device_for
from api.schemas import (
    ContractCreate,
    ContractDevicePublic,
    ContractPublic,
    CustomerCreate,
    CustomerPublic,
    DeviceCreate,
    DevicePublic,
    Items,
    ProjectedBill,
    TariffComparison,
)
from devices.model import Contract, ContractDevice, Customer, Device, PostalAddress

__all__ = ["contract_public", "customer_public", "device_public", "router"]

router = APIRouter(tags=["registry"])


def customer_public(customer: Customer) -> CustomerPublic:
    return CustomerPublic(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        language=customer.language,
        address={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(customer.address).items()},
        siren=customer.siren,
        vat_id=customer.vat_id,
    )


def contract_public(contract: Contract) -> ContractPublic:
    return ContractPublic(
        id=contract.id,
        customer_id=contract.customer_id,
        tariff_id=contract.tariff_id,
        tariff_version=contract.tariff_version,
        start_date=contract.start_date,
        end_date=contract.end_date,
        devices=[
            ContractDevicePublic(device_id=d.device_id, valid_from=d.valid_from, valid_to=d.valid_to)
            for d in contract.devices
        ],
    )


def device_public(device: Device) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        kind=device.kind,
        serial=device.serial,
        status=device.status,
        created_at=device.created_at,
        activated_at=device.activated_at,
        registers=[r.code for r in device.registers],
    )


# -- customers --------------------------------------------------------------------------------
@router.get("/customers", response_model=Items[CustomerPublic])
def customers(principal: AnyDep, store: StoreDep) -> Items[CustomerPublic]:
    """Every customer for staff; a customer sees only themselves."""
    found = store.customers()
    if principal.role == "customer":
        found = [c for c in found if c.id == principal.customer_id]
    return Items(items=[customer_public(c) for c in found])


@router.post("/customers", response_model=CustomerPublic, status_code=status.HTTP_201_CREATED)
def create_customer(body: CustomerCreate, principal: AdminDep, store: StoreDep) -> CustomerPublic:
    address = body.address
    customer = Customer(
        id=body.id,
        name=body.name,
        email=body.email,
        language=body.language,
        address=PostalAddress(
            tuple(address.get("lines", ())),
            city=address.get("city", ""),
            postcode=address.get("postcode", ""),
            country=address.get("country", "FR"),
        ),
        siren=body.siren,
        vat_id=body.vat_id,
    )
    store.add_customers([customer])
    return customer_public(customer)


@router.get("/customers/{customer_id}", response_model=CustomerPublic)
def customer(customer_id: str, principal: AnyDep, store: StoreDep) -> CustomerPublic:
    own_customer(principal, customer_id, "customer", customer_id)
    found = store.customer(customer_id)
    if found is None:
        raise not_found("customer", customer_id)
    return customer_public(found)


# -- contracts --------------------------------------------------------------------------------
@router.get("/contracts", response_model=Items[ContractPublic])
def contracts(
    principal: AnyDep,
    store: StoreDep,
    customer_id: Annotated[str | None, Query(description="only this customer's contracts")] = None,
) -> Items[ContractPublic]:
    if principal.role == "customer":
        if customer_id is not None and customer_id != principal.customer_id:
            return Items(items=[])
        customer_id = principal.customer_id
    return Items(items=[contract_public(c) for c in store.contracts(customer_id=customer_id)])


@router.post("/contracts", response_model=ContractPublic, status_code=status.HTTP_201_CREATED)
def create_contract(body: ContractCreate, principal: AdminDep, store: StoreDep) -> ContractPublic:
    since = datetime(body.start_date.year, body.start_date.month, body.start_date.day, tzinfo=UTC)
    contract = Contract(
        id=body.id,
        customer_id=body.customer_id,
        tariff_id=body.tariff_id,
        start_date=body.start_date,
        end_date=body.end_date,
        tariff_version=body.tariff_version,
        devices=tuple(ContractDevice(d, since) for d in body.device_ids),
    )
    if store.customer(body.customer_id) is None:
        raise not_found("customer", body.customer_id)
    for device_id in body.device_ids:
        if store.device(device_id) is None:
            raise not_found("device", device_id)
    store.add_contract(contract)
    return contract_public(contract)


@router.get("/contracts/{contract_id}", response_model=ContractPublic)
def contract(contract_id: str, principal: AnyDep, store: StoreDep) -> ContractPublic:
    return contract_public(contract_for(store, principal, contract_id))


@router.get("/contracts/{contract_id}/projected-bill", response_model=ProjectedBill)
def projected_bill(
    request: Request,
    contract_id: str,
    principal: AnyDep,
    store: StoreDep,
    today: Annotated[date | None, Query(description="as of this day (default: today)")] = None,
) -> ProjectedBill:
    """The current period rated live on the readings so far, extrapolated to its end."""
    contract_for(store, principal, contract_id)
    state = request.app.state
    found = queries.projected_bill(store, contract_id, today or datetime.now(UTC).date(), rate_csv=state.rate_csv)
    if found is None:
        raise not_found("contract", contract_id)
    return found


@router.get("/contracts/{contract_id}/tariff-comparison", response_model=TariffComparison)
def tariff_comparison(
    request: Request,
    contract_id: str,
    principal: AnyDep,
    store: StoreDep,
    tariff_id: Annotated[str, Query(min_length=1, description="the tariff to compare with")],
    months: Annotated[int, Query(ge=1, le=24)] = 12,
    today: Annotated[date | None, Query(description="compare the months before this day's (default: today)")] = None,
) -> TariffComparison:
    """The contract's last ``months`` complete months rated live under its tariff and under ``tariff_id``."""
    contract_for(store, principal, contract_id)
    state = request.app.state
    found = queries.compare_tariffs(store, contract_id, tariff_id, months, today=today, rate_csv=state.rate_csv)
    if found is None:
        raise not_found("tariff", tariff_id)
    return found


# -- devices ----------------------------------------------------------------------------------
@router.get("/devices", response_model=Items[DevicePublic])
def devices(principal: AnyDep, store: StoreDep) -> Items[DevicePublic]:
    found = store.devices()
    if principal.role == "customer":
        mine = customer_device_ids(store, principal.customer_id or "")
        found = [d for d in found if d.id in mine]
    return Items(items=[device_public(d) for d in found])


@router.post("/devices", response_model=DevicePublic, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceCreate, principal: AdminDep, store: StoreDep) -> DevicePublic:
    device = Device.new(body.id, body.kind, body.serial, created_at=datetime.now(UTC))
    store.add_devices([device])
    return device_public(device)


@router.get("/devices/{device_id}", response_model=DevicePublic)
def device(device_id: str, principal: AnyDep, store: StoreDep) -> DevicePublic:
    return device_public(device_for(store, principal, device_id))
