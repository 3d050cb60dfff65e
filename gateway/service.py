"""The gateway's worker: batch decisions, commit them, then acknowledge.

Deliveries from the subscriber go through :func:`gateway.pipeline.process` and into a batch. A batch
is committed in one store transaction when it holds ``batch_max_readings`` readings, when its first
message waited ``batch_max_delay_s``, or when it holds as many messages as the broker lets us have
unacknowledged. Only after the commit are its messages acknowledged. When the store fails, the
same batch is retried with capped exponential backoff; meanwhile nothing is acknowledged, so the
broker stops sending once its receive window is full: memory stays bounded however long the outage
lasts. A batch the store refuses for a reason other than being unavailable is committed message by
message, and a message refused alone is dead-lettered (``store_refused``) so one poison message
cannot stall the fleet. On stop, the batch in hand is committed and acknowledged if the store
answers; otherwise it is left unacknowledged for the broker to redeliver.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from devices.model import Device
from devices.readings import Reading, ReadingReview
from devices.trips import Trip, VehicleEvent
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Accept, Policy, Reject, process
from gateway.subscriber import Delivery, Subscriber
from store.contract import Batch, BatchResult, GatewayInstance, NewDeadLetter, Store
from store.errors import StoreError, StoreUnavailable

__all__ = ["GatewayConfig", "GatewayWorker", "RegistryCache", "batch_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayConfig:
    batch_max_readings: int = 10_000
    batch_max_delay_s: float = 0.2
    max_unacked_messages: int = 5000  # the receive window the subscriber asked the broker for
    policy: Policy = field(default_factory=Policy)
    registry_ttl_s: float = 15.0  # a suspension reaches the gateway within this time
    heartbeat_s: float = 5.0
    retry_backoff_s: tuple[float, float] = (0.1, 10.0)


class RegistryCache:
    """Device look-ups for the pipeline: the whole registry, reloaded in one query every ``ttl_s``.

    One query per period instead of one per device: per-device entries that all expire together
    stalled the worker for (devices x a look-up) every period (measured by bench/ingest_bench.py:
    p99 5 s at 10,000 meters). An id missing from the snapshot is asked for once on its own (a
    device provisioned since the reload) and then remembered as unknown until the next reload, so a
    flood from an unknown id costs one query. ``forget`` drops ids whose status just changed.
    """

    def __init__(self, store: Store, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._devices: dict[str, Device | None] = {}
        self._loaded_at: float | None = None

    def lookup(self, device_id: str) -> Device | None:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._ttl_s:
            self._devices = {d.id: d for d in self._store.devices()}
            self._loaded_at = now
        if device_id not in self._devices:
            self._devices[device_id] = self._store.device(device_id)
        return self._devices[device_id]

    def forget(self, device_ids: Sequence[str]) -> None:
        for device_id in device_ids:
            self._devices.pop(device_id, None)


class GatewayWorker:
    def __init__(
        self,
        store: Store,
        subscriber: Subscriber,
        deliveries: queue.Queue[Delivery],
        *,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        client_id: str,
    ) -> None:
        self._store = store
        self._subscriber = subscriber
        self._deliveries = deliveries
        self._config = config
        self._metrics = metrics
        self._cache = RegistryCache(store, config.registry_ttl_s)
        self._client_id = client_id
        self._started_at = datetime.now(UTC)
        self._last_beat = 0.0
        # Received and not yet committed: the batch in hand plus the queue, read when /metrics is
        # scraped, so that it stays true while the worker waits on a store that is down.
        self._in_hand = 0
        metrics.buffer.set_function(self.buffered)

    def buffered(self) -> int:
        """Messages received and not yet committed: the batch in hand plus the queue (any thread)."""
        return self._in_hand + self._deliveries.qsize()

    # -- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Process deliveries until ``stop`` is set, then finish the batch in hand."""
        items: list[tuple[Delivery, Accept | Reject]] = []
        readings = 0
        deadline = 0.0
        while not stop.is_set():
            wait = max(0.0, deadline - time.monotonic()) if items else 0.5
            taken = self._take(min(wait, 0.5))
            if taken:
                self._metrics.received.inc(len(taken))  # one locked increment per turn, not per message
                self._in_hand = len(items) + len(taken)
            for n, delivery in enumerate(taken, 1):
                decision = self._decide(delivery, stop)
                if decision is None:
                    return  # stopped while the store was down: the broker redelivers
                if not items:
                    deadline = time.monotonic() + self._config.batch_max_delay_s
                items.append((delivery, decision))
                if isinstance(decision, Accept):
                    readings += len(decision.readings)
                if (
                    readings >= self._config.batch_max_readings
                    or len(items) >= self._config.max_unacked_messages
                    or time.monotonic() >= deadline
                ):
                    self._in_hand = len(items) + len(taken) - n
                    if not self._flush(items, stop):
                        return  # stopped while the store was down: the broker redelivers
                    items, readings = [], 0
            self._in_hand = len(items)
            if items and time.monotonic() >= deadline:
                if not self._flush(items, stop):
                    return  # stopped while the store was down: the broker redelivers
                items, readings = [], 0
                self._in_hand = 0
            self._heartbeat()
        self._finish(items, stop)

    def _finish(self, items: list[tuple[Delivery, Accept | Reject]], stop: threading.Event) -> None:
        """Graceful stop: what is queued was received on this connection; commit it all, then ack."""
        while True:
            try:
                delivery = self._deliveries.get_nowait()
            except queue.Empty:
                break
            self._metrics.received.inc()
            decision = self._decide(delivery, stop)
            if decision is None:
                break  # the store is down: what is left stays unacknowledged for redelivery
            items.append((delivery, decision))
        if items:
            self._flush(items, threading.Event(), attempts=3)
        self._heartbeat(force=True, stopping=True)

    def _take(self, timeout: float) -> list[Delivery]:
        """Every delivery queued now, waiting up to ``timeout`` for the first; [] if none came.

        The rest are taken under the queue's own lock in one go: a get() per message costs a lock
        round trip and a condition check each, which showed at 1-reading messages (GIL-bound).
        """
        q = self._deliveries
        try:
            first = q.get(timeout=timeout)
        except queue.Empty:
            return []
        with q.mutex:
            rest = list(q.queue)
            q.queue.clear()
            if rest:
                q.not_full.notify_all()
        return [first, *rest]

    def _decide(self, delivery: Delivery, stop: threading.Event) -> Accept | Reject | None:
        """The pipeline's decision; None when ``stop`` is set while the registry cannot be read."""
        delay = self._config.retry_backoff_s[0]
        while True:
            try:
                return process(delivery.message, datetime.now(UTC), self._cache.lookup, self._config.policy)
            except StoreError as exc:  # the registry look-up failed: decide again once the store is back
                log.warning("registry look-up failed (%s); the message waits for the store", exc)
                if stop.wait(delay):
                    return None
                delay = min(delay * 2, self._config.retry_backoff_s[1])

    # -- committing -----------------------------------------------------------------------
    def _flush(
        self, items: list[tuple[Delivery, Accept | Reject]], stop: threading.Event, attempts: int | None = None
    ) -> bool:
        """Commit ``items`` (retrying while the store is unavailable), then acknowledge them."""
        delay, tried = self._config.retry_backoff_s[0], 0
        while True:
            started = time.monotonic()
            try:
                results = self._commit(items)
                break
            except StoreUnavailable as exc:
                tried += 1
                self._metrics.store_retries.inc()
                if stop.is_set() or (attempts is not None and tried >= attempts):
                    log.error("store unavailable (%s): %d messages left unacknowledged for redelivery", exc, len(items))
                    return False
                log.warning("store unavailable (%s); retrying %d messages in %.1f s", exc, len(items), delay)
                stop.wait(delay)
                delay = min(delay * 2, self._config.retry_backoff_s[1])
        self._metrics.commit_seconds.observe(time.monotonic() - started)
        self._metrics.batch_size.observe(len(items))
        for result in results:
            self._count(result)
        # Counted here and added once per batch: each Counter.inc takes a lock.
        accepted = 0
        rejected: dict[str, int] = {}
        for _, decision in items:
            if isinstance(decision, Accept):
                accepted += 1
            else:
                rejected[decision.reason] = rejected.get(decision.reason, 0) + 1
        self._metrics.accepted.inc(accepted)
        for reason, count in rejected.items():
            self._metrics.rejected.labels(reason=reason).inc(count)
        acked = self._subscriber.ack([d for d, _ in items])
        if acked < sum(1 for d, _ in items if d.qos > 0):
            log.info("%d messages came on an earlier connection: the broker redelivers them", len(items) - acked)
        return True

    def _commit(self, items: list[tuple[Delivery, Accept | Reject]]) -> list[BatchResult]:
        try:
            return [self._store.commit_batch(batch_of([decision for _, decision in items]))]
        except StoreUnavailable:
            raise
        except StoreError as exc:
            if len(items) == 1:
                delivery, decision = items[0]
                log.error("store refused message on %s: %s", delivery.message.topic, exc)
                letter = Reject(
                    delivery.message,
                    "store_refused",
                    str(exc)[:1000],
                    getattr(decision, "device_id", None),
                    delivery.message.payload,
                )
                return [self._store.commit_batch(batch_of([letter]))]
            log.warning("store refused a batch of %d (%s): committing message by message", len(items), exc)
            return [r for item in items for r in self._commit([item])]
        finally:
            activated = [d.device_id for _, d in items if isinstance(d, Accept) and d.activate]
            self._cache.forget(activated)

    def _count(self, result: BatchResult) -> None:
        m = self._metrics
        m.readings.inc(result.readings.inserted)
        m.duplicates.inc(result.readings.duplicates)
        m.conflicts.inc(result.readings.conflicts)
        m.reviews.inc(result.reviews_inserted)

    # -- heartbeat ------------------------------------------------------------------------
    def _heartbeat(self, *, force: bool = False, stopping: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < self._config.heartbeat_s:
            return
        self._last_beat = now
        self._metrics.connected.set(1 if self._subscriber.connected else 0)
        try:
            self._store.record_gateway(
                GatewayInstance(
                    self._client_id,
                    socket.gethostname(),
                    0 if stopping else os.getpid(),
                    self._started_at,
                    datetime.now(UTC),
                    self._subscriber.connected and not stopping,
                    self._metrics.counters(),
                )
            )
        except StoreError as exc:
            log.debug("heartbeat not recorded: %s", exc)


def batch_of(decisions: Sequence[Accept | Reject]) -> Batch:
    readings: list[Reading] = []
    trips: list[Trip] = []
    events: list[VehicleEvent] = []
    reviews: list[ReadingReview] = []
    letters: list[NewDeadLetter] = []
    activations: list[tuple[str, datetime]] = []
    for d in decisions:
        if isinstance(d, Reject):
            letters.append(
                NewDeadLetter(d.message.topic, d.payload, d.reason, d.detail, d.device_id, d.message.received_at)
            )
            continue
        readings.extend(d.readings)
        trips.extend(d.trips)
        events.extend(d.events)
        reviews.extend(d.reviews)
        if d.activate:
            activations.append((d.device_id, d.message.received_at))
    return Batch(readings, trips, events, reviews, letters, activations)


def stale(
    instance: GatewayInstance, *, now: datetime, lease: timedelta, host: str, pid_alive: Callable[[int], bool]
) -> bool:
    """True when nobody holds this client id: released, silent past the lease, or a dead pid here."""
    if instance.pid == 0 or instance.last_seen_at < now - lease:
        return True
    return instance.host == host and not pid_alive(instance.pid)
