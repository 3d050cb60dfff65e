"""``meterbill rate``: JSON per the DESIGN.md contract, bad rows and bad tariffs named (the CLI exits 2 on them)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from meterbill.cli_rate import rate
from rating.errors import ReadingsError, TariffError

EXAMPLES = Path(__file__).resolve().parents[2] / "rating" / "examples"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("rate")(rate)
    app.command("other")(lambda: None)  # two commands, so typer keeps the "rate" sub-command name
    return app


def _run(*args: str) -> Result:
    return CliRunner().invoke(_app(), ["rate", *args])


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text("device_id,ts,value,unit\n" + "\n".join(rows) + "\n")
    return path


def test_json_output_follows_the_contract(tmp_path: Path) -> None:
    rows = [f"m-1,2026-03-01T{h:02d}:00:00+01:00,{500 + h},Wh" for h in range(24)]
    rows += ["m-1,1772406000,1.5,kWh"]  # epoch seconds: 2026-03-02T00:00+01:00
    result = _run(
        "--tariff",
        str(EXAMPLES / "fr_electricity_hphc.json"),
        "--readings",
        str(_csv(tmp_path, rows)),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["currency"] == "EUR"
    (period,) = data["periods"]
    assert (period["start"], period["end"]) == ("2026-03-01", "2026-04-01")
    energy = sum(Decimal(ln["quantity"]) for ln in period["lines"] if ln["code"].startswith("ENERGY_"))
    assert energy == Decimal("12.276") + Decimal("1.5")  # sum of 500..523 Wh, plus 1.5 kWh
    assert Decimal(period["net_total"]) == sum(Decimal(ln["amount"]) for ln in period["lines"])
    assert data["net_total"] == period["net_total"]


def test_urdb_with_time_zone(tmp_path: Path) -> None:
    urdb = tmp_path / "rate.json"
    urdb.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "label": "x",
                        "energyratestructure": [[{"rate": 0.1}]],
                        "energyweekdayschedule": [[0] * 24] * 12,
                        "energyweekendschedule": [[0] * 24] * 12,
                    }
                ]
            }
        )
    )
    readings = _csv(tmp_path, ["m-1,2026-01-31T23:30:00Z,10,kWh"])
    utc = json.loads(_run("--tariff", str(urdb), "--urdb", "--readings", str(readings), "--format", "json").output)
    paris = json.loads(
        _run(
            "--tariff", str(urdb), "--urdb", "--tz", "Europe/Paris", "--readings", str(readings), "--format", "json"
        ).output
    )
    assert utc["periods"][0]["start"] == "2026-01-01"
    assert paris["periods"][0]["start"] == "2026-02-01"  # 00:30 local on Feb 1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["m-1,2026-03-01T00:00:00+01:00,1,kWh", "m-1,yesterday,1,kWh"], "row 3: ts 'yesterday' is neither"),
        (["m-1,2026-03-01T00:00:00,1,kWh"], "row 2: ts"),  # no offset
        (["m-1,1772406000,-1,kWh"], "row 2: value must be a finite number >= 0"),
        (["m-1,1772406000,1,kW"], "row 2: unit:"),
        (["m-1,1772406000,1,kWh", "m-1,1772406000,2,kWh"], "row 3: same device and ts as row 2"),
        (["m-1,1772406000"], "row 2: expected 4 columns"),
    ],
)
def test_a_bad_row_is_named(tmp_path: Path, rows: list[str], message: str) -> None:
    result = _run("--tariff", str(EXAMPLES / "fr_electricity_hphc.json"), "--readings", str(_csv(tmp_path, rows)))
    assert isinstance(result.exception, ReadingsError)
    assert isinstance(result.exception, ValueError)  # main() exits 2 for these
    assert message in str(result.exception)


def test_a_bad_tariff_is_named(tmp_path: Path) -> None:
    tariff = tmp_path / "t.json"
    tariff.write_text((EXAMPLES / "water_inclining_blocks.json").read_text().replace("1.2410", "-1.2410"))
    result = _run("--tariff", str(tariff), "--readings", str(_csv(tmp_path, ["w-1,1772406000,1,m^3"])))
    assert isinstance(result.exception, TariffError)
    assert "energy_charges[0].bands[0].prices[0]: must be >= 0" in str(result.exception)


def test_table_output(tmp_path: Path) -> None:
    result = _run(
        "--tariff",
        str(EXAMPLES / "water_inclining_blocks.json"),
        "--readings",
        str(_csv(tmp_path, ["w-1,1772406000,7,m^3"])),
    )
    assert result.exit_code == 0, result.output
    assert "WATER_T2" in result.output
