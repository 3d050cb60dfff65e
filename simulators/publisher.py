"""The fleet's radio: a rate-limited, paced MQTT publisher (paho-mqtt, QoS 1) that loses nothing.

:meth:`Publisher.run` takes messages in sending order (from a fleet, through the fault injector) and
publishes each at QoS 1 once the simulated clock has reached its sending time (``speed`` times faster
than the wall clock, or at once with ``speed`` None) and the rate limit allows it.

At most ``max_inflight`` messages are ever waiting for their PUBACK: paho-mqtt silently loses QoS 1
messages once more than 65,535 are unacknowledged (REFERENCES.md: its message ids wrap), so the
publisher blocks while the window is full, and refuses a window anywhere near that size. A message
published while the connection is down stays in paho's queue and goes out after it reconnects; the
window counts it all the same.

:meth:`Publisher.stop` (from a signal handler or another thread) ends the run cleanly: no new
message is taken, those in flight get their PUBACKs (for up to ``ack_timeout_s``), the client
disconnects, and :meth:`run` returns its :class:`PublishSummary`. Progress is reported to a callback,
a few times a second, from the thread that called :meth:`run`.

The broker is anything with ``host``, ``port``, ``tls``, ``username`` and ``password`` (the
composition root passes a ``gateway.mqtt.BrokerAddress``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from simulators.clock import RateLimiter, SimClock
from simulators.errors import PublishError, SimulationSpecError, SimulatorError
from simulators.faults import FaultLedger, FaultName
from simulators.payloads import Outgoing

__all__ = ["MAX_INFLIGHT_LIMIT", "BrokerEndpoint", "PublishProgress", "PublishSummary", "Publisher"]

log = logging.getLogger(__name__)

# Far below paho's 65,535 message ids, and more than enough to fill a loopback link.
MAX_INFLIGHT_LIMIT = 20_000
_NO_MATCHING_SUBSCRIBERS = 16  # MQTT v5 PUBACK reason: accepted, but nobody subscribes to the topic
_REFUSED = 128  # MQTT v5 PUBACK reasons from here up: refused (135: not authorised)
_SLICE_S = 0.1  # waits are cut in slices this long so that stop() is noticed quickly


class BrokerEndpoint(Protocol):
    """Where the broker listens and how to log in (``gateway.mqtt.BrokerAddress`` is one)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def tls(self) -> bool: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...


@dataclass(frozen=True)
class PublishProgress:
    """Where a run stands: messages published and acknowledged, records carried, simulated time reached
    [epoch s] (None before the first message), wall time since the start [s]."""

    published: int
    acked: int
    records: int
    sim_time_s: float | None
    wall_s: float


