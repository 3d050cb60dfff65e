"""Tariff files: the five examples load and validate against the exported JSON Schema; bad files name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rating.errors import TariffError
from rating.tariff_file import load_tariff, parse_tariff, tariff_json_schema

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "rating" / "examples").glob("*.*"))
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "tariff.schema.json"

BASE = {
    "id": "t",
    "version": "1",
    "timezone": "Europe/Paris",
    "currency": "EUR",
    "energy_charges": [
        {
            "code": "ENERGY",
            "description": "Energy",
            "bands": [{"name": "hp", "price": 0.2}, {"name": "hc", "price": 0.1}, {"name": "x", "price": 0.3}],
            "schedule": {"ranges": [{"band": "hc", "start": "22:00", "end": "06:00"}], "default_band": "hp"},
        }
    ],
}


def _with(path: list[str | int], value: object) -> str:
    data = json.loads(json.dumps(BASE))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


def test_five_examples_load() -> None:
    assert len(EXAMPLES) == 5
    ids = {load_tariff(path).id for path in EXAMPLES}
    assert len(ids) == 5


def test_examples_validate_against_the_exported_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import tomllib

    schema = tariff_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in EXAMPLES:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        jsonschema.validate(data, schema)


def test_the_schema_in_docs_is_up_to_date() -> None:
    # Regenerate with: python -m rating.tariff_file > docs/tariff.schema.json
    assert json.loads(SCHEMA_FILE.read_text()) == tariff_json_schema()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["energy_charges", 0, "bands", 2, "price"], -1, "energy_charges[0].bands[2].price: must be >= 0"),
        (
            ["energy_charges", 0, "schedule", "ranges", 0, "band"],
            "zz",
            "energy_charges[0].schedule.ranges[0].band: unknown band 'zz'",
        ),
        (
            ["energy_charges", 0, "schedule", "ranges", 0, "start"],
            "25:00",
            "energy_charges[0].schedule.ranges[0].start: must be a local time",
        ),
        (["timezone"], "Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'"),
        (["currency"], "euro", "currency: must match"),
        (["energy_charges", 0, "tier_limits"], [10, 5], "energy_charges[0].bands[0].price: needs 3 price(s)"),
        (["energy_charges", 0, "unit"], "kW", "energy_charges[0].unit: must be one of"),
        (["energy_charges", 0, "colour"], "red", "energy_charges[0].colour: is not a known field"),
        (
            ["energy_charges", 0, "schedule"],
            None,
            "energy_charges[0].schedule: required when there is more than one band",
        ),
        (["energy_charges", 0, "daily_cap"], 0, "energy_charges[0].daily_cap: must be > 0"),
    ],
)
def test_bad_tariff_names_the_field_and_the_reason(path: list[str | int], value: object, expected: str) -> None:
    with pytest.raises(TariffError) as caught:
        parse_tariff(_with(path, value))
    assert str(caught.value).startswith(expected), str(caught.value)
    assert caught.value.path == expected.split(":", maxsplit=1)[0]
    assert isinstance(caught.value, ValueError)


def test_tier_limits_must_increase() -> None:
    text = _with(
        ["energy_charges", 0],
        {"code": "W", "description": "w", "tier_limits": [10, 5], "bands": [{"name": "all", "prices": [1, 2, 3]}]},
    )
    with pytest.raises(TariffError, match=r"^energy_charges\[0\]\.tier_limits: must be strictly increasing"):
        parse_tariff(text)


def test_duplicate_codes_and_dangling_excise_are_refused() -> None:
    data = json.loads(_with(["standing_charges"], [{"code": "ENERGY", "description": "s", "price": 1, "per": "day"}]))
    with pytest.raises(TariffError, match=r"^energy_charges\[0\]\.code: duplicate line code 'ENERGY'"):
        parse_tariff(json.dumps(data))
    data = json.loads(
        _with(
            ["taxes"], {"excise": [{"code": "EX", "description": "e", "price": 1, "per": "MWh", "applies_to": ["GAS"]}]}
        )
    )
    with pytest.raises(TariffError, match=r"^taxes\.excise\[0\]\.applies_to\[0\]: no energy charge has code 'GAS'"):
        parse_tariff(json.dumps(data))


def test_prices_are_exact_decimals_and_models_frozen() -> None:
    text = _with(["energy_charges", 0, "bands", 0, "price"], 0.5).replace("0.5", "0.1740")
    tariff = parse_tariff(text)
    price = tariff.energy_charges[0].bands[0].price
    assert str(price) == "0.1740"
    with pytest.raises(Exception, match="frozen"):
        tariff.energy_charges[0].bands[0].price = price


def test_invalid_json_and_toml_say_so(tmp_path: Path) -> None:
    with pytest.raises(TariffError, match="not valid JSON"):
        parse_tariff("{", fmt="json")
    bad = tmp_path / "t.toml"
    bad.write_text("id = ")
    with pytest.raises(TariffError, match="not valid TOML"):
        load_tariff(bad)
