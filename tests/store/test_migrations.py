"""Migrations: idempotent, recorded, exact money columns, safe under concurrency."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from store.contract import Store
from store.errors import StoreUnavailable
from store.postgres import PostgresStore
from store.schema import latest_version, migrations_for
from store.sqlite import SQLiteStore

MONEY_COLUMNS = {"net_total", "tax_total", "gross_total", "unit_price", "amount"}
TABLES = {
    "customers",
    "contracts",
    "contract_devices",
    "devices",
    "tariffs",
    "readings",
    "trips",
    "events",
    "dead_letters",
    "reading_conflicts",
    "invoices",
    "invoice_lines",
    "invoice_sequences",
    "ledger",
    "users",
    "schema_migrations",
}


def fingerprint(store: Store) -> list[tuple[Any, ...]]:
    """Every table, column, type and index of the store's schema, plus the migration records."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
            versions = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        return schema + versions
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.safe_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        versions = conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1").fetchall()
    return columns + indexes + versions


def table_names(store: Store) -> set[str]:
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.safe_url) as conn:
        return {n for (n,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_upgrade_twice_changes_nothing_the_second_time(empty_store: Store) -> None:
    assert empty_store.schema_version() == 0
    applied = empty_store.upgrade()
    assert [int(name[:4]) for name in applied] == list(range(1, latest_version("sqlite") + 1))
    before = fingerprint(empty_store)
    assert empty_store.upgrade() == []
    assert fingerprint(empty_store) == before
    assert empty_store.schema_version() == latest_version("sqlite") == latest_version("postgres")
    assert table_names(empty_store) >= TABLES


def test_money_columns_are_exact(store: Store) -> None:
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            types = {
                (table, name): decl
                for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
                for _, name, decl, *_ in conn.execute(f"PRAGMA table_info({table})").fetchall()
                if name in MONEY_COLUMNS
            }
        assert types and set(types.values()) == {"TEXT"}, types
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.safe_url) as conn:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = ANY(%s)",
                (list(MONEY_COLUMNS),),
            ).fetchall()
        assert rows and {t for _, _, t in rows} == {"numeric"}, rows


def test_postgres_uses_timescaledb_exactly_when_it_is_available(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.upgrade()
        with psycopg.connect(pg_url) as conn:
            available = conn.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
            ).fetchone() == (1,)
            names = [n for (n,) in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
            brin = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'readings_ts_brin'").fetchone()
        assert store.timescale is available
        assert names[1] == ("0002_readings.timescale.sql" if available else "0002_readings.plain.sql")
        assert brin == ((0,) if available else (1,))
    finally:
        store.close()


def test_concurrent_upgrades_apply_each_migration_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(3)]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run(store: PostgresStore) -> None:
        try:
            results.append(store.upgrade())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, latest_version("postgres")]


def test_both_postgres_variants_share_the_numbering() -> None:
    plain = [m.version for m in migrations_for("postgres", timescale=False)]
    timescale = [m.version for m in migrations_for("postgres", timescale=True)]
    assert plain == timescale == [m.version for m in migrations_for("sqlite")]
    assert any(m.name.endswith(".timescale.sql") for m in migrations_for("postgres", timescale=True))
    ts_sql = "\n".join(m.sql for m in migrations_for("postgres", timescale=True))
    for needle in ("create_hypertable", "timescaledb.continuous", "add_compression_policy"):
        assert needle in ts_sql


def test_unreachable_postgres_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="did not accept a connection"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", timeout_s=1)


def test_unwritable_sqlite_path_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        SQLiteStore(blocker / "sub" / "meterbill.db")
