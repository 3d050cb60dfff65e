"""Simulated time: durations as people write them, an accelerated clock and a rate limiter.

A simulated fleet lives in its own time, epoch seconds [s] that start at the simulation's start.
:class:`SimClock` maps wall time onto it: simulated time advances ``speed`` times faster than the
wall clock (86,400: a day per second, a month in about 30 s), or, with ``speed`` None, as fast as
the publisher can go. :class:`RateLimiter` caps the messages per wall second whatever the clock says.

Both take the wall clock as a function (``time.monotonic`` by default) so that tests can drive
them by hand; neither sleeps: they say how long to wait, and the publisher waits.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import timedelta

from simulators.errors import SimulationSpecError

__all__ = ["RateLimiter", "SimClock", "parse_duration", "parse_speed"]

_UNITS_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` as a positive timedelta; the error names ``what``."""
    match = _DURATION.match(text)
    if match is None:
        raise SimulationSpecError(
            f"{what} {text!r} is not a duration: a number and a unit, s, m, h, d or w (e.g. 90s, 15m, 12h, 30d)"
        )
    seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    if seconds <= 0:
        raise SimulationSpecError(f"{what} {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def parse_speed(text: str) -> float | None:
    """``"max"`` (as fast as possible: None) or a positive factor such as ``"1440"`` or ``"1440x"``."""
    cleaned = text.strip().lower()
    if cleaned in ("max", "inf", "asap"):
        return None
    cleaned = cleaned.removesuffix("x")
    try:
        speed = float(cleaned)
    except ValueError:
        raise SimulationSpecError(
            f"speed {text!r} is neither 'max' nor a number (simulated seconds per wall second, e.g. 86400)"
        ) from None
    if not (math.isfinite(speed) and speed > 0):
        raise SimulationSpecError(f"speed {text!r} must be a positive number, or 'max'")
    return speed


class SimClock:
    """Simulated epoch seconds [s] that start at ``start_s`` and run ``speed`` times faster than the wall.

    With ``speed`` None the clock is always "late enough": :meth:`wait_s` is 0 for any time, and
    :meth:`now` reports the latest simulated time :meth:`advance` was told about.
    """

    def __init__(self, start_s: float, speed: float | None = None, wall: Callable[[], float] = time.monotonic) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise SimulationSpecError(f"clock speed {speed!r} must be a positive number, or None for 'max'")
        self.start_s = start_s
        self.speed = speed
        self._wall = wall
        self._wall0: float | None = None
        self._latest = start_s

    def begin(self) -> None:
        """Start the clock now (it also starts at the first :meth:`now` or :meth:`wait_s`)."""
        if self._wall0 is None:
            self._wall0 = self._wall()

    def now(self) -> float:
        """The simulated time [epoch s]."""
        if self.speed is None:
            return self._latest
        self.begin()
        assert self._wall0 is not None
        return self.start_s + (self._wall() - self._wall0) * self.speed

    def wait_s(self, sim_s: float) -> float:
        """Wall seconds [s] until the simulated time ``sim_s`` is reached (0 when it is already)."""
        if self.speed is None:
            return 0.0
        return max(0.0, (sim_s - self.now()) / self.speed)

    def advance(self, sim_s: float) -> None:
        """Tell an unpaced clock what simulated time the fleet has reached (no effect on a paced one)."""
        self._latest = max(self._latest, sim_s)


class RateLimiter:
    """At most ``rate`` events per wall second [1/s] on average, in bursts of at most ``burst``.

    A token bucket: :meth:`delay_s` says how long to wait before the next event; :meth:`take`
    records that it happened. ``rate`` None means no limit.
    """

    def __init__(self, rate: float | None, burst: float | None = None, wall: Callable[[], float] = time.monotonic):
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise SimulationSpecError(f"rate {rate!r} must be a positive number of messages per second, or None")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else (rate or 1.0) / 20)
        self._wall = wall
        self._tokens = self.burst
        self._at = wall()

    def _refill(self) -> None:
        now = self._wall()
        if self.rate is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def delay_s(self) -> float:
        """Wall seconds [s] to wait before one more event is allowed."""
        if self.rate is None:
            return 0.0
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        if self.rate is not None:
            self._refill()
            self._tokens -= 1.0
