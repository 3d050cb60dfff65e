"""The evidence bundle: everything behind an issued document, as files a customer can check.

``invoice.pdf`` (Factur-X: the readable page with the CII inside), ``invoice.cii.xml``,
``invoice.ubl.xml``, ``readings.csv`` (the ``meterbill rate`` input: the readings of the invoice's
devices in its period, received by the cut-off recorded at billing time), ``tariff.json`` (the
tariff version used, with the contract dates of the period fixed in it) and ``lines.json`` (the
``meterbill rate --format json`` statement the invoice was made from). Inside the bundle,
``meterbill rate --tariff tariff.json --readings readings.csv --format json`` prints lines.json.

The readings are re-read, not stored twice; their SHA-256 recorded at billing time proves the
re-read CSV is the one billed, and a mismatch is an error naming the invoice. A credit note's
bundle carries its own documents and the evidence of the invoice it credits.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np

from billing.documents import from_data
from billing.einvoice import DailyUsage, PageExtras, to_cii, to_facturx, to_ubl
from billing.errors import BillingError
from billing.invoice import Invoice
from billing.ports import BillingSource, InvoiceRecord, InvoiceStore, TariffVersion
from billing.runs import DeviceWindow, ReadingsCsv, exchange_from_data, gather_readings, tariff_json
from rating.engine import prepare_calendar
from rating.tariff import Tariff
from rating.tariff_file import tariff_from_dict

__all__ = ["BUNDLE_FILES", "bundle_files", "daily_usage"]

BUNDLE_FILES = ("invoice.pdf", "invoice.cii.xml", "invoice.ubl.xml", "readings.csv", "tariff.json", "lines.json")


def _tariff_body(tv: TariffVersion, evidence: dict[str, object]) -> dict[str, object]:
    body: dict[str, object] = json.loads(tv.body, parse_float=Decimal)
    body["contract"] = {"start": evidence["contract_start"], "end": evidence["contract_end"]}
    gas = evidence.get("gas_conversion")
    if isinstance(gas, dict):
        body["gas_conversion"] = {k: Decimal(v) for k, v in gas.items()}
    return body


def daily_usage(readings: ReadingsCsv, tariff: Tariff) -> tuple[tuple[DailyUsage, ...], dict[str, str], str]:
    """The page chart's data: consumption per local day and per band [unit], band labels, the unit.

    The chart shows the main metered unit (the first in the readings). Each interval counts in the
    band of the tariff's time-of-use schedule at its start, the way the rating kernels place it, so
    the bars of a band add up to that band's line (up to intervals that straddle a band change).
    A day with an estimated reading is marked. A flat tariff gives one band per day.
    """
    unit = next(iter(readings.usage), None)
    rows = [r for r in readings.rows if r[3] == unit]
    if unit is None or not rows:
        return (), {}, unit or "kWh"
    starts = np.asarray([int(r[1].timestamp()) for r in rows], dtype=np.int64)
    calendar = prepare_calendar(tariff, int(starts.min()), int(starts.max()))
    slots = (starts - calendar.t0_s) // calendar.slot_s
    charge = next((c for c in tariff.energy_charges if c.unit == unit), None)
    names: tuple[str, ...] = ("total",)
    band_of = np.zeros(len(rows), dtype=np.int64)
    labels: dict[str, str] = {}
    if charge is not None and len(charge.bands) > 1:
        names = tuple(b.name for b in charge.bands)
        band_of = calendar.bands(charge.schedule, names)[slots].astype(np.int64)
        labels = {b.name: b.description or b.name for b in charge.bands}
    epoch = date(1970, 1, 1)
    days: dict[date, dict[str, Decimal]] = {}
    estimated: set[date] = set()
    for row, slot, band in zip(rows, slots, band_of, strict=True):
        day = epoch + timedelta(days=int(calendar.day[slot]))
        bucket = days.setdefault(day, {})
        bucket[names[band]] = bucket.get(names[band], Decimal(0)) + Decimal(repr(float(row[2])))
        if row[4]:
            estimated.add(day)
    ordered = [n for n in names if any(n in b for b in days.values())]
    usage = tuple(
        DailyUsage(
            day,
            {n: bucket.get(n, Decimal(0)).quantize(Decimal("0.001")) for n in ordered},
            estimated=day in estimated,
        )
        for day, bucket in sorted(days.items())
    )
    return usage, labels, unit


def bundle_files(source: BillingSource, book: InvoiceStore, record: InvoiceRecord) -> dict[str, bytes]:
    """The bundle of an issued document: file name -> content."""
    if record.status not in ("issued", "credited") or record.number is None:
        raise BillingError(f"invoice {record.id} is {record.status}: bundles are made for issued documents only")
    invoice = from_data(Invoice, record.document)
    billed = record
    if record.credited_invoice_id is not None:
        credited = book.invoice(record.credited_invoice_id)
        if credited is None:
            raise BillingError(f"credit note {record.number}: the invoice it credits is missing")
        billed = credited
    evidence = dict(billed.evidence)
    tv = source.tariff_version(str(evidence["tariff_id"]), int(evidence["tariff_version"]))
    if tv is None:
        missing = f"tariff {evidence['tariff_id']} v{evidence['tariff_version']}"
        raise BillingError(f"invoice {record.number}: {missing} is no longer stored")
    body = _tariff_body(tv, evidence)
    tariff = tariff_from_dict(body, source=f"tariff {tv.tariff_id} v{tv.version}")
    windows = [DeviceWindow.from_data(w) for w in evidence["devices"]]
    exchanges = [exchange_from_data(billed.contract_id, x) for x in evidence.get("meter_exchanges", [])]
    cutoff = evidence.get("received_through")
    readings = gather_readings(
        source,
        windows,
        received_through=datetime.fromisoformat(cutoff) if isinstance(cutoff, str) else None,
        exchanges=exchanges,
    )
    if readings.sha256 != evidence["readings_sha256"]:
        raise BillingError(
            f"invoice {record.number}: the readings re-read now ({readings.count} rows) are not the"
            f" {evidence['readings_count']} billed (SHA-256 differs); the store lost or changed readings"
        )
    daily, labels, unit = daily_usage(readings, tariff)
    extras = PageExtras(
        daily_usage=daily,
        band_labels=labels,
        chart_unit=unit,
        tariff_in_words=(f"{tariff.name or tariff.id} (version {tv.version}, {tariff.version})",),
    )
    return {
        "invoice.pdf": to_facturx(invoice, extras),
        "invoice.cii.xml": to_cii(invoice),
        "invoice.ubl.xml": to_ubl(invoice),
        "readings.csv": readings.text.encode("utf-8"),
        "tariff.json": tariff_json(body).encode("utf-8"),
        "lines.json": (json.dumps(evidence["statement"], indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    }
