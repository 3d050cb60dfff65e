"""PostgreSQL / TimescaleDB store (psycopg 3 with a connection pool).

The bulk path is built for the gateway's common case, a batch of new readings:

1. **Direct**: ``COPY ... FROM STDIN (FORMAT BINARY)`` straight into ``readings``. When no key of
   the batch is stored yet (the usual case) this is the fastest way in and the whole insert.
2. **Staged**: if the direct COPY hits the primary key (a redelivery, or a key twice in one batch)
   the transaction is rolled back and the batch is copied into a per-connection temporary table,
   then moved with ``INSERT ... ON CONFLICT DO NOTHING`` in batch order (first one wins); staged
   rows whose key is stored with another value are recorded in ``reading_conflicts``.

After a batch that needed the staged path, the next batch goes straight to it, until a staged
batch finds no duplicate again: redeliveries come in runs, and a failed COPY costs a whole COPY.

At start-up the store looks for the ``timescaledb`` extension: ``db upgrade`` then creates a
hypertable, continuous aggregates and a compression policy instead of plain tables and BRIN
indexes, and ``rollup()`` reads the continuous aggregates instead of computing ``date_bin``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import args_row
from psycopg_pool import ConnectionPool, PoolTimeout

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
)
from store.disputes import ConsoleMixin, DisputeMixin
from store.errors import InvalidRowError, MigrationError, StoreError, StoreUnavailable
from store.invoices import InvoiceMixin
from store.registry import RegistryMixin
from store.schema import migrations_for
from store.sql import Dialect
from store.users import UserMixin

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

_COLUMNS = "device_id, register, ts, value, unit, kind, quality, received_at"
_COPY_TYPES = ["text", "text", "timestamptz", "float8", "text", "text", "text", "timestamptz"]
_MIGRATION_LOCK = 0x6D62_6D69  # "mbmi": serialises concurrent `db upgrade` runs
_EXACT_COUNT_BELOW = 1_000_000  # count(*) is exact and cheap below this; above, use the estimate

_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS readings_stage (
    ord bigint GENERATED ALWAYS AS IDENTITY,
    device_id text, register text, ts timestamptz, value float8,
    unit text, kind text, quality text, received_at timestamptz
) ON COMMIT DELETE ROWS
"""
_MOVE_STAGE = f"""
INSERT INTO readings ({_COLUMNS})
SELECT {_COLUMNS} FROM readings_stage ORDER BY ord
ON CONFLICT (device_id, register, ts) DO NOTHING
"""
# A staged row that joins a stored row with another value is a conflict. Rows just moved join
# themselves with equal values, so this only finds the losers.
_RECORD_CONFLICTS = f"""
WITH offered AS (
    SELECT s.device_id, s.register, s.ts, r.value AS stored_value, s.value AS offered_value,
           s.unit, s.quality AS offered_quality, s.received_at
    FROM readings_stage s
    -- LATERAL ... LIMIT 1 forces a primary-key look-up per staged row: the temporary stage has no
    -- statistics, and a plain join let the planner hash the whole readings table every batch.
    CROSS JOIN LATERAL (
        SELECT r.value, r.unit FROM readings r
        WHERE r.device_id = s.device_id AND r.register = s.register AND r.ts = s.ts LIMIT 1
    ) r
    WHERE abs(s.value - r.value) > {SAME_VALUE_REL_TOL!r} * greatest(1.0, abs(s.value), abs(r.value))
       OR s.unit <> r.unit
), recorded AS (
    INSERT INTO reading_conflicts
        (device_id, register, ts, stored_value, offered_value, unit, offered_quality, received_at)
    SELECT * FROM offered
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM offered
"""
_EPOCH_2000 = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"

