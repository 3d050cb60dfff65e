"""CLI for simulated fleets: ``meterbill simulate meters|vehicles ...``.

Each command builds a seeded fleet (``simulators``), optionally provisions its devices in the
configured store so the gateway accepts them (``--provision``: ids m-00001, g-00001, w-00001,
v-00001 ..., existing ids are left alone), injects faults on demand (``--faults``), and publishes
at QoS 1 to the broker of ``--broker`` or ``MB_MQTT_URL`` with a progress bar, then prints a
summary. ``--dry-run`` generates everything and publishes nothing.

The simulated period ends by default within the hour before now, and a ``--start`` that would put
readings outside the gateway's acceptance window (``MB_GATEWAY_BACKFILL_DAYS`` old, or more than
``MB_GATEWAY_CLOCK_SKEW_S`` ahead) is refused before anything is sent. Ctrl-C stops cleanly: what is
in flight is acknowledged, the summary is printed, and the exit status is 130. The exit status is 1
when messages stayed unacknowledged or the broker refused some.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from meterbill.cli_common import console, err_console, settings_from, store_from

if TYPE_CHECKING:
    from devices.model import Device
    from gateway.mqtt import BrokerAddress
    from meterbill.settings import Settings
    from simulators.faults import FaultLedger
    from simulators.payloads import Outgoing
    from simulators.publisher import PublishProgress, PublishSummary

__all__ = ["simulate_app"]

simulate_app = typer.Typer(
    no_args_is_help=True, help="Simulated meter and vehicle fleets publishing over MQTT, with faults on demand."
)

CountOption = Annotated[int, typer.Option("--count", "-n", min=1, help="how many devices")]
RateOption = Annotated[
    float | None, typer.Option("--rate", min=0.001, help="most messages per wall second (default: no limit)")
]
DurationOption = Annotated[str, typer.Option(help="simulated period, e.g. 12h, 1d, 30d")]
StartOption = Annotated[
    str | None,
    typer.Option(
        help="first simulated moment, YYYY-MM-DD (UTC) or ISO 8601 with offset (default: the period ends within"
        " the hour before now)"
    ),
]
SpeedOption = Annotated[
    str, typer.Option(help="simulated seconds per wall second (86400: a day a second), or max: as fast as possible")
]
BrokerOption = Annotated[str | None, typer.Option(help="mqtt://[USER:PASS@]HOST:PORT (default: MB_MQTT_URL)")]
FaultsOption = Annotated[
    str,
    typer.Option(
        help="per-message probabilities, e.g. dup=0.05,reorder=0.02,gap=0.01,skew=0.01,garbage=0.001,spoof=0.001"
    ),
]
SeedOption = Annotated[int, typer.Option(min=0, help="same seed, same fleet, same bytes")]
ProvisionOption = Annotated[
    bool, typer.Option("--provision", help="add the fleet's devices to the configured store first (existing ids kept)")
]
PrefixOption = Annotated[str, typer.Option(help="prefix of every device id, e.g. demo- for demo-m-00001")]
InflightOption = Annotated[
    int, typer.Option(min=1, max=20_000, help="messages awaiting their PUBACK at most (paho loses QoS 1 past 65,535)")
]
LedgerOption = Annotated[
    Path | None, typer.Option(dir_okay=False, help="write every injected fault to this file, one JSON object a line")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="generate everything, publish nothing")]


@simulate_app.command("meters")
def simulate_meters(
    ctx: typer.Context,
    count: CountOption,
    kind: Annotated[str, typer.Option(help="electricity, gas, water or mixed (5:1:1)")] = "mixed",
    rate: RateOption = None,
    duration: DurationOption = "1d",
    start: StartOption = None,
    interval: Annotated[
        str | None, typer.Option(help="15m, 30m or 1h (default: 15m electricity, 1h gas and water)")
    ] = None,
    style: Annotated[str, typer.Option(help="interval (consumption per interval) or register (cumulative index)")] = (
        "interval"
    ),
    upload: Annotated[str, typer.Option(help="daily (one message a day, as meters do) or interval")] = "daily",
    speed: SpeedOption = "max",
    broker: BrokerOption = None,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    provision: ProvisionOption = False,
    id_prefix: PrefixOption = "",
    max_inflight: InflightOption = 1000,
    ledger: LedgerOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Electricity, gas and water meters sending their readings."""
    from simulators.clock import parse_duration
    from simulators.meters import MeterFleet, MeterFleetConfig

    settings = settings_from(ctx)
    period = parse_duration(duration, what="--duration")
    step = parse_duration(interval, what="--interval") if interval else None
    first = _start(start, period, settings)
    config = MeterFleetConfig(
        count=count,
        start=first,
        duration=period,
        kind=_choice(kind, "--kind", ("electricity", "gas", "water", "mixed")),  # type: ignore[arg-type]
        interval=step,
        style=_choice(style, "--style", ("interval", "register")),  # type: ignore[arg-type]
        upload=_choice(upload, "--upload", ("daily", "interval")),  # type: ignore[arg-type]
        seed=seed,
        id_prefix=id_prefix,
    )
    fleet = MeterFleet(config)
    counts = ", ".join(f"{n} {medium}" for medium, n in config.counts().items() if n)
    what = f"{counts} meter(s), {config.style} style, {config.upload} uploads"
    _simulate(
        ctx,
        settings,
        what=what,
        devices=fleet.devices,
        messages=fleet.messages,
        device_ids=fleet.device_ids,
        period=(config.start_s, config.end_s),
        options=_RunOptions(rate, speed, broker, faults, seed, provision, max_inflight, ledger, dry_run),
    )


