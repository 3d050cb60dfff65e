"""Read models over the store, shared by the JSON routes and the web pages.

Plain functions: a store (and what else they need) in, pydantic models of ``api.schemas`` out. No
authorisation here (the callers check who may see what), no HTTP. ``None`` means "no such object".

Consumption for hour, day and month buckets is read from hourly rollups (24 rows a day instead of
96 readings); the store groups them into local days or months and TOU bands (PostgreSQL in SQL, from
a compact band table), hours on a slot grid; 15-minute buckets come from the readings.
A TOU band split uses the tariff of the devices' contract: each hour takes the band of its start.
Projections and tariff comparisons are rated live by the engine through billing's own drafting,
so they match what an invoice would say for the same readings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from api.schemas import (
    Consumption,
    ConsumptionBucket,
    DisputeEventPublic,
    DisputePublic,
    DisputeQueueItem,
    GatewayPublic,
    IngestionHealth,
    InvoiceLineView,
    InvoicePublic,
    InvoiceView,
    MonthComparison,
    ProjectedBill,
    ReviewItem,
    TariffComparison,
)
from billing.lines import build_statement
from billing.ports import InvoiceRecord
from billing.readings_csv import rate_readings_csv
from billing.runs import (
    RateCsv,
    ReadingsCsv,
    gather_readings,
    parse_period,
    period_inputs,
    period_of,
    shift_period,
)
from devices.model import Contract
from meterbill.errors import MeterbillError
from store.contract import Dispute, GroupedConsumption, LocalGrouping, Store, group_rollup

__all__ = [
    "BucketName",
    "band_calendar",
    "compare_tariffs",
    "consumption",
    "dispute_public",
    "disputes_queue",
    "ingestion_health",
    "invoice_public",
    "invoice_view",
    "projected_bill",
    "review_queue",
]

log = logging.getLogger(__name__)

BucketName = Literal["15min", "hour", "day", "month"]
_FIXED_UNITS = frozenset({"DAY", "MON", "ANN", "C62"})  # standing charges: not proportional to consumption
_SLOT_S = 900  # the finest bucket [s]
_HOUR_S = 3600
_JUMP = 0.5  # +/-50 % against the previous period
_HIGH_ESTIMATED = 0.2  # more than a fifth of the quantity from estimated readings


# -- consumption ----------------------------------------------------------------------------
def band_calendar(store: Store, device_ids: Sequence[str], start: datetime, end: datetime) -> BandLookup | None:
    """The TOU bands of the tariff of the first device's contract over [start, end), when known."""
    for device_id in device_ids:
        contracts = store.contracts(device_id=device_id)
        if contracts:
            contract = max(contracts, key=lambda c: c.start_date)
            try:
                return BandLookup.build(store, contract, start, end)
            except (MeterbillError, ValueError, KeyError) as exc:
                log.info("no band split for contract %s: %s", contract.id, exc)
                return None
    return None


