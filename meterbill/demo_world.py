"""The demo's world: simulated fleets published through the broker into the gateway and the store.

Meters (50 electricity, 10 gas, 10 water by default) and insured vehicles (20) over a period that
ends now, provisioned in the store, published at QoS 1 by the simulators' publisher (optionally
with injected faults), ingested by a gateway running in this process, exactly as in production.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.mqtt import BrokerAddress
from gateway.runner import GatewayOptions, run_gateway
from simulators.faults import FaultInjector, FaultLedger, FaultSpec
from simulators.meters import MeterFleet, MeterFleetConfig
from simulators.publisher import Publisher, PublishProgress
from simulators.vehicles import VehicleFleet, VehicleFleetConfig
from store.contract import Store

__all__ = ["IngestSummary", "World", "ingest_world"]


@dataclass(frozen=True)
class World:
    meters: int = 70  # mixed 5:1:1 -> 50 electricity, 10 gas, 10 water
    vehicles: int = 20
    days: int = 30
    seed: int = 7
    faults: str = ""


@dataclass
class IngestSummary:
    devices: int = 0
    messages_published: int = 0
    readings_stored: int = 0
    trips_stored: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    faults_injected: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def ingest_world(
    store: Store,
    broker: BrokerAddress,
    world: World,
    *,
    shared_subscription: bool,
    on_progress: Callable[[str], None] = lambda text: None,
    settle_timeout_s: float = 120.0,
) -> IngestSummary:
    """Provision, start a gateway, publish the world's month, wait until the store holds it all."""
    started = time.monotonic()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=world.days)
    meters = MeterFleet(MeterFleetConfig(world.meters, start, end - start, seed=world.seed))
    vehicles = VehicleFleet(VehicleFleetConfig(world.vehicles, start, end - start, seed=world.seed))
    devices = meters.devices() + vehicles.devices()
    known = {d.id for d in store.devices()}
    store.add_devices([d for d in devices if d.id not in known])
    summary = IngestSummary(devices=len(devices))

    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def gateway() -> None:
        try:
            options = GatewayOptions(group="demo", shared=shared_subscription, metrics_port=None)
            run_gateway(store, broker, options, stop, ready)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller below
            errors.append(exc)

    thread = threading.Thread(target=gateway, name="demo-gateway", daemon=True)
    thread.start()
    try:
        on_progress("starting the gateway ...")
        while not ready.wait(0.2):  # publishing before the gateway subscribed would lose messages
            if errors or not thread.is_alive():
                raise errors[0] if errors else RuntimeError("the demo gateway stopped before it subscribed")
        spec = FaultSpec.parse(world.faults)
        ledger = FaultLedger()
        for name, fleet in (("meters", meters), ("vehicles", vehicles)):
            injector = FaultInjector(spec, seed=world.seed, device_ids=fleet.device_ids, ledger=ledger)

            def progress(state: PublishProgress, name: str = name) -> None:
                on_progress(f"publishing {name}: {state.published:,} sent, {state.acked:,} acknowledged")

            result = Publisher(broker, on_progress=progress).run(injector.apply(fleet.messages()), ledger=ledger)
            summary.messages_published += result.published
        summary.faults_injected = {k: v for k, v in ledger.counts().items() if v}
        _settle(store, on_progress, settle_timeout_s, errors)
    finally:
        stop.set()
        thread.join(60)
    if errors:
        raise errors[0]
    stats = store.stats()
    summary.readings_stored = stats.readings
    summary.trips_stored = len(store.trips())
    for letter in store.dead_letters(limit=1_000_000):
        summary.dead_letters[letter.reason] += letter.occurrences
    summary.wall_s = time.monotonic() - started
    return summary


def _settle(store: Store, on_progress: Callable[[str], None], timeout_s: float, errors: list[BaseException]) -> None:
    """Wait until the store stops growing: the gateway has committed what the broker delivered."""
    deadline = time.monotonic() + timeout_s
    last, steady_since = (-1, -1, -1), time.monotonic()
    while time.monotonic() < deadline and not errors:
        stats = store.stats()
        now = (stats.readings, stats.dead_letters, len(store.trips()))
        if now != last:
            last, steady_since = now, time.monotonic()
            on_progress(f"ingesting: {now[0]:,} readings, {now[2]:,} trips stored, {now[1]:,} dead letters")
        elif time.monotonic() - steady_since > 2.0:  # two batch delays and more without a commit
            return
        time.sleep(0.25)
