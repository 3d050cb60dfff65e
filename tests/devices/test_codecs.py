"""Payload codecs (devices/codecs): what decodes, what is refused with which reason and path, and that
no input at all makes a decoder raise."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.codecs import (
    DecodedReadings,
    DecodeLimits,
    Rejection,
    RejectReason,
    decode_events,
    decode_readings,
    decode_senml,
    decode_trip,
)
from devices.readings import CANONICAL_UNITS
from devices.trips import Trip, VehicleEvent

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 1, 2, 12, 0, 5, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
LIMITS = DecodeLimits()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Json = object


def encode(value: Json) -> bytes:
    return json.dumps(value).encode()


def reading(**fields: Json) -> dict[str, Json]:
    base: dict[str, Json] = {
        "ts": "2026-01-01T00:15:00Z",
        "register": "1-0:1.8.0",
        "value": 1234.567,
        "unit": "kWh",
        "kind": "cumulative",
        "quality": "actual",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


DROP: Json = object()  # a field to leave out


def native(*readings: dict[str, Json], **fields: Json) -> dict[str, Json]:
    base: dict[str, Json] = {"device": "m-0001", "seq": 42, "readings": list(readings) or [reading()]}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


def decode_native(payload: bytes, limits: DecodeLimits = LIMITS) -> DecodedReadings | Rejection:
    return decode_readings(payload, device_id="m-0001", received_at=RECEIVED, limits=limits)


def decode_pack(
    payload: bytes, device_id: str = "m-0001", limits: DecodeLimits = LIMITS
) -> DecodedReadings | Rejection:
    return decode_senml(payload, device_id=device_id, received_at=RECEIVED, now=NOW, limits=limits)


def accepted(result: DecodedReadings | Rejection) -> DecodedReadings:
    assert isinstance(result, DecodedReadings), result
    return result


def assert_rejected(result: object, reason: RejectReason, path: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result
    assert result.detail.startswith(f"{path}:") or result.detail.startswith(f"{path} "), result.detail
    return result


# --- native ------------------------------------------------------------------------------------


def test_a_native_payload_decodes_into_canonical_units() -> None:
    payload = native(
        reading(value=1234567, unit="Wh"),
        reading(ts="2026-01-01T01:30:00+01:00", register="1-0:1.8.1", value=0.25, unit="MWh", kind="interval"),
        reading(ts=1767226500, register="7-0:3.0.0", value=100, unit="ft^3", quality="estimated"),
        reading(register="8-0:1.0.0", value=1500, unit="L", quality=DROP),
        reading(register="odometer", value=10, unit="mi"),
        reading(register="runtime", value=15, unit="min", kind="interval"),
    )
    decoded = accepted(decode_native(encode(payload)))
    assert decoded.device_id == "m-0001"
    assert decoded.seq == 42
    values = [(r.register, r.value, r.unit, r.kind, r.quality) for r in decoded.readings]
    assert values == [
        ("1-0:1.8.0", 1234.567, "kWh", "cumulative", "actual"),
        ("1-0:1.8.1", 250.0, "kWh", "interval", "actual"),
        ("7-0:3.0.0", pytest.approx(2.8316846592, rel=1e-15), "m^3", "cumulative", "estimated"),
        ("8-0:1.0.0", 1.5, "m^3", "cumulative", "actual"),
        ("odometer", pytest.approx(16.09344, rel=1e-15), "km", "cumulative", "actual"),
        ("runtime", 900.0, "s", "interval", "actual"),
    ]
    assert {r.ts for r in decoded.readings} == {T0, datetime(2026, 1, 1, 0, 30, tzinfo=UTC)}
    assert all(r.ts.utcoffset() == timedelta(0) for r in decoded.readings)
    assert all(r.received_at == RECEIVED and r.device_id == "m-0001" for r in decoded.readings)


def test_seq_is_optional_and_an_empty_message_is_accepted() -> None:
    decoded = accepted(decode_native(encode(native(seq=DROP, readings=[]))))
    assert (decoded.seq, decoded.readings) == (None, ())


def test_unknown_fields_are_ignored() -> None:
    decoded = accepted(decode_native(encode(native(reading(extra=[1, 2]), firmware="1.2.3"))))
    assert len(decoded.readings) == 1


NATIVE_REFUSALS: list[tuple[str, bytes, RejectReason, str]] = [
    ("too large", b"{}" + b" " * LIMITS.max_bytes, RejectReason.PAYLOAD_TOO_LARGE, "payload"),
    ("empty", b"", RejectReason.EMPTY_PAYLOAD, "payload"),
    ("blank", b" \r\n\t", RejectReason.EMPTY_PAYLOAD, "payload"),
    ("latin-1", '{"device": "zähler"}'.encode("latin-1"), RejectReason.NOT_UTF8, "payload"),
    ("truncated", b'{"device": "m-0001", "readings": [', RejectReason.MALFORMED_JSON, "payload"),
    ("deep", b"[" * 100_000, RejectReason.MALFORMED_JSON, "payload"),
    ("huge integer", b'{"seq": ' + b"9" * 5000 + b"}", RejectReason.MALFORMED_JSON, "payload"),
    ("array", b"[]", RejectReason.NOT_AN_OBJECT, "payload"),
    ("no device", encode(native(device=DROP)), RejectReason.MISSING_FIELD, "device"),
    ("no readings", encode(native(readings=DROP)), RejectReason.MISSING_FIELD, "readings"),
    ("no value", encode(native(reading(), reading(value=DROP))), RejectReason.MISSING_FIELD, "readings[1].value"),
    ("no kind", encode(native(reading(kind=DROP))), RejectReason.MISSING_FIELD, "readings[0].kind"),
    ("no unit", encode(native(reading(unit=DROP))), RejectReason.MISSING_FIELD, "readings[0].unit"),
    ("no ts", encode(native(reading(ts=DROP))), RejectReason.MISSING_FIELD, "readings[0].ts"),
    ("value as text", encode(native(reading(value="12.5"))), RejectReason.WRONG_TYPE, "readings[0].value"),
    ("value as bool", encode(native(reading(value=True))), RejectReason.WRONG_TYPE, "readings[0].value"),
    ("readings object", encode(native(readings={"a": 1})), RejectReason.WRONG_TYPE, "readings"),
    ("reading as number", encode(native(readings=[reading(), 3])), RejectReason.WRONG_TYPE, "readings[1]"),
    ("seq as text", encode(native(seq="42")), RejectReason.WRONG_TYPE, "seq"),
    ("unit as number", encode(native(reading(unit=3))), RejectReason.WRONG_TYPE, "readings[0].unit"),
    ("ts as null", encode(native(reading(ts=None))), RejectReason.WRONG_TYPE, "readings[0].ts"),
    ("NaN", encode(native(reading(value=math.nan))), RejectReason.NON_FINITE, "readings[0].value"),
    ("-Infinity", encode(native(reading(value=-math.inf))), RejectReason.NON_FINITE, "readings[0].value"),
    (
        "1e400",
        encode(native(reading(value=1.0))).replace(b"1.0", b"1e400"),
        RejectReason.NON_FINITE,
        "readings[0].value",
    ),
    ("too big", encode(native(reading(value=2e12))), RejectReason.OUT_OF_RANGE, "readings[0].value"),
    (
        "too big once converted",
        encode(native(reading(value=2e9, unit="MWh"))),
        RejectReason.OUT_OF_RANGE,
        "readings[0].value",
    ),
    ("negative index", encode(native(reading(value=-1))), RejectReason.OUT_OF_RANGE, "readings[0].value"),
    ("negative seq", encode(native(seq=-1)), RejectReason.OUT_OF_RANGE, "seq"),
    ("naive ts", encode(native(reading(ts="2026-01-01T00:15:00"))), RejectReason.BAD_TIMESTAMP, "readings[0].ts"),
    ("garbage ts", encode(native(reading(ts="yesterday"))), RejectReason.BAD_TIMESTAMP, "readings[0].ts"),
    ("ms epoch", encode(native(reading(ts=1767226500000))), RejectReason.BAD_TIMESTAMP, "readings[0].ts"),
    ("empty register", encode(native(reading(register=""))), RejectReason.BAD_IDENTIFIER, "readings[0].register"),
    (
        "spaced register",
        encode(native(reading(register="1.8.0 "))),
        RejectReason.BAD_IDENTIFIER,
        "readings[0].register",
    ),
    ("NUL register", encode(native(reading(register="1\x00"))), RejectReason.BAD_IDENTIFIER, "readings[0].register"),
    ("unknown unit", encode(native(reading(unit="kwh"))), RejectReason.UNKNOWN_UNIT, "readings[0].unit"),
    ("power", encode(native(reading(unit="kW"))), RejectReason.WRONG_DIMENSION, "readings[0].unit"),
    ("temperature", encode(native(reading(unit="degC"))), RejectReason.WRONG_DIMENSION, "readings[0].unit"),
    ("other device", encode(native(device="m-0002")), RejectReason.DEVICE_MISMATCH, "device"),
    ("bad kind", encode(native(reading(kind="total"))), RejectReason.BAD_KIND, "readings[0].kind"),
    ("bad quality", encode(native(reading(quality="guessed"))), RejectReason.BAD_QUALITY, "readings[0].quality"),
]


@pytest.mark.parametrize(
    ("payload", "reason", "path"), [c[1:] for c in NATIVE_REFUSALS], ids=[c[0] for c in NATIVE_REFUSALS]
)
def test_native_refusals_name_the_reason_and_the_field(payload: bytes, reason: RejectReason, path: str) -> None:
    assert_rejected(decode_native(payload), reason, path)


def test_too_many_readings() -> None:
    payload = encode(native(reading(), reading(), reading()))
    refused = assert_rejected(
        decode_native(payload, DecodeLimits(max_readings=2)), RejectReason.TOO_MANY_RECORDS, "readings"
    )
    assert "3 records" in refused.detail


def test_details_say_what_is_wrong() -> None:
    result = decode_native(encode(native(reading(), reading(), reading(), reading(value=math.nan))))
    assert result == Rejection(RejectReason.NON_FINITE, "readings[3].value: NaN is not a finite number")
    result = decode_native(encode(native(reading(unit="km", kind="interval"), reading(unit="kW"))))
    assert result == Rejection(
        RejectReason.WRONG_DIMENSION,
        "readings[1].unit: 'kW' is a power, expected a unit of energy (kWh), volume (m^3), distance (km) "
        "or duration (s)",
    )
    result = decode_native(encode(native(device="m-0002")))
    assert isinstance(result, Rejection) and "'m-0002'" in result.detail and "'m-0001'" in result.detail
    assert str(result).startswith("device_mismatch: device: ")


def test_a_refusal_does_not_echo_a_huge_field() -> None:
    result = decode_native(encode(native(reading(register="x" * 100_000))))
    assert isinstance(result, Rejection) and len(result.detail) < 300


# --- SenML -------------------------------------------------------------------------------------


def test_a_senml_pack_with_base_fields_relative_times_and_sums() -> None:
    pack = [
        {"bn": "urn:dev:mbid:m-0001:", "bt": 1767225600, "bu": "kWh", "bver": 10, "n": "1-0:1.8.0", "s": 1234.5},
        {"n": "1-0:1.8.0", "t": 900, "s": 1235.0},  # bn, bt and bu carry over
        {"n": "1-0:1.8.0", "t": 1800, "s": 500, "bs": 1000},  # base sum added
        {"bn": "m-0001/", "bt": -60, "bv": 1.0, "n": "1-0:1.8.0", "u": "Wh", "v": 250},  # relative: a minute ago
        {"n": "7-0:3.0.0", "u": "m3", "v": 0.5, "t": 0},  # bv still applies: 1.5 m^3, now
    ]
    decoded = accepted(decode_pack(encode(pack)))
    got = [(r.register, r.ts, r.value, r.unit, r.kind, r.quality) for r in decoded.readings]
    assert got == [
        ("1-0:1.8.0", datetime(2026, 1, 1, tzinfo=UTC), 1234.5, "kWh", "cumulative", "actual"),
        ("1-0:1.8.0", T0, 1235.0, "kWh", "cumulative", "actual"),
        ("1-0:1.8.0", T0 + timedelta(minutes=15), 1500.0, "kWh", "cumulative", "actual"),
        ("1-0:1.8.0", NOW - timedelta(seconds=60), 0.251, "kWh", "interval", "actual"),
        ("7-0:3.0.0", NOW - timedelta(seconds=60), 1.5, "m^3", "interval", "actual"),
    ]
    assert decoded.seq is None
    assert all(r.received_at == RECEIVED and r.device_id == "m-0001" for r in decoded.readings)


def test_senml_names_device_then_register() -> None:
    for bn in ("urn:dev:mbid:m:01:", "m:01:", "m:01/"):  # ids may contain ':'
        decoded = accepted(decode_pack(encode([{"bn": bn, "n": "1-0:1.8.0", "u": "kWh", "s": 1}]), device_id="m:01"))
        assert decoded.readings[0].register == "1-0:1.8.0"
    # the name may also be all in n, or all in bn
    decoded = accepted(decode_pack(encode([{"bn": "m-0001:1-0:2.8.0", "u": "kWh", "s": 7, "t": 0}])))
    assert decoded.readings[0].register == "1-0:2.8.0"


def test_a_senml_sum_in_a_rate_unit_is_integrated_over_seconds() -> None:
    decoded = accepted(decode_pack(encode([{"bn": "m-0001:", "n": "e", "u": "W", "s": 3_600_000}])))
    assert (decoded.readings[0].value, decoded.readings[0].unit) == (1.0, "kWh")
    # but a value in W is a power, not an interval's energy
    assert_rejected(
        decode_pack(encode([{"bn": "m-0001:", "n": "e", "u": "W", "v": 1}])), RejectReason.WRONG_DIMENSION, "[0].u"
    )


def test_a_header_record_with_base_fields_only_is_allowed() -> None:
    pack = [{"bn": "m-0001:", "bu": "kWh", "bt": 1767225600}, {"n": "1-0:1.8.0", "s": 1}]
    assert len(accepted(decode_pack(encode(pack))).readings) == 1


def R(**fields: Json) -> dict[str, Json]:  # short: it fills the tables below
    base: dict[str, Json] = {"bn": "m-0001:", "n": "1-0:1.8.0", "u": "kWh", "s": 1.0, "t": 1767225600}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


SENML_REFUSALS: list[tuple[str, bytes, RejectReason, str]] = [
    ("object", encode({"bn": "m-0001:"}), RejectReason.BAD_SENML, "payload"),
    ("record as number", encode([R(), 5]), RejectReason.BAD_SENML, "[1]"),
    ("must understand", encode([R(foo_=1)]), RejectReason.BAD_SENML, "[0].'foo_'"),
    ("v and s", encode([R(v=1.0)]), RejectReason.BAD_SENML, "[0]"),
    ("no value", encode([R(s=DROP)]), RejectReason.BAD_SENML, "[0]"),
    ("future version", encode([R(bver=11)]), RejectReason.BAD_SENML, "[0].bver"),
    ("bad name", encode([R(n="1-0 1.8.0")]), RejectReason.BAD_SENML, "[0]"),
    ("string value", encode([R(s=DROP, vs="on")]), RejectReason.WRONG_TYPE, "[0].vs"),
    ("boolean value", encode([R(s=DROP, vb=True)]), RejectReason.WRONG_TYPE, "[0].vb"),
    ("data value", encode([R(s=DROP, vd="AAEC")]), RejectReason.WRONG_TYPE, "[0].vd"),
    ("text time", encode([R(t="now")]), RejectReason.WRONG_TYPE, "[0].t"),
    ("bt as text", encode([R(bt="0")]), RejectReason.WRONG_TYPE, "[0].bt"),
    ("NaN sum", encode([R(s=math.nan)]), RejectReason.NON_FINITE, "[0].s"),
    ("negative sum", encode([R(), R(s=-5.0)]), RejectReason.OUT_OF_RANGE, "[1].s"),
    ("huge value", encode([R(s=DROP, v=1e13)]), RejectReason.OUT_OF_RANGE, "[0].v"),
    ("no unit", encode([R(u=DROP)]), RejectReason.MISSING_FIELD, "[0].u"),
    ("no name", encode([R(bn=DROP, n=DROP)]), RejectReason.MISSING_FIELD, "[0].n"),
    ("device only", encode([R(bn="m-0001:", n=DROP)]), RejectReason.MISSING_FIELD, "[0].n"),
    ("far past", encode([R(t=-1e13)]), RejectReason.BAD_TIMESTAMP, "[0].t"),
    ("ms time", encode([R(t=1767225600000)]), RejectReason.BAD_TIMESTAMP, "[0].t"),
    ("unknown unit", encode([R(u="kwh")]), RejectReason.UNKNOWN_UNIT, "[0].u"),
    ("base unit", encode([R(u=DROP, bu="kW", s=DROP, v=1.0)]), RejectReason.WRONG_DIMENSION, "[0].u (base unit bu)"),
    ("other device", encode([R(bn="m-0002:")]), RejectReason.DEVICE_MISMATCH, "[0]"),
    ("no device", encode([R(bn=DROP)]), RejectReason.DEVICE_MISMATCH, "[0]"),
    ("long register", encode([R(n="r" * 200)]), RejectReason.BAD_IDENTIFIER, "[0].n"),
]


@pytest.mark.parametrize(
    ("payload", "reason", "path"), [c[1:] for c in SENML_REFUSALS], ids=[c[0] for c in SENML_REFUSALS]
)
def test_senml_refusals_name_the_reason_and_the_record(payload: bytes, reason: RejectReason, path: str) -> None:
    assert_rejected(decode_pack(payload), reason, path)


def test_senml_record_limit() -> None:
    result = decode_pack(encode([R(), R(), R()]), limits=DecodeLimits(max_readings=2))
    assert_rejected(result, RejectReason.TOO_MANY_RECORDS, "payload")


# --- telematics --------------------------------------------------------------------------------


def trip(**fields: Json) -> dict[str, Json]:
    base: dict[str, Json] = {
        "device": "v-0001",
        "trip": "t-123",
        "start": "2026-01-01T08:00:00+01:00",
        "end": "2026-01-01T08:30:00+01:00",
        "distance": {"value": 12.3, "unit": "km"},
        "events": [{"ts": "2026-01-01T07:10:00Z", "type": "harsh_brake"}, {"ts": 1767251700, "type": "speeding"}],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


def decode_vehicle_trip(payload: bytes) -> Trip | Rejection:
    return decode_trip(payload, device_id="v-0001", received_at=RECEIVED)


def test_a_trip_decodes_with_its_events() -> None:
    decoded = decode_vehicle_trip(encode(trip()))
    assert decoded == Trip(
        device_id="v-0001",
        trip_id="t-123",
        start=datetime(2026, 1, 1, 7, tzinfo=UTC),
        end=datetime(2026, 1, 1, 7, 30, tzinfo=UTC),
        distance_km=12.3,
        events=(
            VehicleEvent("v-0001", datetime(2026, 1, 1, 7, 10, tzinfo=UTC), "harsh_brake", "t-123"),
            VehicleEvent("v-0001", datetime(2026, 1, 1, 7, 15, tzinfo=UTC), "speeding", "t-123"),
        ),
    )


def test_a_trip_distance_in_miles_and_without_events() -> None:
    decoded = decode_vehicle_trip(encode(trip(distance={"value": 10, "unit": "mi"}, events=DROP)))
    assert isinstance(decoded, Trip)
    assert decoded.distance_km == pytest.approx(16.09344, rel=1e-15)
    assert decoded.events == ()


TRIP_REFUSALS: list[tuple[str, bytes, RejectReason, str]] = [
    ("ends before it starts", encode(trip(end="2026-01-01T06:59:59Z")), RejectReason.OUT_OF_RANGE, "end"),
    (
        "negative distance",
        encode(trip(distance={"value": -1, "unit": "km"})),
        RejectReason.OUT_OF_RANGE,
        "distance.value",
    ),
    (
        "energy distance",
        encode(trip(distance={"value": 1, "unit": "kWh"})),
        RejectReason.WRONG_DIMENSION,
        "distance.unit",
    ),
    ("bare distance", encode(trip(distance=12.3)), RejectReason.WRONG_TYPE, "distance"),
    ("no distance unit", encode(trip(distance={"value": 1})), RejectReason.MISSING_FIELD, "distance.unit"),
    ("no trip id", encode(trip(trip=DROP)), RejectReason.MISSING_FIELD, "trip"),
    ("blank trip id", encode(trip(trip=" ")), RejectReason.BAD_IDENTIFIER, "trip"),
    ("naive start", encode(trip(start="2026-01-01T08:00:00")), RejectReason.BAD_TIMESTAMP, "start"),
    ("bad event", encode(trip(events=[{"ts": 0, "type": "drifting"}])), RejectReason.BAD_EVENT_TYPE, "events[0].type"),
    ("event type null", encode(trip(events=[{"ts": 0, "type": None}])), RejectReason.WRONG_TYPE, "events[0].type"),
    ("other vehicle", encode(trip(device="v-0002")), RejectReason.DEVICE_MISMATCH, "device"),
    ("not an object", b'"trip"', RejectReason.NOT_AN_OBJECT, "payload"),
]


@pytest.mark.parametrize(
    ("payload", "reason", "path"), [c[1:] for c in TRIP_REFUSALS], ids=[c[0] for c in TRIP_REFUSALS]
)
def test_trip_refusals_name_the_reason_and_the_field(payload: bytes, reason: RejectReason, path: str) -> None:
    assert_rejected(decode_vehicle_trip(payload), reason, path)


def test_events_decode_with_an_optional_trip() -> None:
    payload = {
        "device": "v-0001",
        "events": [
            {"ts": "2026-01-01T07:10:00Z", "type": "phone_use", "trip": "t-9"},
            {"ts": 0, "type": "harsh_accel"},
        ],
    }
    decoded = decode_events(encode(payload), device_id="v-0001", received_at=RECEIVED)
    assert decoded == (
        VehicleEvent("v-0001", datetime(2026, 1, 1, 7, 10, tzinfo=UTC), "phone_use", "t-9"),
        VehicleEvent("v-0001", datetime(1970, 1, 1, tzinfo=UTC), "harsh_accel", None),
    )


@pytest.mark.parametrize(
    ("payload", "reason", "path"),
    [
        ({"device": "v-0001"}, RejectReason.MISSING_FIELD, "events"),
        (
            {"device": "v-0001", "events": [{"ts": 0, "type": "speeding"}, {"type": "speeding"}]},
            RejectReason.MISSING_FIELD,
            "events[1].ts",
        ),
        ({"device": "v-0001", "events": [{"ts": 0, "type": "nap"}]}, RejectReason.BAD_EVENT_TYPE, "events[0].type"),
        (
            {"device": "v-0001", "events": [{"ts": 0, "type": "speeding", "trip": ""}]},
            RejectReason.BAD_IDENTIFIER,
            "events[0].trip",
        ),
        ({"device": "v-0001", "events": [{"ts": 0, "type": "speeding"}] * 3}, RejectReason.TOO_MANY_RECORDS, "events"),
    ],
)
def test_event_refusals(payload: Json, reason: RejectReason, path: str) -> None:
    result = decode_events(
        encode(payload), device_id="v-0001", received_at=RECEIVED, limits=DecodeLimits(max_readings=2)
    )
    assert_rejected(result, reason, path)


def test_every_reason_has_an_example() -> None:
    shown = {c[2] for c in NATIVE_REFUSALS + SENML_REFUSALS + TRIP_REFUSALS}
    shown |= {RejectReason.TOO_MANY_RECORDS}  # test_too_many_readings
    assert shown == set(RejectReason)


def test_reason_codes_are_stable_snake_case() -> None:
    assert all(reason.value == reason.name.lower() for reason in RejectReason)
    assert RejectReason("bad_senml") is RejectReason.BAD_SENML


# --- properties --------------------------------------------------------------------------------

Decoder = Callable[[bytes], object]

DECODERS: dict[str, Decoder] = {
    "native": decode_native,
    "senml": decode_pack,
    "trip": decode_vehicle_trip,
    "events": lambda payload: decode_events(payload, device_id="v-0001", received_at=RECEIVED),
}


def check_outcome(name: str, result: object) -> None:
    """A decoder's result is its value, with sound contents, or a Rejection with a detail."""
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert result.detail
        return
    if name in ("native", "senml"):
        assert isinstance(result, DecodedReadings)
        for r in result.readings:
            assert r.unit in CANONICAL_UNITS
            assert math.isfinite(r.value) and abs(r.value) <= LIMITS.max_abs_value
            assert r.ts.utcoffset() == timedelta(0)
            assert r.kind != "cumulative" or r.value >= 0
    elif name == "trip":
        assert isinstance(result, Trip)
        assert result.end >= result.start and result.distance_km >= 0
    else:
        assert isinstance(result, tuple) and all(isinstance(e, VehicleEvent) for e in result)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: json.dumps writes them as literals
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