class BandLookup:
    """Band of each instant under a tariff's energy schedules (one per unit of quantity).

    Also kept in compact form for grouping in the database (:meth:`grouping`): each unit's band table
    ``[month, day type, slot of day]``, the tariff's zone and the public holidays of the covered days.
    """

    def __init__(
        self,
        label: str,
        t0_s: int,
        slot_s: int,
        names: dict[str, tuple[tuple[str, ...], Any]],
        *,
        zone: str = "UTC",
        tables: dict[str, list[int]] | None = None,
        holidays: tuple[date, ...] = (),
    ) -> None:
        self.label = label
        self.t0_s = t0_s
        self.slot_s = slot_s
        self.names = names  # unit -> (band names, band index per slot)
        self.zone = zone
        self.tables = tables or {}  # unit -> band_table(...) flattened (12 x 3 x slots of a day)
        self.holidays = holidays

    @classmethod
    def build(cls, store: Store, contract: Contract, start: datetime, end: datetime) -> BandLookup | None:
        from rating.engine import prepare_calendar
        from rating.schedule import band_table
        from rating.tariff_file import tariff_from_dict

        tv = store.tariff_version(contract.tariff_id, contract.tariff_version)
        if tv is None:
            return None
        tariff = tariff_from_dict(json.loads(tv.body, parse_float=Decimal), source=f"tariff {tv.tariff_id}")
        calendar = prepare_calendar(tariff, int(start.timestamp()), int(end.timestamp()))
        names: dict[str, tuple[tuple[str, ...], Any]] = {}
        tables: dict[str, list[int]] = {}
        for charge in tariff.energy_charges:
            if charge.unit not in names:
                band_names = tuple(b.name for b in charge.bands)
                names[charge.unit] = (band_names, calendar.bands(charge.schedule, band_names))
                tables[charge.unit] = band_table(charge.schedule, band_names, calendar.slot_s).ravel().tolist()
        holiday_days = np.unique(calendar.day[calendar.day_type == 2]).tolist()
        return cls(
            f"{tv.tariff_id}@{tv.version}",
            calendar.t0_s,
            calendar.slot_s,
            names,
            zone=tariff.zone.key,
            tables=tables,
            holidays=tuple(date(1970, 1, 1) + timedelta(days=d) for d in holiday_days),
        )

    @property
    def end_s(self) -> int:
        """First instant after the covered slots [s]."""
        return self.t0_s + self.slot_s * max((len(table) for _, table in self.names.values()), default=0)

    def grouping(self, tz: str, bucket: Literal["day", "month"]) -> LocalGrouping:
        """Local ``bucket`` keys in ``tz`` and the bands of the first unit, as :meth:`bands_of` gives them."""
        unit = next(iter(self.names), None)
        if unit is None or unit not in self.tables:
            return LocalGrouping(tz=tz, bucket=bucket)
        return LocalGrouping(
            tz=tz,
            bucket=bucket,
            band_tz=self.zone,
            band_unit=unit,
            slot_s=self.slot_s,
            bands=self.tables[unit],
            holidays=self.holidays,
            band_from=datetime.fromtimestamp(self.t0_s, UTC),
            band_to=datetime.fromtimestamp(self.end_s, UTC),
        )

    def bands_of(self, unit: str, epoch_s: npt.NDArray[np.int64]) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
        """Band names and each instant's band index (-1 where unknown)."""
        if unit not in self.names:
            return (), np.full(epoch_s.shape, -1, dtype=np.int64)
        names, table = self.names[unit]
        slot = (epoch_s - self.t0_s) // self.slot_s
        inside = (slot >= 0) & (slot < len(table))
        out = np.full(epoch_s.shape, -1, dtype=np.int64)
        out[inside] = np.asarray(table)[slot[inside]]
        return names, out


