"""Authentication: tokens and their rotation, API keys, the login limit, sessions, CSRF, headers, logs."""

from __future__ import annotations

import logging
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient

from api.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    check_csrf,
    csrf_token,
    login,
    page_principal,
    set_session,
)
from store.contract import Store
from tests.api.world import ACCOUNTS, PASSWORD, World, build_world


def _token(world: World, email: str, password: str = PASSWORD) -> dict[str, object]:
    response = world.client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_token_is_a_bearer_jwt_with_a_refresh_token(world: World) -> None:
    body = _token(world, ACCOUNTS["billing"].upper())  # e-mail compared without case
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    me = world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["role"] == "billing"
    assert "password_hash" not in me.text and "$argon2" not in me.text


def test_wrong_password_and_bad_tokens_are_401_problems(world: World) -> None:
    bad = world.client.post("/api/v1/auth/token", data={"username": ACCOUNTS["admin"], "password": "wrong"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    for header in ("Bearer nonsense", "Basic abc", "Bearer "):
        response = world.client.get("/api/v1/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"] == "Bearer"
    assert world.client.get("/api/v1/auth/me").status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    first = _token(world, ACCOUNTS["support"])
    second = world.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    # the old token again: a replay; the whole family (including the new token) is revoked
    replay = world.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    after = world.client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": "mbr_nope"}).status_code == 401


def test_api_keys_are_shown_once_and_revocable(world: World) -> None:
    created = world.client.post("/api/v1/api-keys", json={"name": "erp"}, headers=world.headers("billing"))
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(created.json()["prefix"])
    listed = world.client.get("/api/v1/api-keys", headers=world.headers("billing")).json()["items"]
    assert [k["name"] for k in listed] == ["erp"]
    assert key not in str(listed)
    me = world.client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["role"] == "billing"
    # another user cannot revoke it (not even learn it exists)
    other = world.client.delete(f"/api/v1/api-keys/{listed[0]['id']}", headers=world.headers("support"))
    assert other.status_code == 404
    gone = world.client.delete(f"/api/v1/api-keys/{listed[0]['id']}", headers=world.headers("billing"))
    assert gone.status_code == 204
    assert world.client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_disabled_accounts_lose_access_at_once(world: World) -> None:
    user = world.store.user_by_email(ACCOUNTS["auditor"])
    assert user is not None
    world.store.set_user_disabled(user.id, True)
    assert world.client.get("/api/v1/auth/me", headers=world.headers("auditor")).status_code == 401
    refused = world.client.post("/api/v1/auth/token", data={"username": ACCOUNTS["auditor"], "password": PASSWORD})
    assert refused.status_code == 401


def test_login_is_rate_limited_per_email_and_client(store: Store) -> None:
    world = build_world(store, login_max_attempts=3, login_window_s=60)
    email = ACCOUNTS["customer"]
    for _ in range(3):
        response = world.client.post("/api/v1/auth/token", data={"username": email, "password": "guess"})
        assert response.status_code == 401
    limited = world.client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["retry_after"] == int(limited.headers["retry-after"])
    # another account from the same client is not locked out
    assert (
        world.client.post("/api/v1/auth/token", data={"username": ACCOUNTS["admin"], "password": PASSWORD}).status_code
        == 200
    )
    with pytest.raises(Exception, match="too many"):
        login(store, email, PASSWORD, client="testclient", limiter=world.app.state.login_limiter)


def test_nothing_secret_is_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world = build_world(store)
    tokens = _token(world, ACCOUNTS["admin"])
    world.client.post("/api/v1/auth/token", data={"username": ACCOUNTS["admin"], "password": "a-wrong-secret"})
    world.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    world.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # reuse: logged
    key = world.client.post("/api/v1/api-keys", json={}, headers=world.headers("admin")).json()["key"]
    world.client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    user = store.user_by_email(ACCOUNTS["admin"])
    assert user is not None
    secrets = [
        PASSWORD,
        "a-wrong-secret",
        str(tokens["access_token"]),
        str(tokens["refresh_token"]),
        key,
        user.password_hash,
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refresh token reused" in logged
    for secret in secrets:
        assert secret not in logged


def test_security_headers(world: World) -> None:
    response = world.client.get("/health")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert "strict-transport-security" not in response.headers  # development serves plain HTTP


def _page_app(world: World) -> TestClient:
    """A tiny app over the same state, with a login form, a page and a form post."""
    app = FastAPI()
    app.state.__dict__.update(world.app.state.__dict__)

    @app.get("/form")
    def form(request: Request) -> dict[str, str]:
        return {"csrf": csrf_token(request)}

    @app.post("/login")
    def do_login(request: Request, response: Response) -> dict[str, str]:
        principal = login(
            world.store, ACCOUNTS["customer"], PASSWORD, client="test", limiter=world.app.state.login_limiter
        )
        set_session(response, principal, world.app.state.settings)
        return {"ok": "yes"}

    @app.get("/whoami")
    def whoami(principal: Annotated[Principal | None, Depends(page_principal)]) -> dict[str, str | None]:
        return {"email": principal.email if principal else None}

    @app.post("/post", dependencies=[Depends(check_csrf)])
    def post() -> dict[str, str]:
        return {"posted": "yes"}

    return TestClient(app)


def test_session_cookie_and_csrf(world: World) -> None:
    client = world.client
    logged_in = _page_app(world)
    response = logged_in.post("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # development
    assert logged_in.get("/whoami").json() == {"email": ACCOUNTS["customer"]}
    # the session cookie also authenticates the JSON API
    client.cookies.set(SESSION_COOKIE, logged_in.cookies.get(SESSION_COOKIE) or "")
    assert client.get("/api/v1/auth/me").json()["role"] == "customer"
    client.cookies.clear()
    token = logged_in.get("/form").json()["csrf"]
    logged_in.cookies.set(CSRF_COOKIE, token)
    assert logged_in.post("/post", data={"csrf_token": token}).status_code == 200
    assert logged_in.post("/post", data={}).status_code == 403
    forged = token.split(".")[0] + ".0000"
    assert logged_in.post("/post", data={"csrf_token": forged}).status_code == 403
    logged_in.cookies.set(CSRF_COOKIE, forged)
    assert logged_in.post("/post", data={"csrf_token": forged}).status_code == 403
    logged_in.cookies.set(CSRF_COOKIE, "x.y")
    assert logged_in.post("/post", data={"csrf_token": token}).status_code == 403