valid_ts = st.one_of(
    st.sampled_from(["2026-01-01T00:15:00Z", "2026-01-01T00:15:00+01:00", "2026-01-01T01:15:00.250-05:30"]),
    st.integers(min_value=946_684_800, max_value=4_102_444_800),
)
valid_units = st.sampled_from(["kWh", "Wh", "MWh", "m^3", "L", "ft^3", "km", "mi", "s", "min"])
senml_units = valid_units | st.just("m3")  # SenML's registry spelling of m^3
valid_numbers = st.floats(min_value=0, max_value=1e6) | st.integers(min_value=0, max_value=10**6)
event_types = st.sampled_from(["harsh_brake", "speeding", "harsh_accel", "phone_use"])
# What a mutation puts in place of a valid field: any JSON, and the near misses decoders must catch.
odd_values = st.one_of(
    json_values,
    st.sampled_from(["2026-01-01T00:15:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1.8.0 "]),
    st.sampled_from(["W", "degC", "kwh", "", "((", "m^(1/2)", "furlong/fortnight", "m-0002", "nap", "x" * 200]),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(),
)

valid_reading = st.fixed_dictionaries(
    {
        "ts": valid_ts,
        "register": st.sampled_from(["1-0:1.8.0", "odometer"]),
        "value": valid_numbers,
        "unit": valid_units,
        "kind": st.sampled_from(["interval", "cumulative"]),
    },
    optional={"quality": st.sampled_from(["actual", "estimated"])},
)
valid_native = st.fixed_dictionaries(
    {"device": st.just("m-0001"), "readings": st.lists(valid_reading, max_size=4)},
    optional={"seq": st.integers(min_value=0, max_value=2**63 - 1)},
)
valid_record = st.fixed_dictionaries(
    {
        "n": st.sampled_from(["1-0:1.8.0", "7-0:3.0.0"]),
        "u": valid_units,
        "t": st.integers(min_value=-3600, max_value=0),
    },
    optional={"bv": valid_numbers, "bs": valid_numbers, "bu": valid_units, "bver": st.just(10)},
).flatmap(lambda r: st.sampled_from(["v", "s"]).flatmap(lambda key: valid_numbers.map(lambda x: {**r, key: x})))
valid_pack = st.tuples(
    st.sampled_from(["m-0001:", "urn:dev:mbid:m-0001:", "m-0001/"]),
    st.integers(min_value=1_700_000_000, max_value=1_800_000_000),
    st.lists(valid_record, min_size=1, max_size=4),
).map(lambda t: [{"bn": t[0], "bt": t[1], **t[2][0]}, *t[2][1:]])
valid_event = st.fixed_dictionaries({"ts": valid_ts, "type": event_types}, optional={"trip": st.just("t-1")})
valid_trip = st.fixed_dictionaries(
    {
        "device": st.just("v-0001"),
        "trip": st.just("t-1"),
        "start": st.just("2026-01-01T08:00:00Z"),
        "end": st.sampled_from(["2026-01-01T08:30:00Z", "2026-01-01T09:30:00+01:00"]),
        "distance": st.fixed_dictionaries({"value": valid_numbers, "unit": st.sampled_from(["km", "m", "mi"])}),
    },
    optional={"events": st.lists(valid_event, max_size=3)},
)
valid_events = st.fixed_dictionaries({"device": st.just("v-0001"), "events": st.lists(valid_event, max_size=4)})


