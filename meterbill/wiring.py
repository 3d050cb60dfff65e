"""Wiring: the one place that turns settings into concrete adapters (the store and the broker)."""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from billing.invoice import SellerSettings
from gateway.embedded_broker import EmbeddedBroker
from gateway.mqtt import BrokerAddress
from meterbill.errors import ConfigurationError
from meterbill.settings import Settings
from store.contract import Store

__all__ = ["broker_for", "load_seller", "open_store", "sqlite_path"]

log = logging.getLogger(__name__)


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/path`` and ``sqlite:////absolute/path`` -> the file path."""
    path = url.removeprefix("sqlite:///")
    if path == url or not path:
        raise ConfigurationError(f"MB_STORE_URL {url!r}: an SQLite URL is sqlite:///PATH (four slashes for /abs/path)")
    return path


def open_store(settings: Settings) -> Store:
    """The store named by ``MB_STORE_URL``; the caller closes it."""
    url = settings.store_url
    if url.startswith("sqlite:"):
        from store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from store.postgres import PostgresStore  # imported here: psycopg is only needed for PostgreSQL

        return PostgresStore(url, min_size=settings.pg_pool_min_size, max_size=settings.pg_pool_max_size)
    scheme = url.split("://", 1)[0] + "://..." if "://" in url else "a value that is not a URL"
    raise ConfigurationError(f"MB_STORE_URL must start with sqlite:/// or postgresql://, got {scheme}")


@asynccontextmanager
async def broker_for(settings: Settings) -> AsyncIterator[tuple[BrokerAddress, bool]]:
    """The configured broker, or an embedded one for as long as the block runs; yields (address, embedded)."""
    if settings.mqtt_url is not None:
        yield BrokerAddress.parse(settings.mqtt_url), False
        return
    async with EmbeddedBroker() as address:
        yield address, True


def load_seller(path: Path) -> SellerSettings:
    """The seller of the documents from a TOML or JSON file (``MB_SELLER_FILE``, ``--seller``)."""
    from billing.seller import seller_from_mapping

    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read seller settings {path}: {exc}") from None
    return seller_from_mapping(data, source=str(path))
