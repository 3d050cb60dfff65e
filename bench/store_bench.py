"""Bulk-insert throughput of the PostgreSQL store, in rows per second.

Run from the repository root::

    python bench/store_bench.py            # 1,000,000 readings (about 30 s on 2 cores)
    python bench/store_bench.py --quick    # 200,000 readings (under 10 s)

It creates a throw-away database ``mb_bench_<hex>`` on ``--pg-url`` (default: ``$MB_TEST_PG_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``), runs ``PostgresStore.upgrade()`` there, and drops it at the
end whatever happens. Readings are generated up front (not timed): ``--devices`` meters reporting
register ``1-0:1.8.0`` in kWh every 15 minutes, in arrival order (one interval of every device, then the
next), as ``devices.readings.Reading`` tuples with aware UTC datetimes. Every scenario runs in the same
process against the same server, one after the other:

(a) ``copy_rows_per_s``: all-new readings through ``PostgresStore.insert_readings`` (the idempotent path
    the gateway uses) in batches of ``--batch``, starting on an empty ``readings`` table.
    The default batch, 10,000 rows, is the measured sweet spot: the direct COPY reaches the plain-COPY
    ceiling from about 5,000 rows up, while larger staged batches (20,000 and more) made the planner switch
    the conflict check to a hash join over the whole ``readings`` table (half as fast, and slower as the
    table grows).
(b) ``half_duplicate_rows_per_s``: ``readings`` is truncated and every other reading stored again (not
    timed); then every batch carries half readings already stored and half new ones, interleaved, through
    the same ``insert_readings``. Each ``InsertResult`` is checked (inserted == new rows, duplicates ==
    re-sent rows, no conflicts); the run fails loudly otherwise.
(c) ``all_duplicate_rows_per_s``: every batch of (a) is sent again; nothing may be inserted.
(d) ``plain_copy_rows_per_s``: the ceiling. Binary COPY of the same batches into a plain table
    ``LIKE readings INCLUDING ALL`` (same primary key, indexes and checks), no dedup logic at all.
(e) ``executemany_rows_per_s``: the baseline. ``cursor.executemany("INSERT ... ON CONFLICT DO NOTHING")``
    in batches of 1,000 rows, one commit per batch, into another fresh table like ``readings``; on fewer
    rows (``--executemany-rows``) since it is slow.

A ``CHECKPOINT`` precedes every timed scenario so that dirty pages of the previous one are not paid for
by the next. The script prints a table with the figures and ratios, then, as the last line of stdout, one
JSON object with every figure (``copy_rows_per_s``, ``half_duplicate_rows_per_s``, ...).

Acceptance targets (the gateway's ingestion budget):

* >= 250,000 rows/s for all-new readings through the idempotent path (``copy_rows_per_s``);
* >= 100,000 rows/s when half of each batch is a redelivery (``half_duplicate_rows_per_s``).

The script exits with status 1 when a result count is wrong, not when a target is missed: the targets
depend on the machine, so the figures are reported and compared by whoever runs it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from _report import BenchFailure, add_pg_url, log, measure_and_report  # bench/: the script's folder is on sys.path
from psycopg import sql

try:
    from devices.readings import Reading
    from store.postgres import PostgresStore
except ImportError:  # not pip-installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from devices.readings import Reading
    from store.postgres import PostgresStore

REGISTER = "1-0:1.8.0"
INTERVAL = timedelta(minutes=15)
START = datetime(2024, 1, 1, tzinfo=UTC)
COLUMNS = "device_id, register, ts, value, unit, kind, quality, received_at"
COPY_TYPES = ["text", "text", "timestamptz", "float8", "text", "text", "text", "timestamptz"]
EXECUTEMANY_BATCH = 1_000
TARGET_COPY = 250_000
TARGET_HALF_DUP = 100_000


# -- data -------------------------------------------------------------------------------------------
def generate_readings(n: int, devices: int, seed: int = 42) -> list[Reading]:
    """``n`` distinct readings: every device's interval ``i``, then every device's interval ``i + 1``..."""
    rng = random.Random(seed)
    ids = [f"elec-{d:06d}" for d in range(devices)]
    out: list[Reading] = []
    i = 0
    while len(out) < n:
        ts = START + i * INTERVAL
        received = ts + INTERVAL + timedelta(seconds=30)
        take = min(devices, n - len(out))
        out.extend(
            Reading(ids[d], REGISTER, ts, round(rng.random() * 0.6, 3), "kWh", "interval", "actual", received)
            for d in range(take)
        )
        i += 1
    return out


def batches(rows: Sequence[Reading], size: int) -> Iterator[Sequence[Reading]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def interleave(new: Sequence[Reading], old: Sequence[Reading]) -> list[Reading]:
    """new[0], old[0], new[1], old[1], ...: a redelivered window overlapping fresh data."""
    out: list[Reading] = []
    for pair in zip(new, old, strict=True):
        out.extend(pair)
    return out


# -- database plumbing ------------------------------------------------------------------------------


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=autocommit)
    conn.execute("SET TIME ZONE 'UTC'")
    if not autocommit:
        conn.commit()
    return conn


def scalar(conn: psycopg.Connection[Any], query: sql.Composable | str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def checkpoint(admin: psycopg.Connection[Any]) -> None:
    admin.execute("CHECKPOINT")


def fresh_table_like_readings(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE TABLE {} (LIKE readings INCLUDING ALL)").format(sql.Identifier(name)))


# -- scenarios --------------------------------------------------------------------------------------
def timed_insert_readings(store: PostgresStore, rows: Sequence[Reading], batch: int, *, new_per_batch: float) -> float:
    """Seconds to push ``rows`` through ``insert_readings``; checks every InsertResult.

    ``new_per_batch`` is the share of each batch that is not stored yet (1.0, 0.5 or 0.0); for 0.5 the
    batches hold new and stored readings alternately, starting with a new one.
    """
    results = []
    t0 = time.perf_counter()
    for chunk in batches(rows, batch):
        results.append((len(chunk), store.insert_readings(chunk)))
    elapsed = time.perf_counter() - t0
    for i, (n, res) in enumerate(results):
        expected_new = n if new_per_batch == 1.0 else 0 if new_per_batch == 0.0 else (n + 1) // 2
        expected = (n, expected_new, n - expected_new, 0)
        got = (res.received, res.inserted, res.duplicates, res.conflicts)
        if got != expected:
            raise BenchFailure(
                f"batch {i}: InsertResult(received, inserted, duplicates, conflicts) = {got}, expected {expected}"
            )
    return elapsed


def timed_plain_copy(url: str, table: str, rows: Sequence[Reading], batch: int) -> float:
    """Seconds for binary COPY of ``rows`` into ``table``, one transaction per batch, no dedup at all."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), sql.SQL(COLUMNS))
    with connect(url) as conn:
        t0 = time.perf_counter()
        for chunk in batches(rows, batch):
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                write = copy.write_row
                for row in chunk:
                    write(row)
            conn.commit()
        return time.perf_counter() - t0


