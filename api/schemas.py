"""HTTP schemas (pydantic): what the API accepts (``*Create``) and returns (``*Public``).

Base/Create/Public split: a ``Create`` model may carry a secret in (a password), a ``Public`` model
never carries a secret or a hash out. Money crosses as decimal strings; times as ISO 8601 with offset.
Every object of a collection has an ``id``; collections answer ``{"items": [...]}``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "AuditPublic",
    "BillingRunCreate",
    "BillingRunPublic",
    "ConflictPublic",
    "Consumption",
    "ConsumptionBucket",
    "ContractCreate",
    "ContractDevicePublic",
    "ContractPublic",
    "CreditRequest",
    "CustomerCreate",
    "CustomerPublic",
    "DeadLetterPublic",
    "DeviceCreate",
    "DevicePublic",
    "DisputeCreate",
    "DisputeEventPublic",
    "DisputePublic",
    "DisputeQueueItem",
    "DisputeStep",
    "GatewayPublic",
    "IngestionHealth",
    "InvoiceLineView",
    "InvoicePublic",
    "InvoiceView",
    "Items",
    "MonthComparison",
    "ProjectedBill",
    "ReadingPublic",
    "RefreshRequest",
    "ReviewItem",
    "TariffComparison",
    "TariffPublic",
    "TariffValidation",
    "TariffVersionPublic",
    "Token",
    "UserCreate",
    "UserPublic",
]

T = TypeVar("T")
Bucket = Literal["15min", "hour", "day", "month"]
RoleName = Literal["admin", "billing", "support", "auditor", "customer"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Items(_Model, Generic[T]):
    """A collection."""

    items: list[T]


class Problem(BaseModel):
    """An RFC 9457 problem: ``detail`` says what is wrong and what to do."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str


# -- auth ------------------------------------------------------------------------------------
class Token(_Model):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name, not a secret)
    refresh_token: str
    expires_in: int = Field(description="lifetime of the access token [s]")


class RefreshRequest(_Model):
    """Body of ``POST /api/v1/auth/refresh``."""

    refresh_token: str = Field(min_length=1)


class UserBase(_Model):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    role: RoleName
    customer_id: str | None = None


class UserCreate(UserBase):
    password: str = Field(min_length=12, max_length=1024)


class UserPublic(UserBase):
    id: str
    disabled: bool
    created_at: datetime | None


class ApiKeyCreate(_Model):
    name: str = Field("", max_length=100)


class ApiKeyPublic(_Model):
    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the key itself: shown once, stored only as a hash")


# -- registry --------------------------------------------------------------------------------
class CustomerBase(_Model):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    language: str = "en"
    address: dict[str, Any] = Field(default_factory=dict)
    siren: str | None = None
    vat_id: str | None = None


class CustomerCreate(CustomerBase):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class CustomerPublic(CustomerBase):
    id: str


class DeviceBase(_Model):
    kind: Literal["electricity_meter", "gas_meter", "water_meter", "vehicle"]
    serial: str = Field(min_length=1, max_length=100)


class DeviceCreate(DeviceBase):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class DevicePublic(DeviceBase):
    id: str
    status: str
    created_at: datetime | None
    activated_at: datetime | None
    registers: list[str]


class ContractDevicePublic(_Model):
    device_id: str
    valid_from: datetime
    valid_to: datetime | None


class ContractBase(_Model):
    customer_id: str
    tariff_id: str
    tariff_version: int | None = None
    start_date: date
    end_date: date | None = None


class ContractCreate(ContractBase):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    device_ids: list[str] = Field(default_factory=list)


class ContractPublic(ContractBase):
    id: str
    devices: list[ContractDevicePublic]


# -- tariffs ---------------------------------------------------------------------------------
class TariffPublic(_Model):
    id: str
    latest_version: int
    name: str
    currency: str
    timezone: str


class TariffVersionPublic(_Model):
    id: str = Field(description="tariff id and version, e.g. fr-elec-hphc@2")
    tariff_id: str
    version: int
    body: dict[str, Any]


class TariffValidation(_Model):
    valid: bool
    tariff_id: str | None = None
    errors: list[str] = Field(default_factory=list)


# -- readings and consumption ----------------------------------------------------------------
class ReadingPublic(_Model):
    id: str
    device_id: str
    register_code: str = Field(description="OBIS code or register name")
    ts: datetime
    value: float
    unit: str
    kind: str
    quality: str


class ConsumptionBucket(_Model):
    id: str = Field(description="the bucket's start, ISO 8601")
    start: datetime
    end: datetime
    total: float = Field(description="[unit]")
    unit: str
    count: int = Field(description="interval readings summed")
    estimated: int = Field(description="how many of them are estimated")
    bands: dict[str, float] = Field(default_factory=dict, description="TOU band -> quantity [unit], when known")


