"""The demo's world (window, provisioning, billing) in process, and ``meterbill demo`` serving."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from meterbill.demo import bill_world
from meterbill.demo_world import DEMO_TARIFFS, World, Worldview, _siren, provision_world
from store.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("today", "days", "start", "end", "periods"),
    [
        # the default: the whole previous month, and one day more for the time zones west of UTC
        (date(2026, 11, 24), None, date(2026, 10, 1), date(2026, 11, 2), ("2026-10",)),
        (date(2026, 1, 15), None, date(2025, 12, 1), date(2026, 1, 2), ("2025-12",)),
        (date(2026, 11, 24), 3, date(2026, 10, 29), date(2026, 11, 2), ("2026-10",)),
        (date(2026, 11, 24), 45, date(2026, 9, 17), date(2026, 11, 2), ("2026-09", "2026-10")),
        # on the 1st, the telemetry cannot run into the future
        (date(2026, 11, 1), 2, date(2026, 10, 30), date(2026, 11, 1), ("2026-10",)),
    ],
)
def test_the_window_covers_months_that_are_over(
    today: date, days: int | None, start: date, end: date, periods: tuple[str, ...]
) -> None:
    window = World(days=days).window(today)
    assert window.start == datetime(start.year, start.month, start.day, tzinfo=UTC)
    assert window.end == datetime(end.year, end.month, end.day, tzinfo=UTC)
    assert window.periods == periods
    assert window.billed_until == today.replace(day=1)


def test_sirens_carry_a_luhn_check_digit() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    for _ in range(50):
        siren = _siren(rng)
        digits = [int(d) for d in siren]
        total = sum(d if i % 2 == 0 else sum(divmod(2 * d, 10)) for i, d in enumerate(digits))
        assert len(siren) == 9 and total % 10 == 0, siren


def test_provisioning_adds_the_world_once_and_bills_a_contract_per_device(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "world.db")
    try:
        store.upgrade()
        view = Worldview.of(World(meters=7, vehicles=2, days=2, seed=3), date(2026, 11, 24))
        assert provision_world(store, view) == 9
        assert provision_world(store, view) == 9  # again: nothing added twice
        contracts = store.contracts()
        assert len(contracts) == 9 and len(store.customers()) == 9
        assert {c.tariff_id for c in contracts} == set(DEMO_TARIFFS)  # 7 meters: 1 business, 1 gas, 1 water
        assert all(store.tariff_version(t).version == 1 for t in DEMO_TARIFFS)  # type: ignore[union-attr]
        # Nothing was sent: every contract is reported, none issued, and re-billing changes nothing.
        billed = bill_world(store, view.window.periods, issue_date=date(2026, 11, 24))
        assert billed.periods == ("2026-10",)
        assert not billed.issued and len(billed.failures) == 9
        assert all("nothing to rate" in f.reason for f in billed.failures)
    finally:
        store.close()


def test_demo_bills_the_month_then_serves_until_interrupted(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterbill", "demo", "--meters", "7", "--vehicles", "1", "--days", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if match := re.search(r"meterbill API: (http://\S+)", line):
                url = match[1]
        text = "".join(seen)
        assert url, text + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert re.search(r"billing \d{4}-\d{2}: [1-9]\d* invoices issued", text), text
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
