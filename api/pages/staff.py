"""The staff console under ``/staff/``: billing runs, the review queue, invoice actions, disputes, ingestion.

Reads go through ``api.queries``; actions call the JSON API's own handlers (``api.routes``), so a
button and ``POST /api/v1/...`` do exactly the same thing. Roles follow the API: billing (and admin)
run billing, approve, issue and credit; support answers disputes; auditors read only. Every action
is a form post with a CSRF token that answers with a redirect (post/redirect/get), so reloading
never repeats it; a refusal re-renders the page with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api import queries
from api.auth import Principal, check_csrf
from api.i18n import Translator
from api.pages.common import (
    contract_zone,
    current_period,
    dispute_context,
    invoice_numbers,
    page_guard,
    parse_month,
    store_of,
)
from api.pages.render import html, language_of, not_found_page, safe_next
from api.routes import billing as billing_routes
from api.routes import disputes as dispute_routes
from api.schemas import BillingRunCreate, CreditRequest, DisputeStep
from billing.ports import InvoiceRecord
from billing.runs import shift_period
from meterbill.errors import MeterbillError
from store.contract import Store

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)

BILLING_ROLES = frozenset({"admin", "billing"})
ANSWER_ROLES = frozenset({"admin", "billing", "support"})
_FLASH = {
    "approved": "flash.approved",
    "unapproved": "flash.unapproved",
    "issued": "flash.issued",
    "credited": "flash.credited",
    "run": "flash.run_started",
    "step": "flash.step_added",
}


def _flash(t: Translator, done: str | None) -> str | None:
    key = _FLASH.get(done or "")
    return t(key) if key else None


def _refusal(t: Translator, exc: Exception) -> str:
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    return t("error.refused", detail=detail)


def _role_refusal(t: Translator, me: Principal) -> str:
    return t("error.role", role=t(f"role.{me.role}"))


def _previous_period() -> str:
    return shift_period(current_period(), -1)


def _age(t: Translator) -> Any:
    def age(hours: float) -> str:
        if hours < 1:
            return t("age.minutes", n=max(int(hours * 60), 0))
        if hours < 48:
            return t("age.hours", n=int(hours))
        return t("age.days", n=int(hours // 24))

    return age


# -- billing runs ---------------------------------------------------------------------------------
def _runs_page(request: Request, me: Principal, *, error: str | None = None, status: int = 200) -> Response:
    store = store_of(request)
    t = language_of(request)
    context = {
        "runs": store.billing_runs()[:20],
        "can_run": me.role in BILLING_ROLES,
        "default_period": _previous_period(),
        "flash": _flash(t, request.query_params.get("done")),
        "error": error,
    }
    return html(request, "staff/runs.html", context, me=me, status=status)


@router.get("/")
def runs(request: Request) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    return _runs_page(request, me)


@router.post("/runs", dependencies=[Depends(check_csrf)])
def start_run(request: Request, period: Annotated[str, Form()] = "") -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    t = language_of(request)
    if me.role not in BILLING_ROLES:
        return _runs_page(request, me, error=_role_refusal(t, me), status=403)
    try:
        body = BillingRunCreate(period=period)
    except ValidationError:
        return _runs_page(request, me, error=t("runs.bad_period", period=period), status=422)
    seller = request.app.state.seller
    if seller is None:
        return _runs_page(request, me, error=t("runs.no_seller"), status=503)
    store = store_of(request)
    try:
        billing_routes.start_billing_run(body, request, me, store, request.app.state.rate_csv, seller)
    except (HTTPException, MeterbillError) as exc:
        return _runs_page(request, me, error=_refusal(t, exc), status=409)
    return RedirectResponse("/staff/?done=run", status_code=303)


# -- review queue and invoices ------------------------------------------------------------------
@router.get("/review")
def review(request: Request, period: str | None = None) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    chosen = period if period and parse_month(period) else _latest_draft_period(store_of(request))
    return _review_page(request, me, chosen)


def _latest_draft_period(store: Store) -> str:
    runs = store.billing_runs()
    return runs[0].period if runs else _previous_period()


def _review_page(
    request: Request, me: Principal, period: str, *, error: str | None = None, status: int = 200
) -> Response:
    t = language_of(request)
    items = queries.review_queue(store_of(request), period)
    context = {
        "period": period,
        "items": items,
        "flagged": sum(1 for i in items if i.flags),
        "can_bill": me.role in BILLING_ROLES,
        "flash": _flash(t, request.query_params.get("done")),
        "error": error,
    }
    return html(request, "staff/review.html", context, me=me, status=status)


def _invoice_page(
    request: Request, me: Principal, invoice_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    store = store_of(request)
    view = queries.invoice_view(store, invoice_id)
    if view is None:
        return not_found_page(request, me)
    t = language_of(request)
    disputes = [queries.dispute_public(d) for d in store.disputes(invoice_id=invoice_id)]
    context = {
        "view": view,
        "tz": contract_zone(store, store.contract(view.contract_id)),
        "disputes": disputes,
        "open_disputes": [d for d in disputes if d.status in ("open", "answered")],
        "dispute_action": None,
        "base": "/staff/invoices",
        "dispute_base": "/staff/disputes",
        "can_bill": me.role in BILLING_ROLES,
        "flash": _flash(t, request.query_params.get("done")),
        "error": error,
    }
    return html(request, "staff/invoice.html", context, me=me, status=status)


@router.get("/invoices/{invoice_id}")
def invoice(request: Request, invoice_id: str) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    return _invoice_page(request, me, invoice_id)


def _after_action(request: Request, invoice_id: str, done: str, next_page: str) -> Response:
    target = safe_next(next_page, f"/staff/invoices/{invoice_id}")
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}done={done}", status_code=303)


def _billing_action(request: Request, invoice_id: str) -> tuple[Principal, InvoiceRecord] | Response:
    """Who acts on which invoice, or the page to answer instead: the login, a 404, or the refusal for a role."""
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    record = store_of(request).invoice(invoice_id)
    if record is None:
        return not_found_page(request, me)
    if me.role not in BILLING_ROLES:
        error = _role_refusal(language_of(request), me)
        return _invoice_page(request, me, invoice_id, error=error, status=403)
    return me, record


def _lifecycle(request: Request, invoice_id: str, action: str, next_page: str) -> Response:
    acting = _billing_action(request, invoice_id)
    if isinstance(acting, Response):
        return acting
    me, _ = acting
    store = store_of(request)
    t = language_of(request)
    try:
        if action == "approve":
            billing_routes.approve(invoice_id, me, store)
        elif action == "unapprove":
            store.set_invoice_status(invoice_id, "draft")
        else:
            billing_routes.issue(invoice_id, me, store, None)
    except (HTTPException, MeterbillError, ValueError) as exc:
        return _invoice_page(request, me, invoice_id, error=_refusal(t, exc), status=409)
    done = {"approve": "approved", "unapprove": "unapproved", "issue": "issued"}[action]
    return _after_action(request, invoice_id, done, next_page)


@router.post("/invoices/{invoice_id}/approve", dependencies=[Depends(check_csrf)])
def approve(request: Request, invoice_id: str, next: Annotated[str, Form()] = "") -> Response:
    return _lifecycle(request, invoice_id, "approve", next)


@router.post("/invoices/{invoice_id}/unapprove", dependencies=[Depends(check_csrf)])
def unapprove(request: Request, invoice_id: str, next: Annotated[str, Form()] = "") -> Response:
    return _lifecycle(request, invoice_id, "unapprove", next)


@router.post("/invoices/{invoice_id}/issue", dependencies=[Depends(check_csrf)])
def issue(request: Request, invoice_id: str, next: Annotated[str, Form()] = "") -> Response:
    return _lifecycle(request, invoice_id, "issue", next)


@router.post("/invoices/{invoice_id}/credit", dependencies=[Depends(check_csrf)])
def credit(
    request: Request,
    invoice_id: str,
    line_id: Annotated[str, Form()] = "",
    quantity: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    dispute_id: Annotated[str, Form()] = "",
) -> Response:
    acting = _billing_action(request, invoice_id)
    if isinstance(acting, Response):
        return acting
    me, record = acting
    store = store_of(request)
    t = language_of(request)
    lines = {}
    if line_id.strip():
        known = {str(line.get("line_id")): line for line in record.document.get("lines", [])}
        if line_id not in known:
            return _invoice_page(request, me, invoice_id, error=t("credit.bad_line"), status=422)
        lines[line_id] = quantity.strip().replace(",", ".") or str(known[line_id].get("quantity"))
    try:
        body = CreditRequest(lines=lines, reason=reason.strip() or None, dispute_id=dispute_id or None)
        if dispute_id:
            dispute_routes.credit_dispute(dispute_id, body, me, store)
        else:
            billing_routes.credit_invoice(store, record, body)
    except (HTTPException, MeterbillError, ValueError) as exc:
        return _invoice_page(request, me, invoice_id, error=_refusal(t, exc), status=409)
    return _after_action(request, invoice_id, "credited", "")


# -- disputes -----------------------------------------------------------------------------------
@router.get("/disputes")
def disputes(request: Request) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    items = queries.disputes_queue(store, now=datetime.now(UTC))
    context = {
        "items": items,
        "numbers": invoice_numbers(store, [d.invoice_id for d in items]),
        "age": _age(language_of(request)),
    }
    return html(request, "staff/disputes.html", context, me=me)


def _dispute_page(
    request: Request, me: Principal, dispute_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    store = store_of(request)
    found = store.dispute(dispute_id)
    if found is None:
        return not_found_page(request, me)
    t = language_of(request)
    steps = []
    if me.role in ANSWER_ROLES:
        steps = ["answered", "message"] + (["resolved"] if me.role in BILLING_ROLES else [])
    hours = (datetime.now(UTC) - found.opened_at).total_seconds() / 3600
    context = {
        **dispute_context(store, found, base="/staff"),
        "age": _age(t)(hours),
        "steps": steps,
        "step_action": f"/staff/disputes/{dispute_id}/steps",
        "flash": _flash(t, request.query_params.get("done")),
        "error": error,
    }
    return html(request, "portal/dispute.html", context, me=me, status=status)


@router.get("/disputes/{dispute_id}")
def dispute(request: Request, dispute_id: str) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    return _dispute_page(request, me, dispute_id)


@router.post("/disputes/{dispute_id}/steps", dependencies=[Depends(check_csrf)])
def dispute_step(
    request: Request, dispute_id: str, kind: Annotated[str, Form()] = "", message: Annotated[str, Form()] = ""
) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    t = language_of(request)
    if store.dispute(dispute_id) is None:
        return not_found_page(request, me)
    try:
        step = DisputeStep.model_validate({"kind": kind, "message": message.strip()})
    except ValidationError:
        return _dispute_page(request, me, dispute_id, error=t("dispute.invalid_message", max=4000), status=422)
    try:
        dispute_routes.add_step(dispute_id, step, me, store)
    except (HTTPException, MeterbillError, ValueError) as exc:
        status = exc.status_code if isinstance(exc, HTTPException) else 409
        return _dispute_page(request, me, dispute_id, error=_refusal(t, exc), status=status)
    return RedirectResponse(f"/staff/disputes/{dispute_id}?done=step", status_code=303)


# -- ingestion health -----------------------------------------------------------------------------
@router.get("/health")
def health(request: Request) -> Response:
    me = page_guard(request, staff=True)
    if isinstance(me, Response):
        return me
    store = store_of(request)
    context = {
        "health": queries.ingestion_health(store),
        "dead_letters": store.dead_letters(limit=50),
        "conflicts": store.conflicts(limit=50),
    }
    return html(request, "staff/health.html", context, me=me)
