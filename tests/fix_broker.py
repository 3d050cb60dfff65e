"""A real MQTT broker for tests.

In order: the broker at ``MB_TEST_MQTT_URL`` (default ``mqtt://127.0.0.1:1883``) when it answers;
else a ``mosquitto`` binary started on a free port; else amqtt in-process. With ``CI=true`` the
amqtt fallback is refused: CI must test against Mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.embedded_broker import EmbeddedBroker
from gateway.mqtt import BrokerAddress
from tests.fix_db import service_missing

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(address: BrokerAddress, timeout_s: float = 2.0) -> bool:
    """True when something accepts TCP there and answers an MQTT CONNECT with CONNACK."""
    connect = bytes([0x10, 0x12, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x06]) + b"mbtest"
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s) as s:
            s.sendall(connect)
            return s.recv(4)[:1] == b"\x20"
    except OSError:
        return False


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def mosquitto_binary() -> str:
    """The mosquitto binary, or a skip (a failure with CI=true) saying how to install it."""
    binary = mosquitto_path()
    if binary is None:
        service_missing("the mosquitto binary", "PATH", "not installed (apt-get install mosquitto)")
    assert binary is not None
    return binary


@contextlib.contextmanager
def run_mosquitto(folder: Path, config: str) -> Iterator[BrokerAddress]:
    """A mosquitto of its own on a free loopback port, with ``config`` (all but the listener); stopped on exit."""
    binary = mosquitto_binary()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "mosquitto.log"
    for _ in range(5):  # the port may be taken between choosing and binding: try another
        port = free_port()
        conf = folder / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, who cannot read the test's files.
        conf.write_text(f"{config}\nlistener {port} 127.0.0.1\n" + ("user root\n" if os.geteuid() == 0 else ""))
        with log_path.open("wb") as log:
            proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        address = BrokerAddress("127.0.0.1", port)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None and not _answers(address, 0.5):
            time.sleep(0.05)
        if proc.poll() is None:
            try:
                yield address
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return
        output = log_path.read_text(errors="replace")
        if "Address already in use" not in output:
            pytest.fail(f"mosquitto refused its configuration:\n{output}")
    pytest.fail("mosquitto did not start on a free port after 5 attempts")


class _ThreadedBroker:
    """amqtt in its own event loop thread, so synchronous tests can use it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.broker = EmbeddedBroker()
        self.address = asyncio.run_coroutine_threadsafe(self.broker.start(), self.loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.broker.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerAddress]:
    """The address of a running MQTT broker for the whole session."""
    address = BrokerAddress.parse(os.environ.get("MB_TEST_MQTT_URL", DEFAULT_MQTT_URL))
    if _answers(address):
        yield address
        return
    if mosquitto_path() is not None:
        with run_mosquitto(tmp_path_factory.mktemp("mosquitto"), "allow_anonymous true\npersistence false") as found:
            yield found
        return
    if os.environ.get("CI", "").lower() == "true":
        service_missing("Mosquitto", "MB_TEST_MQTT_URL", f"nothing answers at {address} and no mosquitto binary")
    threaded = _ThreadedBroker()
    try:
        yield threaded.address
    finally:
        threaded.stop()


@pytest.fixture
def mqtt_topic() -> str:
    """A topic prefix of this test alone, so tests on a shared broker never see each other."""
    return f"mbtest/{uuid.uuid4().hex}"
