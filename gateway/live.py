"""The live feed of the web pages: an aiomqtt subscription fanned out to server-sent-event subscribers.

The API's live panel (``api/live.py``) shows readings as devices publish them, without polling the
store. :class:`MqttLiveFeed` subscribes to ``meters/+/readings`` and ``vehicles/+/trips`` with a plain
(not shared) QoS 0 subscription and a clean session: every API process sees every message, and a
missed one only means the panel shows the next. Payloads are decoded with the gateway's codecs
(native JSON or SenML; trips); what does not decode is ignored here (the gateway dead-letters it).

Each subscriber has a bounded queue: a slow browser loses its oldest items, never the feed's
memory. The latest item of each device is kept (bounded too), so a panel opened between two
readings shows the last one at once. The connection is retried with a capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiomqtt

from devices.codecs import DecodedReadings, Rejection, decode_readings, decode_senml, decode_trip
from devices.readings import Reading
from devices.trips import Trip
from gateway.mqtt import BrokerAddress
from gateway.topics import Topic

__all__ = ["LIVE_SUBSCRIPTIONS", "MqttLiveFeed", "decode_live"]

log = logging.getLogger(__name__)

LIVE_SUBSCRIPTIONS: tuple[str, ...] = ("meters/+/readings", "vehicles/+/trips")
_CLOSED = object()  # queued to every subscriber when the feed closes

LiveItem = Reading | Trip


def decode_live(topic: str, payload: bytes, received_at: datetime) -> list[LiveItem]:
    """The items a message carries for the panel: the latest reading of each register, or the trip.

    Pure; an unknown topic or a payload the codecs refuse gives an empty list.
    """
    parsed = Topic.parse(topic)
    if parsed is None:
        return []
    if parsed.family == "trips":
        trip = decode_trip(payload, device_id=parsed.device_id, received_at=received_at)
        return [] if isinstance(trip, Rejection) else [trip]
    if parsed.family != "readings":
        return []
    decoded: DecodedReadings | Rejection = (
        decode_senml(payload, device_id=parsed.device_id, received_at=received_at, now=received_at)
        if payload.lstrip()[:1] == b"["
        else decode_readings(payload, device_id=parsed.device_id, received_at=received_at)
    )
    if isinstance(decoded, Rejection):
        return []
    latest: dict[str, Reading] = {}
    for reading in decoded.readings:
        kept = latest.get(reading.register)
        if kept is None or reading.ts >= kept.ts:
            latest[reading.register] = reading
    items: list[LiveItem] = [latest[register] for register in sorted(latest)]
    return items


@dataclass(eq=False)
class _Subscription:
    device_ids: frozenset[str] | None
    queue: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(maxsize=256))

    def wants(self, device_id: str) -> bool:
        return self.device_ids is None or device_id in self.device_ids

    def offer(self, item: object) -> None:
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # a slow reader loses its oldest item

    async def get(self, timeout_s: float) -> LiveItem | None:
        """The next item, None after ``timeout_s`` [s] without one, EOFError once the feed closed."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self.queue.put_nowait(_CLOSED)  # stays closed for a second call
            raise EOFError("the live feed is closed")
        assert isinstance(item, Reading | Trip)
        return item


class MqttLiveFeed:
    """Implements ``api.live.LiveFeed`` on an MQTT broker (aiomqtt)."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        topics: tuple[str, ...] = LIVE_SUBSCRIPTIONS,
        latest_max_devices: int = 50_000,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.address = address
        self.topics = topics
        self._latest: OrderedDict[str, dict[str, LiveItem]] = OrderedDict()
        self._latest_max = latest_max_devices
        self._reconnect_max_s = reconnect_max_s
        self._subscribers: set[_Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._is_connected = False
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._is_connected

    async def start(self) -> None:
        """Connect and subscribe in the background (idempotent); returns at once."""
        if self._closed:
            raise RuntimeError("this live feed was closed; build a new one")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="meterbill-live-feed")

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Return once subscribed to the broker (for tests and start-up checks); TimeoutError otherwise."""
        async with asyncio.timeout(timeout_s):
            while not self._is_connected:
                await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def subscribe(self, device_ids: Collection[str] | None) -> AsyncIterator[_Subscription]:
        """A subscription to ``device_ids`` (all when None) that starts with their latest items."""
        await self.start()
        subscription = _Subscription(None if device_ids is None else frozenset(device_ids))
        for device_id, items in list(self._latest.items()):
            if subscription.wants(device_id):
                for item in items.values():
                    subscription.offer(item)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def publish(self, item: LiveItem) -> None:
        """Remember ``item`` as its device's latest and hand it to the subscribers that want it."""
        key = item.register if isinstance(item, Reading) else "trip"
        per_device = self._latest.pop(item.device_id, {})
        per_device[key] = item
        self._latest[item.device_id] = per_device  # most recently heard last: evicted last
        while len(self._latest) > self._latest_max:
            self._latest.popitem(last=False)
        for subscription in self._subscribers:
            if subscription.wants(item.device_id):
                subscription.offer(item)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subscription in self._subscribers:
            subscription.offer(_CLOSED)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._receive()
                delay = 0.5
            except aiomqtt.MqttError as exc:
                delay = delay if not self._is_connected else 0.5
                log.warning(
                    "live feed: broker %s unreachable or lost (%s); retrying in %.1f s", self.address, exc, delay
                )
            finally:
                self._is_connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_s)

    async def _receive(self) -> None:
        address = self.address
        async with aiomqtt.Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            identifier=f"meterbill-live-{uuid.uuid4().hex[:12]}",
            clean_session=True,
            tls_params=aiomqtt.TLSParameters() if address.tls else None,
        ) as client:
            for topic in self.topics:
                await client.subscribe(topic, qos=0)
            self._is_connected = True
            log.info("live feed subscribed to %s on %s", ", ".join(self.topics), address)
            async for message in client.messages:  # aiomqtt hands received payloads over as bytes
                for item in decode_live(message.topic.value, bytes(message.payload), datetime.now(UTC)):
                    self.publish(item)
