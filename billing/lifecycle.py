"""The invoice lifecycle as an explicit transition table.

``draft -> approved -> issued``; ``issued -> credited`` when a credit note (type 381) cancels it in
full or in part. A draft may be discarded (re-running a billing period replaces its drafts) and
an approval withdrawn back to draft; an issued document never changes again: corrections are
credit notes plus a new invoice. Numbers are given at issue time, not before, so that a discarded
draft never leaves a gap in the sequence.
"""

from __future__ import annotations

from typing import Literal

from billing.errors import LifecycleError

__all__ = ["EDITABLE", "TRANSITIONS", "InvoiceStatus", "check_transition"]

InvoiceStatus = Literal["draft", "approved", "issued", "credited"]

TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    "draft": frozenset({"approved"}),
    "approved": frozenset({"draft", "issued"}),
    "issued": frozenset({"credited"}),
    "credited": frozenset({"credited"}),  # a second partial credit note keeps it credited
}
EDITABLE: frozenset[InvoiceStatus] = frozenset({"draft", "approved"})  # may be replaced or discarded


def check_transition(document: str, current: InvoiceStatus, new: InvoiceStatus) -> None:
    """Raise LifecycleError naming the document unless ``current -> new`` is allowed."""
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise LifecycleError(f"invoice {document} cannot go from {current} to {new} (allowed: {allowed})")
