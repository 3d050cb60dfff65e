"""Rating: the pure core that turns readings and tariffs into rated quantities.

Tariff model and validation, URDB import, calendars and Numba kernels live here; it takes arrays,
not domain objects, and imports no I/O library (enforced by tests/test_architecture.py).

Public surface (imported lazily, so that loading a tariff does not load numba):

- :class:`Tariff`, :func:`load_tariff`, :func:`parse_tariff`, :func:`tariff_json_schema` (``tariff_file``);
- :func:`load_urdb`, :func:`urdb_to_tariff` (``urdb``);
- :func:`rate`, :class:`Rating`, :class:`EventArrays` (``engine``), :class:`IntervalArrays` (``kernels``);
- :class:`TariffError`, :class:`ReadingsError`, :class:`InputArrayError`, :class:`RatingError` (``errors``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "EventArrays",
    "InputArrayError",
    "IntervalArrays",
    "Rating",
    "RatingError",
    "ReadingsError",
    "Tariff",
    "TariffError",
    "load_tariff",
    "load_urdb",
    "parse_tariff",
    "rate",
    "tariff_json_schema",
    "urdb_to_tariff",
]

_HOME = {
    "EventArrays": "rating.engine",
    "Rating": "rating.engine",
    "rate": "rating.engine",
    "IntervalArrays": "rating.kernels",
    "InputArrayError": "rating.errors",
    "RatingError": "rating.errors",
    "ReadingsError": "rating.errors",
    "TariffError": "rating.errors",
    "Tariff": "rating.tariff",
    "load_tariff": "rating.tariff_file",
    "parse_tariff": "rating.tariff_file",
    "tariff_json_schema": "rating.tariff_file",
    "load_urdb": "rating.urdb",
    "urdb_to_tariff": "rating.urdb",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'rating' has no attribute {name!r}")
