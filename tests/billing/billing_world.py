"""A small world to bill: a customer, meters and a vehicle on contracts, a month of readings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from billing.invoice import SellerSettings
from billing.seller import DEVELOPMENT_SELLER
from devices.model import Contract, ContractDevice, Customer, Device, PostalAddress
from devices.readings import Reading, ReadingQuality
from store.contract import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "rating" / "examples"
PERIOD = "2026-01"
SELLER: SellerSettings = DEVELOPMENT_SELLER
START = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)  # 2026-01-01 00:00 Europe/Paris
RECEIVED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
__all__ = ["PERIOD", "RECEIVED", "SELLER", "add_world", "readings_for"]


def readings_for(device_id: str, days: int = 31, *, step_min: int = 60, seed: int = 1) -> list[Reading]:
    """Hourly interval energy [kWh] with a daily shape; every 50th reading estimated."""
    out = []
    n = days * 24 * 60 // step_min
    for i in range(n):
        ts = START + timedelta(minutes=step_min * i)
        value = round(0.2 + 0.05 * ((i * 7 + seed) % 13) + (0.4 if 17 <= ts.hour <= 20 else 0.0), 3)
        quality: ReadingQuality = "estimated" if i % 50 == 0 else "actual"
        out.append(Reading(device_id, "1-0:1.8.0", ts, value, "kWh", "interval", quality, RECEIVED))
    return out


def add_world(store: Store, contracts: int = 3) -> list[str]:
    """``contracts`` electricity contracts (one moves in mid-month) on the HP/HC tariff; returns their ids."""
    body = (EXAMPLES / "fr_electricity_hphc.json").read_text(encoding="utf-8")
    store.add_tariff_version("fr-elec-hphc", json.dumps(json.loads(body)))
    ids = []
    for k in range(contracts):
        customer = Customer(
            f"cu-{k:03d}",
            f"Client {k}",
            email=f"client{k}@example.fr",
            address=PostalAddress((f"{k + 1} rue des Lilas",), city="Lyon", postcode="69003", country="FR"),
        )
        store.add_customers([customer])
        device = Device.new(f"m-{k:03d}", "electricity_meter", f"SN{k:05d}")
        store.add_devices([device])
        start = date(2026, 1, 10) if k == 1 else date(2025, 6, 1)
        contract = Contract(
            f"ct-{k:03d}",
            customer.id,
            "fr-elec-hphc",
            start,
            devices=(ContractDevice(device.id, datetime(2025, 6, 1, tzinfo=UTC)),),
        )
        store.add_contract(contract)
        store.insert_readings(readings_for(device.id, seed=k))
        ids.append(contract.id)
    return ids
