"""Database fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests get a fresh database with a random name on the server at ``MB_TEST_PG_URL``
(a URL; default ``postgresql://postgres@127.0.0.1:5432/test``), dropped afterwards. With ``CI=true`` an
unreachable server fails the test; elsewhere it is skipped with the variable to set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from store.contract import Store
from store.postgres import PostgresStore
from store.sqlite import SQLiteStore

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def service_missing(what: str, variable: str, error: object) -> None:
    """Fail in CI, skip elsewhere, naming the variable that points at the service."""
    message = f"{what} is not reachable ({error}); set {variable} to a reachable server"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("MB_TEST_PG_URL", DEFAULT_PG_URL)
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", "MB_TEST_PG_URL", exc)
    return url


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database for this test; dropped (forcibly) afterwards."""
    name = f"mbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(pg_admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def open_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if backend == "sqlite":
        return SQLiteStore(tmp_path / "meterbill.db")
    return PostgresStore(request.getfixturevalue("pg_url"), max_size=4)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of each backend with no schema yet."""
    store = open_backend(request.param, request, tmp_path)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """A store of each backend, migrated."""
    empty_store.upgrade()
    return empty_store
