"""The live panel: decoding for the panel, the aiomqtt feed on a real broker, the SSE endpoint."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiomqtt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from api.live import LiveItem
from devices.readings import Reading
from devices.trips import Trip
from gateway.live import MqttLiveFeed, decode_live
from gateway.mqtt import BrokerAddress
from meterbill.settings import load_settings
from store.contract import Store
from tests.web.conftest import client_as
from tests.web.world import World

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _native(device_id: str, *values: float) -> bytes:
    readings = [
        {"ts": f"2026-01-15T11:{15 * i:02d}:00Z", "register": "1-0:1.8.0", "value": v, "unit": "Wh", "kind": "interval"}
        for i, v in enumerate(values)
    ]
    return json.dumps({"device": device_id, "seq": 1, "readings": readings}).encode()


def test_decode_keeps_the_latest_reading_of_each_register_in_canonical_units() -> None:
    items = decode_live("meters/m-1/readings", _native("m-1", 100.0, 250.0), NOW)
    assert len(items) == 1
    reading = items[0]
    assert isinstance(reading, Reading)
    assert reading.device_id == "m-1" and reading.value == pytest.approx(0.25) and reading.unit == "kWh"
    assert reading.ts == datetime(2026, 1, 15, 11, 15, tzinfo=UTC)


def test_decode_trips_senml_and_refusals() -> None:
    trip = json.dumps(
        {
            "device": "v-1",
            "trip": "t-1",
            "start": "2026-01-15T08:00:00Z",
            "end": "2026-01-15T08:30:00Z",
            "distance": {"value": 12.5, "unit": "km"},
            "events": [],
        }
    ).encode()
    [item] = decode_live("vehicles/v-1/trips", trip, NOW)
    assert isinstance(item, Trip) and item.distance_km == 12.5
    senml = json.dumps([{"bn": "urn:dev:mbid:m-2:", "n": "1-0:1.8.0", "u": "kWh", "v": 1.5, "t": 1768474800}])
    [reading] = decode_live("meters/m-2/readings", senml.encode(), NOW)
    assert isinstance(reading, Reading) and reading.device_id == "m-2" and reading.value == 1.5
    assert decode_live("meters/m-1/readings", b"not json", NOW) == []
    assert decode_live("meters/m-1/readings", _native("someone-else", 1.0), NOW) == []  # device must match topic
    assert decode_live("devices/m-1/status", b"{}", NOW) == []
    assert decode_live("elsewhere", b"{}", NOW) == []


@pytest.mark.asyncio
async def test_feed_on_a_real_broker_hands_each_subscriber_its_devices_only(mqtt_broker: BrokerAddress) -> None:
    mine, theirs = f"m-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    feed = MqttLiveFeed(mqtt_broker)
    await feed.start()
    try:
        await feed.wait_connected(10)
        async with feed.subscribe({mine}) as subscription, aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            await pub.publish(f"meters/{theirs}/readings", _native(theirs, 5.0), qos=1)
            await pub.publish(f"meters/{mine}/readings", _native(mine, 1500.0), qos=1)
            item = await subscription.get(10)
            assert isinstance(item, Reading) and item.device_id == mine and item.value == pytest.approx(1.5)
            assert await subscription.get(0.3) is None  # the other device's reading never came
        # A panel opened later starts with the latest reading of its devices, from memory.
        async with feed.subscribe([mine]) as late:
            again = await late.get(1)
            assert isinstance(again, Reading) and again.device_id == mine
    finally:
        await feed.close()
    assert not feed.connected


class _FakeFeed:
    """A LiveFeed that hands out a fixed list of items and then closes."""

    def __init__(self, items: list[LiveItem]) -> None:
        self.items = items
        self.asked: list[frozenset[str] | None] = []

    @property
    def connected(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @asynccontextmanager
    async def subscribe(self, device_ids: Collection[str] | None) -> AsyncIterator[_FakeSubscription]:
        self.asked.append(None if device_ids is None else frozenset(device_ids))
        yield _FakeSubscription([i for i in self.items if device_ids is None or i.device_id in device_ids])


class _FakeSubscription:
    def __init__(self, items: list[LiveItem]) -> None:
        self.items = items

    async def get(self, timeout_s: float) -> LiveItem | None:
        await asyncio.sleep(0)
        if not self.items:
            raise EOFError("closed")
        return self.items.pop(0)


def _reading(device_id: str) -> Reading:
    return Reading(device_id, "1-0:1.8.0", NOW, 0.25, "kWh", "interval", "actual", NOW)


def test_sse_streams_the_customers_own_devices(seeded: tuple[Store, World]) -> None:
    store, _ = seeded
    feed = _FakeFeed([_reading("m-000"), _reading("m-001")])
    app: FastAPI = create_app(load_settings(env="development"), store, live=feed)
    ann = client_as(app, "ann@example.fr")
    assert 'src="/static/live.js"' in ann.get("/live").text
    with ann.stream("GET", "/live/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    assert feed.asked == [frozenset({"m-000"})]
    events = [block for block in body.split("\n\n") if block.startswith("event: reading")]
    assert len(events) == 1 and '"device_id":"m-000"' in events[0]
    assert 'event: status\ndata: {"connected":false,"closed":true}' in body


def test_sse_without_a_feed_or_a_session(web_app: FastAPI) -> None:
    assert TestClient(web_app).get("/live/events").status_code == 401
    ann = client_as(web_app, "ann@example.fr")
    response = ann.get("/live/events")
    assert response.status_code == 503 and "MB_MQTT_URL" in response.json()["detail"]
    assert "not configured" in ann.get("/live").text
