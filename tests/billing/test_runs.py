"""Billing runs on both stores: byte-identical re-runs, crash and resume, progress, traceability."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.documents import from_data
from billing.errors import BillingError
from billing.invoice import Invoice
from billing.ledger import canonical_bytes
from billing.readings_csv import rate_readings_csv
from billing.runs import DeviceWindow, gather_readings, parse_period, run_billing, tariff_json
from devices.model import Contract, ContractDevice, Customer, Device, PostalAddress
from rating.engine import Rating
from rating.tariff import Tariff
from store.contract import Store
from tests.billing.billing_world import PERIOD, SELLER, add_world, readings_for


def _snapshot(store: Store) -> dict[str, tuple[bytes, bytes, str]]:
    return {
        r.id: (
            canonical_bytes(r.document),
            canonical_bytes(r.evidence),
            f"{r.status} {r.net_total} {r.tax_total} {r.gross_total}",
        )
        for r in store.invoices(period=PERIOD)
    }


def test_rerun_gives_byte_identical_drafts(store: Store) -> None:
    add_world(store, 3)
    first = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert first.outcomes == {"ct-000": "created", "ct-001": "created", "ct-002": "created"}
    before = _snapshot(store)
    again = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert set(again.outcomes.values()) == {"replaced"}
    assert _snapshot(store) == before
    runs = store.billing_runs(period=PERIOD)
    assert [(r.status, r.done, r.total, r.failed) for r in runs] == [("finished", 3, 3, 0)] * 2


def test_crash_mid_run_then_resume_gives_the_same_drafts(store: Store) -> None:
    add_world(store, 3)
    calls = 0

    def crashing(tariff: Tariff, text: str) -> Rating:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("power cut")
        return rate_readings_csv(tariff, text)

    with pytest.raises(RuntimeError, match="power cut"):
        run_billing(store, period=PERIOD, seller=SELLER, rate_csv=crashing)
    crashed = store.billing_runs(period=PERIOD)[0]
    assert (crashed.status, crashed.done, crashed.total) == ("failed", 2, 3)
    assert "power cut" in (crashed.error or "")
    resumed = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert resumed.resumed and resumed.run_id == crashed.id
    assert resumed.outcomes == {"ct-000": "resumed", "ct-001": "resumed", "ct-002": "created"}
    after_resume = _snapshot(store)
    clean = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv, fresh=True)
    assert not clean.resumed
    assert _snapshot(store) == after_resume
    assert [r.status for r in store.billing_runs(period=PERIOD)] == ["finished", "finished"]


def test_lines_are_traceable_and_prorated(store: Store) -> None:
    add_world(store, 2)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    full, moved_in = (from_data(Invoice, r.document) for r in store.invoices(period=PERIOD))
    assert (full.period.start, full.period.end) == (date(2026, 1, 1), date(2026, 1, 31))
    assert (moved_in.period.start, moved_in.period.end) == (date(2026, 1, 10), date(2026, 1, 31))
    standing = moved_in.lines[0]
    assert (standing.code, standing.unit, standing.quantity) == ("SUBSCRIPTION", "MON", Decimal("0.7097"))
    energy = {line.code: line for line in full.lines}
    assert set(energy) == {"SUBSCRIPTION", "ENERGY_HP", "ENERGY_HC", "EXCISE"}
    hp = energy["ENERGY_HP"]
    assert hp.trace is not None
    assert (hp.trace.tariff_id, hp.trace.tariff_version, hp.trace.band) == ("fr-elec-hphc", 1, "hp")
    assert hp.trace.interval_count == 31 * 24
    assert Decimal("0.01") < hp.trace.estimated_share < Decimal("0.03")  # every 50th reading
    assert hp.vat_category == "S" and hp.vat_rate == 20
    statement = store.invoice(f"ct-000-{PERIOD}").evidence["statement"]  # type: ignore[union-attr]
    assert [ln["amount"] for ln in statement["periods"][0]["lines"]] == [str(ln.net_amount) for ln in full.lines]
    assert full.tax_exclusive == Decimal(statement["net_total"])
    assert full.vat_total == Decimal(statement["tax_total"])


def test_a_contract_that_cannot_be_billed_is_reported_and_the_rest_billed(store: Store) -> None:
    add_world(store, 1)
    store.add_customers([Customer("cu-x", "Sans Tarif", email="x@example.fr", address=PostalAddress(country="FR"))])
    store.add_devices([Device.new("m-x", "electricity_meter", "SNX")])
    on = (ContractDevice("m-x", datetime(2025, 1, 1, tzinfo=UTC)),)
    store.add_contract(Contract("ct-notariff", "cu-x", "missing-tariff", date(2025, 1, 1), devices=on))
    store.add_contract(Contract("ct-noreadings", "cu-x", "fr-elec-hphc", date(2025, 1, 1), devices=on))
    store.add_contract(Contract("ct-later", "cu-x", "fr-elec-hphc", date(2026, 3, 1), devices=on))
    result = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert result.outcomes == {"ct-000": "created"}
    reasons = {f.contract_id: f.reason for f in result.failures}
    assert reasons.keys() == {"ct-notariff", "ct-noreadings"}  # ct-later is not active in January
    assert "tariff missing-tariff is not stored" in reasons["ct-notariff"]
    assert "no readings" in reasons["ct-noreadings"]
    assert store.billing_runs()[0].failed == 2


def test_late_readings_do_not_change_what_a_draft_was_made_from(store: Store) -> None:
    add_world(store, 1)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    evidence = store.invoice(f"ct-000-{PERIOD}").evidence  # type: ignore[union-attr]
    assert evidence["received_through"] == "2026-02-01T12:00:00+00:00"
    assert evidence["readings_count"] == 31 * 24 and len(evidence["readings_sha256"]) == 64
    windows = [DeviceWindow.from_data(w) for w in evidence["devices"]]
    cutoff = datetime.fromisoformat(evidence["received_through"])
    late = readings_for("m-000", 1, step_min=60)[0]._replace(
        ts=datetime(2026, 1, 15, 10, 30, tzinfo=UTC), received_at=datetime(2026, 2, 2, tzinfo=UTC)
    )
    store.insert_readings([late])
    assert gather_readings(store, windows).count == 31 * 24 + 1  # a re-run would bill it
    again = gather_readings(store, windows, received_through=cutoff)
    assert (again.count, again.sha256) == (31 * 24, evidence["readings_sha256"])


def test_period_and_json_helpers() -> None:
    assert parse_period("2026-12") == (2026, 12)
    for bad in ("2026-13", "2026-1", "January"):
        with pytest.raises(BillingError, match="must be YYYY-MM"):
            parse_period(bad)
    assert tariff_json({"price": Decimal("0.2146"), "n": 3}) == '{\n  "price": 0.2146,\n  "n": 3\n}\n'


def test_periods_shift_across_years() -> None:
    from datetime import date

    from billing.runs import period_of, shift_period

    assert period_of(date(2026, 1, 31)) == "2026-01"
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2025-12", 1) == "2026-01"
    assert shift_period("2026-03", -15) == "2024-12"
