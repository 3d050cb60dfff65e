"""The gateway's pure core (gateway.pipeline.process): one message and the clock in, one decision out.

No broker, no store: devices come from a dict, time is fixed. Each refusal reason decided here is
shown with the message that earns it, codec refusals are passed through with their own reason, and
accepted messages carry readings in canonical units, activations and review flags.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devices.codecs import RejectReason
from devices.model import Device, DeviceStatus
from gateway.pipeline import Accept, GatewayReason, Message, Policy, Reject, process

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = NOW + timedelta(milliseconds=5)
TS = NOW - timedelta(hours=1)


def _device(device_id: str, kind: str, status: DeviceStatus = "active", **extra: object) -> Device:
    return Device.new(device_id, kind, f"S-{device_id}", status=status, **extra)  # type: ignore[arg-type]


DEVICES: dict[str, Device] = {
    d.id: d
    for d in (
        _device("m-1", "electricity_meter"),
        _device("m-new", "electricity_meter", "provisioned"),
        _device("m-sus", "electricity_meter", "suspended"),
        _device("m-ret", "electricity_meter", "retired"),
        _device("m-cap", "electricity_meter", max_power_kw=10.0),  # 15 min at 10 kW: at most 2.5 kWh
        _device("g-1", "gas_meter"),
        _device("v-1", "vehicle"),
        _device("v-new", "vehicle", "provisioned"),
    )
}


DEFAULT_POLICY = Policy()


def decide(
    topic: str, payload: bytes | object, *, now: datetime = NOW, policy: Policy = DEFAULT_POLICY
) -> Accept | Reject:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return process(Message(7, topic, raw, RECEIVED), now, DEVICES.get, policy)


def reading(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": TS.isoformat(),
        "register": "1-0:1.8.0",
        "value": 12.5,
        "unit": "kWh",
        "kind": "interval",
    }
    base.update(fields)
    return base


def native(device: str, *readings: dict[str, object]) -> dict[str, object]:
    return {"device": device, "seq": 1, "readings": list(readings) or [reading()]}


def accepted(decision: Accept | Reject) -> Accept:
    assert isinstance(decision, Accept), decision
    return decision


def rejected(decision: Accept | Reject, reason: str) -> Reject:
    assert isinstance(decision, Reject), decision
    assert decision.reason == reason, decision
    assert decision.detail  # a sentence for the person reading the dead letter
    return decision


# --- accepted ------------------------------------------------------------------------------------


def test_native_readings_are_accepted_in_canonical_units() -> None:
    payload = native(
        "m-1",
        reading(value=1500, unit="Wh"),
        reading(ts=(TS + timedelta(minutes=15)).isoformat(), value=0.002, unit="MWh"),
        reading(register="1-0:1.8.1", value=1234.5, unit="kWh", kind="cumulative", quality="estimated"),
    )
    decision = accepted(decide("meters/m-1/readings", payload))
    assert decision.device_id == "m-1"
    assert decision.message.mid == 7
    assert not decision.activate  # already active
    assert decision.reviews == ()
    got = [(r.device_id, r.register, r.ts, r.value, r.unit, r.kind, r.quality) for r in decision.readings]
    assert got == [
        ("m-1", "1-0:1.8.0", TS, pytest.approx(1.5), "kWh", "interval", "actual"),
        ("m-1", "1-0:1.8.0", TS + timedelta(minutes=15), pytest.approx(2.0), "kWh", "interval", "actual"),
        ("m-1", "1-0:1.8.1", TS, 1234.5, "kWh", "cumulative", "estimated"),
    ]
    assert all(r.received_at == RECEIVED for r in decision.readings)  # arrival time beside the device time


def test_gas_readings_in_cubic_feet_become_cubic_metres() -> None:
    payload = native("g-1", reading(register="7-0:3.0.0", value=100, unit="ft^3", kind="cumulative"))
    (r,) = accepted(decide("meters/g-1/readings", payload)).readings
    assert r.unit == "m^3"
    assert r.value == pytest.approx(2.8316846592)


def test_senml_readings_are_accepted() -> None:
    epoch = TS.timestamp()
    pack = [
        {"bn": "urn:dev:mbid:m-1:", "bt": epoch, "bu": "kWh", "n": "1-0:1.8.0", "s": 1000.0},
        {"n": "1-0:1.8.0", "t": 900, "s": 1001.25},
        {"n": "1-0:2.8.0", "u": "Wh", "v": 250},
    ]
    decision = accepted(decide("meters/m-1/readings", pack))
    got = [(r.register, r.ts, r.value, r.unit, r.kind) for r in decision.readings]
    assert got == [
        ("1-0:1.8.0", TS, 1000.0, "kWh", "cumulative"),
        ("1-0:1.8.0", TS + timedelta(minutes=15), 1001.25, "kWh", "cumulative"),
        ("1-0:2.8.0", TS, pytest.approx(0.25), "kWh", "interval"),
    ]


def test_a_provisioned_device_is_activated_by_its_first_valid_message() -> None:
    assert accepted(decide("meters/m-new/readings", native("m-new"))).activate
    distance = {"value": 1, "unit": "km"}
    trip = {"device": "v-new", "trip": "t-1", "start": TS.isoformat(), "end": NOW.isoformat(), "distance": distance}
    assert accepted(decide("vehicles/v-new/trips", trip)).activate


def test_an_implausible_value_is_accepted_and_flagged_for_review() -> None:
    payload = native("m-cap", reading(value=2.5), reading(ts=(TS + timedelta(minutes=15)).isoformat(), value=9.0))
    decision = accepted(decide("meters/m-cap/readings", payload))
    assert [r.value for r in decision.readings] == [2.5, 9.0]  # stored all the same: never silently dropped
    (review,) = decision.reviews
    assert (review.device_id, review.register, review.ts, review.reason) == (
        "m-cap",
        "1-0:1.8.0",
        TS + timedelta(minutes=15),
        "implausible_value",
    )
    assert "10 kW" in review.detail


def test_trips_and_events_of_vehicles_are_accepted() -> None:
    trip = {
        "device": "v-1",
        "trip": "t-9",
        "start": TS.isoformat(),
        "end": (TS + timedelta(minutes=30)).isoformat(),
        "distance": {"value": 10, "unit": "mi"},
        "events": [{"ts": (TS + timedelta(minutes=5)).isoformat(), "type": "harsh_brake"}],
    }
    decision = accepted(decide("vehicles/v-1/trips", trip))
    (t,) = decision.trips
    assert (t.device_id, t.trip_id) == ("v-1", "t-9")
    assert t.distance_km == pytest.approx(16.09344)
    assert [(e.type, e.trip_id) for e in t.events] == [("harsh_brake", "t-9")]
    assert decision.readings == () and not decision.activate

    events = {"device": "v-1", "events": [{"ts": TS.isoformat(), "type": "speeding"}]}
    decision = accepted(decide("vehicles/v-1/events", events))
    assert [(e.device_id, e.ts, e.type) for e in decision.events] == [("v-1", TS, "speeding")]


def test_a_status_message_is_acknowledged_without_data() -> None:
    decision = accepted(decide("devices/m-1/status", b"online"))
    assert decision.status == b"online"
    assert (decision.readings, decision.trips, decision.events, decision.activate) == ((), (), (), False)
    # whatever a device says in its birth or last will, it is not an error
    assert accepted(decide("devices/v-1/status", b"\xff" * 1000)).status == b"\xff" * 256


# --- refused here ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ["meters/m-1", "meters//readings", "meters/m-1/readings/extra", "vehicles/v-1/readings", "other/m-1/readings"],
)
def test_a_topic_that_is_not_ours_is_bad_topic(topic: str) -> None:
    decision = rejected(decide(topic, native("m-1")), GatewayReason.BAD_TOPIC)
    assert decision.device_id is None


@pytest.mark.parametrize(
    ("device", "reason"),
    [
        ("m-nobody", GatewayReason.UNKNOWN_DEVICE),
        ("m-sus", GatewayReason.DEVICE_SUSPENDED),
        ("m-ret", GatewayReason.DEVICE_RETIRED),
    ],
)
def test_unknown_suspended_and_retired_devices_are_refused(device: str, reason: GatewayReason) -> None:
    decision = rejected(decide(f"meters/{device}/readings", native(device)), reason)
    assert decision.device_id == device
    assert decision.payload == json.dumps(native(device)).encode()  # the raw message, ready for a replay


def test_a_device_publishing_on_the_topics_of_another_kind_is_refused() -> None:
    rejected(decide("vehicles/m-1/trips", {"device": "m-1"}), GatewayReason.WRONG_TOPIC_FOR_KIND)
    rejected(decide("vehicles/m-1/events", {"device": "m-1", "events": []}), GatewayReason.WRONG_TOPIC_FOR_KIND)
    rejected(decide("meters/v-1/readings", native("v-1")), GatewayReason.WRONG_TOPIC_FOR_KIND)


def test_a_register_the_device_does_not_have_is_refused() -> None:
    decision = rejected(
        decide("meters/g-1/readings", native("g-1", reading(register="1-0:1.8.0"))), GatewayReason.UNKNOWN_REGISTER
    )
    assert decision.detail.startswith("readings[0].register")


def test_a_unit_of_the_wrong_quantity_for_the_register_is_refused() -> None:
    # m^3 is a fine unit, but register 1-0:1.8.0 counts energy
    payload = native("m-1", reading(), reading(value=3, unit="m^3"))
    decision = rejected(decide("meters/m-1/readings", payload), GatewayReason.WRONG_REGISTER_UNIT)
    assert decision.detail.startswith("readings[1].unit")


def test_future_timestamps_beyond_the_clock_skew_are_refused_within_it_accepted() -> None:
    within = native("m-1", reading(ts=(NOW + timedelta(minutes=4, seconds=59)).isoformat()))
    accepted(decide("meters/m-1/readings", within))
    beyond = native("m-1", reading(ts=(NOW + timedelta(minutes=5, seconds=1)).isoformat()))
    rejected(decide("meters/m-1/readings", beyond), GatewayReason.FUTURE_TIMESTAMP)
    # the tolerance is the policy's
    accepted(decide("meters/m-1/readings", beyond, policy=Policy(clock_skew=timedelta(minutes=10))))
    trip = {
        "device": "v-1",
        "trip": "t-f",
        "start": NOW.isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
        "distance": {"value": 1, "unit": "km"},
    }
    rejected(decide("vehicles/v-1/trips", trip), GatewayReason.FUTURE_TIMESTAMP)
    events = {"device": "v-1", "events": [{"ts": (NOW + timedelta(hours=1)).isoformat(), "type": "speeding"}]}
    rejected(decide("vehicles/v-1/events", events), GatewayReason.FUTURE_TIMESTAMP)


def test_readings_older_than_the_backfill_window_are_refused() -> None:
    old = native("m-1", reading(ts=(NOW - timedelta(days=400, minutes=1)).isoformat()))
    rejected(decide("meters/m-1/readings", old), GatewayReason.TOO_OLD)
    recent_enough = native("m-1", reading(ts=(NOW - timedelta(days=399)).isoformat()))
    accepted(decide("meters/m-1/readings", recent_enough))
    rejected(decide("meters/m-1/readings", recent_enough, policy=Policy(backfill=timedelta(days=30))), "too_old")


def test_one_bad_reading_refuses_the_whole_message() -> None:
    payload = native("m-1", reading(), reading(ts=(NOW + timedelta(days=1)).isoformat()))
    decision = rejected(decide("meters/m-1/readings", payload), GatewayReason.FUTURE_TIMESTAMP)
    assert decision.detail.startswith("readings[1]")


# --- refused by the codecs, passed through ---------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("meters/m-1/readings", b"\x00\xff\xfe garbage \x81", RejectReason.NOT_UTF8),
        ("meters/m-1/readings", b"{not json", RejectReason.MALFORMED_JSON),
        ("meters/m-1/readings", b"", RejectReason.EMPTY_PAYLOAD),
        ("meters/m-1/readings", b'"a string"', RejectReason.NOT_AN_OBJECT),
        ("meters/m-1/readings", native("m-2"), RejectReason.DEVICE_MISMATCH),
        ("meters/m-1/readings", [{"bn": "m-2:", "n": "1-0:1.8.0", "u": "kWh", "s": 1}], RejectReason.DEVICE_MISMATCH),
        ("meters/m-1/readings", native("m-1", reading(unit="furlong_per_fortnight")), RejectReason.UNKNOWN_UNIT),
        ("meters/m-1/readings", native("m-1", reading(unit="kg")), RejectReason.WRONG_DIMENSION),
        ("meters/m-1/readings", native("m-1", reading(value="12")), RejectReason.WRONG_TYPE),
        ("meters/m-1/readings", native("m-1", reading(ts="yesterday")), RejectReason.BAD_TIMESTAMP),
        ("vehicles/v-1/trips", {"device": "v-1", "trip": "t"}, RejectReason.MISSING_FIELD),
        ("vehicles/v-1/events", {"device": "v-1", "events": [{"ts": 0, "type": "x"}]}, RejectReason.BAD_EVENT_TYPE),
    ],
)
def test_codec_refusals_are_dead_lettered_with_their_reason(topic: str, payload: object, reason: RejectReason) -> None:
    decision = rejected(decide(topic, payload), str(reason))
    assert decision.device_id == topic.split("/")[1]
    assert decision.payload == (payload if isinstance(payload, bytes) else json.dumps(payload).encode())


def test_the_dead_letter_payload_is_capped_by_the_policy() -> None:
    payload = b"{" + b"x" * 5000
    capped = Policy(dead_letter_max_bytes=100)
    decision = rejected(decide("meters/m-1/readings", payload, policy=capped), "malformed_json")
    assert decision.payload == payload[:100]


def test_process_never_raises_on_what_a_device_sends() -> None:
    for payload in (b"[", b"[1]", b"[{}]", b"{}", b"null", b"1e999", b'{"device": null}', bytes(range(256))):
        for topic in ("meters/m-1/readings", "vehicles/v-1/trips", "vehicles/v-1/events", "devices/m-1/status"):
            assert isinstance(decide(topic, payload), Accept | Reject)
