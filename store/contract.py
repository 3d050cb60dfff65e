"""The persistence contract: what every store backend offers, as Protocols and value types.

Callers (the gateway, the API, the composition root) depend on these Protocols only; the
PostgreSQL/TimescaleDB and SQLite adapters implement them and pass the same contract tests
(``tests/store/``). Times cross this boundary as timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from billing.ports import InvoiceStore
from devices.model import Contract, Customer, Device, DeviceKind, DeviceStatus, MeterExchangeRecord
from devices.readings import Reading, ReadingReview
from devices.trips import Trip, VehicleEvent

__all__ = [
    "BUCKETS",
    "ApiKey",
    "Batch",
    "BatchResult",
    "Bucket",
    "Conflict",
    "ConsoleStore",
    "DeadLetter",
    "DeadLetterStore",
    "Dispute",
    "DisputeEvent",
    "DisputeEventKind",
    "DisputeStatus",
    "DisputeStore",
    "GatewayInstance",
    "GroupedConsumption",
    "IngestStore",
    "InsertResult",
    "LocalGrouping",
    "NewDeadLetter",
    "ReadingStore",
    "RefreshOutcome",
    "RefreshToken",
    "RegistryStore",
    "RollupRow",
    "SchemaStore",
    "Store",
    "StoreStats",
    "User",
    "UserRole",
    "UserStore",
    "group_rollup",
]

Bucket = Literal["hour", "day"]
BUCKETS: dict[Bucket, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

# Two stored values of one key are "the same reading" when they agree to this relative
# tolerance: unit conversion (1234567 Wh -> 1234.567 kWh) must not turn a redelivery into a conflict.
SAME_VALUE_REL_TOL = 1e-9


@dataclass(frozen=True)
class InsertResult:
    """What one idempotent bulk insert did; ``received == inserted + duplicates + conflicts``."""

    received: int
    inserted: int
    duplicates: int  # same key, same value: already stored (a redelivery)
    conflicts: int  # same key, another value: first one kept, this one recorded for staff


@dataclass(frozen=True)
class Conflict:
    """A reading whose key was already stored with another value."""

    device_id: str
    register: str
    ts: datetime
    stored_value: float
    offered_value: float
    unit: str
    offered_quality: str
    received_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """A message the gateway could not accept, kept verbatim with the reason."""

    id: int
    received_at: datetime  # first time
    topic: str
    payload: bytes
    reason: str  # short machine-readable code, e.g. "malformed_json", "unknown_device"
    detail: str  # the human sentence: what is wrong and where
    device_id: str | None
    occurrences: int = 1  # the same (topic, payload) again, e.g. redelivered, counts here
    last_received_at: datetime | None = None
    replayed_at: datetime | None = None  # set when a replay accepted it


@dataclass(frozen=True)
class NewDeadLetter:
    topic: str
    payload: bytes
    reason: str
    detail: str
    device_id: str | None
    received_at: datetime


@dataclass(frozen=True)
class Batch:
    """Everything one gateway batch carries, committed in one transaction."""

    readings: Sequence[Reading] = ()
    trips: Sequence[Trip] = ()
    events: Sequence[VehicleEvent] = ()  # events sent outside a trip; a trip's own events travel with it
    reviews: Sequence[ReadingReview] = ()
    dead_letters: Sequence[NewDeadLetter] = ()
    activations: Sequence[tuple[str, datetime]] = ()  # provisioned devices that sent a valid message


@dataclass(frozen=True)
class BatchResult:
    readings: InsertResult
    trips_inserted: int
    events_inserted: int
    reviews_inserted: int
    dead_letters: int


@dataclass(frozen=True)
class GatewayInstance:
    """A gateway process's heartbeat, for ``meterbill gateway status``."""

    client_id: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    connected: bool
    counters: dict[str, int]


@dataclass(frozen=True)
class RollupRow:
    """Sum of interval readings of one register over one bucket [bucket_start, +1 hour/day) UTC."""

    device_id: str
    register: str
    bucket_start: datetime
    total: float  # [unit]
    count: int
    unit: str
    estimated: int = 0  # how many of ``count`` readings are estimated


@dataclass(frozen=True)
class StoreStats:
    """Figures for /metrics; ``readings`` may be the planner's estimate on a large PostgreSQL table."""

    readings: int
    readings_exact: bool
    dead_letters: int
    conflicts: int
    schema_version: int


