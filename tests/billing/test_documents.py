"""Invoices survive the trip to plain data and back exactly (what the store keeps, the ledger hashes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from billing.documents import from_data, to_data
from billing.invoice import Invoice
from billing.ledger import canonical_bytes
from tests.einvoice import samples


@pytest.mark.parametrize("name", ["electricity_b2c", "electricity_b2b", "gas_b2c", "payd_insurance", "credit_note"])
def test_round_trip_is_exact(name: str) -> None:
    invoice = getattr(samples, name)()
    assert isinstance(invoice, Invoice)
    data = to_data(invoice)
    text = json.dumps(data)  # plain JSON: no Decimal, no float, no date objects left
    assert from_data(Invoice, json.loads(text)) == invoice
    assert canonical_bytes(data) == canonical_bytes(to_data(from_data(Invoice, data)))


@dataclass(frozen=True)
class _Bad:
    amount: float


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        to_data(_Bad(0.1))
