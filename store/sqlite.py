"""Embedded SQLite store: the default when no database is configured (``sqlite:///PATH``).

WAL journal so readers never block the writer, ``synchronous=FULL`` so a committed batch survives
a power cut (the gateway acknowledges messages after this commit), one connection per thread
(sqlite3 connections are not shareable), and ``BEGIN IMMEDIATE`` for writes so two writers queue
on the busy timeout instead of failing half-way. Instants are stored as INTEGER microseconds since
the epoch; the bulk path stages a batch in a temporary table and moves it with an UPSERT, exactly
like the PostgreSQL store's staged path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devices.readings import Reading
from store.batch import BatchMixin
from store.contract import (
    BUCKETS,
    SAME_VALUE_REL_TOL,
    Bucket,
    Conflict,
    GroupedConsumption,
    InsertResult,
    LocalGrouping,
    RollupRow,
    StoreStats,
    group_rollup,
)
from store.disputes import ConsoleMixin, DisputeMixin
from store.errors import InvalidRowError, MigrationError, StoreError, StoreUnavailable
from store.invoices import InvoiceMixin
from store.registry import RegistryMixin
from store.schema import migrations_for
from store.sql import Dialect
from store.users import UserMixin

__all__ = ["SQLiteStore", "from_us", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_COLUMNS = "device_id, register, ts, value, unit, kind, quality, received_at"


def to_us(moment: datetime) -> int:
    """Exact microseconds since the epoch of a timezone-aware datetime."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: readings need a timezone-aware time")
    return (moment - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class SQLiteStore(BatchMixin, RegistryMixin, InvoiceMixin, UserMixin, DisputeMixin, ConsoleMixin):
    """The :class:`store.contract.Store` in one SQLite file."""

    backend = "sqlite"
    # BEGIN IMMEDIATE already locks the database for the whole write transaction: no row locks.
    _dialect = Dialect(placeholder="?", time_in=to_us, time_out=from_us, for_update="")

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of the SQLite store {self.path}: {exc}") from exc
        self.ping()

    # -- plumbing -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success, rolled back on any error."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store {self.path} is unavailable: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} refused the operation: {exc}") from exc

    def _query(self, query: str, params: Sequence[object] | dict[str, object] = ()) -> list[tuple[Any, ...]]:
        with self._registry_read() as conn:
            return conn.execute(query, params).fetchall()

    def _registry_write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._write()

    @contextmanager
    def _registry_read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, outside any explicit transaction; driver errors translated."""
        try:
            yield self._conn()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store {self.path} is unavailable: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} refused the query: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def ping(self) -> None:
        self._query("SELECT 1")

    # -- schema ---------------------------------------------------------------------------
    def upgrade(self) -> list[str]:
        applied_now: list[str] = []
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            applied = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations_for("sqlite"):
                if migration.version in applied:
                    continue
                try:
                    conn.execute("SAVEPOINT migration")
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, to_us(datetime.now(UTC))),
                    )
                    conn.execute("RELEASE migration")
                except sqlite3.Error as exc:
                    raise MigrationError(
                        f"migration {migration.name} failed: {exc}", version=migration.version
                    ) from exc
                applied_now.append(migration.name)
        return applied_now

    def schema_version(self) -> int:
        if not self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"):
            return 0
        return int(self._query("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])

    # -- readings -------------------------------------------------------------------------
    def _insert_readings(self, conn: sqlite3.Connection, rows: Sequence[Reading]) -> InsertResult:
        """Stage the batch and move it with an UPSERT, inside the caller's transaction."""
        n = len(rows)
        if n == 0:
            return InsertResult(0, 0, 0, 0)
        try:
            staged = [
                (r.device_id, r.register, to_us(r.ts), r.value, r.unit, r.kind, r.quality, to_us(r.received_at))
                for r in rows
            ]
        except (TypeError, ValueError) as exc:
            raise InvalidRowError(f"a reading cannot be written: {exc}") from exc
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS readings_stage (ord INTEGER PRIMARY KEY, device_id TEXT,"
            " register TEXT, ts INTEGER, value REAL, unit TEXT, kind TEXT, quality TEXT, received_at INTEGER)"
        )
        conn.execute("DELETE FROM readings_stage")
        conn.executemany(f"INSERT INTO readings_stage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", staged)
        # "WHERE true" tells SQLite's parser the ON CONFLICT belongs to the INSERT, not a join.
        inserted = conn.execute(
            f"INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM readings_stage WHERE true"
            " ORDER BY ord ON CONFLICT (device_id, register, ts) DO NOTHING"
        ).rowcount
        offered = conn.execute(
            "SELECT s.device_id, s.register, s.ts, r.value, s.value, s.unit, s.quality, s.received_at"
            " FROM readings_stage s JOIN readings r USING (device_id, register, ts)"
            " WHERE abs(s.value - r.value) > ? * max(1.0, abs(s.value), abs(r.value)) OR s.unit <> r.unit",
            (SAME_VALUE_REL_TOL,),
        ).fetchall()
        conn.executemany(
            "INSERT INTO reading_conflicts (device_id, register, ts, stored_value, offered_value, unit,"
            " offered_quality, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            offered,
        )
        conn.execute("DELETE FROM readings_stage")
        conflicts = len(offered)
        return InsertResult(n, inserted, n - inserted - conflicts, conflicts)

    def readings(
        self,
        *,
        device_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Reading]:
        clauses, params = _filters(device_ids, start, end)
        rows = self._query(f"SELECT {_COLUMNS} FROM readings {clauses} ORDER BY device_id, register, ts", params)
        return [Reading(d, reg, from_us(ts), v, u, k, q, from_us(rx)) for d, reg, ts, v, u, k, q, rx in rows]

    def rollup(
        self,
        bucket: Bucket,
        *,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
    ) -> list[RollupRow]:
        step_us = BUCKETS[bucket] // _US
        # Epoch-aligned buckets (UTC hours and days), as date_bin from 2000-01-01 gives on PostgreSQL.
        # Rows of a bucket that starts before `end` reach up to `end + step`.
        clauses, params = _filters(device_ids, start, end + BUCKETS[bucket])
        params.update(step=step_us, first=to_us(start), stop=to_us(end))
        rows = self._query(
            "SELECT device_id, register, bucket, total, n, unit, est FROM ("
            " SELECT device_id, register, unit, ts - (ts % :step) AS bucket, sum(value) AS total, count(*) AS n,"
            "  sum(quality = 'estimated') AS est"
            f" FROM readings {clauses} AND kind = 'interval'"
            " GROUP BY device_id, register, unit, bucket)"
            " WHERE bucket >= :first AND bucket < :stop ORDER BY device_id, register, bucket",
            params,
        )
        return [RollupRow(d, reg, from_us(b), float(t), int(n), u, int(e)) for d, reg, b, t, n, u, e in rows]

    def local_consumption(
        self, grouping: LocalGrouping, *, device_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[GroupedConsumption]:
        """The hourly rollup grouped here with ``grouping.locate`` (SQLite has no time zones)."""
        hour0 = start.replace(minute=0, second=0, microsecond=0)
        return group_rollup(self.rollup("hour", start=hour0, end=end, device_ids=list(device_ids)), grouping.locate)

    def conflicts(self, *, limit: int = 100) -> list[Conflict]:
        rows = self._query(
            "SELECT device_id, register, ts, stored_value, offered_value, unit, offered_quality, received_at"
            " FROM reading_conflicts ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Conflict(d, reg, from_us(ts), sv, ov, u, q, from_us(rx)) for d, reg, ts, sv, ov, u, q, rx in rows]

    # -- figures --------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        def count(table: str) -> int:
            return int(self._query(f"SELECT count(*) FROM {table}")[0][0])

        return StoreStats(
            readings=count("readings"),
            readings_exact=True,
            dead_letters=count("dead_letters"),
            conflicts=count("reading_conflicts"),
            schema_version=self.schema_version(),
        )


def _filters(
    device_ids: Sequence[str] | None, start: datetime | None, end: datetime | None
) -> tuple[str, dict[str, object]]:
    """A WHERE clause (always present, so callers may append ``AND ...``) and its named parameters."""
    clauses = ["1"]
    params: dict[str, object] = {}
    if device_ids is not None:
        names = [f"id{i}" for i in range(len(device_ids))]
        clauses.append(f"device_id IN ({', '.join(':' + n for n in names)})" if names else "0")
        params.update(zip(names, device_ids, strict=True))
    if start is not None:
        clauses.append("ts >= :start")
        params["start"] = to_us(start)
    if end is not None:
        clauses.append("ts < :end")
        params["end"] = to_us(end)
    return "WHERE " + " AND ".join(clauses), params


def _statements(script: str) -> Iterator[str]:
    """Split a migration file into statements (sqlite3.execute runs one at a time).

    ``executescript`` would commit the open transaction first, losing the all-or-nothing upgrade.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            buffer = ""
            if statement and not all(ln.strip().startswith("--") or not ln.strip() for ln in statement.splitlines()):
                yield statement
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise MigrationError(f"migration ends with an incomplete statement: {buffer.strip()[:80]!r}")