def _slots(value: Json) -> list[tuple[Json, object]]:
    """Every (container, key or index) in a JSON value, where a mutation can strike."""
    found: list[tuple[Json, object]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((value, key))
            found.extend(_slots(inner))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.append((value, index))
            found.extend(_slots(inner))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Json]) -> Json:
    """A valid payload, half the time with one field replaced by an odd value or removed."""
    value = draw(valid)
    slots = _slots(value)
    strike: bool = bool(slots) and draw(st.booleans())
    if strike:
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(odd_values)  # type: ignore[index]
    return value


NEAR_VALID: dict[str, st.SearchStrategy[Json]] = {
    "native": mutated(valid_native),
    "senml": mutated(valid_pack),
    "trip": mutated(valid_trip),
    "events": mutated(valid_events),
}


@FUZZ
@given(payload=st.binary(max_size=300))
def test_no_byte_string_makes_a_decoder_raise(payload: bytes) -> None:
    for name, decoder in DECODERS.items():
        check_outcome(name, decoder(payload))


@FUZZ
@given(value=json_values)
def test_no_json_value_makes_a_decoder_raise(value: Json) -> None:
    payload = encode(value)
    for name, decoder in DECODERS.items():
        check_outcome(name, decoder(payload))


@pytest.mark.parametrize("name", sorted(DECODERS))
@FUZZ
@given(data=st.data())
def test_no_near_valid_payload_makes_a_decoder_raise(name: str, data: st.DataObject) -> None:
    # Valid payloads of the decoder's own format, some with one field broken: this reaches the unit
    # conversion, timestamp and SenML resolution code that random JSON rarely gets to.
    payload = encode(data.draw(NEAR_VALID[name]))
    check_outcome(name, DECODERS[name](payload))


