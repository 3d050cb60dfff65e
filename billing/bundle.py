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
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.documents import from_data
from billing.einvoice import DailyUsage, PageExtras, to_cii, to_facturx, to_ubl
from billing.errors import BillingError
from billing.invoice import Invoice
from billing.ports import BillingSource, InvoiceRecord, InvoiceStore, TariffVersion
from billing.runs import DeviceWindow, gather_readings, tariff_json
from rating.tariff_file import tariff_from_dict

__all__ = ["BUNDLE_FILES", "bundle_files"]

BUNDLE_FILES = ("invoice.pdf", "invoice.cii.xml", "invoice.ubl.xml", "readings.csv", "tariff.json", "lines.json")


def _tariff_body(tv: TariffVersion, evidence: dict[str, object]) -> dict[str, object]:
    body: dict[str, object] = json.loads(tv.body, parse_float=Decimal)
    body["contract"] = {"start": evidence["contract_start"], "end": evidence["contract_end"]}
    gas = evidence.get("gas_conversion")
    if isinstance(gas, dict):
        body["gas_conversion"] = {k: Decimal(v) for k, v in gas.items()}
    return body


def _daily(csv_text: str, zone: ZoneInfo) -> tuple[DailyUsage, ...]:
    """Consumption per local day for the page's chart (one series: the readings carry no band)."""
    days: dict[date, Decimal] = defaultdict(Decimal)
    for row in csv_text.splitlines()[1:]:
        _, ts, value, unit = row.split(",")
        if not unit.startswith("event:"):
            days[datetime.fromisoformat(ts).astimezone(zone).date()] += Decimal(value)
    return tuple(DailyUsage(day, {"total": total.quantize(Decimal("0.001"))}) for day, total in sorted(days.items()))


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
    cutoff = evidence.get("received_through")
    readings = gather_readings(
        source, windows, received_through=datetime.fromisoformat(cutoff) if isinstance(cutoff, str) else None
    )
    if readings.sha256 != evidence["readings_sha256"]:
        raise BillingError(
            f"invoice {record.number}: the readings re-read now ({readings.count} rows) are not the"
            f" {evidence['readings_count']} billed (SHA-256 differs); the store lost or changed readings"
        )
    extras = PageExtras(
        daily_usage=_daily(readings.text, tariff.zone),
        chart_unit=next(iter(readings.usage), "kWh"),
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
