"""The ``meterbill`` command line. Only commands that work are listed here.

Output meant for people goes through rich; errors name what is wrong and what to do, and exit
with status 2 (bad configuration or usage) or 1 (the operation failed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from meterbill.cli_billing import audit_app, bill, invoice_app, tariffs_app
from meterbill.cli_common import console, err_console, settings_from
from meterbill.cli_data import conflicts_app, deadletters_app, readings_app, reviews_app
from meterbill.cli_gateway import gateway_app
from meterbill.cli_rate import rate
from meterbill.cli_registry import broker_app, contracts_app, customers_app, devices_app
from meterbill.cli_simulate import simulate_app
from meterbill.cli_users import users_app
from meterbill.errors import MeterbillError

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="meterbill: smart-meter and telematics billing.")
db_app = typer.Typer(no_args_is_help=True, help="The store's schema.")
api_app = typer.Typer(no_args_is_help=True, help="The HTTP API and web pages.")
app.add_typer(db_app, name="db")
app.add_typer(api_app, name="api")
app.add_typer(devices_app, name="devices")
app.add_typer(customers_app, name="customers")
app.add_typer(contracts_app, name="contracts")
app.add_typer(broker_app, name="broker")
app.add_typer(gateway_app, name="gateway")
app.command("rate")(rate)
app.command("bill")(bill)
app.add_typer(invoice_app, name="invoice")
app.add_typer(audit_app, name="audit")
app.add_typer(tariffs_app, name="tariffs")
app.add_typer(simulate_app, name="simulate")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(reviews_app, name="reviews")
app.add_typer(readings_app, name="readings")
app.add_typer(users_app, name="users")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (default: $MB_CONFIG)", show_default=False)
]


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = config


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the schema of the configured store (running it twice changes nothing)."""
    from meterbill.wiring import open_store

    store = open_store(settings_from(ctx))
    try:
        applied = store.upgrade()
        version = store.schema_version()
    finally:
        store.close()
    if applied:
        for name in applied:
            console.print(f"applied {name}")
    console.print(f"{store.backend} store at schema version {version}" + ("" if applied else " (already up to date)"))


@api_app.command("run")
def api_run(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="bind address (default: MB_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port, 0 for a free one (default: MB_API_PORT)")] = None,
) -> None:
    """Serve the API (/health, /metrics, /api/v1) until SIGTERM or Ctrl-C."""
    from api import create_app, start_api
    from api.serve import freeze_startup_heap
    from gateway.live import MqttLiveFeed
    from gateway.mqtt import BrokerAddress
    from meterbill.wiring import load_seller, open_store

    settings = settings_from(ctx, api_host=host, api_port=port)
    # billing runs started from the console need the seller of the documents (development: a made-up one)
    seller = load_seller(settings.seller_file) if settings.seller_file is not None else None
    # The pages' live panel follows the broker; without one (MB_MQTT_URL unset) the panel says so.
    live = MqttLiveFeed(BrokerAddress.parse(settings.mqtt_url)) if settings.mqtt_url else None

    async def serve() -> None:
        store = open_store(settings)
        try:
            app = create_app(settings, store, live=live, seller=seller)
            freeze_startup_heap()
            api = await start_api(app, settings.api_host, settings.api_port, log_level=settings.log_level)
            console.print(f"meterbill API listening on {api.url}")
            await api.task
        finally:
            if live is not None:
                await live.close()
            store.close()

    asyncio.run(serve())


@app.command("demo")
def demo(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="check /health over HTTP, print a summary, exit")] = False,
    port: Annotated[int, typer.Option(help="API port; 0 picks a free one")] = 0,
    meters: Annotated[int, typer.Option(min=0, help="simulated meters (mixed 5:1:1 electricity, gas, water)")] = 70,
    vehicles: Annotated[int, typer.Option(min=0, help="simulated insured vehicles")] = 20,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=365, help="simulated days up to the 1st of this month [default: the previous month]"),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same world")] = 7,
    faults: Annotated[str, typer.Option(help="injected faults, e.g. dup=0.05,garbage=0.001")] = "",
    export: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="write the evidence bundle of every issued document to DIR/<number>/"),
    ] = None,
) -> None:
    """Run meterbill on its embedded defaults: SQLite store, in-process broker, simulated fleets, gateway,
    a billing run of the months simulated with every invoice issued, and the API."""
    from meterbill.demo import run_demo, summary_table
    from meterbill.demo_world import World

    settings = settings_from(ctx)
    world = World(meters, vehicles, days, seed, faults) if meters or vehicles else None
    summary = asyncio.run(run_demo(settings, once=once, port=port, console=console, world=world, export=export))
    if once:
        console.print(summary_table(summary))
        if summary.health_status != 200:
            err_console.print(f"[red]GET /health answered {summary.health_status}[/]")
            raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except MeterbillError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2 if isinstance(exc, ValueError) else 1) from None
    except KeyboardInterrupt:
        err_console.print("stopped")
        raise SystemExit(130) from None
