"""The gateway's pure core: one MQTT message and the time in, one decision out.

``process(message, now, lookup, policy)`` decodes the payload with the codec its topic calls for,
checks the sender against the registry and the readings against the device and the clock, and
returns either :class:`Accept` (what to store, which device to activate, what to flag for review)
or :class:`Reject` (dead-letter the raw message with a reason). It never raises on what a device
sent and does no I/O: the driver (``gateway/service.py``) executes the decision and acknowledges
the message only after the store committed it. A message is accepted or rejected whole, so a
dead letter is always the complete message, ready to be replayed once its cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from devices.codecs import (
    DEFAULT_LIMITS,
    DecodedReadings,
    DecodeLimits,
    Rejection,
    decode_events,
    decode_readings,
    decode_senml,
    decode_trip,
)
from devices.model import Device
from devices.readings import Reading, ReadingReview
from devices.trips import Trip, VehicleEvent
from gateway.topics import Topic

__all__ = ["Accept", "GatewayReason", "Message", "Policy", "Reject", "process"]

DeviceLookup = Callable[[str], Device | None]


class GatewayReason(StrEnum):
    """Refusals decided here, beside the codecs' RejectReason codes (never renamed: they are stored)."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_SUSPENDED = "device_suspended"
    DEVICE_RETIRED = "device_retired"
    WRONG_TOPIC_FOR_KIND = "wrong_topic_for_kind"
    UNKNOWN_REGISTER = "unknown_register"
    WRONG_REGISTER_UNIT = "wrong_register_unit"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"


@dataclass(frozen=True)
class Message:
    """One MQTT message as the driver received it; ``mid`` identifies it for the acknowledgement."""

    mid: int
    topic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class Policy:
    """Validation limits. ``clock_skew``: how far in the future a device clock may be; ``backfill``:
    how old a reading may still arrive; ``dead_letter_max_bytes``: raw payload kept [bytes]."""

    clock_skew: timedelta = timedelta(minutes=5)
    backfill: timedelta = timedelta(days=400)
    limits: DecodeLimits = DEFAULT_LIMITS
    dead_letter_max_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Accept:
    message: Message
    device_id: str
    readings: tuple[Reading, ...] = ()
    trips: tuple[Trip, ...] = ()
    events: tuple[VehicleEvent, ...] = ()
    reviews: tuple[ReadingReview, ...] = ()
    activate: bool = False  # a provisioned device's first valid message makes it active
    status: bytes | None = None  # a birth/last-will message: nothing to store


@dataclass(frozen=True)
class Reject:
    message: Message
    reason: str
    detail: str
    device_id: str | None = None
    payload: bytes = field(default=b"", repr=False)  # the raw payload, capped to the policy's size


def process(message: Message, now: datetime, lookup: DeviceLookup, policy: Policy = Policy()) -> Accept | Reject:
    """Decide what to do with ``message`` at time ``now`` (aware UTC)."""
    topic = Topic.parse(message.topic)
    if topic is None:
        return _reject(message, policy, GatewayReason.BAD_TOPIC, f"topic {message.topic!r} is not a meterbill topic")
    device = lookup(topic.device_id)
    if device is None:
        return _reject(
            message,
            policy,
            GatewayReason.UNKNOWN_DEVICE,
            f"device {topic.device_id} is not registered",
            topic.device_id,
        )
    if device.status in ("suspended", "retired"):
        reason = GatewayReason.DEVICE_SUSPENDED if device.status == "suspended" else GatewayReason.DEVICE_RETIRED
        return _reject(message, policy, reason, f"device {device.id} is {device.status}", device.id)
    if (topic.family in ("trips", "events")) != (device.kind == "vehicle") and topic.family != "status":
        return _reject(
            message,
            policy,
            GatewayReason.WRONG_TOPIC_FOR_KIND,
            f"a {device.kind} does not publish {topic.family} ({message.topic})",
            device.id,
        )

    if topic.family == "status":
        return Accept(message, device.id, status=message.payload[:256])
    if topic.family == "readings":
        return _readings(message, now, device, policy)
    if topic.family == "trips":
        trip = decode_trip(message.payload, device_id=device.id, received_at=message.received_at, limits=policy.limits)
        if isinstance(trip, Rejection):
            return _rejection(message, policy, trip, device.id)
        problem = _check_times(now, policy, [trip.start, trip.end, *(e.ts for e in trip.events)], "trip")
        if problem is not None:
            return _reject(message, policy, problem[0], problem[1], device.id)
        return Accept(message, device.id, trips=(trip,), activate=device.status == "provisioned")
    events = decode_events(message.payload, device_id=device.id, received_at=message.received_at, limits=policy.limits)
    if isinstance(events, Rejection):
        return _rejection(message, policy, events, device.id)
    problem = _check_times(now, policy, [e.ts for e in events], "event")
    if problem is not None:
        return _reject(message, policy, problem[0], problem[1], device.id)
    return Accept(message, device.id, events=events, activate=device.status == "provisioned")


