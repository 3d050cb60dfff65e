"""The device registry's domain: devices and their registers, customers, contracts, meter exchanges.

A device is known before it speaks: it is provisioned with a kind, a serial and registers, gets a
secret, becomes ``active`` with its first valid message, may be ``suspended`` (its messages are
dead-lettered until it is reactivated) and ends ``retired``. A contract binds a customer, a tariff
and devices over dates; move-in and move-out mid-period are just its start and end dates, and a
meter exchange closes one device's period on the contract and opens the next one's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, get_args

from devices.errors import RegistryError

__all__ = [
    "DEFAULT_REGISTERS",
    "DEVICE_KINDS",
    "Contract",
    "ContractDevice",
    "Customer",
    "Device",
    "DeviceKind",
    "DeviceStatus",
    "MeterExchangeRecord",
    "PostalAddress",
    "Register",
    "check_transition",
    "validate_identifier",
]

DeviceKind = Literal["electricity_meter", "gas_meter", "water_meter", "vehicle"]
DeviceStatus = Literal["provisioned", "active", "suspended", "retired"]
BillingCycle = Literal["monthly", "quarterly", "yearly"]
DEVICE_KINDS: tuple[DeviceKind, ...] = get_args(DeviceKind)

# Which status may follow which. `retired` is final: a retired device's id is never reused.
_TRANSITIONS: dict[DeviceStatus, frozenset[DeviceStatus]] = {
    "provisioned": frozenset({"active", "suspended", "retired"}),
    "active": frozenset({"suspended", "retired"}),
    "suspended": frozenset({"active", "retired"}),
    "retired": frozenset(),
}

# Ids travel in MQTT topics and usernames: no '/', '+', '#', spaces or control characters.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def validate_identifier(value: str, what: str) -> str:
    if not _ID.match(value):
        raise RegistryError(
            f"{what} {value!r} is not a valid id: 1-64 characters, letters, digits and . _ : - "
            "(no '/', '+', '#' or spaces, since ids appear in MQTT topics)"
        )
    return value


def check_transition(device_id: str, current: DeviceStatus, new: DeviceStatus) -> None:
    """Raise RegistryError unless ``current -> new`` is allowed (a no-op is allowed)."""
    if new != current and new not in _TRANSITIONS[current]:
        allowed = ", ".join(sorted(_TRANSITIONS[current])) or "none (retired is final)"
        raise RegistryError(f"device {device_id} cannot go from {current} to {new}; allowed: {allowed}")


@dataclass(frozen=True)
class Register:
    """One measured quantity of a device.

    ``code`` is OBIS-style for meters (``1-0:1.8.0`` import energy, ``1-0:2.8.0`` export,
    ``1-0:1.8.1``/``1-0:1.8.2`` tariff registers, ``7-0:3.0.0`` gas volume, ``8-0:1.0.0`` water
    volume) or ``odometer`` for vehicles. ``maximum`` is the wrap modulus of a cumulative register
    [unit] (a register of N digits wraps at 10^N); None when it never wraps.
    """

    code: str
    unit: str  # canonical: kWh, m^3 or km
    maximum: float | None = None


DEFAULT_REGISTERS: dict[DeviceKind, tuple[Register, ...]] = {
    "electricity_meter": (
        Register("1-0:1.8.0", "kWh", 1e6),  # import, total
        Register("1-0:1.8.1", "kWh", 1e6),  # import, tariff register 1 (e.g. off-peak)
        Register("1-0:1.8.2", "kWh", 1e6),  # import, tariff register 2 (e.g. peak)
        Register("1-0:2.8.0", "kWh", 1e6),  # export (solar)
    ),
    "gas_meter": (Register("7-0:3.0.0", "m^3", 1e5),),
    "water_meter": (Register("8-0:1.0.0", "m^3", 1e5),),
    "vehicle": (Register("odometer", "km", 1e6),),
}
DEFAULT_INTERVAL: dict[DeviceKind, timedelta] = {
    "electricity_meter": timedelta(minutes=15),
    "gas_meter": timedelta(hours=1),
    "water_meter": timedelta(hours=1),
    "vehicle": timedelta(0),  # vehicles report trips, not intervals
}


@dataclass(frozen=True)
class Device:
    id: str
    kind: DeviceKind
    serial: str
    status: DeviceStatus = "provisioned"
    registers: tuple[Register, ...] = ()
    nominal_interval: timedelta = timedelta(0)  # 0: event-driven (vehicles)
    max_power_kw: float | None = None  # plausibility: above this for an interval is flagged [kW]
    secret_hash: str | None = field(default=None, repr=False)
    created_at: datetime | None = None
    activated_at: datetime | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.id, "device id")
        if self.kind not in DEVICE_KINDS:
            raise RegistryError(f"device {self.id}: kind {self.kind!r} is not one of {', '.join(DEVICE_KINDS)}")
        if not self.serial.strip():
            raise RegistryError(f"device {self.id}: serial must not be empty")
        codes = [r.code for r in self.registers]
        if len(codes) != len(set(codes)):
            raise RegistryError(f"device {self.id}: a register code appears twice in {codes}")

    @classmethod
    def new(cls, device_id: str, kind: DeviceKind, serial: str, **extra: object) -> Device:
        """A provisioned device with the default registers and interval of its kind."""
        if kind not in DEVICE_KINDS:
            raise RegistryError(f"device {device_id}: kind {kind!r} is not one of {', '.join(DEVICE_KINDS)}")
        defaults: dict[str, object] = {"registers": DEFAULT_REGISTERS[kind], "nominal_interval": DEFAULT_INTERVAL[kind]}
        return cls(device_id, kind, serial, **{**defaults, **extra})  # type: ignore[arg-type]

    def register(self, code: str) -> Register | None:
        return next((r for r in self.registers if r.code == code), None)

    @property
    def topic_root(self) -> str:
        """The topic prefix this device publishes readings or trips under."""
        return f"{'vehicles' if self.kind == 'vehicle' else 'meters'}/{self.id}"


@dataclass(frozen=True)
class PostalAddress:
    lines: tuple[str, ...] = ()
    city: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2

    def __post_init__(self) -> None:
        if self.country and not re.fullmatch(r"[A-Z]{2}", self.country):
            raise RegistryError(f"address country {self.country!r} must be an ISO 3166-1 alpha-2 code such as FR")


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str | None = None
    language: str = "en"
    address: PostalAddress = PostalAddress()
    siren: str | None = None  # French company register number, 9 digits
    vat_id: str | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.id, "customer id")
        if not self.name.strip():
            raise RegistryError(f"customer {self.id}: name must not be empty")
        if self.email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.email):
            raise RegistryError(f"customer {self.id}: {self.email!r} is not an e-mail address")
        if self.siren is not None and not re.fullmatch(r"\d{9}", self.siren):
            raise RegistryError(f"customer {self.id}: SIREN {self.siren!r} must be 9 digits")


@dataclass(frozen=True)
class ContractDevice:
    """A device on a contract from ``valid_from`` until ``valid_to`` (exclusive; None: still on it)."""

    device_id: str
    valid_from: datetime
    valid_to: datetime | None = None


@dataclass(frozen=True)
class MeterExchangeRecord:
    """An old meter's final index and the new meter's first index, at the moment of exchange."""

    contract_id: str
    at: datetime
    register: str
    old_device_id: str
    old_final_index: float
    new_device_id: str
    new_first_index: float

    def __post_init__(self) -> None:
        if self.old_final_index < 0 or self.new_first_index < 0:
            raise RegistryError(f"meter exchange on {self.contract_id}: indexes must be >= 0")
        if self.old_device_id == self.new_device_id:
            raise RegistryError(
                f"meter exchange on {self.contract_id}: old and new device are both {self.old_device_id}"
            )


@dataclass(frozen=True)
class Contract:
    """A customer's supply or policy: a tariff over dates, with the devices that measure it.

    ``end_date`` is exclusive. ``tariff_version`` None means "the version current at billing time".
    Gas contracts carry the conversion coefficient from volume to energy, as gas suppliers bill.
    """

    id: str
    customer_id: str
    tariff_id: str
    start_date: date
    end_date: date | None = None
    tariff_version: int | None = None
    billing_cycle: BillingCycle = "monthly"
    devices: tuple[ContractDevice, ...] = ()
    gas_calorific_value_mj_per_m3: float | None = None  # [MJ/m^3]
    gas_correction_factor: float | None = None  # volume correction (temperature, pressure) [1]

    def __post_init__(self) -> None:
        validate_identifier(self.id, "contract id")
        if self.end_date is not None and self.end_date <= self.start_date:
            raise RegistryError(
                f"contract {self.id}: end_date {self.end_date} must be after start_date {self.start_date}"
            )
        if self.tariff_version is not None and self.tariff_version < 1:
            raise RegistryError(f"contract {self.id}: tariff_version must be >= 1")
        gas = (self.gas_calorific_value_mj_per_m3, self.gas_correction_factor)
        if any(v is not None and v <= 0 for v in gas):
            raise RegistryError(f"contract {self.id}: gas calorific value and correction factor must be > 0")

    def active_on(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day < self.end_date)
