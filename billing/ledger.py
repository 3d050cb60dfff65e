"""The tamper-evident ledger: every issued document appended to a SHA-256 hash chain.

Each entry's hash is ``SHA-256(previous hash || canonical serialisation of the document)``; the first
entry chains from :data:`GENESIS`. The canonical serialisation is JSON with sorted keys, no
insignificant whitespace, UTF-8, and exact decimals as strings, so the same document always gives
the same bytes. ``verify`` recomputes the chain from the stored documents and names the first
entry whose document or link no longer matches: an edit anywhere shows, however it was made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["GENESIS", "Break", "LedgerEntry", "canonical_bytes", "chain_hash", "verify"]

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent: "0.10", not "1E-1"
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be part of a ledger document")


def _refuse_floats(value: Any, path: str) -> None:
    # json would happily write a float, whose text is not exact money: refuse it loudly instead.
    if isinstance(value, float):
        raise TypeError(f"{path}: float {value!r} cannot be part of a ledger document; use Decimal")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_floats(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _refuse_floats(item, f"{path}[{i}]")


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The one serialisation of a document that the chain hashes."""
    _refuse_floats(document, "document")
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def chain_hash(previous: str, payload: bytes) -> str:
    return hashlib.sha256(previous.encode("ascii") + payload).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    seq: int  # 1, 2, 3 ... in issue order
    document_number: str
    payload: bytes  # canonical_bytes of the document as issued
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Break:
    """The first place the chain no longer holds, and why."""

    seq: int
    document_number: str
    reason: str

    def __str__(self) -> str:
        return f"ledger entry {self.seq} ({self.document_number}): {self.reason}"


def verify(entries: Iterable[LedgerEntry], current: Mapping[str, bytes] | None = None) -> Break | None:
    """Recompute the chain; return the first break or None.

    ``current`` maps document numbers to the canonical bytes of the documents as the store holds
    them now: a document edited after issue no longer matches its ledger payload.
    """
    previous, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            return Break(entry.seq, entry.document_number, f"sequence jumps from {expected_seq - 1} to {entry.seq}")
        if entry.prev_hash != previous:
            return Break(entry.seq, entry.document_number, "does not link to the entry before it")
        if chain_hash(previous, entry.payload) != entry.hash:
            return Break(entry.seq, entry.document_number, "its recorded document no longer matches its hash")
        if current is not None:
            now = current.get(entry.document_number)
            if now is None:
                return Break(entry.seq, entry.document_number, "the document is missing from the store")
            if now != entry.payload:
                return Break(entry.seq, entry.document_number, "the stored document was changed after issue")
        previous, expected_seq = entry.hash, expected_seq + 1
    return None
