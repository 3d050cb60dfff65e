"""Load shapes: how much a home or a shop draws, what a roof produces, how gas and water are used.

Pure and vectorised: each function takes the local hours of one day's intervals [h] and the day's
weather, and returns mean power [kW] or volume [L] per interval. Randomness comes in as a NumPy
``Generator`` that the caller seeds, so a day of a device is always the same numbers.

The shapes are stylised from public load research (residential: a morning bump, a larger evening
peak, a low night; small business: opening hours, a lunch dip, closed on Sundays) and a temperate
climate of the French kind: daily mean temperature from about 3 degC in late January to 20 degC in
late July, heating below 15.5 degC (heating degree days [K]), cooling above 22 degC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ElectricityProfile",
    "FloatArray",
    "GasProfile",
    "Segment",
    "WaterProfile",
    "Weather",
    "WeatherDay",
    "day_of_year",
    "electricity_kw",
    "gas_litres",
    "solar_kw",
    "to_units",
    "water_litres",
]

FloatArray = npt.NDArray[np.float64]
Segment = Literal["residential", "business"]

_HEATING_BASE_C = 15.5  # heating degree days are counted below this daily mean [degC]
_COOLING_BASE_C = 22.0
_DAYS_PER_YEAR = 365.2425


def day_of_year(day_number: int) -> int:
    """Day of the year (1 = 1 January) of a day counted from 1970-01-01 (day 0)."""
    # 1970-01-01 is day 1 of its year; the civil calendar's drift over a few years is irrelevant here.
    return int((day_number + 0.5) % _DAYS_PER_YEAR) + 1


def _wrapped(hours: FloatArray, centre: float) -> FloatArray:
    """Signed distance [h] from ``centre`` on a 24-hour circle, in [-12, 12)."""
    return np.asarray((hours - centre + 12.0) % 24.0 - 12.0, dtype=np.float64)


def _bump(hours: FloatArray, centre: float, width: float) -> FloatArray:
    """A Gaussian bump of height 1 at ``centre`` [h] with standard deviation ``width`` [h]."""
    return np.asarray(np.exp(-0.5 * (_wrapped(hours, centre) / width) ** 2), dtype=np.float64)


def _step(hours: FloatArray, opens: float, closes: float, ramp: float = 0.4) -> FloatArray:
    """About 1 between ``opens`` and ``closes`` [h], 0 outside, with soft edges ``ramp`` [h] wide."""
    return np.asarray(1.0 / (1.0 + np.exp(-(hours - opens) / ramp)) / (1.0 + np.exp((hours - closes) / ramp)))


# -- weather ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeatherDay:
    """One day's weather: mean temperature [degC] and clearness of the sky [0..1] (1: cloudless)."""

    temperature_c: float
    clearness: float

    @property
    def heating_degrees(self) -> float:
        """Heating degree days [K]: how far the day's mean is below 15.5 degC."""
        return max(0.0, _HEATING_BASE_C - self.temperature_c)

    @property
    def cooling_degrees(self) -> float:
        """Cooling degree days [K]: how far the day's mean is above 22 degC."""
        return max(0.0, self.temperature_c - _COOLING_BASE_C)


@dataclass(frozen=True)
class Weather:
    """The region's weather, shared by a whole fleet: a seasonal mean and random spells.

    ``mean_c`` and ``amplitude_c`` [degC] give the seasonal curve, coldest on day ``coldest_day``
    of the year; a day's anomaly is a moving average of daily noise of ``anomaly_c`` [degC], so cold
    and warm spells last a few days.
    """

    seed: int
    mean_c: float = 11.5
    amplitude_c: float = 8.5
    coldest_day: int = 20
    anomaly_c: float = 3.0

    def _noise(self, day_number: int) -> tuple[float, float]:
        rng = np.random.default_rng([self.seed, 0x57EA7, day_number])
        return float(rng.standard_normal()), float(rng.random())

    def day(self, day_number: int) -> WeatherDay:
        """The weather of a day counted from 1970-01-01 (day 0)."""
        return _weather_day(self, day_number)

    def _compute(self, day_number: int) -> WeatherDay:
        phase = 2 * math.pi * (day_of_year(day_number) - self.coldest_day) / _DAYS_PER_YEAR
        seasonal = self.mean_c - self.amplitude_c * math.cos(phase)
        weights = (0.5, 0.3, 0.2)  # today, yesterday, the day before: spells of a few days
        anomaly = sum(w * self._noise(day_number - k)[0] for k, w in enumerate(weights)) / math.sqrt(0.38)
        clear = 0.15 + 0.85 * self._noise(day_number)[1] ** 0.7
        return WeatherDay(seasonal + self.anomaly_c * anomaly, clear)


