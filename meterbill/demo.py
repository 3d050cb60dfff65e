"""``meterbill demo``: the whole product on its embedded defaults, in one process.

It opens the configured store (SQLite by default) and applies migrations, starts the embedded
MQTT broker on a free port unless ``MB_MQTT_URL`` names one and proves it delivers a QoS 1 round
trip, provisions the simulated world and publishes its telemetry through the gateway, bills the
months it covers (a billing run per month, every draft approved and issued, exactly as
``meterbill bill`` and ``meterbill invoice approve|issue`` do), optionally writes the evidence
bundle of every issued document, then serves the API on a free port and prints its URL.
``--once`` checks ``/health`` over real HTTP, prints a summary and exits 0 (1 if anything failed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from api import create_app, start_api
from api.auth import hash_password
from billing.bundle import bundle_files
from billing.invoice import SellerSettings
from billing.issue import finalize
from billing.readings_csv import rate_readings_csv
from billing.runs import ContractFailure, run_billing
from billing.seller import DEVELOPMENT_SELLER
from gateway.embedded_broker import probe_broker
from gateway.live import MqttLiveFeed
from meterbill.demo_world import IngestSummary, World, Worldview, ingest_world, provision_world
from meterbill.settings import Settings
from meterbill.wiring import broker_for, open_store
from store.contract import Store, User

__all__ = [
    "BillingSummary",
    "DemoLogin",
    "DemoSummary",
    "IssuedDocument",
    "bill_world",
    "demo_logins",
    "export_bundles",
    "run_demo",
    "summary_table",
]

_QUIET = {
    "amqtt": logging.ERROR,
    "simulators.publisher": logging.WARNING,
    "weasyprint": logging.WARNING,
    "fontTools": logging.WARNING,
    "factur-x": logging.WARNING,
}
FAULTS_FILE = "faults.json"  # the simulator's fault ledger, beside the bundles of an export


@dataclass(frozen=True)
class IssuedDocument:
    number: str
    contract_id: str
    period: str
    currency: str
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal


@dataclass
class BillingSummary:
    """What the demo's billing did: runs per period, contracts drafted, failures, documents issued."""

    periods: tuple[str, ...] = ()
    drafted: int = 0
    kept_issued: int = 0  # issued by an earlier demo on the same store, left as they are
    failures: list[ContractFailure] = field(default_factory=list)
    issued: list[IssuedDocument] = field(default_factory=list)
    exported: int = 0

    def totals(self) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """Currency -> (net, VAT, gross) of the documents issued now [currency]."""
        out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for doc in self.issued:
            net, tax, gross = out.get(doc.currency, (Decimal(0), Decimal(0), Decimal(0)))
            out[doc.currency] = (net + doc.net_total, tax + doc.tax_total, gross + doc.gross_total)
        return dict(sorted(out.items()))


@dataclass(frozen=True)
class DemoSummary:
    api_url: str
    broker_url: str
    broker_embedded: bool
    broker_round_trip_s: float
    store_backend: str
    migrations_applied: list[str]
    schema_version: int
    health_status: int | None
    ingested: IngestSummary | None = None
    billing: BillingSummary | None = None
    export_dir: Path | None = None
    logins: tuple[DemoLogin, ...] = ()


@dataclass(frozen=True)
class DemoLogin:
    """An account the demo prints so a newcomer can log in to the portal or the console."""

    role: str
    email: str
    password: str
    customer_id: str | None = None


DEMO_STAFF_EMAIL = "billing@demo.meterbill.test"


def demo_logins(store: Store, billing: BillingSummary | None) -> tuple[DemoLogin, ...]:
    """One billing clerk and one customer (the one of the first issued invoice), with fresh passwords.

    Passwords are random on every run and reset on accounts an earlier demo made, so the printed
    ones always work and none is a constant anyone could know.
    """
    customer_id = _demo_customer(store, billing)
    wanted = [DemoLogin("billing", DEMO_STAFF_EMAIL, secrets.token_urlsafe(12))]
    if customer_id is not None:
        email = f"{customer_id}@customers.demo.meterbill.test"
        wanted.append(DemoLogin("customer", email, secrets.token_urlsafe(12), customer_id))
    for login in wanted:
        existing = store.user_by_email(login.email)
        if existing is None:
            store.add_user(
                User(
                    id=uuid.uuid4().hex,
                    email=login.email,
                    role=login.role,  # type: ignore[arg-type]  # "billing" | "customer", both roles
                    customer_id=login.customer_id,
                    password_hash=hash_password(login.password),
                    created_at=datetime.now(UTC),
                )
            )
        else:
            store.set_password_hash(existing.id, hash_password(login.password))
    return tuple(wanted)


def _demo_customer(store: Store, billing: BillingSummary | None) -> str | None:
    numbers = sorted(billing.issued, key=lambda d: d.number) if billing is not None else []
    for document in numbers:
        contract = store.contract(document.contract_id)
        if contract is not None:
            return contract.customer_id
    customers = sorted(store.customers(), key=lambda c: c.id)
    return customers[0].id if customers else None


Step = Callable[[str, int, int], None]  # (what, done, total)


