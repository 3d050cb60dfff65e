"""Errors of the rating core: bad tariff files, bad input arrays, readings a tariff cannot rate."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["InputArrayError", "RatingError", "ReadingsError", "TariffError"]


class RatingError(MeterbillError):
    """Base class of every error raised by ``rating``."""


class TariffError(RatingError, ValueError):
    """A tariff file or URDB rate is invalid; ``path`` names the field (``energy_charges[0].bands[2].price``)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class InputArrayError(RatingError, ValueError):
    """An array handed to a kernel wrapper has the wrong dtype, shape or layout; the message says the remedy."""


class ReadingsError(RatingError, ValueError):
    """Readings the tariff cannot rate: unsorted, overlapping, negative; ``index`` is the offending reading."""

    def __init__(self, message: str, *, index: int | None = None, unit: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.unit = unit  # which readings array ``index`` points into (kWh, m^3, km), when known
