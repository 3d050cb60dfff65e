"""Accounts, API keys and refresh tokens on either backend (one mixin over DB-API connections).

E-mail addresses are unique regardless of case (a unique index on ``lower(email)``); passwords,
API keys and refresh tokens are stored as hashes only. Refresh tokens rotate: each use marks the
token used and stores its successor in the same family; a token presented after it was used
means it was stolen or replayed, so the whole family is revoked (RFC 6819 section 5.2.2.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.contract import ApiKey, RefreshOutcome, RefreshToken, User
from store.errors import DuplicateError, NotFoundError
from store.sql import SqlMixin, utc_now

__all__ = ["UserMixin"]

_USER_COLUMNS = "id, email, role, customer_id, password_hash, disabled, created_at"
_KEY_COLUMNS = "id, user_id, name, prefix, key_hash, created_at, revoked_at, last_used_at"
_TOKEN_COLUMNS = "id, user_id, family_id, token_hash, issued_at, expires_at, used_at, revoked_at"  # noqa: S105


class UserMixin(SqlMixin):
    """User, API key and refresh token methods of the Store."""

    # -- users ----------------------------------------------------------------------------
    def add_user(self, user: User) -> None:
        d = self._dialect
        with self._registry_write() as conn:
            taken = self._exec(conn, "SELECT id FROM users WHERE lower(email) = lower(%s)", (user.email,)).fetchone()
            if taken is not None:
                raise DuplicateError(f"a user with e-mail {user.email} already exists", ids=[str(taken[0])])
            if self._exec(conn, "SELECT 1 FROM users WHERE id = %s", (user.id,)).fetchone() is not None:
                raise DuplicateError(f"user id {user.id} already exists", ids=[user.id])
            if user.customer_id is not None:
                found = self._exec(conn, "SELECT 1 FROM customers WHERE id = %s", (user.customer_id,)).fetchone()
                if found is None:
                    raise NotFoundError(f"customer {user.customer_id} is not registered")
            self._exec(
                conn,
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    user.id,
                    user.email,
                    user.role,
                    user.customer_id,
                    user.password_hash,
                    user.disabled,
                    d.time_in(user.created_at or utc_now()),
                ),
            )

    def user(self, user_id: str) -> User | None:
        with self._registry_read() as conn:
            row = self._exec(conn, f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,)).fetchone()
        return None if row is None else self._user_from_row(row)

    def user_by_email(self, email: str) -> User | None:
        with self._registry_read() as conn:
            row = self._exec(
                conn, f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)", (email,)
            ).fetchone()
        return None if row is None else self._user_from_row(row)

    def users(self) -> list[User]:
        with self._registry_read() as conn:
            rows = self._exec(conn, f"SELECT {_USER_COLUMNS} FROM users ORDER BY lower(email)").fetchall()
        return [self._user_from_row(r) for r in rows]

    def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        self._update_user(user_id, "disabled", disabled)

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._update_user(user_id, "password_hash", password_hash)

    def _update_user(self, user_id: str, column: str, value: object) -> None:
        with self._registry_write() as conn:
            cur = self._exec(conn, f"UPDATE users SET {column} = %s WHERE id = %s", (value, user_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"user {user_id} does not exist")

    def _user_from_row(self, row: Sequence[Any]) -> User:
        return User(
            id=row[0],
            email=row[1],
            role=row[2],
            customer_id=row[3],
            password_hash=row[4],
            disabled=bool(row[5]),
            created_at=self._dialect.time_out(row[6]),
        )

    # -- API keys -------------------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        d = self._dialect
        with self._registry_write() as conn:
            if self._exec(conn, "SELECT 1 FROM users WHERE id = %s", (key.user_id,)).fetchone() is None:
                raise NotFoundError(f"user {key.user_id} does not exist")
            self._exec(
                conn,
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    key.id,
                    key.user_id,
                    key.name,
                    key.prefix,
                    key.key_hash,
                    d.time_in(key.created_at),
                    d.opt_time_in(key.revoked_at),
                    d.opt_time_in(key.last_used_at),
                ),
            )

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._registry_read() as conn:
            row = self._exec(conn, f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = %s", (key_hash,)).fetchone()
        return None if row is None else self._key_from_row(row)

    def api_keys(self, *, user_id: str | None = None) -> list[ApiKey]:
        where, params = ("WHERE user_id = %s", (user_id,)) if user_id is not None else ("", ())
        with self._registry_read() as conn:
            rows = self._exec(conn, f"SELECT {_KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at, id", params)
            return [self._key_from_row(r) for r in rows.fetchall()]

    def revoke_api_key(self, key_id: str, *, at: datetime) -> None:
        with self._registry_write() as conn:
            if self._exec(conn, "SELECT 1 FROM api_keys WHERE id = %s", (key_id,)).fetchone() is None:
                raise NotFoundError(f"API key {key_id} does not exist")
            self._exec(
                conn,
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (self._dialect.time_in(at), key_id),
            )

    def _key_from_row(self, row: Sequence[Any]) -> ApiKey:
        d = self._dialect
        return ApiKey(
            row[0], row[1], row[2], row[3], row[4], d.time_out(row[5]), d.opt_time_out(row[6]), d.opt_time_out(row[7])
        )

    # -- refresh tokens -------------------------------------------------------------------
    def add_refresh_token(self, token: RefreshToken) -> None:
        with self._registry_write() as conn:
            self._insert_token(conn, token)

    def _insert_token(self, conn: Any, token: RefreshToken) -> None:
        d = self._dialect
        self._exec(
            conn,
            f"INSERT INTO refresh_tokens ({_TOKEN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                token.id,
                token.user_id,
                token.family_id,
                token.token_hash,
                d.time_in(token.issued_at),
                d.time_in(token.expires_at),
                d.opt_time_in(token.used_at),
                d.opt_time_in(token.revoked_at),
            ),
        )

    def rotate_refresh_token(
        self, token_hash: str, *, new_id: str, new_hash: str, expires_at: datetime, at: datetime
    ) -> tuple[RefreshOutcome, RefreshToken | None]:
        d = self._dialect
        with self._registry_write() as conn:
            row = self._exec(
                conn, f"SELECT {_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = %s{d.for_update}", (token_hash,)
            ).fetchone()
            if row is None:
                return "unknown", None
            old = self._token_from_row(row)
            if old.used_at is not None or old.revoked_at is not None:
                self._revoke_family(conn, old.family_id, at)
                return "reused", old
            if old.expires_at <= at:
                return "expired", old
            self._exec(conn, "UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (d.time_in(at), old.id))
            self._insert_token(conn, RefreshToken(new_id, old.user_id, old.family_id, new_hash, at, expires_at))
        return "rotated", old

    def revoke_refresh_family(self, family_id: str, *, at: datetime) -> int:
        with self._registry_write() as conn:
            return self._revoke_family(conn, family_id, at)

    def _revoke_family(self, conn: Any, family_id: str, at: datetime) -> int:
        cur = self._exec(
            conn,
            "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
            (self._dialect.time_in(at), family_id),
        )
        return max(int(cur.rowcount), 0)

    def _token_from_row(self, row: Sequence[Any]) -> RefreshToken:
        d = self._dialect
        return RefreshToken(
            row[0],
            row[1],
            row[2],
            row[3],
            d.time_out(row[4]),
            d.time_out(row[5]),
            d.opt_time_out(row[6]),
            d.opt_time_out(row[7]),
        )