class Consumption(_Model):
    bucket: Bucket
    tz: str
    device_ids: list[str]
    start: datetime
    end: datetime
    unit: str | None
    tariff: str | None = Field(None, description="tariff id@version whose bands split the buckets")
    items: list[ConsumptionBucket]


# -- invoices --------------------------------------------------------------------------------
class InvoicePublic(_Model):
    id: str
    number: str | None
    status: str
    type_code: str
    contract_id: str
    customer_id: str
    period: str
    period_start: date
    period_end: date
    currency: str
    net_total: str
    tax_total: str
    gross_total: str
    issue_date: date | None
    credited_invoice_id: str | None
    created_at: datetime
    issued_at: datetime | None


class InvoiceLineView(_Model):
    line_no: int
    line_id: str
    code: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    vat_rate: str
    tariff_id: str | None
    tariff_version: int | None
    band: str | None
    tier: int | None
    readings_count: int
    readings_first: datetime | None
    readings_last: datetime | None
    estimated_share: str
    explanation: str = Field(description="in plain words: how the quantity and price were arrived at")


class InvoiceView(InvoicePublic):
    """An invoice with each line explained."""

    lines: list[InvoiceLineView]
    credit_notes: list[str] = Field(description="ids of credit notes against this invoice")
    downloads: dict[str, str] = Field(description="format -> URL (issued documents only)")


class CreditRequest(_Model):
    lines: dict[str, str] = Field(
        default_factory=dict, description="line id -> quantity to credit; empty: the whole invoice"
    )
    reason: str | None = Field(None, max_length=500)
    issue_date: date | None = None
    dispute_id: str | None = Field(None, description="the dispute this credit settles, if any")


class ProjectedBill(_Model):
    contract_id: str
    period: str
    period_start: date
    period_end: date = Field(description="inclusive")
    as_of: date
    days_elapsed: int
    days_total: int
    currency: str
    quantity_so_far: float
    quantity_projected: float
    unit: str
    net_so_far: str
    gross_so_far: str
    net_projected: str
    gross_projected: str


class MonthComparison(_Model):
    period: str
    quantity: float
    current: str | None = Field(description="gross amount under the current tariff; None when not ratable")
    candidate: str | None


class TariffComparison(_Model):
    contract_id: str
    current_tariff: str
    candidate_tariff: str
    currency: str
    months: list[MonthComparison]
    current_total: str
    candidate_total: str
    difference: str = Field(description="candidate - current; negative: the candidate is cheaper")


class BillingRunCreate(_Model):
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    fresh: bool = False


class BillingRunPublic(_Model):
    id: str
    period: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    done: int
    total: int
    failed: int
    error: str | None


class ReviewItem(_Model):
    id: str = Field(description="the draft's invoice id")
    contract_id: str
    customer_id: str
    period: str
    status: str
    currency: str
    gross_total: str
    quantity: float | None
    previous_quantity: float | None
    change_pct: float | None
    estimated_share: float
    conflicts: int
    dead_letters: int
    flags: list[str] = Field(description="consumption_jump, consumption_drop, high_estimated, conflicts, dead_letters")


# -- disputes --------------------------------------------------------------------------------
class DisputeCreate(_Model):
    invoice_id: str
    line_no: int | None = Field(None, ge=1)
    message: str = Field(min_length=1, max_length=4000)


class DisputeStep(_Model):
    kind: Literal["message", "answered", "resolved"]
    message: str = Field(min_length=1, max_length=4000)


class DisputeEventPublic(_Model):
    seq: int
    kind: str
    actor_role: str
    actor: str
    message: str
    at: datetime
    credit_note_id: str | None


class DisputePublic(_Model):
    id: str
    invoice_id: str
    line_no: int | None
    customer_id: str
    status: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    events: list[DisputeEventPublic]


class DisputeQueueItem(DisputePublic):
    age_hours: float = Field(description="since it was opened [h]")
    waiting_hours: float = Field(description="since its last step [h]")


# -- operations ------------------------------------------------------------------------------
class DeadLetterPublic(_Model):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    device_id: str | None
    occurrences: int
    replayed_at: datetime | None
    payload_preview: str = Field(description="the first 200 bytes, decoded leniently")


class ConflictPublic(_Model):
    id: str
    device_id: str
    register_code: str = Field(description="OBIS code or register name")
    ts: datetime
    stored_value: float
    offered_value: float
    unit: str
    offered_quality: str
    received_at: datetime


class GatewayPublic(_Model):
    id: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    connected: bool
    counters: dict[str, int]


class IngestionHealth(_Model):
    gateways: list[GatewayPublic]
    dead_letters: int
    dead_letters_pending: int
    conflicts: int
    readings: int
    readings_exact: bool
    latest_reading_at: datetime | None


class AuditPublic(_Model):
    entries: int
    ok: bool
    broken_at: int | None = Field(None, description="sequence number of the first entry that does not verify")
    document_number: str | None = None
    reason: str | None = None
