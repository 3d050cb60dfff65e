"""EN 16931 e-invoices from the invoice model: CII (Factur-X EN 16931), UBL 2.1, Factur-X PDF/A-3.

``to_cii`` and ``to_ubl`` write XML; ``render_pdf`` prints the readable page as PDF/A-3b;
``to_facturx`` joins both into the Factur-X PDF that carries ``factur-x.xml``.
"""

from __future__ import annotations

from billing.einvoice.cii import to_cii
from billing.einvoice.facturx import embed_cii, to_facturx
from billing.einvoice.render import DailyUsage, PageExtras, render_html, render_pdf
from billing.einvoice.ubl import UblProfile, to_ubl

__all__ = [
    "DailyUsage",
    "PageExtras",
    "UblProfile",
    "embed_cii",
    "render_html",
    "render_pdf",
    "to_cii",
    "to_facturx",
    "to_ubl",
]
