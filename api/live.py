"""The live panel's feed: readings and trips as devices publish them, to the browser by server-sent events.

The API never polls the store for this. A :class:`LiveFeed` (``gateway.live.MqttLiveFeed`` in
production: an aiomqtt subscription on the broker) decodes what devices publish and hands each
subscriber the items of the devices it asked for. The composition root builds the feed and passes
it to ``create_app(..., live=feed)``; the API only knows this Protocol (it may not import gateway/).

``GET /live/events`` (session cookie) answers ``text/event-stream`` (WHATWG HTML §9.2): one
``reading`` or ``trip`` event per item, JSON data, a comment every :data:`KEEPALIVE_S` so proxies keep
the connection open. A customer receives their own devices only; staff receive every device.
Without a feed the endpoint answers 503 and the panel says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from api.auth import Principal, page_principal
from devices.readings import Reading
from devices.trips import Trip
from store.contract import Store

__all__ = ["KEEPALIVE_S", "LiveFeed", "LiveItem", "LiveSubscription", "customer_device_ids", "item_json", "router"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0  # [s] between comment lines when nothing arrives
RETRY_MS = 5000  # [ms] the browser waits before reconnecting (the SSE "retry" field)

LiveItem = Reading | Trip


class LiveSubscription(Protocol):
    """One subscriber's view of the feed."""

    async def get(self, timeout_s: float) -> LiveItem | None:
        """The next item, or None when nothing came within ``timeout_s`` [s]; EOFError once the feed closed."""
        ...


class LiveFeed(Protocol):
    """Decoded device messages as they arrive, fanned out to subscribers filtered by device id."""

    async def start(self) -> None:
        """Begin receiving (idempotent); the feed may also start on its first subscription."""
        ...

    def subscribe(self, device_ids: Collection[str] | None) -> AbstractAsyncContextManager[LiveSubscription]:
        """Items of ``device_ids`` (every device when None), the latest known item of each first."""
        ...

    @property
    def connected(self) -> bool:
        """True while the feed is connected to its source (the broker)."""
        ...

    async def close(self) -> None: ...


def item_json(item: LiveItem) -> tuple[str, dict[str, Any]]:
    """The SSE event name and JSON data of an item; values in canonical units ([kWh], [m^3], [km])."""
    if isinstance(item, Trip):
        return "trip", {
            "device_id": item.device_id,
            "trip_id": item.trip_id,
            "start": item.start.isoformat(),
            "end": item.end.isoformat(),
            "distance_km": item.distance_km,
            "events": len(item.events),
        }
    return "reading", {
        "device_id": item.device_id,
        "register": item.register,
        "ts": item.ts.isoformat(),
        "value": item.value,
        "unit": item.unit,
        "kind": item.kind,
        "quality": item.quality,
        "received_at": item.received_at.isoformat(),
    }


def customer_device_ids(store: Store, customer_id: str, now: datetime) -> list[str]:
    """The devices on the customer's contracts now (a removed meter's readings are not theirs any more)."""
    ids: list[str] = []
    for contract in store.contracts(customer_id=customer_id):
        for link in contract.devices:
            if link.valid_from <= now and (link.valid_to is None or now < link.valid_to) and link.device_id not in ids:
                ids.append(link.device_id)
    return ids


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(feed: LiveFeed, device_ids: Collection[str] | None) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    yield _sse("status", {"connected": feed.connected})
    async with feed.subscribe(device_ids) as subscription:
        while True:
            try:
                item = await subscription.get(KEEPALIVE_S)
            except EOFError:
                yield _sse("status", {"connected": False, "closed": True})
                return
            if item is None:
                # A comment line keeps proxies from closing an idle connection; Starlette notices a
                # client that went away and cancels this generator, which leaves the subscription.
                yield ": keep-alive\n\n"
                continue
            event, data = item_json(item)
            yield _sse(event, data)


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


router = APIRouter(include_in_schema=False)


@router.get("/live/events")
async def live_events(request: Request) -> Response:
    """Server-sent events of the caller's devices (a customer's own; every device for staff)."""
    principal: Principal | None = await run_in_threadpool(page_principal, request)
    if principal is None:
        return _problem(401, "Unauthorized", "log in first: the live feed follows the page session")
    feed: LiveFeed | None = getattr(request.app.state, "live", None)
    if feed is None:
        return _problem(
            503, "No live feed", "this server has no live feed: start it with MB_MQTT_URL naming the broker"
        )
    device_ids: list[str] | None = None
    if principal.role == "customer":
        store: Store = request.app.state.store
        now = datetime.now().astimezone()
        device_ids = await run_in_threadpool(customer_device_ids, store, principal.customer_id or "", now)
    await feed.start()
    return StreamingResponse(
        _stream(feed, device_ids),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
