"""UN/CEFACT Cross Industry Invoice (CII D16B) at the Factur-X EN 16931 profile.

:func:`to_cii` writes an :class:`~billing.invoice.Invoice` as the XML that a Factur-X PDF embeds as
``factur-x.xml``. Element order follows the Factur-X 1.0 EN 16931 XSD; each element names the
EN 16931 business term it carries. The French rules (BR-FR Flux 2) add: the operation category
BT-23 as the business process, the BAR note (B2B/B2C), the PMT/PMD/AAB notes, SIREN with scheme
0002, electronic addresses of both parties, and the preceding invoice of a credit note.
"""

from __future__ import annotations

from lxml import etree

from billing.einvoice._xml import amount, day102, percent, price, quantity, sub
from billing.invoice import Invoice, InvoiceLine, Party
from devices.model import PostalAddress

__all__ = ["FACTURX_EN16931_GUIDELINE", "NS", "to_cii"]

FACTURX_EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"  # BT-24 at the Factur-X EN 16931 profile

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_RSM = "{" + NS["rsm"] + "}"  # Clark-notation prefixes for lxml tag names
_RAM = "{" + NS["ram"] + "}"
_UDT = "{" + NS["udt"] + "}"
_QDT = "{" + NS["qdt"] + "}"

# BT-8 in CII (UNTDID 2475): 5 = VAT due on the invoice date (the French "option pour les débits").
_VAT_ON_DEBITS = "5"


def to_cii(invoice: Invoice) -> bytes:
    """The invoice as CII XML (UTF-8, with declaration), ready for Factur-X embedding."""
    root = etree.Element(_RSM + "CrossIndustryInvoice", nsmap=NS)
    context = sub(root, _RSM + "ExchangedDocumentContext")
    sub(
        sub(context, _RAM + "BusinessProcessSpecifiedDocumentContextParameter"), _RAM + "ID", invoice.operation_category
    )
    sub(sub(context, _RAM + "GuidelineSpecifiedDocumentContextParameter"), _RAM + "ID", FACTURX_EN16931_GUIDELINE)

    document = sub(root, _RSM + "ExchangedDocument")
    sub(document, _RAM + "ID", invoice.number)  # BT-1
    sub(document, _RAM + "TypeCode", invoice.type_code)  # BT-3
    _date(sub(document, _RAM + "IssueDateTime"), invoice.issue_date)  # BT-2
    for subject, text in (("BAR", invoice.bar_treatment), *invoice.notes.coded()):  # BG-1
        note = sub(document, _RAM + "IncludedNote")
        sub(note, _RAM + "Content", text)  # BT-22
        sub(note, _RAM + "SubjectCode", subject)  # BT-21
    for text in invoice.free_notes:
        sub(sub(document, _RAM + "IncludedNote"), _RAM + "Content", text)

    transaction = sub(root, _RSM + "SupplyChainTradeTransaction")
    for line in invoice.lines:
        _line(transaction, line)
    _agreement(transaction, invoice)
    _delivery(transaction, invoice)
    _settlement(transaction, invoice)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _date(parent: etree._Element, day: object, *, qualified: bool = False) -> None:
    prefix = _QDT if qualified else _UDT
    sub(parent, prefix + "DateTimeString", day102(day), format="102")  # type: ignore[arg-type]


