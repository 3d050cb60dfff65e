"""One gateway batch = one transaction, idempotent in every part (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.model import Device
from devices.readings import ReadingReview
from devices.trips import Trip, VehicleEvent
from store.contract import Batch, GatewayInstance, NewDeadLetter, Store
from store.errors import StoreError
from tests.store.test_contract import RECEIVED, T0, interval_readings


def trip(n: int) -> Trip:
    start = T0 + timedelta(hours=n)
    return Trip(
        "v-1",
        f"t-{n}",
        start,
        start + timedelta(minutes=25),
        12.5 + n,
        (VehicleEvent("v-1", start + timedelta(minutes=5), "harsh_brake", f"t-{n}"),),
    )


def batch() -> Batch:
    return Batch(
        readings=interval_readings(100),
        trips=[trip(1), trip(2)],
        events=[VehicleEvent("v-1", T0 + timedelta(days=1), "phone_use")],
        reviews=[ReadingReview("m-0001", "1-0:1.8.0", T0, "implausible_value", "9 kWh in 15 min > 30 kW")],
        dead_letters=[NewDeadLetter("meters/x/readings", b"\x00", "not_utf8", "byte 0", "x", RECEIVED)],
        activations=[("m-0001", RECEIVED)],
    )


def test_a_batch_is_committed_whole_and_a_redelivery_changes_nothing(store: Store) -> None:
    store.add_devices([Device.new("m-0001", "electricity_meter", "S1"), Device.new("m-0002", "gas_meter", "G")])
    first = store.commit_batch(batch())
    assert (first.readings.inserted, first.trips_inserted, first.events_inserted, first.reviews_inserted) == (
        100,
        2,
        3,
        1,
    )
    again = store.commit_batch(batch())
    assert (again.readings.duplicates, again.trips_inserted, again.events_inserted, again.reviews_inserted) == (
        100,
        0,
        0,
        0,
    )
    trips = store.trips(device_ids=["v-1"])
    assert [(t.trip_id, t.distance_km, len(t.events)) for t in trips] == [("t-1", 13.5, 1), ("t-2", 14.5, 1)]
    assert [e.type for e in store.events()] == ["harsh_brake", "harsh_brake", "phone_use"]
    assert store.reviews()[0].detail == "9 kWh in 15 min > 30 kW"
    letters = store.dead_letters()
    assert len(letters) == 1 and letters[0].occurrences == 2  # counted, not copied
    activated = store.device("m-0001")
    assert activated is not None and (activated.status, activated.activated_at) == ("active", RECEIVED)
    assert store.device("m-0002") is not None and store.device("m-0002").status == "provisioned"  # type: ignore[union-attr]


def test_a_failing_part_rolls_back_the_whole_batch(store: Store) -> None:
    broken = ReadingReview("m", "r", T0, None, "a NOT NULL column left empty")  # type: ignore[arg-type]
    bad = Batch(readings=interval_readings(10), trips=[trip(1)], reviews=[broken])
    with pytest.raises(StoreError):
        store.commit_batch(bad)
    assert store.readings() == []
    assert store.trips() == []


def test_dead_letters_replay_marks_and_filters(store: Store) -> None:
    a = store.add_dead_letter(
        topic="meters/m-1/readings", payload=b"{}", reason="missing_field", detail="readings", device_id="m-1"
    )
    b = store.add_dead_letter(
        topic="meters/m-2/readings", payload=b"[]", reason="not_an_object", detail="$", device_id="m-2"
    )
    assert (
        store.add_dead_letter(
            topic="meters/m-1/readings", payload=b"{}", reason="missing_field", detail="readings", device_id="m-1"
        )
        == a
    )
    store.mark_replayed([a])
    assert [d.id for d in store.dead_letters(pending_only=True)] == [b]
    assert [d.id for d in store.dead_letters(device_id="m-1")] == [a]
    letter = store.dead_letter(a)
    assert letter is not None and letter.replayed_at is not None and letter.occurrences == 2
    assert store.dead_letter(9999) is None


def test_gateway_heartbeats_upsert(store: Store) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    beat = GatewayInstance("meterbill-gw-host-0", "host", 42, now, now, True, {"received": 10})
    store.record_gateway(beat)
    store.record_gateway(
        GatewayInstance(beat.client_id, "host", 43, now, now + timedelta(seconds=5), False, {"received": 25})
    )
    (got,) = store.gateway_instances()
    assert (got.pid, got.connected, got.counters, got.last_seen_at) == (
        43,
        False,
        {"received": 25},
        now + timedelta(seconds=5),
    )
