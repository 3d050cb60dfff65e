"""Unit normalisation (devices/units.py): conversions, refusals and their messages, gas energy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import ConversionError, DeviceError, UnitError
from devices.readings import CANONICAL_UNITS
from devices.units import (
    CANONICAL,
    DIMENSIONS,
    Dimension,
    canonicalize,
    dimension_of,
    gas_volume_to_energy_kwh,
    to_canonical,
    unece_code,
)


def test_canonical_units_are_the_stored_ones() -> None:
    assert set(CANONICAL.values()) == CANONICAL_UNITS
    assert set(CANONICAL) == set(DIMENSIONS)
    for dimension, unit in CANONICAL.items():
        assert to_canonical(1.0, unit, dimension) == 1.0
        assert dimension_of(unit) == dimension


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1500.0, "Wh", 1.5),
        (1234567.0, "Wh", 1234.567),  # divided by 1000, so exactly the float of 1234.567
        (2.5, "kWh", 2.5),
        (0.75, "MWh", 750.0),
        (3.0, "kilowatt_hour", 3.0),
        (3_600_000.0, "J", 1.0),
        (1.0, "kW*h", 1.0),
    ],
)
def test_energy(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "energy") == pytest.approx(expected, rel=1e-15)
    converted, canonical = canonicalize(value, unit)
    assert converted == pytest.approx(expected, rel=1e-15)
    assert canonical == "kWh"


def test_division_by_exact_integers_is_correctly_rounded() -> None:
    assert to_canonical(1234567.0, "Wh", "energy") == 1234.567
    assert to_canonical(1.0, "L", "volume") == 0.001  # float pint would give 0.0010000000000000002
    assert to_canonical(1.0, "J", "energy") == 1 / 3_600_000


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (2.0, "m^3", 2.0),
        (2.0, "m**3", 2.0),
        (1500.0, "L", 1.5),
        (1500.0, "l", 1.5),
        (1.0, "ft^3", 0.028316846592),
        (100.0, "ft**3", 2.8316846592),
    ],
)
def test_volume(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "volume") == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [(12.3, "km", 12.3), (500.0, "m", 0.5), (1.0, "mi", 1.609344), (10.0, "mile", 16.09344)],
)
def test_distance(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "distance") == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "unit", "expected"), [(90.0, "s", 90.0), (15.0, "min", 900.0), (2.0, "h", 7200.0), (1.0, "day", 86400.0)]
)
def test_duration(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "duration") == expected


def test_dimension_of() -> None:
    assert [dimension_of(u) for u in ("MWh", "ft^3", "mi", "min")] == ["energy", "volume", "distance", "duration"]


def test_wrong_dimension_names_the_unit_and_both_dimensions() -> None:
    with pytest.raises(UnitError) as caught:
        to_canonical(1.0, "km", "energy")
    assert str(caught.value) == "'km' is a distance, expected an energy unit such as kWh"
    assert (caught.value.unit, caught.value.expected, caught.value.found) == ("km", "energy", "distance")


def test_power_is_not_energy() -> None:
    # The mistake a meter firmware makes: a power where an energy is due.
    with pytest.raises(UnitError, match=r"'kW' is a power, expected an energy unit such as kWh"):
        to_canonical(1.0, "kW", "energy")


def test_unknown_unit() -> None:
    with pytest.raises(UnitError, match=r"^unknown unit 'xyz'") as caught:
        to_canonical(1.0, "xyz", "energy")
    assert caught.value.found is None
    assert caught.value.unit == "xyz"


@pytest.mark.parametrize("unit", ["", "   ", "kWh)", "1/0", "2 kWh", "kwh", "m3", "(" * 200, "x" * 65, "__class__"])
def test_garbage_is_an_unknown_unit(unit: str) -> None:
    with pytest.raises(UnitError) as caught:
        dimension_of(unit)
    assert caught.value.found is None
    assert str(caught.value).startswith("unknown unit")


def test_offset_and_other_dimensions_are_refused() -> None:
    with pytest.raises(UnitError, match=r"'degC' is a temperature") as caught:
        canonicalize(20.0, "degC")
    assert caught.value.expected is None
    assert caught.value.found == "temperature"
    with pytest.raises(UnitError, match=r"'%' is dimensionless"):
        dimension_of("%")
    with pytest.raises(UnitError, match=r"'m\^2' is an area, expected a volume unit"):
        to_canonical(1.0, "m^2", "volume")


def test_unit_error_is_a_device_error_and_a_value_error() -> None:
    with pytest.raises(DeviceError):
        dimension_of("furlong/fortnight")
    with pytest.raises(ValueError, match="speed"):
        dimension_of("furlong/fortnight")


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    unit=st.sampled_from(["Wh", "kWh", "MWh", "m^3", "L", "ft^3", "km", "m", "mi", "s", "min", "h"]),
)
def test_cached_conversion_returns_identical_results(value: float, unit: str) -> None:
    first = canonicalize(value, unit)
    again = canonicalize(value, unit)  # from the cache now
    assert first == again
    assert to_canonical(value, unit, dimension_of(unit)) == first[0]
    # and it is the factor, applied: converting 1 unit scales linearly
    assert math.isclose(first[0], value * canonicalize(1.0, unit)[0], rel_tol=1e-15, abs_tol=1e-300)


def test_gas_volume_to_energy_as_a_uk_supplier_bills() -> None:
    # 100 m^3 x 1.02264 x 39.5 MJ/m^3 / 3.6 = 1122.0633... kWh
    energy = gas_volume_to_energy_kwh(100.0, calorific_value_mj_per_m3=39.5, correction_factor=1.02264)
    assert energy == pytest.approx(100 * 1.02264 * 39.5 / 3.6, rel=1e-15)
    assert energy == pytest.approx(1122.0633, abs=1e-4)
    assert gas_volume_to_energy_kwh(0.0, calorific_value_mj_per_m3=39.5, correction_factor=1.02264) == 0.0


@pytest.mark.parametrize(
    ("volume", "cv", "cf", "field"),
    [
        (-1.0, 39.5, 1.02264, "volume_m3"),
        (math.nan, 39.5, 1.02264, "volume_m3"),
        (1.0, 0.0, 1.02264, "calorific_value_mj_per_m3"),
        (1.0, math.inf, 1.02264, "calorific_value_mj_per_m3"),
        (1.0, 39.5, -1.0, "correction_factor"),
    ],
)
def test_gas_conversion_refuses_impossible_inputs(volume: float, cv: float, cf: float, field: str) -> None:
    with pytest.raises(ConversionError) as caught:
        gas_volume_to_energy_kwh(volume, calorific_value_mj_per_m3=cv, correction_factor=cf)
    assert caught.value.field == field


def test_unece_codes() -> None:
    assert [unece_code(u) for u in ("kWh", "m^3", "km", "s")] == ["KWH", "MTQ", "KMT", "SEC"]
    with pytest.raises(UnitError, match="not a canonical unit"):
        unece_code("Wh")


@settings(max_examples=200, deadline=None)
@given(unit=st.text(max_size=30) | st.text(alphabet="m^*()/0123456789.e- kWhL", max_size=20))
def test_any_text_is_a_dimension_or_a_unit_error(unit: str) -> None:
    # Unit strings come from devices: pint's parser must never leak another exception.
    error: UnitError | None = None
    dimension: Dimension | None = None
    try:
        dimension = dimension_of(unit)
    except UnitError as exc:
        error = exc
    if dimension is None:
        assert error is not None and error.unit == unit and str(error)
    else:
        assert dimension in DIMENSIONS
        assert math.isfinite(to_canonical(1.0, unit, dimension))
