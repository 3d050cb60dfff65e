"""The MQTT side of the gateway: paho-mqtt with manual acknowledgement, in a network thread.

Messages go to a queue for the worker; nothing is acknowledged until the worker says so, after its
commit. The broker never sends more than ``receive_maximum`` unacknowledged messages (MQTT v5
Receive Maximum; Mosquitto's ``max_inflight_messages`` for 3.1.1), which bounds our memory however
long the store is down. Not every broker keeps to it: Mosquitto before 2.0.13 sends up to a whole
window more for each acknowledgement it gets. So whenever the gateway holds more than the window
(``backlog``: the worker's batch plus the queue), the subscriber stops reading the socket until the
worker has caught up, and TCP pushes back on the broker; acknowledgements and keepalive go on. A
pause longer than about twice the keepalive (a store outage, with such a broker) ends in a
reconnect, which only makes the broker redeliver what was not acknowledged. Sessions are
persistent (clean start off, session expiry set) under a stable client id, so a restarted gateway
gets what the broker kept for it.

Acknowledgements belong to a connection: after a reconnect the broker redelivers what was not
acknowledged, so a message received on an earlier connection is never acknowledged on a later one
(its redelivery will be, and the store makes the repeat harmless). Reconnects back off
exponentially with jitter; the backoff starts over only once a connection has lasted, so a broker
that keeps dropping us is not hammered. With MQTT v5, a disconnect with reason 142 (session taken
over) means another process connected with our client id. Mosquitto 2.0 sends no such reason: it
just closes the old connection, so a connection the broker closes within seconds of accepting it
counts as a takeover too. Repeated takeovers stop the gateway.
"""

from __future__ import annotations

import logging
import queue
import random
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import BrokerError
from gateway.mqtt import BrokerAddress
from gateway.pipeline import Message
from gateway.topics import SUBSCRIPTIONS

__all__ = ["Delivery", "Subscriber"]

log = logging.getLogger(__name__)

_PUBACK_PACKET = struct.Struct("!BBH")  # PUBACK: type, remaining length 2, message id (MQTT 3.1.1 and 5)
_READ_AHEAD = 100  # packets read without a select() in between, at most
_SESSION_TAKEN_OVER = 142
_CONNACK_TIMEOUT_S = 3.0  # a broker that accepted TCP but did not answer CONNECT by then
_CONNECTION_LOST = 128  # what paho reports when the broker closed the socket without a DISCONNECT
_STABLE_AFTER_S = 5.0  # a connection closed by the broker sooner than this looks like a takeover
_TAKEOVERS_TO_GIVE_UP = 3
_TAKEOVER_WINDOW_S = 60.0


@dataclass(frozen=True)
class Delivery:
    """A received message with the connection it came on (acknowledgements are per connection)."""

    message: Message
    qos: int
    generation: int


