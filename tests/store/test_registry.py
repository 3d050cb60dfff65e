"""The device registry on both backends: devices, lifecycle, customers, contracts, meter exchange."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from devices.errors import RegistryError
from devices.model import (
    Contract,
    ContractDevice,
    Customer,
    Device,
    MeterExchangeRecord,
    PostalAddress,
    Register,
)
from store.contract import Store
from store.errors import DuplicateError, NotFoundError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fleet(n: int, prefix: str = "m") -> list[Device]:
    return [Device.new(f"{prefix}-{i:05d}", "electricity_meter", f"SN{prefix}{i}") for i in range(n)]


def test_devices_round_trip_with_registers_and_defaults(store: Store) -> None:
    custom = Device(
        "g-1",
        "gas_meter",
        "G-778",
        registers=(Register("7-0:3.0.0", "m^3", 1e5),),
        nominal_interval=timedelta(hours=1),
        max_power_kw=40.0,
        secret_hash="$7$101$x$y",
    )
    store.add_devices([custom, *fleet(2)])
    got = store.device("g-1")
    assert got is not None
    assert (got.kind, got.serial, got.registers, got.nominal_interval, got.max_power_kw, got.secret_hash) == (
        "gas_meter",
        "G-778",
        custom.registers,
        timedelta(hours=1),
        40.0,
        "$7$101$x$y",
    )
    assert got.status == "provisioned" and got.created_at is not None and got.activated_at is None
    meter = store.device("m-00000")
    assert meter is not None and meter.register("1-0:1.8.0") == Register("1-0:1.8.0", "kWh", 1e6)
    assert store.device("nope") is None
    assert [d.id for d in store.devices(kind="electricity_meter")] == ["m-00000", "m-00001"]


def test_adding_devices_is_all_or_nothing(store: Store) -> None:
    store.add_devices(fleet(3))
    batch = [*fleet(5, prefix="x"), Device.new("m-00001", "electricity_meter", "other")]
    with pytest.raises(DuplicateError) as info:
        store.add_devices(batch)
    assert info.value.ids == ["m-00001"]
    assert len(store.devices()) == 3  # none of the five new ones went in
    with pytest.raises(DuplicateError, match="twice in the batch"):
        store.add_devices([Device.new("y-1", "vehicle", "V"), Device.new("y-1", "vehicle", "W")])


def test_lifecycle_transitions(store: Store) -> None:
    store.add_devices(fleet(1))
    at = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    active = store.set_device_status("m-00000", "active", at=at)
    assert (active.status, active.activated_at) == ("active", at)
    assert store.set_device_status("m-00000", "suspended").status == "suspended"
    assert store.set_device_status("m-00000", "active").activated_at == at  # first activation is kept
    assert store.set_device_status("m-00000", "retired").status == "retired"
    with pytest.raises(RegistryError, match="retired to active"):
        store.set_device_status("m-00000", "active")
    assert [d.id for d in store.devices(status="retired")] == ["m-00000"]
    with pytest.raises(NotFoundError):
        store.set_device_status("ghost", "active")


def test_customers_and_contracts(store: Store) -> None:
    alice = Customer(
        "c-1",
        "Alice Martin",
        email="alice@example.fr",
        language="fr",
        siren="732829320",
        vat_id="FR44732829320",
        address=PostalAddress(("12 rue des Lilas", "Bât. B"), "Lyon", "69003", "FR"),
    )
    store.add_customers([alice, Customer("c-2", "Bob")])
    assert store.customer("c-1") == alice
    assert [c.id for c in store.customers()] == ["c-1", "c-2"]
    store.add_devices(fleet(2))
    contract = Contract(
        "k-1",
        "c-1",
        "fr-hphc",
        date(2026, 1, 15),
        end_date=date(2026, 7, 1),
        tariff_version=3,
        devices=(ContractDevice("m-00000", T0 + timedelta(days=14)),),
    )
    store.add_contract(contract)
    assert store.contract("k-1") == contract
    assert store.contracts(customer_id="c-2") == []
    assert [c.id for c in store.contracts(device_id="m-00000")] == ["k-1"]
    with pytest.raises(NotFoundError, match="ghost"):
        store.add_contract(Contract("k-2", "c-1", "t", date(2026, 1, 1), devices=(ContractDevice("ghost", T0),)))
    with pytest.raises(NotFoundError, match="customer c-9"):
        store.add_contract(Contract("k-3", "c-9", "t", date(2026, 1, 1)))
    with pytest.raises(DuplicateError):
        store.add_contract(contract)
    assert store.contract("k-2") is None


def test_meter_exchange_closes_the_old_device_and_opens_the_new(store: Store) -> None:
    store.add_customers([Customer("c-1", "Alice")])
    store.add_devices(fleet(2))
    store.add_contract(Contract("k-1", "c-1", "t", date(2026, 1, 1), devices=(ContractDevice("m-00000", T0),)))
    at = T0 + timedelta(days=40, hours=9, minutes=30)
    exchange = MeterExchangeRecord("k-1", at, "1-0:1.8.0", "m-00000", 4521.25, "m-00001", 0.75)
    contract = store.record_meter_exchange(exchange)
    assert contract.devices == (ContractDevice("m-00000", T0, at), ContractDevice("m-00001", at, None))
    assert store.meter_exchanges("k-1") == [exchange]
    with pytest.raises(NotFoundError, match="not currently on contract"):
        store.record_meter_exchange(exchange)  # m-00000 is no longer on it


def test_model_rules_name_the_problem() -> None:
    with pytest.raises(RegistryError, match="not a valid id"):
        Device.new("meters/m-1", "electricity_meter", "S")
    with pytest.raises(RegistryError, match="kind 'toaster'"):
        Device.new("m-1", "toaster", "S")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="SIREN"):
        Customer("c-1", "A", siren="12")
    with pytest.raises(RegistryError, match="end_date"):
        Contract("k-1", "c-1", "t", date(2026, 2, 1), end_date=date(2026, 1, 1))
    assert Contract("k-1", "c-1", "t", date(2026, 1, 15), end_date=date(2026, 2, 1)).active_on(date(2026, 1, 31))
    assert not Contract("k-1", "c-1", "t", date(2026, 1, 15), end_date=date(2026, 2, 1)).active_on(date(2026, 2, 1))
