"""``meterbill simulate meters|vehicles``: provisioning into the configured store, a dry run, a real run to
the broker, and options refused before anything is sent."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gateway.mqtt import BrokerAddress
from meterbill.cli_simulate import simulate_app
from simulators.errors import FaultSpecError
from store.sqlite import SQLiteStore


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:  # as meterbill.cli's root: no --config
        ctx.obj = None

    app.add_typer(simulate_app, name="simulate")
    return app


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    store = SQLiteStore(str(tmp_path / "sim.db"))
    store.upgrade()
    store.close()
    return f"sqlite:///{tmp_path}/sim.db"


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """The CLI configures logging for its process; put the test process's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _run(store_url: str, *args: str, mqtt_url: str | None = None) -> Result:
    env = {"MB_STORE_URL": store_url, "MB_MQTT_URL": mqtt_url, "MB_CONFIG": None, "COLUMNS": "200"}
    return CliRunner().invoke(_app(), ["simulate", *args], env=env)


def test_a_dry_run_provisions_the_fleet_and_writes_the_ledger(store_url: str, tmp_path: Path) -> None:
    ledger = tmp_path / "faults.jsonl"
    args = ["meters", "--count", "14", "--duration", "2d", "--faults", "dup=0.2,gap=0.1,spoof=0.1", "--dry-run"]
    result = _run(store_url, *args, "--provision", "--ledger", str(ledger), "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "provisioned 14 device(s); 0 already registered" in result.output
    assert "10 electricity, 2 gas, 2 water meter(s)" in result.output and "dry run" in result.output
    store = SQLiteStore(store_url.removeprefix("sqlite:///"))
    try:
        devices = {d.id: d for d in store.devices()}
    finally:
        store.close()
    assert set(devices) == {*(f"m-{i:05d}" for i in range(1, 11)), "g-00001", "g-00002", "w-00001", "w-00002"}
    assert devices["m-00001"].nominal_interval == timedelta(minutes=15) and devices["m-00001"].status == "provisioned"
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert entries and {e["fault"] for e in entries} <= {"dup", "gap", "spoof"}
    assert all(e["dead_letter"] == "device_mismatch" for e in entries if e["fault"] == "spoof")

    again = _run(store_url, "meters", "--count", "16", "--duration", "1d", "--dry-run", "--provision")
    assert again.exit_code == 0, again.output
    assert "provisioned 2 device(s); 14 already registered" in again.output


def test_vehicles_publish_to_the_broker(store_url: str, mqtt_broker: BrokerAddress) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    result = _run(
        store_url,
        "vehicles",
        "--count",
        "3",
        "--duration",
        "2d",
        "--id-prefix",
        prefix,
        "--faults",
        "dup=0.1",
        "--provision",
        "--rate",
        "2000",
        mqtt_url=mqtt_broker.url,
    )
    assert result.exit_code == 0, result.output
    assert f"published to {mqtt_broker.url}" in result.output
    found = re.search(r"messages\s*│\s*([\d,]+) \(([\d,]+) acknowledged\)", result.output)
    assert found, result.output
    sent, acked = (int(n.replace(",", "")) for n in found.groups())
    assert sent == acked > 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["meters", "--count", "2", "--start", "2020-01-01", "--dry-run"], "more than 400 days ago"),
        (["vehicles", "--count", "2", "--duration", "500d", "--dry-run"], "more than 400 days ago"),
        (["meters", "--count", "2", "--start", "2999-01-01", "--dry-run"], "ends in the future"),
        (["meters", "--count", "2", "--start", "2026-01-01T00:00", "--dry-run"], "no UTC offset"),
        (["meters", "--count", "2", "--style", "fancy", "--dry-run"], "--style must be one of interval, register"),
        (["vehicles", "--count", "2"], "no broker: pass --broker"),
    ],
)
def test_options_are_refused_before_anything_is_sent(store_url: str, args: list[str], words: str) -> None:
    result = _run(store_url, *args)
    assert result.exit_code == 2
    assert words in _flat(result.output), result.output


def _flat(text: str) -> str:
    """Output with rich's boxes and line wrapping undone."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def test_a_bad_fault_spec_is_a_usage_error(store_url: str) -> None:
    result = _run(store_url, "meters", "--count", "2", "--faults", "dup=0.1,jitter=0.2", "--dry-run")
    # meterbill.cli.main turns this ValueError into "error: ..." and exit status 2
    assert isinstance(result.exception, FaultSpecError) and isinstance(result.exception, ValueError)
    assert "unknown fault 'jitter'" in str(result.exception)


def test_the_default_period_ends_within_the_hour_before_now(store_url: str) -> None:
    result = _run(store_url, "meters", "--count", "1", "--kind", "gas", "--duration", "1d", "--dry-run")
    assert result.exit_code == 0, result.output
    ends = result.output.split(" to ", 1)[1][:20]
    end = datetime.strptime(ends, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    assert timedelta(0) <= datetime.now(UTC) - end <= timedelta(hours=1, minutes=1)
