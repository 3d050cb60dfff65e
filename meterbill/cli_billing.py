"""Billing CLI: ``meterbill bill``, ``invoice ...``, ``audit verify``, ``tariffs add``.

Drafts come from billing runs (``bill --period YYYY-MM``); staff approve them, issue them (numbers
are given at issue time, gap-free per series and year), credit them (a credit note, then a new
invoice), and hand customers the evidence bundle. ``audit verify`` re-computes the ledger's hash
chain over the documents as stored now and names the first one that changed.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from meterbill.cli_common import FormatOption, console, err_console, output_format, settings_from, store_from

if TYPE_CHECKING:
    from billing.invoice import SellerSettings
    from billing.ports import InvoiceRecord
    from store.contract import Store

__all__ = ["audit_app", "bill", "invoice_app", "tariffs_app"]

invoice_app = typer.Typer(no_args_is_help=True, help="Invoices and credit notes: list, show, approve, issue, credit.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident invoice ledger.")
tariffs_app = typer.Typer(no_args_is_help=True, help="Versioned tariffs that contracts bill against.")

SellerOption = Annotated[
    Path | None,
    typer.Option(
        "--seller",
        envvar="MB_SELLER_FILE",
        dir_okay=False,
        help="seller settings, TOML or JSON (docs/billing.md); a development seller is used when MB_ENV=development",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _seller(ctx: typer.Context, path: Path | None) -> SellerSettings:
    from billing.seller import DEVELOPMENT_SELLER
    from meterbill.errors import ConfigurationError
    from meterbill.wiring import load_seller

    settings = settings_from(ctx)
    path = path or settings.seller_file  # --seller, else MB_SELLER_FILE or the config file's seller_file
    if path is None:
        if settings.env != "development":
            raise _fail("no seller settings: pass --seller FILE or set MB_SELLER_FILE (see docs/billing.md)", 2)
        return DEVELOPMENT_SELLER
    try:
        return load_seller(path)
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None


# -- tariffs ------------------------------------------------------------------------------
@tariffs_app.command("add")
def tariffs_add(ctx: typer.Context, file: Annotated[Path, typer.Argument(dir_okay=False, exists=True)]) -> None:
    """Validate a meterbill tariff file (JSON or TOML) and store it as the next version of its id."""
    from billing.runs import tariff_json
    from rating.tariff_file import load_tariff

    tariff = load_tariff(file)  # a TariffError names the field and the reason
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".toml":
        text = tariff_json(tomllib.loads(text, parse_float=Decimal))
    with store_from(ctx) as store:
        version = store.add_tariff_version(tariff.id, text)
    console.print(f"stored tariff {tariff.id} version {version}")


# -- bill ---------------------------------------------------------------------------------
def bill(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="billing period YYYY-MM")],
    seller: SellerOption = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="start over instead of resuming an unfinished run")] = False,
) -> None:
    """Billing run: draft an invoice for every contract active in the period (re-running replaces drafts)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from billing.errors import BillingError
    from billing.readings_csv import rate_readings_csv
    from billing.runs import parse_period, run_billing

    try:
        parse_period(period)
    except BillingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    settings = _seller(ctx, seller)
    with (
        store_from(ctx) as store,
        Progress(
            TextColumn("billing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task(period, total=None)

        def advance(done: int, total: int, contract_id: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{period} {contract_id}")

        result = run_billing(store, period=period, seller=settings, rate_csv=rate_readings_csv, progress=advance)
    resumed = " (resumed)" if result.resumed else ""
    console.print(
        f"billing run {result.run_id}{resumed}: {result.total} contract(s) in {period};"
        f" {result.count('created')} draft(s) created, {result.count('replaced')} replaced,"
        f" {result.count('kept_issued')} already issued (kept), {result.count('resumed')} done before the"
        f" resume, {len(result.failures)} failed",
        highlight=False,
    )
    for failure in result.failures:
        err_console.print(f"  {failure.contract_id}: {failure.reason}", markup=False, highlight=False)
    if result.failures:
        raise typer.Exit(1)


# -- invoices -----------------------------------------------------------------------------
def _public(record: InvoiceRecord, *, lines: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "number": record.number,
        "status": record.status,
        "type_code": record.type_code,
        "contract_id": record.contract_id,
        "customer_id": record.customer_id,
        "period": record.period,
        "period_start": record.period_start.isoformat(),
        "period_end": record.period_end.isoformat(),
        "currency": record.currency,
        "net_total": str(record.net_total),
        "tax_total": str(record.tax_total),
        "gross_total": str(record.gross_total),
        "issue_date": None if record.issue_date is None else record.issue_date.isoformat(),
        "credited_invoice_id": record.credited_invoice_id,
    }
    if lines:
        out["lines"] = [
            {k: line.get(k) for k in ("line_id", "code", "description", "quantity", "unit", "net_price", "net_amount")}
            for line in record.document.get("lines", [])
        ]
    return out


def _find(store: Store, key: str) -> InvoiceRecord:
    record = store.invoice_by_number(key) or store.invoice(key)
    if record is None:
        raise _fail(f"no invoice with number or id {key!r} (see `meterbill invoice list`)")
    return record


@invoice_app.command("list")
def invoice_list(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="only this billing period YYYY-MM")] = None,
    status: Annotated[str | None, typer.Option(help="draft, approved, issued or credited")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Invoices and credit notes, by id."""
    if status is not None and status not in ("draft", "approved", "issued", "credited"):
        raise typer.BadParameter("must be draft, approved, issued or credited", param_hint="--status")
    with store_from(ctx) as store:
        records = store.invoices(period=period, status=status)  # type: ignore[arg-type]
    if output_format(fmt) == "json":
        console.print_json(json.dumps([_public(r) for r in records]))
        return
    table = Table("id", "number", "status", "type", "contract", "period", "net", "VAT", "total")
    for r in records:
        table.add_row(
            r.id,
            r.number or "",
            r.status,
            r.type_code,
            r.contract_id,
            r.period,
            str(r.net_total),
            str(r.tax_total),
            f"{r.gross_total} {r.currency}",
        )
    console.print(table)


@invoice_app.command("show")
def invoice_show(ctx: typer.Context, key: Annotated[str, typer.Argument(help="number or id")]) -> None:
    """One document with its lines, as JSON."""
    with store_from(ctx) as store:
        record = _find(store, key)
    console.print_json(json.dumps(_public(record, lines=True)))


@invoice_app.command("approve")
def invoice_approve(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="draft ids")] = None,
    period: Annotated[str | None, typer.Option(help="approve every draft of this period")] = None,
) -> None:
    """draft -> approved (re-running the period puts them back to draft)."""
    with store_from(ctx) as store:
        wanted = list(ids or []) + [r.id for r in store.invoices(period=period, status="draft")] if period else ids
        if not wanted:
            raise _fail("name draft ids or --period", 2)
        for invoice_id in wanted:
            store.set_invoice_status(invoice_id, "approved")
            console.print(f"approved {invoice_id}")


@invoice_app.command("issue")
def invoice_issue(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="approved ids")] = None,
    period: Annotated[str | None, typer.Option(help="issue every approved document of this period")] = None,
    on: Annotated[str | None, typer.Option("--date", help="issue date YYYY-MM-DD (default: today)")] = None,
) -> None:
    """approved -> issued: the next number of the series, the final document, a ledger entry."""
    from billing.issue import finalize

    issue_date = _issue_date(on)
    with store_from(ctx) as store:
        wanted = list(ids or []) + [r.id for r in store.invoices(period=period, status="approved")] if period else ids
        if not wanted:
            raise _fail("name approved ids or --period", 2)
        for invoice_id in wanted:
            record = store.issue_invoice(
                invoice_id, issue_date=issue_date, issued_at=datetime.now(UTC), finalize=finalize
            )
            console.print(f"issued {record.id} as {record.number} ({record.gross_total} {record.currency})")


def _issue_date(text: str | None) -> date:
    if text is None:
        return date.today()  # the issuer's calendar day is the legal issue date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint="--date") from None


def _quantities(items: list[str]) -> dict[str, Decimal] | None:
    if not items:
        return None
    out: dict[str, Decimal] = {}
    for item in items:
        line_id, sep, quantity = item.partition("=")
        try:
            out[line_id] = Decimal(quantity)
        except InvalidOperation:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"{item!r} must be LINE=QUANTITY, e.g. 2=10.5", param_hint="--line")
    return out


@invoice_app.command("credit")
def invoice_credit(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="number of the issued invoice")],
    line: Annotated[
        list[str] | None, typer.Option("--line", metavar="LINE=QTY", help="credit part of a line; repeat")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why, printed on the credit note")] = None,
    on: Annotated[str | None, typer.Option("--date", help="issue date YYYY-MM-DD (default: today)")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="leave the credit note as a draft")] = False,
) -> None:
    """Credit an issued invoice in full (default) or in part, and issue the credit note (type 381)."""
    from billing.issue import draft_credit_note, finalize

    issue_date = _issue_date(on)
    with store_from(ctx) as store:
        record = _find(store, number)
        earlier = store.invoices(credited_invoice_id=record.id)
        note = draft_credit_note(
            record, earlier=earlier, today=issue_date, quantities=_quantities(line or []), reason=reason
        )
        store.save_draft(note)
        if draft:
            console.print(f"credit note draft {note.id} for {record.number}: {note.gross_total} {note.currency}")
            return
        store.set_invoice_status(note.id, "approved")
        issued = store.issue_invoice(note.id, issue_date=issue_date, issued_at=datetime.now(UTC), finalize=finalize)
    console.print(f"issued credit note {issued.number} for {record.number}: {issued.gross_total} {issued.currency}")


@invoice_app.command("bundle")
def invoice_bundle(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="number of an issued invoice or credit note")],
    directory: Annotated[Path, typer.Argument(file_okay=False, help="folder to write (created if needed)")],
) -> None:
    """Everything behind a document: invoice.pdf, invoice.cii.xml, invoice.ubl.xml, readings.csv, tariff.json,
    lines.json; `meterbill rate --tariff tariff.json --readings readings.csv --format json` reproduces lines.json."""
    from billing.bundle import bundle_files

    with store_from(ctx) as store:
        record = _find(store, number)
        files = bundle_files(store, store, record)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        _write_atomic(directory / name, content)
    console.print(f"wrote {', '.join(files)} for {record.number} to {directory}", highlight=False)


def _write_atomic(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


# -- audit --------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Re-compute the ledger's hash chain over the stored documents; exit 1 naming the first break."""
    from billing.issue import audit

    with store_from(ctx) as store:
        result = audit(store)
    if result.broken is not None:
        raise _fail(f"ledger broken at {result.broken}")
    console.print(f"ledger OK: {result.entries} document(s), chain intact", highlight=False)