@lru_cache(maxsize=4096)  # every meter of a fleet asks for the same few days
def _weather_day(weather: Weather, day_number: int) -> WeatherDay:
    return weather._compute(day_number)  # noqa: SLF001 - the cache is the method's own


# -- electricity -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ElectricityProfile:
    """One electricity customer's habits [kW], drawn once per meter.

    Residential: ``base_kw`` always on, ``morning_kw``/``midday_kw``/``evening_kw`` bumps, and
    ``heating_kw_per_k`` of electric heating per heating degree [kW/K] (0 when heated otherwise).
    Business: ``base_kw`` always on, ``open_kw`` during ``opens``..``closes`` [local h] on working days
    (Saturday mornings when ``saturday``), heating and cooling per degree [kW/K] while open.
    ``solar_kwp`` is the peak power of a rooftop PV system [kWp] (0: none); ``max_power_kw`` the
    connection's limit [kW]; ``noise`` the relative spread of one interval [1].
    """

    segment: Segment
    base_kw: float
    max_power_kw: float
    morning_kw: float = 0.0
    midday_kw: float = 0.0
    evening_kw: float = 0.0
    heating_kw_per_k: float = 0.0
    cooling_kw_per_k: float = 0.0
    open_kw: float = 0.0
    opens: float = 8.0
    closes: float = 18.0
    saturday: bool = False
    solar_kwp: float = 0.0
    noise: float = 0.25

    @classmethod
    def draw(cls, segment: Segment, rng: np.random.Generator, *, solar: bool) -> ElectricityProfile:
        """A plausible customer of ``segment``; ``solar`` gives it a rooftop PV system."""
        if segment == "residential":
            electric_heating = rng.random() < 0.35
            return cls(
                "residential",
                base_kw=float(rng.uniform(0.12, 0.35)),
                max_power_kw=float(rng.choice([6.0, 9.0, 12.0])) if not electric_heating else 12.0,
                morning_kw=float(rng.uniform(0.3, 0.9)),
                midday_kw=float(rng.uniform(0.1, 0.5)),
                evening_kw=float(rng.uniform(0.7, 1.6)),
                heating_kw_per_k=float(rng.uniform(0.08, 0.18)) if electric_heating else 0.0,
                solar_kwp=float(rng.uniform(2.5, 6.0)) if solar else 0.0,
                noise=float(rng.uniform(0.2, 0.35)),
            )
        return cls(
            "business",
            base_kw=float(rng.uniform(0.8, 3.0)),
            max_power_kw=float(rng.choice([36.0, 60.0])),
            open_kw=float(rng.uniform(4.0, 14.0)),
            opens=float(rng.uniform(7.0, 9.5)),
            closes=float(rng.uniform(17.0, 19.5)),
            saturday=bool(rng.random() < 0.5),
            heating_kw_per_k=float(rng.uniform(0.1, 0.4)),
            cooling_kw_per_k=float(rng.uniform(0.3, 1.0)),
            solar_kwp=float(rng.uniform(9.0, 30.0)) if solar else 0.0,
            noise=float(rng.uniform(0.08, 0.15)),
        )


def _noise(rng: np.random.Generator, sigma: float, n: int) -> FloatArray:
    """Multiplicative noise of mean 1 (log-normal)."""
    return rng.lognormal(-0.5 * sigma * sigma, sigma, n)


