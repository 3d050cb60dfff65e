"""Broker security end to end: `meterbill broker export-auth` files loaded by a real mosquitto.

A device publishes on its own topic and the gateway receives it; a publish on another device's
topic is refused by the broker (PUBACK 135, MQTT v5) and never reaches the gateway; a wrong
password is refused at CONNECT.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.credentials import mosquitto_hash, new_secret
from devices.model import Device
from gateway.broker_auth import render_broker_auth
from gateway.mqtt import BrokerAddress
from tests.fix_broker import run_mosquitto

GATEWAY = "meterbill-gateway"


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[tuple[BrokerAddress, dict[str, str]]]:
    """mosquitto on a free port with the passwd/acl meterbill writes; yields (address, secrets)."""
    secrets = {name: new_secret() for name in (GATEWAY, "m-0001", "m-0002", "v-0001", "m-0003")}
    devices = [
        Device.new("m-0001", "electricity_meter", "S1", secret_hash=mosquitto_hash(secrets["m-0001"])),
        Device.new("m-0002", "electricity_meter", "S2", secret_hash=mosquitto_hash(secrets["m-0002"])),
        Device.new("v-0001", "vehicle", "V1", secret_hash=mosquitto_hash(secrets["v-0001"])),
        Device.new("m-0003", "gas_meter", "S3", status="suspended", secret_hash=mosquitto_hash(secrets["m-0003"])),
    ]
    files = render_broker_auth(devices, gateway_user=GATEWAY, gateway_hash=mosquitto_hash(secrets[GATEWAY]))
    (tmp_path / "passwd").write_text(files.passwd)
    (tmp_path / "acl").write_text(files.acl)
    config = (
        "per_listener_settings false\nallow_anonymous false\n"
        f"password_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\npersistence false"
    )
    with run_mosquitto(tmp_path, config) as address:
        yield address, secrets


class Client:
    """A synchronous paho MQTT v5 client that records CONNACK, PUBACKs and messages."""

    def __init__(self, address: BrokerAddress, user: str, password: str) -> None:
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.pubacks: dict[int, int] = {}
        self.acked = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.connected.wait(10)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object) -> None:
        self.connack = rc
        self.connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode, props: Properties) -> None:
        with self.acked:
            self.pubacks[mid] = rc.value
            self.acked.notify_all()

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self.acked:
            assert self.acked.wait_for(lambda: info.mid in self.pubacks, 10), f"no PUBACK for {topic}"
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_devices_publish_only_under_their_own_topics(secured_broker: tuple[BrokerAddress, dict[str, str]]) -> None:
    address, secrets = secured_broker
    gateway = Client(address, GATEWAY, secrets[GATEWAY])
    meter = Client(address, "m-0001", secrets["m-0001"])
    vehicle = Client(address, "v-0001", secrets["v-0001"])
    try:
        assert gateway.connack is not None and gateway.connack.value == 0
        subscribed = threading.Event()
        gateway.client.on_subscribe = lambda *args: subscribed.set()
        gateway.client.subscribe(
            [("$share/meterbill/meters/+/readings", 1), ("vehicles/+/trips", 1), ("devices/+/status", 1)]
        )
        assert subscribed.wait(10)

        assert meter.publish("meters/m-0001/readings", b"own") == 0
        assert vehicle.publish("vehicles/v-0001/trips", b"trip") == 0
        assert meter.publish("devices/m-0001/status", b"online") == 0
        # Another device's topics, and a vehicle topic from a meter: refused by the broker.
        assert meter.publish("meters/m-0002/readings", b"spoofed") == 135
        assert meter.publish("vehicles/m-0001/trips", b"wrong root") == 135
        assert vehicle.publish("meters/v-0001/readings", b"wrong root") == 135

        deadline = time.monotonic() + 5
        while len(gateway.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # give a refused message the chance to arrive, were it not refused
        assert sorted(gateway.messages) == sorted(
            [
                ("meters/m-0001/readings", b"own"),
                ("vehicles/v-0001/trips", b"trip"),
                ("devices/m-0001/status", b"online"),
            ]
        )
    finally:
        for c in (gateway, meter, vehicle):
            c.close()


@pytest.mark.parametrize(("user", "password"), [("m-0001", "wrong-password"), ("m-0003", None), ("nobody", "x")])
def test_wrong_or_missing_credentials_are_refused(
    secured_broker: tuple[BrokerAddress, dict[str, str]], user: str, password: str | None
) -> None:
    address, secrets = secured_broker
    client = Client(address, user, password or secrets[user])  # m-0003 is suspended: left out of passwd
    try:
        assert client.connack is not None
        assert client.connack.is_failure, client.connack
        assert client.connack.value in (134, 135)  # bad user name or password / not authorized
    finally:
        client.close()
