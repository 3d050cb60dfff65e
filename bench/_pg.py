"""A throw-away PostgreSQL database for a benchmark run: created on entry, dropped on exit."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def with_dbname(url: str, dbname: str) -> str:
    """``url`` (a URL or a conninfo string) pointing at ``dbname`` instead."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


@contextmanager
def throwaway_database(admin_url: str, log: Callable[[str], None]) -> Iterator[str]:
    """A new ``mb_bench_<hex>`` database on the server of ``admin_url``; yields its conninfo."""
    dbname = f"mb_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    log(f"created database {dbname}")
    try:
        yield with_dbname(admin_url, dbname)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        log(f"dropped database {dbname}")
