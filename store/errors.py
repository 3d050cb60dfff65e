"""Store errors: foreign driver exceptions are translated into these at the adapter seam."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = [
    "DisputeClosedError",
    "DuplicateError",
    "InvalidRowError",
    "MigrationError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(MeterbillError, RuntimeError):
    """The store refused or failed an operation."""


class StoreUnavailable(StoreError, ConnectionError):
    """The database cannot be reached; the operation may succeed when it comes back."""


class MigrationError(StoreError):
    """The schema could not be created or migrated; ``version`` names the failing step."""

    def __init__(self, message: str, *, version: int | None = None) -> None:
        super().__init__(message)
        self.version = version


class InvalidRowError(StoreError, ValueError):
    """A row handed to the store cannot be written as it is (e.g. a naive timestamp); nothing was stored."""


class DuplicateError(StoreError, ValueError):
    """Records with these ids already exist; nothing of the batch was stored."""

    def __init__(self, message: str, *, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class NotFoundError(StoreError, LookupError):
    """The record named does not exist."""


class DisputeClosedError(StoreError, ValueError):
    """A resolved or credited dispute takes no further step."""
