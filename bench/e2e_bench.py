"""End to end at fleet scale: simulated meters -> Mosquitto -> ``meterbill gateway run`` -> PostgreSQL.

Run from the repository root::

    python bench/e2e_bench.py            # 10,000 meters, 30 s warm-up + 3 minutes measured
    python bench/e2e_bench.py --quick    # 22 s warm-up + 20 s measured, under a minute in all

Everything runs on loopback and stops by itself:

* a private Mosquitto on a free port (``bench/ingest_bench.py``'s ``start_mosquitto``: persistence off,
  queues big enough that QoS 1 messages are never dropped), or the broker named by ``--mqtt-url`` /
  ``$MB_MQTT_URL``;
* a throw-away database ``mb_bench_<hex>`` on ``--pg-url`` (``bench/_pg.py``), migrated, holding the
  fleet's meters, dropped at the end whatever happens;
* the real gateway, ``python -m meterbill gateway run``, in a process of its own (configured by ``MB_*``
  variables only, as in production), so that its resident memory is its own; its Prometheus endpoint
  (a free port) gives the readings it committed;
* ``--meters`` simulated electricity meters (``simulators.MeterFleet``: residential and small-business
  load shapes, a quarter with solar export, so 1 or 2 readings a message), each sending its 15-minute
  reading as the interval closes, at QoS 1, through ``simulators.Publisher`` with an accelerated clock:
  ``--speed`` simulated seconds per wall second. Like real meters, all of them report within the minute
  after each quarter hour, so the load comes in bursts of ``--meters`` messages every ``900 / speed``
  wall seconds.

Figures, over the measured window that follows ``--warmup`` (the warm-up activates every meter, fills
the registry cache and lets the gateway's memory settle: with 10,000 meters its RSS climbs for about
20 s, from ~110 to ~130 MiB, then stays flat; a shorter warm-up reports that climb as growth):

* offered and committed readings/s (committed: the gateway's ``meterbill_gateway_readings_inserted``
  counter, read from its metrics endpoint at both ends of the window);
* broker-to-commit lag: every ``--sample-every``-th message's publish time (noted by the publisher just
  before it hands the message to the client) against the moment its reading became visible in
  PostgreSQL, polled every ``--poll-ms`` by primary key: p50, p99, max; the polling adds up to one
  poll interval (the figures are upper bounds);
* the gateway's resident set size (RSS, psutil) at the end of the warm-up and at the end of the window,
  its growth (target: under 10%) and its peak.

When the window ends the publisher stops, the gateway commits what it was sent (the run fails, exit 1, if
a reading is lost or a message dead-lettered), and the last line of stdout is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
from _report import BenchFailure, add_pg_url, log, measure_and_report, print_machine  # bench/: on sys.path
from ingest_bench import add_mosquitto, busy_cores, free_port, start_mosquitto
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
try:
    from gateway.mqtt import BrokerAddress
    from simulators import MeterFleet, MeterFleetConfig, Outgoing, Publisher, PublishProgress
    from store.postgres import PostgresStore
except ImportError:  # not pip-installed: run from a checkout
    sys.path.insert(0, str(ROOT))
    from gateway.mqtt import BrokerAddress
    from simulators import MeterFleet, MeterFleetConfig, Outgoing, Publisher, PublishProgress
    from store.postgres import PostgresStore

GROUP = "bench-e2e"
CLIENT_ID = "meterbill-e2e-bench-gw"
TARGET_RSS_GROWTH = 0.10
_TS = re.compile(rb'"ts":"([^"]+)"')
_REGISTER = re.compile(rb'"register":"([^"]+)"')


# -- the gateway process ----------------------------------------------------------------------------
def store_url(conninfo: str) -> str:
    """A ``postgresql://`` URL (what ``MB_STORE_URL`` takes) for a conninfo string."""
    p = conninfo_to_dict(conninfo)
    auth = quote(str(p.get("user", "postgres")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{quote(str(p['dbname']), safe='')}"


class GatewayProcess:
    """``python -m meterbill gateway run`` with its own MB_* environment and metrics port."""

    def __init__(self, url: str, broker: BrokerAddress, args: argparse.Namespace, log_path: Path) -> None:
        self.metrics_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
        env.update(
            MB_STORE_URL=url,
            MB_MQTT_URL=broker.url,
            MB_GATEWAY_GROUP=GROUP,
            MB_GATEWAY_CLIENT_ID=CLIENT_ID,
            MB_GATEWAY_SHARED="true",
            MB_GATEWAY_METRICS_PORT=str(self.metrics_port),
            MB_GATEWAY_METRICS_HOST="127.0.0.1",
            MB_GATEWAY_BATCH_MAX_READINGS=str(args.batch_max_readings),
            MB_GATEWAY_BATCH_MAX_DELAY_MS=str(args.batch_max_delay_ms),
            MB_GATEWAY_RECEIVE_MAXIMUM=str(args.max_unacked),
            MB_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meterbill", "gateway", "run"],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.proc.pid)
        self.log_path = log_path

    def metrics(self) -> dict[str, float]:
        """The gateway's counters and gauges (sample name -> value), label-free samples only."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        rejected = sum(
            float(line.rpartition(" ")[2])
            for line in text.splitlines()
            if line.startswith("meterbill_gateway_messages_rejected_total{")
        )
        out["meterbill_gateway_messages_rejected_total"] = rejected
        return out

    def inserted(self) -> int:
        return int(self.metrics().get("meterbill_gateway_readings_inserted_total", 0))

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def wait_up(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self.metrics().get("meterbill_gateway_broker_connected") == 1.0:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchFailure(f"the gateway did not connect within {timeout_s:g} s; see {self.log_path}")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchFailure(f"the gateway exited with status {self.proc.returncode}: {tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# -- latency samples --------------------------------------------------------------------------------
@dataclass
class Sampler:
    """Every ``every``-th message published while ``on``: its reading's key and its publish time; a poller
    thread notes when each key became visible in PostgreSQL."""

    url: str
    every: int
    poll_s: float
    on: bool = False
    seen: int = 0
    pending: list[tuple[str, str, str, float]] = field(default_factory=list)  # device, register, ts, sent
    lags: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def on_sent(self, message: Outgoing, sent_at: float) -> None:
        self.seen += 1
        if not self.on or self.seen % self.every:
            return
        ts, register = _TS.search(message.payload), _REGISTER.search(message.payload)
        if ts is not None and register is not None:
            with self.lock:
                self.pending.append((message.device_id, register[1].decode(), ts[1].decode(), sent_at))

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.poll_s):
                with self.lock:
                    batch = self.pending[:5000]
                if not batch:
                    continue
                polled_at = time.time()
                rows = conn.execute(
                    "SELECT r.device_id, r.register, r.ts FROM readings r"
                    " JOIN unnest(%s::text[], %s::text[], %s::timestamptz[]) AS k(d, g, t)"
                    " ON r.device_id = k.d AND r.register = k.g AND r.ts = k.t",
                    ([b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch]),
                ).fetchall()
                found = {(d, g, t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")) for d, g, t in rows}
                done = [b for b in batch if (b[0], b[1], b[2]) in found]
                with self.lock:
                    self.lags.extend(polled_at - b[3] for b in done)
                    keep = set(map(id, done))
                    self.pending = [b for b in self.pending if id(b) not in keep]

    def unresolved(self) -> int:
        with self.lock:
            return len(self.pending)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- the run ----------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    t: float
    inserted: int
    published: int
    records: int
    rss: int


def run(args: argparse.Namespace, conninfo: str, tmp: Path) -> dict[str, Any]:
    """Set up the database, the broker and the gateway; measure; tear everything down."""
    url = store_url(conninfo)
    wall_s = args.warmup + args.duration + 30  # the simulated period outlasts the run
    sim_days = math.ceil(args.speed * wall_s / 86_400) + 1
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=sim_days + 1)
    fleet = MeterFleet(
        MeterFleetConfig(
            args.meters, start, timedelta(days=sim_days), kind="electricity", upload="interval", seed=args.seed
        )
    )
    store = PostgresStore(url, min_size=1, max_size=2)
    try:
        store.upgrade()
        store.add_devices(fleet.devices())
    finally:
        store.close()
    with psycopg.connect(conninfo) as conn:
        server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]

    broker_proc: subprocess.Popen[bytes] | None = None
    gateway: GatewayProcess | None = None
    sampler = Sampler(conninfo, args.sample_every, args.poll_ms / 1000)
    poller = threading.Thread(target=sampler.run, name="lag-poller", daemon=True)
    try:
        if args.mqtt_url:
            address = BrokerAddress.parse(args.mqtt_url)
        else:
            broker_proc, address = start_mosquitto(args.mosquitto, tmp)
        log(f"broker {address}; database {conninfo_to_dict(conninfo).get('dbname')}; {args.meters:,} meters")
        gateway = GatewayProcess(url, address, args, tmp / "gateway.log")
        gateway.wait_up(60)
        probe(address, fleet, gateway)
        rss_idle = gateway.rss()
        poller.start()
        raw = measure(args, address, fleet, gateway, sampler)
        if (stored := count_readings(conninfo)) != raw["sent_records"]:
            raise BenchFailure(f"PostgreSQL holds {stored:,} readings; the meters sent {raw['sent_records']:,}")
    finally:
        sampler.stop.set()
        if poller.is_alive():
            poller.join(10)
        if gateway is not None:
            gateway.stop()
        if broker_proc is not None:
            broker_proc.terminate()
            try:
                broker_proc.wait(10)
            except subprocess.TimeoutExpired:
                broker_proc.kill()
                broker_proc.wait()
    return {**raw, "server": server, "rss_idle": rss_idle, "sim_start": start}


def measure(
    args: argparse.Namespace, address: BrokerAddress, fleet: MeterFleet, gateway: GatewayProcess, sampler: Sampler
) -> dict[str, Any]:
    """Publish the fleet at its accelerated pace: warm up, measure a window, stop, let the gateway drain."""
    progress: list[PublishProgress] = []
    rss_warmup: list[tuple[float, int]] = []
    rss_window: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    publisher = Publisher(
        address,
        speed=args.speed,
        max_inflight=args.max_inflight,
        client_id="meterbill-e2e-bench-pub",
        on_progress=progress.append,
        on_sent=sampler.on_sent,
        progress_every_s=0.5,
    )

    def publish() -> None:
        try:
            publisher.run(fleet.messages())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=publish, name="publisher", daemon=True)
    t0 = time.time()
    thread.start()
    try:
        log(f"warm-up: {args.warmup:g} s at {args.speed:g}x (a quarter hour every {900 / args.speed:.2f} s)")
        watch(gateway, t0 + args.warmup, errors, rss_warmup)
        begin = snapshot(gateway, progress)
        sampler.on = True
        log(f"measuring: {args.duration:g} s; gateway RSS {begin.rss / 2**20:.1f} MiB")
        watch(gateway, begin.t + args.duration, errors, rss_window)
        end = snapshot(gateway, progress)
        sampler.on = False
    finally:
        publisher.stop()
        thread.join(60)
    if errors:
        raise BenchFailure(f"the publisher failed: {errors[0]!r}")
    sent = progress[-1].records if progress else 0
    log(f"draining: the gateway commits the last of {sent:,} readings sent")
    drained = drain(gateway, sent, args.drain_timeout)
    rss_drained = gateway.rss()
    deadline = time.monotonic() + 10
    while sampler.unresolved() and time.monotonic() < deadline:
        time.sleep(0.1)
    metrics = gateway.metrics()
    rejected = int(metrics.get("meterbill_gateway_messages_rejected_total", 0))
    if rejected:
        raise BenchFailure(f"the gateway dead-lettered {rejected} simulated messages")
    return {
        "begin": begin,
        "end": end,
        "rss_peak": max(r for _, r in [*rss_warmup, *rss_window, (0.0, end.rss)]),
        "rss_window": rss_window,
        "rss_drained": rss_drained,
        "drain_s": drained,
        "sent_records": sent,
        "lags": list(sampler.lags),
        "unresolved": sampler.unresolved(),
        "duplicates": int(metrics.get("meterbill_gateway_readings_duplicate_total", 0)),
    }


def probe(address: BrokerAddress, fleet: MeterFleet, gateway: GatewayProcess) -> None:
    """Publish the first meter's first message until the gateway commits it: its subscription is live."""
    first = next(fleet.messages_of(fleet.specs[0]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        Publisher(address, client_id="meterbill-e2e-bench-probe").run([first])
        until = time.monotonic() + 2
        while time.monotonic() < until:
            if gateway.inserted() > 0:
                return
            time.sleep(0.1)
        gateway.check_alive()
    raise BenchFailure("the gateway committed nothing of a probe message in 60 s")


def watch(gateway: GatewayProcess, until: float, errors: list[BaseException], rss: list[tuple[float, int]]) -> None:
    """Sleep until ``until`` [epoch s], checking the gateway and the publisher, noting its RSS each second."""
    while (left := until - time.time()) > 0:
        time.sleep(min(1.0, left))
        gateway.check_alive()
        if errors:
            raise BenchFailure(f"the publisher failed: {errors[0]!r}")
        rss.append((time.time(), gateway.rss()))


def snapshot(gateway: GatewayProcess, progress: list[PublishProgress]) -> Snapshot:
    last = progress[-1] if progress else None
    published = last.published if last else 0
    records = last.records if last else 0
    return Snapshot(time.time(), gateway.inserted(), published, records, gateway.rss())


def drain(gateway: GatewayProcess, sent: int, timeout_s: float) -> float:
    """Wait until the gateway committed every reading sent (each has a key of its own); seconds it took.

    The probe's readings are the fleet's first ones again: committed once, they count once.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while (done := gateway.inserted()) < sent:
        if time.monotonic() > deadline:
            raise BenchFailure(f"the gateway committed {done:,} of {sent:,} readings {timeout_s:g} s after the end")
        gateway.check_alive()
        time.sleep(0.2)
    return time.monotonic() - t0


def count_readings(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])  # type: ignore[index]


# -- report -----------------------------------------------------------------------------------------
def report(raw: dict[str, Any], args: argparse.Namespace, total_s: float) -> dict[str, Any]:
    b: Snapshot = raw["begin"]
    e: Snapshot = raw["end"]
    window = e.t - b.t
    committed = (e.inserted - b.inserted) / window
    offered = (e.records - b.records) / window
    offered_msgs = (e.published - b.published) / window
    lags: list[float] = raw["lags"]
    p50, p99, worst = percentile(lags, 0.50), percentile(lags, 0.99), max(lags, default=math.nan)
    growth = (e.rss - b.rss) / b.rss
    ok_rss = growth < TARGET_RSS_GROWTH
    print()
    print(
        f"PostgreSQL {raw['server']}; {'broker ' + args.mqtt_url if args.mqtt_url else 'private Mosquitto'}; "
        f"{args.meters:,} meters, 15-minute readings sent as each interval closes, clock x{args.speed:g} "
        f"(a quarter hour every {900 / args.speed:.2f} s); {'quick' if args.quick else 'full'} run"
    )
    print(
        f"gateway: its own process (meterbill gateway run); batch_max_readings {args.batch_max_readings:,}, "
        f"batch_max_delay {args.batch_max_delay_ms} ms, receive maximum {args.max_unacked:,}"
    )
    print(f"measured window: {window:.1f} s after {args.warmup:g} s of warm-up")
    print(f"  offered:    {offered:>10,.0f} readings/s  ({offered_msgs:,.0f} messages/s)")
    print(f"  committed:  {committed:>10,.0f} readings/s  (sustained, gateway counter)")
    print(
        f"  broker-to-commit lag ({len(lags):,} samples, 1 message in {args.sample_every}, polled every "
        f"{args.poll_ms:g} ms): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms"
        + (f"; {raw['unresolved']} never seen" if raw["unresolved"] else "")
    )
    print(
        f"  gateway RSS: idle {raw['rss_idle'] / 2**20:.1f} MiB, after warm-up {b.rss / 2**20:.1f} MiB, "
        f"end {e.rss / 2**20:.1f} MiB ({growth:+.1%}; target < {TARGET_RSS_GROWTH:.0%}: "
        f"{'ok' if ok_rss else 'MISSED'}), peak {raw['rss_peak'] / 2**20:.1f} MiB, "
        f"after draining {raw['rss_drained'] / 2**20:.1f} MiB"
    )
    window_rss: list[tuple[float, int]] = raw["rss_window"]
    if window_rss:
        fifths = [window_rss[min(len(window_rss) - 1, k * len(window_rss) // 5)] for k in range(1, 5)]
        trend = ", ".join(f"{t - b.t:.0f} s {r / 2**20:.1f}" for t, r in [*fifths, (e.t, e.rss)])
        print(f"  gateway RSS through the window [MiB]: 0 s {b.rss / 2**20:.1f}, {trend}")
    print(f"  drain after the window: {raw['drain_s']:.1f} s for {raw['sent_records']:,} readings sent in all")
    if raw["duplicates"]:
        print(f"  readings received again (the probe's, broker redeliveries), stored once: {raw['duplicates']:,}")
    busy = raw["busy_cores_before"]
    machine = print_machine(busy, total_s)
    return {
        "committed_readings_per_s": round(committed),
        "offered_readings_per_s": round(offered),
        "offered_msgs_per_s": round(offered_msgs),
        "p50_lag_s": round(p50, 4),
        "p99_lag_s": round(p99, 4),
        "max_lag_s": round(worst, 4),
        "lag_samples": len(lags),
        "lag_unresolved": raw["unresolved"],
        "rss_start_mib": round(b.rss / 2**20, 1),
        "rss_end_mib": round(e.rss / 2**20, 1),
        "rss_growth": round(growth, 4),
        "rss_growth_ok": ok_rss,
        "rss_peak_mib": round(raw["rss_peak"] / 2**20, 1),
        "rss_idle_mib": round(raw["rss_idle"] / 2**20, 1),
        "window_s": round(window, 1),
        "warmup_s": args.warmup,
        "drain_s": round(raw["drain_s"], 1),
        "readings_sent": raw["sent_records"],
        "redelivered_readings": raw["duplicates"],
        "meters": args.meters,
        "speed": args.speed,
        "quick": args.quick,
        **machine,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_pg_url(parser)
    add_mosquitto(parser)
    parser.add_argument(
        "--mqtt-url", default=os.environ.get("MB_MQTT_URL"), help="use this broker instead (default: $MB_MQTT_URL)"
    )
    parser.add_argument("--quick", action="store_true", help="22 s warm-up and 20 s measured (under a minute)")
    parser.add_argument("--meters", type=int, default=10_000, help="simulated electricity meters (%(default)s)")
    parser.add_argument("--duration", type=float, help="measured seconds after the warm-up (default 180; quick 20)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default 30; quick 22)")
    parser.add_argument(
        "--speed", type=float, default=300.0, help="simulated seconds per wall second (%(default)s: 15 min every 3 s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="the fleet's seed (%(default)s)")
    parser.add_argument("--sample-every", type=int, default=50, help="lag of 1 message in N (%(default)s)")
    parser.add_argument("--poll-ms", type=float, default=50.0, help="lag poll interval (%(default)s ms)")
    parser.add_argument("--max-inflight", type=int, default=1000, help="publisher's unacknowledged messages")
    parser.add_argument("--batch-max-readings", type=int, default=10_000, help="MB_GATEWAY_BATCH_MAX_READINGS")
    parser.add_argument("--batch-max-delay-ms", type=int, default=200, help="MB_GATEWAY_BATCH_MAX_DELAY_MS")
    parser.add_argument("--max-unacked", type=int, default=5_000, help="MB_GATEWAY_RECEIVE_MAXIMUM")
    parser.add_argument("--drain-timeout", type=float, default=90.0, help="seconds to commit the rest at the end")
    args = parser.parse_args(argv)
    args.duration = args.duration if args.duration is not None else (20.0 if args.quick else 180.0)
    args.warmup = args.warmup if args.warmup is not None else (22.0 if args.quick else 30.0)
    if args.meters < 1 or args.duration <= 0 or args.warmup <= 0 or args.speed <= 0 or args.sample_every < 1:
        parser.error("--meters, --duration, --warmup, --speed and --sample-every must be positive")
    if not args.mqtt_url and not os.access(args.mosquitto, os.X_OK):
        parser.error(f"no mosquitto binary at {args.mosquitto} (--mosquitto), and no --mqtt-url")

    t_start = time.perf_counter()
    background = busy_cores()
    if background is not None:
        log(f"{os.cpu_count()} cores; {background:.2f} busy before the run")

    def measure(url: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="mb-e2e-bench-") as tmp:
            return {**run(args, url, Path(tmp)), "busy_cores_before": background}

    return measure_and_report(args.pg_url, measure, lambda raw, total_s: report(raw, args, total_s), t_start=t_start)


if __name__ == "__main__":
    sys.exit(main())
