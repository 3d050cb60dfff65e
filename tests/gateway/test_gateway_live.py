"""The gateway end to end on the real Mosquitto and both stores, run in this process.

``gateway.runner.run_gateway`` runs in a thread against a real mosquitto with a group, devices and
client ids of each test alone; a paho publisher sends QoS 1 messages; the test polls the store until
what it expects is there (or a deadline passes). The broker is a mosquitto of this module, not the
shared one: the gateway subscribes to every ``meters/+/readings``, so on a shared broker another
run's simulator or benchmark would flood it and make these tests slow and flaky.

Covered: duplicates stored once, reordering, garbage, wrong units, a device speaking for another,
future timestamps, suspended and unknown devices, conflicts, review flags, activation, trips, a
stopped gateway resuming its session, two gateways splitting one shared subscription, and the
client-id claim that keeps two processes from sharing one id.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from devices.model import Device
from gateway.errors import BrokerError
from gateway.mqtt import BrokerAddress
from gateway.runner import LEASE, ClientIdTaken, claim_client_id, run_gateway
from gateway.subscriber import Delivery, Subscriber
from store.contract import GatewayInstance, Store
from store.postgres import PostgresStore
from store.sqlite import SQLiteStore
from tests.gateway.support import (
    Publisher,
    gateway_options,
    gateways,
    native_payload,
    private_mosquitto,
    purge_session,
    unique,
    wait_for,
    wait_subscribed,
)

pytestmark = pytest.mark.mqtt

WAIT_S = 30.0  # the most any one expectation may take to come true


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerAddress]:
    """A mosquitto of this module alone (see the module docstring)."""
    with private_mosquitto(Path(tmp_path_factory.mktemp("broker")), "max_queued_messages 100000") as address:
        yield address


def _readings_of(store: Store, *device_ids: str) -> list[tuple[str, datetime, float, str]]:
    return [(r.device_id, r.ts, r.value, r.unit) for r in store.readings(device_ids=list(device_ids))]


def _letters_of(store: Store, *device_ids: str) -> dict[tuple[str, str], int]:
    """(device, reason) -> occurrences, over the dead letters of these devices."""
    found: dict[tuple[str, str], int] = {}
    for device_id in device_ids:
        for letter in store.dead_letters(device_id=device_id, limit=1000):
            key = (device_id, letter.reason)
            found[key] = found.get(key, 0) + letter.occurrences
    return found


def test_each_message_ends_where_it_should(store: Store, broker: BrokerAddress) -> None:
    """Duplicates and reordering stored once and right; each bad message dead-lettered with its reason."""
    run = unique("live")
    meter, other, capped, idle = (f"{run}-m{i}" for i in range(4))
    suspended, vehicle, unknown = f"{run}-sus", f"{run}-v", f"{run}-nobody"
    store.add_devices(
        [
            Device.new(meter, "electricity_meter", "S1"),  # provisioned: its first message activates it
            Device.new(other, "electricity_meter", "S2", status="active"),
            Device.new(capped, "electricity_meter", "S3", status="active", max_power_kw=4.0),  # <= 1 kWh / 15 min
            Device.new(idle, "electricity_meter", "S4"),
            Device.new(suspended, "electricity_meter", "S5", status="suspended"),
            Device.new(vehicle, "vehicle", "V1", status="active"),
        ]
    )
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    q = timedelta(minutes=15)
    series = [(t0 + i * q, 0.25 * (i + 1)) for i in range(12)]  # 12 quarter hours of `meter`
    chunks = [series[i : i + 3] for i in range(0, 12, 3)]

    with gateways(store, broker, gateway_options(run)):
        wait_subscribed(store, broker)
        pub = Publisher(broker)
        try:
            # Reordered: newest message first, and readings inside a message newest first.
            for seq, chunk in reversed(list(enumerate(chunks))):
                payload = native_payload(meter, list(reversed(chunk)), seq=seq)
                pub.publish(f"meters/{meter}/readings", payload)
                pub.publish(f"meters/{meter}/readings", payload)  # the same message twice (a redelivery)
            # the same readings again in another message, one of them in Wh: still the same readings
            again = [(series[0][0], series[0][1] * 1000), (series[5][0], series[5][1] * 1000)]
            pub.publish(f"meters/{meter}/readings", native_payload(meter, again, seq=99, unit="Wh"))
            # refused, each with its reason
            bad = {
                "not_utf8": b"\xff\xfe\x00garbage\x81",
                "malformed_json": b'{"device": "' + other.encode() + b'", "readings": [',
                "wrong_register_unit": native_payload(other, [(t0, 1.0)], unit="m^3"),
                "wrong_dimension": native_payload(other, [(t0, 1.0)], unit="kg"),
                "unknown_unit": native_payload(other, [(t0, 1.0)], unit="parsecs_per_bushel"),
                "device_mismatch": native_payload(other, [(t0, 1.0)], device=meter),
                "future_timestamp": native_payload(other, [(datetime.now(UTC) + timedelta(hours=1), 1.0)]),
                "too_old": native_payload(other, [(datetime.now(UTC) - timedelta(days=401), 1.0)]),
            }
            for payload in bad.values():
                pub.publish(f"meters/{other}/readings", payload)
            pub.publish(f"meters/{suspended}/readings", native_payload(suspended, [(t0, 1.0)]))
            pub.publish(f"meters/{unknown}/readings", native_payload(unknown, [(t0, 1.0)]))
            # an implausible value: stored and flagged
            pub.publish(f"meters/{capped}/readings", native_payload(capped, [(t0, 0.5), (t0 + q, 7.5)]))
            # a trip, twice; a status message: acknowledged, nothing stored
            trip = (
                f'{{"device": "{vehicle}", "trip": "t-1", "start": "{t0.isoformat()}",'
                f' "end": "{(t0 + q).isoformat()}", "distance": {{"value": 5, "unit": "mi"}},'
                f' "events": [{{"ts": "{(t0 + q / 3).isoformat()}", "type": "speeding"}}]}}'
            ).encode()
            pub.publish(f"vehicles/{vehicle}/trips", trip)
            pub.publish(f"vehicles/{vehicle}/trips", trip)
            pub.publish(f"devices/{idle}/status", b"online")
            # the other meter's first reading, then the same key with another value: a conflict
            pub.publish(f"meters/{other}/readings", native_payload(other, [(t0, 3.0)]))
            pub.wait_acked()
            wait_for(lambda: _readings_of(store, other), timeout_s=WAIT_S, what="the other meter's first reading")
            pub.publish(f"meters/{other}/readings", native_payload(other, [(t0, 4.0)], seq=1))
            # a last message: once it is stored, everything published before it was handled
            pub.publish(f"meters/{other}/readings", native_payload(other, [(t0 + q, 1.0)], seq=2))
            pub.wait_acked()
            wait_for(lambda: len(_readings_of(store, other)) == 2, timeout_s=WAIT_S, what="the last message")
        finally:
            pub.close()

    assert _readings_of(store, meter) == [(meter, ts, value, "kWh") for ts, value in series]
    assert _readings_of(store, other) == [(other, t0, 3.0, "kWh"), (other, t0 + q, 1.0, "kWh")]
    assert _readings_of(store, capped) == [(capped, t0, 0.5, "kWh"), (capped, t0 + q, 7.5, "kWh")]
    reviews = [(r.device_id, r.ts, r.reason) for r in store.reviews(limit=1000) if r.device_id == capped]
    assert reviews == [(capped, t0 + q, "implausible_value")]
    conflicts = [(c.device_id, c.ts, c.stored_value, c.offered_value) for c in store.conflicts(limit=1000)]
    assert [c for c in conflicts if c[0] == other] == [(other, t0, 3.0, 4.0)]

    letters = _letters_of(store, meter, other, capped, idle, suspended, vehicle, unknown)
    assert letters == {
        **{(other, reason): 1 for reason in bad},
        (suspended, "device_suspended"): 1,
        (unknown, "unknown_device"): 1,
    }
    (garbage,) = [d for d in store.dead_letters(device_id=other, limit=100) if d.reason == "not_utf8"]
    assert (garbage.topic, garbage.payload) == (f"meters/{other}/readings", bad["not_utf8"])

    (trip_stored,) = store.trips(device_ids=[vehicle])
    assert trip_stored.trip_id == "t-1"
    assert trip_stored.distance_km == pytest.approx(8.04672)
    assert [e.type for e in store.events(device_ids=[vehicle])] == ["speeding"]

    device = store.device(meter)
    assert device is not None and device.status == "active" and device.activated_at is not None
    idle_device = store.device(idle)
    assert idle_device is not None and idle_device.status == "provisioned"  # a status message activates nothing

    (instance,) = store.gateway_instances()
    assert instance.pid == 0  # released on a clean stop
    assert instance.counters["duplicates"] >= 12 + 2  # four messages twice, two readings a third time
    assert instance.counters["conflicts"] == 1


def test_a_stopped_gateway_resumes_its_session(store: Store, broker: BrokerAddress) -> None:
    """What is published while the gateway is down waits in its persistent session for the same client id."""
    run = unique("resume")
    meter = f"{run}-m"
    store.add_devices([Device.new(meter, "electricity_meter", "S1", status="active")])
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    series = [(t0 + timedelta(minutes=15 * i), float(i)) for i in range(40)]
    options = gateway_options(run)
    try:
        with gateways(store, broker, options) as (gw,):
            wait_subscribed(store, broker)
            pub = Publisher(broker)
            try:
                for i in range(20):
                    pub.publish(f"meters/{meter}/readings", native_payload(meter, [series[i]], seq=i))
                pub.wait_acked()
                wait_for(lambda: len(_readings_of(store, meter)) == 20, timeout_s=WAIT_S, what="20 readings")
                gw.stop()  # clean stop: the session stays with the broker
                (instance,) = store.gateway_instances()
                client_id = instance.client_id
                for i in range(20, 40):
                    pub.publish(f"meters/{meter}/readings", native_payload(meter, [series[i]], seq=i))
                pub.wait_acked()  # the broker took them (no PUBACK 16): they wait in the session
            finally:
                pub.close()
            # The same group again takes the slot it released, so the same client id and session.
            with gateways(store, broker, options):
                wait_for(lambda: len(_readings_of(store, meter)) == 40, timeout_s=WAIT_S, what="40 readings")
                assert [i.client_id for i in store.gateway_instances()] == [client_id]
    finally:
        for instance in store.gateway_instances():
            purge_session(broker, instance.client_id)
    assert _readings_of(store, meter) == [(meter, ts, v, "kWh") for ts, v in series]


def test_two_gateways_split_one_shared_subscription(store: Store, broker: BrokerAddress) -> None:
    run = unique("share")
    devices = [f"{run}-m{i}" for i in range(20)]
    store.add_devices([Device.new(d, "electricity_meter", d, status="active") for d in devices])
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    n_messages, per_message = 400, 3
    options = gateway_options(run, heartbeat_s=0.1)
    with gateways(store, broker, options, options):
        # both connected (their heartbeats say so) and at least one receiving
        wait_for(
            lambda: [i.connected for i in store.gateway_instances()] == [True, True],
            timeout_s=WAIT_S,
            what="both gateways connected",
        )
        wait_subscribed(store, broker)
        pub = Publisher(broker)
        try:
            for m in range(n_messages):
                device = devices[m % len(devices)]
                start = t0 + timedelta(minutes=15 * per_message * (m // len(devices)))
                rows = [(start + timedelta(minutes=15 * k), float(m * per_message + k)) for k in range(per_message)]
                pub.publish(f"meters/{device}/readings", native_payload(device, rows, seq=m))
            pub.wait_acked()
        finally:
            pub.close()
        expected = n_messages * per_message
        wait_for(
            lambda: len(store.readings(device_ids=devices)) == expected, timeout_s=WAIT_S, what=f"{expected} readings"
        )
    instances = store.gateway_instances()
    assert sorted(i.client_id for i in instances) == [f"meterbill-{run}-0", f"meterbill-{run}-1"]
    shares = [i.counters["readings_inserted"] for i in instances]
    assert all(share > 0 for share in shares), shares  # the load was split
    assert sum(shares) == expected  # and nothing was stored twice
    values = sorted(r.value for r in store.readings(device_ids=devices))
    assert values == [float(v) for v in range(expected)]


# --- client ids ----------------------------------------------------------------------------------


def _instance(client_id: str, *, host: str, pid: int, seen: datetime) -> GatewayInstance:
    return GatewayInstance(client_id, host, pid, seen, seen, True, {})


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claimed_client_ids_are_distinct_and_explicit_ones_exclusive(store: Store) -> None:
    group = unique("claim")
    first = claim_client_id(store, group=group, explicit=None)
    second = claim_client_id(store, group=group, explicit=None)
    assert (first, second) == (f"meterbill-{group}-0", f"meterbill-{group}-1")

    # An explicit id held by a live process (this one) is refused, whatever the group.
    explicit = unique("gw")
    assert claim_client_id(store, group=group, explicit=explicit) == explicit
    with pytest.raises(ClientIdTaken, match="held by a live gateway"):
        claim_client_id(store, group="another", explicit=explicit)
    # ... and so is one held by a gateway on another host that reported within the lease
    now = datetime.now(UTC)
    remote = unique("gw")
    store.record_gateway(_instance(remote, host="elsewhere", pid=1, seen=now - LEASE / 2))
    with pytest.raises(ClientIdTaken):
        claim_client_id(store, group=group, explicit=remote)


def test_a_stale_client_id_is_taken_over(store: Store) -> None:
    now = datetime.now(UTC)
    here = socket.gethostname()
    dead = unique("gw-dead")  # its process died here: taken at once
    store.record_gateway(_instance(dead, host=here, pid=_dead_pid(), seen=now))
    silent = unique("gw-silent")  # another host that stopped reporting: taken after the lease
    store.record_gateway(_instance(silent, host="elsewhere", pid=1, seen=now - LEASE - timedelta(seconds=1)))
    released = unique("gw-released")  # stopped cleanly (pid 0)
    store.record_gateway(_instance(released, host="elsewhere", pid=0, seen=now))
    for client_id in (dead, silent, released):
        assert claim_client_id(store, group="g", explicit=client_id) == client_id
        (row,) = [i for i in store.gateway_instances() if i.client_id == client_id]
        assert (row.host, row.pid) == (here, os.getpid())

    # An automatic slot whose holder died is taken back too: a restarted gateway resumes its session.
    group = unique("slots")
    store.record_gateway(_instance(f"meterbill-{group}-0", host=here, pid=_dead_pid(), seen=now))
    assert claim_client_id(store, group=group, explicit=None) == f"meterbill-{group}-0"

    # A container restarted after a crash often gets the pid of the process that crashed: a row with
    # this host and our own pid that this process never claimed is a previous incarnation, not a live
    # holder (else the restarted gateway would take a new slot and strand its session's messages).
    group = unique("reborn")
    store.record_gateway(_instance(f"meterbill-{group}-0", host=here, pid=os.getpid(), seen=now))
    assert claim_client_id(store, group=group, explicit=None) == f"meterbill-{group}-0"
    assert claim_client_id(store, group=group, explicit=None) == f"meterbill-{group}-1"  # now it is ours


_CLAIMER = """
import sys, time
from pathlib import Path
from gateway.runner import ClientIdTaken, claim_client_id
backend, where, client_id, folder, n = sys.argv[1:6]
if backend == "sqlite":
    from store.sqlite import SQLiteStore
    store = SQLiteStore(where)
