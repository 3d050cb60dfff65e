"""Unit normalisation: any unit a device or file names becomes a float in a canonical unit.

Storage and rating know one unit per dimension (``CANONICAL``): energy in kWh, volume in m^3,
distance in km, duration in s. This module is the project's only user of pint: it parses a unit
string once, keeps the conversion factor, and afterwards converts with one or two float
operations, because the gateway converts millions of values and pint parses in ~0.3 ms.

Gas is metered as a volume [m^3] but billed as energy [kWh]; :func:`gas_volume_to_energy_kwh`
applies the supplier's formula with the calorific value and correction factor of the contract.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Literal, NamedTuple, get_args

import pint

from devices.errors import ConversionError, UnitError

__all__ = [
    "CANONICAL",
    "DIMENSIONS",
    "Dimension",
    "canonicalize",
    "dimension_of",
    "gas_volume_to_energy_kwh",
    "to_canonical",
    "unece_code",
]

Dimension = Literal["energy", "volume", "distance", "duration"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)

# The unit strings as stored (devices.readings.CANONICAL_UNITS); pint parses each of them.
CANONICAL: dict[Dimension, str] = {"energy": "kWh", "volume": "m^3", "distance": "km", "duration": "s"}

# UN/ECE Recommendation 20 common codes, as EN 16931 invoices name units (BT-130).
_UNECE: dict[str, str] = {"kWh": "KWH", "m^3": "MTQ", "km": "KMT", "s": "SEC"}

# Gas suppliers convert with 3.6 MJ per kWh (1 kWh = 3.6e6 J exactly).
_MJ_PER_KWH = 3.6

# Decimal rather than float magnitudes: pint then derives factors exactly from its definitions
# (1 ft = 0.3048 m, 1 Wh = 3600 J), so a factor is correctly rounded once instead of accumulating
# float error (float pint gives 0.0010000000000000002 m^3 per litre). The registry is immutable
# configuration shared by every call, not state; it is private so pint stays inside this module.
_UREG: pint.UnitRegistry[Decimal] = pint.UnitRegistry(non_int_type=Decimal)
# A fixed context so that a caller's decimal settings (billing's rounding) cannot change factors.
_DECIMAL = decimal.Context(prec=34)

# Unit strings come from devices: bound what reaches pint's parser, and how many spellings we keep.
_MAX_UNIT_LENGTH = 64
_MAX_CACHED = 1024

_EXPECTED_ANY = "a unit of energy (kWh), volume (m^3), distance (km) or duration (s)"


class _Factor(NamedTuple):
    """How to convert a unit: ``value * mul / div`` in the canonical unit of ``dimension``.

    One of ``mul`` and ``div`` is 1. When the canonical unit is an integral multiple of the unit
    (Wh, L, J) we divide by that integer, which is correctly rounded: 1234567 Wh gives exactly the
    float of 1234.567 kWh, where multiplying by 0.001 could be one ulp off.
    """

    dimension: Dimension | None  # None: not a unit of any canonical dimension
    mul: float
    div: float
    found: str | None  # the unit's dimension in words; None when pint does not know the unit


_CACHE: dict[str, _Factor] = {}


def _dimension_names() -> list[tuple[object, str]]:
    # Names for the dimensions a device is likely to send by mistake, for error messages that
    # say "'kW' is a power" instead of "[mass] * [length] ** 2 / [time] ** 3".
    named = {
        "energy": "kWh",
        "volume": "m^3",
        "distance": "km",
        "duration": "s",
        "power": "W",
        "temperature": "K",
        "mass": "kg",
        "area": "m^2",
        "speed": "m/s",
        "volume flow": "m^3/s",
        "mass flow": "kg/s",
        "frequency": "Hz",
        "electric current": "A",
        "voltage": "V",
        "electric charge": "C",
        "pressure": "Pa",
    }
    return [(_UREG.parse_units(unit).dimensionality, name) for name, unit in named.items()]


_DIMENSION_NAMES = _dimension_names()
_CANONICAL_UNITS = {dim: _UREG.parse_units(unit) for dim, unit in CANONICAL.items()}


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _describe(found: str) -> str:
    """``'kW'`` + this = a sentence: "is a power", "is dimensionless", "has dimension [mass]"."""
    if found == "dimensionless":
        return "is dimensionless"
    if found.startswith("["):
        return f"has dimension {found}"
    return f"is {_article(found)}"


def _expected(dimension: Dimension | None) -> str:
    if dimension is None:
        return _EXPECTED_ANY
    return f"{_article(dimension)} unit such as {CANONICAL[dimension]}"


def _parse(unit: str) -> _Factor:
    """Ask pint what ``unit`` is; never raises (an unknown unit is a ``_Factor`` without dimension)."""
    if not unit.strip() or len(unit) > _MAX_UNIT_LENGTH:
        return _Factor(None, 1.0, 1.0, None)
    with decimal.localcontext(_DECIMAL):
        try:
            parsed = _UREG.parse_units(unit)
        # pint's parser turns arbitrary text into tokens and evaluates them: it fails with its own
        # errors, ValueError, TokenError, ZeroDivisionError, RecursionError... All mean "not a unit".
        except Exception:  # noqa: BLE001
            return _Factor(None, 1.0, 1.0, None)
        for dimension, canonical in _CANONICAL_UNITS.items():
            if parsed.dimensionality == canonical.dimensionality:
                return _factor(parsed, canonical, dimension)
        return _Factor(None, 1.0, 1.0, _name_of(parsed))


def _name_of(parsed: pint.Unit) -> str | None:
    """The dimension of a unit in words, for messages; None if pint cannot even say."""
    dimensionality = parsed.dimensionality
    if not dimensionality:
        return "dimensionless"
    for known, name in _DIMENSION_NAMES:
        if dimensionality == known:
            return name
    try:
        return str(dimensionality)
    except Exception:  # noqa: BLE001 - pint may fail to format odd exponents; the unit is then just unknown
        return None


def _factor(parsed: pint.Unit, canonical: pint.Unit, dimension: Dimension) -> _Factor:
    one, zero = Decimal(1), Decimal(0)
    try:
        forward = _UREG.Quantity(one, parsed).to(canonical).magnitude
        backward = _UREG.Quantity(one, canonical).to(parsed).magnitude
        offset = _UREG.Quantity(zero, parsed).to(canonical).magnitude
    except Exception:  # noqa: BLE001 - same dimension yet not convertible: treat as unknown, never crash
        return _Factor(None, 1.0, 1.0, None)
    if offset != 0 or forward <= 0:
        # An offset unit (like degC) is not a quantity one can add up; none exists in our dimensions
        # today, but a definition file could add one.
        return _Factor(None, 1.0, 1.0, "offset unit")
    if backward == backward.to_integral_value() and backward <= 2**53:
        return _Factor(dimension, 1.0, float(backward), dimension)
    return _Factor(dimension, float(forward), 1.0, dimension)


def _lookup(unit: str) -> _Factor:
    factor = _CACHE.get(unit)
    if factor is None:
        factor = _parse(unit)
        # Bounded: a device sending a new garbage unit every message must not grow memory forever.
        if len(_CACHE) < _MAX_CACHED:
            _CACHE[unit] = factor
    return factor


def _error(unit: str, factor: _Factor, expected: Dimension | None) -> UnitError:
    if factor.found is None:
        shown = unit if len(unit) <= _MAX_UNIT_LENGTH else unit[:_MAX_UNIT_LENGTH] + "..."
        message = f"unknown unit {shown!r}: expected {_expected(expected)}"
    else:
        message = f"{unit!r} {_describe(factor.found)}, expected {_expected(expected)}"
    return UnitError(message, unit=unit, expected=expected, found=factor.found)


def to_canonical(value: float, unit: str, dimension: Dimension) -> float:
    """``value`` [``unit``] in the canonical unit of ``dimension`` (kWh, m^3, km or s).

    ``unit`` is any unit pint parses (``Wh``, ``MWh``, ``kilowatt_hour``, ``m**3``, ``L``, ``ft^3``,
    ``mi``, ``min``, ``h``...). Raises :class:`UnitError` if pint does not know it, or if it is of
    another dimension. The value itself is not checked: NaN stays NaN.
    """
    factor = _CACHE.get(unit) or _lookup(unit)
    if factor.dimension != dimension:
        raise _error(unit, factor, dimension)
    return value * factor.mul / factor.div


def dimension_of(unit: str) -> Dimension:
    """Which canonical dimension ``unit`` measures; :class:`UnitError` if none of them."""
    factor = _CACHE.get(unit) or _lookup(unit)
    if factor.dimension is None:
        raise _error(unit, factor, None)
    return factor.dimension


def canonicalize(value: float, unit: str) -> tuple[float, str]:
    """``value`` [``unit``] as ``(value, canonical unit)`` of the unit's own dimension.

    ``canonicalize(1500.0, "Wh") == (1.5, "kWh")``; :class:`UnitError` if ``unit`` is unknown or
    measures none of energy, volume, distance and duration.
    """
    factor = _CACHE.get(unit) or _lookup(unit)
    if factor.dimension is None:
        raise _error(unit, factor, None)
    return value * factor.mul / factor.div, CANONICAL[factor.dimension]


def gas_volume_to_energy_kwh(volume_m3: float, *, calorific_value_mj_per_m3: float, correction_factor: float) -> float:
    """Energy [kWh] of a gas volume [m^3], as gas suppliers bill it.

    energy [kWh] = volume [m^3] x correction factor x calorific value [MJ/m^3] / 3.6 [MJ/kWh].

    The correction factor brings the metered volume to standard temperature and pressure (1.02264
    in the UK); the calorific value (about 35-45 MJ/m^3 for natural gas) is published by the network
    for the period. Both are data of the contract or tariff, never constants of the code.
    Raises :class:`ConversionError` for a negative or non-finite volume, or a calorific value or
    correction factor that is not a finite positive number.
    """
    if not (math.isfinite(volume_m3) and volume_m3 >= 0):
        raise ConversionError(f"gas volume must be a finite number >= 0 [m^3], got {volume_m3!r}", field="volume_m3")
    if not (math.isfinite(calorific_value_mj_per_m3) and calorific_value_mj_per_m3 > 0):
        raise ConversionError(
            f"calorific value must be a finite number > 0 [MJ/m^3], got {calorific_value_mj_per_m3!r}; "
            "take it from the contract or the network's published value",
            field="calorific_value_mj_per_m3",
        )
    if not (math.isfinite(correction_factor) and correction_factor > 0):
        raise ConversionError(
            f"volume correction factor must be a finite number > 0, got {correction_factor!r} (1.02264 in the UK)",
            field="correction_factor",
        )
    return volume_m3 * correction_factor * calorific_value_mj_per_m3 / _MJ_PER_KWH


def unece_code(canonical_unit: str) -> str:
    """The UN/ECE Rec 20 code of a canonical unit, as invoices print it: kWh -> KWH, m^3 -> MTQ, km -> KMT, s -> SEC."""
    code = _UNECE.get(canonical_unit)
    if code is None:
        raise UnitError(
            f"{canonical_unit!r} is not a canonical unit; convert it first (canonicalize) to one of "
            f"{', '.join(_UNECE)}",
            unit=canonical_unit,
            expected=None,
            found=None,
        )
    return code