def timed_executemany(url: str, table: str, rows: Sequence[Reading]) -> float:
    """Seconds for the naive baseline: executemany INSERT ... ON CONFLICT DO NOTHING, commit per 1,000 rows."""
    statement = sql.SQL("INSERT INTO {} ({}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING").format(
        sql.Identifier(table), sql.SQL(COLUMNS)
    )
    with connect(url) as conn:
        t0 = time.perf_counter()
        for chunk in batches(rows, EXECUTEMANY_BATCH):
            with conn.cursor() as cur:
                cur.executemany(statement, chunk)
            conn.commit()
        return time.perf_counter() - t0


def expect_count(conn: psycopg.Connection[Any], table: str, expected: int, when: str) -> None:
    got = scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    if got != expected:
        raise BenchFailure(f"{when}: {table} holds {got} rows, expected {expected}")


def run(url: str, rows: list[Reading], batch: int, em_rows: int, log: Callable[[str], None]) -> dict[str, Any]:
    n = len(rows)
    seconds: dict[str, float] = {}
    with connect(url, autocommit=True) as admin:
        store = PostgresStore(url, min_size=1, max_size=2)
        try:
            store.upgrade()
            timescale = store.timescale

            # (a) all new, on an empty readings table
            admin.execute("TRUNCATE readings")
            expect_count(admin, "readings", 0, "before (a)")
            checkpoint(admin)
            log(f"(a) insert_readings, all new: {n:,} rows in batches of {batch:,}")
            seconds["copy"] = timed_insert_readings(store, rows, batch, new_per_batch=1.0)
            expect_count(admin, "readings", n, "after (a)")

            # (b) half duplicates: every other reading stored, then new and stored ones interleaved
            admin.execute("TRUNCATE readings")
            stored, new = rows[0::2], rows[1::2]
            new = new[: len(stored)]
            for chunk in batches(stored, batch):  # not timed
                store.insert_readings(chunk)
            admin.execute("VACUUM (ANALYZE) readings")
            expect_count(admin, "readings", len(stored), "before (b)")
            mixed = interleave(new, stored)
            checkpoint(admin)
            log(f"(b) insert_readings, half duplicates: {len(mixed):,} rows ({len(new):,} new)")
            seconds["half_duplicate"] = timed_insert_readings(store, mixed, batch, new_per_batch=0.5)
            half_rows = len(mixed)
            expect_count(admin, "readings", len(stored) + len(new), "after (b)")

            # (c) all duplicates: (a)'s batches once more (reload first when (b) stored fewer rows)
            if len(stored) + len(new) != n:
                admin.execute("TRUNCATE readings")
                for chunk in batches(rows, batch):
                    store.insert_readings(chunk)
            admin.execute("VACUUM (ANALYZE) readings")
            checkpoint(admin)
            log(f"(c) insert_readings, all duplicates: {n:,} rows")
            seconds["all_duplicate"] = timed_insert_readings(store, rows, batch, new_per_batch=0.0)
            expect_count(admin, "readings", n, "after (c)")
        finally:
            store.close()

        # (d) the ceiling: plain binary COPY into a table like readings
        fresh_table_like_readings(admin, "readings_plain_copy")
        checkpoint(admin)
        log(f"(d) plain binary COPY: {n:,} rows in batches of {batch:,}")
        seconds["plain_copy"] = timed_plain_copy(url, "readings_plain_copy", rows, batch)
        expect_count(admin, "readings_plain_copy", n, "after (d)")
        admin.execute("DROP TABLE readings_plain_copy")

        # (e) the baseline: executemany INSERT ... ON CONFLICT DO NOTHING
        em = rows[:em_rows]
        fresh_table_like_readings(admin, "readings_executemany")
        checkpoint(admin)
        log(f"(e) executemany INSERT ON CONFLICT DO NOTHING: {len(em):,} rows in batches of {EXECUTEMANY_BATCH:,}")
        seconds["executemany"] = timed_executemany(url, "readings_executemany", em)
        expect_count(admin, "readings_executemany", len(em), "after (e)")
        admin.execute("DROP TABLE readings_executemany")

        server = str(scalar(admin, "SHOW server_version"))
    return {
        "rows_copy": n,
        "rows_half": half_rows,
        "rows_executemany": len(em),
        "timescale": timescale,
        "server": server,
        **{f"s_{k}": v for k, v in seconds.items()},
    }


