"""Billing runs: every active contract of a period rated and drafted, idempotently and resumably.

For each contract active in the period (``YYYY-MM``: from local midnight of the tariff's cycle day
of that month to the same day next month, clipped to the contract's dates), the run

1. takes the contract's tariff version (pinned, or the latest) and fixes the contract dates and
   gas conversion in it, so the tariff alone describes the period (it becomes ``tariff.json``);
2. writes the readings of the contract's devices in the period as the ``meterbill rate`` CSV
   (``device_id,ts,value,unit``, values printed exactly), the billing register of each meter
   (cumulative indexes derived to intervals), the trips and events of each vehicle;
3. rates that CSV exactly as ``meterbill rate`` does (``rate_csv``, wired by the composition root),
   prices it (:func:`billing.lines.build_statement`) and assembles the EN 16931 document;
4. saves it as the draft ``{contract}-{period}``, replacing an earlier draft, never an issued one.

Everything in a draft follows from the inputs: no clock, no random id, so a re-run gives
byte-identical drafts. The evidence records the tariff version, the device windows and the
newest ``received_at`` among the readings used: the readings are immutable and deduplicated, so
those received by then reproduce the CSV exactly later (:func:`gather_readings`), and its SHA-256
proves it. A crash leaves the run ``running`` or ``failed``; the next run of the period resumes it
and skips the contracts it already drafted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from billing.assemble import UnitUsage, assemble_invoice
from billing.documents import to_data
from billing.errors import BillingError
from billing.invoice import SellerSettings
from billing.issue import DRAFT_NUMBER, totals_of
from billing.lines import build_statement, statement_json
from billing.money import quantity_decimal
from billing.ports import BillingSource, DraftInvoice, InvoiceStore, SaveOutcome, TariffVersion
from devices.intervals import to_intervals
from devices.model import Contract, Device
from devices.readings import Reading
from meterbill.errors import MeterbillError
from rating.engine import Rating
from rating.tariff import Tariff
from rating.tariff_file import tariff_from_dict

__all__ = [
    "ContractFailure",
    "DeviceWindow",
    "PeriodInputs",
    "RateCsv",
    "ReadingsCsv",
    "RunResult",
    "draft_for_contract",
    "gather_readings",
    "parse_period",
    "period_inputs",
    "run_billing",
    "tariff_json",
]

log = logging.getLogger(__name__)

RateCsv = Callable[[Tariff, str], Rating]  # (tariff, readings CSV text) -> rating, as `meterbill rate` rates
Progress = Callable[[int, int, str], None]  # (done, total, contract id)

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CLOSING_LOOK_AHEAD = timedelta(days=31)
_ESTIMATED_PLACES = 4


def parse_period(period: str) -> tuple[int, int]:
    """``"2026-01"`` -> (2026, 1); BillingError naming the expected form otherwise."""
    match = _PERIOD.match(period)
    if match is None:
        raise BillingError(f"billing period {period!r} must be YYYY-MM, e.g. 2026-01")
    return int(match[1]), int(match[2])


def _add_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, day.day)


def tariff_json(data: Any) -> str:
    """JSON text with Decimals written as exact numbers (``0.2146``, never a float's digits)."""
    marker = "\x00dec:"

    def encode(value: Any) -> str:
        if isinstance(value, Decimal):
            return marker + format(value, "f")
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = json.dumps(data, indent=2, ensure_ascii=False, default=encode)
    return re.sub(r'"\\u0000dec:([-0-9.]+)"', r"\1", text) + "\n"


@dataclass(frozen=True)
class DeviceWindow:
    """One device's part of a contract's period: [start, end) UTC, which register or trips."""

    device_id: str
    kind: str
    register: str
    start: datetime
    end: datetime

    def as_data(self) -> dict[str, str]:
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "register": self.register,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> DeviceWindow:
        return cls(
            data["device_id"],
            data["kind"],
            data["register"],
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
        )


@dataclass(frozen=True)
class PeriodInputs:
    """What a contract's period is rated from; everything here goes into the evidence."""

    contract: Contract
    period: str
    tariff_version: TariffVersion
    tariff: Tariff  # contract dates (and gas conversion) fixed in it
    tariff_body: Mapping[str, Any]  # the same as data: tariff.json
    start: date  # local, inclusive
    end: date  # local, exclusive
    windows: tuple[DeviceWindow, ...]

    def evidence(self) -> dict[str, Any]:
        return {
            "tariff_id": self.tariff_version.tariff_id,
            "tariff_version": self.tariff_version.version,
            "contract_start": self.start.isoformat(),
            "contract_end": self.end.isoformat(),
            "gas_conversion": _gas_data(self.contract),
            "devices": [w.as_data() for w in self.windows],
        }


def _gas_data(contract: Contract) -> dict[str, str] | None:
    if contract.gas_calorific_value_mj_per_m3 is None:
        return None
    return {
        "calorific_value_mj_per_m3": repr(contract.gas_calorific_value_mj_per_m3),
        "correction_factor": repr(contract.gas_correction_factor or 1.0),
    }


def _load_tariff(tv: TariffVersion, start: date, end: date, gas: Mapping[str, str] | None) -> tuple[Tariff, Any]:
    body = json.loads(tv.body, parse_float=Decimal)
    body["contract"] = {"start": start.isoformat(), "end": end.isoformat()}
    if gas is not None:
        body["gas_conversion"] = {k: Decimal(v) for k, v in gas.items()}
    return tariff_from_dict(body, source=f"tariff {tv.tariff_id} v{tv.version}"), body


def period_inputs(
    source: BillingSource, contract: Contract, period: str, *, tariffs: dict[tuple[str, int | None], TariffVersion]
) -> PeriodInputs | None:
    """The inputs of ``contract`` for ``period``, or None when the contract is not active in it."""
    year, month = parse_period(period)
    key = (contract.tariff_id, contract.tariff_version)
    tv = tariffs.get(key) or source.tariff_version(*key)
    if tv is None:
        pinned = f" version {contract.tariff_version}" if contract.tariff_version else ""
        raise BillingError(
            f"contract {contract.id}: tariff {contract.tariff_id}{pinned} is not stored; add it before billing"
        )
    tariffs[key] = tv
    cycle_day = int(json.loads(tv.body).get("billing", {}).get("cycle_day", 1))
    first = date(year, month, cycle_day)
    start = max(first, contract.start_date)
    end = min(_add_month(first), contract.end_date or _add_month(first))
    if end <= start:
        return None
    tariff, body = _load_tariff(tv, start, end, _gas_data(contract))
    zone = ZoneInfo(tariff.timezone)
    lo = datetime(start.year, start.month, start.day, tzinfo=zone).astimezone(UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC)
    windows = []
    for cd in sorted(contract.devices, key=lambda d: (d.valid_from, d.device_id)):
        w_start, w_end = max(lo, cd.valid_from), min(hi, cd.valid_to or hi)
        if w_end <= w_start:
            continue
        device = source.device(cd.device_id)
        if device is None:
            raise BillingError(f"contract {contract.id}: device {cd.device_id} is not registered")
        register = device.registers[0].code if device.registers else ""
        windows.append(DeviceWindow(device.id, device.kind, register, w_start, w_end))
    return PeriodInputs(contract, period, tv, tariff, body, start, end, tuple(windows))


@dataclass(frozen=True)
class ReadingsCsv:
    """The ``meterbill rate`` CSV behind a period, with what the traces need."""

    text: str
    count: int
    sha256: str
    received_through: datetime | None
    usage: dict[str, UnitUsage]


@dataclass
class _Usage:
    first: datetime | None = None
    last: datetime | None = None
    count: int = 0
    total: float = 0.0
    estimated: float = 0.0

    def add(self, ts: datetime, value: float, estimated: bool) -> None:
        self.first = ts if self.first is None or ts < self.first else self.first
        self.last = ts if self.last is None or ts > self.last else self.last
        self.count += 1
        self.total += value
        self.estimated += value if estimated else 0.0


def _received(rows: list[Reading], cutoff: datetime | None) -> list[Reading]:
    return rows if cutoff is None else [r for r in rows if r.received_at <= cutoff]


def _meter_rows(
    source: BillingSource, device: Device | None, w: DeviceWindow, cutoff: datetime | None
) -> tuple[list[tuple[datetime, float, str, bool]], datetime | None]:
    """(ts, value, unit, estimated) intervals of a meter's billing register in its window, newest received_at."""
    rows = [
        r
        for r in _received(source.readings(device_ids=[w.device_id], start=w.start, end=w.end), cutoff)
        if r.register == w.register
    ]
    newest = max((r.received_at for r in rows), default=None)
    out = [(r.ts, r.value, r.unit, r.quality == "estimated") for r in rows if r.kind == "interval"]
    indexes = [r for r in rows if r.kind == "cumulative"]
    if indexes:
        ahead = source.readings(device_ids=[w.device_id], start=w.end, end=w.end + _CLOSING_LOOK_AHEAD)
        after = _received(ahead, cutoff)
        closing = next((r for r in after if r.register == w.register and r.kind == "cumulative"), None)
        if closing is not None:
            indexes.append(closing)
            newest = max(newest or closing.received_at, closing.received_at)
        register = device.register(w.register) if device is not None else None
        for i in to_intervals(indexes, register_max=register.maximum if register else None):
            out.append((i.start, i.consumption, i.unit, i.quality == "estimated"))
    return out, newest


def gather_readings(
    source: BillingSource, windows: Sequence[DeviceWindow], *, received_through: datetime | None = None
) -> ReadingsCsv:
    """The CSV of the windows' readings (those received by ``received_through`` when given)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("device_id", "ts", "value", "unit"))
    usage: dict[str, _Usage] = {}
    newest: datetime | None = None
    count = 0
    for w in sorted(windows, key=lambda x: (x.device_id, x.start)):
        rows: list[tuple[datetime, float, str, bool]]
        if w.kind == "vehicle":
            trips = [t for t in source.trips(device_ids=[w.device_id]) if w.start <= t.start < w.end]
            rows = [(t.start, t.distance_km, "km", False) for t in trips]
            events = [e for e in source.events(device_ids=[w.device_id]) if w.start <= e.ts < w.end]
            rows += [(e.ts, 1.0, f"event:{e.type}", False) for e in events]
        else:
            rows, received = _meter_rows(source, source.device(w.device_id), w, received_through)
            if received is not None:
                newest = received if newest is None else max(newest, received)
        for ts, value, unit, estimated in sorted(rows, key=lambda r: (r[2], r[0])):
            writer.writerow((w.device_id, ts.astimezone(UTC).isoformat(), repr(float(value)), unit))
            count += 1
            if not unit.startswith("event:"):
                usage.setdefault(unit, _Usage()).add(ts, value, estimated)
    text = buffer.getvalue()
    summary = {
        unit: UnitUsage(
            u.first,
            u.last,
            u.count,
            quantity_decimal(u.estimated / u.total if u.total > 0 else 0.0, _ESTIMATED_PLACES),
        )
        for unit, u in usage.items()
        if u.first is not None and u.last is not None
    }
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ReadingsCsv(text, count, digest, newest, summary)


def draft_for_contract(
    source: BillingSource,
    inputs: PeriodInputs,
    *,
    seller: SellerSettings,
    rate_csv: RateCsv,
) -> DraftInvoice:
    """The draft invoice of one contract's period (deterministic: same inputs, same bytes)."""
    contract = inputs.contract
    customer = source.customer(contract.customer_id)
    if customer is None:
        raise BillingError(f"contract {contract.id}: customer {contract.customer_id} is not registered")
    readings = gather_readings(source, inputs.windows)
    if readings.count == 0:
        raise BillingError(f"contract {contract.id}: no readings of its devices in {inputs.period}; nothing to rate")
    statement = build_statement(rate_csv(inputs.tariff, readings.text))
    if len(statement.periods) != 1:
        raise BillingError(
            f"contract {contract.id}: rating gave {len(statement.periods)} billing periods for {inputs.period}, not 1"
        )
    period = statement.periods[0]
    first = inputs.windows[0] if inputs.windows else None
    invoice = assemble_invoice(
        period=period,
        tariff=inputs.tariff,
        tariff_version=inputs.tariff_version.version,
        seller=seller,
        customer=customer,
        contract_id=contract.id,
        object_id=first.device_id if first else contract.id,
        vehicle=first is not None and first.kind == "vehicle",
        usage=readings.usage,
        number=DRAFT_NUMBER,
        issue_date=period.end,  # provisional; the real issue date is written at issue time
    )
    net, tax, gross = totals_of(invoice)
    evidence = {
        **inputs.evidence(),
        "received_through": None if readings.received_through is None else readings.received_through.isoformat(),
        "readings_count": readings.count,
        "readings_sha256": readings.sha256,
        "statement": statement_json(statement),
    }
    return DraftInvoice(
        id=f"{contract.id}-{inputs.period}",
        type_code="380",
        contract_id=contract.id,
        customer_id=contract.customer_id,
        period=inputs.period,
        period_start=invoice.period.start,
        period_end=invoice.period.end,
        currency=invoice.currency,
        net_total=net,
        tax_total=tax,
        gross_total=gross,
        document=to_data(invoice),
        evidence=evidence,
    )


@dataclass(frozen=True)
class ContractFailure:
    contract_id: str
    reason: str


@dataclass(frozen=True)
class RunResult:
    run_id: str
    period: str
    total: int
    outcomes: Mapping[str, SaveOutcome | str] = field(default_factory=dict)  # contract -> outcome
    failures: tuple[ContractFailure, ...] = ()
    resumed: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)


