"""URDB import: envelope and label, field semantics, and errors naming the URDB field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rating.errors import TariffError
from rating.urdb import load_urdb, urdb_to_tariff

FLAT = [[0] * 24 for _ in range(12)]


def _rate(**extra: object) -> dict[str, object]:
    return {
        "label": "a",
        "energyratestructure": [[{"rate": 0.1, "max": 100}, {"rate": 0.2}], [{"rate": 0.3}]],
        "energyweekdayschedule": FLAT,
        "energyweekendschedule": FLAT,
        **extra,
    }


def test_bare_rate_and_envelope_with_label(tmp_path: Path) -> None:
    tariff = urdb_to_tariff(_rate(), timezone="America/Denver")
    assert tariff.timezone == "America/Denver" and tariff.currency == "USD"
    (energy,) = tariff.energy_charges
    assert energy.tier_basis == "pro_rata" and energy.tier_limits == (100.0,)
    assert [b.tier_prices for b in energy.bands][1] == energy.bands[1].tier_prices  # P2 keeps its one price
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"items": [_rate(), {**_rate(), "label": "b", "fixedchargefirstmeter": 5}]}))
    assert load_urdb(path).id == "a"
    assert load_urdb(path, label="b").standing_charges[0].price == 5
    with pytest.raises(TariffError, match="no rate has label 'c'"):
        load_urdb(path, label="c")


def test_fixed_and_minimum_units() -> None:
    tariff = urdb_to_tariff(
        _rate(fixedchargefirstmeter=0.5, fixedchargeunits="$/day", mincharge=30, minchargeunits="$/month")
    )
    assert tariff.standing_charges[0].per == "day"
    assert tariff.minimum_charge is not None and tariff.minimum_charge.amount == 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {
                "energyratestructure": [
                    [{"rate": 0.1, "max": 100}, {"rate": 0.2}],
                    [{"rate": 0.3, "max": 50}, {"rate": 0.4}],
                ]
            },
            r"energyratestructure\[1\]\[0\]\.max: tier limit 50.0 differs",
        ),
        ({"energyweekdayschedule": [[5] * 24] * 12}, r"energyweekdayschedule\[0\]\[0\]: period 5 is not one of the 2"),
        ({"energyratestructure": [[{"rate": 0.1, "unit": "kWh daily"}]]}, r"energyratestructure\[0\]\[0\]\.unit"),
        ({"fixedchargefirstmeter": 100, "fixedchargeunits": "$/year"}, "fixedchargeunits: '\\$/year' is not supported"),
        ({"lookbackpercent": 0.8}, "lookbackpercent: demand ratchets"),
        ({"energyratestructure": [[{"rate": 0.1, "adj": -0.2}]]}, r"energyratestructure\[0\]\[0\]\.rate: rate \+ adj"),
    ],
)
def test_errors_name_the_urdb_field(extra: dict[str, object], message: str) -> None:
    with pytest.raises(TariffError, match=message):
        urdb_to_tariff(_rate(**extra))
