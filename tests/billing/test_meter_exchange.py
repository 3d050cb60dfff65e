"""A meter exchanged within a billing period: the old meter up to the exchange plus the new one after it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.bundle import bundle_files
from billing.documents import from_data
from billing.invoice import Invoice
from billing.issue import finalize
from billing.lines import build_statement, statement_json
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from devices.model import Contract, ContractDevice, Customer, Device, MeterExchangeRecord, PostalAddress
from devices.readings import Reading
from rating.tariff_file import tariff_from_dict
from store.contract import Store
from tests.billing.billing_world import EXAMPLES, PERIOD, SELLER

pytestmark = [
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
    ),
]

START = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)  # 2026-01-01 00:00 Europe/Paris
END = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)  # 2026-02-01 00:00 Europe/Paris: the closing index
EXCHANGE = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
RECEIVED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
REGISTER = "1-0:1.8.0"
OLD_FINAL, NEW_FIRST = 1173.9, 5.0


def _index(device: str, ts: datetime, value: float) -> Reading:
    return Reading(device, REGISTER, ts, round(value, 3), "kWh", "cumulative", "actual", RECEIVED)


def _world(store: Store) -> float:
    """A contract whose meter m-old is exchanged for m-new on 15 January; returns the kWh consumed."""
    store.add_tariff_version(
        "fr-elec-hphc", json.dumps(json.loads((EXAMPLES / "fr_electricity_hphc.json").read_text()))
    )
    address = PostalAddress(("5 rue des Lilas",), city="Lyon", postcode="69003", country="FR")
    store.add_customers([Customer("cu-x", "Client X", email="x@example.fr", address=address)])
    store.add_devices(
        [Device.new("m-old", "electricity_meter", "SNOLD"), Device.new("m-new", "electricity_meter", "SNNEW")]
    )
    on = (ContractDevice("m-old", datetime(2025, 6, 1, tzinfo=UTC)),)
    store.add_contract(Contract("ct-x", "cu-x", "fr-elec-hphc", date(2025, 6, 1), devices=on))
    old = [
        _index("m-old", START + timedelta(hours=h), 1000.0 + 0.5 * h)
        for h in range(400)
        if START + timedelta(hours=h) < EXCHANGE
    ]
    first_new = EXCHANGE + timedelta(minutes=30)
    hours = int((END - first_new) / timedelta(hours=1))
    new = [_index("m-new", first_new + timedelta(hours=h), NEW_FIRST + 0.25 + 0.4 * h) for h in range(hours + 1)]
    assert new[-1].ts == END and old[-1].value < OLD_FINAL
    store.insert_readings(old + new)
    store.record_meter_exchange(MeterExchangeRecord("ct-x", EXCHANGE, REGISTER, "m-old", OLD_FINAL, "m-new", NEW_FIRST))
    return (OLD_FINAL - old[0].value) + (new[-1].value - NEW_FIRST)


def test_an_exchange_within_the_period_is_bridged_and_the_bundle_rerates(store: Store) -> None:
    consumed = _world(store)
    result = run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    assert not result.failures, result.failures
    draft = store.invoice(f"ct-x-{PERIOD}")
    assert draft is not None
    assert draft.evidence["meter_exchanges"] == [
        {
            "at": EXCHANGE.isoformat(),
            "register": REGISTER,
            "old_device_id": "m-old",
            "old_final_index": repr(OLD_FINAL),
            "new_device_id": "m-new",
            "new_first_index": repr(NEW_FIRST),
        }
    ]
    invoice = from_data(Invoice, draft.document)
    energy = [line for line in invoice.lines if line.code.startswith("ENERGY")]
    assert {line.code for line in energy} == {"ENERGY_HP", "ENERGY_HC"}
    assert abs(sum(line.quantity for line in energy) - Decimal(repr(consumed))) < Decimal("0.01")
    for line in energy:
        assert line.trace is not None and line.trace.devices == ("m-old", "m-new")
        assert "meters m-old then m-new" in line.explanation

    store.set_invoice_status(draft.id, "approved")
    record = store.issue_invoice(
        draft.id, issue_date=date(2026, 2, 3), issued_at=datetime(2026, 2, 3, tzinfo=UTC), finalize=finalize
    )
    files = bundle_files(store, store, record)
    csv_rows = files["readings.csv"].decode().splitlines()[1:]
    assert {row.split(",")[0] for row in csv_rows} == {"m-old", "m-new"}
    across = [row for row in csv_rows if row.startswith("m-new,2026-01-15T10:00:00")]
    assert len(across) == 1  # the interval spanning the exchange: both meters' parts, on the new meter's reading
    assert float(across[0].split(",")[2]) == pytest.approx((OLD_FINAL - 1173.5) + 0.25)
    tariff = tariff_from_dict(json.loads(files["tariff.json"], parse_float=Decimal), source="tariff.json")
    rerated = statement_json(build_statement(rate_readings_csv(tariff, files["readings.csv"].decode())))
    assert rerated == json.loads(files["lines.json"])  # to the cent
