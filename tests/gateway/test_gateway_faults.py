"""The gateway under faults, as operators run it: ``python -m meterbill gateway run`` in a subprocess.

- Crash: a publisher streams 50,000 readings (5% of them twice) at QoS 1 while the gateway process
  is killed with SIGKILL twice and restarted with the same client id; at the end PostgreSQL holds
  exactly the distinct readings sent, by count and by sum of values.
- Outage: the store is a throwaway PostgreSQL cluster (initdb/pg_ctl in a temporary folder) that is
  stopped mid-stream and started again; nothing is lost or doubled, the gateway never holds more
  messages than the receive window it asked the broker for (give or take the one that shows a
  broker overshooting it), and SIGTERM still stops it while the store is down.

Each test has a mosquitto of its own, with persistence and a queue large enough for what waits
while the gateway is down (the shared broker keeps 1,000 per client and drops the rest).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices.model import Device
from gateway.mqtt import BrokerAddress
from store.postgres import PostgresStore
from tests.fix_broker import free_port
from tests.fix_db import service_missing
from tests.gateway.support import (
    GatewayProcess,
    Publisher,
    gateway_env,
    native_payload,
    private_mosquitto,
    rss_bytes,
    scrape,
    unique,
    wait_for,
    wait_subscribed,
)

pytestmark = pytest.mark.mqtt

BROKER_CONF = "max_queued_messages 1000000\nmax_inflight_messages 1000\nautosave_interval 5\n"
Message = tuple[str, bytes]


@dataclass(frozen=True)
class Stream:
    """Messages to publish, in order, and what the store must hold after them."""

    messages: list[Message]
    devices: list[str]
    distinct: int
    total: float
    duplicates: int


def build_stream(
    prefix: str, *, devices: int, per_device: int, rng: random.Random, chunk: tuple[int, int], dup_per_device: int
) -> Stream:
    """``devices`` x ``per_device`` distinct interval readings in messages of ``chunk`` readings, plus
    ``dup_per_device`` readings per device sent again (some as the very same message, some in a new
    one), all shuffled so each device's readings also arrive out of order. Values are multiples of
    0.25 kWh so that their sum is exact in floating point."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    messages: list[Message] = []
    ids = [f"{prefix}-{d:03d}" for d in range(devices)]
    duplicates = 0
    for d, device in enumerate(ids):
        topic = f"meters/{device}/readings"
        rows = [(t0 + timedelta(minutes=15 * k), (d * per_device + k + 1) * 0.25) for k in range(per_device)]
        own: list[tuple[bytes, int]] = []
        i = 0
        while i < per_device:
            n = rng.randint(*chunk)
            own.append((native_payload(device, rows[i : i + n], seq=len(own)), len(rows[i : i + n])))
            i += n
        messages.extend((topic, payload) for payload, _ in own)
        # the same message again (a device retrying), then the rest of the duplicates in a new message
        payload, size = min(own, key=lambda m: m[1])
        resent = size if size <= dup_per_device else 0
        if resent:
            messages.append((topic, payload))
        rest = dup_per_device - resent
        if rest:
            messages.append((topic, native_payload(device, rng.sample(rows, rest), seq=len(own))))
        duplicates += dup_per_device
    rng.shuffle(messages)
    distinct = devices * per_device
    return Stream(messages, ids, distinct, 0.25 * distinct * (distinct + 1) / 2, duplicates)


