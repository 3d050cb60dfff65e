"""Simulated vehicles (simulators/vehicles.py): deterministic, realistic trips, event rates that vary by
driver, an odometer that adds up, and payloads the codecs and the gateway accept as sent."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from devices.codecs import decode_events, decode_trip
from devices.trips import EVENT_TYPES, Trip
from gateway.pipeline import Accept, Message, process
from simulators.errors import SimulationSpecError
from simulators.vehicles import VehicleFleet, VehicleFleetConfig

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def fleet(**overrides: object) -> VehicleFleet:
    config: dict[str, object] = {"count": 20, "start": START, "duration": timedelta(days=14), "seed": 3}
    return VehicleFleet(VehicleFleetConfig(**{**config, **overrides}))  # type: ignore[arg-type]


def test_the_same_seed_gives_the_same_bytes() -> None:
    first = [(m.topic, m.payload, m.send_at) for m in fleet().messages()]
    assert first == [(m.topic, m.payload, m.send_at) for m in fleet().messages()]
    assert first != [(m.topic, m.payload, m.send_at) for m in fleet(seed=4).messages()]


def test_trips_are_realistic_commutes_errands_and_night_drives() -> None:
    f = fleet(count=40)
    purposes: Counter[str] = Counter()
    for spec in f.specs:
        trips = list(f.model(spec).trips(f.config.start_s, f.config.end_s))
        odometer = spec.initial_odometer_hm
        previous_end = f.config.start_s
        for n, trip in enumerate(trips, start=1):
            purposes[trip.purpose] += 1
            assert trip.trip_id == f"t-{n:06d}"
            assert f.config.start_s <= trip.start and trip.end <= f.config.end_s
            assert trip.start >= previous_end + 300  # never two at once
            previous_end = trip.end
            hours = (trip.end - trip.start) / 3600
            speed = trip.distance_km / hours
            assert 0.05 <= trip.distance_km <= 100, trip
            assert 3 <= speed <= 90, trip  # [km/h], parking included
            odometer += trip.distance_hm
            assert trip.odometer_hm == odometer
            local_hour = ((trip.start % 86400) / 3600 + 1) % 24
            if trip.purpose == "night":
                assert local_hour >= 21.9 or local_hour < 3.5
            if trip.purpose == "commute":
                assert 5 <= local_hour <= 21
        days = len(trips) / 14
        assert days < 12  # trips a day
    assert purposes["commute"] > purposes["night"] > 0 and purposes["errand"] > 0
    commuters = [s for s in f.specs if s.driver.commute_km > 0]
    assert 15 <= len(commuters) <= 35


def test_event_rates_vary_by_driver_and_follow_the_driver_profile() -> None:
    f = fleet(count=60, duration=timedelta(days=28))
    observed, expected = [], []
    for spec in f.specs:
        trips = list(f.model(spec).trips(f.config.start_s, f.config.end_s))
        km = sum(t.distance_km for t in trips)
        events = sum(len(t.events) for t in trips)
        if km < 200:
            continue
        observed.append(events / km * 100)
        expected.append(sum(spec.driver.rate_per_100km(k, "commute") for k in EVENT_TYPES))
        for trip in trips:
            assert all(trip.start < ts < trip.end for ts, _ in trip.events)
            assert len({ts for ts, _ in trip.events}) == len(trip.events)  # the store keys events by ts and type
    assert len(observed) >= 20
    assert max(observed) > 3 * min(observed)  # some drive much worse than others
    assert np.corrcoef(observed, expected)[0, 1] > 0.8


def test_every_payload_decodes_to_the_trip_that_was_driven() -> None:
    f = fleet(count=30, live_events_fraction=0.3, miles_fraction=0.3)
    trips = {
        (spec.device_id, t.trip_id): t
        for spec in f.specs
        for t in f.model(spec).trips(f.config.start_s, f.config.end_s)
    }
    live = {s.device_id for s in f.specs if s.driver.live_events}
    miles = {s.device_id for s in f.specs if s.driver.unit == "mi"}
    assert len(live) == 9 and len(miles) == 9
    seen_trips: set[tuple[str, str]] = set()
    seen_events: Counter[tuple[str, str]] = Counter()
    received = START + timedelta(days=15)
    for message in f.messages():
        assert message.topic.startswith(f"vehicles/{message.device_id}/")
        if message.family == "trips":
            trip = decode_trip(message.payload, device_id=message.device_id, received_at=received)
            assert isinstance(trip, Trip), trip
            sim = trips[(message.device_id, trip.trip_id)]
            assert (trip.start.timestamp(), trip.end.timestamp()) == (sim.start, sim.end)
            tolerance = 0.002 if message.device_id in miles else 1e-9  # miles go out to the thousandth
            assert trip.distance_km == pytest.approx(sim.distance_km, abs=tolerance)
            assert json.loads(message.payload)["odometer"] == {"value": sim.odometer_hm / 10, "unit": "km"}
            if message.device_id in live:
                assert trip.events == ()
            else:
                assert [(e.ts.timestamp(), e.type, e.trip_id) for e in trip.events] == [
                    (ts, kind, sim.trip_id) for ts, kind in sim.events
                ]
            seen_trips.add((message.device_id, trip.trip_id))
        else:
            assert message.device_id in live
            events = decode_events(message.payload, device_id=message.device_id, received_at=received)
            assert isinstance(events, tuple) and len(events) == 1, events
            (event,) = events
            assert event.trip_id is not None
            assert (event.ts.timestamp(), event.type) in trips[(message.device_id, event.trip_id)].events
            seen_events[(message.device_id, event.trip_id)] += 1
    assert seen_trips == set(trips)
    assert all(seen_events[key] == len(trips[key].events) for key in trips if key[0] in live)


def test_the_gateway_accepts_every_message_and_vehicles_never_publish_readings() -> None:
    f = fleet(count=10, duration=timedelta(days=3), live_events_fraction=0.5)
    registry = {d.id: d for d in f.devices()}
    assert {d.kind for d in registry.values()} == {"vehicle"}
    now = START + timedelta(days=3, hours=2)
    families: Counter[str] = Counter()
    for n, message in enumerate(f.messages()):
        families[message.family] += 1
        decision = process(Message(n, message.topic, message.payload, now), now, registry.get)
        assert isinstance(decision, Accept), decision
    assert set(families) == {"trips", "events"}


def test_messages_go_out_in_order_after_the_trip() -> None:
    messages = list(fleet().messages())
    assert [m.send_at for m in messages] == sorted(m.send_at for m in messages)
    for m in messages:
        if m.family == "trips":
            assert m.send_at > datetime.fromisoformat(json.loads(m.payload)["end"]).timestamp()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"count": 0}, "count 0"), ({"duration": timedelta(0)}, "longer than zero"), ({"seed": -1}, "seed")],
)
def test_a_fleet_that_cannot_be_simulated_is_refused(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(SimulationSpecError, match=words):
        fleet(**overrides)