def electricity_kw(
    profile: ElectricityProfile,
    hours: FloatArray,
    weekday: npt.NDArray[np.int64],
    weather: WeatherDay,
    interval_h: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Mean power drawn in each interval [kW] (before any solar): ``hours`` local [h], ``weekday`` 0 = Monday."""
    n = len(hours)
    weekend = weekday >= 5
    if profile.segment == "residential":
        morning = np.where(weekend, _bump(hours, 9.0, 1.3), _bump(hours, 7.3, 0.8))
        midday = _bump(hours, 13.0, 2.0) * np.where(weekend, 1.0, 0.45)
        winter = 0.5 + 0.5 * math.cos(2 * math.pi * (weather.temperature_c - 3.0) / 34.0)  # lighting: longer nights
        evening = _bump(hours, 19.6, 1.7) * (1.0 + 0.3 * winter)
        heating_shape = 0.85 + 0.35 * _bump(hours, 7.0, 1.2) + 0.4 * _bump(hours, 19.0, 2.5) - 0.3 * _bump(hours, 3, 2)
        kw = (
            profile.base_kw
            + profile.morning_kw * morning
            + profile.midday_kw * midday
            + profile.evening_kw * evening
            + profile.heating_kw_per_k * weather.heating_degrees * heating_shape
        ) * _noise(rng, profile.noise, n)
        # Appliances (oven, washing machine, kettle): a few bursts a day, when people are in.
        bursts = rng.poisson(2.5)
        if bursts:
            occupied = 0.2 + morning + midday + 2 * evening
            at = rng.choice(n, size=bursts, p=occupied / occupied.sum())
            energy_kwh = rng.uniform(0.3, 1.5, bursts)
            np.add.at(kw, at, energy_kwh / interval_h)
    else:
        working = (weekday < 5).astype(np.float64)
        saturday = (weekday == 5).astype(np.float64) * (0.6 if profile.saturday else 0.0)
        hours_open = working * _step(hours, profile.opens, profile.closes) + saturday * _step(hours, 9.0, 13.0)
        lunch = 1.0 - 0.15 * _bump(hours, 12.8, 0.6)
        climate = (
            profile.heating_kw_per_k * weather.heating_degrees + profile.cooling_kw_per_k * weather.cooling_degrees
        )
        kw = (profile.base_kw + (profile.open_kw * lunch + climate) * hours_open + 0.15 * climate) * _noise(
            rng, profile.noise, n
        )
    return np.asarray(np.clip(kw, 0.0, 0.95 * profile.max_power_kw), dtype=np.float64)


def solar_kw(
    kwp: float, hours: FloatArray, day_number: int, weather: WeatherDay, rng: np.random.Generator
) -> FloatArray:
    """Mean PV output in each interval [kW] of a ``kwp`` [kWp] system at about 47 degN (noon near 13:00 local)."""
    season = math.sin(2 * math.pi * (day_of_year(day_number) - 80) / _DAYS_PER_YEAR)  # -1 in December, 1 in June
    daylight_h = 12.0 + 4.0 * season
    peak = (0.55 + 0.25 * season) * weather.clearness
    angle = np.pi * (hours - 13.0) / daylight_h
    shape = np.where(np.abs(angle) < np.pi / 2, np.cos(np.clip(angle, -np.pi / 2, np.pi / 2)), 0.0) ** 1.5
    passing_clouds = _noise(rng, 0.05 + 0.3 * (1.0 - weather.clearness), len(hours))
    return np.asarray(np.clip(kwp * peak * shape * passing_clouds, 0.0, kwp), dtype=np.float64)


# -- gas and water ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GasProfile:
    """A gas-heated home: hot water and cooking [m^3/day], heating per heating degree [m^3/K]."""

    hot_water_m3_per_day: float
    heating_m3_per_k: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> GasProfile:
        return cls(float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.35, 0.9)))


def gas_litres(profile: GasProfile, hours: FloatArray, weather: WeatherDay, rng: np.random.Generator) -> FloatArray:
    """Gas used in each interval [L] (1 m^3 = 1000 L): hot water at breakfast and dinner, heating with setback."""
    hot_water = _bump(hours, 7.2, 1.0) + 1.2 * _bump(hours, 19.5, 1.5) + 0.1
    heating = 0.35 + 0.9 * _bump(hours, 7.0, 1.3) + 0.6 * _step(hours, 9.0, 17.0) + 0.9 * _step(hours, 17.0, 22.5)
    day_m3 = (
        profile.hot_water_m3_per_day * hot_water / hot_water.sum()
        + profile.heating_m3_per_k * weather.heating_degrees * heating / heating.sum()
    )
    return np.asarray(1000.0 * day_m3 * _noise(rng, 0.2, len(hours)), dtype=np.float64)


@dataclass(frozen=True)
class WaterProfile:
    """A household's water use [L/day], and a leak that never stops [L/h] (0: none)."""

    litres_per_day: float
    leak_l_per_h: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator, *, leak: bool) -> WaterProfile:
        people = int(rng.integers(1, 6))
        daily = people * float(rng.uniform(100.0, 160.0))
        return cls(daily, float(rng.uniform(1.5, 6.0)) if leak else 0.0)


def water_litres(
    profile: WaterProfile,
    hours: FloatArray,
    weekday: npt.NDArray[np.int64],
    interval_h: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Water used in each interval [L]: showers in the morning, cooking and washing in the evening,
    almost nothing at night, so that a leak's steady flow shows up there."""
    weekend = weekday >= 5
    shape = (
        np.where(weekend, _bump(hours, 9.0, 1.2), _bump(hours, 7.0, 0.8))
        + 0.3 * _bump(hours, 12.5, 1.5)
        + 0.8 * _bump(hours, 20.0, 1.6)
        + 0.001
    )
    expected = profile.litres_per_day * shape / shape.sum()
    used = rng.poisson(expected).astype(np.float64)  # water comes in draws: most night intervals are exactly 0
    return np.asarray(used + profile.leak_l_per_h * interval_h, dtype=np.float64)


def to_units(values: FloatArray) -> npt.NDArray[np.int64]:
    """Non-negative amounts in whole units (Wh, L), rounded so that their running total is never off by more
    than half a unit: small amounts are carried into the next interval rather than lost."""
    running = np.round(np.cumsum(np.clip(values, 0.0, None)))
    return np.diff(running, prepend=0.0).astype(np.int64)
