"""Simulated insured vehicles: drivers' days of commutes, errands and night trips, and what they report.

Each vehicle has a driver drawn once (:class:`DriverProfile`): whether and how far they commute,
how often they run errands or drive at night, how fast, and how risky their driving is, per kind
of event. A day of the driver is a handful of trips with realistic distances [km] and durations
[s]; each trip carries driving events (harsh_brake, speeding, harsh_accel, phone_use) at rates per
100 km that depend on the driver and on the trip (night trips speed more, errands in town brake
more). The vehicle's odometer [km] advances with every trip.

A vehicle publishes only on ``vehicles/{id}/trips`` and ``vehicles/{id}/events`` (the gateway
refuses readings from a vehicle): a finished trip with its events, or, for vehicles with live
telematics, each event as it happens on the events topic and then the trip without them. The
odometer goes in the trip message as an extra field, which the gateway ignores.

Pure: no I/O, no wall clock; the same config gives the same bytes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from devices.errors import RegistryError
from devices.model import Device, validate_identifier
from devices.trips import EVENT_TYPES, EventType
from simulators.errors import SimulationSpecError
from simulators.payloads import Outgoing, encode_events, encode_trip, fixed, topic_for

__all__ = [
    "EVENTS_PER_100KM",
    "DriverProfile",
    "Purpose",
    "SimTrip",
    "VehicleFleet",
    "VehicleFleetConfig",
    "VehicleModel",
    "VehicleSpec",
]

Purpose = Literal["commute", "errand", "night"]
DAY_S = 86_400
_SEED_CODE = 50
_KM_PER_MILE = 1.609344
# Baseline rates of events per 100 km for an average driver; each driver multiplies them.
EVENTS_PER_100KM: dict[EventType, float] = {"harsh_brake": 1.5, "speeding": 2.0, "harsh_accel": 1.0, "phone_use": 0.5}
# How a kind of trip changes them: speeding at night, braking in town on errands.
_CONTEXT: dict[Purpose, dict[EventType, float]] = {
    "commute": {},
    "errand": {"harsh_brake": 1.3, "speeding": 0.6},
    "night": {"speeding": 2.0, "harsh_accel": 1.5, "phone_use": 1.3},
}
_GAP_S = 300  # a trip starts at least this long after the previous one ended


@dataclass(frozen=True)
class DriverProfile:
    """One driver's habits, drawn once per vehicle.

    ``commute_km`` one way [km] (0: does not commute); ``departs_h``/``returns_h`` local [h];
    ``remote_share`` of working days without the commute [1]; ``errands_weekday``/``errands_weekend``
    round trips per day [1/day]; ``nights_per_week`` night trips [1/week]; ``speed_factor`` [1];
    ``risk`` the driver's multiplier of every event rate [1], ``event_factor`` a further one per event
    type [1]; ``live_events`` sends events as they happen; ``unit`` of the distances sent (km or mi).
    """

    commute_km: float
    departs_h: float
    returns_h: float
    remote_share: float
    errands_weekday: float
    errands_weekend: float
    nights_per_week: float
    speed_factor: float
    risk: float
    event_factor: tuple[tuple[EventType, float], ...]
    live_events: bool = False
    unit: Literal["km", "mi"] = "km"

    @classmethod
    def draw(cls, rng: np.random.Generator, *, live_events: bool, miles: bool) -> DriverProfile:
        commutes = rng.random() < 0.65
        departs = float(rng.uniform(6.8, 9.0))
        return cls(
            commute_km=float(np.clip(rng.lognormal(math.log(14.0), 0.6), 2.0, 80.0)) if commutes else 0.0,
            departs_h=departs,
            returns_h=departs + float(rng.uniform(8.5, 10.0)),
            remote_share=float(rng.uniform(0.0, 0.3)),
            errands_weekday=float(rng.uniform(0.3, 1.2)),
            errands_weekend=float(rng.uniform(0.8, 2.2)),
            nights_per_week=float(rng.exponential(0.4)),
            speed_factor=float(rng.uniform(0.9, 1.15)),
            risk=float(rng.lognormal(0.0, 0.6)),
            event_factor=tuple((kind, float(rng.lognormal(0.0, 0.35))) for kind in EVENT_TYPES),
            live_events=live_events,
            unit="mi" if miles else "km",
        )

    def rate_per_100km(self, kind: EventType, purpose: Purpose) -> float:
        """This driver's expected events of ``kind`` per 100 km on a ``purpose`` trip [1/100 km]."""
        factor = dict(self.event_factor)[kind]
        return EVENTS_PER_100KM[kind] * self.risk * factor * _CONTEXT[purpose].get(kind, 1.0)


@dataclass(frozen=True)
class SimTrip:
    """One trip: ``start``/``end`` [epoch s], ``distance_hm`` [100 m], events as (ts [epoch s], type),
    and the odometer at the end [100 m]."""

    trip_id: str
    purpose: Purpose
    start: int
    end: int
    distance_hm: int
    events: tuple[tuple[int, EventType], ...]
    odometer_hm: int

    @property
    def distance_km(self) -> float:
        return self.distance_hm / 10


