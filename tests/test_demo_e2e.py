"""End to end: ``meterbill demo --once --export DIR`` as a user runs it, then checked from the outside.

One run with small numbers and every fault kind on. Then:

- every issued invoice has its evidence bundle in ``DIR/<number>/``, and ``meterbill rate`` run on
  the bundle's ``tariff.json`` and ``readings.csv`` prints its ``lines.json``, to the cent;
- every dead letter in the store is a message the simulator's fault ledger (``DIR/faults.json``)
  says the gateway must refuse, with that reason, and every such message is there;
- every other fault is accounted for in the stored data: what a ``gap``, ``skew`` or ``garbage``
  fault lost is absent, what a ``dup``, ``reorder`` or ``spoof`` fault carried is stored once, no
  conflict, and the store holds exactly what the devices sent minus what the faults lost.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.bundle import BUNDLE_FILES
from store.sqlite import SQLiteStore
from tests.fix_cli import meterbill

FAULTS = "dup=0.08,reorder=0.08,gap=0.05,skew=0.05,garbage=0.06,spoof=0.05"
LOSES = {"gap", "skew", "garbage"}  # faults whose original message is never stored


@dataclass(frozen=True)
class Demo:
    stdout: str
    export: Path
    store: SQLiteStore
    env: dict[str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run for the module: its stdout, the export folder and the store it left."""
    tmp = tmp_path_factory.mktemp("demo-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    env["MB_STORE_URL"] = f"sqlite:///{tmp}/demo.db"
    env["COLUMNS"] = "200"
    export = tmp / "export"
    args = ("--meters", "7", "--vehicles", "3", "--days", "3", "--seed", "11", "--faults", FAULTS)
    # The bound: the whole demo, with small numbers, in under 2 minutes.
    result = meterbill("demo", "--once", *args, "--export", str(export), env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    store = SQLiteStore(tmp / "demo.db")
    try:
        yield Demo(result.stdout, export, store, env)
    finally:
        store.close()


def _ledger(export: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((export / "faults.json").read_text(encoding="utf-8"))
    return data


def _as_text(payload: bytes) -> str:
    """A payload as the ledger writes it: text where it is UTF-8, else ``hex:...``."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + payload.hex()


def _z(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_summary_reports_what_the_store_holds(demo: Demo) -> None:
    stdout, store = demo.stdout, demo.store
    issued = store.invoices(status="issued")
    assert issued, stdout
    assert re.search(rf"invoices issued\s*│\s*{len(issued)}\s", stdout), stdout
    stored = re.search(r"readings stored\s*│\s*([\d,]+)", stdout)
    assert stored and int(stored[1].replace(",", "")) == store.stats().readings
    for currency in {r.currency for r in issued}:
        gross = sum((r.gross_total for r in issued if r.currency == currency), Decimal(0))
        assert re.search(rf"total {currency}\s*│\s*{gross} ", stdout), stdout
    # A contract is left unbilled only when its devices sent nothing in the period (e.g. a vehicle
    # never driven, or the one message of the period lost to a fault); any other reason is a bug.
    for reason in re.findall(r"not billed: \S+: (.*)", stdout):
        assert "nothing to rate" in reason, stdout


def test_every_issued_invoice_re_rates_from_its_bundle_to_the_cent(demo: Demo) -> None:
    export, store = demo.export, demo.store
    issued = {r.number: r for r in store.invoices(status="issued")}
    bundles = {p.name for p in export.iterdir() if p.is_dir()}
    assert bundles == set(issued)

    def rate(folder: Path) -> subprocess.CompletedProcess[str]:
        tariff, readings = str(folder / "tariff.json"), str(folder / "readings.csv")
        return meterbill("rate", "--tariff", tariff, "--readings", readings, "--format", "json", env=demo.env)

    with ThreadPoolExecutor(2) as pool:  # each is a process of its own: two at a time
        results = dict(zip(sorted(issued), pool.map(rate, [export / n for n in sorted(issued)]), strict=True))
    for number, record in sorted(issued.items()):
        folder, result = export / number, results[number]
        assert result.returncode == 0, f"{number}: {result.stderr}"
        rerated = json.loads(result.stdout)
        lines = json.loads((folder / "lines.json").read_text(encoding="utf-8"))
        assert rerated == lines, number
        assert Decimal(lines["net_total"]) == record.net_total, number
        assert lines["currency"] == record.currency, number


def test_every_dead_letter_is_an_injected_fault_and_every_refusal_is_there(
    demo: Demo,
) -> None:
    export, store = demo.export, demo.store
    ledger = _ledger(export)
    expected = Counter(
        (e["topic"], sent, e["dead_letter"]) for e in ledger["entries"] if e["dead_letter"] for sent in e["sent"]
    )
    letters = store.dead_letters(limit=1_000_000)
    found = Counter({(d.topic, _as_text(d.payload), d.reason): d.occurrences for d in letters})
    assert expected, "the run injected no fault that the gateway refuses: choose another seed"
    unexpected = set(found) - set(expected)
    assert not unexpected, [(t, r, p[:80]) for t, p, r in unexpected]
    missing = set(expected) - set(found)
    assert not missing, [(t, r, p[:80]) for t, p, r in missing]
    # The same refused bytes twice are kept once, with a count; QoS 1 may only add redeliveries.
    for key, n in expected.items():
        assert found[key] >= n, key


def test_every_injected_fault_is_accounted_for_in_the_stored_data(demo: Demo) -> None:
    export, store = demo.export, demo.store
    ledger = _ledger(export)
    entries: list[dict[str, Any]] = ledger["entries"]
    kinds = Counter(e["fault"] for e in entries)
    assert kinds.keys() & LOSES and kinds.keys() - LOSES, kinds

    readings = {(r.device_id, r.register, _z(r.ts)) for r in store.readings()}
    trips = {(t.device_id, t.trip_id) for t in store.trips()}
    events = {(e.device_id, _z(e.ts), e.type) for e in store.events()}
    assert store.stats().conflicts == 0  # a duplicate carries the same values: never a conflict

    lost: Counter[str] = Counter()
    for entry in entries:
        original = json.loads(entry["original"])
        family = entry["topic"].rsplit("/", 1)[1]
        if family == "readings":
            keys = {(original["device"], r["register"], r["ts"]) for r in original["readings"]}
            held = keys & readings
        elif family == "trips":
            keys = {(original["device"], original["trip"])}
            held = keys & trips
        else:
            keys = {(original["device"], e["ts"], e["type"]) for e in original["events"]}
            held = keys & events
        if entry["fault"] in LOSES:
            assert not held, f"{entry['fault']} {entry['key']}: its records were stored: {sorted(held)[:3]}"
            assert entry["lost_records"] > 0
            lost["vehicles" if family != "readings" else "readings"] += entry["lost_records"]
        else:
            assert held == keys, f"{entry['fault']} {entry['key']}: {len(keys - held)} records missing"

    sent = ledger["records_sent"]
    assert store.stats().readings == sent.get("readings", 0) - lost["readings"]
    # A trip message counts its trip and the events it carries; an events message its events.
    vehicle_records = len(trips) + len(events)
    assert vehicle_records == sent.get("trips", 0) + sent.get("events", 0) - lost["vehicles"]


def test_the_export_holds_a_complete_bundle_per_document(demo: Demo) -> None:
    for folder in (p for p in demo.export.iterdir() if p.is_dir()):
        names = {p.name for p in folder.iterdir()}
        assert names == set(BUNDLE_FILES), folder.name
        assert (folder / "invoice.pdf").read_bytes().startswith(b"%PDF-")


def test_the_printed_logins_open_the_portal_and_the_console(demo: Demo) -> None:
    """The accounts the demo prints work: the customer sees their own invoices, the clerk all of them."""
    from fastapi.testclient import TestClient

    from api import create_app
    from meterbill.settings import load_settings

    rows = {role: re.search(rf"login \({role}\)\s*│\s*(\S+)\s+(\S+)", demo.stdout) for role in ("customer", "billing")}
    assert all(rows.values()), demo.stdout
    client = TestClient(create_app(load_settings(env="development"), demo.store))
    seen: dict[str, set[str]] = {}
    for role, match in rows.items():
        assert match is not None
        token = client.post("/api/v1/auth/token", data={"username": match[1], "password": match[2]})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        listed = client.get("/api/v1/invoices", headers=headers)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        items = body["items"] if isinstance(body, dict) else body
        seen[role] = {item["customer_id"] for item in items if item.get("status") in ("issued", "credited")}
    assert len(seen["customer"]) == 1  # their own invoices, and at least one
    assert seen["customer"] <= seen["billing"]
