"""The invoice page's chart: consumption per day and per time-of-use band, from the bundle's readings."""

from __future__ import annotations

from decimal import Decimal

from billing.bundle import daily_usage
from billing.documents import from_data
from billing.einvoice import PageExtras, render_html
from billing.invoice import Invoice
from billing.readings_csv import rate_readings_csv
from billing.runs import DeviceWindow, gather_readings, run_billing
from rating.tariff_file import load_tariff
from store.contract import Store
from tests.billing.billing_world import EXAMPLES, PERIOD, SELLER, add_world


def test_chart_stacks_each_day_by_band_and_the_bands_add_up_to_the_lines(store: Store) -> None:
    add_world(store, 1)
    run_billing(store, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
    record = store.invoice(f"ct-000-{PERIOD}")
    assert record is not None
    readings = gather_readings(store, [DeviceWindow.from_data(w) for w in record.evidence["devices"]])
    days, labels, unit = daily_usage(readings, load_tariff(EXAMPLES / "fr_electricity_hphc.json"))
    assert unit == "kWh" and len(days) == 31
    assert labels == {"hp": "peak hours (HP)", "hc": "off-peak hours (HC)"}
    assert all(set(d.by_band) == {"hp", "hc"} for d in days)
    assert sum(d.estimated for d in days) > 0  # every 50th reading of the world is estimated
    lines = {line.code: line.quantity for line in from_data(Invoice, record.document).lines}
    for band, code in (("hp", "ENERGY_HP"), ("hc", "ENERGY_HC")):  # hourly readings: no interval straddles a band
        assert sum((d.by_band[band] for d in days), Decimal(0)) == lines[code]

    html = render_html(from_data(Invoice, record.document), PageExtras(daily_usage=days, band_labels=labels))
    assert "jour par jour et par plage horaire" in html
    assert "peak hours (HP) : " in html and "off-peak hours (HC) : " in html
    assert html.count('fill="#1f5f8b"') == 31 and html.count('fill="#7fb3d5"') == 31  # one segment per band per day
