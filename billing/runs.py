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
4. saves it as the draft ``{contract}-{period}``, replacing an earlier draft, never an issued one
   (once that invoice is fully credited, the next draft is ``{contract}-{period}-2``, referencing it).

Everything in a draft follows from the inputs: no clock, no random id, so a re-run gives
byte-identical drafts. The evidence records the tariff version, the device windows, the meter
exchanges within them and the newest ``received_at`` among the readings, trips and events used:
they are immutable and deduplicated, so those received by then reproduce the CSV exactly later
(:func:`gather_readings`), and its SHA-256 proves it. A crash leaves the run ``running`` or
``failed``; the next run of the period resumes it and skips the contracts it already drafted.
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
from billing.invoice import PrecedingInvoice, SellerSettings
from billing.issue import DRAFT_NUMBER, fully_credited, totals_of
from billing.lines import build_statement, statement_json
from billing.money import quantity_decimal
from billing.ports import BillingSource, DraftInvoice, InvoiceRecord, InvoiceStore, SaveOutcome, TariffVersion
from devices.intervals import contract_intervals, to_intervals
from devices.model import Contract, ContractDevice, Device, MeterExchangeRecord
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
    "credited_predecessor",
    "draft_for_contract",
    "draft_id",
    "exchange_data",
    "exchange_from_data",
    "gather_readings",
    "parse_period",
    "period_inputs",
    "period_of",
    "run_billing",
    "shift_period",
    "tariff_json",
]

log = logging.getLogger(__name__)

RateCsv = Callable[[Tariff, str], Rating]  # (tariff, readings CSV text) -> rating, as `meterbill rate` rates
Progress = Callable[[int, int, str], None]  # (done, total, contract id)

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CLOSING_LOOK_AHEAD = timedelta(days=31)
_ESTIMATED_PLACES = 4
_PROGRESS_EVERY = 20  # contracts between two writes of the run's progress record


def parse_period(period: str) -> tuple[int, int]:
    """``"2026-01"`` -> (2026, 1); BillingError naming the expected form otherwise."""
    match = _PERIOD.match(period)
    if match is None:
        raise BillingError(f"billing period {period!r} must be YYYY-MM, e.g. 2026-01")
    return int(match[1]), int(match[2])