class StreamPublisher(threading.Thread):
    """Publishes a stream at about ``rate`` messages per second, at most 500 unacknowledged.

    At each index of ``holds`` it waits until the test calls ``release()``: a way to be sure that
    something happens while the stream is still running, however slow the machine.
    """

    def __init__(
        self, address: BrokerAddress, messages: list[Message], rate: float, holds: tuple[int, ...] = ()
    ) -> None:
        super().__init__(name="stream-publisher", daemon=True)
        self.publisher = Publisher(address, max_inflight=500)
        self.messages = messages
        self.rate = rate
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._holds = {index: threading.Event() for index in holds}
        self._released = 0
        self._abort = False

    def release(self) -> None:
        """Let the stream go on past its next hold."""
        self._holds[sorted(self._holds)[self._released]].set()
        self._released += 1

    @property
    def sent(self) -> int:
        return self.publisher.sent

    def run(self) -> None:
        try:
            started, held = time.monotonic(), 0.0
            for i, (topic, payload) in enumerate(self.messages):
                if self._abort:
                    return
                if i in self._holds:
                    waited = time.monotonic()
                    if not self._holds[i].wait(90):
                        raise TimeoutError(f"stream held at message {i} for 90 s")
                    held += time.monotonic() - waited
                self.publisher.publish(topic, payload)
                ahead = i / self.rate - (time.monotonic() - started - held)
                if ahead > 0.005:
                    time.sleep(ahead)
            self.publisher.wait_acked(60)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.done.set()

    def abort(self) -> None:
        """Stop early (a test that failed half-way): no more publishing, no hold left waiting."""
        self._abort = True
        for hold in self._holds.values():
            hold.set()
        self.join(10)
        self.publisher.close()

    def finish(self, timeout_s: float = 90.0) -> None:
        self.join(timeout_s)
        self.publisher.close()
        assert not self.is_alive(), "the publisher did not finish"
        if self.error is not None:
            raise self.error


def _totals(url: str) -> tuple[int, float]:
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum(value), 0) FROM readings").fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def _count(url: str) -> int:
    try:
        return _totals(url)[0]
    except psycopg.OperationalError:
        return -1


def _scalar(url: str, query: str) -> int:
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


_WRITING_READINGS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND state = 'active' AND (query ILIKE '%COPY readings%' OR query ILIKE '%INSERT INTO readings (%')"
)


def _wait_for_a_commit(url: str, timeout_s: float) -> bool:
    """Return as soon as the gateway is writing readings (a batch between COPY and COMMIT), or False."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(_WRITING_READINGS).fetchone()
            if row and row[0]:
                return True
    return False


def _prepare(url: str, devices: list[str]) -> PostgresStore:
    store = PostgresStore(url, max_size=2)
    store.upgrade()
    store.add_devices([Device.new(d, "electricity_meter", d) for d in devices])
    return store


def _wait_settled(url: str, expected: int, gateway: GatewayProcess, timeout_s: float, still_s: float = 15.0) -> None:
    """Until the store holds ``expected`` readings; fail with the gateway's output after ``timeout_s``, or
    once the count stopped changing for ``still_s`` short of it."""
    deadline = time.monotonic() + timeout_s
    last, changed = -2, time.monotonic()
    while (count := _count(url)) < expected:
        now = time.monotonic()
        if count != last:
            last, changed = count, now
        if now > deadline or now - changed > still_s or not gateway.alive():
            pytest.fail(f"store holds {count} of {expected} readings; gateway output:\n{gateway.output()}")
        time.sleep(0.2)


# --- crash ---------------------------------------------------------------------------------------


def test_sigkill_twice_mid_stream_loses_and_doubles_nothing(pg_url: str, tmp_path: Path) -> None:
    rng = random.Random(20260301)
    run = unique("crash")
    stream = build_stream(run, devices=500, per_device=100, rng=rng, chunk=(1, 10), dup_per_device=5)
    assert (stream.distinct, stream.duplicates) == (50_000, 2_500)  # 5% duplicates
    store = _prepare(pg_url, stream.devices)
    with private_mosquitto(tmp_path / "broker", BROKER_CONF) as broker:
        gateway = GatewayProcess(
            gateway_env(pg_url, broker, gateway_group=run, gateway_client_id=f"{run}-gw", pg_pool_max_size="4"),
            tmp_path / "gateway.log",
        )
        n = len(stream.messages)
        publisher = StreamPublisher(broker, stream.messages, rate=n / 6.0, holds=(int(0.4 * n), int(0.75 * n)))
        try:
            gateway.start()
            probe = wait_subscribed(store, broker, timeout_s=30)
            publisher.start()
            kills: list[tuple[int, int]] = []  # (messages sent, readings stored) at each SIGKILL
            for fraction, in_commit in ((0.25, True), (0.6, False)):
                stored_before = max(_count(pg_url), 0)

                def ready(fraction: float = fraction, stored_before: int = stored_before) -> bool:
                    # mid-stream, and once this gateway process has committed something of its own
                    return publisher.sent >= fraction * len(stream.messages) and _count(pg_url) > stored_before

                wait_for(
                    ready,
                    timeout_s=45,
                    what=f"{fraction:.0%} of the stream published and stored readings growing",
                    interval_s=0.02,
                )
                # The first kill lands while a batch is being written (the moment where acknowledging
                # before the commit would lose it); the second wherever the gateway happens to be.
                if in_commit:
                    assert _wait_for_a_commit(pg_url, timeout_s=20), "the gateway never wrote readings"
                gateway.kill()
                kills.append((publisher.sent, _count(pg_url)))
                gateway.start()  # same client id: it resumes the broker session
                publisher.release()
            publisher.finish()
            _wait_settled(pg_url, stream.distinct, gateway, timeout_s=60)
            time.sleep(0.5)  # anything still in flight would land now
            count, total = _totals(pg_url)
            assert count == stream.distinct, gateway.output()
            assert total == pytest.approx(stream.total, rel=1e-12)
            assert all(sent < len(stream.messages) for sent, _ in kills), kills  # killed while publishing
            assert all(0 < stored < stream.distinct for _, stored in kills), kills
            assert _scalar(pg_url, "SELECT count(*) FROM reading_conflicts") == 0  # a redelivery is no conflict
            letters = _scalar(pg_url, f"SELECT count(*) FROM dead_letters WHERE device_id <> '{probe}'")
            assert letters == 0
            # a graceful stop after all that: exit 0, client id released
            assert gateway.terminate() == 0, gateway.output()
            (instance,) = store.gateway_instances()
            assert (instance.client_id, instance.pid) == (f"{run}-gw", 0)
        finally:
            if publisher.is_alive():
                publisher.abort()
            gateway.close()
            store.close()


# --- store outage --------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A PostgreSQL cluster of this test alone, started and stopped with pg_ctl."""

    folder: Path
    port: int
    bindir: Path
    as_owner: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [*self.as_owner, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "30"]
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"pg_ctl {' '.join(args)} failed: {result.stdout}{result.stderr}\n{log}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.folder / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()


