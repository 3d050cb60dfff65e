"""An API world to test against: the billing world (3 customers, 3 contracts, a month of readings),
one account per role, customer A (cu-000) and customer B (cu-001) each with an issued invoice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from api.auth import ROLES, hash_password
from billing.issue import finalize
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from meterbill.settings import load_settings
from store.contract import Store, User
from tests.billing.billing_world import PERIOD, SELLER, add_world

PASSWORD = "correct horse battery staple"
# role name -> e-mail; "customer" is customer A, "customer_b" customer B
ACCOUNTS = {role: f"{role}@example.test" for role in ROLES} | {"customer_b": "customer_b@example.test"}
CUSTOMER_A, CUSTOMER_B = "cu-000", "cu-001"
CONTRACT_A, CONTRACT_B = "ct-000", "ct-001"
DEVICE_A, DEVICE_B = "m-000", "m-001"


@dataclass
class World:
    store: Store
    client: TestClient
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)  # account -> access token
    invoice_a: str = ""
    invoice_b: str = ""
    draft: str = ""  # a draft (contract ct-002) staff may approve

    def headers(self, account: str | None) -> dict[str, str]:
        return {} if account is None else {"Authorization": f"Bearer {self.tokens[account]}"}


def add_users(store: Store) -> None:
    hashed = hash_password(PASSWORD)  # one hash for all: argon2 is slow on purpose
    for account, email in ACCOUNTS.items():
        role = "customer" if account.startswith("customer") else account
        customer = CUSTOMER_B if account == "customer_b" else (CUSTOMER_A if role == "customer" else None)
        store.add_user(
            User(uuid.uuid4().hex, email, role, customer, hashed, created_at=datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
        )


def build_world(store: Store, **settings: object) -> World:
    add_world(store)
    add_users(store)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    issued = []
    for contract_id in ("ct-000", "ct-001"):
        invoice_id = f"{contract_id}-{PERIOD}"
        store.set_invoice_status(invoice_id, "approved")
        store.issue_invoice(
            invoice_id, issue_date=date(2026, 2, 2), issued_at=datetime(2026, 2, 2, tzinfo=UTC), finalize=finalize
        )
        issued.append(invoice_id)
    app = create_app(load_settings(None, **settings), store, rate_csv=rate_readings_csv)
    client = TestClient(app)
    world = World(store, client, app, invoice_a=issued[0], invoice_b=issued[1], draft=f"ct-002-{PERIOD}")
    for account, email in ACCOUNTS.items():
        response = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        world.tokens[account] = response.json()["access_token"]
    return world
