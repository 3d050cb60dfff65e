"""``meterbill users``: staff and customer accounts, and API keys for integrations.

Passwords are read from stdin when it is piped (``echo "$PW" | meterbill users add ...``), else a
random one is generated and printed once, alone on the last line. Only argon2 hashes are stored;
API keys are printed once and stored as SHA-256 hashes.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from meterbill.cli_common import FormatOption, console, err_console, output_format, store_from

__all__ = ["users_app"]

users_app = typer.Typer(no_args_is_help=True, help="Staff and customer accounts, API keys.")

_ROLES = ("admin", "billing", "support", "auditor", "customer")
_MIN_PASSWORD = 12


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _read_password() -> tuple[str, bool]:
    """(password, generated): from stdin when piped, else a new random one."""
    if not sys.stdin.isatty():
        text = sys.stdin.readline().rstrip("\r\n")
        if text:
            return text, False
    return secrets.token_urlsafe(18), True


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="admin, billing, support, auditor or customer")],
    email: Annotated[str, typer.Option("--email", help="the login; unique whatever its case")],
    customer: Annotated[str | None, typer.Option("--customer", help="customer id (role customer only)")] = None,
) -> None:
    """Add an account; the password comes from stdin when piped, else is generated and shown once."""
    from api.auth import hash_password
    from store.contract import User
    from store.errors import DuplicateError, NotFoundError

    if role not in _ROLES:
        raise _fail(f"--role must be one of {', '.join(_ROLES)}, not {role!r}", 2)
    if (role == "customer") != (customer is not None):
        raise _fail("--customer ID is required for role customer and refused for staff roles", 2)
    if "@" not in email.strip("@"):
        raise _fail(f"--email {email!r} is not an e-mail address", 2)
    password, generated = _read_password()
    if len(password) < _MIN_PASSWORD:
        raise _fail(f"the password must have at least {_MIN_PASSWORD} characters", 2)
    user = User(
        id=uuid.uuid4().hex,
        email=email,
        role=role,  # type: ignore[arg-type]
        customer_id=customer,
        password_hash=hash_password(password),
        created_at=datetime.now(UTC),
    )
    with store_from(ctx) as store:
        try:
            store.add_user(user)
        except (DuplicateError, NotFoundError) as exc:
            raise _fail(str(exc)) from None
    console.print(f"added {role} {email} (id {user.id})", highlight=False)
    if generated:
        console.print("generated password, shown once:", highlight=False)
        typer.echo(password)


@users_app.command("list")
def users_list(ctx: typer.Context, fmt: FormatOption = "table") -> None:
    """Accounts, one a line (no password hash ever leaves)."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        users = store.users()
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "role": u.role,
            "customer_id": u.customer_id,
            "disabled": u.disabled,
            "created_at": u.created_at.isoformat() if u.created_at else None,
        }
        for u in users
    ]
    if output == "json":
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        typer.echo(f"{r['email']}\t{r['role']}\t{r['customer_id'] or '-'}\t{'disabled' if r['disabled'] else 'active'}")


@users_app.command("api-key")
def users_api_key(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="the account the key acts as")],
    name: Annotated[str, typer.Option("--name", help="what the key is for")] = "",
) -> None:
    """A new API key for the account (send it as the X-API-Key header), printed once on the last line."""
    from api.auth import new_api_key

    with store_from(ctx) as store:
        user = store.user_by_email(email)
        if user is None:
            raise _fail(f"no account with e-mail {email} (see `meterbill users list`)")
        key, record = new_api_key(store, user.id, name=name)
    console.print(f"API key {record.prefix}... for {user.email} ({user.role}), shown once:", highlight=False)
    typer.echo(key)
