"""Authentication and authorisation: who is asking (a :class:`Principal`) and may they.

Three ways in, one Principal out:

* ``Authorization: Bearer <JWT>``: short-lived HS256 access tokens from ``POST /api/v1/auth/token``,
  with a rotating opaque refresh token beside them (reuse of a refresh token revokes its family);
* ``X-API-Key: mbk_...``: integrations; only the key's SHA-256 and its first characters are stored;
* the ``mb_session`` cookie: the web pages' session, a signed short-lived token renewed on use,
  HttpOnly, SameSite=Lax, Secure outside development.

Passwords are argon2id hashes (argon2-cffi). Failed logins are limited per e-mail and client
(:class:`LoginLimiter`); form posts carry a CSRF token (signed double-submit cookie ``mb_csrf``).
Nothing secret is logged: not passwords, tokens, keys or hashes.

Roles: ``admin`` may do everything; ``billing``, ``support`` and ``auditor`` (read-only) are staff;
a ``customer`` sees only the objects of their own customer, and asking for another customer's
object answers 404, exactly as if it did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request, Response
from pydantic import SecretStr

from meterbill.errors import MeterbillError
from store.contract import ApiKey, Store, User

__all__ = [
    "API_KEY_HEADER",
    "CSRF_COOKIE",
    "ROLES",
    "SESSION_COOKIE",
    "STAFF_ROLES",
    "AuthError",
    "AuthSettings",
    "LoginLimiter",
    "Principal",
    "RateLimited",
    "Role",
    "TokenPair",
    "api_principal",
    "check_csrf",
    "clear_session",
    "csrf_token",
    "hash_password",
    "issue_tokens",
    "login",
    "new_api_key",
    "not_found",
    "own_customer",
    "page_principal",
    "refresh_tokens",
    "require",
    "set_session",
    "verify_password",
]

log = logging.getLogger(__name__)

Role = Literal["admin", "billing", "support", "auditor", "customer"]
ROLES: tuple[Role, ...] = ("admin", "billing", "support", "auditor", "customer")
STAFF_ROLES: frozenset[Role] = frozenset({"admin", "billing", "support", "auditor"})

SESSION_COOKIE = "mb_session"
CSRF_COOKIE = "mb_csrf"
CSRF_FIELD = "csrf_token"
API_KEY_HEADER = "X-API-Key"
_ALGORITHM = "HS256"
_API_KEY_PREFIX = "mbk_"
_REFRESH_PREFIX = "mbr_"
_SHOWN_PREFIX_LEN = 12  # "mbk_" and 8 characters: enough to tell keys apart in a listing
_DEFAULT_MAX_ATTEMPTS = 5
_DEFAULT_WINDOW_S = 300

# argon2id with the library's defaults (RFC 9106 "second recommended" parameters).
_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown makes both answers take as long.
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


class AuthSettings(Protocol):
    """What auth reads from the settings."""

    @property
    def env(self) -> str: ...

    @property
    def secret_key(self) -> SecretStr: ...

    @property
    def access_token_ttl_s(self) -> int: ...

    @property
    def refresh_token_ttl_s(self) -> int: ...

    @property
    def session_ttl_s(self) -> int: ...


class AuthError(MeterbillError, PermissionError):
    """Wrong e-mail or password, a disabled account, or a token that is not (or no longer) valid."""


class RateLimited(AuthError):
    """Too many failed logins for this e-mail from this client; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: str
    email: str
    role: Role
    customer_id: str | None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.id, user.email, user.role, user.customer_id)


