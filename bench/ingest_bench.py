"""End-to-end ingestion throughput and latency of the gateway: MQTT publisher to committed PostgreSQL rows.

Run from the repository root::

    python bench/ingest_bench.py            # about 90 s on 2 cores (2.9M readings)
    python bench/ingest_bench.py --quick    # about 30 s

Everything runs on loopback and stops by itself (every phase has a message count and a time limit):

* a private Mosquitto (``--mosquitto``, default ``/usr/sbin/mosquitto``) on a free port, from a config in
  a temporary directory: ``max_inflight_messages 65535``, ``max_queued_messages`` ten million (the
  default, 1,000, silently drops QoS 1 messages queued for a busy subscriber), persistence off,
  ``set_tcp_nodelay true``, anonymous clients. The system broker on 1883 is never used;
* a throw-away database ``mb_bench_<hex>`` on ``--pg-url`` (default: ``$MB_TEST_PG_URL`` or
  ``postgresql://postgres@127.0.0.1:5432/test``), migrated with ``PostgresStore.upgrade()`` and dropped at
  the end whatever happens, holding ``--meters`` electricity meters (``Device.new``);
* the gateway **in-process**: ``run_gateway`` in a thread of this process (no metrics server, the fixed
  client id ``meterbill-bench-gw``, a shared subscription unless ``--plain``) on a ``PostgresStore``
  subclass whose ``commit_batch`` notes the wall-clock time at which each batch was committed and what it
  held. In-process rather than ``python -m meterbill gateway run`` so that commit times are exact (no
  polling) and the latency of every single message can be computed; the main thread of this process only
  waits, so the gateway has the interpreter to itself, as it would in its own process;
* publishers in separate processes (``--publishers``, spawned, so their CPU is not taken from the
  gateway's GIL): paho-mqtt, MQTT v5, QoS 1, native payloads of DESIGN.md
  (``{"device": id, "seq": n, "readings": [{"ts": ..., "register": "1-0:1.8.0", "value": ..., "unit":
  "kWh", "kind": "interval", "quality": "actual"}]}``) built on the fly, each capped at ``--inflight``
  unacknowledged messages (paho loses messages beyond 65,535 in flight: message ids wrap).

Timestamps are 15-minute intervals within the last months: message ``i`` comes from meter ``i mod meters``
and covers that meter's next interval (a) or next day of 96 intervals (b); each phase uses its own window
of days, so no reading is ever sent twice and every batch takes the store's direct COPY path.

Phases, one after the other, on the same broker and the same server:

1. ceiling (a) and (b): the very messages of (a) and (b) to a plain paho subscriber in this process that
   stores nothing (same filter, same QoS 1 and receive maximum, manual acknowledgement sent at once). It
   runs before the gateway ever connects, so the broker queues nothing for the gateway's session.
2. warm-up, not timed: one message per meter, so every meter is ``active`` (a device's first message
   activates it, an UPDATE and a registry cache miss that only happen once in its life) and caches are warm.
3. gateway (a) messages of 1 reading and (b) messages of 96 readings (a day of 15-minute values),
   publishers at full speed. Throughput = readings / (first publish -> commit of the batch that made the
   store hold them all). The row count is then checked in PostgreSQL (``count(*)``); a wrong count fails
   the run (exit status 1), as does any dead letter.
4. latency (a) then (b): a paced publisher at ``--latency-fraction`` (0.5) of the rate the gateway
   reached in 3., for ``--latency-seconds``. Each publisher notes the wall-clock time just before
   ``publish()`` of each message; the store subclass notes the time ``commit_batch`` returned for every
   reading key (device, register, ts). Latency of a message = commit time of its first reading - its
   publish time, on one machine and one clock (``time.time()`` across processes). p50, p99 and max.

Acceptance targets (issue "Ingestion gateway", on this machine: 2 cores shared by publisher, broker,
gateway and PostgreSQL):

* (b) >= 50,000 readings/s committed end to end (``batched_readings_per_s``);
* (a) >= 5,000 messages/s per gateway process (``single_msgs_per_s``) and >= 60% of the ceiling
  (``ratio_single_vs_ceiling`` = ``single_msgs_per_s / ceiling_msgs_per_s``);
* p99 publish-to-commit latency < 1 s at half the maximum rate (``p99_commit_latency_s`` for (a),
  ``batched_p99_commit_latency_s`` for (b); both must hold).

The script prints a table with every figure, the ratios and each target's verdict, then, as the last line
of stdout, one JSON object. It exits with status 1 when a count is wrong or a phase times out, not when a
target is missed: the targets depend on the machine. It also prints how many cores something else kept
busy in the second before it started (``busy_cores_before``): on a shared 2-core machine another job
halves every figure, and the ceiling moves with it.

Gateway settings (``--batch-max-readings``, ``--batch-max-delay-ms``, ``--max-unacked``; defaults: the
values this bench recommends, 10,000 readings, 200 ms, 5,000 messages; the shipped defaults were 5,000,
200 ms, 1,000). A batch is committed at ``batch_max_readings`` readings, after ``batch_max_delay``, or at
``max_unacked_messages`` messages; with 1-reading messages and a window of 1,000 every batch filled the
whole window, so the broker sent nothing while the batch was committed (stop-and-wait). The window must
hold about two batches' worth of messages (rate x delay plus the commit), so that one batch is received
while the previous one commits. Each meter's registry entry is re-read from the store every
``registry_ttl_s`` (15 s), one query per meter, all at about the same moment: with more ``--meters`` that
pause grows (about 0.35 ms a meter) and shows in the p99 latency.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from _report import BenchFailure, add_pg_url, log, measure_and_report, print_machine  # bench/: on sys.path
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.conninfo import conninfo_to_dict

try:
    from devices.model import Device
    from gateway.mqtt import BrokerAddress
    from gateway.runner import GatewayOptions, run_gateway
    from gateway.service import GatewayConfig
    from store.contract import Batch, BatchResult
    from store.postgres import PostgresStore
except ImportError:  # not pip-installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from devices.model import Device
    from gateway.mqtt import BrokerAddress
    from gateway.runner import GatewayOptions, run_gateway
    from gateway.service import GatewayConfig
    from store.contract import Batch, BatchResult
    from store.postgres import PostgresStore

DEFAULT_MOSQUITTO = "/usr/sbin/mosquitto"


def add_mosquitto(parser: argparse.ArgumentParser) -> None:
    """``--mosquitto``: the broker binary the bench starts on a free port."""
    parser.add_argument("--mosquitto", default=shutil.which("mosquitto") or DEFAULT_MOSQUITTO, help="broker binary")


REGISTER = "1-0:1.8.0"
INTERVAL = timedelta(minutes=15)
DAY_READINGS = 96
CLIENT_ID = "meterbill-bench-gw"
GROUP = "bench"
TOPIC_FILTER = "meters/+/readings"

TARGET_BATCHED_READINGS = 50_000
TARGET_SINGLE_MSGS = 5_000
TARGET_SINGLE_RATIO = 0.60
TARGET_P99_S = 1.0


# -- workload ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """``messages`` messages of ``per_message`` readings; message ``i`` is meter ``i mod meters``'s next slot.

    A slot is one 15-minute interval (``per_message`` 1) or one day of 96 intervals (``per_message`` 96),
    starting at ``start`` (aware UTC, midnight).
    """

    name: str
    per_message: int
    messages: int
    meters: int
    start: datetime

    @property
    def readings(self) -> int:
        return self.messages * self.per_message

    @property
    def step(self) -> timedelta:
        return INTERVAL * self.per_message

    @property
    def days(self) -> int:
        """Whole days this workload's timestamps span."""
        slots = math.ceil(self.messages / self.meters)
        return max(1, math.ceil((slots * self.step) / timedelta(days=1)))

    def key(self, i: int) -> tuple[str, datetime]:
        """(device id, timestamp) of message ``i``'s first reading."""
        return device_id(i % self.meters), self.start + (i // self.meters) * self.step


def device_id(n: int) -> str:
    return f"bench-m{n:06d}"


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class PayloadMaker:
    """Builds message ``i`` of a workload as bytes, cheaply: the readings of a slot are formatted once."""

    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self._slot = -1
        self._block = ""

    def _readings(self, slot: int) -> str:
        if slot != self._slot:
            first = self.w.start + slot * self.w.step
            items = [
                f'{{"ts":"{iso(first + k * INTERVAL)}","register":"{REGISTER}",'
                f'"value":{0.05 + ((slot * 131 + k * 7919) % 500) / 1000:.3f},'
                '"unit":"kWh","kind":"interval","quality":"actual"}'
                for k in range(self.w.per_message)
            ]
            self._slot, self._block = slot, "[" + ",".join(items) + "]"
        return self._block

    def topic_and_payload(self, i: int) -> tuple[str, bytes]:
        meter, slot = i % self.w.meters, i // self.w.meters
        dev = device_id(meter)
        body = f'{{"device":"{dev}","seq":{slot},"readings":{self._readings(slot)}}}'
        return f"meters/{dev}/readings", body.encode()


# -- publisher processes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishJob:
    host: str
    port: int
    client_id: str
    workload: Workload
    first: int  # this publisher sends messages first, first + stride, first + 2 stride, ...
    stride: int
    rate: float  # messages/s for this publisher; 0: as fast as the in-flight cap allows
    inflight: int
    record: bool  # note the publish time of every message
    timeout_s: float


@dataclass
class PublishResult:
    client_id: str
    sent: int
    t_first: float
    t_last: float  # last publish() returned
    t_acked: float  # every PUBACK received
    times: list[float] = field(default_factory=list)


def _publisher_main(job: PublishJob, ready: Any, go: Any, results: Any) -> None:
    """One publisher process: connect, say ready, wait for go, publish with capped in-flight, report."""
    try:
        results.put(_publish(job, ready, go))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put(f"{job.client_id}: {type(exc).__name__}: {exc}")
        ready.put(job.client_id)


def _connect(job: PublishJob, on_publish: Callable[..., None]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=job.client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(job.inflight)
    client.on_publish = on_publish
    client.connect(job.host, job.port, keepalive=60, clean_start=True)
    deadline = time.monotonic() + 10
    while not client.is_connected():
        if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS or time.monotonic() > deadline:
            raise BenchFailure(f"publisher {job.client_id} could not connect to {job.host}:{job.port}")
    return client


def _publish(job: PublishJob, ready: Any, go: Any) -> PublishResult:
    """Single-threaded paho: publish() writes at once, ``loop()`` reads the PUBACKs in between."""
    maker = PayloadMaker(job.workload)
    acked = 0

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        nonlocal acked
        acked += 1

    client = _connect(job, on_publish)
    indices = range(job.first, job.workload.messages, job.stride)
    if indices:
        maker.topic_and_payload(indices[0])  # format the first block before the clock runs
    ready.put(job.client_id)
    if not go.wait(60):
        raise BenchFailure(f"publisher {job.client_id}: no start signal")
    times = array("d")
    loop, publish, now = client.loop, client.publish, time.time
    t_first = now()
    hard_deadline = t_first + job.timeout_s
    interval = 1.0 / job.rate if job.rate > 0 else 0.0
    for n, i in enumerate(indices):
        while n - acked >= job.inflight or now() > hard_deadline:  # the broker's PUBACKs release the cap
            if now() > hard_deadline:
                raise BenchFailure(f"publisher {job.client_id}: out of time with {acked} of {n} acknowledged")
            loop(timeout=0.01)
        while interval and (ahead := t_first + n * interval - now()) > 0:  # paced: wait for this one's turn
            loop(timeout=min(ahead, 0.005))
        topic, payload = maker.topic_and_payload(i)
        if job.record:
            times.append(now())
        info = publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise BenchFailure(f"publisher {job.client_id}: publish failed: {mqtt.error_string(info.rc)}")
        if n % 32 == 31:
            loop(timeout=0)  # read PUBACKs as they come
    t_last = now()
    while acked < len(indices):
        if now() > hard_deadline:
            raise BenchFailure(f"publisher {job.client_id}: {len(indices) - acked} messages never acknowledged")
        loop(timeout=0.01)
    t_acked = now()
    client.disconnect()
    return PublishResult(job.client_id, len(indices), t_first, t_last, t_acked, times.tolist())


@dataclass(frozen=True)
class Published:
    messages: int
    t_first: float
    t_last: float
    t_acked: float
    times: dict[int, float]  # message index -> publish time (record only)


def run_publishers(
    address: BrokerAddress,
    workload: Workload,
    *,
    publishers: int,
    inflight: int,
    rate: float = 0.0,
    record: bool = False,
    timeout_s: float,
) -> Published:
    """Spawn ``publishers`` processes sharing ``workload`` (and ``rate``); return when all are acknowledged."""
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = []
    for k in range(publishers):
        job = PublishJob(
            address.host,
            address.port,
            f"mb-bench-pub-{k}-{secrets.token_hex(3)}",
            workload,
            k,
            publishers,
            rate / publishers,
            inflight,
            record,
            timeout_s,
        )
        proc = ctx.Process(target=_publisher_main, args=(job, ready, go, results), daemon=True)
        proc.start()
        procs.append(proc)
    try:
        waiting, deadline = len(procs), time.monotonic() + 60
        while waiting:
            try:
                ready.get(timeout=0.2)
                waiting -= 1
            except queue.Empty:
                dead = [p.exitcode for p in procs if p.exitcode is not None]
                if dead or time.monotonic() > deadline:
                    raise BenchFailure(f"publisher processes did not start (exit codes {dead})") from None
        go.set()
        collected: list[PublishResult] = []
        for _ in procs:
            try:
                got = results.get(timeout=timeout_s + 30)
            except queue.Empty:
                raise BenchFailure("a publisher process did not report in time") from None
            if isinstance(got, str):
                raise BenchFailure(f"publisher failed: {got}")
            collected.append(got)
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    times: dict[int, float] = {}
    if record:
        for k, res in enumerate(sorted(collected, key=lambda r: int(r.client_id.split("-")[3]))):
            times.update(zip(range(k, workload.messages, publishers), res.times, strict=True))
    return Published(
        sum(r.sent for r in collected),
        min(r.t_first for r in collected),
        max(r.t_last for r in collected),
        max(r.t_acked for r in collected),
        times,
    )


# -- the machine -----------------------------------------------------------------------------------
def busy_cores(seconds: float = 1.0) -> float | None:
    """CPU cores kept busy by whatever runs on the machine, over ``seconds`` (Linux ``/proc/stat``)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 == total0:
        return 0.0
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))


# -- broker -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(binary: str, tmp: Path) -> tuple[subprocess.Popen[bytes], BrokerAddress]:
    """A private, tuned Mosquitto on a free loopback port; raises BenchFailure if it does not come up."""
    for _ in range(5):  # the port may be taken between choosing and binding: try another
        port = free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_inflight_messages 65535\n"
            "max_queued_messages 10000000\n"
            "max_queued_bytes 0\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
        )
        with open(tmp / "mosquitto.log", "ab") as err:
            proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proc, BrokerAddress("127.0.0.1", port)
            except OSError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    log_text = (tmp / "mosquitto.log").read_text(errors="replace")[-2000:]
    raise BenchFailure(f"{binary} did not start on a free port: {log_text}")


class CeilingSubscriber:
    """A paho subscriber that stores nothing: counts each message and acknowledges it at once."""

    def __init__(self, address: BrokerAddress, topic_filter: str, receive_maximum: int) -> None:
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="mb-bench-ceiling", protocol=mqtt.MQTTv5, manual_ack=True
        )
        self._subscribed = threading.Event()
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._done = threading.Event()
        self.count = 0
        self.target = 0
        self.last = 0.0
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = receive_maximum
        self._client.connect(address.host, address.port, keepalive=60, clean_start=True, properties=props)
        self._client.loop_start()
        self._client.subscribe(topic_filter, qos=1)
        if not self._subscribed.wait(10):
            raise BenchFailure("the ceiling subscriber got no SUBACK")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.count += 1
        self.last = time.time()
        client.ack(msg.mid, msg.qos)
        if self.count >= self.target:
            self._done.set()

    def expect(self, n: int) -> None:
        self.count, self.target, self.last = 0, n, 0.0
        self._done.clear()

    def wait(self, timeout_s: float) -> float:
        if not self._done.wait(timeout_s):
            raise BenchFailure(f"ceiling subscriber received {self.count} of {self.target} messages in time")
        return self.last

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# -- the store, timed -------------------------------------------------------------------------------
class TimedStore(PostgresStore):
    """The real store; notes when each batch committed, how many readings it held, and (on demand) which."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._cond = threading.Condition()
        self.inserted = 0
        self.duplicates = 0
        self.rejected = 0
        self.commits = 0
        self.last_commit = 0.0
        self.commit_seconds = 0.0  # time spent inside commit_batch: the gateway worker waits on the store
        self.failure: str | None = None  # the gateway thread died: stop waiting
        self.recording: list[tuple[float, Sequence[Any]]] | None = None

    def commit_batch(self, batch: Batch) -> BatchResult:
        t0 = time.perf_counter()
        result = super().commit_batch(batch)
        t = time.time()
        with self._cond:
            self.commit_seconds += time.perf_counter() - t0
            self.inserted += result.readings.inserted
            self.duplicates += result.readings.duplicates + result.readings.conflicts
            self.rejected += len(batch.dead_letters)
            self.commits += 1 if batch.readings else 0
            self.last_commit = t
            if self.recording is not None:
                self.recording.append((t, batch.readings))
            self._cond.notify_all()
        return result

    def fail(self, reason: str) -> None:
        with self._cond:
            self.failure = reason
            self._cond.notify_all()

    def wait_inserted(self, target: int, timeout_s: float) -> float:
        """Wall-clock time of the commit that brought the inserted total to ``target``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.inserted >= target or self.rejected or self.failure, timeout_s):
                raise BenchFailure(f"the gateway committed {self.inserted:,} of {target:,} readings in time")
            if self.failure:
                raise BenchFailure(f"the gateway stopped: {self.failure}")
            if self.rejected:
                raise BenchFailure(f"the gateway dead-lettered {self.rejected} bench messages")
            return self.last_commit


# -- phases -----------------------------------------------------------------------------------------
@dataclass
class Figures:
    messages: int
    readings: int
    seconds: float
    publish_seconds: float  # first publish -> last PUBACK (the publishers' own pace)
    commits: int = 0
    commit_seconds: float = 0.0  # of ``seconds``, spent by the gateway worker inside commit_batch

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds


@dataclass
class Latency:
    rate: float
    messages: int
    p50: float
    p99: float
    max: float
    commits: int


def phase_timeout(w: Workload) -> float:
    return 20.0 + w.readings / 10_000 + w.messages / 1_000


def ceiling_phase(sub: CeilingSubscriber, address: BrokerAddress, w: Workload, args: argparse.Namespace) -> Figures:
    sub.expect(w.messages)
    timeout = phase_timeout(w)
    pub = run_publishers(address, w, publishers=args.publishers, inflight=args.inflight, timeout_s=timeout)
    last = sub.wait(timeout)
    return Figures(w.messages, w.readings, last - pub.t_first, pub.t_acked - pub.t_first)


def gateway_phase(store: TimedStore, address: BrokerAddress, w: Workload, args: argparse.Namespace) -> Figures:
    target = store.inserted + w.readings
    commits, commit_s = store.commits, store.commit_seconds
    timeout = phase_timeout(w)
    pub = run_publishers(address, w, publishers=args.publishers, inflight=args.inflight, timeout_s=timeout)
    done = store.wait_inserted(target, timeout)
    return Figures(
        w.messages,
        w.readings,
        done - pub.t_first,
        pub.t_acked - pub.t_first,
        store.commits - commits,
        store.commit_seconds - commit_s,
    )


def latency_phase(
    store: TimedStore, address: BrokerAddress, w: Workload, rate: float, args: argparse.Namespace
) -> Latency:
    target = store.inserted + w.readings
    commits = store.commits
    timeout = phase_timeout(w) + w.messages / rate
    store.recording = []
    try:
        pub = run_publishers(
            address, w, publishers=args.publishers, inflight=args.inflight, rate=rate, record=True, timeout_s=timeout
        )
        store.wait_inserted(target, timeout)
    finally:
        recorded, store.recording = store.recording or [], None
    committed: dict[tuple[str, datetime], float] = {}
    for t, readings in recorded:
        for r in readings:
            committed[(r.device_id, r.ts)] = t
    latencies = []
    for i, t_pub in pub.times.items():
        t_commit = committed.get(w.key(i))
        if t_commit is None:
            raise BenchFailure(f"latency: message {i} ({w.key(i)}) was never seen committed")
        latencies.append(t_commit - t_pub)
    latencies.sort()
    return Latency(
        rate,
        len(latencies),
        quantile(latencies, 0.50),
        quantile(latencies, 0.99),
        latencies[-1],
        store.commits - commits,
    )


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of an ascending sequence."""
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


# -- database plumbing ------------------------------------------------------------------------------


def count_readings(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


# -- the run ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    single: Workload
    batched: Workload
    warmup: Workload
    latency_single: Workload  # messages: an upper bound, trimmed to the rate once (a) is measured
    latency_batched: Workload


def plan(args: argparse.Namespace, today: datetime) -> Plan:
    """Each workload gets its own window of days, oldest first, ending two days before today."""
    m = args.meters
    shapes = [
        ("warm-up", 1, m),
        ("(a)", 1, args.single_messages),
        ("(b)", DAY_READINGS, args.batched_messages),
        # upper bounds for the paced phases: 20,000 msg/s resp. 2,000 msg/s of 96 readings
        ("latency (a)", 1, int(20_000 * args.latency_seconds)),
        ("latency (b)", DAY_READINGS, int(2_000 * args.latency_seconds)),
    ]
    total_days = sum(Workload(n, k, c, m, today).days for n, k, c in shapes) + 2
    if total_days > 380:
        raise SystemExit(f"the workloads span {total_days} days, beyond the gateway's 400-day backfill: add --meters")
    start = today - timedelta(days=total_days)
    made = []
    for name, k, count in shapes:
        w = Workload(name, k, count, m, start)
        made.append(w)
        start += timedelta(days=w.days)
    warmup, single, batched, latency_single, latency_batched = made
    return Plan(single, batched, warmup, latency_single, latency_batched)


def clamp(messages: float, planned: int) -> int:
    """At least 1, at most what the workload's window of days was planned for."""
    return max(1, min(planned, int(messages)))


def run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    p = plan(args, today)
    config = GatewayConfig(
        batch_max_readings=args.batch_max_readings,
        batch_max_delay_s=args.batch_max_delay_ms / 1000,
        max_unacked_messages=args.max_unacked,
    )
    store = TimedStore(url, min_size=1, max_size=4)
    broker: subprocess.Popen[bytes] | None = None
    gateway: threading.Thread | None = None
    stop = threading.Event()
    failures: list[BaseException] = []
    try:
        broker, address = start_mosquitto(args.mosquitto, tmp)
        store.upgrade()
        store.add_devices([Device.new(device_id(i), "electricity_meter", f"SN-{i:08d}") for i in range(args.meters)])
        with psycopg.connect(url) as conn:
            server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        log(f"mosquitto on {address}; database {conninfo_to_dict(url).get('dbname')}; {args.meters:,} meters")

        # 1. the ceiling: before the gateway ever connects, so nothing is queued for its session
        subscribe_to = f"$share/{GROUP}-ceiling/{TOPIC_FILTER}" if not args.plain else TOPIC_FILTER
        sub = CeilingSubscriber(address, subscribe_to, args.max_unacked)
        try:
            log(f"ceiling (a): {p.single.messages:,} messages of 1 reading to a subscriber that stores nothing")
            ceiling_single = ceiling_phase(sub, address, p.single, args)
            log(f"ceiling (b): {p.batched.messages:,} messages of {DAY_READINGS} readings")
            ceiling_batched = ceiling_phase(sub, address, p.batched, args)
        finally:
            sub.close()

        # 2. the gateway, in this process
        options = GatewayOptions(
            group=GROUP, shared=not args.plain, client_id=CLIENT_ID, metrics_port=None, config=config
        )

        def serve() -> None:
            try:
                run_gateway(store, address, options, stop)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
                store.fail(repr(exc))
                stop.set()

        gateway = threading.Thread(target=serve, name="gateway", daemon=True)
        gateway.start()
        log(f"warm-up: one message per meter ({p.warmup.messages:,}), not timed")
        gateway_phase(store, address, p.warmup, args)

        log(f"gateway (a): {p.single.messages:,} messages of 1 reading")
        single = gateway_phase(store, address, p.single, args)
        log(f"gateway (b): {p.batched.messages:,} messages of {DAY_READINGS} readings")
        batched = gateway_phase(store, address, p.batched, args)
        expected = p.warmup.readings + p.single.readings + p.batched.readings
        if (stored := count_readings(url)) != expected:
            raise BenchFailure(f"PostgreSQL holds {stored:,} readings, expected {expected:,}")

        # 3. latency at a fraction of the rate reached
        rate_a = args.latency_fraction * single.msgs_per_s
        lat_a_w = replace(p.latency_single, messages=clamp(rate_a * args.latency_seconds, p.latency_single.messages))
        log(f"latency (a): {lat_a_w.messages:,} messages of 1 reading at {rate_a:,.0f} msg/s")
        lat_single = latency_phase(store, address, lat_a_w, rate_a, args)
        rate_b = args.latency_fraction * batched.msgs_per_s
        lat_b_w = replace(p.latency_batched, messages=clamp(rate_b * args.latency_seconds, p.latency_batched.messages))
        log(f"latency (b): {lat_b_w.messages:,} messages of {DAY_READINGS} readings at {rate_b:,.0f} msg/s")
        lat_batched = latency_phase(store, address, lat_b_w, rate_b, args)
        expected += lat_a_w.readings + lat_b_w.readings
        if (stored := count_readings(url)) != expected:
            raise BenchFailure(f"PostgreSQL holds {stored:,} readings, expected {expected:,}")
    finally:
        stop.set()
        if gateway is not None:
            gateway.join(30)
        store.close()
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
    if failures:
        raise BenchFailure(f"the gateway stopped: {failures[0]!r}")
    return {
        "ceiling_single": ceiling_single,
        "ceiling_batched": ceiling_batched,
        "single": single,
        "batched": batched,
        "lat_single": lat_single,
        "lat_batched": lat_batched,
        "server": server,
        "config": config,
        "duplicates": store.duplicates,
    }


# -- report -----------------------------------------------------------------------------------------
def report(raw: dict[str, Any], args: argparse.Namespace, total_s: float) -> dict[str, Any]:
    cs: Figures = raw["ceiling_single"]
    cb: Figures = raw["ceiling_batched"]
    s: Figures = raw["single"]
    b: Figures = raw["batched"]
    ls: Latency = raw["lat_single"]
    lb: Latency = raw["lat_batched"]
    config: GatewayConfig = raw["config"]
    ratio_single = s.msgs_per_s / cs.msgs_per_s
    ratio_batched = b.readings_per_s / cb.readings_per_s
    checks = {
        "batched_readings_per_s": (b.readings_per_s >= TARGET_BATCHED_READINGS, f">= {TARGET_BATCHED_READINGS:,}/s"),
        "single_msgs_per_s": (s.msgs_per_s >= TARGET_SINGLE_MSGS, f">= {TARGET_SINGLE_MSGS:,}/s"),
        "ratio_single_vs_ceiling": (ratio_single >= TARGET_SINGLE_RATIO, f">= {TARGET_SINGLE_RATIO:.0%}"),
        "p99_commit_latency_s": (ls.p99 < TARGET_P99_S, f"< {TARGET_P99_S:g} s"),
        "batched_p99_commit_latency_s": (lb.p99 < TARGET_P99_S, f"< {TARGET_P99_S:g} s"),
    }

    def verdict(key: str) -> str:
        ok, text = checks[key]
        return f"{text}: {'ok' if ok else 'MISSED'}"

    print()
    print(
        f"PostgreSQL {raw['server']}; Mosquitto {args.mosquitto}; {args.meters:,} meters; "
        f"{args.publishers} publisher process(es), {args.inflight:,} in flight each; "
        f"{'plain' if args.plain else 'shared'} subscription; {'quick' if args.quick else 'full'} run"
    )
    print(
        f"gateway: batch_max_readings {config.batch_max_readings:,}, batch_max_delay {args.batch_max_delay_ms:g} ms, "
        f"max_unacked_messages {config.max_unacked_messages:,}"
    )
    print(
        f"{'scenario':<34} {'messages':>9} {'readings':>10} {'seconds':>8} {'msgs/s':>9} {'readings/s':>11} "
        f"{'pub s':>6}  target"
    )
    rows = [
        ("(a) ceiling, 1 reading/msg", cs, ""),
        ("(a) gateway, 1 reading/msg", s, verdict("single_msgs_per_s")),
        ("(b) ceiling, 96 readings/msg", cb, ""),
        ("(b) gateway, 96 readings/msg", b, verdict("batched_readings_per_s")),
    ]
    for label, f, target in rows:
        print(
            f"{label:<34} {f.messages:>9,} {f.readings:>10,} {f.seconds:>8.2f} {f.msgs_per_s:>9,.0f} "
            f"{f.readings_per_s:>11,.0f} {f.publish_seconds:>6.2f}  {target}"
        )
    print()
    print(f"(a) gateway vs ceiling:  {ratio_single:6.1%}   {verdict('ratio_single_vs_ceiling')}")
    print(f"(b) gateway vs ceiling:  {ratio_batched:6.1%}")
    print(
        f"readings per commit:     (a) {s.readings / max(1, s.commits):,.0f},"
        f" (b) {b.readings / max(1, b.commits):,.0f};"
        f" share of the phase spent committing: (a) {s.commit_seconds / s.seconds:.0%},"
        f" (b) {b.commit_seconds / b.seconds:.0%}"
    )
    for label, lat, key in (("(a)", ls, "p99_commit_latency_s"), ("(b)", lb, "batched_p99_commit_latency_s")):
        print(
            f"{label} latency at {lat.rate:,.0f} msg/s ({args.latency_fraction:.0%} of max),"
            f" {lat.messages:,} messages: "
            f"p50 {lat.p50 * 1000:.0f} ms, p99 {lat.p99 * 1000:.0f} ms, max {lat.max * 1000:.0f} ms   {verdict(key)}"
        )
    if raw["duplicates"]:
        print(f"readings redelivered by the broker (stored once, counted once): {raw['duplicates']:,}")
    busy = raw["busy_cores_before"]
    machine = print_machine(busy, total_s)
    return {
        "batched_readings_per_s": round(b.readings_per_s),
        "batched_msgs_per_s": round(b.msgs_per_s),
        "single_msgs_per_s": round(s.msgs_per_s),
        "ceiling_msgs_per_s": round(cs.msgs_per_s),
        "ceiling_batched_msgs_per_s": round(cb.msgs_per_s),
        "ceiling_batched_readings_per_s": round(cb.readings_per_s),
        "ratio_single_vs_ceiling": round(ratio_single, 3),
        "ratio_batched_vs_ceiling": round(ratio_batched, 3),
        "p50_commit_latency_s": round(ls.p50, 4),
        "p99_commit_latency_s": round(ls.p99, 4),
        "max_commit_latency_s": round(ls.max, 4),
        "latency_rate_msgs_per_s": round(ls.rate),
        "batched_p50_commit_latency_s": round(lb.p50, 4),
        "batched_p99_commit_latency_s": round(lb.p99, 4),
        "batched_latency_rate_msgs_per_s": round(lb.rate),
        "single_publish_msgs_per_s": round(s.messages / s.publish_seconds),
        "batched_publish_msgs_per_s": round(b.messages / b.publish_seconds),
        "single_readings_per_commit": round(s.readings / max(1, s.commits)),
        "batched_readings_per_commit": round(b.readings / max(1, b.commits)),
        "single_commit_share": round(s.commit_seconds / s.seconds, 3),
        "batched_commit_share": round(b.commit_seconds / b.seconds, 3),
        "redelivered_readings": raw["duplicates"],
        "targets_met": {k: ok for k, (ok, _) in checks.items()},
        "all_targets_met": all(ok for ok, _ in checks.values()),
        "single_messages": s.messages,
        "batched_messages": b.messages,
        "meters": args.meters,
        "publishers": args.publishers,
        "inflight": args.inflight,
        "shared": not args.plain,
        "batch_max_readings": config.batch_max_readings,
        "batch_max_delay_ms": args.batch_max_delay_ms,
        "max_unacked_messages": config.max_unacked_messages,
        "quick": args.quick,
        **machine,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_pg_url(parser)
    add_mosquitto(parser)
    parser.add_argument("--quick", action="store_true", help="fewer messages and shorter latency phases (< 60 s)")
    parser.add_argument("--single-messages", type=int, help="messages of 1 reading (default 120,000; quick 40,000)")
    parser.add_argument("--batched-messages", type=int, help="messages of 96 readings (default 30,000; quick 6,000)")
    parser.add_argument("--latency-seconds", type=float, help="length of each paced phase (default 15; quick 5)")
    parser.add_argument("--latency-fraction", type=float, default=0.5, help="paced rate / rate reached (0.5)")
    parser.add_argument("--meters", type=int, default=1_000, help="provisioned meters publishing (1,000)")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes (1)")
    parser.add_argument("--inflight", type=int, default=1_000, help="unacknowledged messages per publisher (1,000)")
    parser.add_argument("--plain", action="store_true", help="plain subscription instead of $share/<group>/...")
    parser.add_argument(
        "--batch-max-readings", type=int, default=10_000, help="GatewayConfig.batch_max_readings (%(default)s)"
    )
    parser.add_argument(
        "--batch-max-delay-ms", type=float, default=200.0, help="GatewayConfig.batch_max_delay_s in ms (%(default)s)"
    )
    parser.add_argument(
        "--max-unacked", type=int, default=5_000, help="GatewayConfig.max_unacked_messages (%(default)s)"
    )
    args = parser.parse_args(argv)
    args.single_messages = args.single_messages or (40_000 if args.quick else 120_000)
    args.batched_messages = args.batched_messages or (6_000 if args.quick else 30_000)
    args.latency_seconds = args.latency_seconds or (5.0 if args.quick else 15.0)
    if min(args.single_messages, args.batched_messages, args.meters, args.publishers) < 1:
        parser.error("message counts, --meters and --publishers must be at least 1")
    if not 1 <= args.inflight <= 60_000 or not 1 <= args.max_unacked <= 65_535:
        parser.error("--inflight must be 1 to 60,000 (message ids wrap at 65,535), --max-unacked 1 to 65,535")
    if not 0 < args.latency_fraction <= 1 or args.latency_seconds <= 0:
        parser.error("--latency-fraction must be in (0, 1], --latency-seconds above 0")
    if not os.access(args.mosquitto, os.X_OK):
        parser.error(f"no mosquitto binary at {args.mosquitto} (--mosquitto)")

    t_start = time.perf_counter()
    background = busy_cores()
    if background is not None:
        log(f"{os.cpu_count()} cores; {background:.2f} busy before the run")
        if background > 0.25:
            log(f"WARNING: something else keeps {background:.2f} cores busy: the figures will be low")

    def measure(url: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="mb-ingest-bench-") as tmp:
            return {**run(args, url, Path(tmp)), "busy_cores_before": background}

    return measure_and_report(args.pg_url, measure, lambda raw, total_s: report(raw, args, total_s), t_start=t_start)


if __name__ == "__main__":
    sys.exit(main())
