"""Storage adapters: PostgreSQL/TimescaleDB (psycopg 3) and embedded SQLite, behind one contract.

Import the backend you need from its module (``store.postgres``, ``store.sqlite``); this package
exports the contract only, so importing it pulls in no database driver.
"""

from store.contract import (
    Conflict,
    DeadLetter,
    DeadLetterStore,
    InsertResult,
    ReadingStore,
    RollupRow,
    SchemaStore,
    Store,
    StoreStats,
)
from store.errors import InvalidRowError, MigrationError, StoreError, StoreUnavailable

__all__ = [
    "Conflict",
    "DeadLetter",
    "DeadLetterStore",
    "InsertResult",
    "InvalidRowError",
    "MigrationError",
    "ReadingStore",
    "RollupRow",
    "SchemaStore",
    "Store",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
]
