"""Telematics payloads of insured vehicles: a finished trip, or driving events on their own.

Trip (topic ``vehicles/{device_id}/trips``)::

    {"device": "v-0001", "trip": "t-123", "start": ts, "end": ts,
     "distance": {"value": 12.3, "unit": "km"},
     "events": [{"ts": ts, "type": "harsh_brake" | "speeding" | "harsh_accel" | "phone_use"}]}

Events (topic ``vehicles/{device_id}/events``)::

    {"device": "v-0001", "events": [{"ts": ts, "type": "speeding", "trip": "t-123"}]}

``ts``, ``start`` and ``end`` are ISO 8601 with an offset or ``Z``, or epoch seconds. The distance
is any length unit (km, m, mi) and comes out in km. Events inside a trip belong to it (their own
``trip`` field, if any, is ignored); ``events`` may be left out of a trip. Other fields are
ignored. As with readings, one bad event refuses the whole message.
"""

from __future__ import annotations

from datetime import datetime

from devices.codecs._common import (
    DEFAULT_LIMITS,
    DecodeLimits,
    Invalid,
    as_array,
    as_choice,
    as_identifier,
    as_number,
    as_object,
    as_text,
    as_timestamp,
    check_count,
    check_device,
    load_json,
    member,
    quantity,
)
from devices.codecs.reasons import Rejection, RejectReason
from devices.trips import EVENT_TYPES, EventType, Trip, VehicleEvent

__all__ = ["decode_events", "decode_trip"]

_EVENT_TYPES: dict[str, EventType] = {name: name for name in EVENT_TYPES}


def decode_trip(
    payload: bytes, *, device_id: str, received_at: datetime, limits: DecodeLimits = DEFAULT_LIMITS
) -> Trip | Rejection:
    """The trip published by ``device_id`` (from the topic), or why it is refused. Never raises on bad input.

    ``received_at`` is not part of a trip; it is taken so that every decoder has the same call shape.
    """
    del received_at
    try:
        return _trip(payload, device_id, limits)
    except Invalid as refused:
        return refused.rejection


def decode_events(
    payload: bytes, *, device_id: str, received_at: datetime, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[VehicleEvent, ...] | Rejection:
    """The driving events published by ``device_id`` (from the topic), or why not. Never raises on bad input.

    ``received_at`` is not part of an event; it is taken so that every decoder has the same call shape.
    """
    del received_at
    try:
        return _events(payload, device_id, limits)
    except Invalid as refused:
        return refused.rejection


def _trip(payload: bytes, device_id: str, limits: DecodeLimits) -> Trip:
    message = as_object(load_json(payload, limits), "payload", reason=RejectReason.NOT_AN_OBJECT)
    check_device(message, device_id)
    trip_id = as_identifier(member(message, "trip", ""), "trip", limits)
    start = as_timestamp(member(message, "start", ""), "start")
    end = as_timestamp(member(message, "end", ""), "end")
    if end < start:
        raise Invalid(
            RejectReason.OUT_OF_RANGE, f"end: {end.isoformat()} is before the start of the trip, {start.isoformat()}"
        )
    distance = as_object(member(message, "distance", ""), "distance")
    raw = as_number(member(distance, "value", "distance"), "distance.value")
    unit = as_text(member(distance, "unit", "distance"), "distance.unit")
    distance_km, _ = quantity(
        raw, unit, value_path="distance.value", unit_path="distance.unit", limits=limits, dimension="distance"
    )
    if distance_km < 0:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"distance.value: {raw!r} is negative; a distance is >= 0")
    events: tuple[VehicleEvent, ...] = ()
    if "events" in message:
        items = as_array(message["events"], "events")
        check_count(items, "events", limits)
        events = tuple(_event(item, f"events[{i}]", device_id, trip_id, limits) for i, item in enumerate(items))
    return Trip(device_id, trip_id, start, end, distance_km, events)


def _events(payload: bytes, device_id: str, limits: DecodeLimits) -> tuple[VehicleEvent, ...]:
    message = as_object(load_json(payload, limits), "payload", reason=RejectReason.NOT_AN_OBJECT)
    check_device(message, device_id)
    items = as_array(member(message, "events", ""), "events")
    check_count(items, "events", limits)
    return tuple(_event(item, f"events[{i}]", device_id, None, limits) for i, item in enumerate(items))


def _event(item: object, path: str, device_id: str, trip_id: str | None, limits: DecodeLimits) -> VehicleEvent:
    """One event; ``trip_id`` is the enclosing trip's, or None to read the event's own optional ``trip``."""
    record = as_object(item, path)
    ts = as_timestamp(member(record, "ts", path), f"{path}.ts")
    event_type = as_choice(member(record, "type", path), f"{path}.type", _EVENT_TYPES, RejectReason.BAD_EVENT_TYPE)
    if trip_id is None and record.get("trip") is not None:
        trip_id = as_identifier(record["trip"], f"{path}.trip", limits)
    return VehicleEvent(device_id, ts, event_type, trip_id)
