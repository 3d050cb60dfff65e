"""One transaction per gateway batch: readings, trips, events, reviews, dead letters, activations.

The gateway acknowledges a message only after everything it carried is committed, so everything
a batch carries is committed together. Each part is idempotent (a redelivery after a crash between
commit and acknowledgement changes nothing): readings by key, trips by (device, trip), events by
(device, ts, type), reviews by (device, register, ts, reason), dead letters by (topic, payload)
counting occurrences. Readings use the backend's bulk path (``_insert_readings``); the rest is
small and shared by both backends through the registry's dialect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devices.readings import Reading, ReadingReview
from devices.trips import Trip, VehicleEvent
from store.contract import Batch, BatchResult, DeadLetter, GatewayInstance, InsertResult, NewDeadLetter
from store.sql import SqlMixin, utc_now

__all__ = ["BatchMixin"]

_EVENT_COLUMNS = "device_id, ts, type, trip_id, received_at"
_DEAD_LETTER_COLUMNS = (
    "id, received_at, topic, payload, reason, detail, device_id, occurrences, last_received_at, replayed_at"
)


class BatchMixin(SqlMixin):
    """Batch commit and the small tables around it; the backend provides transactions and readings."""

    def _insert_readings(self, conn: Any, rows: Sequence[Reading]) -> InsertResult:
        raise NotImplementedError

    # -- the batch ------------------------------------------------------------------------
    def commit_batch(self, batch: Batch) -> BatchResult:
        """Store everything in ``batch`` in one transaction; all of it or, on error, none of it."""
        with self._registry_write() as conn:
            readings = self._insert_readings(conn, batch.readings)
            trips = self._insert_trips(conn, batch.trips)
            events = self._insert_events(conn, [e for t in batch.trips for e in t.events] + list(batch.events))
            reviews = self._insert_reviews(conn, batch.reviews)
            letters = self._insert_dead_letters(conn, batch.dead_letters)
            self._activate(conn, batch.activations)
        return BatchResult(readings, trips, events, reviews, letters)

    def insert_readings(self, rows: Sequence[Reading]) -> InsertResult:
        return self.commit_batch(Batch(readings=rows)).readings

    def _insert_trips(self, conn: Any, trips: Sequence[Trip]) -> int:
        # received_at is the billing cut-off's clock for trips, as for readings: a trip the gateway did
        # not stamp gets the commit time (a redelivered trip keeps the first one: DO NOTHING).
        d, now = self._dialect, utc_now()
        return self._many(
            conn,
            "INSERT INTO trips (device_id, trip_id, start_ts, end_ts, distance_km, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, trip_id) DO NOTHING",
            [
                (
                    t.device_id,
                    t.trip_id,
                    d.time_in(t.start),
                    d.time_in(t.end),
                    t.distance_km,
                    d.time_in(t.received_at or now),
                )
                for t in trips
            ],
        )

    def _insert_events(self, conn: Any, events: Sequence[VehicleEvent]) -> int:
        d, now = self._dialect, utc_now()
        return self._many(
            conn,
            "INSERT INTO events (device_id, ts, type, trip_id, received_at) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id, ts, type) DO NOTHING",
            [(e.device_id, d.time_in(e.ts), e.type, e.trip_id, d.time_in(e.received_at or now)) for e in events],
        )

    def _insert_reviews(self, conn: Any, reviews: Sequence[ReadingReview]) -> int:
        d = self._dialect
        return self._many(
            conn,
            "INSERT INTO reading_reviews (device_id, register, ts, reason, detail, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, register, ts, reason) DO NOTHING",
            [(r.device_id, r.register, d.time_in(r.ts), r.reason, r.detail, d.time_in(utc_now())) for r in reviews],
        )

    def _insert_dead_letters(self, conn: Any, letters: Sequence[NewDeadLetter]) -> int:
        d = self._dialect
        for letter in letters:
            at = d.time_in(letter.received_at)
            self._exec(
                conn,
                "INSERT INTO dead_letters (received_at, last_received_at, topic, payload, payload_sha256, reason,"
                " detail, device_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (topic, payload_sha256) DO UPDATE SET occurrences = dead_letters.occurrences + 1,"
                " last_received_at = excluded.last_received_at, reason = excluded.reason, detail = excluded.detail,"
                " replayed_at = NULL",
                (
                    at,
                    at,
                    letter.topic,
                    letter.payload,
                    _sha256(letter.topic, letter.payload),
                    letter.reason,
                    letter.detail,
                    letter.device_id,
                ),
            )
        return len(letters)

    def _activate(self, conn: Any, activations: Sequence[tuple[str, datetime]]) -> None:
        d = self._dialect
        self._many(
            conn,
            "UPDATE devices SET status = 'active', activated_at = %s WHERE id = %s AND status = 'provisioned'",
            [(d.time_in(at), device_id) for device_id, at in activations],
        )

    # -- dead letters ---------------------------------------------------------------------
    def add_dead_letter(
        self,
        *,
        topic: str,
        payload: bytes,
        reason: str,
        detail: str,
        device_id: str | None = None,
        received_at: datetime | None = None,
    ) -> int:
        letter = NewDeadLetter(topic, payload, reason, detail, device_id, received_at or utc_now())
        with self._registry_write() as conn:
            self._insert_dead_letters(conn, [letter])
            row = self._exec(
                conn,
                "SELECT id FROM dead_letters WHERE topic = %s AND payload_sha256 = %s",
                (topic, _sha256(topic, payload)),
            ).fetchone()
        return int(row[0])

    def dead_letters(
        self, *, limit: int = 100, device_id: str | None = None, pending_only: bool = False
    ) -> list[DeadLetter]:
        """Most recently received first; ``pending_only`` leaves out those replayed successfully."""
        clauses, params = [], []
        if device_id is not None:
            clauses.append("device_id = %s")
            params.append(device_id)
        if pending_only:
            clauses.append("replayed_at IS NULL")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._registry_read() as conn:
            rows = self._exec(
                conn,
                f"SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters {where}"
                " ORDER BY coalesce(last_received_at, received_at) DESC, id DESC LIMIT %s",
                [*params, limit],
            ).fetchall()
        return [self._dead_letter(r) for r in rows]

    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        with self._registry_read() as conn:
            row = self._exec(conn, f"SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = %s", (letter_id,))
            found = row.fetchone()
        return None if found is None else self._dead_letter(found)

    def mark_replayed(self, letter_ids: Sequence[int], *, at: datetime | None = None) -> None:
        with self._registry_write() as conn:
            self._many(
                conn,
                "UPDATE dead_letters SET replayed_at = %s WHERE id = %s",
                [(self._dialect.time_in(at or utc_now()), i) for i in letter_ids],
            )

    def _dead_letter(self, row: Sequence[Any]) -> DeadLetter:
        i, rx, topic, payload, reason, detail, device_id, occurrences, last, replayed = row
        d = self._dialect
        return DeadLetter(
            int(i),
            d.time_out(rx),
            topic,
            bytes(payload),
            reason,
            detail,
            device_id,
            int(occurrences),
            d.opt_time_out(last) or d.time_out(rx),
            d.opt_time_out(replayed),
        )

    # -- trips, events, reviews -----------------------------------------------------------
    def trips(self, *, device_ids: Sequence[str] | None = None) -> list[Trip]:
        where, params = _device_filter(device_ids)
        d = self._dialect
        with self._registry_read() as conn:
            rows = self._exec(
                conn,
                f"SELECT device_id, trip_id, start_ts, end_ts, distance_km, received_at FROM trips {where}"
                " ORDER BY device_id, start_ts, trip_id",
                params,
            ).fetchall()
            events = self._exec(conn, f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY device_id, ts", params)
            by_trip: dict[tuple[str, str], list[VehicleEvent]] = {}
            for event in (self._event(row) for row in events.fetchall()):
                if event.trip_id is not None:
                    by_trip.setdefault((event.device_id, event.trip_id), []).append(event)
        return [
            Trip(
                dev,
                trip,
                d.time_out(s),
                d.time_out(e),
                float(km),
                tuple(by_trip.get((dev, trip), ())),
                d.opt_time_out(rx),
            )
            for dev, trip, s, e, km, rx in rows
        ]

    def events(self, *, device_ids: Sequence[str] | None = None) -> list[VehicleEvent]:
        where, params = _device_filter(device_ids)
        with self._registry_read() as conn:
            rows = self._exec(
                conn, f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY device_id, ts, type", params
            ).fetchall()
        return [self._event(row) for row in rows]

    def _event(self, row: Sequence[Any]) -> VehicleEvent:
        dev, ts, kind, trip, rx = row
        return VehicleEvent(dev, self._dialect.time_out(ts), kind, trip, self._dialect.opt_time_out(rx))

    def reviews(self, *, limit: int = 100) -> list[ReadingReview]:
        with self._registry_read() as conn:
            rows = self._exec(
                conn,
                "SELECT device_id, register, ts, reason, detail FROM reading_reviews"
                " WHERE resolved_at IS NULL ORDER BY created_at DESC, device_id LIMIT %s",
                (limit,),
            ).fetchall()
        return [
            ReadingReview(dev, reg, self._dialect.time_out(ts), reason, detail) for dev, reg, ts, reason, detail in rows
        ]

    # -- gateway heartbeats ---------------------------------------------------------------
    def record_gateway(self, instance: GatewayInstance) -> None:
        d = self._dialect
        with self._registry_write() as conn:
            self._exec(
                conn,
                "INSERT INTO gateway_instances (client_id, host, pid, started_at, last_seen_at, connected, counters)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id) DO UPDATE SET host = excluded.host,"
                " pid = excluded.pid, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at,"
                " connected = excluded.connected, counters = excluded.counters",
                (
                    instance.client_id,
                    instance.host,
                    instance.pid,
                    d.time_in(instance.started_at),
                    d.time_in(instance.last_seen_at),
                    instance.connected,
                    json.dumps(instance.counters),
                ),
            )

    def claim_gateway(self, instance: GatewayInstance, *, replacing: GatewayInstance | None) -> bool:
        """Take ``instance.client_id`` if nobody has it (``replacing`` None) or if its row still is
        exactly ``replacing`` (compare-and-set): two processes never both win the same client id."""
        d = self._dialect
        values = (
            instance.client_id,
            instance.host,
            instance.pid,
            d.time_in(instance.started_at),
            d.time_in(instance.last_seen_at),
            instance.connected,
            json.dumps(instance.counters),
        )
        with self._registry_write() as conn:
            if replacing is None:
                cur = self._exec(
                    conn,
                    "INSERT INTO gateway_instances (client_id, host, pid, started_at, last_seen_at, connected,"
                    " counters) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id) DO NOTHING",
                    values,
                )
            else:
                cur = self._exec(
                    conn,
                    "UPDATE gateway_instances SET host = %s, pid = %s, started_at = %s, last_seen_at = %s,"
                    " connected = %s, counters = %s WHERE client_id = %s AND host = %s AND pid = %s"
                    " AND last_seen_at = %s",
                    (*values[1:], instance.client_id, replacing.host, replacing.pid, d.time_in(replacing.last_seen_at)),
                )
            return int(cur.rowcount) == 1

    def gateway_instances(self) -> list[GatewayInstance]:
        d = self._dialect
        with self._registry_read() as conn:
            rows = self._exec(
                conn,
                "SELECT client_id, host, pid, started_at, last_seen_at, connected, counters"
                " FROM gateway_instances ORDER BY client_id",
            ).fetchall()
        return [
            GatewayInstance(
                cid,
                host,
                int(pid),
                d.time_out(s),
                d.time_out(seen),
                bool(up),
                counters if isinstance(counters, dict) else json.loads(counters),
            )
            for cid, host, pid, s, seen, up, counters in rows
        ]


def _sha256(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()


def _device_filter(device_ids: Sequence[str] | None) -> tuple[str, list[str]]:
    if device_ids is None:
        return "", []
    ids = list(device_ids)
    if not ids:
        return "WHERE 1 = 0", []
    return f"WHERE device_id IN ({', '.join(['%s'] * len(ids))})", ids
