"""Trips and driving events: what an insured vehicle reports for pay-as-you-drive billing.

A trip is one journey with its distance [km]; an event is a moment of risky driving that a tariff
may surcharge. Events arrive inside the trip they belong to, or alone (``trip_id`` then optional).
Timestamps are timezone-aware UTC, like readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from devices.errors import TripError

__all__ = ["EVENT_TYPES", "EventType", "Trip", "VehicleEvent"]

EventType = Literal["harsh_brake", "speeding", "harsh_accel", "phone_use"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


def _aware(ts: datetime, what: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise TripError(f"{what} {ts.isoformat()} has no UTC offset; pass a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """A driving event at ``ts`` (aware UTC); ``trip_id`` is None when the device sent it outside a trip."""

    device_id: str
    ts: datetime
    type: EventType
    trip_id: str | None = None
    received_at: datetime | None = None  # when the gateway got it; the batch commit stamps it when None

    def __post_init__(self) -> None:
        _aware(self.ts, f"event {self.type} of {self.device_id}")
        if self.type not in EVENT_TYPES:
            raise TripError(f"event type {self.type!r} of {self.device_id} is not one of {', '.join(EVENT_TYPES)}")


@dataclass(frozen=True, slots=True)
class Trip:
    """One journey of a vehicle from ``start`` to ``end`` (aware UTC), ``distance_km`` [km] long."""

    device_id: str
    trip_id: str
    start: datetime
    end: datetime
    distance_km: float
    events: tuple[VehicleEvent, ...] = ()
    received_at: datetime | None = None  # when the gateway got it; the batch commit stamps it when None

    def __post_init__(self) -> None:
        _aware(self.start, f"trip {self.trip_id} start")
        _aware(self.end, f"trip {self.trip_id} end")
        if self.end < self.start:
            raise TripError(
                f"trip {self.trip_id} ends at {self.end.isoformat()}, before it starts at {self.start.isoformat()}"
            )
        if not (math.isfinite(self.distance_km) and self.distance_km >= 0):
            raise TripError(f"trip {self.trip_id}: distance must be a finite number >= 0 [km], got {self.distance_km}")
