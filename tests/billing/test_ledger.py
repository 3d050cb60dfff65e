"""The ledger's hash chain and the lifecycle's transition table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.errors import LifecycleError
from billing.ledger import GENESIS, LedgerEntry, canonical_bytes, chain_hash, verify
from billing.lifecycle import check_transition


def chain(documents: list[dict[str, object]]) -> list[LedgerEntry]:
    entries, previous = [], GENESIS
    for i, doc in enumerate(documents, start=1):
        payload = canonical_bytes(doc)
        digest = chain_hash(previous, payload)
        entries.append(LedgerEntry(i, str(doc["number"]), payload, previous, digest))
        previous = digest
    return entries


DOCS: list[dict[str, object]] = [
    {"number": f"F2026-{i:06d}", "total": Decimal("12.30") * i, "issued": date(2026, 2, i)} for i in range(1, 6)
]


def test_canonical_bytes_are_stable_and_exact() -> None:
    a = canonical_bytes({"b": Decimal("0.10"), "a": [1, "é"], "d": date(2026, 1, 31)})
    b = canonical_bytes({"d": date(2026, 1, 31), "a": [1, "é"], "b": Decimal("0.10")})
    assert a == b == '{"a":[1,"é"],"b":"0.10","d":"2026-01-31"}'.encode()
    assert canonical_bytes({"x": Decimal("1E+2")}) == b'{"x":"100"}'
    with pytest.raises(TypeError, match="float"):
        canonical_bytes({"x": 0.1})  # type: ignore[dict-item]  # money is never a float


def test_an_untouched_chain_verifies() -> None:
    entries = chain(DOCS)
    assert verify(entries, {e.document_number: e.payload for e in entries}) is None


def test_an_edited_document_names_itself() -> None:
    entries = chain(DOCS)
    current = {e.document_number: e.payload for e in entries}
    current["F2026-000003"] = canonical_bytes({**DOCS[2], "total": Decimal("1.00")})
    found = verify(entries, current)
    assert found is not None and (found.seq, found.document_number) == (3, "F2026-000003")
    assert "changed after issue" in str(found)


def test_an_edited_ledger_row_breaks_the_chain_there() -> None:
    entries = chain(DOCS)
    forged = LedgerEntry(2, entries[1].document_number, b"{}", entries[1].prev_hash, entries[1].hash)
    found = verify([entries[0], forged, *entries[2:]])
    assert found is not None and found.seq == 2
    # Re-hashing the forged entry does not help: the next link no longer matches.
    rehashed = LedgerEntry(2, forged.document_number, b"{}", forged.prev_hash, chain_hash(forged.prev_hash, b"{}"))
    found = verify([entries[0], rehashed, *entries[2:]])
    assert found is not None and found.seq == 3 and "does not link" in found.reason


def test_a_removed_entry_is_a_jump() -> None:
    entries = chain(DOCS)
    found = verify([entries[0], *entries[2:]])
    assert found is not None and found.seq == 3 and "jumps" in found.reason


def test_lifecycle_transitions() -> None:
    check_transition("F1", "draft", "approved")
    check_transition("F1", "approved", "issued")
    check_transition("F1", "issued", "credited")
    for current, new in (("draft", "issued"), ("issued", "draft"), ("issued", "approved"), ("credited", "issued")):
        with pytest.raises(LifecycleError, match=f"from {current} to {new}"):
            check_transition("F1", current, new)  # type: ignore[arg-type]
