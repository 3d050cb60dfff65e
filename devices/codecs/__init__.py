"""Payload codecs: the bytes a device publishes become typed values, or a reasoned refusal.

Pure functions, one per payload format, that never raise on what a device sent: each returns its
value or a :class:`Rejection` (a stable :class:`RejectReason` code and a detail naming the field).
The gateway dead-letters rejections with their reason and passes values on; the topic says which
decoder to use and which device speaks (``meters/{id}/readings``: :func:`decode_readings` or
:func:`decode_senml`; ``vehicles/{id}/trips``: :func:`decode_trip`; ``vehicles/{id}/events``:
:func:`decode_events`).
"""

from __future__ import annotations

from devices.codecs._common import DEFAULT_LIMITS, DecodedReadings, DecodeLimits
from devices.codecs.native import decode_readings
from devices.codecs.reasons import Rejection, RejectReason
from devices.codecs.senml import decode_senml
from devices.codecs.telematics import decode_events, decode_trip

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeLimits",
    "DecodedReadings",
    "RejectReason",
    "Rejection",
    "decode_events",
    "decode_readings",
    "decode_senml",
    "decode_trip",
]
