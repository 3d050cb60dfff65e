"""A small portal world: two customers on the HP/HC tariff, January's readings, one issued invoice, drafts.

``cu-000`` (customer user ``ann@example.fr``) has contract ``ct-000`` with its January invoice
issued; ``ct-001`` (customer ``cu-001``) and ``ct-002`` (``cu-002``, user ``bob@example.fr``) stay
drafts for staff to review. ``billing@example.fr`` is billing staff, ``audit@example.fr`` an
auditor. A flat tariff ``fr-elec-base`` is there to compare with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from api.auth import hash_password
from billing.issue import finalize
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from store.contract import Store, User, UserRole
from tests.billing.billing_world import EXAMPLES, PERIOD, SELLER, add_world

__all__ = ["PASSWORD", "PERIOD", "World", "build_world"]

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class World:
    issued_id: str  # ct-000's January invoice, issued
    issued_number: str
    draft_id: str  # ct-001's January draft
    other_draft_id: str  # ct-002's, another customer's
    customer_email: str = "ann@example.fr"
    other_customer_email: str = "bob@example.fr"
    staff_email: str = "billing@example.fr"
    auditor_email: str = "audit@example.fr"


def _flat_tariff() -> str:
    body = json.loads((EXAMPLES / "fr_electricity_hphc.json").read_text(encoding="utf-8"))
    body["id"] = "fr-elec-base"
    body["name"] = "Electricity, single rate (base), 9 kVA"
    charge = body["energy_charges"][0]
    charge["bands"] = [{"name": "base", "description": "all hours", "price": 0.1952}]
    charge.pop("schedule", None)
    return json.dumps(body)


def _user(store: Store, user_id: str, email: str, role: UserRole, customer_id: str | None, password_hash: str) -> None:
    store.add_user(User(user_id, email, role, customer_id, password_hash, created_at=datetime.now(UTC)))


def build_world(store: Store) -> World:
    add_world(store, contracts=3)
    store.add_tariff_version("fr-elec-base", _flat_tariff())
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    issued_id = f"ct-000-{PERIOD}"
    store.set_invoice_status(issued_id, "approved")
    record = store.issue_invoice(
        issued_id, issue_date=date(2026, 2, 3), issued_at=datetime(2026, 2, 3, 9, 0, tzinfo=UTC), finalize=finalize
    )
    assert record.number is not None
    hashed = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once for every account
    _user(store, "u-ann", "ann@example.fr", "customer", "cu-000", hashed)
    _user(store, "u-bob", "bob@example.fr", "customer", "cu-002", hashed)
    _user(store, "u-billing", "billing@example.fr", "billing", None, hashed)
    _user(store, "u-audit", "audit@example.fr", "auditor", None, hashed)
    return World(issued_id, record.number, f"ct-001-{PERIOD}", f"ct-002-{PERIOD}")
