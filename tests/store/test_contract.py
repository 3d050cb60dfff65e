"""The store contract, run against every backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.readings import Reading
from store.contract import InsertResult, Store
from store.errors import InvalidRowError, StoreError

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=UTC)


def interval_readings(n: int, *, devices: int = 10, start: datetime = T0, kwh: float = 0.25) -> list[Reading]:
    """``n`` 15-minute interval readings spread over ``devices`` meters, values varying per row."""
    return [
        Reading(
            f"m-{i % devices:04d}",
            "1-0:1.8.0",
            start + timedelta(minutes=15 * (i // devices)),
            kwh + (i % 7) * 0.001,
            "kWh",
            "interval",
            "actual",
            RECEIVED,
        )
        for i in range(n)
    ]


def test_ten_thousand_readings_twice_are_stored_once(store: Store) -> None:
    rows = interval_readings(10_000)
    assert store.insert_readings(rows) == InsertResult(10_000, 10_000, 0, 0)
    assert store.insert_readings(rows) == InsertResult(10_000, 0, 10_000, 0)
    stored = store.readings()
    assert len(stored) == 10_000
    assert sum(r.value for r in stored) == pytest.approx(sum(r.value for r in rows))
    assert store.conflicts() == []


def test_resent_with_another_value_is_a_conflict_and_keeps_the_first(store: Store) -> None:
    rows = interval_readings(10_000)
    store.insert_readings(rows)
    original = rows[1234]
    changed = original._replace(value=original.value + 1.5, quality="estimated")
    assert store.insert_readings([changed]) == InsertResult(1, 0, 0, 1)
    # A redelivery of the conflicting message is recorded once, however often it comes.
    assert store.insert_readings([changed]) == InsertResult(1, 0, 0, 1)

    kept = store.readings(device_ids=[original.device_id], start=original.ts, end=original.ts + timedelta(seconds=1))
    assert kept == [original]
    conflicts = store.conflicts()
    assert len(conflicts) == 1
    c = conflicts[0]
    assert (c.device_id, c.register, c.ts) == (original.device_id, original.register, original.ts)
    assert c.stored_value == pytest.approx(original.value)
    assert c.offered_value == pytest.approx(changed.value)
    assert c.offered_quality == "estimated"
    assert store.stats().conflicts == 1


def test_a_key_twice_in_one_batch_keeps_the_first(store: Store) -> None:
    first = interval_readings(1)[0]
    same = first._replace(received_at=RECEIVED + timedelta(seconds=5))
    other = first._replace(value=9.0)
    result = store.insert_readings([first, same, other])
    assert result == InsertResult(3, 1, 1, 1)
    assert [r.value for r in store.readings()] == [pytest.approx(first.value)]


def test_same_value_after_unit_conversion_is_a_duplicate_not_a_conflict(store: Store) -> None:
    first = interval_readings(1, kwh=1234.567)[0]
    store.insert_readings([first])
    converted = first._replace(value=1234567 / 1000 * (1 + 1e-13))
    assert store.insert_readings([converted]) == InsertResult(1, 0, 1, 0)


def test_batches_alternating_new_and_redelivered_are_counted_right(store: Store) -> None:
    # Exercises the PostgreSQL store's switch between the direct COPY and the staged path.
    a, b, c = (
        interval_readings(300, start=T0),
        interval_readings(300, start=T0 + timedelta(days=10)),
        interval_readings(300, start=T0 + timedelta(days=20)),
    )
    assert store.insert_readings(a).inserted == 300
    assert store.insert_readings(a[:100] + b).inserted == 300
    assert store.insert_readings(c) == InsertResult(300, 300, 0, 0)
    assert store.insert_readings(c + a) == InsertResult(600, 0, 600, 0)
    assert len(store.readings()) == 900


def test_a_bad_row_rejects_the_whole_batch(store: Store) -> None:
    rows = interval_readings(50)
    rows[25] = rows[25]._replace(unit="Wh")  # not canonical: the schema refuses it
    with pytest.raises(StoreError):
        store.insert_readings(rows)
    assert store.readings() == []
    assert store.insert_readings(interval_readings(50)).inserted == 50


def test_naive_timestamps_are_refused(store: Store) -> None:
    row = interval_readings(1)[0]._replace(ts=datetime(2026, 3, 1))
    with pytest.raises(InvalidRowError, match="timezone-aware"):
        store.insert_readings([row])
    assert store.readings() == []


def test_empty_batch_does_nothing(store: Store) -> None:
    assert store.insert_readings([]) == InsertResult(0, 0, 0, 0)


def test_readings_round_trip_exactly_and_filter(store: Store) -> None:
    ts = datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
    rows = [
        Reading("m-1", "1-0:1.8.0", ts, 1234.5678, "kWh", "cumulative", "estimated", RECEIVED),
        Reading("m-1", "1-0:2.8.0", ts, 0.125, "kWh", "interval", "actual", RECEIVED),
        Reading("g-1", "7-0:3.0.0", ts + timedelta(hours=1), 2.5, "m^3", "interval", "actual", RECEIVED),
        Reading("v-1", "odometer", ts - timedelta(days=1), 12345.6, "km", "cumulative", "actual", RECEIVED),
    ]
    store.insert_readings(rows)
    assert store.readings() == sorted(rows, key=lambda r: (r.device_id, r.register, r.ts))
    assert store.readings(device_ids=["m-1"]) == rows[:2]
    assert store.readings(device_ids=[]) == []
    assert store.readings(start=ts, end=ts + timedelta(hours=1)) == rows[:2]
    assert store.readings(start=ts + timedelta(hours=1)) == [rows[2]]
    assert all(r.ts.utcoffset() == timedelta(0) for r in store.readings())


def test_rollups_sum_interval_readings_per_utc_hour_and_day(store: Store) -> None:
    rows = interval_readings(2 * 96 * 3, devices=2, kwh=0.25)  # 2 meters, 3 days of 15-minute values
    rows.append(Reading("m-0000", "1-0:1.8.0x", T0, 999.0, "kWh", "cumulative", "actual", RECEIVED))
    store.insert_readings(rows)

    days = store.rollup("day", start=T0, end=T0 + timedelta(days=3))
    assert [(d.device_id, d.bucket_start) for d in days] == [
        (f"m-000{m}", T0 + timedelta(days=k)) for m in range(2) for k in range(3)
    ]
    assert all(d.count == 96 and d.unit == "kWh" for d in days)
    for day in days:
        expected = sum(
            r.value
            for r in rows
            if r.device_id == day.device_id
            and r.kind == "interval"
            and day.bucket_start <= r.ts < day.bucket_start + timedelta(days=1)
        )
        assert day.total == pytest.approx(expected)

    hours = store.rollup("hour", start=T0 + timedelta(hours=5), end=T0 + timedelta(hours=7), device_ids=["m-0001"])
    assert [h.bucket_start for h in hours] == [T0 + timedelta(hours=5), T0 + timedelta(hours=6)]
    assert all(h.count == 4 for h in hours)
    # A bucket that starts inside the window is whole even when the window ends inside it.
    partial = store.rollup("day", start=T0 + timedelta(days=2), end=T0 + timedelta(days=2, hours=1))
    assert [(p.count, p.bucket_start) for p in partial] == [(96, T0 + timedelta(days=2))] * 2


def test_dead_letters_keep_the_raw_bytes_and_reason(store: Store) -> None:
    payload = b"\xff\xfe{not json"
    first = store.add_dead_letter(
        topic="meters/m-1/readings",
        payload=payload,
        reason="malformed_json",
        detail="byte 0: invalid UTF-8",
        device_id="m-1",
        received_at=RECEIVED,
    )
    second = store.add_dead_letter(
        topic="meters/x/readings", payload=b"{}", reason="unknown_device", detail="device x is not provisioned"
    )
    letters = store.dead_letters()
    assert [d.id for d in letters] == [second, first]
    assert letters[1].payload == payload
    assert (letters[1].reason, letters[1].device_id, letters[1].received_at) == ("malformed_json", "m-1", RECEIVED)
    assert letters[0].device_id is None
    assert store.dead_letters(limit=1) == letters[:1]
    assert store.stats().dead_letters == 2


def test_stats_and_ping(store: Store) -> None:
    store.ping()
    store.insert_readings(interval_readings(123))
    stats = store.stats()
    assert (stats.readings, stats.readings_exact, stats.conflicts) == (123, True, 0)
    assert stats.schema_version == store.schema_version() >= 2
