"""Time-of-use schedules: which band is in force at a local month, day type and time of day.

A schedule has one of two forms, both in the tariff's local time:

- ``matrix``: URDB-style 12 x 24 tables of band indices (month x hour), one for weekdays, one for
  weekends and optionally one for public holidays (default: the weekend table);
- ``ranges``: explicit clock ranges (``22:00``-``06:00`` wraps midnight), each limited to some day
  types and months, with a ``default_band`` for the time no range covers. Later ranges win.

:func:`band_table` compiles either form into an integer array ``[month, day type, slot of day]``
so that kernels never touch a clock.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DAY_TYPES", "ClockRange", "DayType", "Schedule", "band_table", "schedule_granularity_s"]

DayType = Literal["weekday", "weekend", "holiday"]
# Index of each day type in the compiled tables (calendar.py produces the same indices).
DAY_TYPES: tuple[DayType, ...] = ("weekday", "weekend", "holiday")

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_SECONDS_PER_DAY = 86_400

Month = Annotated[int, Field(ge=1, le=12)]
Matrix = tuple[tuple[int, ...], ...]


def _clock_s(text: str) -> int:
    """Seconds since local midnight of ``HH:MM`` [s]."""
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class ClockRange(BaseModel):
    """Band ``band`` from ``start`` to ``end`` (local ``HH:MM``; ``end`` before ``start`` wraps midnight)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    band: str
    start: str
    end: str
    days: tuple[DayType, ...] = DAY_TYPES
    months: tuple[Month, ...] = tuple(range(1, 13))

    @field_validator("start", "end")
    @classmethod
    def _is_clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"must be a local time HH:MM between 00:00 and 24:00, got {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ClockRange:
        if _clock_s(self.start) == _clock_s(self.end) % _SECONDS_PER_DAY and self.start != "00:00":
            raise ValueError("@end|must differ from start (use 00:00-24:00 for a whole day)")
        return self


class Schedule(BaseModel):
    """Which band applies when; exactly one of ``weekday``/``weekend`` (matrix form) or ``ranges``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: Matrix | None = Field(default=None, description="12 x 24 band indices (month x local hour), Monday-Friday")
    weekend: Matrix | None = Field(default=None, description="12 x 24 band indices for Saturday and Sunday")
    holiday: Matrix | None = Field(
        default=None, description="12 x 24 band indices for public holidays (default: weekend)"
    )
    ranges: tuple[ClockRange, ...] | None = None
    default_band: str | None = Field(default=None, description="band for the time no range covers (ranges form)")

    @model_validator(mode="after")
    def _one_form(self) -> Schedule:
        matrix = self.weekday is not None or self.weekend is not None or self.holiday is not None
        if matrix and self.ranges is not None:
            raise ValueError("give either weekday/weekend matrices or ranges, not both")
        if matrix:
            if self.weekday is None or self.weekend is None:
                raise ValueError(f"@{'weekday' if self.weekday is None else 'weekend'}|required with the matrix form")
            for name in ("weekday", "weekend", "holiday"):
                table = getattr(self, name)
                if table is None:
                    continue
                if len(table) != 12 or any(len(row) != 24 for row in table):
                    raise ValueError(f"@{name}|must be 12 rows (months) of 24 band indices (hours)")
                if any(v < 0 for row in table for v in row):
                    raise ValueError(f"@{name}|band indices must be >= 0")
        elif self.ranges is None:
            raise ValueError("give weekday/weekend matrices or ranges")
        elif self.default_band is None:
            raise ValueError("@default_band|required with ranges (the band for time no range covers)")
        return self

    def band_names_used(self) -> list[tuple[str, str]]:
        """``(field path, band name)`` for every band the ranges form names (to check against the bands)."""
        named = [(f"ranges[{i}].band", r.band) for i, r in enumerate(self.ranges or ())]
        if self.default_band is not None:
            named.append(("default_band", self.default_band))
        return named

    def max_index(self) -> tuple[str, int] | None:
        """The largest band index of the matrix form and its field, or None for the ranges form."""
        found: tuple[str, int] | None = None
        for name in ("weekday", "weekend", "holiday"):
            table = getattr(self, name)
            if table is not None:
                top = max(max(row) for row in table)
                if found is None or top > found[1]:
                    found = (name, top)
        return found


def schedule_granularity_s(schedule: Schedule | None) -> int:
    """The coarsest slot [s] that divides every band change of ``schedule`` (3600 for hourly matrices)."""
    if schedule is None or schedule.ranges is None:
        return 3600
    step = 3600
    for r in schedule.ranges:
        step = math.gcd(step, _clock_s(r.start), _clock_s(r.end))
    return step


def band_table(schedule: Schedule | None, band_names: tuple[str, ...], slot_s: int) -> npt.NDArray[np.int16]:
    """Band index per ``[month 0-11, day type, slot of day]``; ``slot_s`` [s] must divide the schedule's changes."""
    if _SECONDS_PER_DAY % slot_s or (schedule is not None and 3600 % slot_s and schedule.ranges is None):
        raise ValueError(f"slot of {slot_s} s does not divide the day or the hour")
    slots = _SECONDS_PER_DAY // slot_s
    table = np.zeros((12, len(DAY_TYPES), slots), dtype=np.int16)
    if schedule is None:
        return table
    if schedule.ranges is None:
        assert schedule.weekday is not None and schedule.weekend is not None
        per_hour = 3600 // slot_s
        for day_type, matrix in enumerate((schedule.weekday, schedule.weekend, schedule.holiday or schedule.weekend)):
            table[:, day_type, :] = np.repeat(np.asarray(matrix, dtype=np.int16), per_hour, axis=1)
        return table
    index = {name: i for i, name in enumerate(band_names)}
    assert schedule.default_band is not None
    table[:] = index[schedule.default_band]
    for r in schedule.ranges:
        start, end = _clock_s(r.start) // slot_s, _clock_s(r.end) // slot_s
        covered = np.arange(start, end) if start < end else np.r_[np.arange(start, slots), np.arange(0, end)]
        for month in r.months:
            for day in r.days:
                table[month - 1, DAY_TYPES.index(day), covered] = index[r.band]
    return table