def _local_keys(epoch_s: npt.NDArray[np.int64], bucket: BucketName, zone: ZoneInfo) -> npt.NDArray[np.int64]:
    """Bucket key of each instant: the bucket's start [s] (15 min, hour), local day or month number."""
    from rating.calendar import build_calendar

    if bucket == "15min":
        return epoch_s - epoch_s % 900
    if bucket == "hour":
        return epoch_s - epoch_s % 3600
    calendar = build_calendar(zone, int(epoch_s.min()), int(epoch_s.max()), granularity_s=3600)
    day = np.asarray(calendar.day, dtype=np.int64)[(epoch_s - calendar.t0_s) // calendar.slot_s]
    if bucket == "day":
        return day
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01


def _key_start(key: int, bucket: BucketName, zone: ZoneInfo) -> datetime:
    if bucket in ("15min", "hour"):
        return datetime.fromtimestamp(key, UTC)
    first = date(1970, 1, 1) + timedelta(days=key) if bucket == "day" else date(1970 + key // 12, key % 12 + 1, 1)
    return datetime(first.year, first.month, first.day, tzinfo=zone)


def _bucket_end(begin: datetime, bucket: BucketName) -> datetime:
    if bucket == "15min":
        return begin + timedelta(minutes=15)
    if bucket == "hour":
        return begin + timedelta(hours=1)
    if bucket == "day":
        nxt = begin.date() + timedelta(days=1)
    else:
        nxt = date(begin.year + begin.month // 12, begin.month % 12 + 1, 1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=begin.tzinfo)


def consumption(
    store: Store,
    *,
    device_ids: Sequence[str],
    bucket: BucketName,
    start: datetime,
    end: datetime,
    tz: str = "UTC",
) -> Consumption:
    """Interval consumption of ``device_ids`` in [start, end) per bucket (local days and months in ``tz``).

    Day and month buckets, with their TOU band split, are grouped by the store from its hourly
    rollup (PostgreSQL: in SQL, so a year comes back as ~365 x bands rows instead of 8,760 hours);
    hour buckets are grouped on a slot grid; 15-minute buckets come from the readings themselves.
    """
    zone = ZoneInfo(tz)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    bands = band_calendar(store, device_ids, start, end) if device_ids else None
    if not device_ids:
        return _consumption_model([], bucket, tz, device_ids, start, end, bands)
    if bucket == "15min":
        return _fifteen_minutes(store, device_ids, start, end, tz, bands)
    names: tuple[str, ...] = ()
    band_unit = None
    if bands is not None and bands.names:
        band_unit = next(iter(bands.names))
        names = bands.names[band_unit][0]
    groups: list[GroupedConsumption]
    if bucket in ("day", "month"):
        # Each hour takes the local day/month and the band of its start, as on the grid below.
        local: Literal["day", "month"] = "day" if bucket == "day" else "month"
        grouping = bands.grouping(tz, local) if bands is not None else LocalGrouping(tz=tz, bucket=local)
        groups = store.local_consumption(grouping, device_ids=device_ids, start=start, end=end)
    else:
        # A grid of slots over the window: each slot's bucket key and band, summed by the store.
        # Hourly slots: the rollup is hourly, so each hour takes the band of its start.
        t0 = int(start.timestamp()) // _HOUR_S * _HOUR_S
        starts = t0 + _HOUR_S * np.arange(max(1, -(-(int(end.timestamp()) - t0) // _HOUR_S)), dtype=np.int64)
        keys = _local_keys(starts, bucket, zone)
        band_index = np.full(starts.shape, -1, dtype=np.int64)
        if band_unit is not None and bands is not None:
            names, band_index = bands.bands_of(band_unit, starts)
        groups = _group_hours(store, device_ids, start, end, t0, keys.tolist(), band_index.tolist())
    acc: dict[tuple[int, str], list[Any]] = {}
    for g in groups:
        entry = acc.setdefault((g.key, g.unit), [0.0, 0, 0, {}])
        entry[0] += g.total
        entry[1] += g.count
        entry[2] += g.estimated
        if g.band >= 0 and g.unit == band_unit and g.total != 0:
            entry[3][names[g.band]] = entry[3].get(names[g.band], 0.0) + g.total
    items = []
    for (key, unit), (total, count, estimated, split) in acc.items():
        begin = _key_start(key, bucket, zone)
        items.append(
            ConsumptionBucket(
                id=begin.isoformat(),
                start=begin,
                end=_bucket_end(begin, bucket),
                total=round(total, 6),
                unit=unit,
                count=count,
                estimated=estimated,
                bands={k: round(v, 6) for k, v in sorted(split.items())},
            )
        )
    return _consumption_model(items, bucket, tz, device_ids, start, end, bands)


def _group_hours(
    store: Store,
    device_ids: Sequence[str],
    start: datetime,
    end: datetime,
    t0_s: int,
    keys: Sequence[int],
    bands: Sequence[int],
) -> list[GroupedConsumption]:
    """The hourly rollup summed per (key, band, unit) of a grid of hours from ``t0_s`` (hours off it: left out)."""

    def locate(hour: datetime, unit: str) -> tuple[int, int] | None:
        slot = (int(hour.timestamp()) - t0_s) // _HOUR_S
        return (keys[slot], bands[slot]) if 0 <= slot < len(keys) else None

    hour0 = start.replace(minute=0, second=0, microsecond=0)
    return group_rollup(store.rollup("hour", start=hour0, end=end, device_ids=list(device_ids)), locate)


def _fifteen_minutes(
    store: Store, device_ids: Sequence[str], start: datetime, end: datetime, tz: str, bands: BandLookup | None
) -> Consumption:
    """15-minute buckets straight from the readings."""
    items = []
    for r in store.readings(device_ids=list(device_ids), start=start, end=end):
        if r.kind != "interval":
            continue
        epoch = int(r.ts.timestamp())
        begin = datetime.fromtimestamp(epoch - epoch % _SLOT_S, UTC)
        split: dict[str, float] = {}
        if bands is not None:
            names, index = bands.bands_of(r.unit, np.array([epoch], dtype=np.int64))
            if names and index[0] >= 0:
                split[names[int(index[0])]] = r.value
        items.append(
            ConsumptionBucket(
                id=begin.isoformat(),
                start=begin,
                end=begin + timedelta(seconds=_SLOT_S),
                total=r.value,
                unit=r.unit,
                count=1,
                estimated=int(r.quality == "estimated"),
                bands=split,
            )
        )
    merged: dict[tuple[datetime, str], ConsumptionBucket] = {}
    for item in items:  # several devices: one bucket per instant and unit
        seen = merged.get((item.start, item.unit))
        if seen is None:
            merged[(item.start, item.unit)] = item
            continue
        bands_sum = dict(seen.bands)
        for k, v in item.bands.items():
            bands_sum[k] = bands_sum.get(k, 0.0) + v
        merged[(item.start, item.unit)] = seen.model_copy(
            update={
                "total": seen.total + item.total,
                "count": seen.count + 1,
                "estimated": seen.estimated + item.estimated,
                "bands": bands_sum,
            }
        )
    return _consumption_model(list(merged.values()), "15min", tz, device_ids, start, end, bands)


def _consumption_model(
    items: list[ConsumptionBucket],
    bucket: BucketName,
    tz: str,
    device_ids: Sequence[str],
    start: datetime,
    end: datetime,
    bands: BandLookup | None,
) -> Consumption:
    items.sort(key=lambda i: (i.start, i.unit))
    units = {i.unit for i in items}
    return Consumption(
        bucket=bucket,
        tz=tz,
        device_ids=list(device_ids),
        start=start,
        end=end,
        unit=units.pop() if len(units) == 1 else None,
        tariff=bands.label if bands is not None else None,
        items=items,
    )


# -- invoices -------------------------------------------------------------------------------
def invoice_public(record: InvoiceRecord) -> InvoicePublic:
    return InvoicePublic(
        id=record.id,
        number=record.number,
        status=record.status,
        type_code=record.type_code,
        contract_id=record.contract_id,
        customer_id=record.customer_id,
        period=record.period,
        period_start=record.period_start,
        period_end=record.period_end,
        currency=record.currency,
        net_total=str(record.net_total),
        tax_total=str(record.tax_total),
        gross_total=str(record.gross_total),
        issue_date=record.issue_date,
        credited_invoice_id=record.credited_invoice_id,
        created_at=record.created_at,
        issued_at=record.issued_at,
    )


def _opt_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _explain(line: dict[str, Any], trace: dict[str, Any]) -> str:
    """The line in plain words: quantity x price, where the quantity comes from."""
    text = line.get("explanation") or ""
    parts = [f"{line.get('quantity')} {line.get('unit')} x {line.get('net_price')} = {line.get('net_amount')}"]
    if trace.get("band"):
        parts.append(f"band {trace['band']}")
    if trace.get("tier") is not None:
        parts.append(f"tier {trace['tier']}")
    count = int(trace.get("interval_count") or 0)
    if count:
        parts.append(f"from {count} readings")
        share = Decimal(str(trace.get("estimated_share") or 0))
        if share > 0:
            parts.append(f"{share * 100:.1f}% of it estimated")
    if trace.get("tariff_id"):
        parts.append(f"tariff {trace['tariff_id']} version {trace.get('tariff_version')}")
    summary = "; ".join(parts)
    return f"{text} ({summary})" if text else summary


def _line_view(n: int, line: dict[str, Any]) -> InvoiceLineView:
    trace = line.get("trace") or {}
    return InvoiceLineView(
        line_no=n,
        line_id=str(line.get("line_id", n)),
        code=str(line.get("code", "")),
        description=str(line.get("description", "")),
        quantity=str(line.get("quantity", "0")),
        unit=str(line.get("unit", "")),
        unit_price=str(line.get("net_price", "0")),
        amount=str(line.get("net_amount", "0")),
        vat_rate=str(line.get("vat_rate", "0")),
        tariff_id=trace.get("tariff_id"),
        tariff_version=trace.get("tariff_version"),
        band=trace.get("band"),
        tier=trace.get("tier"),
        readings_count=int(trace.get("interval_count") or 0),
        readings_first=_opt_time(trace.get("first_interval")),
        readings_last=_opt_time(trace.get("last_interval")),
        estimated_share=str(trace.get("estimated_share") or "0"),
        explanation=_explain(line, trace),
    )


def invoice_view(store: Store, invoice_id: str) -> InvoiceView | None:
    """An invoice with each line explained, its credit notes and (when issued) its downloads."""
    record = store.invoice(invoice_id)
    if record is None:
        return None
    lines = [_line_view(n, line) for n, line in enumerate(record.document.get("lines", []), start=1)]
    notes = [r.id for r in store.invoices(credited_invoice_id=record.id)]
    downloads = {}
    if record.status in ("issued", "credited"):
        base = f"/api/v1/invoices/{record.id}/download"
        downloads = {fmt: f"{base}/{fmt}" for fmt in ("pdf", "cii", "ubl", "readings")}
    return InvoiceView(**invoice_public(record).model_dump(), lines=lines, credit_notes=notes, downloads=downloads)


# -- live rating ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _LiveAmounts:
    net: Decimal
    gross: Decimal
    fixed: Decimal  # standing charges: they do not grow with consumption
    quantity: float  # what the metered lines count
    unit: str
    currency: str
    start: date
    end: date  # exclusive


def _live_amounts(
    store: Store, contract: Contract, period: str, rate_csv: RateCsv, readings: dict[Any, ReadingsCsv]
) -> _LiveAmounts | None:
    """``contract``'s ``period`` rated live (lines and VAT as its invoice would have them), or None.

    ``readings`` caches the gathered readings by device windows, so rating one period under two
    tariffs reads it once. No document is built: the statement carries the amounts.
    """
    inputs = period_inputs(store, contract, period, tariffs={})
    if inputs is None:
        return None
    key = (inputs.windows, inputs.exchanges)
    if key not in readings:
        readings[key] = gather_readings(store, inputs.windows, exchanges=inputs.exchanges)
    if readings[key].count == 0:
        return None
    statement = build_statement(rate_csv(inputs.tariff, readings[key].text))
    if len(statement.periods) != 1:
        return None
    rated = statement.periods[0]
    # consumption is what the energy/volume/distance lines count; excise and demand lines re-count or
    # measure something else, so they stay out of it
    metered = tuple(c.code for c in inputs.tariff.energy_charges)
    excise = {e.code for e in inputs.tariff.taxes.excise}
    fixed = sum((ln.amount for ln in rated.lines if ln.unit in _FIXED_UNITS), Decimal(0))
    counted = [
        ln
        for ln in rated.lines
        if ln.unit not in _FIXED_UNITS and ln.code.startswith(metered) and ln.code not in excise and ln.unit != "KWT"
    ]
    return _LiveAmounts(
        net=rated.net_total,
        gross=rated.gross_total,
        fixed=fixed,
        quantity=sum(float(ln.quantity) for ln in counted),
        unit=counted[0].unit if counted else "",
        currency=rated.currency,
        start=inputs.start,
        end=inputs.end,
    )


def projected_bill(
    store: Store,
    contract_id: str,
    today: date,
    *,
    rate_csv: RateCsv | None = None,
) -> ProjectedBill | None:
    """The current period rated live on the readings so far, and extrapolated to its end.

    Standing charges count in full; what depends on consumption grows with the days elapsed.
    """
    contract = store.contract(contract_id)
    if contract is None:
        return None
    period = period_of(today)
    year, month = parse_period(period)
    first = date(year, month, 1)
    last = date(*parse_period(shift_period(period, 1)), 1)
    try:
        got = _live_amounts(store, contract, period, rate_csv or rate_readings_csv, {})
    except (MeterbillError, ValueError) as exc:
        log.info("no live rating of contract %s for %s: %s", contract_id, period, exc)
        got = None
    if got is None:
        got = _LiveAmounts(Decimal(0), Decimal(0), Decimal(0), 0.0, "", "EUR", first, last)
    net, gross, fixed, quantity = got.net, got.gross, got.fixed, got.quantity
    unit, currency, start, end = got.unit, got.currency, got.start, got.end
    days_total = max((end - start).days, 1)
    days_elapsed = min(max((today - start).days + 1, 1), days_total)
    ratio = Decimal(days_total) / Decimal(days_elapsed)
    net_projected = (fixed + (net - fixed) * ratio).quantize(Decimal("0.01"))
    tax_rate = (gross / net) if net else Decimal(1)
    gross_projected = (net_projected * tax_rate).quantize(Decimal("0.01"))
    return ProjectedBill(
        contract_id=contract_id,
        period=period,
        period_start=start,
        period_end=end - timedelta(days=1),
        as_of=today,
        days_elapsed=days_elapsed,
        days_total=days_total,
        currency=currency,
        quantity_so_far=round(quantity, 6),
        quantity_projected=round(quantity * days_total / days_elapsed, 6),
        unit=unit,
        net_so_far=str(net),
        gross_so_far=str(gross),
        net_projected=str(net_projected),
        gross_projected=str(gross_projected),
    )


def compare_tariffs(
    store: Store,
    contract_id: str,
    tariff_id: str,
    months: int = 12,
    *,
    today: date | None = None,
    rate_csv: RateCsv | None = None,
) -> TariffComparison | None:
    """The last ``months`` complete months of the contract rated live under its tariff and ``tariff_id``.

    None when the contract or the candidate tariff is unknown.
    """
    contract = store.contract(contract_id)
    candidate_tv = store.tariff_version(tariff_id)
    if contract is None or candidate_tv is None:
        return None
    current_tv = store.tariff_version(contract.tariff_id, contract.tariff_version)
    candidate = replace(contract, tariff_id=tariff_id, tariff_version=candidate_tv.version)
    rater = rate_csv or rate_readings_csv
    period = period_of(today or datetime.now(UTC).date())
    rows: list[MonthComparison] = []
    totals = [Decimal(0), Decimal(0)]
    currency = ""
    for _ in range(max(1, min(months, 36))):
        period = shift_period(period, -1)
        amounts: list[Decimal | None] = []
        quantity = 0.0
        readings: dict[Any, ReadingsCsv] = {}  # the month's readings, read once for both tariffs
        for which in (contract, candidate):
            try:
                got = _live_amounts(store, which, period, rater, readings)
            except (MeterbillError, ValueError) as exc:
                log.debug("contract %s not ratable for %s: %s", contract_id, period, exc)
                got = None
            amounts.append(None if got is None else got.gross)
            if got is not None:
                quantity = quantity or got.quantity
                currency = currency or got.currency
        if amounts[0] is not None and amounts[1] is not None:
            totals[0] += amounts[0]
            totals[1] += amounts[1]
        rows.append(
            MonthComparison(
                period=period,
                quantity=round(quantity, 6),
                current=None if amounts[0] is None else str(amounts[0]),
                candidate=None if amounts[1] is None else str(amounts[1]),
            )
        )
    rows.reverse()
    current_label = f"{contract.tariff_id}@{current_tv.version}" if current_tv else contract.tariff_id
    return TariffComparison(
        contract_id=contract_id,
        current_tariff=current_label,
        candidate_tariff=f"{tariff_id}@{candidate_tv.version}",
        currency=currency or "EUR",
        months=rows,
        current_total=str(totals[0]),
        candidate_total=str(totals[1]),
        difference=str(totals[1] - totals[0]),
    )


# -- staff: review queue, disputes, ingestion -----------------------------------------------
def _usage(record: InvoiceRecord) -> tuple[float, float]:
    """(metered quantity, estimated share 0..1) of a document, from its lines' traces."""
    quantity = 0.0
    estimated = 0.0
    for line in record.document.get("lines", []):
        trace = line.get("trace") or {}
        if int(trace.get("interval_count") or 0) > 0:
            q = float(line.get("quantity", 0))
            quantity += q
            estimated += q * float(trace.get("estimated_share") or 0)
    return quantity, (estimated / quantity if quantity else 0.0)


def review_queue(store: Store, period: str) -> list[ReviewItem]:
    """Drafts and approved documents of ``period``, with the anomalies staff should look at first."""
    parse_period(period)
    previous = shift_period(period, -1)
    conflicts = store.conflicts(limit=10_000)
    items: list[ReviewItem] = []
    records = [r for r in store.invoices(period=period) if r.status in ("draft", "approved") and r.type_code == "380"]
    for record in records:
        quantity, share = _usage(record)
        before = next(
            (r for r in store.invoices(period=previous, contract_id=record.contract_id) if r.type_code == "380"), None
        )
        prev_quantity = _usage(before)[0] if before is not None else None
        change = (quantity - prev_quantity) / prev_quantity if prev_quantity else None
        contract = store.contract(record.contract_id)
        devices = {d.device_id for d in contract.devices} if contract else set()
        lo = datetime(record.period_start.year, record.period_start.month, record.period_start.day, tzinfo=UTC)
        hi = datetime(record.period_end.year, record.period_end.month, record.period_end.day, tzinfo=UTC) + timedelta(
            days=2
        )
        n_conflicts = sum(1 for c in conflicts if c.device_id in devices and lo - timedelta(days=1) <= c.ts < hi)
        n_dead = sum(len(store.dead_letters(limit=1000, device_id=d, pending_only=True)) for d in sorted(devices))
        flags = []
        if change is not None and change >= _JUMP:
            flags.append("consumption_jump")
        if change is not None and change <= -_JUMP:
            flags.append("consumption_drop")
        if share > _HIGH_ESTIMATED:
            flags.append("high_estimated")
        if n_conflicts:
            flags.append("conflicts")
        if n_dead:
            flags.append("dead_letters")
        items.append(
            ReviewItem(
                id=record.id,
                contract_id=record.contract_id,
                customer_id=record.customer_id,
                period=record.period,
                status=record.status,
                currency=record.currency,
                gross_total=str(record.gross_total),
                quantity=round(quantity, 6),
                previous_quantity=None if prev_quantity is None else round(prev_quantity, 6),
                change_pct=None if change is None else round(change * 100, 1),
                estimated_share=round(share, 4),
                conflicts=n_conflicts,
                dead_letters=n_dead,
                flags=flags,
            )
        )
    items.sort(key=lambda i: (-len(i.flags), i.id))
    return items


def dispute_public(dispute: Dispute, *, actor_names: Callable[[str], str] | None = None) -> DisputePublic:
    name = actor_names or (lambda actor_id: actor_id)
    return DisputePublic(
        id=dispute.id,
        invoice_id=dispute.invoice_id,
        line_no=dispute.line_no,
        customer_id=dispute.customer_id,
        status=dispute.status,
        opened_at=dispute.opened_at,
        updated_at=dispute.updated_at,
        closed_at=dispute.closed_at,
        events=[
            DisputeEventPublic(
                seq=e.seq,
                kind=e.kind,
                actor_role=e.actor_role,
                actor=name(e.actor_id) if e.actor_role == "customer" else e.actor_role,
                message=e.message,
                at=e.at,
                credit_note_id=e.credit_note_id,
            )
            for e in dispute.events
        ],
    )


def disputes_queue(store: Store, *, now: datetime | None = None) -> list[DisputeQueueItem]:
    """Disputes still open or answered, oldest first, with their ages [h]."""
    now = now or datetime.now(UTC)
    out = []
    for dispute in store.disputes():
        if dispute.status in ("resolved", "credited"):
            continue
        public = dispute_public(dispute)
        out.append(
            DisputeQueueItem(
                **public.model_dump(),
                age_hours=round((now - dispute.opened_at).total_seconds() / 3600, 2),
                waiting_hours=round((now - dispute.updated_at).total_seconds() / 3600, 2),
            )
        )
    return out


def ingestion_health(store: Store) -> IngestionHealth:
    """Gateways' heartbeats, dead letters and conflicts, and the newest reading stored."""
    stats = store.stats()
    return IngestionHealth(
        gateways=[
            GatewayPublic(
                id=g.client_id,
                host=g.host,
                pid=g.pid,
                started_at=g.started_at,
                last_seen_at=g.last_seen_at,
                connected=g.connected,
                counters=dict(g.counters),
            )
            for g in store.gateway_instances()
        ],
        dead_letters=stats.dead_letters,
        dead_letters_pending=len(store.dead_letters(limit=100_000, pending_only=True)),
        conflicts=stats.conflicts,
        readings=stats.readings,
        readings_exact=stats.readings_exact,
        latest_reading_at=store.latest_reading_at(),
    )
