"""PAYD trips carry received_at like readings: a trip arriving after issue does not change the bundle."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.bundle import bundle_files
from billing.issue import finalize
from billing.lines import build_statement, statement_json
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from devices.model import Contract, ContractDevice, Customer, Device, PostalAddress
from devices.trips import Trip, VehicleEvent
from rating.tariff_file import tariff_from_dict
from store.contract import Batch, Store
from tests.billing.billing_world import EXAMPLES, PERIOD, SELLER

# The bundle renders the PDF with WeasyPrint: ignore only its known warnings (see tests/einvoice/test_pdf.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
    ),
]

RECEIVED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _trip(n: int, start: datetime, km: float, received_at: datetime | None) -> Trip:
    events = (VehicleEvent("v-001", start + timedelta(minutes=3), "harsh_brake", f"t-{n}", received_at),)
    return Trip("v-001", f"t-{n}", start, start + timedelta(minutes=25), km, events if n % 4 == 0 else (), received_at)


def _payd_world(store: Store) -> None:
    store.add_tariff_version("payd-motor", json.dumps(json.loads((EXAMPLES / "payd_motor.json").read_text())))
    address = PostalAddress(("3 rue des Lilas",), city="Lyon", postcode="69003", country="FR")
    store.add_customers([Customer("cu-v", "Conductrice", email="v@example.fr", address=address)])
    store.add_devices([Device.new("v-001", "vehicle", "VF1234567890")])
    on = (ContractDevice("v-001", datetime(2025, 6, 1, tzinfo=UTC)),)
    store.add_contract(Contract("ct-v", "cu-v", "payd-motor", date(2025, 6, 1), devices=on))
    trips = [_trip(n, datetime(2026, 1, 1 + n, 7 + n % 16, 30, tzinfo=UTC), 8.5 + n, RECEIVED) for n in range(28)]
    store.commit_batch(Batch(trips=trips))


def _rerated(files: dict[str, bytes]) -> object:
    """The bundle's readings.csv rated against its tariff.json, as ``meterbill rate`` does."""
    tariff = tariff_from_dict(json.loads(files["tariff.json"], parse_float=Decimal), source="tariff.json")
    return statement_json(build_statement(rate_readings_csv(tariff, files["readings.csv"].decode())))


def test_a_trip_received_after_issue_leaves_the_bundle_as_billed(store: Store) -> None:
    _payd_world(store)
    assert all(t.received_at == RECEIVED for t in store.trips(device_ids=["v-001"]))
    assert not run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv).failures
    draft = store.invoice(f"ct-v-{PERIOD}")
    assert draft is not None and draft.evidence["received_through"] == RECEIVED.isoformat()
    store.set_invoice_status(draft.id, "approved")
    record = store.issue_invoice(
        draft.id, issue_date=date(2026, 2, 3), issued_at=datetime(2026, 2, 3, tzinfo=UTC), finalize=finalize
    )
    before = bundle_files(store, store, record)
    assert json.loads(before["lines.json"]) == _rerated(before)

    # a trip of January arrives late, stamped by the batch commit (no received_at from the decoder)
    late = Trip(
        "v-001", "t-late", datetime(2026, 1, 20, 9, 0, tzinfo=UTC), datetime(2026, 1, 20, 10, 0, tzinfo=UTC), 42.0
    )
    store.commit_batch(Batch(trips=[late], events=[VehicleEvent("v-001", late.start, "speeding")]))
    stored = {t.trip_id: t for t in store.trips(device_ids=["v-001"])}
    assert stored["t-late"].received_at is not None and stored["t-late"].received_at > RECEIVED

    after = bundle_files(store, store, record)  # used to refuse: the re-read readings did not match
    for name in ("readings.csv", "lines.json", "tariff.json", "invoice.cii.xml"):
        assert after[name] == before[name], name
    assert json.loads(after["lines.json"]) == _rerated(after)  # to the cent
    assert b"t-late" not in after["readings.csv"] and b"2026-01-20T09:00:00" not in after["readings.csv"]
