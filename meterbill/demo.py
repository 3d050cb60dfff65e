"""``meterbill demo``: the whole product on its embedded defaults, in one process.

It opens the configured store (SQLite by default) and applies migrations, starts the embedded
MQTT broker on a free port unless ``MB_MQTT_URL`` names one and proves it delivers a QoS 1 round
trip, then serves the API on a free port and prints its URL. ``--once`` checks ``/health`` over
real HTTP, prints a summary and exits 0 (1 if anything failed).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from api import create_app, start_api
from gateway.embedded_broker import probe_broker
from meterbill.demo_world import IngestSummary, World, ingest_world
from meterbill.settings import Settings
from meterbill.wiring import broker_for, open_store

__all__ = ["DemoSummary", "run_demo"]


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


async def run_demo(
    settings: Settings, *, once: bool, port: int, console: Console, world: World | None = None
) -> DemoSummary:
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
            ingested = None
            if world is not None:
                with console.status("Simulating the fleets ...") as spinner:
                    ingested = await asyncio.to_thread(
                        ingest_world,
                        store,
                        broker,
                        world,
                        shared_subscription=not embedded,
                        on_progress=spinner.update,
                    )
                console.print(
                    f"[green]fleets[/] {ingested.devices} devices, {world.days} days: {ingested.messages_published:,}"
                    f" messages -> {ingested.readings_stored:,} readings and {ingested.trips_stored:,} trips stored,"
                    f" {sum(ingested.dead_letters.values())} dead letters ({ingested.wall_s:.0f} s)"
                )
            api = await start_api(create_app(settings, store), settings.api_host, port, log_level=settings.log_level)
            console.print(
                Panel.fit(
                    f"meterbill API: [bold]{api.url}[/]\n"
                    f"health: {api.url}/health   metrics: {api.url}/metrics   API docs: {api.url}/docs\n"
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
            )
    finally:
        store.close()


def summary_table(summary: DemoSummary) -> Table:
    table = Table(title="meterbill demo summary")
    table.add_column("what")
    table.add_column("value")
    table.add_row("store", f"{summary.store_backend}, schema version {summary.schema_version}")
    table.add_row("broker", f"{'embedded' if summary.broker_embedded else 'configured'} {summary.broker_url}")
    table.add_row("broker QoS 1 round trip", f"{summary.broker_round_trip_s * 1000:.1f} ms")
    table.add_row("API", summary.api_url)
    if summary.ingested is not None:
        i = summary.ingested
        table.add_row("devices provisioned", f"{i.devices}")
        table.add_row("messages published", f"{i.messages_published:,}")
        table.add_row("readings stored", f"{i.readings_stored:,}")
        table.add_row("trips stored", f"{i.trips_stored:,}")
        rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(i.dead_letters.items())) or "none"
        table.add_row("rejected, by reason", rejected)
        injected = ", ".join(f"{name} {n}" for name, n in sorted(i.faults_injected.items())) or "none"
        table.add_row("faults injected", injected)
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