@dataclass(frozen=True)
class VehicleSpec:
    """One simulated vehicle: identity, driver, odometer at the start [100 m], upload delay after a trip [s]."""

    device_id: str
    serial: str
    number: int
    driver: DriverProfile
    initial_odometer_hm: int
    upload_delay_s: int

    def device(self) -> Device:
        return Device.new(self.device_id, "vehicle", self.serial)


class VehicleModel:
    """The trips of one vehicle, day by day: pure; the same day always gives the same trips."""

    def __init__(self, spec: VehicleSpec, *, seed: int, utc_offset_h: float = 1.0) -> None:
        self.spec = spec
        self.seed = seed
        self.utc_offset_h = utc_offset_h

    def day_plan(self, day_number: int) -> list[tuple[int, int, int, Purpose, tuple[tuple[int, EventType], ...]]]:
        """The trips of the driver's day ``day_number`` (05:00 local to 05:00 the next day), as
        (start [epoch s], end [epoch s], distance [100 m], purpose, events), without overlaps."""
        driver = self.spec.driver
        rng = np.random.default_rng([self.seed, _SEED_CODE, self.spec.number, day_number])
        midnight = day_number * DAY_S - int(self.utc_offset_h * 3600)  # local midnight [epoch s]
        weekday = (day_number + 3) % 7  # 0 = Monday
        candidates: list[tuple[float, float, Purpose]] = []  # (local hour, km, purpose)
        if driver.commute_km > 0 and weekday < 5 and rng.random() >= driver.remote_share:
            route = driver.commute_km * float(rng.lognormal(0.0, 0.05))
            candidates.append((driver.departs_h + float(rng.normal(0.0, 0.25)), route, "commute"))
            candidates.append((driver.returns_h + float(rng.normal(0.0, 0.4)), route, "commute"))
        errands = int(rng.poisson(driver.errands_weekend if weekday >= 5 else driver.errands_weekday))
        for _ in range(errands):
            leaves = float(rng.uniform(9.0, 20.0))
            km = float(np.clip(rng.lognormal(math.log(4.0), 0.7), 0.5, 40.0))
            candidates.append((leaves, km, "errand"))
            candidates.append(
                (leaves + km / 25 + float(rng.uniform(0.25, 1.5)), km * float(rng.lognormal(0, 0.05)), "errand")
            )
        night_rate = driver.nights_per_week / 7 * (2.0 if weekday in (4, 5) else 0.6)
        for _ in range(int(rng.poisson(night_rate))):
            km = float(np.clip(rng.lognormal(math.log(12.0), 0.6), 2.0, 60.0))
            candidates.append((float(rng.uniform(22.0, 27.0)), km, "night"))

        plan: list[tuple[int, int, int, Purpose, tuple[tuple[int, EventType], ...]]] = []
        free_from = midnight + 5 * 3600
        for hour, km, purpose in sorted(candidates):
            start = midnight + round(hour * 3600)
            distance_hm = max(1, round(km * 10))
            speed_kmh = {
                "commute": min(80.0, max(22.0, 20.0 + 0.8 * km)),
                "errand": float(rng.uniform(18.0, 32.0)),
                "night": float(rng.uniform(35.0, 60.0)),
            }[purpose] * driver.speed_factor
            duration = 60 + round(distance_hm / 10 / speed_kmh * 3600 * float(rng.lognormal(0.0, 0.1)))
            if start < free_from or start + duration > midnight + 29 * 3600:
                continue  # overlaps the previous trip, or runs into the next day's plan
            plan.append(
                (
                    start,
                    start + duration,
                    distance_hm,
                    purpose,
                    self._events(rng, start, duration, distance_hm, purpose),
                )
            )
            free_from = start + duration + _GAP_S
        return plan

    def _events(
        self, rng: np.random.Generator, start: int, duration: int, distance_hm: int, purpose: Purpose
    ) -> tuple[tuple[int, EventType], ...]:
        kinds: list[EventType] = []
        for kind in EVENT_TYPES:
            expected = self.spec.driver.rate_per_100km(kind, purpose) * distance_hm / 1000
            kinds += [kind] * int(rng.poisson(expected))
        if not kinds:
            return ()
        # Distinct seconds: the store keys an event by (device, ts, type), and a trip is never that eventful.
        moments = rng.choice(np.arange(1, duration), size=min(len(kinds), duration - 1), replace=False)
        return tuple(sorted((start + int(t), kind) for t, kind in zip(moments.tolist(), kinds, strict=False)))

    def trips(self, start_s: int, end_s: int) -> Iterator[SimTrip]:
        """The trips that lie wholly inside ``[start_s, end_s]`` [epoch s], numbered t-000001, ... in order."""
        number, odometer = 0, self.spec.initial_odometer_hm
        first_day = (start_s + int(self.utc_offset_h * 3600)) // DAY_S - 1
        for day_number in range(first_day, end_s // DAY_S + 2):
            for start, end, distance_hm, purpose, events in self.day_plan(day_number):
                if start < start_s or end > end_s:
                    continue
                number += 1
                odometer += distance_hm
                yield SimTrip(f"t-{number:06d}", purpose, start, end, distance_hm, events, odometer)

    def messages(self, start_s: int, end_s: int) -> Iterator[Outgoing]:
        """Everything this vehicle sends over the period, in the order it sends it."""
        spec = self.spec
        device_id = spec.device_id
        for trip in self.trips(start_s, end_s):
            if spec.driver.live_events:
                for k, (ts, kind) in enumerate(trip.events, start=1):
                    payload = encode_events(device_id, [(ts, kind)], trip.trip_id)
                    key = f"{device_id}/{trip.trip_id}/e{k}"
                    yield Outgoing(topic_for("events", device_id), payload, device_id, "events", ts, key, 1)
            if spec.driver.unit == "mi":
                distance = fixed(round(trip.distance_hm * 100 / _KM_PER_MILE), 3)
            else:
                distance = fixed(trip.distance_hm, 1)
            payload = encode_trip(
                device_id,
                trip.trip_id,
                trip.start,
                trip.end,
                distance,
                spec.driver.unit,
                () if spec.driver.live_events else trip.events,
                odometer_km=fixed(trip.odometer_hm, 1),
            )
            records = 1 + (0 if spec.driver.live_events else len(trip.events))
            key = f"{device_id}/{trip.trip_id}"
            yield Outgoing(
                topic_for("trips", device_id), payload, device_id, "trips", trip.end + spec.upload_delay_s, key, records
            )


@dataclass(frozen=True)
class VehicleFleetConfig:
    """A fleet of insured vehicles over a period; ``live_events_fraction`` of them send events as they
    happen, ``miles_fraction`` report distances in miles [1]."""

    count: int
    start: datetime
    duration: timedelta
    seed: int = 0
    id_prefix: str = ""
    live_events_fraction: float = 0.25
    miles_fraction: float = 0.1
    utc_offset_h: float = 1.0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise SimulationSpecError(f"count {self.count} must be at least 1")
        if self.seed < 0:
            raise SimulationSpecError(f"seed {self.seed} must be >= 0")
        if self.start.utcoffset() is None:
            raise SimulationSpecError(f"start {self.start.isoformat()} has no UTC offset")
        if self.duration <= timedelta(0):
            raise SimulationSpecError(f"duration {self.duration} must be longer than zero")
        for name in ("live_events_fraction", "miles_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimulationSpecError(f"{name} {value!r} must lie in [0, 1]")
        try:
            validate_identifier(f"{self.id_prefix}v-{self.count:05d}", "device id")
        except RegistryError as exc:
            raise SimulationSpecError(f"id prefix {self.id_prefix!r} makes invalid device ids: {exc}") from None

    @property
    def start_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        return self.start_s + int(self.duration.total_seconds())


@dataclass
class VehicleFleet:
    """The vehicles of a :class:`VehicleFleetConfig`, their registry entries and their messages."""

    config: VehicleFleetConfig
    specs: list[VehicleSpec] = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        chooser = np.random.default_rng([cfg.seed, _SEED_CODE])
        order = chooser.permutation(cfg.count)
        live = {int(i) + 1 for i in order[: round(cfg.count * cfg.live_events_fraction)]}
        miles = {int(i) + 1 for i in chooser.permutation(cfg.count)[: round(cfg.count * cfg.miles_fraction)]}
        self.specs = []
        for number in range(1, cfg.count + 1):
            rng = np.random.default_rng([cfg.seed, _SEED_CODE, number])
            driver = DriverProfile.draw(rng, live_events=number in live, miles=number in miles)
            self.specs.append(
                VehicleSpec(
                    f"{cfg.id_prefix}v-{number:05d}",
                    f"SIM-V{cfg.seed}-{number:06d}",
                    number,
                    driver,
                    initial_odometer_hm=int(rng.integers(5_000, 150_000)) * 10,
                    upload_delay_s=int(rng.integers(5, 90)),
                )
            )

    @property
    def device_ids(self) -> list[str]:
        return [s.device_id for s in self.specs]

    def model(self, spec: VehicleSpec) -> VehicleModel:
        return VehicleModel(spec, seed=self.config.seed, utc_offset_h=self.config.utc_offset_h)

    def devices(self) -> list[Device]:
        return [s.device() for s in self.specs]

    def messages_of(self, spec: VehicleSpec) -> Iterator[Outgoing]:
        return self.model(spec).messages(self.config.start_s, self.config.end_s)

    def messages(self) -> Iterator[Outgoing]:
        """Every message of the fleet in sending order (ties: fleet order), generated lazily."""
        return heapq.merge(*(self.messages_of(s) for s in self.specs), key=lambda m: m.send_at)