def _line(transaction: etree._Element, line: InvoiceLine) -> None:
    item = sub(transaction, _RAM + "IncludedSupplyChainTradeLineItem")
    document = sub(item, _RAM + "AssociatedDocumentLineDocument")
    sub(document, _RAM + "LineID", line.line_id)  # BT-126
    if line.explanation:
        sub(sub(document, _RAM + "IncludedNote"), _RAM + "Content", line.explanation)  # BT-127
    product = sub(item, _RAM + "SpecifiedTradeProduct")
    sub(product, _RAM + "SellerAssignedID", line.code)  # BT-155
    sub(product, _RAM + "Name", line.description)  # BT-153
    agreement = sub(item, _RAM + "SpecifiedLineTradeAgreement")
    sub(sub(agreement, _RAM + "NetPriceProductTradePrice"), _RAM + "ChargeAmount", price(line.net_price))  # BT-146
    delivery = sub(item, _RAM + "SpecifiedLineTradeDelivery")
    sub(delivery, _RAM + "BilledQuantity", quantity(line.quantity), unitCode=line.unit)  # BT-129, BT-130
    settlement = sub(item, _RAM + "SpecifiedLineTradeSettlement")
    tax = sub(settlement, _RAM + "ApplicableTradeTax")
    sub(tax, _RAM + "TypeCode", "VAT")
    sub(tax, _RAM + "CategoryCode", line.vat_category)  # BT-151
    sub(tax, _RAM + "RateApplicablePercent", percent(line.vat_rate))  # BT-152
    if line.period is not None:  # BG-26
        period = sub(settlement, _RAM + "BillingSpecifiedPeriod")
        _date(sub(period, _RAM + "StartDateTime"), line.period.start)  # BT-134
        _date(sub(period, _RAM + "EndDateTime"), line.period.end)  # BT-135
    summation = sub(settlement, _RAM + "SpecifiedTradeSettlementLineMonetarySummation")
    sub(summation, _RAM + "LineTotalAmount", amount(line.net_amount))  # BT-131
    if line.object_id is not None:  # BT-128 with its scheme BT-128-1 (UNTDID 1153)
        reference = sub(settlement, _RAM + "AdditionalReferencedDocument")
        sub(reference, _RAM + "IssuerAssignedID", line.object_id)
        sub(reference, _RAM + "TypeCode", "130")
        if line.object_scheme is not None:
            sub(reference, _RAM + "ReferenceTypeCode", line.object_scheme)


def _address(parent: etree._Element, address: PostalAddress) -> None:
    element = sub(parent, _RAM + "PostalTradeAddress")
    if address.postcode:
        sub(element, _RAM + "PostcodeCode", address.postcode)
    for tag, text in zip(("LineOne", "LineTwo", "LineThree"), address.lines, strict=False):
        sub(element, _RAM + tag, text)
    if address.city:
        sub(element, _RAM + "CityName", address.city)
    sub(element, _RAM + "CountryID", address.country)


def _party(parent: etree._Element, tag: str, party: Party, *, seller: bool) -> None:
    element = sub(parent, _RAM + tag)
    if party.siret is not None:  # BT-29 / BT-46: SIRET, scheme 0009
        sub(element, _RAM + "GlobalID", party.siret, schemeID="0009")
    sub(element, _RAM + "Name", party.name)  # BT-27 / BT-44
    if seller and party.legal_info:
        sub(element, _RAM + "Description", party.legal_info)  # BT-33
    if party.siren is not None:  # BT-30 / BT-47: SIREN, scheme 0002
        legal = sub(element, _RAM + "SpecifiedLegalOrganization")
        sub(legal, _RAM + "ID", party.siren, schemeID="0002")
        if party.trading_name:
            sub(legal, _RAM + "TradingBusinessName", party.trading_name)  # BT-28 / BT-45
    if seller and (party.email or party.phone):  # BG-6
        contact = sub(element, _RAM + "DefinedTradeContact")
        if party.phone:
            sub(sub(contact, _RAM + "TelephoneUniversalCommunication"), _RAM + "CompleteNumber", party.phone)
        if party.email:
            sub(sub(contact, _RAM + "EmailURIUniversalCommunication"), _RAM + "URIID", party.email)
    _address(element, party.address)  # BG-5 / BG-8
    if party.electronic_address is not None:  # BT-34 / BT-49
        uri = sub(element, _RAM + "URIUniversalCommunication")
        sub(uri, _RAM + "URIID", party.electronic_address.value, schemeID=party.electronic_address.scheme)
    if party.vat_id is not None:  # BT-31 / BT-48
        sub(sub(element, _RAM + "SpecifiedTaxRegistration"), _RAM + "ID", party.vat_id, schemeID="VA")


def _agreement(transaction: etree._Element, invoice: Invoice) -> None:
    agreement = sub(transaction, _RAM + "ApplicableHeaderTradeAgreement")
    if invoice.buyer_reference:
        sub(agreement, _RAM + "BuyerReference", invoice.buyer_reference)  # BT-10
    _party(agreement, "SellerTradeParty", invoice.seller, seller=True)
    _party(agreement, "BuyerTradeParty", invoice.buyer, seller=False)
    if invoice.contract_reference:
        sub(sub(agreement, _RAM + "ContractReferencedDocument"), _RAM + "IssuerAssignedID", invoice.contract_reference)


