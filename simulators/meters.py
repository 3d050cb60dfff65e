"""Simulated meters: electricity, gas and water fleets and the messages they send.

A fleet is described by a :class:`MeterFleetConfig` (how many meters of which kind, the period, the
interval, the reading style, the upload rhythm, a seed) and is pure: :meth:`MeterFleet.messages`
yields every message in the order the devices send it, computed on the fly, with no I/O and no wall
clock, and the same config gives the same bytes.

- **style** ``interval``: each reading is the consumption of one interval, stamped at its start;
  ``register``: each reading is the register's index at the end of an interval (plus the index at
  the start of the period), wrapping at the register's maximum like a real N-digit register.
- **upload** ``daily``: one message a day with the day's readings, sent in the small hours after it
  as real meters do; ``interval``: one message per interval, sent as it closes.
- Electricity meters measure import on ``1-0:1.8.0`` [kWh]; those with solar panels also export on
  ``1-0:2.8.0`` [kWh]. Gas meters count ``7-0:3.0.0`` [m^3]; water meters count ``8-0:1.0.0`` and
  send litres (``"unit": "L"``), which the gateway converts to m^3.

Quantities are computed in whole register units (Wh, L), so interval values add up exactly to the
register's increments.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from devices.errors import RegistryError
from devices.model import DEFAULT_REGISTERS, Device, DeviceKind, validate_identifier
from simulators.errors import SimulationSpecError
from simulators.loads import (
    ElectricityProfile,
    GasProfile,
    Segment,
    WaterProfile,
    Weather,
    electricity_kw,
    gas_litres,
    solar_kw,
    to_units,
    water_litres,
)
from simulators.payloads import Outgoing, encode_rendered, fixed, render_readings, topic_for

__all__ = [
    "INTERVALS",
    "WIRE",
    "Column",
    "FleetKind",
    "Medium",
    "MeterDay",
    "MeterFleet",
    "MeterFleetConfig",
    "MeterModel",
    "MeterSpec",
    "Planned",
    "RegisterWire",
    "Style",
    "Upload",
]

Medium = Literal["electricity", "gas", "water"]
FleetKind = Literal["electricity", "gas", "water", "mixed"]
Style = Literal["interval", "register"]
Upload = Literal["daily", "interval"]
IntArray = npt.NDArray[np.int64]

DAY_S = 86_400
INTERVALS: tuple[timedelta, ...] = (timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1))
_DEFAULT_INTERVAL: dict[Medium, timedelta] = {
    "electricity": timedelta(minutes=15),
    "gas": timedelta(hours=1),
    "water": timedelta(hours=1),
}
_KIND: dict[Medium, DeviceKind] = {"electricity": "electricity_meter", "gas": "gas_meter", "water": "water_meter"}
_PREFIX: dict[Medium, str] = {"electricity": "m", "gas": "g", "water": "w"}
_SEED_CODE: dict[Medium, int] = {"electricity": 1, "gas": 7, "water": 8}  # the OBIS medium, as a seed word


@dataclass(frozen=True)
class RegisterWire:
    """How one register goes on the wire: its code, the unit sent, the decimals of that unit that make one
    register unit (Wh of kWh: 3; L of L: 0), and the wrap modulus [register units]."""

    code: str
    unit: str
    decimals: int
    modulus: int

    def text(self, units: int) -> str:
        return fixed(units, self.decimals)


def _modulus(kind: DeviceKind, code: str) -> int:
    maximum = next(r.maximum for r in DEFAULT_REGISTERS[kind] if r.code == code)
    assert maximum is not None
    return round(maximum * 1000)  # kWh -> Wh, m^3 -> L


WIRE: dict[Medium, tuple[RegisterWire, RegisterWire | None]] = {
    "electricity": (
        RegisterWire("1-0:1.8.0", "kWh", 3, _modulus("electricity_meter", "1-0:1.8.0")),
        RegisterWire("1-0:2.8.0", "kWh", 3, _modulus("electricity_meter", "1-0:2.8.0")),
    ),
    "gas": (RegisterWire("7-0:3.0.0", "m^3", 3, _modulus("gas_meter", "7-0:3.0.0")), None),
    "water": (RegisterWire("8-0:1.0.0", "L", 0, _modulus("water_meter", "8-0:1.0.0")), None),
}
# A meter that starts close to its maximum wraps within days: how far below it, in register units.
_NEAR_WRAP: dict[Medium, int] = {"electricity": 20_000, "gas": 2_000, "water": 600}


@dataclass(frozen=True)
class MeterSpec:
    """One simulated meter: its identity, its customer's habits, and its registers at the start.

    ``number`` is its rank among the meters of its medium (1, 2, ...), which seeds its randomness;
    ``initial_import``/``initial_export`` are register indexes [register units: Wh or L];
    ``upload_offset_s`` is how long after midnight UTC it uploads its day [s].
    """

    device_id: str
    serial: str
    medium: Medium
    number: int
    profile: ElectricityProfile | GasProfile | WaterProfile
    initial_import: int
    initial_export: int
    upload_offset_s: int

    @property
    def kind(self) -> DeviceKind:
        return _KIND[self.medium]

    @property
    def solar(self) -> bool:
        return isinstance(self.profile, ElectricityProfile) and self.profile.solar_kwp > 0

    @property
    def leak(self) -> bool:
        return isinstance(self.profile, WaterProfile) and self.profile.leak_l_per_h > 0

    @property
    def max_power_kw(self) -> float | None:
        return self.profile.max_power_kw if isinstance(self.profile, ElectricityProfile) else None

    def device(self, interval: timedelta) -> Device:
        """The registry entry that lets the gateway accept this meter (provisioned)."""
        return Device.new(
            self.device_id, self.kind, self.serial, nominal_interval=interval, max_power_kw=self.max_power_kw
        )


@dataclass(frozen=True)
class MeterDay:
    """One UTC day of a meter, cut to the simulated period: interval starts [epoch s] and what was
    imported and exported in each [register units]; ``upload_jitter_s`` delays that day's upload [s]."""

    starts: IntArray
    imports: IntArray
    exports: IntArray | None
    upload_jitter_s: int


