"""Devices: what the gateway knows about meters and vehicles, and how their words become quantities.

Pure domain code: no I/O library is imported here. The store persists these values; the gateway
decodes payloads into them.
"""

from devices.readings import CANONICAL_UNITS, Reading, ReadingKind, ReadingQuality

__all__ = ["CANONICAL_UNITS", "Reading", "ReadingKind", "ReadingQuality"]
