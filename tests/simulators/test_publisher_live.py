"""The publisher (simulators/publisher.py) on the real broker: a faulted fleet's every message arrives at
QoS 1 and the summary adds up; a clean stop; a broker that is not there.

Topics are fixed by the product (``meters/{id}/readings`` ...), so each test uses device ids of its own
(a unique id prefix) and a subscriber on exactly those devices' topics.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt import BrokerAddress
from simulators.errors import PublishError, SimulationSpecError
from simulators.faults import FaultInjector, FaultLedger, FaultSpec
from simulators.meters import MeterFleet, MeterFleetConfig
from simulators.payloads import Outgoing
from simulators.publisher import Publisher, PublishProgress
from simulators.vehicles import VehicleFleet, VehicleFleetConfig
from tests.fix_broker import free_port

pytestmark = pytest.mark.mqtt

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=4)


class Listener:
    """A QoS 1 subscriber on the given topics, collecting (topic, payload)."""

    def __init__(self, address: BrokerAddress, topics: Iterable[str]) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"mbtest-sub-{uuid.uuid4().hex[:10]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        topics = sorted(set(topics))
        self.client.on_connect = lambda c, *args: c.subscribe([(t, 1) for t in topics])
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), f"no SUBACK from {address}"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.02)
        time.sleep(0.2)  # anything beyond the expected count would show up now
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _recorded(messages: Iterable[Outgoing], into: list[Outgoing]) -> Iterator[Outgoing]:
    for message in messages:
        into.append(message)
        yield message


def _world(prefix: str) -> tuple[Iterator[Outgoing], list[str], list[str]]:
    meters = MeterFleet(
        MeterFleetConfig(
            count=12,
            start=START,
            duration=timedelta(days=1),
            interval=timedelta(hours=1),
            upload="interval",
            id_prefix=prefix,
            seed=1,
        )
    )
    vehicles = VehicleFleet(
        VehicleFleetConfig(
            count=5, start=START, duration=timedelta(days=3), id_prefix=prefix, seed=1, live_events_fraction=0.4
        )
    )
    topics = [f"meters/{i}/readings" for i in meters.device_ids]
    topics += [f"vehicles/{i}/{family}" for i in vehicles.device_ids for family in ("trips", "events")]
    stream = heapq.merge(meters.messages(), vehicles.messages(), key=lambda m: m.send_at)
    return stream, [*meters.device_ids, *vehicles.device_ids], topics


def test_every_message_of_a_faulted_fleet_arrives_and_the_summary_adds_up(mqtt_broker: BrokerAddress) -> None:
    stream, device_ids, topics = _world(f"t{uuid.uuid4().hex[:8]}-")
    listener = Listener(mqtt_broker, topics)
    ledger = FaultLedger()
    spec = FaultSpec.parse("dup=0.05,reorder=0.05,gap=0.03,skew=0.03,garbage=0.03,spoof=0.03")
    sent: list[Outgoing] = []
    progress: list[PublishProgress] = []
    publisher = Publisher(mqtt_broker, rate=5000, max_inflight=16, on_progress=progress.append, progress_every_s=0)
    try:
        summary = publisher.run(
            _recorded(FaultInjector(spec, seed=1, device_ids=device_ids, ledger=ledger).apply(stream), sent),
            ledger=ledger,
        )
        received = listener.wait_for(len(sent))
    finally:
        listener.close()

    assert 250 <= len(sent) <= 1000
    assert Counter(received) == Counter((m.topic, m.payload) for m in sent)  # every one, once per send
    assert summary.published == summary.acked == len(sent)
    assert summary.unacked == 0 and summary.refused == 0 and summary.ok and not summary.stopped
    assert summary.no_subscribers == 0  # our listener subscribes to every topic
    assert summary.records == sum(m.records for m in sent)
    assert summary.by_family == dict(Counter(m.family for m in sent))
    assert summary.faults == ledger.counts() and sum(summary.faults.values()) == len(ledger.entries) > 10
    assert summary.first_send_at == sent[0].send_at and summary.last_send_at == sent[-1].send_at
    assert progress[-1].published == progress[-1].acked == len(sent)
    assert all(a.published <= b.published for a, b in itertools.pairwise(progress))


def test_stop_ends_a_paced_run_cleanly(mqtt_broker: BrokerAddress) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    fleet = MeterFleet(
        MeterFleetConfig(
            count=3, kind="electricity", start=START, duration=timedelta(days=2), upload="interval", id_prefix=prefix
        )
    )
    total = sum(1 for _ in fleet.messages())
    listener = Listener(mqtt_broker, [f"meters/{i}/readings" for i in fleet.device_ids])

    def on_progress(state: PublishProgress) -> None:
        if state.published >= 20:
            publisher.stop()

    # an hour of simulated time per wall second: the whole run would take 48 s
    publisher = Publisher(mqtt_broker, speed=3600, on_progress=on_progress, progress_every_s=0)
    try:
        summary = publisher.run(fleet.messages())
        received = listener.wait_for(summary.published)
    finally:
        listener.close()
    assert summary.stopped and 20 <= summary.published < total
    assert summary.acked == summary.published and summary.unacked == 0
    assert len(received) == summary.published
    assert summary.wall_s < 20


def test_a_broker_that_is_not_there_is_reported_with_its_address() -> None:
    port = free_port()
    publisher = Publisher(BrokerAddress("127.0.0.1", port), connect_timeout_s=5)
    with pytest.raises(PublishError, match=f"127.0.0.1:{port}") as caught:
        publisher.run(iter(()))
    assert caught.value.url == f"mqtt://127.0.0.1:{port}"


def test_a_window_paho_cannot_keep_is_refused() -> None:
    with pytest.raises(SimulationSpecError, match="65,535"):
        Publisher(BrokerAddress("127.0.0.1", 1883), max_inflight=70_000)


def test_on_sent_sees_every_message_in_order_with_its_publish_time(mqtt_broker: BrokerAddress) -> None:
    stream, _, topics = _world(f"t{uuid.uuid4().hex[:8]}-")
    listener = Listener(mqtt_broker, topics)
    seen: list[tuple[Outgoing, float]] = []
    sent: list[Outgoing] = []
    before = time.time()
    try:
        Publisher(mqtt_broker, rate=5000, on_sent=lambda m, t: seen.append((m, t))).run(_recorded(stream, sent))
        listener.wait_for(len(sent))
    finally:
        listener.close()
    assert [m for m, _ in seen] == sent
    times = [t for _, t in seen]
    assert before <= times[0] and times == sorted(times) and times[-1] <= time.time()
