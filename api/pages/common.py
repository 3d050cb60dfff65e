"""What the portal and the console share: who is asking, time zones, periods, and the page guard.

A page handler starts with :func:`page_guard`: it answers with the principal, or with the response
to send instead (the login page for nobody, the right home for the wrong audience). Handlers are
plain functions (FastAPI runs them in its thread pool), since every store call blocks.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api import queries
from api.auth import Principal, page_principal
from api.pages.render import login_redirect
from billing.runs import period_of
from devices.model import Contract
from store.contract import Dispute, Store

__all__ = [
    "Guarded",
    "add_months",
    "contract_zone",
    "current_period",
    "dispute_context",
    "invoice_numbers",
    "page_guard",
    "parse_month",
    "store_of",
]

Guarded = Principal | Response


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def page_guard(request: Request, *, staff: bool) -> Guarded:
    """The logged-in principal of the right audience, or the response to send instead.

    Nobody: to the login page (and back here after). Staff on a portal page go to the console,
    customers on a console page get the portal: a customer never sees that the console exists.
    """
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    if staff and not me.is_staff:
        return RedirectResponse("/", status_code=303)
    if not staff and me.is_staff:
        return RedirectResponse("/staff/", status_code=303)
    return me


def contract_zone(store: Store, contract: Contract | None) -> tzinfo:
    """The time zone of the contract's tariff (its clock: days, bands and periods), UTC when unknown."""
    if contract is None:
        return UTC
    version = store.tariff_version(contract.tariff_id, contract.tariff_version)
    if version is None:
        return UTC
    try:
        return ZoneInfo(str(json.loads(version.body).get("timezone") or "UTC"))
    except (ValueError, ZoneInfoNotFoundError):
        return UTC


def invoice_numbers(store: Store, invoice_ids: list[str]) -> dict[str, str]:
    """Invoice id -> its number (or the id while it has none), for links that people read."""
    numbers = {}
    for invoice_id in dict.fromkeys(invoice_ids):
        record = store.invoice(invoice_id)
        numbers[invoice_id] = (record.number if record else None) or invoice_id
    return numbers


def dispute_context(store: Store, dispute: Dispute, *, base: str) -> dict[str, Any]:
    """What a dispute page (``portal/dispute.html``) shows of the dispute and its invoice, links under ``base``.

    The disputed line is None when the dispute is about the whole invoice (or the line is gone).
    """
    record = store.invoice(dispute.invoice_id)
    view = queries.invoice_view(store, dispute.invoice_id)
    line_no = dispute.line_no
    return {
        "dispute": queries.dispute_public(dispute),
        "tz": contract_zone(store, store.contract(record.contract_id) if record else None),
        "back": f"{base}/disputes",
        "invoice_href": f"{base}/invoices/{dispute.invoice_id}",
        "invoice_label": (record.number if record else None) or dispute.invoice_id,
        "line": view.lines[line_no - 1] if view and line_no and line_no <= len(view.lines) else None,
    }


def current_period(today: date | None = None) -> str:
    return period_of(today or datetime.now(UTC).date())


def parse_month(text: str | None) -> tuple[int, int] | None:
    """``2026-01`` -> (2026, 1); None when absent or malformed (the page then shows its default)."""
    if not text or len(text) != 7 or text[4] != "-":
        return None
    year, month = text[:4], text[5:]
    if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12 and 2000 <= int(year) <= 2100):
        return None
    return int(year), int(month)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1