# Hourly consumption of the devices: computed with date_bin on plain PostgreSQL (hours starting in
# [start, end) hold the readings in [start, stop), stop being `end` rounded up to the hour), read
# from the continuous aggregate on TimescaleDB (which counts no estimated readings).
_HOURLY_PLAIN = (
    f"SELECT unit, date_bin(INTERVAL '1 hour', ts, {_EPOCH_2000}) AS h, sum(value) AS total, count(*) AS n,"
    " count(*) FILTER (WHERE quality = 'estimated') AS est"
    " FROM readings WHERE kind = 'interval' AND device_id = ANY(%(ids)s) AND ts >= %(start)s AND ts < %(stop)s"
    " GROUP BY unit, h"
)
_HOURLY_TIMESCALE = (
    "SELECT unit, bucket AS h, total, n, 0 AS est FROM readings_hourly"
    " WHERE device_id = ANY(%(ids)s) AND bucket >= %(start)s AND bucket < %(end)s"
)
# Local bucket and TOU band of each hour ({at}: its local time in the tariff's zone), as
# LocalGrouping.locate computes them: 8,760 small rows for a year, grouped here so that about
# 365 x bands rows come back. (date_part, not extract: extract returns numeric, slower per row.)
_LOCAL_KEY = {
    "day": "l::date - DATE '1970-01-01'",
    "month": "(date_part('year', l)::int - 1970) * 12 + date_part('month', l)::int - 1",
}
_LOCAL_BAND = (
    "CASE WHEN unit = %(band_unit)s AND h >= %(band_from)s AND h < %(band_to)s THEN"
    " (%(bands)s::int2[])[1 + ((date_part('month', {at})::int - 1) * 3"
    "  + CASE WHEN {at}::date = ANY(%(holidays)s::date[]) THEN 2 WHEN date_part('isodow', {at}) >= 6 THEN 1 ELSE 0 END)"
    "  * (86400 / %(slot_s)s::int) + date_part('epoch', {at}::time)::int / %(slot_s)s::int]"
    " ELSE -1 END"
)
# OFFSET 0 keeps the planner from inlining l and bl into every use: one time zone conversion each.
_LOCAL_CONSUMPTION = (
    "SELECT key, band, unit, sum(total), sum(n)::bigint, sum(est)::bigint FROM ("
    " SELECT unit, total, n, est, {key} AS key, {band} AS band FROM ("
    "  SELECT unit, total, n, est, h, {local} FROM ({hourly}) hourly OFFSET 0) located) g"
    " GROUP BY key, band, unit ORDER BY key, band, unit"
)


