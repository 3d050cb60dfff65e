"""The API's Prometheus metrics: its own HTTP counters and the store's figures, on a registry per app.

Counters live on a registry owned by the app (never the process-global one), so two apps in one
process, as in tests, do not share them. Store figures are read at scrape time by a collector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from store.contract import StoreStats
from store.errors import StoreError

__all__ = ["CONTENT_TYPE", "ApiMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
log = logging.getLogger(__name__)


class _StoreCollector(Collector):
    def __init__(self, backend: str, stats: Callable[[], StoreStats]) -> None:
        self._backend = backend
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("meterbill_store_up", "1 when the store answered this scrape", labels=["backend"])
        try:
            stats = self._stats()
        except StoreError as exc:
            log.warning("metrics scrape without store figures: %s", exc)
            up.add_metric([self._backend], 0)
            yield up
            return
        up.add_metric([self._backend], 1)
        yield up
        yield GaugeMetricFamily("meterbill_schema_version", "Highest applied migration", value=stats.schema_version)
        readings = GaugeMetricFamily(
            "meterbill_readings_stored",
            "Readings in the store (an estimate on large PostgreSQL tables)",
            labels=["exact"],
        )
        readings.add_metric([str(stats.readings_exact).lower()], stats.readings)
        yield readings
        yield GaugeMetricFamily(
            "meterbill_dead_letters", "Messages kept in the dead-letter store", value=stats.dead_letters
        )
        yield GaugeMetricFamily(
            "meterbill_reading_conflicts", "Readings offered with another value for a stored key", value=stats.conflicts
        )


class ApiMetrics:
    def __init__(self, *, version: str, backend: str, stats: Callable[[], StoreStats]) -> None:
        self.registry = CollectorRegistry()
        info = Gauge("meterbill_build_info", "The running meterbill version", ["version"], registry=self.registry)
        info.labels(version=version).set(1)
        self.requests = Counter(
            "meterbill_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "meterbill_http_request_seconds",
            "Time to answer an HTTP request [s]",
            ["route"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(backend, stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.seconds.labels(route=route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
