"""Why a payload is refused: stable reason codes and the sentence that says what and where.

A decoder never raises on what a device sent; it returns a :class:`Rejection`. The ``reason`` is a
stable snake_case code for dead-letter queues, metrics labels and alerts (never rename one); the
``detail`` is for the person reading the dead letter: the field path and what is wrong with it,
e.g. ``readings[3].value: NaN is not a reading``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["RejectReason", "Rejection"]


class RejectReason(StrEnum):
    """Reason codes of refused payloads; the values are stored and exported, so they never change."""

    # the bytes
    PAYLOAD_TOO_LARGE = "payload_too_large"
    EMPTY_PAYLOAD = "empty_payload"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    # the shape
    NOT_AN_OBJECT = "not_an_object"  # the payload's top level is not the JSON object the format needs
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    TOO_MANY_RECORDS = "too_many_records"
    BAD_SENML = "bad_senml"  # SenML structure: not an array of records, no value, must-understand field...
    # the values
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_IDENTIFIER = "bad_identifier"  # register or trip id empty, too long, or with spaces/control characters
    UNKNOWN_UNIT = "unknown_unit"
    WRONG_DIMENSION = "wrong_dimension"
    BAD_KIND = "bad_kind"
    BAD_QUALITY = "bad_quality"
    BAD_EVENT_TYPE = "bad_event_type"
    # the sender
    DEVICE_MISMATCH = "device_mismatch"  # the payload speaks for another device than the topic's


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused payload: ``reason`` for machines, ``detail`` (field path and problem) for people."""

    reason: RejectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"
