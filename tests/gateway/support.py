"""Helpers for the gateway's live and fault tests: private brokers, a capped QoS 1 publisher, the gateway
in a thread or a subprocess, readiness probes and polling with deadlines.

Nothing here mocks a service: brokers are real mosquitto processes, stores are real SQLite files and
PostgreSQL databases, and the gateway is the real code, in-process through
``gateway.runner.run_gateway`` or as ``python -m meterbill gateway run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt import BrokerAddress
from gateway.runner import GatewayOptions, run_gateway
from gateway.service import GatewayConfig
from store.contract import Store
from tests.fix_broker import run_mosquitto

T = TypeVar("T")

# --- waiting -----------------------------------------------------------------------------------


def wait_for(probe: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval_s)
        last = probe()
    return last


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- payloads ----------------------------------------------------------------------------------


def native_payload(device_id: str, readings: Sequence[tuple[datetime, float]], *, seq: int = 0, **extra: Any) -> bytes:
    """A native payload of interval readings of register 1-0:1.8.0, in kWh unless ``unit`` is given."""
    unit = extra.pop("unit", "kWh")
    register = extra.pop("register", "1-0:1.8.0")
    return json.dumps(
        {
            "device": extra.pop("device", device_id),
            "seq": seq,
            "readings": [
                {"ts": ts.isoformat(), "register": register, "value": v, "unit": unit, "kind": "interval"}
                for ts, v in readings
            ],
        }
    ).encode()


# --- brokers -----------------------------------------------------------------------------------


def private_mosquitto(folder: Path, extra: str = "") -> contextlib.AbstractContextManager[BrokerAddress]:
    """A mosquitto of this test alone on a free port, with persistence in ``folder`` and ``extra`` config."""
    folder.mkdir(parents=True, exist_ok=True)
    return run_mosquitto(folder, f"allow_anonymous true\npersistence true\npersistence_location {folder}/\n{extra}")


def _client(client_id: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


def purge_session(address: BrokerAddress, client_id: str) -> None:
    """Remove a persistent session from the broker: connect with clean start and no expiry, then leave.

    Live tests run on the shared broker; without this each would leave sessions behind that the broker
    keeps queueing messages for.
    """
    client = _client(client_id)
    done = threading.Event()
    client.on_connect = lambda *args: done.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    try:
        client.connect(address.host, address.port, clean_start=True, properties=props)
    except OSError:
        return
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()


# --- publishing --------------------------------------------------------------------------------


class Publisher:
    """A paho MQTT v5 QoS 1 publisher with at most ``max_inflight`` messages unacknowledged.

    paho loses QoS 1 messages once more than 65,535 are unacknowledged (message ids wrap), so
    ``publish`` blocks while the window is full. A PUBACK reason code of 16 (no subscriber matched)
    or >= 128 (refused) is recorded in ``failures``: a message that reached nobody.
    """

    def __init__(self, address: BrokerAddress, *, max_inflight: int = 200, client_id: str | None = None) -> None:
        self._window = threading.BoundedSemaphore(max_inflight)
        self._lock = threading.Lock()
        self.sent = 0
        self.acked = 0
        self.failures: list[tuple[int, int]] = []  # (message id, reason code)
        self.client = _client(client_id or unique("mbtest-pub"))
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *args: connected.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        if not connected.wait(10):
            self.close()
            pytest.fail(f"publisher could not connect to {address}")

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: Any, props: Any) -> None:
        # paho calls this once per message, holding its own lock: never call into the client from here.
        code = getattr(rc, "value", 0)
        with self._lock:
            self.acked += 1
            if code == 16 or code >= 128:
                self.failures.append((mid, code))
        self._window.release()

    def publish(self, topic: str, payload: bytes, *, timeout_s: float = 30.0) -> None:
        if not self._window.acquire(timeout=timeout_s):
            pytest.fail(f"no PUBACK for {timeout_s:g} s: the broker stopped acknowledging")
        with self._lock:
            self.sent += 1
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            pytest.fail(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")

    def wait_acked(self, timeout_s: float = 30.0) -> None:
        wait_for(lambda: self.acked >= self.sent, timeout_s=timeout_s, what=f"PUBACKs ({self.acked}/{self.sent})")
        assert self.failures == [], f"messages that reached no subscriber or were refused: {self.failures[:5]}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the gateway in this process ---------------------------------------------------------------


@dataclass
class GatewayThread:
    """``run_gateway`` in a thread, stopped with its Event; an exception it raised is raised by ``stop``."""

    store: Store
    address: BrokerAddress
    options: GatewayOptions
    stop_event: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="gateway-under-test", daemon=True)

    def _run(self) -> None:
        try:
            run_gateway(self.store, self.address, self.options, self.stop_event)
        except BaseException as exc:  # handed to the test thread by stop()
            self.error = exc

    def start(self) -> GatewayThread:
        self.thread.start()
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the gateway did not stop within {timeout_s:g} s"
        if self.error is not None:
            raise self.error


def gateway_options(group: str, *, client_id: str | None = None, **config: Any) -> GatewayOptions:
    """Options for a test gateway: its own group, no metrics server, quick batches."""
    defaults: dict[str, Any] = {"batch_max_delay_s": 0.05, "heartbeat_s": 0.5}
    return GatewayOptions(
        group=group, client_id=client_id, metrics_port=None, config=GatewayConfig(**{**defaults, **config})
    )


@contextlib.contextmanager
def gateways(store: Store, address: BrokerAddress, *options: GatewayOptions) -> Iterator[list[GatewayThread]]:
    """Gateways running in this process; stopped, and their broker sessions removed, on exit."""
    running: list[GatewayThread] = []
    try:
        for opts in options:
            running.append(GatewayThread(store, address, opts).start())
        yield running
    finally:
        errors = []
        for gw in running:
            try:
                gw.stop()
            except BaseException as exc:
                errors.append(exc)
        for instance in store.gateway_instances():
            purge_session(address, instance.client_id)
        if errors:
            raise errors[0]


def wait_subscribed(store: Store, address: BrokerAddress, *, timeout_s: float = 20.0) -> str:
    """Publish probes from an unknown device until the gateway dead-lettered one: it is subscribed.

    Returns the probe's device id (its dead letters are the probe's, not the test's).
    """
    probe = unique("probe")
    publisher = Publisher(address)
    n = 0
    deadline = time.monotonic() + timeout_s
    try:
        while not store.dead_letters(device_id=probe, limit=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not receive a probe within {timeout_s:g} s")
            n += 1
            publisher.publish(f"meters/{probe}/readings", f"probe {n}".encode())
            time.sleep(0.1)
    finally:
        publisher.close()
    return probe


# --- the gateway as a process ------------------------------------------------------------------


class GatewayProcess:
    """``python -m meterbill gateway run`` with its own MB_* environment; output kept in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> GatewayProcess:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n==== start {self.starts}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "meterbill", "gateway", "run"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, and reap it: a zombie's pid would still look alive to the client-id claim."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


def gateway_env(store_url: str, address: BrokerAddress, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    env.update(
        {
            "MB_STORE_URL": store_url,
            "MB_MQTT_URL": address.url,
            "MB_GATEWAY_METRICS_PORT": "0",
            "MB_LOG_LEVEL": "INFO",
            "COLUMNS": "200",
        }
    )
    env.update({f"MB_{k.upper()}": v for k, v in settings.items()})
    return env


def scrape(port: int, name: str) -> float | None:
    """One sample of a Prometheus metric from ``http://127.0.0.1:port/metrics``, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
