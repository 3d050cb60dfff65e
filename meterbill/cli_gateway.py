"""CLI for the ingestion gateway: ``meterbill gateway run|status``."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

import typer
from rich.table import Table

from gateway.mqtt import BrokerAddress
from gateway.pipeline import Policy
from gateway.runner import LEASE, GatewayOptions, run_gateway
from gateway.service import GatewayConfig
from meterbill.cli_common import console, settings_from, store_from
from meterbill.errors import ConfigurationError
from meterbill.settings import Settings

__all__ = ["gateway_app", "gateway_options"]

gateway_app = typer.Typer(no_args_is_help=True, help="The MQTT ingestion gateway.")


def gateway_options(settings: Settings, *, metrics_port: int | None = None) -> GatewayOptions:
    """Gateway options from the settings (the one place MB_GATEWAY_* are read)."""
    return GatewayOptions(
        group=settings.gateway_group,
        shared=settings.gateway_shared,
        client_id=settings.gateway_client_id,
        metrics_port=settings.gateway_metrics_port if metrics_port is None else metrics_port,
        metrics_host=settings.gateway_metrics_host,
        config=GatewayConfig(
            batch_max_readings=settings.gateway_batch_max_readings,
            batch_max_delay_s=settings.gateway_batch_max_delay_ms / 1000,
            max_unacked_messages=settings.gateway_receive_maximum,
            policy=Policy(
                clock_skew=timedelta(seconds=settings.gateway_clock_skew_s),
                backfill=timedelta(days=settings.gateway_backfill_days),
            ),
        ),
    )


@gateway_app.command("run")
def gateway_run(ctx: typer.Context) -> None:
    """Ingest readings, trips and events from MB_MQTT_URL into MB_STORE_URL until SIGTERM or Ctrl-C."""
    settings = settings_from(ctx)
    if settings.mqtt_url is None:
        raise ConfigurationError("MB_MQTT_URL must name the broker the gateway subscribes to")
    address = BrokerAddress.parse(settings.mqtt_url)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        console.print(f"signal {signal.Signals(signum).name}: finishing the batch in hand")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with store_from(ctx) as store:
        run_gateway(store, address, gateway_options(settings), stop)
    console.print("gateway stopped")


@gateway_app.command("status")
def gateway_status(ctx: typer.Context) -> None:
    """Every gateway that reported to the store: client id, host, liveness, counters."""
    with store_from(ctx) as store:
        instances = store.gateway_instances()
    if not instances:
        console.print("no gateway has reported to this store yet")
        return
    now = datetime.now(UTC)
    table = Table(
        "client id",
        "host",
        "pid",
        "state",
        "last seen",
        "received",
        "accepted",
        "rejected",
        "readings",
        "duplicates",
        "conflicts",
    )
    for g in instances:
        age = now - g.last_seen_at
        state = "stopped" if g.pid == 0 else ("silent" if age > LEASE else ("connected" if g.connected else "offline"))
        c = g.counters
        table.add_row(
            g.client_id,
            g.host,
            str(g.pid or ""),
            state,
            f"{age.total_seconds():.0f} s ago",
            *(
                str(c.get(k, 0))
                for k in ("received", "accepted", "rejected", "readings_inserted", "duplicates", "conflicts")
            ),
        )
    console.print(table)
