"""Migrations: numbered SQL files per backend, shipped inside the package.

File names are ``NNNN_name.sql`` for every deployment, or ``NNNN_name.plain.sql`` /
``NNNN_name.timescale.sql`` when plain PostgreSQL and TimescaleDB need different DDL for the same
step (hypertable and continuous aggregates versus plain tables with BRIN indexes). Exactly one file
per version applies to a given database; the applied versions are recorded in ``schema_migrations``
so that ``meterbill db upgrade`` run twice changes nothing the second time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from store.errors import MigrationError

__all__ = ["Migration", "latest_version", "migrations_for"]

Backend = Literal["sqlite", "postgres"]
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<slug>[a-z0-9_]+)(?:\.(?P<variant>plain|timescale))?\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file name, recorded beside the version
    sql: str


def migrations_for(backend: Backend, *, timescale: bool = False) -> list[Migration]:
    """The migrations of ``backend`` in version order, the TimescaleDB variant chosen when ``timescale``."""
    wanted = "timescale" if timescale else "plain"
    chosen: dict[int, Migration] = {}
    folder = resources.files("store").joinpath("migrations", backend)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {backend}/{entry.name} is not named NNNN_name[.plain|.timescale].sql")
        variant = match["variant"]
        if variant is not None and variant != wanted:
            continue
        version = int(match["version"])
        if version in chosen:
            raise MigrationError(
                f"two migrations with version {version} apply to {backend}: {chosen[version].name} and {entry.name}",
                version=version,
            )
        chosen[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    versions = sorted(chosen)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{backend} migrations must be numbered 1..n without gaps, found {versions}")
    return [chosen[v] for v in versions]


def latest_version(backend: Backend) -> int:
    """The schema version this code expects (both PostgreSQL variants share the numbering)."""
    return migrations_for(backend)[-1].version
