"""Device errors: what the device domain refuses, as exceptions under :class:`MeterbillError`.

Payload codecs do not raise on bad input (they return a ``Rejection``, see ``devices.codecs``):
these exceptions are for callers that hand the domain a value it cannot accept, such as a unit
from a tariff file or an invalid device id at provisioning.
"""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["ConversionError", "DeviceError", "RegistryError", "TripError", "UnitError"]


class DeviceError(MeterbillError):
    """Base class of the device domain's errors."""


class RegistryError(DeviceError, ValueError):
    """The device registry refuses a value: a malformed id, a forbidden status change, a bad contract."""


class UnitError(DeviceError, ValueError):
    """A unit is unknown, or is not of the dimension that was expected.

    ``unit`` is the unit as given; ``expected`` the dimension that was asked for (``"energy"``...),
    or None when any of the canonical dimensions would do; ``found`` the dimension the unit turned
    out to have (``"distance"``, ``"temperature"``, ``"[mass] / [time]"``), or None when the unit is
    not known at all (unparsable, or not a unit this function accepts).
    """

    def __init__(self, message: str, *, unit: str, expected: str | None, found: str | None) -> None:
        super().__init__(message)
        self.unit = unit
        self.expected = expected
        self.found = found


class ConversionError(DeviceError, ValueError):
    """A quantity handed to a conversion is outside its physical range; ``field`` names the argument."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TripError(DeviceError, ValueError):
    """A trip or driving event is built from values that cannot be true (naive time, end before start...)."""
