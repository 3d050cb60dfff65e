"""What the shared SQL mixins (registry, batch, invoices) stand on: the dialect and one way to run SQL.

The small tables are written once for both backends against DB-API connections. :class:`Dialect`
holds what PostgreSQL (psycopg) and SQLite spell differently; :class:`SqlMixin` is the base each
mixin extends: the backend provides the two transactions, the mixin runs statements through
``_exec``/``_many`` with ``%s`` placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["Dialect", "SqlMixin", "date_out", "json_out", "utc_now"]


@dataclass(frozen=True)
class Dialect:
    """What the two SQL backends spell differently."""

    placeholder: str  # "%s" (psycopg) or "?" (sqlite3)
    time_in: Callable[[datetime], object]  # an aware datetime -> the stored value
    time_out: Callable[[Any], datetime]
    for_update: str  # row lock suffix for SELECT ("" where the whole write transaction is locked)

    def sql(self, query: str) -> str:
        return query if self.placeholder == "%s" else query.replace("%s", self.placeholder)

    def opt_time_in(self, moment: datetime | None) -> object:
        return None if moment is None else self.time_in(moment)

    def opt_time_out(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)


class SqlMixin:
    """The backend provides the dialect and its transactions; mixins run SQL through these helpers."""

    _dialect: Dialect

    def _registry_write(self) -> AbstractContextManager[Any]:
        """One write transaction, committed on success (PostgreSQL: nested ones are savepoints)."""
        raise NotImplementedError

    def _registry_read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _exec(self, conn: Any, query: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``%s`` placeholders; return the cursor."""
        cur = conn.cursor()
        cur.execute(self._dialect.sql(query), params)
        return cur

    def _many(self, conn: Any, query: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row; return the rows affected."""
        if not rows:
            return 0
        cur = conn.cursor()
        cur.executemany(self._dialect.sql(query), rows)
        return max(int(cur.rowcount), 0)


def json_out(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # jsonb arrives decoded


def date_out(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def utc_now() -> datetime:
    return datetime.now(UTC)
