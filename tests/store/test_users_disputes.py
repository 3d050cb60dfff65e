"""Accounts, API keys, refresh-token rotation and disputes: the same contract on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from billing.ports import DraftInvoice
from devices.model import Contract, Customer
from store.contract import ApiKey, RefreshToken, Store, User
from store.errors import DisputeClosedError, DuplicateError, NotFoundError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _user(store: Store, email: str = "Ann@Example.test", **extra: object) -> User:
    user = User(
        id=f"u-{email.lower()}",
        email=email,
        role="billing",
        customer_id=None,
        password_hash="$argon2id$x",
        **extra,  # type: ignore[arg-type]
    )
    store.add_user(user)
    return user


def test_users_are_unique_by_email_whatever_the_case(store: Store) -> None:
    user = _user(store)
    found = store.user_by_email("ann@EXAMPLE.test")
    assert found is not None and found.id == user.id and found.email == "Ann@Example.test"
    assert found.created_at is not None and not found.disabled
    with pytest.raises(DuplicateError):
        _user(store, "ANN@example.test")
    store.set_user_disabled(user.id, True)
    assert store.user(user.id).disabled  # type: ignore[union-attr]
    store.set_password_hash(user.id, "$argon2id$y")
    assert store.user(user.id).password_hash == "$argon2id$y"  # type: ignore[union-attr]
    assert [u.email for u in store.users()] == ["Ann@Example.test"]
    with pytest.raises(NotFoundError):
        store.set_user_disabled("nobody", True)


def test_customer_accounts_name_an_existing_customer(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.add_user(User("u-c", "c@example.test", "customer", "cu-missing", "h"))
    store.add_customers([Customer("cu-1", "One")])
    store.add_user(User("u-c", "c@example.test", "customer", "cu-1", "h"))
    assert store.user("u-c").customer_id == "cu-1"  # type: ignore[union-attr]


def test_api_keys_are_kept_as_hashes_and_revoked(store: Store) -> None:
    user = _user(store)
    store.add_api_key(ApiKey("k1", user.id, "erp", "mbk_abcdefgh", "sha-1", T0))
    key = store.api_key_by_hash("sha-1")
    assert key is not None and key.prefix == "mbk_abcdefgh" and key.revoked_at is None
    store.revoke_api_key("k1", at=T0 + timedelta(hours=1))
    store.revoke_api_key("k1", at=T0 + timedelta(hours=2))  # the first time is kept
    assert store.api_keys(user_id=user.id)[0].revoked_at == T0 + timedelta(hours=1)
    with pytest.raises(NotFoundError):
        store.revoke_api_key("k-missing", at=T0)
    with pytest.raises(NotFoundError):
        store.add_api_key(ApiKey("k2", "u-missing", "", "p", "sha-2", T0))


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(store: Store) -> None:
    user = _user(store)
    store.add_refresh_token(RefreshToken("r1", user.id, "fam", "h1", T0, T0 + timedelta(days=1)))
    outcome, old = store.rotate_refresh_token(
        "h1", new_id="r2", new_hash="h2", expires_at=T0 + timedelta(days=2), at=T0
    )
    assert outcome == "rotated" and old is not None and old.user_id == user.id
    outcome, _ = store.rotate_refresh_token("h1", new_id="r3", new_hash="h3", expires_at=T0, at=T0)
    assert outcome == "reused"
    outcome, _ = store.rotate_refresh_token("h2", new_id="r4", new_hash="h4", expires_at=T0, at=T0)
    assert outcome == "reused"  # the successor went with its family
    assert store.rotate_refresh_token("nope", new_id="r5", new_hash="h5", expires_at=T0, at=T0) == ("unknown", None)
    store.add_refresh_token(RefreshToken("r6", user.id, "fam2", "h6", T0, T0 + timedelta(minutes=1)))
    late = T0 + timedelta(minutes=2)
    assert store.rotate_refresh_token("h6", new_id="r7", new_hash="h7", expires_at=late, at=late)[0] == "expired"
    assert store.revoke_refresh_family("fam2", at=late) == 1


def _invoice(store: Store) -> str:
    store.add_customers([Customer("cu-1", "One")])
    store.add_tariff_version("t", '{"id": "t"}')
    store.add_contract(Contract("ct-1", "cu-1", "t", date(2026, 1, 1)))
    from decimal import Decimal

    store.save_draft(
        DraftInvoice(
            id="inv-1",
            type_code="380",
            contract_id="ct-1",
            customer_id="cu-1",
            period="2026-01",
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            currency="EUR",
            net_total=Decimal("10.00"),
            tax_total=Decimal("2.00"),
            gross_total=Decimal("12.00"),
            document={"lines": []},
            evidence={},
        )
    )
    return "inv-1"


def test_dispute_steps_are_timestamped_and_set_the_status(store: Store) -> None:
    invoice_id = _invoice(store)
    opened = store.open_dispute(
        dispute_id="d1",
        invoice_id=invoice_id,
        line_no=2,
        customer_id="cu-1",
        actor_id="u-c",
        actor_role="customer",
        message="too much",
        at=T0,
    )
    assert opened.status == "open" and [e.kind for e in opened.events] == ["opened"]
    answered = store.add_dispute_event(
        "d1", kind="answered", actor_id="u-s", actor_role="support", message="see readings", at=T0 + timedelta(hours=1)
    )
    assert answered.status == "answered"
    reopened = store.add_dispute_event(
        "d1", kind="message", actor_id="u-c", actor_role="customer", message="still wrong", at=T0 + timedelta(hours=2)
    )
    assert reopened.status == "open"
    credited = store.add_dispute_event(
        "d1",
        kind="credited",
        actor_id="u-b",
        actor_role="billing",
        message="sorry",
        at=T0 + timedelta(hours=3),
        credit_note_id="cn-1",
    )
    assert credited.status == "credited" and credited.closed_at == T0 + timedelta(hours=3)
    assert [(e.seq, e.kind, e.at) for e in credited.events] == [
        (1, "opened", T0),
        (2, "answered", T0 + timedelta(hours=1)),
        (3, "message", T0 + timedelta(hours=2)),
        (4, "credited", T0 + timedelta(hours=3)),
    ]
    assert credited.events[-1].credit_note_id == "cn-1"
    with pytest.raises(DisputeClosedError):
        store.add_dispute_event("d1", kind="message", actor_id="u-c", actor_role="customer", message="?", at=T0)
    with pytest.raises(NotFoundError):
        store.add_dispute_event("d-missing", kind="message", actor_id="x", actor_role="customer", message="?", at=T0)
    assert [d.id for d in store.disputes(customer_id="cu-1")] == ["d1"]
    assert store.disputes(status="open") == []
    assert store.disputes(invoice_id=invoice_id)[0].events == credited.events
    with pytest.raises(NotFoundError):
        store.open_dispute(
            dispute_id="d2",
            invoice_id="nope",
            line_no=None,
            customer_id="cu-1",
            actor_id="u",
            actor_role="customer",
            message="m",
            at=T0,
        )
