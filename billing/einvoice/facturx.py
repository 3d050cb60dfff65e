"""Factur-X: the readable PDF/A-3b invoice with its CII XML embedded as ``factur-x.xml``.

The visual PDF is PDF/A-3b from the start (:func:`billing.einvoice.render.render_pdf`); the
``factur-x`` package then checks the XML against the Factur-X EN 16931 XSD, attaches it with
AFRelationship ``Alternative`` (the XML is an equivalent representation of the page, as the French
profile asks for an invoice) and writes the Factur-X XMP extension schema (document type INVOICE,
conformance level EN 16931). Schematron checks are not run here: they need Saxon and belong in the
tests (``tests/einvoice/validation.py``).
"""

from __future__ import annotations

import logging

import facturx  # type: ignore[import-untyped]  # no type information shipped

from billing.einvoice.cii import to_cii
from billing.einvoice.render import PageExtras, render_pdf
from billing.invoice import Invoice, InvoiceError

__all__ = ["FACTURX_FILENAME", "embed_cii", "to_facturx"]

FACTURX_FILENAME = "factur-x.xml"

logger = logging.getLogger(__name__)


def embed_cii(pdf: bytes, cii: bytes, invoice: Invoice) -> bytes:
    """Attach ``cii`` to a PDF/A-3 ``pdf`` as factur-x.xml (AFRelationship Alternative)."""
    kind = "Avoir" if invoice.is_credit_note else "Facture"
    metadata = {
        "author": invoice.seller.name,
        "keywords": "Factur-X, EN 16931, " + kind,
        "title": f"{invoice.seller.name}: {kind} {invoice.number}",
        "subject": f"Factur-X {kind.lower()} {invoice.number} du {invoice.issue_date.isoformat()} "
        f"émise par {invoice.seller.name}",
    }
    try:
        return bytes(
            facturx.generate_from_binary(
                pdf,
                cii,
                flavor="factur-x",
                level="en16931",
                check_xsd=True,
                pdf_metadata=metadata,
                lang="fr-FR",
                afrelationship="alternative",
            )
        )
    except Exception as exc:  # the library raises bare Exception for an XSD failure
        raise InvoiceError(f"invoice {invoice.number}: Factur-X embedding failed: {exc}") from exc


def to_facturx(invoice: Invoice, extras: PageExtras | None = None) -> bytes:
    """The complete Factur-X PDF of ``invoice``: the readable page with factur-x.xml inside."""
    logger.debug("rendering Factur-X for %s", invoice.number)
    return embed_cii(render_pdf(invoice, extras), to_cii(invoice), invoice)
