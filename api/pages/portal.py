"""The customer portal under ``/``: consumption, the projected bill, invoices explained, disputes,
tariff comparison, the data export and the live panel.

Every page reads through ``api.queries`` (the same read models as the JSON API) and shows only the
logged-in customer's objects: another customer's invoice, dispute or contract is the same 404 page
as one that does not exist, and drafts stay internal until issued.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from api import queries
from api.auth import Principal, check_csrf
from api.live import customer_device_ids
from api.pages.charts import stacked_bars
from api.pages.common import (
    add_months,
    contract_zone,
    dispute_context,
    invoice_numbers,
    page_guard,
    parse_month,
    store_of,
)
from api.pages.render import html, language_of, not_found_page
from api.routes import disputes as dispute_routes
from api.schemas import Consumption, DisputeCreate, DisputePublic, DisputeStep, InvoicePublic
from billing.ports import InvoiceRecord
from devices.model import Contract
from store.contract import Dispute, Store
from store.errors import DisputeClosedError, NotFoundError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_VISIBLE = ("issued", "credited")  # drafts and approved documents are internal until issued
_FLASH = {"opened": "flash.dispute_opened", "sent": "flash.message_sent"}
_MAX_MESSAGE = 4000
_CSV_COLUMNS = ("device_id", "ts", "value", "unit", "register", "kind", "quality", "received_at")


def _contracts(store: Store, me: Principal) -> list[Contract]:
    return sorted(store.contracts(customer_id=me.customer_id or ""), key=lambda c: c.id)


def _own_invoice(store: Store, me: Principal, invoice_id: str) -> InvoiceRecord | None:
    record = store.invoice(invoice_id)
    if record is None or record.customer_id != me.customer_id or record.status not in _VISIBLE:
        return None
    return record


def _own_invoices(store: Store, me: Principal) -> list[InvoicePublic]:
    records = [
        r for c in _contracts(store, me) for r in store.invoices(contract_id=c.id) if r.customer_id == me.customer_id
    ]
    visible = [queries.invoice_public(r) for r in records if r.status in _VISIBLE]
    return sorted(visible, key=lambda i: (i.issued_at or i.created_at, i.id), reverse=True)


def _own_dispute(store: Store, me: Principal, dispute_id: str) -> Dispute | None:
    found = store.dispute(dispute_id)
    if found is None or found.customer_id != me.customer_id:
        return None
    return found


def _dispute_view(store: Store, dispute: Dispute) -> DisputePublic:
    return queries.dispute_public(dispute)


def _refused(request: Request, me: Principal, text: str, *, back: str, status: int) -> Response:
    """The message page for a dispute form that was refused (invalid, or the dispute closed)."""
    t = language_of(request)
    context = {"title": t("dispute.title"), "text": text, "kind": "error", "back": back}
    return html(request, "message.html", context, me=me, status=status)


def _flash(request: Request, done: str | None) -> str | None:
    key = _FLASH.get(done or "")
    return language_of(request)(key) if key else None


@router.get("/")
def overview(request: Request, contract: str | None = None, month: str | None = None) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    contracts = _contracts(store, me)
    context: dict[str, Any] = {"active": "nav.overview", "contracts": contracts, "customer": None}
    context["customer"] = store.customer(me.customer_id or "")
    if not contracts:
        return html(request, "portal/overview.html", context, me=me)
    chosen = next((c for c in contracts if c.id == contract), None) if contract else contracts[0]
    if chosen is None:
        return not_found_page(request, me)
    zone = contract_zone(store, chosen)
    now_local = datetime.now(UTC).astimezone(zone)
    invoices = _own_invoices(store, me)
    year, mon = parse_month(month) or (now_local.year, now_local.month)
    usage = _month_usage(store, chosen, zone, year, mon)
    if month is None and not usage.items:
        # Nothing measured yet this month: show the last billed month rather than an empty chart.
        billed = next((i for i in invoices if i.contract_id == chosen.id and i.type_code == "380"), None)
        if billed is not None and (found := parse_month(billed.period)) is not None:
            year, mon = found
            usage = _month_usage(store, chosen, zone, year, mon)
    next_year, next_mon = add_months(year, mon, 1)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(next_year, next_mon, 1, tzinfo=zone)
    units = Counter(item.unit for item in usage.items)
    unit = units.most_common(1)[0][0] if units else ""
    items = [item for item in usage.items if item.unit == unit]
    chart = stacked_bars(items, unit=unit)
    month_total = sum(item.total for item in items)
    band_totals = []
    for band, css in chart.bands:
        value = (
            sum(item.bands.get(band, 0.0) for item in items)
            if band
            else sum(item.total - sum(item.bands.values()) for item in items)
        )
        band_totals.append((band, value, css))
    projected = queries.projected_bill(
        store,
        chosen.id,
        now_local.date(),
        rate_csv=request.app.state.rate_csv,
    )
    prev = add_months(year, mon, -1)
    is_future = (next_year, next_mon) > (now_local.year, now_local.month)
    query = urlencode(
        {
            "contract_id": chosen.id,
            "bucket": "day",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "tz": getattr(zone, "key", "UTC"),
        }
    )
    context.update(
        contract=chosen,
        month=f"{year:04d}-{mon:02d}",
        prev_month=f"{prev[0]:04d}-{prev[1]:02d}",
        next_month=None if is_future else f"{next_year:04d}-{next_mon:02d}",
        usage=usage.model_copy(update={"items": items, "unit": unit or None}),
        chart=chart,
        month_total=month_total,
        band_totals=band_totals,
        projected=projected,
        invoices=invoices,
        usage_json=f"/api/v1/consumption?{query}",
    )
    return html(request, "portal/overview.html", context, me=me)


def _month_usage(store: Store, contract: Contract, zone: tzinfo, year: int, month: int) -> Consumption:
    """Daily consumption of the contract's devices in a local calendar month (from the shared query)."""
    next_year, next_month = add_months(year, month, 1)
    return queries.consumption(
        store,
        device_ids=[d.device_id for d in contract.devices],
        bucket="day",
        start=datetime(year, month, 1, tzinfo=zone),
        end=datetime(next_year, next_month, 1, tzinfo=zone),
        tz=getattr(zone, "key", "UTC"),
    )


