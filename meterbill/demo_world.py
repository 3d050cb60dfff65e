"""The demo's world: simulated fleets published through the broker into the gateway and the store.

Meters (50 electricity, 10 gas, 10 water by default) and insured vehicles (20), each with its
customer and contract on one of five tariffs (``rating/examples``: French peak/off-peak
electricity, a commercial time-of-use and demand tariff for the small businesses, gas billed in kWh
from m^3, water in inclining blocks, pay-as-you-drive insurance with a daily distance cap). The
telemetry covers the last days of the months before today's (:class:`Window`): those months are
over, so they can be billed in full. It is published at QoS 1 by the simulators' publisher
(optionally with injected faults, written down in a :class:`FaultLedger`) and ingested by a gateway
running in this process, exactly as in production.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import numpy as np

from billing.runs import tariff_json
from devices.model import Contract, ContractDevice, Customer, Device, PostalAddress
from gateway.mqtt import BrokerAddress
from gateway.runner import GatewayOptions, run_gateway
from meterbill.errors import ConfigurationError
from rating.tariff_file import load_tariff
from simulators.faults import FaultInjector, FaultLedger, FaultSpec
from simulators.loads import ElectricityProfile
from simulators.meters import MeterFleet, MeterFleetConfig, MeterSpec
from simulators.payloads import Outgoing
from simulators.publisher import Publisher, PublishProgress
from simulators.vehicles import VehicleFleet, VehicleFleetConfig
from store.contract import Store

__all__ = ["DEMO_TARIFFS", "IngestSummary", "Window", "World", "Worldview", "ingest_world", "provision_world"]

# tariff id -> its file in rating/examples
DEMO_TARIFFS: dict[str, str] = {
    "fr-elec-hphc": "fr_electricity_hphc.json",
    "us-commercial-tou-d": "us_commercial_tou_demand.json",
    "fr-gas-b1": "gas_kwh_from_m3.toml",
    "water-blocks": "water_inclining_blocks.json",
    "payd-motor": "payd_motor.json",
}
_ADDRESSES: dict[str, tuple[str, str, str]] = {  # tariff id -> (city, postcode, country) of its customers
    "fr-elec-hphc": ("Lyon", "69003", "FR"),
    "us-commercial-tou-d": ("Los Angeles", "90012", "US"),
    "fr-gas-b1": ("Lille", "59000", "FR"),
    "water-blocks": ("London", "SW1A 1AA", "GB"),
    "payd-motor": ("Nantes", "44000", "FR"),
}
_FIRST = ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Nathan", "Inès", "Arthur", "Zoé", "Paul")
_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau")
_STREETS = ("rue des Lilas", "avenue Foch", "Main Street", "High Street")
_TRADE = ("Bakery", "Print shop", "Garage", "Florist", "Bistro", "Pharmacy", "Bookshop", "Dry cleaner")


@dataclass(frozen=True)
class Window:
    """The simulated telemetry: [start, end) [UTC], and the periods (``YYYY-MM``) it covers that are over.

    ``billed_until`` is the first day of today's month: the months before it are over and are billed.
    The telemetry runs one day past it (when today allows) so that the last local day of every time
    zone west of UTC is complete.
    """

    start: datetime
    end: datetime
    billed_until: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def periods(self) -> tuple[str, ...]:
        out: list[str] = []
        day = self.start.date().replace(day=1)
        while day < self.billed_until:
            out.append(f"{day.year:04d}-{day.month:02d}")
            day = (day + timedelta(days=32)).replace(day=1)
        return tuple(out)


@dataclass(frozen=True)
class World:
    """What the demo simulates: ``meters`` (mixed 5:1:1 electricity, gas, water), ``vehicles``, and
    ``days`` of telemetry ending on the first of today's month (None: the whole previous month)."""

    meters: int = 70
    vehicles: int = 20
    days: int | None = None
    seed: int = 7
    faults: str = ""

    def window(self, today: date) -> Window:
        cutoff = today.replace(day=1)
        first = (cutoff - timedelta(days=1)).replace(day=1) if self.days is None else cutoff - timedelta(self.days)
        last = min(cutoff + timedelta(days=1), today)

        def midnight(day: date) -> datetime:
            return datetime.combine(day, dtime(0), tzinfo=UTC)

        return Window(midnight(first), midnight(last), cutoff)


