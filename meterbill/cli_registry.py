"""CLI for the registry: ``meterbill devices|customers|contracts|broker ...``.

Secrets are printed once, alone on the last line of output, and stored only as hashes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devices.credentials import mosquitto_hash, new_secret
from devices.model import (
    DEVICE_KINDS,
    Contract,
    ContractDevice,
    Customer,
    Device,
    DeviceStatus,
    MeterExchangeRecord,
    PostalAddress,
)
from devices.provisioning import RowError, parse_device_csv
from gateway.broker_auth import render_broker_auth
from gateway.mqtt import BrokerAddress
from meterbill.cli_common import FormatOption, console, err_console, output_format, settings_from, store_from
from store.errors import DuplicateError

__all__ = ["broker_app", "contracts_app", "customers_app", "devices_app"]

devices_app = typer.Typer(no_args_is_help=True, help="Provision devices and their MQTT credentials.")
customers_app = typer.Typer(no_args_is_help=True, help="Customers.")
contracts_app = typer.Typer(no_args_is_help=True, help="Contracts: customer, tariff, devices, dates.")
broker_app = typer.Typer(no_args_is_help=True, help="Broker credentials and ACLs.")


def _print_secret(device_id: str, secret: str) -> None:
    console.print(f"MQTT secret for {device_id} (shown once, stored only as a hash):")
    print(secret)  # plain print: the last line is the secret alone, unwrapped, for scripts


# -- devices ------------------------------------------------------------------------------
@devices_app.command("add")
def devices_add(
    ctx: typer.Context,
    device_id: Annotated[str, typer.Argument(help="id used in MQTT topics, e.g. m-0001")],
    kind: Annotated[str, typer.Option(help=" | ".join(DEVICE_KINDS))],
    serial: Annotated[str, typer.Option(help="the manufacturer's serial number")],
    max_power_kw: Annotated[float | None, typer.Option(help="plausibility limit [kW]")] = None,
    interval_minutes: Annotated[float | None, typer.Option(help="nominal interval (default by kind)")] = None,
) -> None:
    """Provision one device and print its new MQTT secret."""
    if kind not in DEVICE_KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(DEVICE_KINDS)}")
    text = "device_id,kind,serial,max_power_kw,interval_minutes\n" + ",".join(
        [
            device_id,
            kind,
            serial,
            "" if max_power_kw is None else str(max_power_kw),
            "" if interval_minutes is None else str(interval_minutes),
        ]
    )
    plan = parse_device_csv(text)  # one validation path for one device and for ten thousand
    if not plan.ok:
        raise typer.BadParameter(plan.errors[0].reason)
    secret = new_secret()
    device = plan.devices[0]
    with store_from(ctx) as store:
        store.add_devices([_with_secret(device, secret)])
    console.print(f"provisioned {device.id} ({device.kind}, serial {device.serial})")
    _print_secret(device.id, secret)


@devices_app.command("import")
def devices_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV: device_id,kind,serial")
    ],
    secrets_out: Annotated[
        Path | None, typer.Option(help="where to write device_id,secret (default: FILE-secrets.csv beside FILE)")
    ] = None,
) -> None:
    """Provision every device of a CSV in one transaction, or none; each bad row is reported."""
    plan = parse_device_csv(file.read_text(encoding="utf-8"))
    if not plan.ok:
        _report_rows(plan.errors)
        raise typer.Exit(1)
    target = secrets_out or file.with_name(f"{file.stem}-secrets.csv")
    if target.exists():
        raise typer.BadParameter(f"{target} exists; secrets are never overwritten (choose --secrets-out)")
    secrets = {d.id: new_secret() for d in plan.devices}
    pending = target.with_name(f".{target.name}.partial")
    # The secrets are written (0600) before the devices are committed, and published under their
    # final name only after: a failed import leaves no secrets file behind, a good one never loses it.
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("device_id,secret\n" + "".join(f"{i},{s}\n" for i, s in secrets.items()))
    try:
        with console.status(f"importing {len(plan.devices)} devices ..."), store_from(ctx) as store:
            store.add_devices([_with_secret(d, secrets[d.id]) for d in plan.devices])
    except DuplicateError as exc:
        pending.unlink()
        taken = [RowError(plan.lines.get(i, 0), i, "device_id already registered") for i in exc.ids]
        _report_rows(taken or [RowError(0, "", str(exc))])
        raise typer.Exit(1) from None
    except BaseException:
        pending.unlink()
        raise
    pending.rename(target)
    console.print(f"imported {len(plan.devices)} devices; their MQTT secrets are in {target} (mode 0600)")


def _report_rows(errors: tuple[RowError, ...] | list[RowError]) -> None:
    err_console.print(f"[red]nothing imported:[/] {len(errors)} bad row(s)")
    for error in errors:
        console.print(str(error), markup=False, soft_wrap=True)


def _with_secret(device: Device, secret: str) -> Device:
    return replace(device, secret_hash=mosquitto_hash(secret))


@devices_app.command("list")
def devices_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only devices in this status")] = None,
    kind: Annotated[str | None, typer.Option(help="only devices of this kind")] = None,
    fmt: FormatOption = "table",
) -> None:
    """The registry, one device a line (secrets and hashes never leave)."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        devices = store.devices(status=status, kind=kind)  # type: ignore[arg-type]
    if output == "json":
        print(json.dumps([_device_public(d) for d in devices], indent=1))
        return
    for d in devices:
        typer.echo(f"{d.id}\t{d.kind}\t{d.serial}\t{d.status}")  # tab-separated, for cut and awk


