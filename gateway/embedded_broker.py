"""The embedded broker: amqtt running in-process on a free loopback port.

``meterbill demo`` (and tests without Mosquitto) use it when ``MB_MQTT_URL`` is unset, so a
newcomer needs no broker installed. It is a development convenience, not a production broker:
it keeps sessions in memory only, which is why production settings require ``MB_MQTT_URL``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from types import TracebackType
from typing import Any

import aiomqtt
from amqtt.broker import Broker

from gateway.errors import BrokerError
from gateway.mqtt import BrokerAddress

__all__ = ["EmbeddedBroker", "probe_broker"]

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """``async with EmbeddedBroker() as address:`` a broker on 127.0.0.1 on a port the OS chose."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._broker: Broker | None = None
        self.address: BrokerAddress | None = None

    async def start(self) -> BrokerAddress:
        config: dict[str, Any] = {
            # Port 0: the OS picks a free port, so two demos or test runs never collide.
            "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:0"}},
            # Plugins named in the config replace amqtt's entry-point discovery, which would load
            # the $SYS plugin and its deprecated psutil dependency.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps OS errors in its own; either way we cannot go on
            raise BrokerError(f"the embedded MQTT broker failed to start on {self._host}: {exc}") from exc
        self._broker = broker
        self.address = BrokerAddress(self._host, _bound_port(broker))
        log.info("embedded MQTT broker listening on %s", self.address)
        return self.address

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()

    async def __aenter__(self) -> BrokerAddress:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _bound_port(broker: Broker) -> int:
    # amqtt has no public accessor for the port a listener bound; read it from the asyncio server.
    server = broker._servers["default"].instance  # noqa: SLF001
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise BrokerError("the embedded MQTT broker started but reports no listening socket")
    return int(sockets[0].getsockname()[1])


async def probe_broker(address: BrokerAddress, *, timeout_s: float = 10.0) -> float:
    """Publish one QoS 1 message to a private topic and wait for it; return the round trip [s]."""
    topic = f"meterbill/probe/{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            async with aiomqtt.Client(
                address.host,
                address.port,
                username=address.username,
                password=address.password,
                identifier=f"meterbill-probe-{uuid.uuid4().hex[:8]}",
                tls_params=aiomqtt.TLSParameters() if address.tls else None,
            ) as client:
                await client.subscribe(topic, qos=1)
                started = loop.time()
                await client.publish(topic, b"ping", qos=1)
                async for message in client.messages:
                    if message.topic.matches(topic):
                        return loop.time() - started
    except TimeoutError as exc:
        raise BrokerError(
            f"no answer from the MQTT broker at {address} within {timeout_s:g} s", url=address.url
        ) from exc
    except aiomqtt.MqttError as exc:
        raise BrokerError(f"the MQTT broker at {address} failed: {exc}", url=address.url) from exc
    raise BrokerError(f"the MQTT broker at {address} closed the probe before delivering", url=address.url)