@dataclass(frozen=True)
class Worldview:
    """The fleets of a world over its window (None where the world has none of them)."""

    window: Window
    meters: MeterFleet | None
    vehicles: VehicleFleet | None
    seed: int = 0

    @classmethod
    def of(cls, world: World, today: date) -> Worldview:
        w = world.window(today)
        span = w.end - w.start
        meters = MeterFleet(MeterFleetConfig(world.meters, w.start, span, seed=world.seed)) if world.meters else None
        vehicles = (
            VehicleFleet(VehicleFleetConfig(world.vehicles, w.start, span, seed=world.seed)) if world.vehicles else None
        )
        return cls(w, meters, vehicles, world.seed)

    def devices(self) -> list[Device]:
        return (self.meters.devices() if self.meters else []) + (self.vehicles.devices() if self.vehicles else [])


@dataclass
class IngestSummary:
    """What the fleets sent and what the store holds after the gateway ingested it.

    ``records_sent`` counts the readings, trips and events of the messages the devices meant to
    send, per topic family (``readings``, ``trips``, ``events``), before any fault.
    """

    devices: int = 0
    messages_published: int = 0
    readings_stored: int = 0
    trips_stored: int = 0
    events_stored: int = 0
    conflicts: int = 0
    reviews: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    faults_injected: dict[str, int] = field(default_factory=dict)
    records_sent: Counter[str] = field(default_factory=Counter)
    ledger: FaultLedger = field(default_factory=FaultLedger)
    wall_s: float = 0.0


# -- provisioning ---------------------------------------------------------------------------------
def _examples() -> Path:
    folder = Path(str(resources.files("rating") / "examples"))
    if not folder.is_dir():
        raise ConfigurationError(
            f"the demo's tariffs are read from {folder}, which is missing: run the demo from a checkout"
            " (pip install -e .) or ship rating/examples with the package"
        )
    return folder


def _tariff_text(path: Path) -> str:
    load_tariff(path)  # validated as `meterbill tariffs add` validates it
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return tariff_json(tomllib.loads(text, parse_float=Decimal))
    return json.dumps(json.loads(text))


def _siren(rng: np.random.Generator) -> str:
    """Nine digits with a valid Luhn check digit, as INSEE gives them."""
    digits = [int(d) for d in rng.integers(0, 10, 8)]
    for check in range(10):
        number = [*digits, check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(number))
        if total % 10 == 0:
            return "".join(map(str, number))
    raise AssertionError("a Luhn check digit always exists")


def _tariff_of(spec_kind: str, business: bool) -> str:
    if spec_kind == "electricity_meter":
        return "us-commercial-tou-d" if business else "fr-elec-hphc"
    return {"gas_meter": "fr-gas-b1", "water_meter": "water-blocks", "vehicle": "payd-motor"}[spec_kind]


def _customer(device_id: str, tariff_id: str, business: bool, rng: np.random.Generator) -> Customer:
    city, postcode, country = _ADDRESSES[tariff_id]
    street = f"{int(rng.integers(1, 120))} {_STREETS[int(rng.integers(0, len(_STREETS)))]}"
    person = f"{_FIRST[int(rng.integers(0, len(_FIRST)))]} {_LAST[int(rng.integers(0, len(_LAST)))]}"
    address = PostalAddress((street,), city=city, postcode=postcode, country=country)
    slug = device_id.replace(":", "-").replace(".", "-")
    if business:
        name = f"{_TRADE[int(rng.integers(0, len(_TRADE)))]} {person.split()[1]}"
        siren = _siren(rng) if country == "FR" else None
        return Customer(f"cu-{device_id}", name, email=f"billing@{slug}.example.com", address=address, siren=siren)
    return Customer(f"cu-{device_id}", person, email=f"{slug}@example.com", address=address)