class SchemaStore(Protocol):
    backend: str

    def upgrade(self) -> list[str]:
        """Apply the migrations not yet applied; return their names (empty when up to date)."""
        ...

    def schema_version(self) -> int: ...

    def ping(self) -> None:
        """Return when the store answers; raise StoreUnavailable otherwise."""
        ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...


class ReadingStore(Protocol):
    def insert_readings(self, rows: Sequence[Reading]) -> InsertResult:
        """Store ``rows`` idempotently in one transaction.

        A key is (device_id, register, ts). A key already stored with the same value is a
        duplicate and changes nothing; with another value the stored one is kept and the offer is
        recorded as a conflict (once, however often it is redelivered). Within one batch the
        first row of a key wins.
        """
        ...

    def readings(
        self,
        *,
        device_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Reading]:
        """Stored readings with ``start <= ts < end``, ordered by device, register, ts."""
        ...

    def rollup(
        self,
        bucket: Bucket,
        *,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
    ) -> list[RollupRow]:
        """Interval readings summed per UTC hour or day, for buckets starting in [start, end)."""
        ...

    def conflicts(self, *, limit: int = 100) -> list[Conflict]: ...


class DeadLetterStore(Protocol):
    def add_dead_letter(
        self,
        *,
        topic: str,
        payload: bytes,
        reason: str,
        detail: str,
        device_id: str | None = None,
        received_at: datetime | None = None,
    ) -> int:
        """Keep a rejected message verbatim (once per topic and payload); return its id."""
        ...

    def dead_letters(
        self, *, limit: int = 100, device_id: str | None = None, pending_only: bool = False
    ) -> list[DeadLetter]:
        """Most recently received first."""
        ...

    def dead_letter(self, letter_id: int) -> DeadLetter | None: ...

    def mark_replayed(self, letter_ids: Sequence[int], *, at: datetime | None = None) -> None: ...


class IngestStore(Protocol):
    """What the gateway writes: one idempotent transaction per batch, and its heartbeat."""

    def commit_batch(self, batch: Batch) -> BatchResult: ...

    def trips(self, *, device_ids: Sequence[str] | None = None) -> list[Trip]: ...

    def events(self, *, device_ids: Sequence[str] | None = None) -> list[VehicleEvent]: ...

    def reviews(self, *, limit: int = 100) -> list[ReadingReview]: ...

    def record_gateway(self, instance: GatewayInstance) -> None: ...

    def claim_gateway(self, instance: GatewayInstance, *, replacing: GatewayInstance | None) -> bool:
        """Compare-and-set of a client id: True when this process now holds it."""
        ...

    def gateway_instances(self) -> list[GatewayInstance]: ...


class RegistryStore(Protocol):
    """Devices, customers, contracts and meter exchanges (implemented once in store/registry.py)."""

    def add_devices(self, devices: Sequence[Device]) -> None:
        """All in one transaction or none; DuplicateError names the ids already taken."""
        ...

    def device(self, device_id: str) -> Device | None: ...

    def devices(self, *, status: DeviceStatus | None = None, kind: DeviceKind | None = None) -> list[Device]: ...

    def set_device_status(self, device_id: str, status: DeviceStatus, *, at: datetime | None = None) -> Device:
        """Move along the lifecycle (RegistryError when not allowed; NotFoundError when unknown)."""
        ...

    def set_device_secret_hash(self, device_id: str, secret_hash: str) -> None: ...

    def add_customers(self, customers: Sequence[Customer]) -> None: ...

    def customer(self, customer_id: str) -> Customer | None: ...

    def customers(self) -> list[Customer]: ...

    def add_contract(self, contract: Contract) -> None: ...

    def contract(self, contract_id: str) -> Contract | None: ...

    def contracts(self, *, customer_id: str | None = None, device_id: str | None = None) -> list[Contract]: ...

    def record_meter_exchange(self, exchange: MeterExchangeRecord) -> Contract: ...

    def meter_exchanges(self, contract_id: str) -> list[MeterExchangeRecord]: ...


UserRole = Literal["admin", "billing", "support", "auditor", "customer"]
RefreshOutcome = Literal["rotated", "reused", "expired", "unknown"]
DisputeStatus = Literal["open", "answered", "resolved", "credited"]
DisputeEventKind = Literal["opened", "message", "answered", "resolved", "credited"]