_FACTORS = {"kWh": 1.0, "Wh": 1e-3, "MWh": 1e3}


@st.composite
def valid_native_readings(draw: st.DrawFn) -> tuple[dict[str, Json], list[tuple[float, str, datetime]]]:
    """A valid native payload, and per reading the value, unit and instant it was made from."""
    expected: list[tuple[float, str, datetime]] = []
    items: list[Json] = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        unit = draw(st.sampled_from(sorted(_FACTORS)))
        kind = draw(st.sampled_from(["interval", "cumulative"]))
        bound = LIMITS.max_abs_value / _FACTORS[unit]
        value = draw(
            st.floats(
                min_value=0.0 if kind == "cumulative" else -bound,
                max_value=bound,
                allow_nan=False,
                allow_subnormal=False,
            )
        )
        zone = draw(st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]))
        ts = draw(
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(zone))
        )
        as_text = draw(st.booleans())
        if not as_text:
            ts = ts.replace(microsecond=0)
        items.append(
            {
                "ts": ts.isoformat() if as_text else int(ts.timestamp()),
                "register": draw(st.sampled_from(["1-0:1.8.0", "1-0:2.8.0", "1-0:1.8.1"])),
                "value": value,
                "unit": unit,
                "kind": kind,
                "quality": draw(st.sampled_from(["actual", "estimated"])),
            }
        )
        expected.append((value, unit, ts))
    payload: dict[str, Json] = {"device": "m-0001", "readings": items}
    if draw(st.booleans()):
        payload["seq"] = draw(st.integers(min_value=0, max_value=2**63 - 1))
    return payload, expected


@FUZZ
@given(case=valid_native_readings())
def test_native_round_trip(case: tuple[dict[str, Json], list[tuple[float, str, datetime]]]) -> None:
    payload, expected = case
    decoded = accepted(decode_native(encode(payload)))
    assert decoded.seq == payload.get("seq")
    assert len(decoded.readings) == len(expected)
    sent_items = cast(list[dict[str, Json]], payload["readings"])
    for got, sent, (value, unit, ts) in zip(decoded.readings, sent_items, expected, strict=True):
        assert got.unit == "kWh"
        assert math.isclose(got.value / _FACTORS[unit], value, rel_tol=1e-9)
        assert got.ts == ts and got.ts.utcoffset() == timedelta(0)
        assert (got.register, got.kind, got.quality) == (sent["register"], sent["kind"], sent["quality"])
