"""The accelerated clock, the rate limiter and the duration grammar (simulators/clock.py), on a hand-driven
wall clock: no sleeping, no timing asserts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulators.clock import RateLimiter, SimClock, parse_duration, parse_speed
from simulators.errors import SimulationSpecError


class Wall:
    """A wall clock that moves only when told [s]."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("15min", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(days=14)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations_read_as_people_write_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "3 days", "-1d", "0d", "1y"])
def test_a_bad_duration_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(SimulationSpecError, match="--duration"):
        parse_duration(text, what="--duration")


def test_speed_is_a_factor_or_max() -> None:
    assert parse_speed("max") is None and parse_speed("MAX") is None
    assert parse_speed("86400") == 86400.0 and parse_speed("1440x") == 1440.0
    for bad in ("fast", "0", "-2", "nan"):
        with pytest.raises(SimulationSpecError, match="speed"):
            parse_speed(bad)


def test_the_clock_runs_speed_times_faster_than_the_wall() -> None:
    wall = Wall()
    clock = SimClock(1_700_000_000, speed=86_400, wall=wall)
    clock.begin()
    assert clock.now() == 1_700_000_000
    assert clock.wait_s(1_700_000_000 + 86_400) == pytest.approx(1.0)  # a simulated day: one wall second
    wall.t += 0.5
    assert clock.now() == pytest.approx(1_700_000_000 + 43_200)
    assert clock.wait_s(1_700_000_000 + 86_400) == pytest.approx(0.5)
    wall.t += 10
    assert clock.wait_s(1_700_000_000 + 86_400) == 0.0  # the past is never waited for


def test_an_unpaced_clock_never_waits_and_follows_the_fleet() -> None:
    clock = SimClock(100, speed=None, wall=Wall())
    assert clock.wait_s(10**12) == 0.0
    clock.advance(500)
    clock.advance(300)
    assert clock.now() == 500


def test_the_rate_limiter_allows_the_rate_on_average() -> None:
    wall = Wall()
    limiter = RateLimiter(100.0, burst=5, wall=wall)
    allowed = 0
    for _ in range(10_000):  # 10 wall seconds in steps of 1 ms
        while limiter.delay_s() == 0:
            limiter.take()
            allowed += 1
        wall.t += 0.001
    assert 1000 <= allowed <= 1005  # 100/s for 10 s, plus the first burst
    assert RateLimiter(None).delay_s() == 0.0
    with pytest.raises(SimulationSpecError, match="rate"):
        RateLimiter(0.0)


def test_the_rate_limiter_says_how_long_to_wait() -> None:
    wall = Wall()
    limiter = RateLimiter(10.0, burst=1, wall=wall)
    limiter.take()
    assert limiter.delay_s() == pytest.approx(0.1)
    wall.t += 0.05
    assert limiter.delay_s() == pytest.approx(0.05)