class Subscriber:
    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        deliveries: queue.Queue[Delivery],
        group: str | None = "meterbill",
        receive_maximum: int = 1000,
        session_expiry_s: int = 7 * 24 * 3600,
        keepalive_s: int = 30,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        on_state: Callable[[bool], None] = lambda connected: None,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self._deliveries = deliveries
        self._backlog = backlog or deliveries.qsize  # messages received and not yet acknowledged
        self._filters = [f"$share/{group}/{t}" if group else t for t in SUBSCRIPTIONS]
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._backoff = backoff_s
        self._on_state = on_state
        self._protocol = mqtt.MQTTv5
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._received = 0  # messages received (network thread only)
        self._connected = threading.Event()
        self.subscribed = threading.Event()  # set once the broker confirmed our subscriptions (SUBACK)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._takeovers: list[float] = []
        self._connected_since = 0.0
        self.fatal: BrokerError | None = None
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{client_id}", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Disconnect cleanly; the session (and anything unacknowledged) stays with the broker."""
        self._stop.set()
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
        self._thread.join(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def protocol(self) -> str:
        return "5" if self._protocol == mqtt.MQTTv5 else "3.1.1"

    # -- acknowledgements -----------------------------------------------------------------
    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge, in order, what came on the current connection; return how many were."""
        sent = 0
        with self._lock:
            client, generation = self._client, self._generation
            if client is None or not self._connected.is_set():
                return 0
            if all(d.qos < 2 for d in deliveries):
                # client.ack() queues and sends each PUBACK on its own (a send() and a wake-up write
                # each, ~6 us a message); the same 4-byte packets go out back to back in one write,
                # through the paho queue that client.ack() itself uses.
                mids = [d.message.mid for d in deliveries if d.generation == generation and d.qos == 1]
                if mids:
                    packets = b"".join([_PUBACK_PACKET.pack(PUBACK, 2, mid) for mid in mids])
                    client._packet_queue(PUBACK, packets, 0, 0)  # noqa: SLF001 - see above
                return len(mids)
            for d in deliveries:
                if d.generation == generation and d.qos > 0:
                    client.ack(d.message.mid, d.qos)
                    sent += 1
        return sent

    # -- the network thread ---------------------------------------------------------------
    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            client = self._new_client()
            self._connack = False
            try:
                self._connect(client)
                asked_at = time.monotonic()
                warned = False
                while not self._stop.is_set():
                    if self._unanswered(asked_at):
                        break
                    if self._connected.is_set() and self._backlog() > self._receive_maximum:
                        if not warned:
                            warned = True
                            log.warning(
                                "the broker sent more than the %d unacknowledged messages we allow (Mosquitto"
                                " before 2.0.13 does); reading paused until the gateway catches up",
                                self._receive_maximum,
                            )
                        rc = self._hold(client)
                    else:
                        rc = self._read(client)
                    if rc != mqtt.MQTT_ERR_SUCCESS:
                        break
                    if self._connected.is_set() and time.monotonic() - self._connected_since >= _STABLE_AFTER_S:
                        delay = self._backoff[0]
            except OSError as exc:
                log.warning("MQTT broker %s unreachable: %s", self.address, exc)
            finally:
                self._set_connected(False)
            if self.fatal is not None:
                return
            if not self._stop.is_set():
                # Full jitter: many gateways restarting together must not reconnect in lockstep.
                pause = random.uniform(0, delay)  # noqa: S311 - jitter, not cryptography
                log.info("reconnecting to %s in %.1f s", self.address, pause)
                self._stop.wait(pause)
                delay = min(delay * 2, self._backoff[1])

    def _unanswered(self, asked_at: float) -> bool:
        """True when CONNECT went unanswered too long; an MQTT v5 attempt then falls back to 3.1.1."""
        if self._connack or time.monotonic() - asked_at <= _CONNACK_TIMEOUT_S:
            return False
        # Some v3-only brokers (amqtt, the embedded one) drop an MQTT v5 CONNECT without answering it.
        if self._protocol == mqtt.MQTTv5:
            log.info("no CONNACK from %s to MQTT v5: falling back to 3.1.1", self.address)
            self._protocol = mqtt.MQTTv311
        else:
            log.warning("no CONNACK from %s within %.0f s", self.address, _CONNACK_TIMEOUT_S)
        return True

    def _read(self, client: mqtt.Client) -> MQTTErrorCode:
        """One turn of the client, then the packets already waiting, while they are messages."""
        rc = client.loop(timeout=0.5)
        # paho's loop() reads one packet per select(); under load many more are waiting, and reading
        # them straight on saves the select() and paho's bookkeeping per message. Bounded, and within
        # the receive window, so that acknowledgements, keepalive and the pause above are not held up.
        for _ in range(_READ_AHEAD):
            received = self._received
            if rc != mqtt.MQTT_ERR_SUCCESS or self._backlog() > self._receive_maximum:
                break
            rc = client.loop_read()
            if self._received == received:  # nothing was waiting (or it was not a message)
                break
        return rc

    def _hold(self, client: mqtt.Client) -> MQTTErrorCode:
        """One turn without reading: send what is queued (acknowledgements), keep the keepalive."""
        rc = client.loop_write()
        if rc == mqtt.MQTT_ERR_SUCCESS:
            rc = client.loop_misc()
        self._stop.wait(0.005)
        return rc

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=self._protocol,
            clean_session=None if self._protocol == mqtt.MQTTv5 else False,
            manual_ack=True,
        )
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: self.subscribed.set()
        with self._lock:
            self._client = client
        return client

    def _connect(self, client: mqtt.Client) -> None:
        if self._protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            props.ReceiveMaximum = self._receive_maximum
            client.connect(self.address.host, self.address.port, self._keepalive_s, clean_start=False, properties=props)
        else:
            client.max_inflight_messages_set(self._receive_maximum)
            client.connect(self.address.host, self.address.port, self._keepalive_s)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._connack = True
        if rc.is_failure:
            if self._protocol == mqtt.MQTTv5 and rc.value in (1, 132):  # unacceptable / unsupported protocol
                log.info("broker %s does not speak MQTT v5: falling back to 3.1.1", self.address)
                self._protocol = mqtt.MQTTv311
            elif rc.value in (4, 5, 134, 135):  # bad credentials / not authorised: retrying will not help
                self.fatal = BrokerError(
                    f"broker {self.address} refused client {self.client_id}: {rc}", url=self.address.url
                )
                self._stop.set()
            else:
                log.warning("broker %s refused the connection: %s", self.address, rc)
            client.disconnect()
            return
        with self._lock:
            self._generation += 1
        client.subscribe([(f, 1) for f in self._filters])
        log.info(
            "connected to %s as %s (MQTT %s, session %s)",
            self.address,
            self.client_id,
            self.protocol,
            "resumed" if getattr(flags, "session_present", False) else "new",
        )
        self._connected_since = time.monotonic()
        self._set_connected(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        was_connected = self._connected.is_set()
        self._set_connected(False)
        now = time.monotonic()
        code = getattr(rc, "value", None)
        dropped_at_once = (
            was_connected
            and not self._stop.is_set()
            and code == _CONNECTION_LOST
            and not getattr(flags, "is_disconnect_packet_from_server", False)
            and now - self._connected_since < _STABLE_AFTER_S
        )
        if code == _SESSION_TAKEN_OVER or dropped_at_once:
            self._takeovers = [t for t in self._takeovers if now - t < _TAKEOVER_WINDOW_S] + [now]
            if code == _SESSION_TAKEN_OVER:
                log.error("another process connected with client id %s and took over our session", self.client_id)
            else:
                log.error(
                    "the broker closed our connection %.1f s after accepting it: another process may be connected"
                    " with client id %s",
                    now - self._connected_since,
                    self.client_id,
                )
            if len(self._takeovers) >= _TAKEOVERS_TO_GIVE_UP:
                self.fatal = BrokerError(
                    f"client id {self.client_id} is used by another live process (session taken over"
                    f" {len(self._takeovers)} times in {_TAKEOVER_WINDOW_S:.0f} s); give each gateway its own id",
                    url=self.address.url,
                )
                self._stop.set()
        elif not self._stop.is_set():
            log.warning("disconnected from %s: %s", self.address, rc)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        delivery = Delivery(
            Message(msg.mid, msg.topic, bytes(msg.payload), datetime.now(UTC)), msg.qos, self._generation
        )
        # The broker's receive window bounds what can be waiting here, so this put does not block
        # in practice; if it ever did, reading stops and TCP pushes back on the broker: nothing is lost.
        self._deliveries.put(delivery)
        self._received += 1

    def _set_connected(self, value: bool) -> None:
        was = self._connected.is_set()
        if value:
            self._connected.set()
        else:
            self._connected.clear()
        if was != value:
            self._on_state(value)