def period_of(day: date) -> str:
    """The billing period ``YYYY-MM`` that ``day`` falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def shift_period(period: str, months: int) -> str:
    """``period`` moved by ``months`` (negative: back), e.g. ``shift_period("2026-01", -1) == "2025-12"``."""
    year, month = parse_period(period)
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


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
    exchanges: tuple[MeterExchangeRecord, ...] = ()  # meter exchanges within the windows, oldest first

    def evidence(self) -> dict[str, Any]:
        data = {
            "tariff_id": self.tariff_version.tariff_id,
            "tariff_version": self.tariff_version.version,
            "contract_start": self.start.isoformat(),
            "contract_end": self.end.isoformat(),
            "gas_conversion": _gas_data(self.contract),
            "devices": [w.as_data() for w in self.windows],
        }
        if self.exchanges:  # only then: evidence of periods without an exchange keeps its shape
            data["meter_exchanges"] = [exchange_data(x) for x in self.exchanges]
        return data


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
    exchanges: tuple[MeterExchangeRecord, ...] = ()
    if len(windows) > 1:  # an exchange closes one device and opens another: only then can there be one
        exchanges = tuple(x for x in source.meter_exchanges(contract.id) if lo < x.at < hi)
    return PeriodInputs(contract, period, tv, tariff, body, start, end, tuple(windows), exchanges)


@dataclass(frozen=True)
class ReadingsCsv:
    """The ``meterbill rate`` CSV behind a period, with what the traces need."""

    text: str
    count: int
    sha256: str
    received_through: datetime | None
    usage: dict[str, UnitUsage]
    rows: tuple[tuple[str, datetime, float, str, bool], ...] = ()  # (device, ts, value, unit, estimated), as written


@dataclass
class _Usage:
    first: datetime | None = None
    last: datetime | None = None
    count: int = 0
    total: float = 0.0
    estimated: float = 0.0
    devices: dict[str, datetime] = field(default_factory=dict)  # device -> its first interval

    def add(self, device_id: str, ts: datetime, value: float, estimated: bool) -> None:
        if device_id not in self.devices or ts < self.devices[device_id]:
            self.devices[device_id] = ts
        self.first = ts if self.first is None or ts < self.first else self.first
        self.last = ts if self.last is None or ts > self.last else self.last
        self.count += 1
        self.total += value
        self.estimated += value if estimated else 0.0


def _in_time(received_at: datetime | None, cutoff: datetime | None) -> bool:
    """Whether a trip or event received at ``received_at`` was there at the cut-off (a trip stored
    before trips carried ``received_at`` counts as there)."""
    return cutoff is None or received_at is None or received_at <= cutoff


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


def _bridged_rows(
    source: BillingSource,
    windows: Sequence[DeviceWindow],
    exchanges: Sequence[MeterExchangeRecord],
    cutoff: datetime | None,
) -> tuple[list[tuple[str, datetime, float, str, bool]], datetime | None]:
    """(device, ts, value, unit, estimated) of one register read by successive meters, and the newest receipt.

    Interval readings count as each meter measured them within its window. Index readings are one
    series across the exchanges (:func:`devices.intervals.contract_intervals`): the old meter up to
    its final index, the new one from its first index, so the interval that spans an exchange keeps
    both meters' parts; it belongs to the meter whose reading ends it.
    """
    ordered = sorted(windows, key=lambda x: x.start)
    register = ordered[0].register
    rows: list[tuple[str, datetime, float, str, bool]] = []
    indexes: list[Reading] = []
    newest: datetime | None = None
    for w in ordered:
        got = [
            r
            for r in _received(source.readings(device_ids=[w.device_id], start=w.start, end=w.end), cutoff)
            if r.register == register
        ]
        newest = max([r.received_at for r in got] + ([newest] if newest else []), default=None)
        rows += [(w.device_id, r.ts, r.value, r.unit, r.quality == "estimated") for r in got if r.kind == "interval"]
        indexes += [r for r in got if r.kind == "cumulative"]
    if indexes:
        last = ordered[-1]
        ahead = _received(
            source.readings(device_ids=[last.device_id], start=last.end, end=last.end + _CLOSING_LOOK_AHEAD), cutoff
        )
        closing = next((r for r in ahead if r.register == register and r.kind == "cumulative"), None)
        if closing is not None:
            indexes.append(closing)
            newest = max(newest or closing.received_at, closing.received_at)
        devices = [ContractDevice(w.device_id, w.start, None if w is last else w.end) for w in ordered]
        maxima: dict[str, float | None] = {}
        for w in ordered:
            device = source.device(w.device_id)
            found = device.register(register) if device is not None else None
            maxima[w.device_id] = found.maximum if found is not None else None
        for i in contract_intervals(
            indexes, register=register, devices=devices, exchanges=exchanges, register_max=maxima
        ):
            rows.append((i.device_id, i.start, i.consumption, i.unit, i.quality == "estimated"))
    return rows, newest


def _exchange_groups(
    windows: Sequence[DeviceWindow], exchanges: Sequence[MeterExchangeRecord]
) -> list[list[DeviceWindow]]:
    """The meter windows joined by an exchange of their register (one group per register exchanged)."""
    joined: dict[str, set[str]] = {}
    for x in exchanges:
        joined.setdefault(x.register, set()).update((x.old_device_id, x.new_device_id))
    groups: dict[str, list[DeviceWindow]] = {}
    for w in windows:
        if w.kind != "vehicle" and w.device_id in joined.get(w.register, set()):
            groups.setdefault(w.register, []).append(w)
    return [g for g in groups.values() if len(g) > 1]


def exchange_data(x: MeterExchangeRecord) -> dict[str, Any]:
    """A meter exchange as evidence data (floats as their shortest repr, read back exactly)."""
    return {
        "at": x.at.isoformat(),
        "register": x.register,
        "old_device_id": x.old_device_id,
        "old_final_index": repr(x.old_final_index),
        "new_device_id": x.new_device_id,
        "new_first_index": repr(x.new_first_index),
    }


def exchange_from_data(contract_id: str, data: Mapping[str, str]) -> MeterExchangeRecord:
    return MeterExchangeRecord(
        contract_id,
        datetime.fromisoformat(data["at"]),
        data["register"],
        data["old_device_id"],
        float(data["old_final_index"]),
        data["new_device_id"],
        float(data["new_first_index"]),
    )


def gather_readings(
    source: BillingSource,
    windows: Sequence[DeviceWindow],
    *,
    received_through: datetime | None = None,
    exchanges: Sequence[MeterExchangeRecord] = (),
) -> ReadingsCsv:
    """The CSV of the windows' readings (those received by ``received_through`` when given).

    ``exchanges``: the meter exchanges within the windows; the meters they join are read as one
    series (:func:`_bridged_rows`), every row still under the id of the meter that measured it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("device_id", "ts", "value", "unit"))
    usage: dict[str, _Usage] = {}
    newest: datetime | None = None
    count = 0
    written: list[tuple[str, datetime, float, str, bool]] = []
    groups = _exchange_groups(windows, exchanges)
    grouped = {id(w): g for g in groups for w in g}
    for w in sorted(windows, key=lambda x: (x.device_id, x.start)):
        rows: list[tuple[str, datetime, float, str, bool]]
        received: datetime | None
        if id(w) in grouped:
            group = grouped[id(w)]
            if w is not min(group, key=lambda x: (x.device_id, x.start)):
                continue  # the group is written once, where its first window sorts
            rows, received = _bridged_rows(source, group, exchanges, received_through)
        elif w.kind == "vehicle":
            trips = [
                t
                for t in source.trips(device_ids=[w.device_id])
                if w.start <= t.start < w.end and _in_time(t.received_at, received_through)
            ]
            rows = [(w.device_id, t.start, t.distance_km, "km", False) for t in trips]
            events = [
                e
                for e in source.events(device_ids=[w.device_id])
                if w.start <= e.ts < w.end and _in_time(e.received_at, received_through)
            ]
            rows += [(w.device_id, e.ts, 1.0, f"event:{e.type}", False) for e in events]
            stamps = [t.received_at for t in trips] + [e.received_at for e in events]
            received = max((at for at in stamps if at is not None), default=None)
        else:
            meter, received = _meter_rows(source, source.device(w.device_id), w, received_through)
            rows = [(w.device_id, *row) for row in meter]
        if received is not None:
            newest = received if newest is None else max(newest, received)
        rows.sort(key=lambda r: (r[3], r[1]))
        written += rows
        for device_id, ts, value, unit, estimated in rows:
            writer.writerow((device_id, ts.astimezone(UTC).isoformat(), repr(float(value)), unit))
            count += 1
            if not unit.startswith("event:"):
                usage.setdefault(unit, _Usage()).add(device_id, ts, value, estimated)
    text = buffer.getvalue()
    summary = {
        unit: UnitUsage(
            u.first,
            u.last,
            u.count,
            quantity_decimal(u.estimated / u.total if u.total > 0 else 0.0, _ESTIMATED_PLACES),
            tuple(sorted(u.devices, key=lambda d: (u.devices[d], d))),
        )
        for unit, u in usage.items()
        if u.first is not None and u.last is not None
    }
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ReadingsCsv(text, count, digest, newest, summary, tuple(written))