def bill_world(
    store: Store,
    periods: tuple[str, ...],
    *,
    seller: SellerSettings = DEVELOPMENT_SELLER,
    issue_date: date | None = None,
    step: Step = lambda what, done, total: None,
) -> BillingSummary:
    """A billing run per period (as ``meterbill bill``), then every draft approved and issued (as
    ``meterbill invoice approve|issue --period``). Re-running keeps documents issued before."""
    summary = BillingSummary(periods=periods)
    today = issue_date or date.today()  # the issuer's calendar day is the legal issue date
    for period in periods:

        def advance(done: int, total: int, contract_id: str, period: str = period) -> None:
            step(f"billing {period}", done, total)

        result = run_billing(store, period=period, seller=seller, rate_csv=rate_readings_csv, progress=advance)
        summary.drafted += result.count("created") + result.count("replaced") + result.count("resumed")
        summary.kept_issued += result.count("kept_issued")
        summary.failures.extend(result.failures)
        drafts = store.invoices(period=period, status="draft")
        for done, draft in enumerate(drafts, start=1):
            store.set_invoice_status(draft.id, "approved")
            step(f"approving {period}", done, len(drafts))
        approved = store.invoices(period=period, status="approved")
        for done, record in enumerate(approved, start=1):
            issued = store.issue_invoice(record.id, issue_date=today, issued_at=datetime.now(UTC), finalize=finalize)
            assert issued.number is not None  # an issued document has its number
            summary.issued.append(
                IssuedDocument(
                    issued.number,
                    issued.contract_id,
                    issued.period,
                    issued.currency,
                    issued.net_total,
                    issued.tax_total,
                    issued.gross_total,
                )
            )
            step(f"issuing {period}", done, len(approved))
    return summary


def export_bundles(store: Store, numbers: list[str], folder: Path, *, step: Step = lambda w, d, t: None) -> int:
    """The evidence bundle of each document into ``folder/<number>/`` (as ``meterbill invoice bundle``)."""
    for done, number in enumerate(numbers, start=1):
        record = store.invoice_by_number(number)
        if record is None:
            raise LookupError(f"document {number} vanished from the store while it was being exported")
        target = folder / number
        target.mkdir(parents=True, exist_ok=True)
        for name, content in bundle_files(store, store, record).items():
            partial = target / f".{name}.partial"
            partial.write_bytes(content)
            os.replace(partial, target / name)
        step("exporting bundles", done, len(numbers))
    return len(numbers)


