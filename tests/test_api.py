"""The API's operational endpoints on both stores: /health, /metrics, problem details."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import create_app
from meterbill.settings import load_settings
from store.contract import Store
from store.postgres import PostgresStore
from store.schema import latest_version
from tests.store.test_contract import interval_readings


def client(store: Store) -> TestClient:
    return TestClient(create_app(load_settings(), store))


def test_health_is_ok_on_a_current_schema(store: Store) -> None:
    response = client(store).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"] == {
        "backend": store.backend,
        "schema_version": latest_version("sqlite"),
        "expected_schema_version": latest_version("sqlite"),
    }


def test_health_says_to_upgrade_when_the_schema_is_missing(empty_store: Store) -> None:
    response = client(empty_store).get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "meterbill db upgrade" in response.json()["detail"]


def test_metrics_expose_store_figures_and_request_counts(store: Store) -> None:
    store.insert_readings(interval_readings(40))
    store.add_dead_letter(topic="t", payload=b"x", reason="garbage", detail="not JSON")
    api = client(store)
    assert api.get("/health").status_code == 200
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    lines = response.text.splitlines()
    assert f'meterbill_store_up{{backend="{store.backend}"}} 1.0' in lines
    assert 'meterbill_readings_stored{exact="true"} 40.0' in lines
    assert "meterbill_dead_letters 1.0" in lines
    assert "meterbill_reading_conflicts 0.0" in lines
    assert 'meterbill_http_requests_total{method="GET",route="/health",status="200"} 1.0' in lines
    for line in lines:  # every sample line is "name{labels} number"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_metrics_and_health_when_postgres_goes_away(pg_url: str) -> None:
    store = PostgresStore(pg_url, timeout_s=2)
    store.upgrade()
    api = client(store)
    assert api.get("/health").status_code == 200
    store.close()  # the pool is gone: every query now fails as an unreachable server would
    response = api.get("/metrics")
    assert response.status_code == 200
    assert 'meterbill_store_up{backend="postgres"} 0.0' in response.text
    health = api.get("/health")
    assert health.status_code == 503
    assert health.json()["title"] == "Store unavailable"


def test_unknown_paths_are_problem_details(store: Store) -> None:
    response = client(store).get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_openapi_is_served(store: Store) -> None:
    spec = client(store).get("/openapi.json").json()
    assert {"/health", "/metrics"} <= set(spec["paths"])
