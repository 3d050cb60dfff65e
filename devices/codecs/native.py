"""The native reading payload: meterbill's own JSON, one message carrying many readings.

    {"device": "m-0001", "seq": 42, "readings": [{"ts": "2026-01-01T00:15:00Z", "register": "1-0:1.8.0",
     "value": 1234.567, "unit": "kWh", "kind": "cumulative", "quality": "actual"}]}

``device`` must be the id of the topic; ``seq`` (optional) is the device's message counter;
``quality`` defaults to ``actual``; any other field is ignored so devices may add some. ``ts`` is an
ISO 8601 date-time with an offset or ``Z``, or epoch seconds. ``unit`` is any unit of energy, volume,
distance or duration; values come out in the canonical unit. A message is accepted whole or refused
whole: one bad reading refuses it, with the path of that reading.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, get_args

from devices.codecs._common import (
    DEFAULT_LIMITS,
    DecodedReadings,
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
    wrong_type,
)
from devices.codecs.reasons import Rejection, RejectReason
from devices.readings import Reading, ReadingKind, ReadingQuality

__all__ = ["decode_readings"]

_KINDS: dict[str, ReadingKind] = {kind: kind for kind in get_args(ReadingKind)}
_QUALITIES: dict[str, ReadingQuality] = {quality: quality for quality in get_args(ReadingQuality)}
_MAX_SEQ = 2**63 - 1  # stored as a signed 64-bit integer


def decode_readings(
    payload: bytes, *, device_id: str, received_at: datetime, limits: DecodeLimits = DEFAULT_LIMITS
) -> DecodedReadings | Rejection:
    """The readings of a native payload published by ``device_id`` (from the topic), or why not.

    ``received_at`` (aware UTC) is stamped on every reading. Never raises on bad input.
    """
    try:
        return _decode(payload, device_id, received_at, limits)
    except Invalid as refused:
        return refused.rejection


def _decode(payload: bytes, device_id: str, received_at: datetime, limits: DecodeLimits) -> DecodedReadings:
    message = as_object(load_json(payload, limits), "payload", reason=RejectReason.NOT_AN_OBJECT)
    check_device(message, device_id)
    seq = _seq(message)
    items = as_array(member(message, "readings", ""), "readings")
    check_count(items, "readings", limits)
    readings = []
    for i, item in enumerate(items):
        try:
            readings.append(_reading(item, _UNNAMED, device_id, received_at, limits))
        except Invalid:
            # Paths only name a field in a refusal, and building them for every reading cost ~0.8 us
            # each: a refused reading is decoded again with its paths, to say which field it was.
            _reading(item, _paths(f"readings[{i}]"), device_id, received_at, limits)
            raise
    return DecodedReadings(device_id, seq, tuple(readings))


class _Paths(NamedTuple):
    """The path of a reading and of each of its fields, as refusals name them."""

    record: str
    ts: str
    register: str
    kind: str
    quality: str
    value: str
    unit: str


def _paths(record: str) -> _Paths:
    return _Paths(
        record,
        f"{record}.ts",
        f"{record}.register",
        f"{record}.kind",
        f"{record}.quality",
        f"{record}.value",
        f"{record}.unit",
    )


_UNNAMED = _paths("readings[?]")  # for the first attempt, whose refusal is never shown


def _seq(message: dict[str, object]) -> int | None:
    seq = message.get("seq")
    if seq is None:
        return None
    if type(seq) is not int:  # bool is an int subclass, and 1.5 is not a counter
        raise wrong_type(seq, "seq", "an integer")
    if not 0 <= seq <= _MAX_SEQ:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"seq: {seq} is outside 0 to 2**63-1")
    return seq


def _reading(item: object, path: _Paths, device_id: str, received_at: datetime, limits: DecodeLimits) -> Reading:
    record = as_object(item, path.record)
    ts = as_timestamp(member(record, "ts", path.record), path.ts)
    register = as_identifier(member(record, "register", path.record), path.register, limits)
    kind = as_choice(member(record, "kind", path.record), path.kind, _KINDS, RejectReason.BAD_KIND)
    quality = as_choice(record.get("quality", "actual"), path.quality, _QUALITIES, RejectReason.BAD_QUALITY)
    raw = as_number(member(record, "value", path.record), path.value)
    unit = as_text(member(record, "unit", path.record), path.unit)
    value, canonical = quantity(raw, unit, value_path=path.value, unit_path=path.unit, limits=limits)
    if kind == "cumulative" and value < 0:
        # A register index counts up from zero; a negative one is a device fault, not a reading.
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{path.value}: {raw!r} is negative, and a cumulative index is >= 0")
    return Reading(device_id, register, ts, value, canonical, kind, quality, received_at)
