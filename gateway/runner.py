"""Running one gateway process: claim a client id, connect, work, stop cleanly.

The client id is claimed in the store before connecting (compare-and-set on the heartbeat row), so
two live gateways can never share one, even on different hosts: they would evict each other from
the broker in a loop and cause mass redelivery. Without an explicit id, a process takes the lowest
free ``meterbill-<group>-<n>``; a gateway restarted on the same host after a crash takes its old
id back at once (its previous pid is dead) and so resumes its broker session. In a container the
restarted process often gets the very pid of the one that crashed: a row with this host and our own
pid that this process did not claim is such a previous incarnation, not a live holder.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import start_http_server

from gateway.errors import BrokerError
from gateway.metrics import GatewayMetrics
from gateway.mqtt import BrokerAddress
from gateway.service import GatewayConfig, GatewayWorker, stale
from gateway.subscriber import Delivery, Subscriber
from store.contract import GatewayInstance, Store

__all__ = ["GatewayOptions", "claim_client_id", "run_gateway"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # a heartbeat older than this frees the client id
_MAX_SLOTS = 1000
_held_here: set[str] = set()  # client ids claimed by this process (several gateways may run in one)
_held_lock = threading.Lock()


class ClientIdTaken(BrokerError):
    """The client id asked for is held by a live gateway."""


@dataclass(frozen=True)
class GatewayOptions:
    group: str = "meterbill"
    shared: bool = True
    client_id: str | None = None
    metrics_port: int | None = 9108  # None: no metrics server
    metrics_host: str = "127.0.0.1"
    config: GatewayConfig = field(default_factory=GatewayConfig)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def claim_client_id(store: Store, *, group: str, explicit: str | None, now: datetime | None = None) -> str:
    """Claim ``explicit`` or the lowest free ``meterbill-<group>-<n>``; raise ClientIdTaken if held."""
    with _held_lock:  # claims of one process one at a time, so that _held_here is always up to date
        return _claim(store, group=group, explicit=explicit, now=now or datetime.now(UTC))


def _claim(store: Store, *, group: str, explicit: str | None, now: datetime) -> str:
    host, pid = socket.gethostname(), os.getpid()
    held = {g.client_id: g for g in store.gateway_instances()}
    candidates = [explicit] if explicit else [f"meterbill-{group}-{n}" for n in range(_MAX_SLOTS)]
    for client_id in candidates:
        current = held.get(client_id)

        def alive(holder: int, client_id: str = client_id) -> bool:
            if holder == pid:  # this process: a live holder only if it claimed the id itself
                return client_id in _held_here
            return _pid_alive(holder)

        if current is not None and not stale(current, now=now, lease=LEASE, host=host, pid_alive=alive):
            if explicit:
                raise ClientIdTaken(
                    f"client id {client_id} is held by a live gateway (pid {current.pid} on {current.host},"
                    f" seen {current.last_seen_at.isoformat()}); two processes with one id evict each other"
                )
            continue
        mine = GatewayInstance(client_id, host, pid, now, now, False, {})
        if store.claim_gateway(mine, replacing=current):
            _held_here.add(client_id)
            return client_id
        if explicit:
            raise ClientIdTaken(f"client id {client_id} was claimed by another gateway at the same moment")
    raise ClientIdTaken(f"no free gateway slot among {_MAX_SLOTS} for group {group}")


def run_gateway(
    store: Store,
    address: BrokerAddress,
    options: GatewayOptions,
    stop: threading.Event,
    ready: threading.Event | None = None,
) -> None:
    """Run until ``stop`` is set (SIGTERM/SIGINT in the CLI); raises BrokerError on a fatal refusal.

    ``ready``, when given, is set once the broker confirmed the subscriptions: from then on nothing
    published is missed (the session is persistent), which is what a caller that publishes next waits for.
    """
    client_id = claim_client_id(store, group=options.group, explicit=options.client_id)
    try:
        _run(store, address, options, stop, client_id, ready)
    finally:
        with _held_lock:
            _held_here.discard(client_id)


def _run(
    store: Store,
    address: BrokerAddress,
    options: GatewayOptions,
    stop: threading.Event,
    client_id: str,
    ready: threading.Event | None,
) -> None:
    metrics = GatewayMetrics()
    server = None
    if options.metrics_port is not None:
        server, _ = start_http_server(options.metrics_port, addr=options.metrics_host, registry=metrics.registry)
        log.info("gateway metrics on http://%s:%d/metrics", options.metrics_host, server.server_port)
    deliveries: queue.Queue[Delivery] = queue.Queue()
    config = options.config
    subscriber = Subscriber(
        address,
        client_id=client_id,
        deliveries=deliveries,
        group=options.group if options.shared else None,
        receive_maximum=config.max_unacked_messages,
        on_state=lambda up: metrics.connected.set(1 if up else 0),
        backlog=lambda: worker.buffered(),  # noqa: PLW0108 - late: the worker is made below, before start()
    )
    worker = GatewayWorker(store, subscriber, deliveries, config=config, metrics=metrics, client_id=client_id)
    subscriber.start()
    if ready is not None:
        threading.Thread(target=_signal_ready, args=(subscriber, ready, stop), daemon=True).start()
    log.info(
        "gateway %s started (group %s, %s subscription)",
        client_id,
        options.group,
        "shared" if options.shared else "plain",
    )
    watchdog = threading.Thread(target=_stop_on_fatal, args=(subscriber, stop), daemon=True)
    watchdog.start()
    try:
        worker.run(stop)
    finally:
        subscriber.stop()
        if server is not None:  # a gateway run inside a longer-lived process must give its port back
            server.shutdown()
            server.server_close()
    if subscriber.fatal is not None:
        raise subscriber.fatal


def _signal_ready(subscriber: Subscriber, ready: threading.Event, stop: threading.Event) -> None:
    while not stop.is_set():
        if subscriber.subscribed.wait(0.2):
            ready.set()
            return


def _stop_on_fatal(subscriber: Subscriber, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        if subscriber.fatal is not None:
            log.error("%s", subscriber.fatal)
            stop.set()