def _device_public(device: Device) -> dict[str, object]:
    return {
        "id": device.id,
        "kind": device.kind,
        "serial": device.serial,
        "status": device.status,
        "registers": [asdict(r) for r in device.registers],
        "nominal_interval_s": int(device.nominal_interval.total_seconds()),
        "max_power_kw": device.max_power_kw,
        "has_secret": device.secret_hash is not None,
        "created_at": device.created_at.isoformat() if device.created_at else None,
        "activated_at": device.activated_at.isoformat() if device.activated_at else None,
    }


@devices_app.command("rotate-secret")
def devices_rotate_secret(ctx: typer.Context, device_id: str) -> None:
    """Give a device a new MQTT secret (the old one stops working at the next broker auth export)."""
    secret = new_secret()
    with store_from(ctx) as store:
        store.set_device_secret_hash(device_id, mosquitto_hash(secret))
    _print_secret(device_id, secret)


@devices_app.command("set-status")
def devices_set_status(ctx: typer.Context, device_id: str, status: str) -> None:
    """Suspend, reactivate or retire a device (provisioned -> active -> suspended -> retired)."""
    if status not in ("provisioned", "active", "suspended", "retired"):
        raise typer.BadParameter("status must be provisioned, active, suspended or retired")
    new_status: DeviceStatus = status  # type: ignore[assignment]
    with store_from(ctx) as store:
        device = store.set_device_status(device_id, new_status)
    console.print(f"{device.id} is {device.status}")


# -- customers ----------------------------------------------------------------------------
@customers_app.command("add")
def customers_add(
    ctx: typer.Context,
    customer_id: str,
    name: Annotated[str, typer.Option()],
    email: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str, typer.Option()] = "en",
    address_line: Annotated[list[str] | None, typer.Option(help="repeat for each line")] = None,
    city: Annotated[str, typer.Option()] = "",
    postcode: Annotated[str, typer.Option()] = "",
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2, e.g. FR")] = "",
    siren: Annotated[str | None, typer.Option(help="French company number (9 digits)")] = None,
    vat_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a customer."""
    customer = Customer(
        customer_id,
        name,
        email=email,
        language=language,
        siren=siren,
        vat_id=vat_id,
        address=PostalAddress(tuple(address_line or ()), city, postcode, country),
    )
    with store_from(ctx) as store:
        store.add_customers([customer])
    console.print(f"added customer {customer.id}")


@customers_app.command("list")
def customers_list(ctx: typer.Context, fmt: FormatOption = "table") -> None:
    """Customers with their ids."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        customers = store.customers()
    if output == "json":
        print(json.dumps([_customer_public(c) for c in customers], indent=1, ensure_ascii=False))
        return
    table = Table("id", "name", "email", "country")
    for c in customers:
        table.add_row(c.id, c.name, c.email or "", c.address.country)
    console.print(table)


def _customer_public(customer: Customer) -> dict[str, object]:
    data = asdict(customer)
    data["address"]["lines"] = list(customer.address.lines)
    return data


