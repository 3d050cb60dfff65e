"""A reading: one value of one register of one device at one instant, in a canonical unit.

Readings are the gateway's output and the store's bulk input, so they are NamedTuples rather than
dataclasses: immutable like a frozen dataclass, but a plain tuple that the store's COPY path can
write without converting each of millions of rows.

Glossary:
- ``register``: what is measured, OBIS-style for meters (``1-0:1.8.0`` import energy [kWh]).
- ``kind``: ``interval`` (consumption during the interval that starts at ``ts``) or ``cumulative``
  (the register's index at ``ts``).
- ``quality``: ``actual`` or ``estimated`` (the device or head-end filled a gap).
- ``ts``: the device's timestamp, timezone-aware UTC; ``received_at``: when the gateway got it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple

__all__ = ["CANONICAL_UNITS", "Reading", "ReadingKind", "ReadingQuality", "ReadingReview"]

ReadingKind = Literal["interval", "cumulative"]
ReadingQuality = Literal["actual", "estimated"]

# Storage keeps one unit per dimension; pint converts to these at the edge (devices/units.py).
CANONICAL_UNITS: frozenset[str] = frozenset({"kWh", "m^3", "km", "s"})


class Reading(NamedTuple):
    """One stored reading; ``value`` is in ``unit``, which is canonical (kWh, m^3, km or s)."""

    device_id: str
    register: str
    ts: datetime
    value: float
    unit: str
    kind: ReadingKind
    quality: ReadingQuality
    received_at: datetime


class ReadingReview(NamedTuple):
    """A stored reading that deserves a person's look (e.g. above the device's maximum power).

    Flagged readings are stored like any other: dropping them silently would hide consumption.
    """

    device_id: str
    register: str
    ts: datetime
    reason: str  # short code, e.g. "implausible_value"
    detail: str  # the sentence staff read
