"""The slot calendar: DST days of 23 and 25 hours, holidays, billing cycles, contract dates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from rating.calendar import billing_periods, build_calendar, utc_offsets
from rating.errors import RatingError
from rating.tariff import Contract, Holidays

PARIS = ZoneInfo("Europe/Paris")


def _s(year: int, month: int, day: int, hour: int = 0, *, zone: ZoneInfo = PARIS) -> int:
    return int(datetime(year, month, day, hour, tzinfo=zone).timestamp())


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)])
def test_dst_days_have_23_and_25_hourly_slots(day: date, hours: int) -> None:
    cal = build_calendar(PARIS, _s(2026, 3, 1), _s(2026, 11, 1) - 1)
    number = (day - date(1970, 1, 1)).days
    assert cal.slot_s == 3600
    assert int((cal.day == number).sum()) == hours


def test_local_hours_on_the_spring_forward_day_skip_two_oclock() -> None:
    cal = build_calendar(PARIS, _s(2026, 3, 29), _s(2026, 3, 30) - 1)
    day = (date(2026, 3, 29) - date(1970, 1, 1)).days
    hours = (cal.second_of_day[cal.day == day] // 3600).tolist()
    assert hours == [0, 1, *range(3, 24)]


def test_holidays_and_weekends() -> None:
    cal = build_calendar(PARIS, _s(2026, 5, 1), _s(2026, 5, 4) - 1, holiday_spec=Holidays(country="FR"))
    by_day = {int(d): int(t) for d, t in zip(cal.day, cal.day_type, strict=True)}
    first = (date(2026, 5, 1) - date(1970, 1, 1)).days
    assert [by_day[first + i] for i in range(4)] == [2, 1, 1, 0]  # May Day (Fri), Sat, Sun, Mon


def test_cycle_day_and_contract_clip_periods() -> None:
    periods = billing_periods(_s(2026, 1, 20), _s(2026, 3, 20), PARIS, cycle_day=15)
    assert [(p.start, p.end) for p in periods] == [
        (date(2026, 1, 15), date(2026, 2, 15)),
        (date(2026, 2, 15), date(2026, 3, 15)),
        (date(2026, 3, 15), date(2026, 4, 15)),
    ]
    clipped = billing_periods(_s(2026, 1, 20), _s(2026, 2, 20), PARIS, contract=Contract(start=date(2026, 1, 10)))
    assert (clipped[0].start, clipped[0].days, clipped[0].cycle_days) == (date(2026, 1, 10), 22, 31)


def test_leap_february_has_29_days() -> None:
    (period,) = billing_periods(_s(2024, 2, 10), _s(2024, 2, 11), PARIS)
    assert period.days == 29


def test_offsets_are_exact_to_the_second() -> None:
    switch = _s(2026, 3, 29, 3)  # 01:00 UTC
    got = utc_offsets(PARIS, np.asarray([switch - 1, switch], dtype=np.int64))
    assert got.tolist() == [3600, 7200]


def test_half_hour_zones_get_half_hour_slots_and_odd_zones_are_refused() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    assert build_calendar(kolkata, _s(2026, 1, 5, zone=kolkata), _s(2026, 1, 6, zone=kolkata)).slot_s == 1800
    with pytest.raises(RatingError, match="not a whole minute"):
        build_calendar(ZoneInfo("Africa/Monrovia"), -1_700_000_000, -1_699_000_000)