@dataclass(frozen=True)
class User:
    """An account: staff (admin, billing, support, auditor) or a customer's (tied to ``customer_id``)."""

    id: str
    email: str  # unique, compared case-insensitively
    role: UserRole
    customer_id: str | None
    password_hash: str  # argon2; never leaves the API
    disabled: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class ApiKey:
    """An integration's key: only its SHA-256 hash and its first characters (``prefix``) are kept."""

    id: str
    user_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class RefreshToken:
    """One refresh token of a rotation family (one login); only its SHA-256 hash is kept."""

    id: str
    user_id: str
    family_id: str
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class DisputeEvent:
    """One timestamped step of a dispute, with who took it; all of them are shown to the customer."""

    dispute_id: str
    seq: int
    kind: DisputeEventKind
    actor_id: str
    actor_role: str
    message: str
    at: datetime
    credit_note_id: str | None = None


@dataclass(frozen=True)
class Dispute:
    """A customer's disagreement with an invoice (a line of it when ``line_no`` is set)."""

    id: str
    invoice_id: str
    line_no: int | None
    customer_id: str
    status: DisputeStatus
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    events: tuple[DisputeEvent, ...] = ()


class UserStore(Protocol):
    """Accounts, API keys and refresh tokens (implemented once in store/users.py)."""

    def add_user(self, user: User) -> None:
        """DuplicateError when the e-mail (any case) is taken."""
        ...

    def user(self, user_id: str) -> User | None: ...

    def user_by_email(self, email: str) -> User | None:
        """Case-insensitive look-up."""
        ...

    def users(self) -> list[User]: ...

    def set_user_disabled(self, user_id: str, disabled: bool) -> None: ...

    def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    def add_api_key(self, key: ApiKey) -> None: ...

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def api_keys(self, *, user_id: str | None = None) -> list[ApiKey]: ...

    def revoke_api_key(self, key_id: str, *, at: datetime) -> None:
        """NotFoundError when unknown; revoking twice keeps the first time."""
        ...

    def add_refresh_token(self, token: RefreshToken) -> None: ...

    def rotate_refresh_token(
        self, token_hash: str, *, new_id: str, new_hash: str, expires_at: datetime, at: datetime
    ) -> tuple[RefreshOutcome, RefreshToken | None]:
        """In one transaction: a live token is marked used and a successor of its family stored
        ("rotated"); a token presented again after use, or revoked, revokes its whole family
        ("reused"); an expired one is refused ("expired"). Returns the outcome and the token presented."""
        ...

    def revoke_refresh_family(self, family_id: str, *, at: datetime) -> int:
        """Revoke every live token of the family; return how many."""
        ...


class DisputeStore(Protocol):
    """Disputes and their events (implemented once in store/disputes.py)."""

    def open_dispute(
        self,
        *,
        dispute_id: str,
        invoice_id: str,
        line_no: int | None,
        customer_id: str,
        actor_id: str,
        actor_role: str,
        message: str,
        at: datetime,
    ) -> Dispute: ...

    def add_dispute_event(
        self,
        dispute_id: str,
        *,
        kind: DisputeEventKind,
        actor_id: str,
        actor_role: str,
        message: str,
        at: datetime,
        credit_note_id: str | None = None,
    ) -> Dispute:
        """Append a step; the status follows it (a customer's message reopens an answered dispute).
        NotFoundError when unknown; DisputeClosedError when resolved or credited already."""
        ...

    def dispute(self, dispute_id: str) -> Dispute | None: ...

    def disputes(
        self,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        status: DisputeStatus | None = None,
    ) -> list[Dispute]:
        """Oldest first, each with its events."""
        ...


@dataclass(frozen=True)
class GroupedConsumption:
    """Interval consumption of one (bucket key, band, unit): a sum of hourly rollup rows."""

    key: int
    band: int
    unit: str
    total: float
    count: int
    estimated: int


