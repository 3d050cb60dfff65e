"""The device registry on either backend: devices, customers, contracts, meter exchanges.

Registry traffic is small (provisioning, look-ups), so one implementation serves both backends:
a mixin written against DB-API connections, with a :class:`Dialect` for what differs (placeholder
style, how an instant is stored, row locks). The bulk reading path stays backend-specific.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from devices.model import (
    Contract,
    ContractDevice,
    Customer,
    Device,
    DeviceKind,
    DeviceStatus,
    MeterExchangeRecord,
    PostalAddress,
    Register,
    check_transition,
)
from store.errors import DuplicateError, NotFoundError
from store.sql import SqlMixin, date_out, json_out, utc_now

__all__ = ["RegistryMixin"]

_CHUNK = 1000  # ids per IN (...) list: far below both backends' parameter limits


class RegistryMixin(SqlMixin):
    """Registry methods of the Store; the backend provides the transactions and the dialect."""

    # -- helpers --------------------------------------------------------------------------
    def _existing(self, conn: Any, table: str, ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for chunk in _chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            found += [r[0] for r in self._exec(conn, f"SELECT id FROM {table} WHERE id IN ({marks})", chunk).fetchall()]
        return sorted(found)

    # -- devices --------------------------------------------------------------------------
    def add_devices(self, devices: Sequence[Device]) -> None:
        """Add all ``devices`` in one transaction, or none: DuplicateError names ids already taken."""
        _refuse_repeats([d.id for d in devices], "device")
        serials = [(d.kind, d.serial) for d in devices]
        if len(serials) != len(set(serials)):
            raise DuplicateError("the same kind and serial appear twice in the batch", ids=[])
        d = self._dialect
        with self._registry_write() as conn:
            taken = self._existing(conn, "devices", [x.id for x in devices])
            if taken:
                raise DuplicateError(f"{len(taken)} device id(s) already exist: {', '.join(taken[:10])}", ids=taken)
            self._many(
                conn,
                "INSERT INTO devices (id, kind, serial, status, secret_hash, attributes, created_at, activated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        x.id,
                        x.kind,
                        x.serial,
                        x.status,
                        x.secret_hash,
                        json.dumps(_device_attributes(x)),
                        d.time_in(x.created_at or utc_now()),
                        d.opt_time_in(x.activated_at),
                    )
                    for x in devices
                ],
            )

    def device(self, device_id: str) -> Device | None:
        with self._registry_read() as conn:
            row = self._exec(conn, f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = %s", (device_id,)).fetchone()
        return None if row is None else self._device_from_row(row)

    def devices(self, *, status: DeviceStatus | None = None, kind: DeviceKind | None = None) -> list[Device]:
        clauses: list[str] = []
        params: list[str] = []
        if status is not None:
            clauses.append("status = %s")
            params.append(status)
        if kind is not None:
            clauses.append("kind = %s")
            params.append(kind)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._registry_read() as conn:
            rows = self._exec(conn, f"SELECT {_DEVICE_COLUMNS} FROM devices {where} ORDER BY id", params).fetchall()
        return [self._device_from_row(r) for r in rows]

    def set_device_status(self, device_id: str, status: DeviceStatus, *, at: datetime | None = None) -> Device:
        """Move a device along its lifecycle; RegistryError if the transition is not allowed."""
        d = self._dialect
        with self._registry_write() as conn:
            row = self._exec(
                conn, f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = %s{d.for_update}", (device_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"device {device_id} is not registered")
            current = self._device_from_row(row)
            check_transition(device_id, current.status, status)
            activated = current.activated_at
            if status == "active" and activated is None:
                activated = at or utc_now()
            self._exec(
                conn,
                "UPDATE devices SET status = %s, activated_at = %s WHERE id = %s",
                (status, d.opt_time_in(activated), device_id),
            )
        return replace(current, status=status, activated_at=activated)

    def set_device_secret_hash(self, device_id: str, secret_hash: str) -> None:
        with self._registry_write() as conn:
            cur = self._exec(conn, "UPDATE devices SET secret_hash = %s WHERE id = %s", (secret_hash, device_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"device {device_id} is not registered")

    def _device_from_row(self, row: Sequence[Any]) -> Device:
        device_id, kind, serial, status, secret_hash, attributes, created, activated = row
        attrs = json_out(attributes)
        return Device(
            id=device_id,
            kind=kind,
            serial=serial,
            status=status,
            registers=tuple(Register(r["code"], r["unit"], r.get("maximum")) for r in attrs.get("registers", [])),
            nominal_interval=timedelta(seconds=attrs.get("nominal_interval_s", 0)),
            max_power_kw=attrs.get("max_power_kw"),
            secret_hash=secret_hash,
            created_at=self._dialect.opt_time_out(created),
            activated_at=self._dialect.opt_time_out(activated),
        )

    # -- customers ------------------------------------------------------------------------
    def add_customers(self, customers: Sequence[Customer]) -> None:
        _refuse_repeats([c.id for c in customers], "customer")
        with self._registry_write() as conn:
            taken = self._existing(conn, "customers", [c.id for c in customers])
            if taken:
                raise DuplicateError(f"customer id(s) already exist: {', '.join(taken[:10])}", ids=taken)
            self._many(
                conn,
                "INSERT INTO customers (id, name, email, language, address, siren, vat_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        c.id,
                        c.name,
                        c.email,
                        c.language,
                        json.dumps(_address_json(c.address)),
                        c.siren,
                        c.vat_id,
                        self._dialect.time_in(utc_now()),
                    )
                    for c in customers
                ],
            )

    def customer(self, customer_id: str) -> Customer | None:
        with self._registry_read() as conn:
            row = self._exec(
                conn, f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = %s", (customer_id,)
            ).fetchone()
        return None if row is None else _customer_from_row(row)

    def customers(self) -> list[Customer]:
        with self._registry_read() as conn:
            rows = self._exec(conn, f"SELECT {_CUSTOMER_COLUMNS} FROM customers ORDER BY id").fetchall()
        return [_customer_from_row(r) for r in rows]

    # -- contracts ------------------------------------------------------------------------
    def add_contract(self, contract: Contract) -> None:
        """Store a contract and its devices; the customer and every device must exist."""
        d = self._dialect
        with self._registry_write() as conn:
            if self._existing(conn, "contracts", [contract.id]):
                raise DuplicateError(f"contract {contract.id} already exists", ids=[contract.id])
            if not self._existing(conn, "customers", [contract.customer_id]):
                raise NotFoundError(f"contract {contract.id}: customer {contract.customer_id} is not registered")
            wanted = sorted({cd.device_id for cd in contract.devices})
            missing = sorted(set(wanted) - set(self._existing(conn, "devices", wanted)))
            if missing:
                raise NotFoundError(f"contract {contract.id}: device(s) not registered: {', '.join(missing)}")
            self._exec(
                conn,
                "INSERT INTO contracts (id, customer_id, tariff_id, tariff_version, start_date, end_date,"
                " billing_cycle, attributes, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    contract.id,
                    contract.customer_id,
                    contract.tariff_id,
                    contract.tariff_version,
                    contract.start_date.isoformat(),
                    contract.end_date.isoformat() if contract.end_date else None,
                    contract.billing_cycle,
                    json.dumps(_contract_attributes(contract)),
                    d.time_in(utc_now()),
                ),
            )
            self._many(
                conn,
                "INSERT INTO contract_devices (contract_id, device_id, valid_from, valid_to) VALUES (%s, %s, %s, %s)",
                [
                    (contract.id, cd.device_id, d.time_in(cd.valid_from), d.opt_time_in(cd.valid_to))
                    for cd in contract.devices
                ],
            )

    def contract(self, contract_id: str) -> Contract | None:
        with self._registry_read() as conn:
            row = self._exec(
                conn, f"SELECT {_CONTRACT_COLUMNS} FROM contracts WHERE id = %s", (contract_id,)
            ).fetchone()
            return None if row is None else self._contract_from_row(conn, row)

    def contracts(self, *, customer_id: str | None = None, device_id: str | None = None) -> list[Contract]:
        clauses: list[str] = []
        params: list[str] = []
        if customer_id is not None:
            clauses.append("customer_id = %s")
            params.append(customer_id)
        if device_id is not None:
            clauses.append("id IN (SELECT contract_id FROM contract_devices WHERE device_id = %s)")
            params.append(device_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._registry_read() as conn:
            rows = self._exec(conn, f"SELECT {_CONTRACT_COLUMNS} FROM contracts {where} ORDER BY id", params).fetchall()
            return [self._contract_from_row(conn, r) for r in rows]

    def _contract_from_row(self, conn: Any, row: Sequence[Any]) -> Contract:
        cid, customer_id, tariff_id, version, start, end, cycle, attributes = row
        attrs = json_out(attributes)
        devices = self._exec(
            conn,
            "SELECT device_id, valid_from, valid_to FROM contract_devices WHERE contract_id = %s"
            " ORDER BY valid_from, device_id",
            (cid,),
        ).fetchall()
        return Contract(
            id=cid,
            customer_id=customer_id,
            tariff_id=tariff_id,
            tariff_version=version,
            start_date=date_out(start),
            end_date=None if end is None else date_out(end),
            billing_cycle=cycle,
            devices=tuple(
                ContractDevice(dev, self._dialect.time_out(frm), self._dialect.opt_time_out(to))
                for dev, frm, to in devices
            ),
            gas_calorific_value_mj_per_m3=attrs.get("gas_calorific_value_mj_per_m3"),
            gas_correction_factor=attrs.get("gas_correction_factor"),
        )

    # -- meter exchange -------------------------------------------------------------------
    def record_meter_exchange(self, exchange: MeterExchangeRecord) -> Contract:
        """Close the old device on the contract at ``exchange.at`` and open the new one from then."""
        d = self._dialect
        with self._registry_write() as conn:
            current = self._exec(
                conn,
                "SELECT valid_from FROM contract_devices WHERE contract_id = %s AND device_id = %s"
                f" AND valid_to IS NULL{d.for_update}",
                (exchange.contract_id, exchange.old_device_id),
            ).fetchone()
            if current is None:
                raise NotFoundError(
                    f"meter exchange: {exchange.old_device_id} is not currently on contract {exchange.contract_id}"
                )
            if d.time_out(current[0]) >= exchange.at:
                raise ValueError(f"meter exchange at {exchange.at.isoformat()} is not after the old meter's start")
            if not self._existing(conn, "devices", [exchange.new_device_id]):
                raise NotFoundError(f"meter exchange: device {exchange.new_device_id} is not registered")
            self._exec(
                conn,
                "UPDATE contract_devices SET valid_to = %s WHERE contract_id = %s AND device_id = %s"
                " AND valid_to IS NULL",
                (d.time_in(exchange.at), exchange.contract_id, exchange.old_device_id),
            )
            self._exec(
                conn,
                "INSERT INTO contract_devices (contract_id, device_id, valid_from, valid_to) VALUES (%s, %s, %s, NULL)",
                (exchange.contract_id, exchange.new_device_id, d.time_in(exchange.at)),
            )
            self._exec(
                conn,
                "INSERT INTO meter_exchanges (contract_id, at, register, old_device_id, old_final_index,"
                " new_device_id, new_first_index) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    exchange.contract_id,
                    d.time_in(exchange.at),
                    exchange.register,
                    exchange.old_device_id,
                    exchange.old_final_index,
                    exchange.new_device_id,
                    exchange.new_first_index,
                ),
            )
            row = self._exec(conn, f"SELECT {_CONTRACT_COLUMNS} FROM contracts WHERE id = %s", (exchange.contract_id,))
            return self._contract_from_row(conn, row.fetchone())

    def meter_exchanges(self, contract_id: str) -> list[MeterExchangeRecord]:
        with self._registry_read() as conn:
            rows = self._exec(
                conn,
                "SELECT contract_id, at, register, old_device_id, old_final_index, new_device_id,"
                " new_first_index FROM meter_exchanges WHERE contract_id = %s ORDER BY at",
                (contract_id,),
            ).fetchall()
        return [
            MeterExchangeRecord(c, self._dialect.time_out(at), reg, old, float(oi), new, float(ni))
            for c, at, reg, old, oi, new, ni in rows
        ]


_DEVICE_COLUMNS = "id, kind, serial, status, secret_hash, attributes, created_at, activated_at"
_CUSTOMER_COLUMNS = "id, name, email, language, address, siren, vat_id"
_CONTRACT_COLUMNS = "id, customer_id, tariff_id, tariff_version, start_date, end_date, billing_cycle, attributes"


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _refuse_repeats(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    repeated = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if repeated:
        raise DuplicateError(f"{what} id(s) appear twice in the batch: {', '.join(repeated[:10])}", ids=repeated)


def _device_attributes(device: Device) -> dict[str, Any]:
    return {
        "registers": [{"code": r.code, "unit": r.unit, "maximum": r.maximum} for r in device.registers],
        "nominal_interval_s": int(device.nominal_interval.total_seconds()),
        "max_power_kw": device.max_power_kw,
    }


def _address_json(address: PostalAddress) -> dict[str, Any]:
    return {
        "lines": list(address.lines),
        "city": address.city,
        "postcode": address.postcode,
        "country": address.country,
    }


def _customer_from_row(row: Sequence[Any]) -> Customer:
    cid, name, email, language, address, siren, vat_id = row
    a = json_out(address)
    return Customer(
        id=cid,
        name=name,
        email=email,
        language=language,
        siren=siren,
        vat_id=vat_id,
        address=PostalAddress(
            tuple(a.get("lines", ())), a.get("city", ""), a.get("postcode", ""), a.get("country", "")
        ),
    )


def _contract_attributes(contract: Contract) -> dict[str, Any]:
    return {
        "gas_calorific_value_mj_per_m3": contract.gas_calorific_value_mj_per_m3,
        "gas_correction_factor": contract.gas_correction_factor,
    }