def _delivery(transaction: etree._Element, invoice: Invoice) -> None:
    delivery = sub(transaction, _RAM + "ApplicableHeaderTradeDelivery")
    target = invoice.deliver_to
    if target is None:
        return
    party = sub(delivery, _RAM + "ShipToTradeParty")  # BG-13
    if target.location_id:
        sub(party, _RAM + "ID", target.location_id)  # BT-71
    if target.name:
        sub(party, _RAM + "Name", target.name)  # BT-70
    _address(party, target.address)  # BG-15


def _settlement(transaction: etree._Element, invoice: Invoice) -> None:
    settlement = sub(transaction, _RAM + "ApplicableHeaderTradeSettlement")
    payment = invoice.payment
    if payment.means_code == "59" and payment.creditor_id:
        sub(settlement, _RAM + "CreditorReferenceID", payment.creditor_id)  # BT-90
    sub(settlement, _RAM + "PaymentReference", invoice.number)  # BT-83
    sub(settlement, _RAM + "InvoiceCurrencyCode", invoice.currency)  # BT-5
    means = sub(settlement, _RAM + "SpecifiedTradeSettlementPaymentMeans")  # BG-16
    sub(means, _RAM + "TypeCode", payment.means_code)  # BT-81
    if payment.means_code == "59":
        sub(sub(means, _RAM + "PayerPartyDebtorFinancialAccount"), _RAM + "IBANID", payment.iban_compact)  # BT-91
    else:
        account = sub(means, _RAM + "PayeePartyCreditorFinancialAccount")
        sub(account, _RAM + "IBANID", payment.iban_compact)  # BT-84
        if payment.account_name:
            sub(account, _RAM + "AccountName", payment.account_name)  # BT-85
        if payment.bic:
            sub(sub(means, _RAM + "PayeeSpecifiedCreditorFinancialInstitution"), _RAM + "BICID", payment.bic)  # BT-86
    for row in invoice.vat_breakdown:  # BG-23
        tax = sub(settlement, _RAM + "ApplicableTradeTax")
        sub(tax, _RAM + "CalculatedAmount", amount(row.tax_amount))  # BT-117
        sub(tax, _RAM + "TypeCode", "VAT")
        if row.exemption_reason:
            sub(tax, _RAM + "ExemptionReason", row.exemption_reason)  # BT-120
        sub(tax, _RAM + "BasisAmount", amount(row.taxable_amount))  # BT-116
        sub(tax, _RAM + "CategoryCode", row.category)  # BT-118
        if row.exemption_code:
            sub(tax, _RAM + "ExemptionReasonCode", row.exemption_code)  # BT-121
        if invoice.vat_on_debits:
            sub(tax, _RAM + "DueDateTypeCode", _VAT_ON_DEBITS)  # BT-8
        sub(tax, _RAM + "RateApplicablePercent", percent(row.rate))  # BT-119
    period = sub(settlement, _RAM + "BillingSpecifiedPeriod")  # BG-14
    _date(sub(period, _RAM + "StartDateTime"), invoice.period.start)  # BT-73
    _date(sub(period, _RAM + "EndDateTime"), invoice.period.end)  # BT-74
    terms = sub(settlement, _RAM + "SpecifiedTradePaymentTerms")
    sub(terms, _RAM + "Description", payment.terms)  # BT-20
    if invoice.due_date is not None:
        _date(sub(terms, _RAM + "DueDateDateTime"), invoice.due_date)  # BT-9
    if payment.means_code == "59" and payment.mandate_reference:
        sub(terms, _RAM + "DirectDebitMandateID", payment.mandate_reference)  # BT-89
    totals = sub(settlement, _RAM + "SpecifiedTradeSettlementHeaderMonetarySummation")  # BG-22
    sub(totals, _RAM + "LineTotalAmount", amount(invoice.line_total))  # BT-106
    sub(totals, _RAM + "TaxBasisTotalAmount", amount(invoice.tax_exclusive))  # BT-109
    sub(totals, _RAM + "TaxTotalAmount", amount(invoice.vat_total), currencyID=invoice.currency)  # BT-110
    sub(totals, _RAM + "GrandTotalAmount", amount(invoice.tax_inclusive))  # BT-112
    sub(totals, _RAM + "DuePayableAmount", amount(invoice.amount_due))  # BT-115
    if invoice.preceding is not None:  # BG-3
        reference = sub(settlement, _RAM + "InvoiceReferencedDocument")
        sub(reference, _RAM + "IssuerAssignedID", invoice.preceding.number)  # BT-25
        _date(sub(reference, _RAM + "FormattedIssueDateTime"), invoice.preceding.issue_date, qualified=True)  # BT-26
