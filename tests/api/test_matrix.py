"""Authorisation matrix: every /api/v1 route x every role, and customer A reaching for customer B's data.

Each route names the roles allowed; everyone else gets 403, the anonymous caller 401. A route
added without an entry here fails :func:`test_every_route_is_in_the_matrix`. Allowed callers may
still get 404, 409 or 422 (the request is checked after the role), never 401, 403 or 5xx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute

from api.auth import ROLES
from store.contract import Store
from tests.api.world import CONTRACT_A, CONTRACT_B, CUSTOMER_A, CUSTOMER_B, DEVICE_A, DEVICE_B, World, build_world

ALL = frozenset(ROLES)
STAFF = frozenset({"admin", "billing", "support", "auditor"})
BILLING = frozenset({"admin", "billing"})
ADMIN = frozenset({"admin"})
PUBLIC = None  # no authentication needed

TARIFF = {
    "id": "matrix-flat",
    "name": "flat",
    "version": "2026",
    "currency": "EUR",
    "timezone": "Europe/Paris",
    "energy_charges": [
        {"code": "E", "description": "energy", "unit": "kWh", "bands": [{"name": "all", "price": "0.2"}]}
    ],
}
JAN = "start=2026-01-01T00:00:00%2B01:00&end=2026-02-01T00:00:00%2B01:00"

# (method, path template) -> (roles allowed, path with ids, JSON body or form)
Case = tuple[frozenset[str] | None, Callable[[World], str], Any]
MATRIX: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/auth/token"): (
        PUBLIC,
        lambda w: "/api/v1/auth/token",
        {"form": {"username": "x@y.z", "password": "nope"}},
    ),
    ("POST", "/api/v1/auth/refresh"): (PUBLIC, lambda w: "/api/v1/auth/refresh", {"refresh_token": "mbr_unknown"}),
    ("GET", "/api/v1/auth/me"): (ALL, lambda w: "/api/v1/auth/me", None),
    ("GET", "/api/v1/api-keys"): (ALL, lambda w: "/api/v1/api-keys", None),
    ("POST", "/api/v1/api-keys"): (ALL, lambda w: "/api/v1/api-keys", {"name": "matrix"}),
    ("DELETE", "/api/v1/api-keys/{key_id}"): (ALL, lambda w: "/api/v1/api-keys/unknown", None),
    ("GET", "/api/v1/users"): (ADMIN, lambda w: "/api/v1/users", None),
    ("POST", "/api/v1/users"): (
        ADMIN,
        lambda w: "/api/v1/users",
        {"email": "new@example.test", "role": "support", "password": "a long enough password"},
    ),
    ("GET", "/api/v1/customers"): (ALL, lambda w: "/api/v1/customers", None),
    ("POST", "/api/v1/customers"): (ADMIN, lambda w: "/api/v1/customers", {"id": "cu-new", "name": "New"}),
    ("GET", "/api/v1/customers/{customer_id}"): (ALL, lambda w: f"/api/v1/customers/{CUSTOMER_A}", None),
    ("GET", "/api/v1/contracts"): (ALL, lambda w: "/api/v1/contracts", None),
    ("POST", "/api/v1/contracts"): (
        ADMIN,
        lambda w: "/api/v1/contracts",
        {"id": "ct-new", "customer_id": CUSTOMER_A, "tariff_id": "fr-elec-hphc", "start_date": "2026-03-01"},
    ),
    ("GET", "/api/v1/contracts/{contract_id}"): (ALL, lambda w: f"/api/v1/contracts/{CONTRACT_A}", None),
    ("GET", "/api/v1/contracts/{contract_id}/projected-bill"): (
        ALL,
        lambda w: f"/api/v1/contracts/{CONTRACT_A}/projected-bill?today=2026-01-15",
        None,
    ),
    ("GET", "/api/v1/contracts/{contract_id}/tariff-comparison"): (
        ALL,
        lambda w: f"/api/v1/contracts/{CONTRACT_A}/tariff-comparison?tariff_id=fr-elec-hphc&months=1&today=2026-02-10",
        None,
    ),
    ("GET", "/api/v1/devices"): (ALL, lambda w: "/api/v1/devices", None),
    ("POST", "/api/v1/devices"): (
        ADMIN,
        lambda w: "/api/v1/devices",
        {"id": "m-new", "kind": "water_meter", "serial": "W1"},
    ),
    ("GET", "/api/v1/devices/{device_id}"): (ALL, lambda w: f"/api/v1/devices/{DEVICE_A}", None),
    ("GET", "/api/v1/tariffs"): (ALL, lambda w: "/api/v1/tariffs", None),
    ("POST", "/api/v1/tariffs"): (BILLING, lambda w: "/api/v1/tariffs", TARIFF),
    ("POST", "/api/v1/tariffs/validate"): (BILLING, lambda w: "/api/v1/tariffs/validate", TARIFF),
    ("POST", "/api/v1/tariffs/import-urdb"): (BILLING, lambda w: "/api/v1/tariffs/import-urdb", {"name": "nothing"}),
    ("GET", "/api/v1/tariffs/{tariff_id}"): (ALL, lambda w: "/api/v1/tariffs/fr-elec-hphc", None),
    ("GET", "/api/v1/tariffs/{tariff_id}/versions/{version}"): (
        ALL,
        lambda w: "/api/v1/tariffs/fr-elec-hphc/versions/1",
        None,
    ),
    ("GET", "/api/v1/readings"): (ALL, lambda w: f"/api/v1/readings?device_id={DEVICE_A}&{JAN}", None),
    ("GET", "/api/v1/consumption"): (
        ALL,
        lambda w: f"/api/v1/consumption?contract_id={CONTRACT_A}&bucket=day&{JAN}",
        None,
    ),
    ("GET", "/api/v1/billing-runs"): (STAFF, lambda w: "/api/v1/billing-runs", None),
    ("POST", "/api/v1/billing-runs"): (BILLING, lambda w: "/api/v1/billing-runs", {"period": "2026-03"}),
    ("GET", "/api/v1/billing-runs/{run_id}"): (STAFF, lambda w: "/api/v1/billing-runs/unknown", None),
    ("GET", "/api/v1/invoices"): (ALL, lambda w: "/api/v1/invoices", None),
    ("GET", "/api/v1/invoices/{invoice_id}"): (ALL, lambda w: f"/api/v1/invoices/{w.invoice_a}", None),
    ("POST", "/api/v1/invoices/{invoice_id}/approve"): (BILLING, lambda w: f"/api/v1/invoices/{w.draft}/approve", None),
    ("POST", "/api/v1/invoices/{invoice_id}/issue"): (BILLING, lambda w: f"/api/v1/invoices/{w.draft}/issue", None),
    ("POST", "/api/v1/invoices/{invoice_id}/credit"): (
        BILLING,
        lambda w: f"/api/v1/invoices/{w.invoice_b}/credit",
        {"lines": {"1": "0.5"}, "reason": "matrix"},
    ),
    ("GET", "/api/v1/invoices/{invoice_id}/download/{fmt}"): (
        ALL,
        lambda w: f"/api/v1/invoices/{w.invoice_a}/download/cii",
        None,
    ),
    ("GET", "/api/v1/disputes"): (ALL, lambda w: "/api/v1/disputes", None),
    ("POST", "/api/v1/disputes"): (
        frozenset({"admin", "customer"}),
        lambda w: "/api/v1/disputes",
        {"invoice_id": "ct-000-2026-01", "line_no": 1, "message": "too high"},
    ),
    ("GET", "/api/v1/disputes/{dispute_id}"): (ALL, lambda w: "/api/v1/disputes/d-a", None),
    ("POST", "/api/v1/disputes/{dispute_id}/events"): (
        frozenset({"admin", "billing", "support", "customer"}),
        lambda w: "/api/v1/disputes/d-a/events",
        {"kind": "message", "message": "any news?"},
    ),
    ("POST", "/api/v1/disputes/{dispute_id}/credit"): (
        BILLING,
        lambda w: "/api/v1/disputes/d-a/credit",
        {"lines": {"1": "0.1"}, "reason": "goodwill"},
    ),
    ("GET", "/api/v1/review-queue"): (STAFF, lambda w: "/api/v1/review-queue?period=2026-01", None),
    ("GET", "/api/v1/disputes-queue"): (STAFF, lambda w: "/api/v1/disputes-queue", None),
    ("GET", "/api/v1/ingestion/health"): (STAFF, lambda w: "/api/v1/ingestion/health", None),
    ("GET", "/api/v1/dead-letters"): (STAFF, lambda w: "/api/v1/dead-letters", None),
    ("GET", "/api/v1/dead-letters/{letter_id}"): (STAFF, lambda w: "/api/v1/dead-letters/1", None),
    ("GET", "/api/v1/conflicts"): (STAFF, lambda w: "/api/v1/conflicts", None),
    ("GET", "/api/v1/audit"): (STAFF, lambda w: "/api/v1/audit", None),
}


def _api_routes(world: World) -> set[tuple[str, str]]:
    """Every /api/v1 operation: from the routers the app installs and from its OpenAPI document."""
    from api.routes import PREFIX, ROUTERS

    declared = {
        (method, PREFIX + route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    documented = {
        (method.upper(), path)
        for path, operations in world.app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    return declared | documented


def _call(world: World, method: str, url: str, body: Any, account: str | None) -> int:
    headers = world.headers(account)
    if isinstance(body, dict) and set(body) == {"form"}:
        response = world.client.request(method, url, data=body["form"], headers=headers)
    else:
        response = world.client.request(method, url, json=body, headers=headers)
    assert response.status_code < 500, f"{method} {url} as {account}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", (method, url)
    return response.status_code


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[World]:
    """The world on PostgreSQL (the matrix runs there; the store fixture covers both elsewhere)."""
    from store.postgres import PostgresStore

    store = PostgresStore(pg_url, max_size=4)
    store.upgrade()
    world = build_world(store)
    store.open_dispute(
        dispute_id="d-a",
        invoice_id=world.invoice_a,
        line_no=1,
        customer_id=CUSTOMER_A,
        actor_id="seed",
        actor_role="customer",
        message="seed",
        at=datetime(2026, 2, 3, tzinfo=UTC),
    )
    yield world
    store.close()


def test_every_route_is_in_the_matrix(world: World) -> None:
    missing = _api_routes(world) - set(MATRIX)
    assert not missing, f"routes without an authorisation matrix entry: {sorted(missing)}"
    stale = set(MATRIX) - _api_routes(world)
    assert not stale, f"matrix entries without a route: {sorted(stale)}"


def test_authorisation_matrix(pg_world: World) -> None:
    failures = []
    for (method, _template), (allowed, path, body) in sorted(MATRIX.items()):
        url = path(pg_world)
        for account in [None, *ROLES]:
            status = _call(pg_world, method, url, body, account)
            if allowed is PUBLIC:
                ok = status not in (403, 500)
            elif account is None:
                ok = status == 401
            elif account in allowed:
                ok = status not in (401, 403)
            else:
                ok = status == 403
            if not ok:
                failures.append(f"{method} {url} as {account or 'anonymous'}: {status}")
    assert not failures, "\n".join(failures)


CROSS = [
    ("GET", f"/api/v1/customers/{CUSTOMER_B}", None),
    ("GET", f"/api/v1/contracts/{CONTRACT_B}", None),
    ("GET", f"/api/v1/contracts/{CONTRACT_B}/projected-bill", None),
    ("GET", f"/api/v1/contracts/{CONTRACT_B}/tariff-comparison?tariff_id=fr-elec-hphc&months=1", None),
    ("GET", f"/api/v1/devices/{DEVICE_B}", None),
    ("GET", f"/api/v1/readings?device_id={DEVICE_B}&{JAN}", None),
    ("GET", f"/api/v1/readings?contract_id={CONTRACT_B}&{JAN}", None),
    ("GET", f"/api/v1/consumption?device_id={DEVICE_B}&{JAN}", None),
    ("GET", "/api/v1/invoices/ct-001-2026-01", None),
    ("GET", "/api/v1/invoices/ct-001-2026-01/download/pdf", None),
    ("GET", "/api/v1/invoices/ct-001-2026-01/download/readings", None),
    ("GET", "/api/v1/disputes/d-b", None),
    ("POST", "/api/v1/disputes/d-b/events", {"kind": "message", "message": "peek"}),
    ("POST", "/api/v1/disputes", {"invoice_id": "ct-001-2026-01", "message": "not mine"}),
]


def test_customer_a_never_sees_customer_b(store: Store) -> None:
    world = build_world(store)
    store.open_dispute(
        dispute_id="d-b",
        invoice_id=world.invoice_b,
        line_no=1,
        customer_id=CUSTOMER_B,
        actor_id="seed",
        actor_role="customer",
        message="seed",
        at=datetime(2026, 2, 3, tzinfo=UTC),
    )
    failures = []
    for method, url, body in CROSS:
        theirs = _call(world, method, url, body, "customer_b")
        if theirs in (401, 403, 404):
            failures.append(f"{method} {url}: customer B itself got {theirs}")
        mine = _call(world, method, url, body, "customer")
        unknown = _call(world, method, url.replace("001", "999").replace("d-b", "d-zz"), body, "customer")
        if mine != 404:
            failures.append(f"{method} {url}: customer A got {mine}, not 404")
        if unknown != mine:
            failures.append(f"{method} {url}: an unknown id answers {unknown}, another customer's {mine}")
    assert not failures, "\n".join(failures)


def test_customer_lists_hold_only_their_own(world: World) -> None:
    for url in (
        "/api/v1/invoices",
        f"/api/v1/invoices?customer_id={CUSTOMER_B}",
        "/api/v1/contracts",
        "/api/v1/devices",
    ):
        body = world.client.get(url, headers=world.headers("customer")).json()
        for item in body["items"]:
            assert item.get("customer_id", CUSTOMER_A) == CUSTOMER_A, (url, item)
            assert item["id"] not in (CONTRACT_B, DEVICE_B, world.invoice_b)