def _postgres_bindir() -> Path | None:
    candidates = [Path("/usr/lib/postgresql/15/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.insert(0, Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


_FAST = ("--no-sync", "-E", "UTF8", "--locale", "C")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl start in a temporary folder; as root, run as the postgres user (initdb refuses root)."""
    bindir = _postgres_bindir()
    if bindir is None:
        service_missing("PostgreSQL server binaries (initdb, pg_ctl)", "PATH", "not installed")
    assert bindir is not None
    as_owner: list[str] = []
    # not under pytest's tmp_path: it is private to root, and the server runs as postgres
    folder = Path(tempfile.mkdtemp(prefix="mbtest-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            service_missing("runuser (to run initdb as postgres)", "PATH", "not installed")
        assert runuser is not None
        as_owner = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    try:
        subprocess.run(
            [*as_owner, str(bindir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", *_FAST],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster = Cluster(folder, free_port(), bindir, as_owner)
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running():
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
def test_store_outage_mid_stream_loses_nothing_and_memory_stays_bounded(tmp_path: Path) -> None:
    rng = random.Random(7)
    run = unique("outage")
    window = 100  # MB_GATEWAY_RECEIVE_MAXIMUM: what the broker may have unacknowledged with us
    stream = build_stream(run, devices=50, per_device=120, rng=rng, chunk=(2, 4), dup_per_device=3)
    messages = stream.messages
    before, during = len(messages) // 4, len(messages) // 2  # published before / while the store is down
    # devices first heard of while the store is down: the registry look-up itself has to wait
    late, last = f"{run}-late", f"{run}-last"
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    late_rows = [(t0 + timedelta(minutes=15 * k), 0.5) for k in range(20)]
    metrics_port = free_port()
    with throwaway_cluster() as cluster, private_mosquitto(tmp_path / "broker", BROKER_CONF) as broker:
        _prepare(cluster.url, [*stream.devices, late, last]).close()
        gateway = GatewayProcess(
            gateway_env(
                cluster.url,
                broker,
                gateway_group=run,
                gateway_receive_maximum=str(window),
                gateway_metrics_port=str(metrics_port),
                gateway_batch_max_delay_ms="50",
                pg_pool_max_size="2",
            ),
            tmp_path / "gateway.log",
        )
        publisher = StreamPublisher(broker, messages[: before + during], rate=800, holds=(before,))
        try:
            gateway.start()
            store = PostgresStore(cluster.url, max_size=1)
            try:
                probe = wait_subscribed(store, broker, timeout_s=30)
            finally:
                store.close()
            buffer_gauge = "meterbill_gateway_buffer_messages"
            wait_for(lambda: scrape(metrics_port, buffer_gauge) is not None, timeout_s=10, what="metrics")

            publisher.start()
            wait_for(lambda: _count(cluster.url) > 0 and publisher.sent >= before, timeout_s=30, what="readings stored")
            rss_before = rss_bytes(gateway.pid)
            cluster.stop()  # mid-stream: the publisher, held until now, goes on
            publisher.release()
            side = Publisher(broker)
            for k in range(0, len(late_rows), 2):
                side.publish(f"meters/{late}/readings", native_payload(late, late_rows[k : k + 2], seq=k))
            buffered: list[float] = []
            rss_peak = rss_before
            outage_until = time.monotonic() + 4.0
            while time.monotonic() < outage_until or not publisher.done.is_set():
                assert gateway.alive(), gateway.output()
                value = scrape(metrics_port, buffer_gauge)
                if value is not None:
                    buffered.append(value)
                rss_peak = max(rss_peak, rss_bytes(gateway.pid))
                assert time.monotonic() < outage_until + 60, "the publisher did not finish during the outage"
                time.sleep(0.1)
            publisher.finish()
            side.wait_acked()
            retries = scrape(metrics_port, "meterbill_gateway_store_retries_total")
            cluster.start()
            # the rest of the stream once the store is back
            rest = StreamPublisher(broker, messages[before + during :], rate=2000)
            rest.start()
            rest.finish()
            expected = stream.distinct + len(late_rows)
            _wait_settled(cluster.url, expected, gateway, timeout_s=60)
            time.sleep(0.5)
            count, total = _totals(cluster.url)
            assert count == expected
            assert total == pytest.approx(stream.total + sum(v for _, v in late_rows), rel=1e-12)
            assert _scalar(cluster.url, "SELECT count(*) FROM reading_conflicts") == 0
            assert _scalar(cluster.url, f"SELECT count(*) FROM dead_letters WHERE device_id <> '{probe}'") == 0
            # The gateway noticed, held what it had, and never more than its receive window.
            noticed = (retries or 0) > 0 or "registry look-up failed" in gateway.output(tail=10**7)
            assert noticed, gateway.output()  # a commit retried, or a registry look-up waiting for the store
            # (one over: the message whose arrival tells the subscriber that the broker overshoots the window,
            # as Mosquitto before 2.0.13 does, and makes it stop reading)
            assert buffered and max(buffered) <= window + 1, (max(buffered, default=None), gateway.output())
            assert max(buffered) >= window / 2  # the window did fill: the rest waited at the broker
            assert rss_peak - rss_before < 64 * 2**20, (rss_before, rss_peak)

            # Stopping while the store is down: the gateway waits (on a registry reload or on the commit
            # of the batch holding the message), and SIGTERM still ends it (the message stays
            # unacknowledged, for the broker to redeliver).
            cluster.stop()
            side.publish(f"meters/{last}/readings", native_payload(last, late_rows[:1]))
            side.wait_acked()
            before = gateway.output(tail=10**7).count("store unavailable")
            wait_for(
                lambda: (
                    "registry look-up failed" in gateway.output(tail=10**7)
                    or gateway.output(tail=10**7).count("store unavailable") > before
                ),
                timeout_s=30,
                what="the gateway to notice the store is down",
            )
            started = time.monotonic()
            assert gateway.terminate(timeout_s=30) == 0, gateway.output()
            assert time.monotonic() - started < 30
            side.close()
        finally:
            if publisher.is_alive():
                publisher.abort()
            gateway.close()