@router.get("/invoices")
def invoices(request: Request) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    return html(request, "portal/invoices.html", {"invoices": _own_invoices(store_of(request), me)}, me=me)


@router.get("/invoices/{invoice_id}")
def invoice(request: Request, invoice_id: str, done: str | None = None) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    record = _own_invoice(store, me, invoice_id)
    view = queries.invoice_view(store, invoice_id) if record is not None else None
    if record is None or view is None:
        return not_found_page(request, me)
    disputes = [_dispute_view(store, d) for d in store.disputes(invoice_id=invoice_id, customer_id=me.customer_id)]
    context = {
        "view": view,
        "tz": contract_zone(store, store.contract(record.contract_id)),
        "disputes": disputes,
        "dispute_action": f"/invoices/{invoice_id}/disputes" if record.type_code == "380" else None,
        "base": "/invoices",
        "dispute_base": "/disputes",
        "flash": _flash(request, done),
    }
    return html(request, "portal/invoice.html", context, me=me)


@router.post("/invoices/{invoice_id}/disputes", dependencies=[Depends(check_csrf)])
def open_dispute(
    request: Request,
    invoice_id: str,
    message: Annotated[str, Form()] = "",
    line_no: Annotated[str, Form()] = "",
) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    record = _own_invoice(store, me, invoice_id)
    if record is None:
        return not_found_page(request, me)
    t = language_of(request)
    lines = len(record.document.get("lines", []))
    try:
        number = int(line_no) if line_no.strip() else None
        if number is not None and not 1 <= number <= lines:
            raise ValueError(f"line {number} is not one of the invoice's {lines} lines")
        body = DisputeCreate(invoice_id=invoice_id, line_no=number, message=message.strip())
        opened = dispute_routes.open_dispute(body, me, store)
    except (ValueError, HTTPException):  # pydantic's ValidationError is a ValueError
        text = t("dispute.invalid", max=_MAX_MESSAGE, lines=lines)
        return _refused(request, me, text, back=f"/invoices/{invoice_id}", status=422)
    return RedirectResponse(f"/disputes/{opened.id}?done=opened", status_code=303)


@router.get("/disputes")
def disputes(request: Request) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    mine = [_dispute_view(store, d) for d in store.disputes(customer_id=me.customer_id or "")]
    mine.sort(key=lambda d: d.updated_at, reverse=True)
    numbers = invoice_numbers(store, [d.invoice_id for d in mine])
    contracts = _contracts(store, me)
    tz = contract_zone(store, contracts[0] if contracts else None)
    return html(request, "portal/disputes.html", {"disputes": mine, "numbers": numbers, "tz": tz}, me=me)


@router.get("/disputes/{dispute_id}")
def dispute(request: Request, dispute_id: str, done: str | None = None) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    found = _own_dispute(store, me, dispute_id)
    if found is None:
        return not_found_page(request, me)
    context = {
        **dispute_context(store, found, base=""),
        "age": None,
        "steps": ["message"],
        "step_action": f"/disputes/{dispute_id}/messages",
        "flash": _flash(request, done),
        "error": None,
    }
    return html(request, "portal/dispute.html", context, me=me)


@router.post("/disputes/{dispute_id}/messages", dependencies=[Depends(check_csrf)])
def dispute_message(request: Request, dispute_id: str, message: Annotated[str, Form()] = "") -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    if _own_dispute(store, me, dispute_id) is None:
        return not_found_page(request, me)
    t = language_of(request)
    back = f"/disputes/{dispute_id}"
    try:
        step = DisputeStep(kind="message", message=message.strip())
    except ValueError:
        return _refused(request, me, t("dispute.invalid_message", max=_MAX_MESSAGE), back=back, status=422)
    try:
        dispute_routes.add_step(dispute_id, step, me, store)
    except (DisputeClosedError, NotFoundError, HTTPException):
        return _refused(request, me, t("dispute.closed"), back=back, status=409)
    return RedirectResponse(f"{back}?done=sent", status_code=303)