def group_rollup(
    rows: Iterable[RollupRow], locate: Callable[[datetime, str], tuple[int, int] | None]
) -> list[GroupedConsumption]:
    """Rollup rows summed per (key, band, unit), ordered by them; ``locate(bucket_start, unit)`` gives
    a row's (bucket key, band), or None to leave it out. Each (hour, unit) is located once."""
    acc: dict[tuple[int, int, str], list[float]] = {}
    located: dict[tuple[datetime, str], tuple[int, int] | None] = {}
    for row in rows:
        place = (row.bucket_start, row.unit)
        if place not in located:
            located[place] = locate(row.bucket_start, row.unit)
        where = located[place]
        if where is None:
            continue
        entry = acc.setdefault((*where, row.unit), [0.0, 0, 0])
        entry[0] += row.total
        entry[1] += row.count
        entry[2] += row.estimated
    return [
        GroupedConsumption(key, band, unit, float(t), int(n), int(e))
        for (key, band, unit), (t, n, e) in sorted(acc.items())
    ]


_DAY_S = 86_400
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True)
class LocalGrouping:
    """A grouping of hourly consumption by local calendar bucket and TOU band, for
    :meth:`ConsoleStore.local_consumption`; small enough to send to the database as parameters.

    The hour [h, h + 1 h) UTC goes to the local day (days since 1970-01-01) or month (months
    since 1970-01) of ``h`` in ``tz``. Its band, for rows in ``band_unit`` with ``h`` in
    [``band_from``, ``band_to``), is ``bands[(month0 x 3 + day type) x slots + second of day // slot_s]``
    with ``slots`` = 86,400 / ``slot_s`` [s] and the local month (0-11), day type (0 weekday,
    1 weekend, 2 a date of ``holidays``) and second of day of ``h`` in ``band_tz``: the compiled
    ``rating.schedule.band_table``. Every other hour, or all of them when ``bands`` is empty, has band -1.
    :meth:`locate` is the reference each backend's grouping must agree with.
    """

    tz: str
    bucket: Literal["day", "month"]
    band_tz: str = "UTC"
    band_unit: str | None = None
    slot_s: int = 3600  # [s], divides the hour
    bands: Sequence[int] = ()
    holidays: Sequence[date] = ()
    band_from: datetime | None = None
    band_to: datetime | None = None

    def __post_init__(self) -> None:
        if self.slot_s <= 0 or 3600 % self.slot_s:
            raise ValueError(f"slot_s must divide 3600 s, got {self.slot_s}")
        if self.bands and len(self.bands) != 12 * 3 * (_DAY_S // self.slot_s):
            raise ValueError(f"bands must hold 12 x 3 x {_DAY_S // self.slot_s} indices, got {len(self.bands)}")

    @property
    def has_bands(self) -> bool:
        return bool(self.bands) and self.band_unit is not None

    def locate(self, hour: datetime, unit: str) -> tuple[int, int]:
        """(bucket key, band index) of the hour starting at ``hour`` for readings in ``unit``."""
        local = hour.astimezone(ZoneInfo(self.tz))
        day = (local.date() - _EPOCH_DAY).days
        key = day if self.bucket == "day" else (local.year - 1970) * 12 + local.month - 1
        if not self.has_bands or unit != self.band_unit:
            return key, -1
        if self.band_from is not None and hour < self.band_from:
            return key, -1
        if self.band_to is not None and hour >= self.band_to:
            return key, -1
        at = hour.astimezone(ZoneInfo(self.band_tz))
        day_type = 2 if at.date() in self.holidays else 1 if at.weekday() >= 5 else 0
        second = at.hour * 3600 + at.minute * 60 + at.second
        return key, int(self.bands[((at.month - 1) * 3 + day_type) * (_DAY_S // self.slot_s) + second // self.slot_s])


class ConsoleStore(Protocol):
    def local_consumption(
        self, grouping: LocalGrouping, *, device_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[GroupedConsumption]:
        """Interval readings of the UTC hours starting in [hour of ``start``, ``end``) summed per
        (local bucket key, band, unit) of ``grouping``, ordered by them; from the hourly rollup
        (TimescaleDB: its continuous aggregate, which counts no estimated readings)."""
        ...

    def tariff_ids(self) -> list[str]:
        """Every stored tariff id."""
        ...

    def latest_reading_at(self) -> datetime | None:
        """Device time of the newest stored reading."""
        ...


class Store(
    SchemaStore,
    ReadingStore,
    DeadLetterStore,
    IngestStore,
    RegistryStore,
    InvoiceStore,
    UserStore,
    DisputeStore,
    ConsoleStore,
    Protocol,
):
    """Everything a backend implements."""
