"""Tokens, the caller's own account and API keys, and user administration (admin)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, status

from api.auth import hash_password, issue_tokens, login, new_api_key, not_found, refresh_tokens
from api.routes.deps import AdminDep, AnyDep, SettingsDep, StoreDep
from api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Items, RefreshRequest, Token, UserCreate, UserPublic
from store.contract import ApiKey, User

__all__ = ["router", "user_public"]

router = APIRouter(tags=["auth"])


def user_public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        role=user.role,
        customer_id=user.customer_id,
        disabled=user.disabled,
        created_at=user.created_at,
    )


def key_public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at
    )


@router.post("/auth/token", response_model=Token)
def token(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    username: Annotated[str, Form(description="the account's e-mail address")],
    password: Annotated[str, Form(json_schema_extra={"format": "password"})],
) -> Token:
    """OAuth2 password grant: e-mail and password in, a bearer access token and a refresh token out."""
    client = request.client.host if request.client else "unknown"
    principal = login(store, username, password, client=client, limiter=request.app.state.login_limiter)
    pair = issue_tokens(store, settings, principal)
    return Token(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/refresh", response_model=Token)
def refresh(body: RefreshRequest, store: StoreDep, settings: SettingsDep) -> Token:
    """Rotate a refresh token: the old one stops working; using it again revokes the whole login."""
    pair = refresh_tokens(store, settings, body.refresh_token)
    return Token(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.get("/auth/me", response_model=UserPublic)
def me(principal: AnyDep, store: StoreDep) -> UserPublic:
    user = store.user(principal.user_id)
    if user is None:
        raise not_found("user", principal.user_id)
    return user_public(user)


@router.get("/api-keys", response_model=Items[ApiKeyPublic])
def my_api_keys(principal: AnyDep, store: StoreDep) -> Items[ApiKeyPublic]:
    return Items(items=[key_public(k) for k in store.api_keys(user_id=principal.user_id)])


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, principal: AnyDep, store: StoreDep) -> ApiKeyCreated:
    """A new API key for the caller; the key is in this answer only."""
    key, record = new_api_key(store, principal.user_id, name=body.name)
    return ApiKeyCreated(**key_public(record).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: str, principal: AnyDep, store: StoreDep) -> None:
    mine = {k.id for k in store.api_keys(user_id=principal.user_id)}
    if key_id not in mine and not (principal.role == "admin" and any(k.id == key_id for k in store.api_keys())):
        raise not_found("API key", key_id)
    store.revoke_api_key(key_id, at=datetime.now(UTC))


@router.get("/users", response_model=Items[UserPublic])
def users(principal: AdminDep, store: StoreDep) -> Items[UserPublic]:
    return Items(items=[user_public(u) for u in store.users()])


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, principal: AdminDep, store: StoreDep) -> UserPublic:
    """A staff or customer account (a customer account names its customer)."""
    from fastapi import HTTPException

    if (body.role == "customer") != (body.customer_id is not None):
        raise HTTPException(422, "customer_id is required for role customer and refused for staff roles")
    user = User(
        id=uuid.uuid4().hex,
        email=body.email,
        role=body.role,
        customer_id=body.customer_id,
        password_hash=hash_password(body.password),
        created_at=datetime.now(UTC),
    )
    store.add_user(user)
    return user_public(user)
