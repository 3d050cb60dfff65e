"""Day and month buckets grouped by the store (PostgreSQL: in SQL) agree with the slot-grid path.

The reference is the grouping that ``api.queries.consumption`` used before and still uses for hour
buckets: every hour of the window given its local bucket key and band on a grid, the rollup summed on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from api.queries import _group_hours, _local_keys, band_calendar, consumption
from devices.model import Contract, ContractDevice, Customer, Device
from devices.readings import Reading
from store.contract import GroupedConsumption, LocalGrouping, Store

TARIFF = Path(__file__).resolve().parents[2] / "rating" / "examples" / "fr_electricity_hphc.json"


def _world(store: Store) -> None:
    store.add_tariff_version("fr-elec-hphc", TARIFF.read_text(encoding="utf-8"))
    store.add_customers([Customer("cu-1", "Customer")])
    store.add_devices([Device.new("m-1", "electricity_meter", "SN1"), Device.new("m-2", "electricity_meter", "SN2")])
    since = datetime(2024, 1, 1, tzinfo=UTC)
    store.add_contract(
        Contract("ct-1", "cu-1", "fr-elec-hphc", date(2024, 1, 1), devices=(ContractDevice("m-1", since),))
    )
    # 2025-03-20 .. 2025-04-25 UTC: the spring DST change, Easter Monday (a French holiday), weekends.
    t0 = datetime(2025, 3, 20, tzinfo=UTC)
    rows = []
    for i in range(36 * 96):
        ts = t0 + timedelta(minutes=15 * i)
        for device in ("m-1", "m-2"):
            quality = "estimated" if i % 37 == 0 else "actual"
            rows.append(Reading(device, "1-0:1.8.0", ts, 0.01 * (i % 53) + 0.125, "kWh", "interval", quality, ts))
    store.insert_readings(rows)


def _reference(
    store: Store, device_ids: Sequence[str], bucket: str, start: datetime, end: datetime, tz: str
) -> list[GroupedConsumption]:
    from zoneinfo import ZoneInfo

    import numpy as np

    bands = band_calendar(store, device_ids, start, end)
    t0 = int(start.timestamp()) // 3600 * 3600
    starts = t0 + 3600 * np.arange(max(1, -(-(int(end.timestamp()) - t0) // 3600)), dtype=np.int64)
    keys = _local_keys(starts, bucket, ZoneInfo(tz))  # type: ignore[arg-type]
    index = np.full(starts.shape, -1, dtype=np.int64)
    if bands is not None and bands.names:
        _, index = bands.bands_of(next(iter(bands.names)), starts)
    return _group_hours(store, device_ids, start, end, t0, keys.tolist(), index.tolist())


def _same(got: list[GroupedConsumption], want: list[GroupedConsumption]) -> None:
    assert [(g.key, g.band, g.unit, g.count, g.estimated) for g in got] == [
        (w.key, w.band, w.unit, w.count, w.estimated) for w in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g.total == pytest.approx(w.total, rel=1e-12)


@pytest.mark.parametrize("bucket", ["day", "month"])
@pytest.mark.parametrize("tz", ["Europe/Paris", "UTC", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("device_ids", [("m-1",), ("m-2",), ("m-1", "m-2")])
def test_store_grouping_matches_the_slot_grid(store: Store, bucket: str, tz: str, device_ids: tuple[str, ...]) -> None:
    _world(store)
    start, end = datetime(2025, 3, 21, 22, 30, tzinfo=UTC), datetime(2025, 4, 24, 5, 15, tzinfo=UTC)
    bands = band_calendar(store, device_ids, start, end)
    local = "day" if bucket == "day" else "month"
    grouping = bands.grouping(tz, local) if bands is not None else LocalGrouping(tz=tz, bucket=local)
    got = store.local_consumption(grouping, device_ids=device_ids, start=start, end=end)
    _same(got, _reference(store, device_ids, bucket, start, end, tz))
    if device_ids == ("m-1",):
        assert {g.band for g in got} == {0, 1}  # hp and hc both present


def test_endpoint_buckets_match_the_slot_grid(store: Store) -> None:
    _world(store)
    start, end = datetime(2025, 3, 20, tzinfo=UTC), datetime(2025, 4, 25, tzinfo=UTC)
    result = consumption(store, device_ids=["m-1"], bucket="day", start=start, end=end, tz="Europe/Paris")
    assert result.tariff is not None
    want = _reference(store, ["m-1"], "day", start, end, "Europe/Paris")
    assert sum(i.count for i in result.items) == sum(w.count for w in want) == 36 * 96
    assert sum(i.estimated for i in result.items) == sum(w.estimated for w in want)
    by_day: dict[int, dict[int, float]] = {}
    for w in want:
        by_day.setdefault(w.key, {})[w.band] = by_day.get(w.key, {}).get(w.band, 0.0) + w.total
    for item in result.items:
        day = (item.start.date() - date(1970, 1, 1)).days
        assert item.total == pytest.approx(round(sum(by_day[day].values()), 6), abs=1e-9)
        assert item.bands == {
            name: pytest.approx(round(by_day[day][i], 6), abs=1e-9)
            for i, name in enumerate(("hp", "hc"))
            if by_day[day].get(i)
        }


def test_locate_refuses_a_band_table_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="12 x 3 x 24"):
        LocalGrouping(tz="UTC", bucket="day", band_unit="kWh", bands=[0] * 10)