class MeterModel:
    """The consumption of one meter, day by day: pure, and the same day always gives the same numbers."""

    def __init__(self, spec: MeterSpec, *, seed: int, weather: Weather, utc_offset_h: float = 1.0) -> None:
        self.spec = spec
        self.seed = seed
        self.weather = weather
        self.utc_offset_h = utc_offset_h

    def day(self, day_number: int, interval_s: int) -> MeterDay:
        """The whole UTC day ``day_number`` (days since 1970-01-01) at ``interval_s`` [s] resolution."""
        spec = self.spec
        rng = np.random.default_rng([self.seed, _SEED_CODE[spec.medium], spec.number, day_number])
        jitter = int(rng.integers(0, 600))
        n = DAY_S // interval_s
        starts = day_number * DAY_S + np.arange(n, dtype=np.int64) * interval_s
        local_s = starts + interval_s // 2 + int(self.utc_offset_h * 3600)
        hours = (local_s % DAY_S) / 3600.0
        weekday = ((local_s // DAY_S) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        interval_h = interval_s / 3600.0
        weather = self.weather.day(day_number)
        profile = spec.profile
        exports: IntArray | None = None
        if isinstance(profile, ElectricityProfile):
            load = electricity_kw(profile, hours, weekday, weather, interval_h, rng)
            if profile.solar_kwp > 0:
                pv = np.minimum(
                    solar_kw(profile.solar_kwp, hours, day_number, weather, rng), 0.95 * profile.max_power_kw
                )
                exports = to_units(np.maximum(pv - load, 0.0) * interval_h * 1000.0)
                load = np.maximum(load - pv, 0.0)
            imports = to_units(load * interval_h * 1000.0)
        elif isinstance(profile, GasProfile):
            imports = to_units(gas_litres(profile, hours, weather, rng))
        else:
            imports = to_units(water_litres(profile, hours, weekday, interval_h, rng))
        return MeterDay(starts, imports, exports, jitter)

    def days(self, start_s: int, end_s: int, interval_s: int) -> Iterator[MeterDay]:
        """The days of ``[start_s, end_s)`` [epoch s], each cut to the period."""
        for day_number in range(start_s // DAY_S, -(-end_s // DAY_S)):
            day = self.day(day_number, interval_s)
            keep = (day.starts >= start_s) & (day.starts < end_s)
            if keep.any():
                exports = None if day.exports is None else day.exports[keep]
                yield MeterDay(day.starts[keep], day.imports[keep], exports, day.upload_jitter_s)

    def messages(self, start_s: int, end_s: int, interval_s: int, style: Style, upload: Upload) -> Iterator[Outgoing]:
        """Everything this meter sends over the period, in the order it sends it."""
        for planned in self.plan(start_s, end_s, interval_s, style, upload):
            yield planned.render()

    def plan(self, start_s: int, end_s: int, interval_s: int, style: Style, upload: Upload) -> Iterator[Planned]:
        """The messages of :meth:`messages`, each known by its sending time and rendered only on demand.

        A fleet merges thousands of meters by sending time; holding each meter's next message as a
        few small arrays rather than as ~20 KB of JSON keeps that merge's memory small.
        """
        spec = self.spec
        registers = [wire for wire in WIRE[spec.medium] if wire is not None][: 2 if spec.solar else 1]
        indexes = [spec.initial_import, spec.initial_export][: len(registers)]
        # Register style: the period's first message also carries the index at its start, so that the
        # first interval's consumption is known.
        head: tuple[Column, ...] = ()
        if style == "register":
            at_start = np.array([start_s], dtype=np.int64)
            head = tuple(
                Column(wire, "cumulative", at_start, np.array([index], dtype=np.int64))
                for wire, index in zip(registers, indexes, strict=True)
            )
        seq = 0
        for day in self.days(start_s, end_s, interval_s):
            amounts = [day.imports] if day.exports is None else [day.imports, day.exports]
            columns: list[Column] = []
            for r, wire in enumerate(registers):
                if style == "interval":
                    columns.append(Column(wire, "interval", day.starts, amounts[r]))
                else:
                    running = (indexes[r] + np.cumsum(amounts[r])) % wire.modulus
                    indexes[r] = int(running[-1])
                    columns.append(Column(wire, "cumulative", day.starts + interval_s, running))
            if upload == "daily":
                seq += 1
                send_at = int(day.starts[-1]) + interval_s + spec.upload_offset_s + day.upload_jitter_s
                yield Planned(send_at, self, seq, head, tuple(columns), None)
            else:
                for i in range(len(day.starts)):
                    seq += 1
                    send_at = int(day.starts[i]) + interval_s + spec.upload_offset_s % 60
                    yield Planned(send_at, self, seq, head, tuple(columns), i)
                    head = ()
            head = ()


@dataclass(frozen=True)
class Column:
    """Readings of one register for a day's intervals: timestamps [epoch s] and values [register units]."""

    wire: RegisterWire
    kind: Literal["interval", "cumulative"]
    ts: IntArray
    units: IntArray

    def rows(self, at: int | None) -> list[str]:
        """The JSON objects of all the readings, or of the reading of interval ``at`` alone."""
        ts, units = (self.ts, self.units) if at is None else (self.ts[at : at + 1], self.units[at : at + 1])
        wire = self.wire
        return render_readings(wire.code, wire.unit, self.kind, ts.tolist(), units.tolist(), wire.decimals)


@dataclass(frozen=True)
class Planned:
    """A meter's message not yet rendered: sent at ``send_at`` [epoch s], number ``seq``, carrying the
    ``head`` readings (the indexes at the start of the period) and the readings of ``columns`` (all, or
    those of interval ``at``)."""

    send_at: int
    model: MeterModel
    seq: int
    head: tuple[Column, ...]
    columns: tuple[Column, ...]
    at: int | None

    def render(self) -> Outgoing:
        rows = [row for column in self.head for row in column.rows(None)]
        rows += [row for column in self.columns for row in column.rows(self.at)]
        device_id = self.model.spec.device_id
        payload = encode_rendered(device_id, self.seq, rows)
        topic = topic_for("readings", device_id)
        return Outgoing(topic, payload, device_id, "readings", self.send_at, f"{device_id}#{self.seq}", len(rows))


@dataclass(frozen=True)
class MeterFleetConfig:
    """A fleet of meters over a period. ``start`` is aware and on an interval boundary; ``duration`` is a
    whole number of intervals; ``interval`` None means 15 minutes for electricity and an hour for gas
    and water. The fractions [0..1] say how many electricity meters are small businesses or have solar
    panels, how many water meters leak, and how many meters start just below their register maximum."""

    count: int
    start: datetime
    duration: timedelta
    kind: FleetKind = "mixed"
    interval: timedelta | None = None
    style: Style = "interval"
    upload: Upload = "daily"
    seed: int = 0
    id_prefix: str = ""
    business_fraction: float = 0.15
    solar_fraction: float = 0.25
    leak_fraction: float = 0.1
    wrap_fraction: float = 0.1
    utc_offset_h: float = 1.0

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_period()
        try:
            validate_identifier(f"{self.id_prefix}m-{self.count:05d}", "device id")
        except RegistryError as exc:
            raise SimulationSpecError(f"id prefix {self.id_prefix!r} makes invalid device ids: {exc}") from None

    def _check_choices(self) -> None:
        if self.count < 1:
            raise SimulationSpecError(f"count {self.count} must be at least 1")
        if self.kind not in ("electricity", "gas", "water", "mixed"):
            raise SimulationSpecError(f"kind {self.kind!r} is not one of electricity, gas, water, mixed")
        if self.style not in ("interval", "register"):
            raise SimulationSpecError(f"style {self.style!r} is not one of interval, register")
        if self.upload not in ("daily", "interval"):
            raise SimulationSpecError(f"upload {self.upload!r} is not one of daily, interval")
        if self.seed < 0:
            raise SimulationSpecError(f"seed {self.seed} must be >= 0")
        if self.interval is not None and self.interval not in INTERVALS:
            raise SimulationSpecError(f"interval {self.interval} is not one of 15 min, 30 min, 1 h")
        for name in ("business_fraction", "solar_fraction", "leak_fraction", "wrap_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimulationSpecError(f"{name} {value!r} must lie in [0, 1]")

    def _check_period(self) -> None:
        if self.start.utcoffset() is None:
            raise SimulationSpecError(f"start {self.start.isoformat()} has no UTC offset")
        for medium in self.media():
            step = self.interval_s(medium)
            if int(self.start.timestamp()) % step:
                raise SimulationSpecError(
                    f"start {self.start.isoformat()} is not on a {step // 60}-minute boundary; start on the hour"
                )
            if self.duration.total_seconds() % step or self.duration.total_seconds() < step:
                raise SimulationSpecError(
                    f"duration {self.duration} is not a whole number of {step // 60}-minute intervals"
                )

    def media(self) -> tuple[Medium, ...]:
        return ("electricity", "gas", "water") if self.kind == "mixed" else (self.kind,)

    def interval_s(self, medium: Medium) -> int:
        return int((self.interval or _DEFAULT_INTERVAL[medium]).total_seconds())

    def counts(self) -> dict[Medium, int]:
        """How many meters of each medium: a mixed fleet is 5 electricity to 1 gas to 1 water."""
        if self.kind != "mixed":
            return {self.kind: self.count}
        gas = water = round(self.count / 7)
        return {"electricity": self.count - gas - water, "gas": gas, "water": water}

    @property
    def start_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        return self.start_s + int(self.duration.total_seconds())


@dataclass
class MeterFleet:
    """The meters of a :class:`MeterFleetConfig`, their registry entries and their messages."""

    config: MeterFleetConfig
    specs: list[MeterSpec] = field(init=False)
    weather: Weather = field(init=False)

    def __post_init__(self) -> None:
        self.weather = Weather(self.config.seed)
        self.specs = [spec for medium, n in self.config.counts().items() for spec in self._draw(medium, n)]

    def _draw(self, medium: Medium, count: int) -> list[MeterSpec]:
        cfg = self.config
        code = _SEED_CODE[medium]
        chooser = np.random.default_rng([cfg.seed, code])

        def chosen(fraction: float) -> set[int]:
            return {int(i) + 1 for i in chooser.permutation(count)[: round(count * fraction)]}

        business = chosen(cfg.business_fraction) if medium == "electricity" else set()
        solar = chosen(cfg.solar_fraction) if medium == "electricity" else set()
        leaks = chosen(cfg.leak_fraction) if medium == "water" else set()
        wraps = chosen(cfg.wrap_fraction)
        wire_in, wire_out = WIRE[medium]
        specs = []
        for number in range(1, count + 1):
            rng = np.random.default_rng([cfg.seed, code, number])
            profile: ElectricityProfile | GasProfile | WaterProfile
            if medium == "electricity":
                segment: Segment = "business" if number in business else "residential"
                profile = ElectricityProfile.draw(segment, rng, solar=number in solar)
            elif medium == "gas":
                profile = GasProfile.draw(rng)
            else:
                profile = WaterProfile.draw(rng, leak=number in leaks)
            if number in wraps:
                initial = wire_in.modulus - int(_NEAR_WRAP[medium] * rng.uniform(0.5, 2.0))
            else:
                initial = int(wire_in.modulus * rng.uniform(0.001, 0.1))
            initial_export = int(wire_out.modulus * rng.uniform(0.0, 0.01)) if wire_out is not None else 0
            device_id = f"{cfg.id_prefix}{_PREFIX[medium]}-{number:05d}"
            serial = f"SIM-{_PREFIX[medium].upper()}{cfg.seed}-{number:06d}"
            offset = int(rng.integers(15 * 60, 4 * 3600))  # uploads spread over the small hours
            specs.append(MeterSpec(device_id, serial, medium, number, profile, initial, initial_export, offset))
        return specs

    @property
    def device_ids(self) -> list[str]:
        return [s.device_id for s in self.specs]

    def model(self, spec: MeterSpec) -> MeterModel:
        return MeterModel(spec, seed=self.config.seed, weather=self.weather, utc_offset_h=self.config.utc_offset_h)

    def devices(self) -> list[Device]:
        """Registry entries for every meter (status provisioned), with the interval it reads at."""
        return [s.device(timedelta(seconds=self.config.interval_s(s.medium))) for s in self.specs]

    def plan_of(self, spec: MeterSpec) -> Iterator[Planned]:
        cfg = self.config
        return self.model(spec).plan(cfg.start_s, cfg.end_s, cfg.interval_s(spec.medium), cfg.style, cfg.upload)

    def messages_of(self, spec: MeterSpec) -> Iterator[Outgoing]:
        """The messages of one meter of the fleet, in the order it sends them."""
        return (planned.render() for planned in self.plan_of(spec))

    def messages(self) -> Iterator[Outgoing]:
        """Every message of the fleet in sending order (ties: fleet order), generated lazily."""
        merged = heapq.merge(*(self.plan_of(s) for s in self.specs), key=lambda p: p.send_at)
        return (planned.render() for planned in merged)
