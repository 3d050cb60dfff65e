"""Broker plumbing: URL parsing, the embedded amqtt broker, and the QoS 1 probe on a real broker."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from gateway.embedded_broker import EmbeddedBroker, probe_broker
from gateway.errors import BrokerError, BrokerUrlError
from gateway.mqtt import BrokerAddress
from gateway.runner import GatewayOptions, run_gateway
from store.sqlite import SQLiteStore
from tests.fix_broker import free_port


def test_parse_broker_urls() -> None:
    a = BrokerAddress.parse("mqtt://gw%40site:s%3Acret@broker.example:1884")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("broker.example", 1884, False, "gw@site", "s:cret")
    assert "s:cret" not in repr(a) and "s:cret" not in str(a)
    assert a.url == "mqtt://gw@site@broker.example:1884"
    assert BrokerAddress.parse("mqtts://broker").port == 8883
    assert BrokerAddress.parse("mqtt://127.0.0.1").port == 1883


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://broker:1883", "mqtt:// or mqtts://"),
        ("mqtt://:1883", "names no host"),
        ("mqtt://broker:99999", "malformed"),
        ("mqtt://broker:1883/topic", "path or query"),
    ],
)
def test_bad_broker_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(BrokerUrlError, match=message):
        BrokerAddress.parse(url)


def test_bad_url_errors_do_not_leak_the_password() -> None:
    with pytest.raises(BrokerUrlError) as info:
        BrokerAddress.parse("http://user:hunter2@broker")
    assert "hunter2" not in str(info.value)


def test_probe_round_trip_on_the_real_broker(mqtt_broker: BrokerAddress) -> None:
    assert asyncio.run(probe_broker(mqtt_broker)) >= 0.0


def test_embedded_broker_serves_two_on_free_ports() -> None:
    async def scenario() -> tuple[BrokerAddress, BrokerAddress]:
        async with EmbeddedBroker() as first, EmbeddedBroker() as second:
            assert await probe_broker(first) >= 0.0
            assert await probe_broker(second) >= 0.0
            return first, second

    first, second = asyncio.run(scenario())
    assert first.port != second.port and 0 not in (first.port, second.port)


def test_probe_of_a_dead_broker_is_a_broker_error() -> None:
    dead = BrokerAddress("127.0.0.1", free_port())
    with pytest.raises(BrokerError, match=str(dead.port)):
        asyncio.run(probe_broker(dead, timeout_s=3))


def test_gateway_subscribes_through_the_embedded_broker(tmp_path: Path) -> None:
    # amqtt speaks MQTT 3.1.1 only and drops a v5 CONNECT without a CONNACK: the gateway falls back.
    store = SQLiteStore(tmp_path / "gw.db")
    store.upgrade()

    async def scenario() -> bool:
        async with EmbeddedBroker() as address:
            stop, ready = threading.Event(), threading.Event()
            options = GatewayOptions(group="embedded", shared=False, metrics_port=None)
            thread = threading.Thread(target=run_gateway, args=(store, address, options, stop, ready), daemon=True)
            thread.start()
            try:
                return await asyncio.to_thread(ready.wait, 20)
            finally:
                stop.set()
                await asyncio.to_thread(thread.join, 20)

    try:
        assert asyncio.run(scenario())
    finally:
        store.close()
