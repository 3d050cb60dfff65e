"""Prometheus text exposition (format 0.0.4) of the API's own counters and the store's figures.

A handful of series do not justify a client library: counters live on the app (never in module
globals, so two apps in one process, as in tests, do not share them) and are rendered on scrape.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from store.contract import StoreStats

__all__ = ["HttpMetrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpMetrics:
    """Requests and their total duration per (method, route template, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: Counter[tuple[str, str, int]] = Counter()
        self._seconds: dict[tuple[str, str, int], float] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        with self._lock:
            self._count[key] += 1
            self._seconds[key] = self._seconds.get(key, 0.0) + seconds

    def lines(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._count.items())
            seconds = dict(self._seconds)
        yield "# HELP meterbill_http_requests_total HTTP requests answered, by route template and status."
        yield "# TYPE meterbill_http_requests_total counter"
        for (method, route, status), n in items:
            yield f"meterbill_http_requests_total{_labels(method=method, route=route, status=str(status))} {n}"
        yield "# HELP meterbill_http_request_seconds_total Time spent answering HTTP requests [s]."
        yield "# TYPE meterbill_http_request_seconds_total counter"
        for (method, route, status), _ in items:
            value = seconds[(method, route, status)]
            yield (
                f"meterbill_http_request_seconds_total{_labels(method=method, route=route, status=str(status))}"
                f" {value:.6f}"
            )


def render(*, version: str, backend: str, stats: StoreStats | None, http: HttpMetrics) -> str:
    """The whole scrape; ``stats`` is None when the store did not answer."""
    out = [
        "# HELP meterbill_build_info The running meterbill version.",
        "# TYPE meterbill_build_info gauge",
        f"meterbill_build_info{_labels(version=version)} 1",
        "# HELP meterbill_store_up 1 when the store answered this scrape.",
        "# TYPE meterbill_store_up gauge",
        f"meterbill_store_up{_labels(backend=backend)} {0 if stats is None else 1}",
    ]
    if stats is not None:
        out += [
            "# HELP meterbill_schema_version Highest applied migration.",
            "# TYPE meterbill_schema_version gauge",
            f"meterbill_schema_version {stats.schema_version}",
            "# HELP meterbill_readings_stored Readings in the store (an estimate on large PostgreSQL tables).",
            "# TYPE meterbill_readings_stored gauge",
            f"meterbill_readings_stored{_labels(exact=str(stats.readings_exact).lower())} {stats.readings}",
            "# HELP meterbill_dead_letters Messages kept in the dead-letter store.",
            "# TYPE meterbill_dead_letters gauge",
            f"meterbill_dead_letters {stats.dead_letters}",
            "# HELP meterbill_reading_conflicts Readings offered with another value for a stored key.",
            "# TYPE meterbill_reading_conflicts gauge",
            f"meterbill_reading_conflicts {stats.conflicts}",
        ]
    out += http.lines()
    return "\n".join(out) + "\n"


def _labels(**labels: str) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