def draft_for_contract(
    source: BillingSource,
    inputs: PeriodInputs,
    *,
    seller: SellerSettings,
    rate_csv: RateCsv,
    replaces: InvoiceRecord | None = None,
) -> DraftInvoice:
    """The draft invoice of one contract's period (deterministic: same inputs, same bytes).

    ``replaces``: the period's invoice, fully credited, that this one follows: the draft gets the
    next id (``{contract}-{period}-2``, ``-3``...) and references it (BG-3: BT-25 number, BT-26 date).
    """
    contract = inputs.contract
    customer = source.customer(contract.customer_id)
    if customer is None:
        raise BillingError(f"contract {contract.id}: customer {contract.customer_id} is not registered")
    readings = gather_readings(source, inputs.windows, exchanges=inputs.exchanges)
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
        preceding=_preceding(replaces),
    )
    net, tax, gross = totals_of(invoice)
    evidence = {
        **inputs.evidence(),
        "received_through": None if readings.received_through is None else readings.received_through.isoformat(),
        "readings_count": readings.count,
        "readings_sha256": readings.sha256,
        "statement": statement_json(statement),
    }
    if replaces is not None:
        evidence["replaces"] = replaces.number
    return DraftInvoice(
        id=draft_id(contract.id, inputs.period, replaces),
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


def draft_id(contract_id: str, period: str, replaces: InvoiceRecord | None = None) -> str:
    """``{contract}-{period}``, or the id after the fully credited invoice ``replaces`` (``...-2``, ``-3``)."""
    base = f"{contract_id}-{period}"
    if replaces is None:
        return base
    n = 1 if replaces.id == base else int(replaces.id.rsplit("-", 1)[1])
    return f"{base}-{n + 1}"


def _preceding(record: InvoiceRecord | None) -> PrecedingInvoice | None:
    if record is None:
        return None
    if record.number is None or record.issue_date is None:
        raise BillingError(f"invoice {record.id} is not issued: a new invoice cannot reference it")
    return PrecedingInvoice(record.number, record.issue_date)


def credited_predecessor(
    contract_id: str,
    period: str,
    credited: Mapping[str, InvoiceRecord],
    credit_notes: Mapping[str, Sequence[InvoiceRecord]],
) -> InvoiceRecord | None:
    """The last fully credited invoice of the contract's period, which a new draft must follow.

    ``credited``: the period's credited invoices by id; ``credit_notes``: their credit notes by the
    id of the invoice they credit. None while the period's invoice stands (or is still a draft). A
    partly credited invoice still stands for what was not credited: the period is not billed again.
    """
    found: InvoiceRecord | None = None
    current = credited.get(draft_id(contract_id, period))
    while current is not None and fully_credited(current, credit_notes.get(current.id, ())):
        found = current
        current = credited.get(draft_id(contract_id, period, found))
    return found


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


def _work(source: BillingSource, period: str) -> list[tuple[str, PeriodInputs | None, str | None]]:
    """(contract, its inputs or None, why not) for every contract active in ``period``, by contract id."""
    parse_period(period)
    tariffs: dict[tuple[str, int | None], TariffVersion] = {}
    work: list[tuple[str, PeriodInputs | None, str | None]] = []
    for contract in sorted(source.contracts(), key=lambda c: c.id):
        try:
            inputs = period_inputs(source, contract, period, tariffs=tariffs)
        except (MeterbillError, ValueError) as exc:
            work.append((contract.id, None, str(exc)))
            continue
        if inputs is not None:
            work.append((contract.id, inputs, None))
    return work


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
    work = _work(store, period)
    unfinished = next((r for r in store.billing_runs(period=period) if r.status != "finished"), None)
    resumed = unfinished is not None and not fresh
    run_id = unfinished.id if resumed and unfinished else f"{period}-{now().strftime('%Y%m%dT%H%M%S%f')}"
    store.start_billing_run(run_id, period, len(work), now())
    already = (
        {r.contract_id for r in store.invoices(period=period) if r.run_id == run_id and r.type_code == "380"}
        if resumed
        else set()
    )
    credited = {r.id: r for r in store.invoices(period=period, status="credited")}
    notes = {i: store.invoices(credited_invoice_id=i) for i in credited}

    def predecessor(contract_id: str) -> InvoiceRecord | None:
        return credited_predecessor(contract_id, period, credited, notes)

    outcomes: dict[str, SaveOutcome | str] = {}
    failures: list[ContractFailure] = []
    finished = 0
    try:
        for done, (contract_id, inputs, problem) in enumerate(work, start=1):
            if contract_id in already:
                outcomes[contract_id] = "resumed"
            elif inputs is None:
                failures.append(ContractFailure(contract_id, problem or "unknown"))
            else:
                try:
                    draft = draft_for_contract(
                        store, inputs, seller=seller, rate_csv=rate_csv, replaces=predecessor(contract_id)
                    )
                except (MeterbillError, ValueError) as exc:
                    log.warning("contract %s not billed: %s", contract_id, exc)
                    failures.append(ContractFailure(contract_id, str(exc)))
                else:
                    outcomes[contract_id] = store.save_draft(draft, run_id=run_id)
            finished = done
            if done % _PROGRESS_EVERY == 0 or done == len(work):  # a row write per contract would cost 10%
                store.record_run_progress(run_id, done=done, failed=len(failures))
            if progress is not None:
                progress(done, len(work), contract_id)
    except BaseException as exc:
        store.record_run_progress(run_id, done=finished, failed=len(failures))
        store.finish_billing_run(run_id, status="failed", failed=len(failures), finished_at=now(), error=repr(exc))
        raise
    summary = "; ".join(f"{f.contract_id}: {f.reason}" for f in failures[:5]) or None
    store.finish_billing_run(run_id, status="finished", failed=len(failures), finished_at=now(), error=summary)
    return RunResult(run_id, period, len(work), outcomes, tuple(failures), resumed)
