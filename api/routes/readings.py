"""Readings and bucketed consumption of devices (a customer: only the devices of their contracts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Query

from api import queries
from api.auth import Principal
from api.routes.deps import AnyDep, StoreDep, contract_for, device_for
from api.schemas import Consumption, Items, ReadingPublic
from store.contract import Store

__all__ = ["router"]

router = APIRouter(tags=["readings"])

_MAX_READINGS = 100_000
_MAX_SPAN = timedelta(days=800)


def _devices(store: Store, principal: Principal, device_ids: list[str], contract_id: str | None) -> list[str]:
    """The devices asked for (each checked), or those of ``contract_id``; 422 when neither is given."""
    ids = list(dict.fromkeys(device_ids))
    if contract_id is not None:
        ids += [d.device_id for d in contract_for(store, principal, contract_id).devices if d.device_id not in ids]
    if not ids:
        raise HTTPException(422, "name at least one device_id, or a contract_id")
    for device_id in ids:
        device_for(store, principal, device_id)
    return ids


def _window(start: datetime | None, end: datetime | None, default_days: int) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=default_days)
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "start and end need a UTC offset, e.g. 2026-01-01T00:00:00+01:00")
    if end <= start:
        raise HTTPException(422, f"end {end.isoformat()} must be after start {start.isoformat()}")
    if end - start > _MAX_SPAN:
        raise HTTPException(422, f"at most {_MAX_SPAN.days} days per request")
    return start, end


@router.get("/readings", response_model=Items[ReadingPublic])
def readings(
    principal: AnyDep,
    store: StoreDep,
    device_id: Annotated[list[str], Query(description="repeat for several devices")] = [],  # noqa: B006
    contract_id: str | None = None,
    start: Annotated[
        datetime | None, Query(description="inclusive, ISO 8601 with offset (default: end - 1 day)")
    ] = None,
    end: Annotated[datetime | None, Query(description="exclusive (default: now)")] = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_READINGS)] = 10_000,
) -> Items[ReadingPublic]:
    """Stored readings of the devices with ``start <= ts < end``, by device, register and time."""
    ids = _devices(store, principal, device_id, contract_id)
    lo, hi = _window(start, end, 1)
    rows = store.readings(device_ids=ids, start=lo, end=hi)[:limit]
    return Items(
        items=[
            ReadingPublic(
                id=f"{r.device_id}/{r.register}/{r.ts.isoformat()}",
                device_id=r.device_id,
                register_code=r.register,
                ts=r.ts,
                value=r.value,
                unit=r.unit,
                kind=r.kind,
                quality=r.quality,
            )
            for r in rows
        ]
    )


@router.get("/consumption", response_model=Consumption)
def consumption(
    principal: AnyDep,
    store: StoreDep,
    device_id: Annotated[list[str], Query(description="repeat for several devices")] = [],  # noqa: B006
    contract_id: str | None = None,
    bucket: Literal["15min", "hour", "day", "month"] = "day",
    start: Annotated[datetime | None, Query(description="inclusive (default: end - 31 days)")] = None,
    end: Annotated[datetime | None, Query(description="exclusive (default: now)")] = None,
    tz: Annotated[str, Query(description="IANA time zone of day and month buckets")] = "UTC",
) -> Consumption:
    """Interval consumption per bucket with its reading count, estimated count and TOU band split."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise HTTPException(422, f"tz {tz!r} is not an IANA time zone such as Europe/Paris") from None
    ids = _devices(store, principal, device_id, contract_id)
    lo, hi = _window(start, end, 31)
    return queries.consumption(store, device_ids=ids, bucket=bucket, start=lo, end=hi, tz=tz)