# -- contracts ----------------------------------------------------------------------------
@contracts_app.command("add")
def contracts_add(
    ctx: typer.Context,
    contract_id: str,
    customer: Annotated[str, typer.Option(help="customer id")],
    tariff: Annotated[str, typer.Option(help="tariff id")],
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD (move-in)")],
    end: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD (move-out)")] = None,
    tariff_version: Annotated[int | None, typer.Option(help="pin a version (default: current)")] = None,
    device: Annotated[list[str] | None, typer.Option(help="device id; repeat for several")] = None,
    billing_cycle: Annotated[str, typer.Option()] = "monthly",
    gas_calorific_value: Annotated[float | None, typer.Option(help="[MJ/m^3]")] = None,
    gas_correction_factor: Annotated[float | None, typer.Option(help="volume correction [1]")] = None,
) -> None:
    """Add a contract; its devices count from the start date (midnight UTC)."""
    start_date = _date(start, "--start")
    valid_from = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    contract = Contract(
        contract_id,
        customer,
        tariff,
        start_date,
        end_date=_date(end, "--end") if end else None,
        tariff_version=tariff_version,
        billing_cycle=billing_cycle,  # type: ignore[arg-type]
        devices=tuple(ContractDevice(d, valid_from) for d in device or ()),
        gas_calorific_value_mj_per_m3=gas_calorific_value,
        gas_correction_factor=gas_correction_factor,
    )
    with store_from(ctx) as store:
        store.add_contract(contract)
    console.print(f"added contract {contract.id} for {contract.customer_id} on tariff {contract.tariff_id}")


@contracts_app.command("list")
def contracts_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="only this customer's")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Contracts with their devices."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        contracts = store.contracts(customer_id=customer)
    if output == "json":
        print(json.dumps([_contract_public(c) for c in contracts], indent=1))
        return
    table = Table("id", "customer", "tariff", "start", "end", "devices")
    for c in contracts:
        table.add_row(
            c.id,
            c.customer_id,
            c.tariff_id + (f" v{c.tariff_version}" if c.tariff_version else ""),
            c.start_date.isoformat(),
            c.end_date.isoformat() if c.end_date else "",
            ", ".join(d.device_id for d in c.devices if d.valid_to is None),
        )
    console.print(table)


def _contract_public(contract: Contract) -> dict[str, object]:
    return json.loads(json.dumps(asdict(contract), default=lambda v: v.isoformat()))  # type: ignore[no-any-return]


@contracts_app.command("exchange-meter")
def contracts_exchange_meter(
    ctx: typer.Context,
    contract_id: str,
    old: Annotated[str, typer.Option(help="device id of the meter taken out")],
    old_final: Annotated[float, typer.Option(help="its final index [register unit]")],
    new: Annotated[str, typer.Option(help="device id of the meter put in")],
    new_first: Annotated[float, typer.Option(help="its first index [register unit]")],
    at: Annotated[str, typer.Option(help="ISO 8601 time with offset, e.g. 2026-03-10T09:30:00+01:00")],
    register: Annotated[str, typer.Option()] = "1-0:1.8.0",
) -> None:
    """Record a meter exchange so consumption stays continuous and never negative."""
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise typer.BadParameter("--at needs a UTC offset, e.g. 2026-03-10T09:30:00+01:00")
    record = MeterExchangeRecord(contract_id, moment, register, old, old_final, new, new_first)
    with store_from(ctx) as store:
        contract = store.record_meter_exchange(record)
    console.print(
        f"{contract.id}: {old} (final {old_final}) replaced by {new} (first {new_first}) at {moment.isoformat()}"
    )


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not a date YYYY-MM-DD") from None


# -- broker -------------------------------------------------------------------------------
@broker_app.command("export-auth")
def broker_export_auth(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(file_okay=False, help="where to write passwd and acl")],
    gateway_user: Annotated[
        str | None, typer.Option(help="default: the user of MB_MQTT_URL, else meterbill-gateway")
    ] = None,
) -> None:
    """Write DIR/passwd (mosquitto_passwd format) and DIR/acl (each device only under its own topics)."""
    settings = settings_from(ctx)
    address = BrokerAddress.parse(settings.mqtt_url) if settings.mqtt_url else None
    user = gateway_user or (address.username if address and address.username else "meterbill-gateway")
    password = address.password if address and address.username == user else None
    generated = password is None
    password = password or new_secret()
    with store_from(ctx) as store:
        files = render_broker_auth(store.devices(), gateway_user=user, gateway_hash=mosquitto_hash(password))
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("passwd", files.passwd), ("acl", files.acl)):
        path = directory / name
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)  # atomic: the broker never reads half a file
    console.print(f"wrote {directory / 'passwd'} and {directory / 'acl'}: gateway user {user}, {files.devices} devices")
    for reason in files.skipped:
        console.print(f"left out {reason}", markup=False)
    if generated:
        console.print(f"new MQTT password for the gateway user {user} (put it in MB_MQTT_URL; shown once):")
        print(password)
