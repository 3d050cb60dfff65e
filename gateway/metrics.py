"""The gateway's Prometheus metrics, on a registry of its own (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter("meterbill_gateway_messages_received", "MQTT messages received", registry=r)
        self.accepted = Counter("meterbill_gateway_messages_accepted", "Messages committed to the store", registry=r)
        self.rejected = Counter(
            "meterbill_gateway_messages_rejected", "Messages dead-lettered, by reason", ["reason"], registry=r
        )
        self.readings = Counter("meterbill_gateway_readings_inserted", "Readings newly stored", registry=r)
        self.duplicates = Counter("meterbill_gateway_readings_duplicate", "Readings already stored", registry=r)
        self.conflicts = Counter(
            "meterbill_gateway_readings_conflict", "Readings offered with another value for a stored key", registry=r
        )
        self.reviews = Counter("meterbill_gateway_readings_flagged", "Readings flagged for review", registry=r)
        self.store_retries = Counter(
            "meterbill_gateway_store_retries", "Batch commits retried because the store failed", registry=r
        )
        self.batch_size = Histogram(
            "meterbill_gateway_batch_messages",
            "Messages per committed batch",
            registry=r,
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
        )
        self.commit_seconds = Histogram(
            "meterbill_gateway_commit_seconds",
            "Time to commit one batch [s]",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.buffer = Gauge("meterbill_gateway_buffer_messages", "Messages received, not yet committed", registry=r)
        self.connected = Gauge("meterbill_gateway_broker_connected", "1 while connected to the broker", registry=r)

    def counters(self) -> dict[str, int]:
        """Totals for the heartbeat row that `meterbill gateway status` shows."""

        def total(counter: Counter) -> int:
            return int(sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")))

        return {
            "received": total(self.received),
            "accepted": total(self.accepted),
            "rejected": total(self.rejected),
            "readings_inserted": total(self.readings),
            "duplicates": total(self.duplicates),
            "conflicts": total(self.conflicts),
            "store_retries": total(self.store_retries),
        }