@simulate_app.command("vehicles")
def simulate_vehicles(
    ctx: typer.Context,
    count: CountOption,
    rate: RateOption = None,
    duration: DurationOption = "1d",
    start: StartOption = None,
    speed: SpeedOption = "max",
    broker: BrokerOption = None,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    provision: ProvisionOption = False,
    id_prefix: PrefixOption = "",
    max_inflight: InflightOption = 1000,
    ledger: LedgerOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Insured vehicles sending their trips and driving events."""
    from simulators.clock import parse_duration
    from simulators.vehicles import VehicleFleet, VehicleFleetConfig

    settings = settings_from(ctx)
    period = parse_duration(duration, what="--duration")
    config = VehicleFleetConfig(
        count=count, start=_start(start, period, settings), duration=period, seed=seed, id_prefix=id_prefix
    )
    fleet = VehicleFleet(config)
    _simulate(
        ctx,
        settings,
        what=f"{count} vehicle(s)",
        devices=fleet.devices,
        messages=fleet.messages,
        device_ids=fleet.device_ids,
        period=(config.start_s, config.end_s),
        options=_RunOptions(rate, speed, broker, faults, seed, provision, max_inflight, ledger, dry_run),
    )


# -- shared ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RunOptions:
    """The options both commands share, as given."""

    rate: float | None
    speed: str
    broker: str | None
    faults: str
    seed: int
    provision: bool
    max_inflight: int
    ledger: Path | None
    dry_run: bool


def _choice(value: str, option: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _start(text: str | None, period: timedelta, settings: Settings) -> datetime:
    """The first simulated moment: given, or such that the period ends within the hour before now; refused
    when the gateway would refuse the readings as too old or from the future."""
    now = datetime.now(UTC)
    if text is None:
        start = (now - period).replace(minute=0, second=0, microsecond=0)
    else:
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(f"--start {text!r} is not YYYY-MM-DD or an ISO 8601 date-time") from None
        if start.tzinfo is None:
            if len(text) > len("YYYY-MM-DD"):
                raise typer.BadParameter(f"--start {text!r} has no UTC offset; end it with Z or +01:00")
            start = start.replace(tzinfo=UTC)
    backfill = timedelta(days=settings.gateway_backfill_days)
    skew = timedelta(seconds=settings.gateway_clock_skew_s)
    if start < now - backfill + timedelta(hours=1):
        raise typer.BadParameter(
            f"the simulated period starts {start.isoformat()}, more than {backfill.days} days ago: the gateway"
            " refuses readings that old (MB_GATEWAY_BACKFILL_DAYS); start later or simulate less"
        )
    if start + period > now + skew:
        raise typer.BadParameter(
            f"the simulated period {start.isoformat()} + {period} ends in the future: the gateway refuses readings"
            f" more than {skew} ahead of its clock; start earlier or simulate less"
        )
    return start


def _provision(ctx: typer.Context, devices: list[Device]) -> None:
    with store_from(ctx) as store:
        known = {d.id: d for d in store.devices()}
        new = [d for d in devices if d.id not in known]
        clashes = [d.id for d in devices if d.id in known and known[d.id].kind != d.kind]
        if new:
            store.add_devices(new)
    console.print(f"provisioned {len(new)} device(s); {len(devices) - len(new)} already registered")
    for device_id in clashes[:10]:
        err_console.print(
            f"[yellow]warning:[/] {device_id} is registered with another kind; its messages may be refused"
        )


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[list[int]]:
    """Call ``stop()`` on SIGINT/SIGTERM while the block runs; yields the signals received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _simulate(
    ctx: typer.Context,
    settings: Settings,
    *,
    what: str,
    devices: Callable[[], list[Device]],
    messages: Callable[[], Iterator[Outgoing]],
    device_ids: list[str],
    period: tuple[int, int],
    options: _RunOptions,
) -> None:
    from gateway.mqtt import BrokerAddress
    from simulators.clock import parse_speed
    from simulators.faults import FaultInjector, FaultLedger, FaultSpec

    spec = FaultSpec.parse(options.faults)
    speed = parse_speed(options.speed)
    address = None
    if not options.dry_run:
        url = options.broker or settings.mqtt_url
        if not url:
            raise typer.BadParameter("no broker: pass --broker mqtt://HOST:PORT or set MB_MQTT_URL")
        address = BrokerAddress.parse(url)
    if options.provision:
        _provision(ctx, devices())

    ledger = FaultLedger()
    injector = FaultInjector(spec, seed=options.seed, device_ids=device_ids, ledger=ledger)
    stream = injector.apply(messages())
    start_s, end_s = period
    console.print(
        f"simulating {what} from {_ts(start_s)} to {_ts(end_s)}"
        f" (faults: {spec}; speed: {'max' if speed is None else f'{speed:g}x'}; seed {options.seed})"
    )
    if address is None:
        summary = _dry_run(stream, ledger)
    else:
        summary = _publish(address, stream, ledger, options, speed, start_s, end_s)
    if options.ledger is not None:
        with options.ledger.open("w", encoding="utf-8") as out:
            for entry in ledger.as_dicts():
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        console.print(f"wrote {len(ledger.entries)} injected fault(s) to {options.ledger}")
    console.print(_summary_table(summary, ledger, dry_run=address is None, url=address.url if address else None))
    if summary.stopped:
        raise typer.Exit(130)
    if not summary.ok:
        err_console.print(
            f"[red]{summary.unacked} message(s) unacknowledged, {summary.refused} refused by the broker[/]"
            + (f" (reason codes {summary.refusals})" if summary.refusals else "")
        )
        raise typer.Exit(1)


def _publish(
    address: BrokerAddress,
    stream: Iterator[Outgoing],
    ledger: FaultLedger,
    options: _RunOptions,
    speed: float | None,
    start_s: int,
    end_s: int,
) -> PublishSummary:
    from simulators.publisher import Publisher

    total = max(1, end_s - start_s)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[sim]}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("publishing", total=total, sim="", counts="")

        def on_progress(state: PublishProgress) -> None:
            at = state.sim_time_s if state.sim_time_s is not None else start_s
            rate = state.published / state.wall_s if state.wall_s > 0 else 0.0
            progress.update(
                task,
                completed=min(total, max(0, int(at) - start_s)),
                sim=_ts(int(at)),
                counts=f"{state.published} sent, {state.acked} acked, {rate:,.0f} msg/s",
            )

        publisher = Publisher(
            address,
            rate=options.rate,
            speed=speed,
            max_inflight=options.max_inflight,
            on_progress=on_progress,
        )
        with _stop_on_signals(publisher.stop):
            summary = publisher.run(stream, ledger=ledger)
        if not summary.stopped:
            progress.update(task, completed=total)
    return summary