else:
    from store.postgres import PostgresStore
    store = PostgresStore(where, max_size=1)
(Path(folder) / f"ready-{n}").touch()
deadline = time.monotonic() + 30
while not (Path(folder) / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.001)
try:
    print(claim_client_id(store, group="g", explicit=client_id))
except ClientIdTaken:
    print("refused")
store.close()
"""


def test_processes_claiming_one_id_at_the_same_moment_get_it_once(store: Store, tmp_path: Path) -> None:
    """The claim is a compare-and-set in the store: of four processes racing for one id, one wins."""
    client_id = unique("gw-race")
    where = str(store.path) if isinstance(store, SQLiteStore) else cast(PostgresStore, store).safe_url
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, store.backend, where, client_id, str(tmp_path), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for n in range(4)
    ]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 4, timeout_s=30, what="four claimers ready")
        (tmp_path / "go").touch()
        outcomes = sorted(c.communicate(timeout=30)[0].strip().splitlines()[-1] for c in claimers)
    finally:
        for c in claimers:
            if c.poll() is None:
                c.kill()
                c.wait()
    assert outcomes == sorted([client_id] + ["refused"] * 3)


def test_a_gateway_refuses_to_start_with_a_client_id_in_use(store: Store, broker: BrokerAddress) -> None:
    client_id = unique("gw-held")
    claim_client_id(store, group="g", explicit=client_id)
    with pytest.raises(ClientIdTaken):
        run_gateway(store, broker, gateway_options("g", client_id=client_id), threading.Event())


def test_two_processes_with_one_client_id_are_reported(broker: BrokerAddress) -> None:
    """Should two gateways share an id after all, they evict each other; the subscriber says so and stops."""
    client_id = unique("gw-twin")
    twins = [
        Subscriber(
            broker,
            client_id=client_id,
            deliveries=queue.Queue[Delivery](),
            group=unique("twins"),
            session_expiry_s=60,
            backoff_s=(0.05, 0.2),
        )
        for _ in range(2)
    ]
    try:
        for twin in twins:
            twin.start()
        fatal = wait_for(
            lambda: next((t.fatal for t in twins if t.fatal is not None), None),
            timeout_s=WAIT_S,
            what="a twin to give up",
        )
        assert isinstance(fatal, BrokerError)
        assert "used by another live process" in str(fatal)
    finally:
        for twin in twins:
            twin.stop(5)
        purge_session(broker, client_id)


def test_the_subscriber_holds_no_more_than_its_receive_window(broker: BrokerAddress) -> None:
    """The broker may have ``receive_maximum`` messages unacknowledged with us, and no more.

    Mosquitto before 2.0.13 sends a whole window more for every acknowledgement; the subscriber then
    stops reading until the gateway caught up, so memory stays bounded, and nothing is lost.
    """
    window, total = 50, 400
    deliveries: queue.Queue[Delivery] = queue.Queue()
    client_id = unique("gw-window")
    subscriber = Subscriber(
        broker, client_id=client_id, deliveries=deliveries, group=unique("window"), receive_maximum=window
    )
    subscriber.start()
    probe, pub = Publisher(broker), Publisher(broker)
    try:
        assert subscriber.wait_connected(10)
        # subscribed once a probe comes through (a probe published before that reaches nobody)
        device = unique("m")

        def probed() -> bool:
            probe.publish(f"meters/{device}/readings", b"probe")
            return not deliveries.empty()

        wait_for(probed, timeout_s=WAIT_S, what="the subscription", interval_s=0.1)
        got: list[bytes] = []

        def take(n: int) -> None:
            batch = [deliveries.get_nowait() for _ in range(n)]
            got.extend(d.message.payload for d in batch if d.message.payload != b"probe")
            subscriber.ack(batch)

        take(deliveries.qsize())
        for i in range(total):
            pub.publish(f"meters/{device}/readings", str(i).encode())
        pub.wait_acked()
        wait_for(lambda: deliveries.qsize() >= window, timeout_s=WAIT_S, what="a full window")
        # acknowledge a few: the subscriber may take that many more, not a window each
        take(10)
        held: list[int] = []
        for _ in range(20):
            held.append(deliveries.qsize())
            time.sleep(0.02)
        assert max(held) <= window + 1, held

        # and then everything, as the gateway acknowledges its batches
        def drain() -> bool:
            take(deliveries.qsize())
            return len(got) >= total

        wait_for(drain, timeout_s=WAIT_S, what="all the messages")
    finally:
        probe.close()
        pub.close()
        subscriber.stop(5)
        purge_session(broker, client_id)
    assert sorted(int(p) for p in got) == list(range(total))