# -- report -----------------------------------------------------------------------------------------
def report(raw: dict[str, Any], *, batch: int, quick: bool, total_s: float) -> dict[str, Any]:
    n = raw["rows_copy"]
    rates = {
        "copy_rows_per_s": n / raw["s_copy"],
        "half_duplicate_rows_per_s": raw["rows_half"] / raw["s_half_duplicate"],
        "all_duplicate_rows_per_s": n / raw["s_all_duplicate"],
        "plain_copy_rows_per_s": n / raw["s_plain_copy"],
        "executemany_rows_per_s": raw["rows_executemany"] / raw["s_executemany"],
    }
    em = rates["executemany_rows_per_s"]
    ratios = {
        "ratio_copy_vs_executemany": rates["copy_rows_per_s"] / em,
        "ratio_half_dup_vs_executemany": rates["half_duplicate_rows_per_s"] / em,
        "ratio_all_dup_vs_executemany": rates["all_duplicate_rows_per_s"] / em,
        "ratio_copy_vs_plain_copy": rates["copy_rows_per_s"] / rates["plain_copy_rows_per_s"],
    }
    labels = [
        ("(a) insert_readings, all new", "copy_rows_per_s", n, raw["s_copy"], TARGET_COPY),
        (
            "(b) insert_readings, half duplicates",
            "half_duplicate_rows_per_s",
            raw["rows_half"],
            raw["s_half_duplicate"],
            TARGET_HALF_DUP,
        ),
        ("(c) insert_readings, all duplicates", "all_duplicate_rows_per_s", n, raw["s_all_duplicate"], None),
        ("(d) plain binary COPY (ceiling)", "plain_copy_rows_per_s", n, raw["s_plain_copy"], None),
        (
            "(e) executemany ON CONFLICT (baseline)",
            "executemany_rows_per_s",
            raw["rows_executemany"],
            raw["s_executemany"],
            None,
        ),
    ]
    print()
    print(
        f"PostgreSQL {raw['server']}{' + TimescaleDB' if raw['timescale'] else ''}; "
        f"batch {batch:,} rows (executemany: {EXECUTEMANY_BATCH:,}); {'quick' if quick else 'full'} run"
    )
    print(f"{'scenario':<40} {'rows':>10} {'seconds':>9} {'rows/s':>11}  target")
    for label, key, rows, secs, target in labels:
        verdict = "" if target is None else f">= {target:,}: {'ok' if rates[key] >= target else 'MISSED'}"
        print(f"{label:<40} {rows:>10,} {secs:>9.2f} {rates[key]:>11,.0f}  {verdict}")
    print()
    print(f"copy vs executemany:       {ratios['ratio_copy_vs_executemany']:6.1f}x")
    print(f"half-dup vs executemany:   {ratios['ratio_half_dup_vs_executemany']:6.1f}x")
    print(f"all-dup vs executemany:    {ratios['ratio_all_dup_vs_executemany']:6.1f}x")
    print(f"copy vs plain COPY ceiling: {ratios['ratio_copy_vs_plain_copy']:5.2f}")
    print(f"total run time:             {total_s:5.1f} s")
    return {
        **{k: round(v) for k, v in rates.items()},
        **{k: round(v, 2) for k, v in ratios.items()},
        "rows": n,
        "half_duplicate_rows": raw["rows_half"],
        "executemany_rows": raw["rows_executemany"],
        "batch": batch,
        "executemany_batch": EXECUTEMANY_BATCH,
        "quick": quick,
        "timescale": raw["timescale"],
        "total_s": round(total_s, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_pg_url(parser)
    parser.add_argument("--quick", action="store_true", help="200,000 readings, 50,000 for executemany")
    parser.add_argument("--rows", type=int, help="readings per scenario (default 1,000,000; quick 200,000)")
    parser.add_argument("--executemany-rows", type=int, help="rows for the baseline (default 200,000; quick 50,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per insert_readings / COPY batch")
    parser.add_argument("--devices", type=int, default=1_000, help="meters reporting every 15 minutes")
    args = parser.parse_args(argv)
    rows_n = args.rows or (200_000 if args.quick else 1_000_000)
    em_n = min(rows_n, args.executemany_rows or (50_000 if args.quick else 200_000))
    if rows_n < 2 or args.batch < 2 or em_n < 1 or args.devices < 1:
        parser.error("--rows and --batch must be at least 2, --executemany-rows and --devices at least 1")

    t_start = time.perf_counter()
    log(f"generating {rows_n:,} readings from {args.devices:,} devices")
    rows = generate_readings(rows_n, args.devices)
    return measure_and_report(
        args.pg_url,
        lambda url: run(url, rows, args.batch, em_n, log),
        lambda raw, total_s: report(raw, batch=args.batch, quick=args.quick, total_s=total_s),
        t_start=t_start,
    )


if __name__ == "__main__":
    sys.exit(main())