class PostgresStore(BatchMixin, RegistryMixin, InvoiceMixin, UserMixin, DisputeMixin, ConsoleMixin):
    """The :class:`store.contract.Store` on PostgreSQL 15+ (TimescaleDB when installed)."""

    backend = "postgres"
    _dialect = Dialect(placeholder="%s", time_in=lambda t: t, time_out=lambda v: v, for_update=" FOR UPDATE")

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 10.0) -> None:
        params = conninfo_to_dict(url)
        params.pop("password", None)
        self.safe_url = make_conninfo("", **params)  # for messages and logs: never the password
        self._timeout_s = timeout_s
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=_configure, name="meterbill"
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(
                f"PostgreSQL at {self.safe_url} did not accept a connection within {timeout_s:g} s; "
                "check MB_STORE_URL and that the server is running"
            ) from exc
        self._direct_copy = True
        self._timescale = self._detect_timescale_readings()

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction committed on exit; driver errors translated."""
        try:
            with self._pool.connection(timeout=self._timeout_s) as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no PostgreSQL connection free or reachable at {self.safe_url}") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.safe_url} failed: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL refused the operation: {exc}") from exc

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _registry_write(self) -> Iterator[psycopg.Connection[Any]]:
        """One explicit transaction, so that nested ``conn.transaction()`` blocks are savepoints."""
        with self._connection() as conn, conn.transaction():
            yield conn

    def _registry_read(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._connection()

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1")

    # -- schema ---------------------------------------------------------------------------
    def _detect_timescale_readings(self) -> bool:
        """True when the readings continuous aggregates exist (the TimescaleDB migration ran)."""
        with self._connection() as conn:
            row = conn.execute("SELECT to_regclass('readings_hourly') IS NOT NULL").fetchone()
        return bool(row and row[0])

    def upgrade(self) -> list[str]:
        applied_now: list[str] = []
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = dict(conn.execute("SELECT version, name FROM schema_migrations").fetchall())
            timescale = self._choose_variant(conn, list(applied.values()))
            for migration in migrations_for("postgres", timescale=timescale):
                if migration.version in applied:
                    continue
                try:
                    with conn.transaction():  # a savepoint: name the failing file, keep nothing of it
                        conn.execute(migration.sql)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"migration {migration.name} failed: {exc}", version=migration.version
                    ) from exc
                applied_now.append(migration.name)
                log.info("applied migration %s", migration.name)
        self._timescale = self._detect_timescale_readings()
        return applied_now

    @staticmethod
    def _choose_variant(conn: psycopg.Connection[Any], applied_names: list[str]) -> bool:
        """Keep the variant already applied; on a new database use TimescaleDB when it is available."""
        if any(name.endswith(".timescale.sql") for name in applied_names):
            return True
        if any(name.endswith(".plain.sql") for name in applied_names):
            return False
        row = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        available = bool(row and row[0])
        log.info("TimescaleDB %s", "found: using hypertables" if available else "not available: using plain tables")
        return available

    def schema_version(self) -> int:
        with self._connection() as conn:
            if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
                return 0
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    @property
    def timescale(self) -> bool:
        return self._timescale

    # -- readings -------------------------------------------------------------------------
    def _insert_readings(self, conn: psycopg.Connection[Any], rows: Sequence[Reading]) -> InsertResult:
        """The bulk path, inside the caller's transaction (see the module docstring)."""
        n = len(rows)
        if n == 0:
            return InsertResult(0, 0, 0, 0)
        if self._direct_copy:
            try:
                with conn.transaction():  # a savepoint: a failed COPY leaves the batch's other parts alone
                    _copy(conn, f"COPY readings ({_COLUMNS}) FROM STDIN (FORMAT BINARY)", rows)
                return InsertResult(n, n, 0, 0)
            except psycopg.errors.UniqueViolation:
                log.debug("batch of %d holds stored keys: taking the staged path", n)
        conn.execute("TRUNCATE readings_stage")  # rows of an earlier batch in this transaction
        _copy(conn, f"COPY readings_stage ({_COLUMNS}) FROM STDIN (FORMAT BINARY)", rows)
        inserted = conn.execute(_MOVE_STAGE).rowcount
        conflicts = 0
        if inserted < n:  # every staged row went in: nothing can conflict
            row = conn.execute(_RECORD_CONFLICTS).fetchone()
            conflicts = int(row[0]) if row else 0
        duplicates = n - inserted - conflicts
        self._direct_copy = duplicates == 0 and conflicts == 0
        return InsertResult(n, inserted, duplicates, conflicts)

    def readings(
        self,
        *,
        device_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Reading]:
        where, params = _filters(device_ids, start, end)
        query = f"SELECT {_COLUMNS} FROM readings {where} ORDER BY device_id, register, ts"
        with self._connection() as conn:
            cur = conn.cursor(row_factory=args_row(Reading))
            return cur.execute(query, params).fetchall()

    def rollup(
        self,
        bucket: Bucket,
        *,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
    ) -> list[RollupRow]:
        step = BUCKETS[bucket]
        params: dict[str, Any] = {"start": start, "end": end, "step": step, "ids": list(device_ids or [])}
        device_filter = "AND device_id = ANY(%(ids)s)" if device_ids is not None else ""
        if self._timescale:
            view = sql.Identifier("readings_hourly" if bucket == "hour" else "readings_daily")
            query: sql.Composable = sql.SQL(
                "SELECT device_id, register, bucket, total, n, unit, 0 FROM {view}"
                " WHERE bucket >= %(start)s AND bucket < %(end)s " + device_filter
            ).format(view=view)
        else:
            # Rows of a bucket that starts before `end` reach up to `end + step`.
            query = sql.SQL(
                "SELECT device_id, register, bucket, total, n, unit, est FROM ("
                f" SELECT device_id, register, unit, date_bin(%(step)s, ts, {_EPOCH_2000}) AS bucket,"
                "  sum(value) AS total, count(*) AS n, count(*) FILTER (WHERE quality = 'estimated') AS est"
                " FROM readings WHERE kind = 'interval' AND ts >= %(start)s AND ts < %(end)s + %(step)s "
                + device_filter
                + " GROUP BY device_id, register, unit, bucket) q"
                " WHERE bucket >= %(start)s AND bucket < %(end)s"
            )
        query = sql.Composed([query, sql.SQL(" ORDER BY device_id, register, bucket")])
        with self._connection() as conn:
            cur = conn.cursor(row_factory=args_row(_rollup_row))
            return cur.execute(query, params).fetchall()

    def local_consumption(
        self, grouping: LocalGrouping, *, device_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[GroupedConsumption]:
        """Grouped in SQL from the hourly rollup; the band table and holidays travel as array parameters."""
        hour0 = start.replace(minute=0, second=0, microsecond=0)
        stop = end.replace(minute=0, second=0, microsecond=0)
        if stop < end:
            stop += timedelta(hours=1)
        params: dict[str, Any] = {
            "ids": list(device_ids),
            "start": hour0,
            "end": end,
            "stop": stop,
            "tz": grouping.tz,
        }
        band, local = "-1", "h AT TIME ZONE %(tz)s AS l"
        if grouping.has_bands:
            band = _LOCAL_BAND.format(at="l")  # the band's local time is the bucket's
            if grouping.band_tz != grouping.tz:
                band = _LOCAL_BAND.format(at="bl")
                local += ", h AT TIME ZONE %(band_tz)s AS bl"
            params.update(
                band_tz=grouping.band_tz,
                band_unit=grouping.band_unit,
                band_from=grouping.band_from or hour0,
                band_to=grouping.band_to or stop,
                bands=list(grouping.bands),
                holidays=list(grouping.holidays),
                slot_s=grouping.slot_s,
            )
        query = _LOCAL_CONSUMPTION.format(
            key=_LOCAL_KEY[grouping.bucket],
            band=band,
            local=local,
            hourly=_HOURLY_TIMESCALE if self._timescale else _HOURLY_PLAIN,
        )
        # Not prepared: a custom plan each time costs ~1 ms, where preparing (and PostgreSQL's later
        # switch to a generic plan) stalls single requests for tens of ms.
        with self._connection() as conn:
            rows = conn.execute(query, params, prepare=False).fetchall()
        return [GroupedConsumption(int(k), int(b), u, float(t), int(n), int(e)) for k, b, u, t, n, e in rows]

    def conflicts(self, *, limit: int = 100) -> list[Conflict]:
        with self._connection() as conn:
            cur = conn.cursor(row_factory=args_row(Conflict))
            return cur.execute(
                "SELECT device_id, register, ts, stored_value, offered_value, unit, offered_quality, received_at"
                " FROM reading_conflicts ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()

    # -- figures --------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        with self._connection() as conn:
            estimate_sql = (
                "SELECT approximate_row_count('readings')"
                if self._timescale
                else "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'readings'::regclass"
            )
            estimate = _scalar(conn, estimate_sql)
            exact = estimate < _EXACT_COUNT_BELOW
            readings = _scalar(conn, "SELECT count(*) FROM readings") if exact else estimate
            return StoreStats(
                readings=readings,
                readings_exact=exact,
                dead_letters=_scalar(conn, "SELECT count(*) FROM dead_letters"),
                conflicts=_scalar(conn, "SELECT count(*) FROM reading_conflicts"),
                schema_version=_scalar(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations"),
            )


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every pooled connection: UTC session time zone and its own staging table."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute(_CREATE_STAGE)
    conn.commit()


def _copy(conn: psycopg.Connection[Any], statement: str, rows: Sequence[Reading]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        try:
            for row in rows:
                write(row)
        except (TypeError, ValueError) as exc:  # raised by the dumpers, e.g. for a naive datetime
            raise InvalidRowError(f"a reading cannot be written ({exc}); timestamps must be timezone-aware") from exc


def _filters(
    device_ids: Sequence[str] | None, start: datetime | None, end: datetime | None
) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if device_ids is not None:
        clauses.append("device_id = ANY(%(ids)s)")
        params["ids"] = list(device_ids)
    if start is not None:
        clauses.append("ts >= %(start)s")
        params["start"] = start
    if end is not None:
        clauses.append("ts < %(end)s")
        params["end"] = end
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _scalar(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _rollup_row(
    device_id: str, register: str, bucket: datetime, total: float, n: int, unit: str, estimated: int
) -> RollupRow:
    return RollupRow(device_id, register, bucket, float(total), int(n), unit, int(estimated))
