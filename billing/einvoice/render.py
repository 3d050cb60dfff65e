"""The human-readable invoice: an HTML page (jinja2) printed to PDF/A-3b by WeasyPrint.

The page says what a customer needs to check the bill: who bills whom, for which period and supply
point, a chart of consumption per day and band (estimated days marked), every line with how it was
computed, the tariff in plain words, totals and VAT, how to pay and how to dispute a line. It is
printed as PDF/A-3b from the start (``pdf_variant="pdf/a-3b"``: embedded fonts, an sRGB output
intent, XMP metadata), because a Factur-X PDF must already be PDF/A-3 before the XML is attached
(:mod:`billing.einvoice.facturx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from billing.invoice import Invoice

__all__ = ["DailyUsage", "PageExtras", "render_html", "render_pdf"]

_TEMPLATES = Path(__file__).parent / "templates"

# How the page names UN/ECE Rec 20 units.
_UNIT_WORDS = {
    "KWH": "kWh",
    "KWT": "kW",
    "MTQ": "m³",
    "KMT": "km",
    "DAY": "jours",
    "MON": "mois",
    "HUR": "h",
    "C62": "unité(s)",
}
_BAND_COLOURS = ("#1f5f8b", "#7fb3d5", "#e59866", "#76b041", "#a569bd")
_CHART_WIDTH = 680.0
_CHART_HEIGHT = 130.0


@dataclass(frozen=True)
class DailyUsage:
    """One day of consumption per band [kWh, m^3 or km] for the chart; ``estimated`` marks estimated readings."""

    day: date
    by_band: Mapping[str, Decimal]
    estimated: bool = False


@dataclass(frozen=True)
class PageExtras:
    """What the page shows beyond the invoice document itself."""

    tariff_in_words: tuple[str, ...] = ()
    daily_usage: tuple[DailyUsage, ...] = ()
    how_to_dispute: str = ""
    customer_service: str = ""
    band_labels: Mapping[str, str] = field(default_factory=dict)
    chart_unit: str = "kWh"


def _money(value: Decimal, currency: str = "EUR") -> str:
    """French formatting: ``1 234,56 €``."""
    sign = "-" if value < 0 else ""
    whole, _, cents = format(abs(value).quantize(Decimal("0.01")), "f").partition(".")
    groups = f"{int(whole):,}".replace(",", "\u202f")
    symbol = "€" if currency == "EUR" else currency
    return f"{sign}{groups},{cents}\u00a0{symbol}"


def _number(value: Decimal, places: int | None = None) -> str:
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value.normalize() if places is None else value, "f")
    whole, _, fraction = text.lstrip("-").partition(".")
    groups = f"{int(whole):,}".replace(",", "\u202f")
    sign = "-" if value < 0 else ""
    return f"{sign}{groups},{fraction}" if fraction else f"{sign}{groups}"


def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _percent(value: Decimal) -> str:
    return _number(value) + "\u00a0%"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(("html", "xml", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=_money, number=_number, day=_day, percent=_percent, unit=lambda c: _UNIT_WORDS.get(c, c))
    return env


def _chart(extras: PageExtras) -> dict[str, Any] | None:
    """Geometry of a stacked bar chart, one bar per day, one segment per band (the legend gives each band's total)."""
    usage = extras.daily_usage
    if not usage:
        return None
    bands: list[str] = []
    for day in usage:
        bands.extend(band for band in day.by_band if band not in bands)
    totals = [sum(day.by_band.values(), Decimal(0)) for day in usage]
    peak = max(*totals, Decimal("0.001"))
    step = _CHART_WIDTH / len(usage)
    bars = []
    for index, day in enumerate(usage):
        y = _CHART_HEIGHT
        segments = []
        for band in bands:
            height = float(day.by_band.get(band, Decimal(0)) / peak) * _CHART_HEIGHT
            y -= height
            segments.append({"y": round(y, 2), "height": round(height, 2), "colour": _colour(bands, band)})
        bars.append(
            {
                "x": round(index * step + step * 0.15, 2),
                "width": round(step * 0.7, 2),
                "segments": segments,
                "label": day.day.day,
                "estimated": day.estimated,
                "top": round(y, 2),
            }
        )
    ticks = [{"y": round(_CHART_HEIGHT * (1 - f), 2), "value": _number(peak * Decimal(str(f)), 0)} for f in (0.5, 1.0)]
    legend = [
        {
            "band": extras.band_labels.get(band, band),
            "colour": _colour(bands, band),
            "total": _number(sum((day.by_band.get(band, Decimal(0)) for day in usage), Decimal(0)), 1),
        }
        for band in bands
    ]
    return {
        "width": _CHART_WIDTH,
        "height": _CHART_HEIGHT,
        "bars": bars,
        "ticks": ticks,
        "legend": legend,
        "unit": extras.chart_unit,
        "any_estimated": any(day.estimated for day in usage),
        "by_band": len(bands) > 1,
        "total": _number(sum(totals, Decimal(0)), 1),
    }


def _colour(bands: list[str], band: str) -> str:
    return _BAND_COLOURS[bands.index(band) % len(_BAND_COLOURS)]


def render_html(invoice: Invoice, extras: PageExtras | None = None) -> str:
    """The invoice page as HTML (what :func:`render_pdf` prints)."""
    extras = extras or PageExtras()
    template = _environment().get_template("invoice.html.j2")
    stylesheet = (_TEMPLATES / "invoice.css").read_text(encoding="utf-8")
    return template.render(
        invoice=invoice,
        extras=extras,
        chart=_chart(extras),
        stylesheet=stylesheet,
        title=("Avoir" if invoice.is_credit_note else "Facture") + f" {invoice.number}",
    )


def render_pdf(invoice: Invoice, extras: PageExtras | None = None) -> bytes:
    """The invoice page as a PDF/A-3b document (fonts embedded, sRGB output intent)."""
    # Imported here: it loads pango and fonts, which only PDF output needs. It ships no type hints.
    import weasyprint  # type: ignore[import-untyped]

    html = render_html(invoice, extras)
    document = weasyprint.HTML(string=html, base_url=str(_TEMPLATES))
    pdf = document.write_pdf(pdf_variant="pdf/a-3b", uncompressed_pdf=False)
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return bytes(pdf)
