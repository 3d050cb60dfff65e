"""``meterbill rate``: re-rate a readings CSV against a tariff file, offline, to the cent.

The CSV is what ``meterbill readings export`` writes and every invoice's evidence bundle carries;
its format and reader are :mod:`billing.readings_csv`, the one reader billing runs use too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meterbill.cli_common import console

if TYPE_CHECKING:  # the command imports rating lazily, so `meterbill --help` stays fast
    from billing.lines import Statement

__all__ = ["rate"]


def rate(
    tariff: Annotated[
        Path, typer.Option("--tariff", help="tariff file: meterbill JSON/TOML, or URDB JSON with --urdb")
    ],
    readings: Annotated[Path, typer.Option("--readings", help="CSV: device_id,ts,value,unit (interval consumption)")],
    urdb: Annotated[
        bool, typer.Option("--urdb", help="the tariff file is an OpenEI URDB rate or API response")
    ] = False,
    tz: Annotated[str, typer.Option("--tz", help="time zone of a URDB rate (URDB rates carry none)")] = "UTC",
    urdb_label: Annotated[str | None, typer.Option("--urdb-label", help="which item of a URDB response")] = None,
    output: Annotated[str, typer.Option("--format", help="json or table")] = "table",
) -> None:
    """Rate downloaded readings against a tariff: invoice-ready lines per billing period, to the cent."""
    from billing.lines import build_statement, statement_json
    from billing.readings_csv import rate_readings, read_readings_csv
    from rating.tariff_file import load_tariff
    from rating.urdb import load_urdb

    if output not in ("json", "table"):
        raise typer.BadParameter("must be json or table", param_hint="--format")
    loaded = load_urdb(tariff, timezone=tz, label=urdb_label) if urdb else load_tariff(tariff)
    rating = rate_readings(loaded, read_readings_csv(readings), source=str(readings))
    statement = build_statement(rating)
    if output == "json":
        sys.stdout.write(json.dumps(statement_json(statement)) + "\n")
        return
    _print_table(statement)


def _print_table(statement: Statement) -> None:
    from rich.table import Table

    for period in statement.periods:
        table = Table(title=f"{period.start} to {period.end} (exclusive), {statement.currency}")
        for name in ("code", "description", "quantity", "unit", "unit price", "amount"):
            table.add_column(name, justify="right" if name in ("quantity", "unit price", "amount") else "left")
        for ln in period.lines:
            table.add_row(ln.code, ln.description, str(ln.quantity), ln.unit, str(ln.unit_price), str(ln.amount))
        table.add_row("", "net total", "", "", "", str(period.net_total), style="bold")
        for tax in period.taxes:
            table.add_row(tax.code, f"{tax.description} {tax.rate_percent}% on {tax.base}", "", "", "", str(tax.amount))
        if period.taxes:
            table.add_row("", "total with taxes", "", "", "", str(period.gross_total), style="bold")
        console.print(table)
    console.print(f"net total {statement.net_total} {statement.currency}, with taxes {statement.gross_total}")
