"""Disputes on either backend: a customer's disagreement with an invoice line, and every step after.

A dispute is opened with a message; staff answer it, resolve it or credit it (with the credit
note's id), and either side may add messages. Each step is an event with its actor and time, kept
for ever and shown to the customer. The status follows the last step: a customer's message on an
answered dispute reopens it; a resolved or credited dispute takes no further step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.contract import (
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    DisputeStatus,
)
from store.errors import DisputeClosedError, NotFoundError
from store.sql import SqlMixin

__all__ = ["ConsoleMixin", "DisputeMixin"]

_COLUMNS = "id, invoice_id, line_no, customer_id, status, opened_by, opened_at, updated_at, closed_at"
_EVENT_COLUMNS = "dispute_id, seq, kind, actor_id, actor_role, message, at, credit_note_id"
_CLOSED: tuple[DisputeStatus, ...] = ("resolved", "credited")


def _status_after(current: DisputeStatus, kind: DisputeEventKind, actor_role: str) -> DisputeStatus:
    if kind == "message":
        return "open" if actor_role == "customer" else current
    if kind == "opened":
        return "open"
    return kind


class DisputeMixin(SqlMixin):
    """Dispute methods of the Store."""

    def open_dispute(
        self,
        *,
        dispute_id: str,
        invoice_id: str,
        line_no: int | None,
        customer_id: str,
        actor_id: str,
        actor_role: str,
        message: str,
        at: datetime,
    ) -> Dispute:
        d = self._dialect
        with self._registry_write() as conn:
            if self._exec(conn, "SELECT 1 FROM invoices WHERE id = %s", (invoice_id,)).fetchone() is None:
                raise NotFoundError(f"invoice {invoice_id} does not exist")
            self._exec(
                conn,
                f"INSERT INTO disputes ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (dispute_id, invoice_id, line_no, customer_id, "open", actor_id, d.time_in(at), d.time_in(at), None),
            )
            self._add_event(conn, DisputeEvent(dispute_id, 1, "opened", actor_id, actor_role, message, at))
        found = self.dispute(dispute_id)
        assert found is not None
        return found

    def add_dispute_event(
        self,
        dispute_id: str,
        *,
        kind: DisputeEventKind,
        actor_id: str,
        actor_role: str,
        message: str,
        at: datetime,
        credit_note_id: str | None = None,
    ) -> Dispute:
        d = self._dialect
        with self._registry_write() as conn:
            row = self._exec(conn, f"SELECT status FROM disputes WHERE id = %s{d.for_update}", (dispute_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"dispute {dispute_id} does not exist")
            status: DisputeStatus = row[0]
            if status in _CLOSED:
                raise DisputeClosedError(f"dispute {dispute_id} is {status}: it takes no further step")
            if kind == "opened":
                raise DisputeClosedError(f"dispute {dispute_id} is open already")
            seq = self._exec(
                conn, "SELECT coalesce(max(seq), 0) + 1 FROM dispute_events WHERE dispute_id = %s", (dispute_id,)
            ).fetchone()[0]
            self._add_event(
                conn, DisputeEvent(dispute_id, int(seq), kind, actor_id, actor_role, message, at, credit_note_id)
            )
            new_status = _status_after(status, kind, actor_role)
            closed = d.time_in(at) if new_status in _CLOSED else None
            self._exec(
                conn,
                "UPDATE disputes SET status = %s, updated_at = %s, closed_at = %s WHERE id = %s",
                (new_status, d.time_in(at), closed, dispute_id),
            )
        found = self.dispute(dispute_id)
        assert found is not None
        return found

    def _add_event(self, conn: Any, event: DisputeEvent) -> None:
        self._exec(
            conn,
            f"INSERT INTO dispute_events ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event.dispute_id,
                event.seq,
                event.kind,
                event.actor_id,
                event.actor_role,
                event.message,
                self._dialect.time_in(event.at),
                event.credit_note_id,
            ),
        )

    def dispute(self, dispute_id: str) -> Dispute | None:
        found = self._load("WHERE id = %s", [dispute_id])
        return found[0] if found else None

    def disputes(
        self,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        status: DisputeStatus | None = None,
    ) -> list[Dispute]:
        clauses: list[str] = []
        params: list[str] = []
        for column, value in (("customer_id", customer_id), ("invoice_id", invoice_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        return self._load(("WHERE " + " AND ".join(clauses)) if clauses else "", params)

    def _load(self, where: str, params: Sequence[str]) -> list[Dispute]:
        d = self._dialect
        with self._registry_read() as conn:
            query = f"SELECT {_COLUMNS} FROM disputes {where} ORDER BY opened_at, id"
            rows = self._exec(conn, query, params).fetchall()
            events: dict[str, list[DisputeEvent]] = defaultdict(list)
            if rows:
                ids = [r[0] for r in rows]
                marks = ", ".join(["%s"] * len(ids))
                for e in self._exec(
                    conn,
                    f"SELECT {_EVENT_COLUMNS} FROM dispute_events WHERE dispute_id IN ({marks})"
                    " ORDER BY dispute_id, seq",
                    ids,
                ).fetchall():
                    events[e[0]].append(DisputeEvent(e[0], int(e[1]), e[2], e[3], e[4], e[5], d.time_out(e[6]), e[7]))
        return [
            Dispute(
                id=r[0],
                invoice_id=r[1],
                line_no=r[2],
                customer_id=r[3],
                status=r[4],
                opened_by=r[5],
                opened_at=d.time_out(r[6]),
                updated_at=d.time_out(r[7]),
                closed_at=d.opt_time_out(r[8]),
                events=tuple(events[r[0]]),
            )
            for r in rows
        ]


class ConsoleMixin(SqlMixin):
    """Look-ups for the API: the tariff catalogue and the newest reading."""

    def tariff_ids(self) -> list[str]:
        with self._registry_read() as conn:
            return [r[0] for r in self._exec(conn, "SELECT DISTINCT tariff_id FROM tariffs ORDER BY tariff_id")]

    def latest_reading_at(self) -> datetime | None:
        # ORDER BY ts DESC LIMIT 1: an index scan where ts is indexed (SQLite, TimescaleDB chunks).
        with self._registry_read() as conn:
            row = self._exec(conn, "SELECT ts FROM readings ORDER BY ts DESC LIMIT 1").fetchone()
        return None if row is None else self._dialect.time_out(row[0])
