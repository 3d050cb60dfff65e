"""Simulated meters (simulators/meters.py, simulators/loads.py): deterministic, plausible load shapes,
register indexes that only wrap, and payloads the project's own codecs and gateway accept as sent."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from devices.codecs import DecodedReadings, decode_readings
from gateway.pipeline import Accept, Message, process
from gateway.topics import Topic
from simulators.errors import SimulationSpecError
from simulators.loads import ElectricityProfile, GasProfile, WaterProfile
from simulators.meters import WIRE, MeterFleet, MeterFleetConfig, MeterSpec

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
WINTER = (date(2026, 1, 12) - date(1970, 1, 1)).days  # day numbers (days since 1970-01-01)
SUMMER = (date(2026, 7, 13) - date(1970, 1, 1)).days
QUARTER_H = 900


def fleet(**overrides: object) -> MeterFleet:
    config: dict[str, object] = {"count": 14, "start": START, "duration": timedelta(days=2), "seed": 7}
    return MeterFleet(MeterFleetConfig(**{**config, **overrides}))  # type: ignore[arg-type]


def payloads(f: MeterFleet) -> list[bytes]:
    return [m.payload for m in f.messages()]


# -- determinism -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["interval", "register"])
@pytest.mark.parametrize("upload", ["daily", "interval"])
def test_the_same_seed_gives_the_same_bytes(style: str, upload: str) -> None:
    first = [(m.topic, m.payload, m.send_at) for m in fleet(style=style, upload=upload).messages()]
    again = [(m.topic, m.payload, m.send_at) for m in fleet(style=style, upload=upload).messages()]
    assert first == again
    assert payloads(fleet(style=style, upload=upload, seed=8)) != [p for _, p, _ in first]


def test_a_day_does_not_depend_on_the_period_around_it() -> None:
    # Each device-day is seeded on its own: a longer run repeats the shorter one's days exactly.
    short = {m.key: m.payload for m in fleet(duration=timedelta(days=1)).messages()}
    long = {m.key: m.payload for m in fleet(duration=timedelta(days=3)).messages()}
    assert len(short) == 14 and len(long) == 3 * 14
    assert all(long[key] == payload for key, payload in short.items())


def test_a_mixed_fleet_is_five_electricity_to_one_gas_to_one_water_with_ids_by_kind() -> None:
    f = fleet(count=70, id_prefix="x-")
    kinds = defaultdict(list)
    for spec in f.specs:
        kinds[spec.kind].append(spec.device_id)
    assert {k: len(v) for k, v in kinds.items()} == {"electricity_meter": 50, "gas_meter": 10, "water_meter": 10}
    assert kinds["electricity_meter"][:2] == ["x-m-00001", "x-m-00002"]
    assert kinds["gas_meter"][0] == "x-g-00001" and kinds["water_meter"][-1] == "x-w-00010"
    assert sum(s.solar for s in f.specs) == round(50 * 0.25)
    assert sum(s.leak for s in f.specs) == 1
    devices = f.devices()
    assert {d.kind for d in devices} == {"electricity_meter", "gas_meter", "water_meter"}
    assert all(d.nominal_interval == timedelta(minutes=15) for d in devices if d.kind == "electricity_meter")
    assert all(d.nominal_interval == timedelta(hours=1) for d in devices if d.kind != "electricity_meter")


# -- load shapes -------------------------------------------------------------------------------------------
def _residential(f: MeterFleet) -> list[MeterSpec]:
    return [s for s in f.specs if isinstance(s.profile, ElectricityProfile) and s.profile.segment == "residential"]


def test_residential_daily_energy_is_plausible_and_higher_in_winter() -> None:
    f = fleet(count=60, kind="electricity", solar_fraction=0.0)
    homes = _residential(f)
    assert len(homes) >= 45
    winter, summer = [], []
    for spec in homes:
        model = f.model(spec)
        w = [model.day(WINTER + k, QUARTER_H).imports.sum() / 1000 for k in range(7)]  # [kWh/day]
        s = [model.day(SUMMER + k, QUARTER_H).imports.sum() / 1000 for k in range(7)]
        assert all(1.0 < kwh < 90.0 for kwh in w + s), (spec.device_id, w, s)
        winter.append(np.mean(w))
        summer.append(np.mean(s))
        if isinstance(spec.profile, ElectricityProfile) and spec.profile.heating_kw_per_k > 0:
            assert np.mean(w) > 1.5 * np.mean(s), spec.device_id  # electric heating
    assert 5.0 < np.median(summer) < 20.0  # a home without heating: ~5-20 kWh a day
    assert np.mean(winter) > 1.2 * np.mean(summer)


def test_night_is_lower_than_evening() -> None:
    f = fleet(count=40, kind="electricity", solar_fraction=0.0, business_fraction=0.0)
    hours = (np.arange(96) * 0.25 + 0.125 + 1.0) % 24  # local hours of the quarters (UTC+1)
    night, evening = (hours >= 1) & (hours < 5), (hours >= 18) & (hours < 22)
    for spec in f.specs:
        model = f.model(spec)
        days = np.array([model.day(WINTER + k, QUARTER_H).imports for k in range(7)], dtype=float)
        assert days[:, night].mean() < 0.7 * days[:, evening].mean(), spec.device_id


def test_small_businesses_work_on_weekdays_and_rest_on_sundays() -> None:
    f = fleet(count=40, kind="electricity", solar_fraction=0.0, business_fraction=0.5)
    shops = [s for s in f.specs if isinstance(s.profile, ElectricityProfile) and s.profile.segment == "business"]
    assert len(shops) == 20
    monday, sunday = SUMMER, SUMMER + 6  # 2026-07-13 is a Monday
    for spec in shops:
        model = f.model(spec)
        weekday_kwh = model.day(monday, QUARTER_H).imports.sum() / 1000
        sunday_kwh = model.day(sunday, QUARTER_H).imports.sum() / 1000
        assert 30.0 < weekday_kwh < 600.0
        assert sunday_kwh < 0.7 * weekday_kwh


def test_solar_meters_export_by_day_and_more_in_summer() -> None:
    f = fleet(count=20, kind="electricity", solar_fraction=0.5)
    hours = (np.arange(96) * 0.25 + 0.125 + 1.0) % 24
    dark = (hours < 5) | (hours > 21.5)
    for spec in f.specs:
        model = f.model(spec)
        day = model.day(SUMMER, QUARTER_H)
        if not spec.solar:
            assert day.exports is None
            continue
        summer = np.array([model.day(SUMMER + k, QUARTER_H).exports for k in range(7)])
        winter = np.array([model.day(WINTER + k, QUARTER_H).exports for k in range(7)])
        assert summer[:, dark].sum() == 0 and winter[:, dark].sum() == 0
        assert summer.sum() > 2 * winter.sum() and summer.sum() > 0
    assert sum(s.solar for s in f.specs) == 10


def test_gas_follows_the_heating_season() -> None:
    f = fleet(count=10, kind="gas")
    for spec in f.specs:
        assert isinstance(spec.profile, GasProfile)
        model = f.model(spec)
        january = sum(model.day(WINTER + k, 3600).imports.sum() for k in range(7)) / 7 / 1000  # [m^3/day]
        july = sum(model.day(SUMMER + k, 3600).imports.sum() for k in range(7)) / 7 / 1000
        assert 2.0 < january < 20.0 and 0.1 < july < 1.5
        assert january > 3 * july


def test_a_leaking_water_meter_never_stops_at_night() -> None:
    f = fleet(count=20, kind="water", leak_fraction=0.2)
    hours = (np.arange(24) + 0.5 + 1.0) % 24
    night = (hours >= 1) & (hours < 5)
    leaks = 0
    for spec in f.specs:
        assert isinstance(spec.profile, WaterProfile)
        model = f.model(spec)
        days = np.array([model.day(WINTER + k, 3600).imports for k in range(14)])  # [L per hour]
        daily = days.sum(axis=1)
        assert np.all((daily > 50) & (daily < 1500)), spec.device_id
        if spec.leak:
            leaks += 1
            assert np.all(days[:, night] >= 1), spec.device_id
        else:
            assert np.median(days[:, night]) == 0, spec.device_id
    assert leaks == 4


# -- registers ---------------------------------------------------------------------------------------------
def _series(messages: list[bytes]) -> dict[tuple[str, str], list[tuple[str, float]]]:
    series: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for payload in messages:
        message = json.loads(payload)
        for r in message["readings"]:
            series[(message["device"], r["register"])].append((r["ts"], r["value"]))
    return {key: sorted(values) for key, values in series.items()}


def test_register_indexes_only_grow_except_when_they_wrap() -> None:
    cfg = {"count": 21, "duration": timedelta(days=4), "wrap_fraction": 1.0, "solar_fraction": 1.0}
    registers = _series(payloads(fleet(style="register", **cfg)))
    intervals = _series(payloads(fleet(style="interval", **cfg)))
    wraps = 0
    for (device, register), points in registers.items():
        medium = {"m": "electricity", "g": "gas", "w": "water"}[device[0]]
        wire = next(w for w in WIRE[medium] if w is not None and w.code == register)  # type: ignore[index]
        scale = 10**wire.decimals
        units = [round(v * scale) for _, v in points]
        assert all(0 <= u < wire.modulus for u in units)
        for a, b in itertools.pairwise(units):
            if b < a:
                wraps += register != "1-0:2.8.0"
                assert a - b > wire.modulus / 2  # a drop is a wrap, never a reset
        # the interval style of the same fleet carries exactly the increments of the register style
        consumed = sum(round(v * scale) for _, v in intervals[(device, register)])
        assert (units[-1] - units[0]) % wire.modulus == consumed % wire.modulus
        assert len(points) == len(intervals[(device, register)]) + 1  # plus the index at the start
    assert wraps >= 15  # every meter started just below its maximum


# -- the wire ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["interval", "register"])
@pytest.mark.parametrize("upload", ["daily", "interval"])
def test_every_payload_decodes_to_the_model_values(style: str, upload: str) -> None:
    f = fleet(style=style, upload=upload, count=7, solar_fraction=1.0)
    received = START + timedelta(days=3)
    decoded: dict[tuple[str, str, datetime], float] = {}
    for message in f.messages():
        topic = Topic.parse(message.topic)
        assert topic is not None and topic.family == "readings" and topic.device_id == message.device_id
        result = decode_readings(message.payload, device_id=message.device_id, received_at=received)
        assert isinstance(result, DecodedReadings), result
        assert len(result.readings) == message.records
        assert result.seq == int(message.key.split("#")[1])
        for r in result.readings:
            assert r.kind == ("interval" if style == "interval" else "cumulative")
            assert r.unit == ("kWh" if message.device_id.startswith("m-") else "m^3")
            decoded[(r.device_id, r.register, r.ts)] = r.value
    for spec in f.specs:
        model = f.model(spec)
        wire = WIRE[spec.medium][0]
        index = spec.initial_import
        for day in model.days(f.config.start_s, f.config.end_s, f.config.interval_s(spec.medium)):
            for ts, units in zip(day.starts.tolist(), day.imports.tolist(), strict=True):
                index = (index + units) % wire.modulus
                moment = datetime.fromtimestamp(
                    ts + (0 if style == "interval" else f.config.interval_s(spec.medium)), UTC
                )
                expected = units if style == "interval" else index
                # water goes out in litres and comes back in m^3
                assert decoded[(spec.device_id, wire.code, moment)] == pytest.approx(expected / 1000, rel=1e-12, abs=0)


def test_the_gateway_accepts_every_message_of_a_fleet() -> None:
    f = fleet(count=14, style="register", upload="interval", duration=timedelta(days=1))
    registry = {d.id: d for d in f.devices()}
    now = START + timedelta(days=1, hours=5)
    for n, message in enumerate(f.messages()):
        decision = process(Message(n, message.topic, message.payload, now), now, registry.get)
        assert isinstance(decision, Accept), decision
        assert not decision.reviews  # never above the connection's maximum power


def test_daily_uploads_go_out_after_the_day_and_in_order() -> None:
    f = fleet(count=14, duration=timedelta(days=3))
    messages = list(f.messages())
    assert [m.send_at for m in messages] == sorted(m.send_at for m in messages)
    assert len(messages) == 14 * 3
    for m in messages:
        last = max(r["ts"] for r in json.loads(m.payload)["readings"])
        assert m.send_at > datetime.fromisoformat(last).timestamp()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"count": 0}, "count 0"),
        ({"start": datetime(2026, 1, 5, 0, 10, tzinfo=UTC)}, "boundary"),
        ({"start": datetime(2026, 1, 5)}, "no UTC offset"),
        ({"duration": timedelta(minutes=20)}, "whole number"),
        ({"interval": timedelta(minutes=7)}, "15 min, 30 min, 1 h"),
        ({"kind": "steam"}, "kind 'steam'"),
        ({"id_prefix": "a/b"}, "id prefix"),
        ({"leak_fraction": 1.5}, "leak_fraction"),
    ],
)
def test_a_fleet_that_cannot_be_simulated_is_refused_with_the_reason(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(SimulationSpecError, match=words):
        fleet(**overrides)