def _readings(message: Message, now: datetime, device: Device, policy: Policy) -> Accept | Reject:
    # SenML (RFC 8428) is a JSON array; the native format is a JSON object.
    senml = message.payload.lstrip()[:1] == b"["
    decoded: DecodedReadings | Rejection = (
        decode_senml(
            message.payload, device_id=device.id, received_at=message.received_at, now=now, limits=policy.limits
        )
        if senml
        else decode_readings(
            message.payload, device_id=device.id, received_at=message.received_at, limits=policy.limits
        )
    )
    if isinstance(decoded, Rejection):
        return _rejection(message, policy, decoded, device.id)
    # Hoisted out of the loop: bounds and registers are the same for every reading of the message.
    latest, earliest = now + policy.clock_skew, now - policy.backfill
    registers = device.registers
    check_power = device.max_power_kw is not None
    reviews: list[ReadingReview] = []
    for i, reading in enumerate(decoded.readings):
        for register in registers:  # a handful at most: cheaper than device.register()'s generator
            if register.code == reading.register:
                break
        else:
            known = ", ".join(r.code for r in registers) or "none"
            return _reject(
                message,
                policy,
                GatewayReason.UNKNOWN_REGISTER,
                f"readings[{i}].register: {device.id} has no register {reading.register} (it has {known})",
                device.id,
            )
        if reading.unit != register.unit:
            return _reject(
                message,
                policy,
                GatewayReason.WRONG_REGISTER_UNIT,
                f"readings[{i}].unit: register {register.code} of {device.id} counts {register.unit},"
                f" the reading is in {reading.unit}",
                device.id,
            )
        if not earliest <= reading.ts <= latest:
            problem = _check_times(now, policy, [reading.ts], f"readings[{i}]")
            if problem is not None:
                return _reject(message, policy, problem[0], problem[1], device.id)
        if check_power:
            review = _plausibility(device, reading)
            if review is not None:
                reviews.append(review)
    return Accept(
        message, device.id, readings=decoded.readings, reviews=tuple(reviews), activate=device.status == "provisioned"
    )


def _plausibility(device: Device, reading: Reading) -> ReadingReview | None:
    """An interval energy above what the device's maximum power allows in its interval is flagged."""
    if reading.kind != "interval" or reading.unit != "kWh" or device.max_power_kw is None:
        return None
    hours = device.nominal_interval.total_seconds() / 3600
    if hours <= 0:
        return None
    ceiling_kwh = device.max_power_kw * hours
    if reading.value <= ceiling_kwh:
        return None
    return ReadingReview(
        device.id,
        reading.register,
        reading.ts,
        "implausible_value",
        f"{reading.value:g} kWh in {device.nominal_interval} exceeds {ceiling_kwh:g} kWh"
        f" (maximum power {device.max_power_kw:g} kW)",
    )


def _check_times(now: datetime, policy: Policy, moments: list[datetime], what: str) -> tuple[str, str] | None:
    for moment in moments:
        if moment > now + policy.clock_skew:
            return (
                GatewayReason.FUTURE_TIMESTAMP,
                f"{what}: {moment.isoformat()} is more than {policy.clock_skew} ahead of the gateway clock",
            )
        if moment < now - policy.backfill:
            return (
                GatewayReason.TOO_OLD,
                f"{what}: {moment.isoformat()} is older than the backfill window of {policy.backfill.days} days",
            )
    return None


def _rejection(message: Message, policy: Policy, rejection: Rejection, device_id: str) -> Reject:
    return _reject(message, policy, str(rejection.reason), rejection.detail, device_id)


def _reject(message: Message, policy: Policy, reason: str, detail: str, device_id: str | None = None) -> Reject:
    return Reject(message, str(reason), detail, device_id, message.payload[: policy.dead_letter_max_bytes])
