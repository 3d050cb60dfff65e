"""Invoice lines from rated quantities: proration, tiers, caps, demand, PAYD, excise, minimum, VAT."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from billing.lines import build_statement, statement_json
from rating.engine import EventArrays, rate
from rating.kernels import IntervalArrays
from rating.tariff_file import load_tariff, parse_tariff

EXAMPLES = Path(__file__).resolve().parents[2] / "rating" / "examples"


def _hourly(zone: str, first: datetime, values: list[float], device: int = 0) -> IntervalArrays:
    start = int(first.replace(tzinfo=ZoneInfo(zone)).timestamp())
    n = len(values)
    return IntervalArrays(
        np.full(n, device, np.int32),
        start + 3600 * np.arange(n, dtype=np.int64),
        np.full(n, 3600, np.int32),
        np.asarray(values, dtype=np.float64),
    )


def test_water_blocks_fill_in_order_and_reset_each_month() -> None:
    tariff = load_tariff(EXAMPLES / "water_inclining_blocks.json")
    # 20 m^3 in April (6 + 9 + 5 over the blocks), 1 m^3 in May: back in block 1.
    readings = _hourly("Europe/London", datetime(2026, 4, 30, 20), [10.0, 10.0, 0.0, 0.0, 1.0])
    statement = build_statement(rate(tariff, {"m^3": readings}, 1))
    april, may = statement.periods
    assert [(ln.code, ln.quantity, ln.amount) for ln in april.lines] == [
        ("STANDING", Decimal("1.0000"), Decimal("8.50")),
        ("WATER_T1", Decimal("6.000"), Decimal("7.45")),  # 7.446 rounded once
        ("WATER_T2", Decimal("9.000"), Decimal("17.88")),
        ("WATER_T3", Decimal("5.000"), Decimal("15.63")),
    ]
    assert april.net_total == Decimal("49.46")
    assert [ln.code for ln in may.lines] == ["STANDING", "WATER_T1"]
    assert statement.net_total == april.net_total + may.net_total


def test_french_tariff_prorates_with_contract_dates_and_taxes_per_rate() -> None:
    text = (EXAMPLES / "fr_electricity_hphc.json").read_text()
    tariff = parse_tariff(text.replace('"holidays"', '"contract": {"start": "2026-03-10"}, "holidays"'))
    readings = _hourly("Europe/Paris", datetime(2026, 3, 10), [1.0] * 24)
    (period,) = build_statement(rate(tariff, {"kWh": readings}, 1)).periods
    lines = {ln.code: ln for ln in period.lines}
    assert period.start == date(2026, 3, 10)
    assert lines["SUBSCRIPTION"].quantity == Decimal("0.7097")  # 22 of 31 days
    assert lines["ENERGY_HC"].quantity == Decimal("8.000")  # 22:00-06:00
    assert lines["ENERGY_HP"].quantity == Decimal("16.000")
    assert lines["EXCISE"].unit_price == Decimal("0.0225")  # 22.50 EUR/MWh
    (vat,) = period.taxes
    assert vat.base == period.net_total
    assert vat.amount == (period.net_total * Decimal("0.20")).quantize(Decimal("0.01"))


def test_gas_volume_is_billed_in_kwh() -> None:
    tariff = load_tariff(EXAMPLES / "gas_kwh_from_m3.toml")
    readings = _hourly("Europe/Paris", datetime(2026, 2, 1), [1.0] * 10)
    (period,) = build_statement(rate(tariff, {"m^3": readings}, 1)).periods
    gas = next(ln for ln in period.lines if ln.code == "GAS")
    assert gas.quantity == Decimal("110.000")  # 10 m^3 x 39.6 MJ/m^3 / 3.6
    assert next(ln for ln in period.lines if ln.code == "SUBSCRIPTION").quantity == Decimal(28)


def test_demand_and_minimum_charge() -> None:
    tariff = load_tariff(EXAMPLES / "us_commercial_tou_demand.json")
    readings = _hourly("America/Los_Angeles", datetime(2026, 7, 6, 15), [2.0, 6.0, 1.0])  # Monday 15-18 h
    (period,) = build_statement(rate(tariff, {"kWh": readings}, 1)).periods
    lines = {ln.code: ln for ln in period.lines}
    assert lines["DEMAND_FACILITY"].quantity == Decimal("6.0000")
    assert lines["DEMAND_PEAK_ON_PEAK"].quantity == Decimal("6.0000")
    assert "MINIMUM" not in lines  # 31 days x 4.25 + demand exceed the 250.00 minimum
    minimum_only = parse_tariff(
        '{"id": "m", "version": "1", "timezone": "UTC", "currency": "USD", "minimum_charge": {"amount": 20},'
        '"energy_charges": [{"code": "E", "description": "e", "bands": [{"name": "all", "price": 0.1234}]}]}'
    )
    (period,) = build_statement(rate(minimum_only, {"kWh": readings}, 1)).periods
    assert [(ln.code, ln.amount) for ln in period.lines] == [("E", Decimal("1.11")), ("MINIMUM", Decimal("18.89"))]
    assert period.net_total == Decimal("20.00")


def test_payd_cap_trips_events_and_risk_discount() -> None:
    tariff = load_tariff(EXAMPLES / "payd_motor.json")
    zone = "Europe/Paris"
    km = _hourly(zone, datetime(2026, 4, 1, 8), [150.0, 0.0, 0.0, 100.0])  # 250 km that day: 50 above the cap
    ts = int(datetime(2026, 4, 1, 9, tzinfo=ZoneInfo(zone)).timestamp())
    events = EventArrays(
        np.zeros(2, np.int32),
        np.asarray([ts, ts + 60], np.int64),
        np.asarray([0, 1], np.int32),
        np.ones(2),
        ("harsh_brake", "speeding"),
    )
    (period,) = build_statement(rate(tariff, {"km": km}, 1, events=events)).periods
    lines = {ln.code: ln for ln in period.lines}
    assert lines["DISTANCE_DAY"].quantity == Decimal("200.000")
    assert lines["DISTANCE_ABOVE_CAP"].amount == Decimal("0.00")
    assert lines["TRIP_FEE"].quantity == Decimal(4)
    assert lines["HARSH_BRAKE"].amount == Decimal("0.50")
    # score = (1 + 2) events / 250 km x 100 = 1.2 -> 10 %
    assert lines["RISK_DISCOUNT"].quantity == Decimal(10)
    assert lines["RISK_DISCOUNT"].amount == -(lines["DISTANCE_DAY"].amount / 10).quantize(Decimal("0.01"))


def test_json_shape_and_decimal_strings() -> None:
    tariff = load_tariff(EXAMPLES / "water_inclining_blocks.json")
    readings = _hourly("Europe/London", datetime(2026, 4, 2), [3.0])
    data = statement_json(build_statement(rate(tariff, {"m^3": readings}, 1)))
    assert set(data) >= {"currency", "periods", "net_total"}
    (period,) = data["periods"]
    assert set(period) >= {"start", "end", "lines", "net_total"}
    for line in period["lines"]:
        assert set(line) >= {"code", "description", "quantity", "unit", "unit_price", "amount"}
        assert isinstance(line["amount"], str)
        Decimal(line["amount"])
    assert Decimal(data["net_total"]) == sum(Decimal(ln["amount"]) for ln in period["lines"])


@pytest.mark.parametrize("days", [1, 2])
def test_empty_devices_still_pay_standing_charges(days: int) -> None:
    tariff = load_tariff(EXAMPLES / "water_inclining_blocks.json")
    readings = _hourly("Europe/London", datetime(2026, 4, 2), [0.0] * days * 24)
    (period,) = build_statement(rate(tariff, {"m^3": readings}, 2)).periods
    assert [ln.code for ln in period.lines] == ["STANDING"]