@router.get("/compare")
def compare(request: Request, contract: str | None = None, tariff: str | None = None) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    contracts = _contracts(store, me)
    chosen = (next((c for c in contracts if c.id == contract), None) if contract else None) or (
        contracts[0] if contracts else None
    )
    if contract and (chosen is None or chosen.id != contract):
        return not_found_page(request, me)
    context: dict[str, Any] = {
        "contracts": contracts,
        "contract": chosen,
        "tariffs": store.tariff_ids(),
        "tariff": tariff,
        "result": None,
        "error": None,
        "bar_max": 0.0,
        "json_link": "",
    }
    if chosen is not None and tariff:
        result = queries.compare_tariffs(store, chosen.id, tariff, 12, rate_csv=request.app.state.rate_csv)
        if result is None:
            context["error"] = language_of(request)("compare.unknown", tariff=tariff)
        else:
            amounts = [float(v) for m in result.months for v in (m.current, m.candidate) if v is not None]
            context.update(
                result=result,
                bar_max=max(amounts, default=0.0),
                json_link=f"/api/v1/contracts/{chosen.id}/tariff-comparison?{urlencode({'tariff_id': tariff})}",
            )
    return html(request, "portal/compare.html", context, me=me)


@router.get("/export")
def export(request: Request) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    exports: list[tuple[str, str | None, str | None]] = [
        ("everything", "/export/everything.json", None),
        ("readings", "/export/readings.json", "/export/readings.csv"),
        ("invoices", "/api/v1/invoices", None),
        ("contracts", "/api/v1/contracts", None),
        ("devices", "/api/v1/devices", None),
        ("disputes", "/api/v1/disputes", None),
        ("customer", f"/api/v1/customers/{me.customer_id or ''}", None),
    ]
    return html(request, "portal/export.html", {"exports": exports}, me=me)


def _own_device_ids(store: Store, me: Principal) -> list[str]:
    """Every device that was ever on one of the customer's contracts (their data, whole)."""
    ids = [link.device_id for c in _contracts(store, me) for link in c.devices]
    return sorted(dict.fromkeys(ids))


def _reading_rows(store: Store, device_ids: list[str]) -> Iterator[dict[str, Any]]:
    for device_id in device_ids:  # one device at a time: memory stays bounded by one device's history
        for r in store.readings(device_ids=[device_id]):
            yield {
                "device_id": r.device_id,
                "ts": r.ts.astimezone(UTC).isoformat(),
                "value": r.value,
                "unit": r.unit,
                "register": r.register,
                "kind": r.kind,
                "quality": r.quality,
                "received_at": r.received_at.astimezone(UTC).isoformat(),
            }


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


@router.get("/export/readings.csv")
def export_readings_csv(request: Request) -> Response:
    """Every stored reading of the customer's devices; the first four columns are what ``meterbill rate`` reads."""
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    device_ids = _own_device_ids(store, me)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for row in _reading_rows(store, device_ids):
            writer.writerow([repr(row[c]) if c == "value" else row[c] for c in _CSV_COLUMNS])
            if out.tell() > 64 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=_attachment("readings.csv"))


@router.get("/export/readings.json")
def export_readings_json(request: Request) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    rows = list(_reading_rows(store, _own_device_ids(store, me)))
    return JSONResponse({"items": rows}, headers=_attachment("readings.json"))


@router.get("/export/everything.json")
def export_everything(request: Request) -> Response:
    """The customer's whole record in one file: profile, contracts, devices, invoices, disputes, readings."""
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    customer = store.customer(me.customer_id or "")
    contracts = _contracts(store, me)
    device_ids = _own_device_ids(store, me)
    devices = [d for d in (store.device(i) for i in device_ids) if d is not None]
    body = {
        "exported_at": datetime.now(UTC).isoformat(),
        "customer": None if customer is None else _plain(customer),
        "contracts": [_plain(c) for c in contracts],
        "devices": [
            {"id": d.id, "kind": d.kind, "serial": d.serial, "status": d.status, "registers": _plain(d.registers)}
            for d in devices
        ],
        "invoices": [queries.invoice_view(store, i.id) for i in _own_invoices(store, me)],
        "disputes": [_dispute_view(store, d) for d in store.disputes(customer_id=me.customer_id or "")],
        "readings": list(_reading_rows(store, device_ids)),
    }
    text = json.dumps(body, default=_json_default, ensure_ascii=False, indent=1)
    return Response(text, media_type="application/json", headers=_attachment("meterbill-export.json"))


def _plain(value: Any) -> Any:
    """Dataclasses as dicts (secrets never: devices are listed field by field above)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@router.get("/live")
def live(request: Request) -> Response:
    me = page_guard(request, staff=False)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    ids = customer_device_ids(store, me.customer_id or "", datetime.now(UTC))
    devices = [d for d in (store.device(i) for i in ids) if d is not None]
    return html(request, "portal/live.html", {"devices": devices}, me=me)