def _write_ledger(summary: IngestSummary, folder: Path) -> None:
    """The fault ledger: what was injected and what the gateway should make of it (tests account for it)."""
    ledger = summary.ledger
    data = {
        "messages": ledger.messages,
        "records_sent": dict(summary.records_sent),
        "counts": ledger.counts(),
        "entries": ledger.as_dicts(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAULTS_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


class _Bars:
    """One progress bar per step name, created on first use."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        task = self.tasks.get(what)
        if task is None:
            task = self.tasks[what] = self.progress.add_task(what, total=total)
        self.progress.update(task, completed=done, total=total)


async def run_demo(
    settings: Settings,
    *,
    once: bool,
    port: int,
    console: Console,
    world: World | None = None,
    export: Path | None = None,
    today: date | None = None,
) -> DemoSummary:
    # The demo's own progress says what happens; these would log every MQTT v5 probe, page and PDF.
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(max(level, logging.getLogger(name).getEffectiveLevel()))
    store = open_store(settings)
    try:
        with console.status("Preparing the store ..."):
            applied = await asyncio.to_thread(store.upgrade)
            version = await asyncio.to_thread(store.schema_version)
        console.print(
            f"[green]store[/] {store.backend} at schema version {version} ({len(applied)} migrations applied now)"
        )
        async with broker_for(settings) as (broker, embedded):
            with console.status(f"Checking the MQTT broker at {broker} ..."):
                rtt = await probe_broker(broker)
            kind = "embedded" if embedded else "configured"
            console.print(f"[green]broker[/] {kind} at {broker}: QoS 1 round trip {rtt * 1000:.1f} ms")
            ingested = billing = None
            if world is not None:
                view = Worldview.of(world, today or datetime.now(UTC).date())
                with console.status("Provisioning the world ..."):
                    contracts = await asyncio.to_thread(provision_world, store, view)
                window = view.window
                console.print(
                    f"[green]world[/] {contracts} contracts on {len(view.devices())} devices;"
                    f" telemetry {window.start:%Y-%m-%d} to {window.end:%Y-%m-%d},"
                    f" billing {', '.join(window.periods) or 'nothing (no month is over)'}"
                )
                with console.status("Simulating the fleets ...") as spinner:
                    ingested = await asyncio.to_thread(
                        ingest_world,
                        store,
                        broker,
                        view,
                        world.faults,
                        seed=world.seed,
                        shared_subscription=not embedded,
                        on_progress=spinner.update,
                    )
                console.print(
                    f"[green]fleets[/] {ingested.devices} devices, {window.days} days:"
                    f" {ingested.messages_published:,} messages -> {ingested.readings_stored:,} readings and"
                    f" {ingested.trips_stored:,} trips stored, {sum(ingested.dead_letters.values())} dead letters"
                    f" ({ingested.wall_s:.0f} s)"
                )
                billing = await _bill(store, view, console, export, ingested)
            logins = await asyncio.to_thread(demo_logins, store, billing)
            # the portal's live panel follows the demo's broker (not needed for a one-shot run)
            live = None if once else MqttLiveFeed(broker)
            app = create_app(settings, store, live=live)
            api = await start_api(app, settings.api_host, port, log_level=settings.log_level)
            where = {"customer": ("customer portal", "/"), "billing": ("staff console", "/staff/")}
            accounts = "\n".join(
                f"{where[x.role][0]}: {api.url}{where[x.role][1]}   login [bold]{x.email}[/]"
                f"  password [bold]{x.password}[/]"
                for x in logins
            )
            console.print(
                Panel.fit(
                    f"meterbill API: [bold]{api.url}[/]\n"
                    f"health: {api.url}/health   metrics: {api.url}/metrics   API docs: {api.url}/docs\n"
                    f"{accounts}\n"
                    f"MQTT broker: {broker}",
                    title="meterbill demo",
                )
            )
            status: int | None = None
            try:
                if once:
                    status = await asyncio.to_thread(_http_status, f"{api.url}/health")
                else:
                    console.print("Serving until Ctrl-C.")
                    await api.task
            finally:
                if not api.task.done():
                    await api.stop()
                if live is not None:
                    await live.close()
            return DemoSummary(
                api_url=api.url,
                broker_url=broker.url,
                broker_embedded=embedded,
                broker_round_trip_s=rtt,
                store_backend=store.backend,
                migrations_applied=applied,
                schema_version=version,
                health_status=status,
                ingested=ingested,
                billing=billing,
                export_dir=export,
                logins=logins,
            )
    finally:
        store.close()


async def _bill(
    store: Store, view: Worldview, console: Console, export: Path | None, ingested: IngestSummary
) -> BillingSummary:
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars = _Bars(progress)
        billing = await asyncio.to_thread(bill_world, store, view.window.periods, step=bars)
        if export is not None:
            numbers = [doc.number for doc in billing.issued]
            billing.exported = await asyncio.to_thread(export_bundles, store, numbers, export, step=bars)
            _write_ledger(ingested, export)
    issued = ", ".join(f"{gross} {currency}" for currency, (_, _, gross) in billing.totals().items())
    console.print(
        f"[green]billing[/] {', '.join(billing.periods) or 'no period'}: {len(billing.issued)} invoices issued"
        f" ({issued or 'nothing'}), {len(billing.failures)} contracts not billed"
    )
    for failure in billing.failures:
        console.print(f"  not billed: {failure.contract_id}: {failure.reason}", markup=False, highlight=False)
    if export is not None:
        console.print(f"[green]export[/] {billing.exported} evidence bundles and {FAULTS_FILE} in {export}")
    return billing


def summary_table(summary: DemoSummary) -> Table:
    table = Table(title="meterbill demo summary")
    table.add_column("what")
    table.add_column("value")
    table.add_row("store", f"{summary.store_backend}, schema version {summary.schema_version}")
    table.add_row("broker", f"{'embedded' if summary.broker_embedded else 'configured'} {summary.broker_url}")
    table.add_row("broker QoS 1 round trip", f"{summary.broker_round_trip_s * 1000:.1f} ms")
    table.add_row("API", summary.api_url)
    for login in summary.logins:
        table.add_row(f"login ({login.role})", f"{login.email}  {login.password}")
    if summary.ingested is not None:
        i = summary.ingested
        table.add_row("devices provisioned", f"{i.devices}")
        table.add_row("messages published", f"{i.messages_published:,}")
        table.add_row("readings stored", f"{i.readings_stored:,}")
        table.add_row("trips stored", f"{i.trips_stored:,}")
        table.add_row("events stored", f"{i.events_stored:,}")
        rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(i.dead_letters.items())) or "none"
        table.add_row("rejected, by reason", rejected)
        table.add_row("conflicts, reviews", f"{i.conflicts}, {i.reviews}")
        injected = ", ".join(f"{name} {n}" for name, n in sorted(i.faults_injected.items())) or "none"
        table.add_row("faults injected", injected)
    if summary.billing is not None:
        b = summary.billing
        table.add_row("periods billed", ", ".join(b.periods) or "none (no month is over)")
        kept = f" ({b.kept_issued} issued before, kept)" if b.kept_issued else ""
        table.add_row("invoices issued", f"{len(b.issued)}{kept}")
        table.add_row("contracts not billed", str(len(b.failures)))
        for currency, (net, tax, gross) in b.totals().items():
            table.add_row(f"total {currency}", f"{gross} (net {net} + tax {tax})")
        if summary.export_dir is not None:
            table.add_row("evidence bundles", f"{b.exported} in {summary.export_dir}")
    table.add_row("GET /health", str(summary.health_status))
    return table


def _http_status(url: str) -> int:
    """GET ``url`` and return the status; the body must be the JSON health document."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own loopback URL)
            json.loads(response.read())
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