# -- passwords ------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- login rate limit -----------------------------------------------------------------------
class LoginLimiter:
    """Failed logins per (e-mail, client) in a sliding window; in memory, per process.

    A success clears the key. Limiting per e-mail *and* client keeps one attacker from locking a
    customer out everywhere while still stopping password guessing from any one place.
    """

    def __init__(self, max_attempts: int = _DEFAULT_MAX_ATTEMPTS, window_s: int = _DEFAULT_WINDOW_S) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, email: str, client: str, now: float | None = None) -> None:
        """Raise RateLimited when the key has used up its attempts."""
        now = time.monotonic() if now is None else now
        with self._lock:
            failures = self._prune((email.lower(), client), now)
            if len(failures) >= self.max_attempts:
                retry = max(1, int(failures[0] + self.window_s - now) + 1)
                raise RateLimited(
                    f"too many failed logins for this account from this client; try again in {retry} s",
                    retry_after=retry,
                )

    def failed(self, email: str, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._prune((email.lower(), client), now).append(now)

    def succeeded(self, email: str, client: str) -> None:
        with self._lock:
            self._failures.pop((email.lower(), client), None)

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures


def login(store: Store, email: str, password: str, *, client: str, limiter: LoginLimiter) -> Principal:
    """The principal of ``email`` when ``password`` is right; AuthError (or RateLimited) otherwise.

    ``limiter`` is the app's (``app.state.login_limiter``): attempts count per e-mail and client.
    """
    limiter.check(email, client)
    user = store.user_by_email(email.strip())
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or user.disabled:
        limiter.failed(email, client)
        log.info("login refused for %s from %s", email, client)
        raise AuthError("wrong e-mail or password, or the account is disabled")
    limiter.succeeded(email, client)
    return Principal.of(user)


# -- tokens ---------------------------------------------------------------------------------
def _key(settings: AuthSettings) -> str:
    return settings.secret_key.get_secret_value()


def _encode(settings: AuthSettings, principal: Principal, kind: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": principal.user_id, "typ": kind, "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, _key(settings), algorithm=_ALGORITHM)


def _decode(settings: AuthSettings, token: str, kind: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, _key(settings), algorithms=[_ALGORITHM], options={"require": ["sub", "exp", "iat", "typ"]}
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == kind else None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # [s] of the access token


def issue_tokens(store: Store, settings: AuthSettings, principal: Principal) -> TokenPair:
    """A new access token and the first refresh token of a new rotation family."""
    from store.contract import RefreshToken

    now = datetime.now(UTC)
    refresh = _REFRESH_PREFIX + secrets.token_urlsafe(32)
    store.add_refresh_token(
        RefreshToken(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            family_id=uuid.uuid4().hex,
            token_hash=_sha256(refresh),
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    access = _encode(settings, principal, "access", settings.access_token_ttl_s)
    return TokenPair(access, refresh, settings.access_token_ttl_s)


def refresh_tokens(store: Store, settings: AuthSettings, refresh_token: str) -> TokenPair:
    """Rotate ``refresh_token``: AuthError when unknown, expired, reused (family revoked) or disabled."""
    now = datetime.now(UTC)
    successor = _REFRESH_PREFIX + secrets.token_urlsafe(32)
    outcome, old = store.rotate_refresh_token(
        _sha256(refresh_token),
        new_id=uuid.uuid4().hex,
        new_hash=_sha256(successor),
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
        at=now,
    )
    if outcome == "reused":
        log.warning("refresh token reused for user %s: its family is revoked", old.user_id if old else "?")
        raise AuthError("this refresh token was already used: every token of its login is revoked; log in again")
    if outcome != "rotated" or old is None:
        raise AuthError("the refresh token is unknown or expired; log in again")
    user = store.user(old.user_id)
    if user is None or user.disabled:
        store.revoke_refresh_family(old.family_id, at=now)
        raise AuthError("the account is disabled")
    access = _encode(settings, Principal.of(user), "access", settings.access_token_ttl_s)
    return TokenPair(access, successor, settings.access_token_ttl_s)


def new_api_key(store: Store, user_id: str, *, name: str = "") -> tuple[str, ApiKey]:
    """A new API key for ``user_id``: the key itself (shown once) and what is stored."""
    key = _API_KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id=uuid.uuid4().hex,
        user_id=user_id,
        name=name,
        prefix=key[:_SHOWN_PREFIX_LEN],
        key_hash=_sha256(key),
        created_at=datetime.now(UTC),
    )
    store.add_api_key(record)
    return key, record


# -- who is asking --------------------------------------------------------------------------
def _settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _active(store: Store, user_id: str) -> Principal | None:
    user = store.user(user_id)
    return None if user is None or user.disabled else Principal.of(user)


def _session_principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    settings = _settings(request)
    claims = _decode(settings, token, "session")
    if claims is None:
        return None
    principal = _active(_store(request), str(claims["sub"]))
    if principal is not None and int(claims["iat"]) + settings.session_ttl_s // 2 <= time.time():
        request.state.renew_session = principal  # the app's middleware sets the renewed cookie
    return principal


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def api_principal(request: Request) -> Principal:
    """Bearer JWT, API key or session cookie; 401 problem otherwise."""
    store = _store(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <access token>'")
        claims = _decode(_settings(request), token.strip(), "access")
        if claims is None:
            raise _unauthorized("the access token is invalid or expired; refresh it or log in again")
        principal = _active(store, str(claims["sub"]))
        if principal is None:
            raise _unauthorized("the account of this token is disabled or removed")
        return principal
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key:
        record = store.api_key_by_hash(_sha256(api_key))
        if record is None or record.revoked_at is not None:
            raise _unauthorized("the API key is unknown or revoked")
        principal = _active(store, record.user_id)
        if principal is None:
            raise _unauthorized("the account of this API key is disabled")
        return principal
    principal = _session_principal(request)
    if principal is None:
        raise _unauthorized(
            "authentication required: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token), "
            "an X-API-Key header, or log in"
        )
    return principal


def page_principal(request: Request) -> Principal | None:
    """The session cookie's principal, or None (pages redirect to the login page)."""
    return _session_principal(request)


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency giving the caller when their role is ``admin`` or one of ``roles``; 403 otherwise."""
    allowed = frozenset(roles) | {"admin"}

    def dependency(request: Request) -> Principal:
        principal = api_principal(request)
        if principal.role not in allowed:
            wanted = ", ".join(sorted(allowed))
            raise HTTPException(403, f"role {principal.role} may not do this; it needs one of: {wanted}")
        return principal

    dependency.__name__ = f"require_{'_'.join(roles) or 'admin'}"
    return dependency


def not_found(what: str, key: object) -> HTTPException:
    return HTTPException(404, f"{what} {key} does not exist")


def own_customer(principal: Principal, customer_id: str, what: str, key: object) -> None:
    """404 when a customer asks for another customer's object: its existence is not revealed."""
    if principal.role == "customer" and principal.customer_id != customer_id:
        raise not_found(what, key)


# -- cookies --------------------------------------------------------------------------------
def set_session(response: Response, principal: Principal, settings: AuthSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        _encode(settings, principal, "session", settings.session_ttl_s),
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.env != "development",
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def _csrf_sign(settings: AuthSettings, nonce: str) -> str:
    mac = hmac.new(_key(settings).encode("utf-8"), b"csrf:" + nonce.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{nonce}.{mac[:32]}"


def _csrf_valid(settings: AuthSettings, token: str) -> bool:
    nonce, _, _ = token.partition(".")
    return bool(nonce) and nonce.isalnum() and hmac.compare_digest(_csrf_sign(settings, nonce), token)


def csrf_token(request: Request) -> str:
    """The value for a hidden ``csrf_token`` form input (the ``mb_csrf`` cookie carries the same).

    A signed double-submit token: a page sets the cookie on first use; a form post must send the
    cookie and the same value in the form. Another site can make a browser send the cookie, but it
    cannot read it to put it in the form.
    """
    current = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    settings = _settings(request)
    if current and _csrf_valid(settings, current):
        request.state.csrf_token = current
        return str(current)
    token = _csrf_sign(settings, secrets.token_hex(16))
    request.state.csrf_token = token
    request.state.set_csrf_cookie = True  # the app's middleware sets the cookie
    return token


def set_csrf_cookie(response: Response, token: str, settings: AuthSettings) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="lax", secure=settings.env != "development", path="/"
    )


async def check_csrf(request: Request) -> None:
    """Dependency for form posts: 403 unless the form's ``csrf_token`` equals the ``mb_csrf`` cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not (
        isinstance(sent, str) and cookie and hmac.compare_digest(sent, cookie) and _csrf_valid(_settings(request), sent)
    ):
        raise HTTPException(403, "the form's CSRF token is missing or does not match; reload the page and retry")