class _Book(BillingSource, InvoiceStore, Protocol):
    """A store that is both the billing source and the invoice book (every meterbill store is)."""


def run_billing(
    store: _Book,
    *,
    period: str,
    seller: SellerSettings,
    rate_csv: RateCsv,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
    fresh: bool = False,
) -> RunResult:
    """Draft every contract active in ``period``; resume the period's unfinished run unless ``fresh``.

    A contract that cannot be billed (no tariff, no readings, an invalid document) is reported in
    ``failures`` and the run goes on; an unexpected error marks the run failed and propagates.
    """
    parse_period(period)
    tariffs: dict[tuple[str, int | None], TariffVersion] = {}
    work: list[tuple[str, PeriodInputs | None, str | None]] = []
    for contract in sorted(store.contracts(), key=lambda c: c.id):
        try:
            inputs = period_inputs(store, contract, period, tariffs=tariffs)
        except (MeterbillError, ValueError) as exc:
            work.append((contract.id, None, str(exc)))
            continue
        if inputs is not None:
            work.append((contract.id, inputs, None))
    unfinished = next((r for r in store.billing_runs(period=period) if r.status != "finished"), None)
    resumed = unfinished is not None and not fresh
    run_id = unfinished.id if resumed and unfinished else f"{period}-{now().strftime('%Y%m%dT%H%M%S%f')}"
    store.start_billing_run(run_id, period, len(work), now())
    already = {r.contract_id for r in store.invoices(period=period) if r.run_id == run_id} if resumed else set()
    outcomes: dict[str, SaveOutcome | str] = {}
    failures: list[ContractFailure] = []
    try:
        for done, (contract_id, inputs, problem) in enumerate(work, start=1):
            if contract_id in already:
                outcomes[contract_id] = "resumed"
            elif inputs is None:
                failures.append(ContractFailure(contract_id, problem or "unknown"))
            else:
                try:
                    draft = draft_for_contract(store, inputs, seller=seller, rate_csv=rate_csv)
                except (MeterbillError, ValueError) as exc:
                    log.warning("contract %s not billed: %s", contract_id, exc)
                    failures.append(ContractFailure(contract_id, str(exc)))
                else:
                    outcomes[contract_id] = store.save_draft(draft, run_id=run_id)
            store.record_run_progress(run_id, done=done, failed=len(failures))
            if progress is not None:
                progress(done, len(work), contract_id)
    except BaseException as exc:
        store.finish_billing_run(run_id, status="failed", failed=len(failures), finished_at=now(), error=repr(exc))
        raise
    summary = "; ".join(f"{f.contract_id}: {f.reason}" for f in failures[:5]) or None
    store.finish_billing_run(run_id, status="finished", failed=len(failures), finished_at=now(), error=summary)
    return RunResult(run_id, period, len(work), outcomes, tuple(failures), resumed)
