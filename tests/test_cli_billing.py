"""The billing CLI end to end on SQLite: tariff, bill, approve, issue, bundle, re-rate, credit, audit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from meterbill.cli_billing import audit_app, bill, invoice_app, tariffs_app
from store.sqlite import SQLiteStore
from tests.billing.billing_world import EXAMPLES, PERIOD, add_world
from tests.fix_cli import meterbill

# The bundle renders the PDF with WeasyPrint: ignore only its known warnings (see tests/einvoice/test_pdf.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
    ),
]

# The commands as meterbill/cli.py registers them (kept here so the test does not depend on that file).
app = typer.Typer()


@app.callback()
def _root(ctx: typer.Context) -> None:
    ctx.obj = None


app.command("bill")(bill)
app.add_typer(invoice_app, name="invoice")
app.add_typer(audit_app, name="audit")
app.add_typer(tariffs_app, name="tariffs")


def _cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    output = result.stdout + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == code, output
    return output


@pytest.fixture
def billed(env: dict[str, str], tmp_path: Path) -> Path:
    """A SQLite store with two contracts billed for January and their invoices issued."""
    db = tmp_path / "cli.db"
    store = SQLiteStore(db)
    store.upgrade()
    add_world(store, 2)
    store.close()
    env["MB_ENV"] = "development"
    assert "version 2" in _cli(env, "tariffs", "add", str(EXAMPLES / "fr_electricity_hphc.json"))
    out = _cli(env, "bill", "--period", PERIOD)
    assert "2 draft(s) created" in out and "0 failed" in out
    out = _cli(env, "bill", "--period", PERIOD)
    assert "2 replaced" in out
    _cli(env, "invoice", "approve", "--period", PERIOD)
    out = _cli(env, "invoice", "issue", "--period", PERIOD, "--date", "2026-02-03")
    assert "as FA-2026-000001" in out and "as FA-2026-000002" in out
    return db


def test_bundle_rerates_to_the_cent_with_meterbill_rate(billed: Path, env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    _cli(env, "invoice", "bundle", "FA-2026-000001", str(folder))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["invoice.pdf", "invoice.cii.xml", "invoice.ubl.xml", "readings.csv", "tariff.json", "lines.json"]
    )
    assert (folder / "invoice.pdf").read_bytes().startswith(b"%PDF")
    assert b"FA-2026-000001" in (folder / "invoice.cii.xml").read_bytes()
    assert (folder / "readings.csv").read_text().startswith("device_id,ts,value,unit\n")
    # as a customer would: the public command on the bundle's two files
    rated = meterbill(
        "rate",
        "--tariff",
        str(folder / "tariff.json"),
        "--readings",
        str(folder / "readings.csv"),
        "--format",
        "json",
        env=env,
    )
    assert rated.returncode == 0, rated.stderr
    lines = json.loads((folder / "lines.json").read_text())
    assert json.loads(rated.stdout) == lines
    shown = json.loads(_cli(env, "invoice", "show", "FA-2026-000001"))
    assert [ln["net_amount"] for ln in shown["lines"]] == [ln["amount"] for ln in lines["periods"][0]["lines"]]
    assert shown["net_total"] == lines["net_total"] and shown["gross_total"] == lines["gross_total"]


def test_audit_verify_passes_then_names_the_edited_document(billed: Path, env: dict[str, str]) -> None:
    out = _cli(env, "invoice", "credit", "FA-2026-000002", "--line", "2=1.5", "--date", "2026-02-10")
    assert "issued credit note AV-2026-000001 for FA-2026-000002" in out
    assert "ledger OK: 3 document(s)" in _cli(env, "audit", "verify")
    conn = sqlite3.connect(billed)
    with conn:
        conn.execute("DROP TRIGGER invoices_no_update_issued")
        conn.execute(
            "UPDATE invoices SET document = json_set(document, '$.lines[1].net_amount', '0.01')"
            " WHERE number = 'FA-2026-000002'"
        )
    conn.close()
    out = _cli(env, "audit", "verify", code=1)
    assert "ledger entry 2 (FA-2026-000002)" in out and "changed after issue" in out


def test_bill_refuses_a_bad_period_and_a_missing_seller_in_production(env: dict[str, str]) -> None:
    assert "must be YYYY-MM" in _cli(env, "bill", "--period", "2026-1", code=2)
    env["MB_ENV"] = "production"
    env["MB_SECRET_KEY"] = "k" * 48
    env["MB_MQTT_URL"] = "mqtt://127.0.0.1:1883"
    assert "no seller settings" in _cli(env, "bill", "--period", PERIOD, code=2)
