"""Payload building blocks (simulators/payloads.py): exact decimals, timestamps, and the rewrites the fault
injector does, all read back with the project's codecs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from devices.codecs import DecodedReadings, Rejection, RejectReason, decode_events, decode_readings, decode_trip
from devices.trips import Trip
from simulators.payloads import (
    ReadingRow,
    claim_device,
    encode_events,
    encode_readings,
    encode_trip,
    fixed,
    iso,
    render_readings,
    shift_times,
    topic_for,
)

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
RECEIVED = datetime(2026, 3, 2, tzinfo=UTC)


def test_fixed_decimals_are_exact() -> None:
    rng = random.Random(1)
    for units in [0, 1, 999, 1000, 10**9 - 1, *(rng.randrange(10**12) for _ in range(20_000))]:
        whole, frac = divmod(units, 1000)
        assert fixed(units, 3) == f"{whole}.{frac:03d}"
        assert float(fixed(units, 3)) == units / 1000
    assert fixed(2**60, 3) == f"{2**60 // 1000}.{2**60 % 1000:03d}"
    assert fixed(-1500, 3) == "-1.500" and fixed(42, 0) == "42" and fixed(5, 1) == "0.5"


def test_timestamps_are_iso_8601_in_utc() -> None:
    assert iso(T0 + 900) == "2026-03-01T00:15:00Z"
    assert datetime.fromisoformat(iso(T0)).timestamp() == T0


def test_readings_encode_and_decode() -> None:
    rows = [
        ReadingRow(T0, "1-0:1.8.0", "1234.567", "kWh", "cumulative"),
        ReadingRow(T0, "8-0:1.0.0", "12", "L", "interval"),
    ]
    decoded = decode_readings(encode_readings("m-1", 5, rows), device_id="m-1", received_at=RECEIVED)
    assert isinstance(decoded, DecodedReadings) and decoded.seq == 5
    assert [(r.register, r.value, r.unit, r.kind) for r in decoded.readings] == [
        ("1-0:1.8.0", 1234.567, "kWh", "cumulative"),
        ("8-0:1.0.0", 0.012, "m^3", "interval"),
    ]
    rendered = render_readings("1-0:2.8.0", "kWh", "interval", [T0, T0 + 900], [1, 2500], 3)
    assert [json.loads(r)["value"] for r in rendered] == [0.001, 2.5]


def test_trips_and_events_encode_and_decode() -> None:
    payload = encode_trip("v-1", "t-000001", T0, T0 + 1200, "12.3", "km", [(T0 + 60, "speeding")], odometer_km="1000.5")
    trip = decode_trip(payload, device_id="v-1", received_at=RECEIVED)
    assert isinstance(trip, Trip) and trip.distance_km == 12.3 and trip.events[0].type == "speeding"
    assert json.loads(payload)["odometer"] == {"value": 1000.5, "unit": "km"}
    events = decode_events(encode_events("v-1", [(T0, "phone_use")], "t-000001"), device_id="v-1", received_at=RECEIVED)
    assert isinstance(events, tuple) and events[0].trip_id == "t-000001"
    assert topic_for("trips", "v-1") == "vehicles/v-1/trips" and topic_for("readings", "m-1") == "meters/m-1/readings"


def test_the_fault_rewrites_keep_the_message_valid_but_wrong() -> None:
    trip = encode_trip("v-1", "t-1", T0, T0 + 600, "5.0", "km", [(T0 + 30, "harsh_brake")])
    later = decode_trip(shift_times(trip, 86_400), device_id="v-1", received_at=RECEIVED)
    assert isinstance(later, Trip)
    assert later.start == datetime.fromtimestamp(T0, UTC) + timedelta(days=1)
    assert later.events[0].ts == datetime.fromtimestamp(T0 + 30, UTC) + timedelta(days=1)
    spoofed = decode_trip(claim_device(trip, "v-2"), device_id="v-1", received_at=RECEIVED)
    assert isinstance(spoofed, Rejection) and spoofed.reason is RejectReason.DEVICE_MISMATCH