@dataclass(frozen=True)
class PublishSummary:
    """What a run did.

    ``published`` PUBLISH packets handed to the client (fault copies included), ``acked`` PUBACKs
    received, ``unacked`` the difference when the run ended; ``refused`` PUBACKs with a failure
    reason (MQTT v5, e.g. 135 not authorised), ``no_subscribers`` PUBACKs saying nobody subscribes
    (MQTT v5, reason 16: is a gateway running?); ``records`` readings, trips and events carried by
    the messages published; ``by_family`` messages per topic family; ``faults`` the faults injected
    (after a stop, this may count a fault of the one message taken but not sent);
    ``first_send_at``/``last_send_at`` the simulated sending times covered [epoch s]; ``wall_s`` [s].
    """

    published: int
    acked: int
    unacked: int
    refused: int
    no_subscribers: int
    records: int
    by_family: dict[str, int]
    faults: dict[FaultName, int]
    first_send_at: int | None
    last_send_at: int | None
    wall_s: float
    stopped: bool
    protocol: str
    refusals: dict[int, int] = field(default_factory=dict)  # PUBACK failure reason code -> messages

    @property
    def rate_per_s(self) -> float:
        """Messages published per wall second [1/s]."""
        return self.published / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Everything published was acknowledged and accepted by the broker."""
        return self.unacked == 0 and self.refused == 0


class Publisher:
    """Publishes messages at QoS 1, paced by a simulated clock and a rate limit, with a capped window.

    ``rate`` [messages/s] None: no limit; ``speed`` [simulated s per wall s] None: as fast as
    possible; ``max_inflight``: messages awaiting their PUBACK at most; ``ack_timeout_s``: how long
    without any PUBACK before the broker is given up on [s]. ``on_sent`` is called with each message
    and the wall-clock time just before it was handed to the client [epoch s] (a bench measures
    publish-to-commit latency with it); keep it cheap, it runs on the publishing thread.
    """

    def __init__(
        self,
        broker: BrokerEndpoint,
        *,
        rate: float | None = None,
        speed: float | None = None,
        max_inflight: int = 1000,
        client_id: str | None = None,
        on_progress: Callable[[PublishProgress], None] | None = None,
        on_sent: Callable[[Outgoing, float], None] | None = None,
        progress_every_s: float = 0.25,
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 30.0,
        keepalive_s: int = 30,
    ) -> None:
        if not 1 <= max_inflight <= MAX_INFLIGHT_LIMIT:
            raise SimulationSpecError(
                f"max_inflight {max_inflight} must lie in 1..{MAX_INFLIGHT_LIMIT}: paho-mqtt loses QoS 1 messages"
                " once 65,535 are unacknowledged"
            )
        self.broker = broker
        self.url = f"{'mqtts' if broker.tls else 'mqtt'}://{broker.host}:{broker.port}"
        self.client_id = client_id or f"meterbill-sim-{uuid.uuid4().hex[:12]}"
        self.max_inflight = max_inflight
        self._limiter = RateLimiter(rate)
        self._speed = speed
        self._on_progress = on_progress
        self._on_sent = on_sent
        self._progress_every_s = progress_every_s
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._keepalive_s = keepalive_s
        self._stop = threading.Event()
        self._acks = threading.Condition()
        self._published = 0
        self._acked = 0
        self._refused = 0
        self._no_subscribers = 0
        self._refusals: Counter[int] = Counter()
        self._protocol = "5"
        self._closing = False
        self._ran = False

    def stop(self) -> None:
        """End the run cleanly: take no new message, wait for the PUBACKs of those in flight. Thread-safe."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the run --------------------------------------------------------------------------------------
    def run(self, messages: Iterable[Outgoing], *, ledger: FaultLedger | None = None) -> PublishSummary:
        """Publish ``messages`` (in sending order) until they run out or :meth:`stop` is called.

        A publisher runs once; its counters are the run's. ``ledger`` (the injector's) gives the
        summary its fault counts.
        """
        if self._ran:
            raise SimulatorError("a Publisher runs once: make a new one for another run")
        self._ran = True
        began = time.monotonic()
        client = self._connect()
        records = 0
        families: Counter[str] = Counter()
        first: int | None = None
        last: int | None = None
        clock: SimClock | None = None
        next_progress = 0.0
        try:
            for message in messages:
                if self._stop.is_set():
                    break
                if clock is None:
                    clock = SimClock(message.send_at, self._speed)
                    clock.begin()
                if not self._wait(partial(clock.wait_s, message.send_at)):
                    break
                if not self._wait(self._limiter.delay_s) or not self._wait_window():
                    break
                sent_at = time.time()
                self._publish(client, message)
                if self._on_sent is not None:
                    self._on_sent(message, sent_at)
                self._limiter.take()
                clock.advance(message.send_at)
                records += message.records
                families[message.family] += 1
                first = message.send_at if first is None else first
                last = message.send_at
                now = time.monotonic()
                if self._on_progress is not None and now >= next_progress:
                    next_progress = now + self._progress_every_s
                    self._on_progress(self._progress(records, last, now - began))
            self._drain()
        finally:
            self._closing = True
            client.disconnect()
            client.loop_stop()
        wall = time.monotonic() - began
        if self._on_progress is not None:
            self._on_progress(self._progress(records, last, wall))
        with self._acks:
            return PublishSummary(
                published=self._published,
                acked=self._acked,
                unacked=self._published - self._acked,
                refused=self._refused,
                no_subscribers=self._no_subscribers,
                records=records,
                by_family=dict(families),
                faults=ledger.counts() if ledger is not None else {},
                first_send_at=first,
                last_send_at=last,
                wall_s=wall,
                stopped=self._stop.is_set(),
                protocol=self._protocol,
                refusals=dict(self._refusals),
            )

    def _progress(self, records: int, sim_time: int | None, wall: float) -> PublishProgress:
        with self._acks:
            return PublishProgress(self._published, self._acked, records, sim_time, wall)

    def _wait(self, delay_s: Callable[[], float]) -> bool:
        """Wait until ``delay_s()`` says 0; False when stop() came first."""
        while (delay := delay_s()) > 0:
            if self._stop.wait(min(delay, _SLICE_S)):
                return False
        return not self._stop.is_set()

    def _wait_window(self) -> bool:
        """Wait for room in the in-flight window; False when stop() came first."""
        deadline = time.monotonic() + self._ack_timeout_s
        with self._acks:
            while self._published - self._acked >= self.max_inflight:
                if self._stop.is_set():
                    return False
                acked = self._acked
                self._acks.wait(_SLICE_S)
                if self._acked != acked:
                    deadline = time.monotonic() + self._ack_timeout_s
                elif time.monotonic() > deadline:
                    raise PublishError(
                        f"no PUBACK from {self.url} for {self._ack_timeout_s:g} s with {self.max_inflight} messages"
                        " in flight: the broker stopped acknowledging",
                        url=self.url,
                    )
        return True

    def _publish(self, client: mqtt.Client, message: Outgoing) -> None:
        with self._acks:
            self._published += 1
        try:
            info = client.publish(message.topic, message.payload, qos=1)
        except ValueError as exc:  # an invalid topic or a payload over 256 MB: a bug in a model
            with self._acks:
                self._published -= 1
            raise PublishError(f"cannot publish on {message.topic}: {exc}", url=self.url) from exc
        # NO_CONN: paho keeps the message and sends it after reconnecting; the window still counts it.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._acks:
                self._published -= 1
            raise PublishError(f"publish on {message.topic} failed: {mqtt.error_string(info.rc)}", url=self.url)

    def _drain(self) -> None:
        """Wait for the PUBACKs of everything published, giving up after ``ack_timeout_s`` without one."""
        deadline = time.monotonic() + self._ack_timeout_s
        with self._acks:
            while self._acked < self._published and time.monotonic() < deadline:
                acked = self._acked
                self._acks.wait(_SLICE_S)
                if self._acked != acked:
                    deadline = time.monotonic() + self._ack_timeout_s
        if self._acked < self._published:
            log.warning("%d messages still unacknowledged by %s", self._published - self._acked, self.url)

    # -- paho -----------------------------------------------------------------------------------------
    def _connect(self) -> mqtt.Client:
        """A connected client (MQTT v5, else 3.1.1 for brokers that speak only that), its loop running."""
        for protocol in (mqtt.MQTTv5, mqtt.MQTTv311):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol)
            if self.broker.username:
                client.username_pw_set(self.broker.username, self.broker.password)
            if self.broker.tls:
                client.tls_set()
            client.max_inflight_messages_set(self.max_inflight)
            handshake = _Handshake()
            client.on_connect = handshake.on_connect
            client.on_disconnect = handshake.on_disconnect
            client.on_publish = self._on_publish
            try:
                client.connect(self.broker.host, self.broker.port, self._keepalive_s)
            except OSError as exc:
                raise PublishError(f"cannot reach the MQTT broker at {self.url}: {exc}", url=self.url) from exc
            client.loop_start()
            if not handshake.answered.wait(self._connect_timeout_s):
                client.loop_stop()
                raise PublishError(
                    f"the MQTT broker at {self.url} did not answer within {self._connect_timeout_s:g} s", url=self.url
                )
            rc = handshake.connack
            if rc is not None and not rc.is_failure:
                self._protocol = "5" if protocol == mqtt.MQTTv5 else "3.1.1"
                client.on_disconnect = self._on_disconnect
                log.info("connected to %s as %s (MQTT %s)", self.url, self.client_id, self._protocol)
                return client
            client.disconnect()
            client.loop_stop()
            unsupported = rc is None or rc.value in (1, 132)  # closed without CONNACK, or "unsupported protocol"
            if protocol == mqtt.MQTTv5 and unsupported:
                log.info("broker %s does not speak MQTT v5: falling back to 3.1.1", self.url)
                continue
            raise PublishError(
                f"the MQTT broker at {self.url} refused the connection: {rc or handshake.closed}", url=self.url
            )
        raise PublishError(f"the MQTT broker at {self.url} closed the connection at once", url=self.url)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        # Called by paho's network thread holding its own lock: count, and never call into the client.
        code = int(getattr(rc, "value", 0))
        with self._acks:
            self._acked += 1
            if code == _NO_MATCHING_SUBSCRIBERS:
                self._no_subscribers += 1
            elif code >= _REFUSED:
                self._refused += 1
                self._refusals[code] += 1
            self._acks.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not self._closing:
            log.warning("disconnected from %s (%s): paho reconnects and resends what is in flight", self.url, rc)


class _Handshake:
    """What came back for one CONNECT: a CONNACK, or the connection closed without one."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.connack: Any = None
        self.closed: Any = None

    def on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self.connack is None:
            self.connack = rc
        self.answered.set()

    def on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.closed = rc
        self.answered.set()