def provision_world(store: Store, view: Worldview) -> int:
    """Tariffs, devices, customers and contracts of the world, each added once; returns the contracts."""
    folder = _examples()
    for tariff_id, name in DEMO_TARIFFS.items():
        if store.tariff_version(tariff_id) is None:
            store.add_tariff_version(tariff_id, _tariff_text(folder / name))
    known = {d.id for d in store.devices()}
    store.add_devices([d for d in view.devices() if d.id not in known])
    businesses: set[str] = set()
    if view.meters is not None:
        businesses = {s.device_id for s in view.meters.specs if _is_business(s)}
    rng = np.random.default_rng([view.seed, 0xC057])
    start = view.window.start
    contracts = 0
    for device in view.devices():
        contracts += 1
        contract_id = f"ct-{device.id}"
        business = device.id in businesses
        tariff_id = _tariff_of(device.kind, business)
        customer = _customer(device.id, tariff_id, business, rng)
        if store.contract(contract_id) is not None:
            continue
        if store.customer(customer.id) is None:
            store.add_customers([customer])
        store.add_contract(
            Contract(
                contract_id,
                customer.id,
                tariff_id,
                start.date(),
                devices=(ContractDevice(device.id, start),),
            )
        )
    return contracts


def _is_business(spec: MeterSpec) -> bool:
    return isinstance(spec.profile, ElectricityProfile) and spec.profile.segment == "business"


# -- ingestion ------------------------------------------------------------------------------------
def _counted(messages: Iterable[Outgoing], into: Counter[str]) -> Iterator[Outgoing]:
    """The messages unchanged, their records counted per family as the devices meant to send them."""
    for message in messages:
        into[message.family] += message.records
        yield message


def ingest_world(
    store: Store,
    broker: BrokerAddress,
    view: Worldview,
    faults: str,
    *,
    seed: int,
    shared_subscription: bool,
    on_progress: Callable[[str], None] = lambda text: None,
    settle_timeout_s: float = 120.0,
) -> IngestSummary:
    """Start a gateway, publish the world's telemetry, wait until the store holds it all.

    The world must be provisioned (:func:`provision_world`): a device's first message is accepted only
    when the registry knows it.
    """
    started = time.monotonic()
    summary = IngestSummary(devices=len(view.devices()))
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
        spec = FaultSpec.parse(faults)
        ledger = summary.ledger
        fleets: list[tuple[str, MeterFleet | VehicleFleet]] = [
            (name, fleet) for name, fleet in (("meters", view.meters), ("vehicles", view.vehicles)) if fleet is not None
        ]
        for name, fleet in fleets:
            injector = FaultInjector(spec, seed=seed, device_ids=fleet.device_ids, ledger=ledger)

            def progress(state: PublishProgress, name: str = name) -> None:
                on_progress(f"publishing {name}: {state.published:,} sent, {state.acked:,} acknowledged")

            messages = injector.apply(_counted(fleet.messages(), summary.records_sent))
            result = Publisher(broker, on_progress=progress).run(messages, ledger=ledger)
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
    summary.conflicts = stats.conflicts
    summary.trips_stored = len(store.trips())
    summary.events_stored = len(store.events())
    summary.reviews = len(store.reviews(limit=1_000_000))
    for letter in store.dead_letters(limit=1_000_000):
        summary.dead_letters[letter.reason] += letter.occurrences
    summary.wall_s = time.monotonic() - started
    return summary


def _settle(store: Store, on_progress: Callable[[str], None], timeout_s: float, errors: list[BaseException]) -> None:
    """Wait until the store stops growing: the gateway has committed what the broker delivered."""
    deadline = time.monotonic() + timeout_s
    last, steady_since = (-1, -1, -1, -1), time.monotonic()
    while time.monotonic() < deadline and not errors:
        stats = store.stats()
        now = (stats.readings, stats.dead_letters, len(store.trips()), len(store.events()))
        if now != last:
            last, steady_since = now, time.monotonic()
            on_progress(f"ingesting: {now[0]:,} readings, {now[2]:,} trips stored, {now[1]:,} dead letters")
        elif time.monotonic() - steady_since > 2.0:  # two batch delays and more without a commit
            return
        time.sleep(0.25)
