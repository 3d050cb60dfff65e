"""Factur-X PDF/A-3: the readable page with factur-x.xml inside, checked structurally with pikepdf.

No full PDF/A validator (veraPDF) can be installed here; these checks cover what a Factur-X reader
relies on: PDF/A identification part 3 / conformance B, an sRGB output intent with its ICC profile,
the XML attached as factur-x.xml with AFRelationship Alternative and listed in the catalog's /AF,
every font embedded, no encryption. Page 1 is rendered to PNG with pdftoppm as an artifact.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pypdfium2  # type: ignore[import-untyped]
import pytest

from billing.einvoice import render_html, to_cii, to_facturx
from billing.invoice import Invoice
from tests.einvoice import samples
from tests.einvoice.validation import CII_RULES, SchematronValidator

# WeasyPrint warns at import when the system lacks libharfbuzz-subset (it then subsets fonts with
# fontTools, which embeds them just as well). That is a packaging notice about the host, not a
# deprecation in our use of its API, so only that message is ignored, and only for these tests.
# WeasyPrint 70 also opens its sRGB ICC profile (for the PDF/A output intent) without closing it;
# the file is closed by the garbage collector, which pytest reports as an unraisable
# ResourceWarning. Only that file's message is ignored.
pytestmark = [
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset will be required:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*sRGB2014.icc':pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(scope="module")
def facturx_pdfs() -> dict[str, bytes]:
    return {
        "electricity_b2c": to_facturx(samples.electricity_b2c(), samples.extras_electricity_b2c()),
        "credit_note": to_facturx(samples.credit_note()),
    }


@pytest.fixture(params=["electricity_b2c", "credit_note"])
def pdf(request: pytest.FixtureRequest, facturx_pdfs: dict[str, bytes]) -> Iterator[pikepdf.Pdf]:
    with pikepdf.open(io.BytesIO(facturx_pdfs[request.param])) as document:
        yield document


def test_pdfa3b_identification_and_output_intent(pdf: pikepdf.Pdf) -> None:
    assert not pdf.is_encrypted
    with pdf.open_metadata() as xmp:
        assert xmp.pdfa_status == "3B"
        assert xmp["{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}DocumentFileName"] == "factur-x.xml"
        assert xmp["{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}ConformanceLevel"] == "EN 16931"
    intents = pdf.Root.OutputIntents
    assert len(intents) >= 1
    profile = intents[0].DestOutputProfile
    assert intents[0].S == "/GTS_PDFA1" and int(profile.N) == 3
    assert profile.read_bytes()[36:40] == b"acsp"  # an ICC profile's signature


def test_factur_x_xml_is_attached_as_alternative(pdf: pikepdf.Pdf) -> None:
    listed = [spec for spec in pdf.Root.AF if str(spec.F) == "factur-x.xml"]
    assert len(listed) == 1
    assert listed[0].AFRelationship == "/Alternative"
    assert "factur-x.xml" in pdf.attachments
    xml = pdf.attachments["factur-x.xml"].get_file().read_bytes()
    assert xml.startswith(b"<?xml") and b"CrossIndustryInvoice" in xml


def test_every_font_is_embedded(pdf: pikepdf.Pdf) -> None:
    fonts = 0
    for page in pdf.pages:
        for font in page.Resources.Font.values():
            descriptor = font.DescendantFonts[0].FontDescriptor if "/DescendantFonts" in font else font.FontDescriptor
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font.BaseFont
            fonts += 1
    assert fonts > 0


def test_embedded_xml_is_the_cii_and_passes_the_rules(
    facturx_pdfs: dict[str, bytes], schematron: SchematronValidator
) -> None:
    with pikepdf.open(io.BytesIO(facturx_pdfs["electricity_b2c"])) as document:
        xml = document.attachments["factur-x.xml"].get_file().read_bytes()
    assert xml == to_cii(samples.electricity_b2c())
    assert schematron.fatal(xml, CII_RULES) == []


def test_page_shows_what_a_customer_needs() -> None:
    html = render_html(samples.electricity_b2c(), samples.extras_electricity_b2c())
    for expected in (
        "Volta Énergies SAS",
        "Camille Martin",
        "du 01/07/2025 au 31/07/2025",
        "<svg",
        "Estimé 6",
        "Heures creuses chaque jour",
        "148,44",
        "FR76 3000 6000 0112 3456 7890 189",
        "Contester une ligne",
        "30001234567890",
    ):
        assert expected in html, expected


def test_credit_note_page_names_the_credited_invoice() -> None:
    html = render_html(samples.credit_note())
    assert "AVOIR" in html and "Avoir sur la facture FA-2026-000142 du 03/02/2026" in html


def test_first_page_renders_to_png(facturx_pdfs: dict[str, bytes], tmp_path: Path) -> None:
    source = tmp_path / "invoice.pdf"
    source.write_bytes(facturx_pdfs["electricity_b2c"])
    tool = shutil.which("pdftoppm")
    if tool is not None:  # poppler, as a person would look at it
        subprocess.run(
            [tool, "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(source), str(tmp_path / "page1")],
            check=True,
            timeout=60,
        )
    else:  # no poppler on this machine: PDFium from its wheel renders the same page
        document = pypdfium2.PdfDocument(str(source))
        document[0].render(scale=110 / 72).to_pil().save(tmp_path / "page1.png")
        document.close()
    png = (tmp_path / "page1.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def _invoice_pages(invoice: Invoice) -> int:
    with pikepdf.open(io.BytesIO(to_facturx(invoice))) as document:
        return len(document.pages)


def test_payd_invoice_builds_on_one_page() -> None:
    assert _invoice_pages(samples.payd_insurance()) == 1