def _dry_run(stream: Iterator[Outgoing], ledger: FaultLedger) -> PublishSummary:
    from collections import Counter

    from simulators.publisher import PublishSummary

    families: Counter[str] = Counter()
    records = published = 0
    first: int | None = None
    last: int | None = None
    with console.status("generating ..."):
        for message in stream:
            published += 1
            records += message.records
            families[message.family] += 1
            first = message.send_at if first is None else first
            last = message.send_at
    return PublishSummary(
        published=published,
        acked=0,
        unacked=0,
        refused=0,
        no_subscribers=0,
        records=records,
        by_family=dict(families),
        faults=ledger.counts(),
        first_send_at=first,
        last_send_at=last,
        wall_s=0.0,
        stopped=False,
        protocol="-",
    )


def _ts(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _summary_table(summary: PublishSummary, ledger: FaultLedger, *, dry_run: bool, url: str | None) -> Table:
    table = Table("", "", title="dry run (nothing published)" if dry_run else f"published to {url}", show_header=False)
    table.add_row("messages", f"{summary.published:,}" + ("" if dry_run else f" ({summary.acked:,} acknowledged)"))
    table.add_row("by topic", ", ".join(f"{family} {n:,}" for family, n in sorted(summary.by_family.items())))
    table.add_row("records carried", f"{summary.records:,}")
    if not dry_run:
        table.add_row("wall time", f"{summary.wall_s:.1f} s ({summary.rate_per_s:,.0f} msg/s, MQTT {summary.protocol})")
        if summary.no_subscribers:
            table.add_row("no subscriber", f"{summary.no_subscribers:,} (is a gateway subscribed?)")
        if summary.unacked or summary.refused:
            table.add_row("[red]unacknowledged / refused[/]", f"{summary.unacked:,} / {summary.refused:,}")
    injected = ", ".join(f"{name} {n:,}" for name, n in summary.faults.items() if n) or "none"
    table.add_row("faults injected", injected)
    if ledger.entries:
        table.add_row("dead letters expected", f"{len(ledger.dead_letters()):,}")
        table.add_row("records lost (gap, skew, garbage)", f"{ledger.lost_records():,}")
    if summary.stopped:
        table.add_row("[yellow]stopped[/]", "before the end of the simulated period")
    return table
