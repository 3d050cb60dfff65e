"""The invoice document: what an invoice or credit note says, in EN 16931 terms, as frozen values.

This is the model the e-invoice writers (``billing.einvoice``: CII/Factur-X, UBL, the readable PDF)
serialise. It stores only what is stated once: parties, lines (quantity, unit, net price, line net
amount, VAT category), dates and references. Everything that follows from the lines is derived, never
stored twice: the sum of line net amounts (BT-106), the VAT breakdown per category and rate (BG-23),
the VAT total (BT-110) and the amount due (BT-115). A credit note (type code 381) is built from the
invoice it credits (:func:`credit_note_for`), so it references it (BT-25/BT-26) and sums back to it
to the cent.

Money is ``Decimal``; amounts are rounded half-up to the cent once per line (BT-131) and once per VAT
breakdown row (BT-117), as EN 16931 computes them (BR-CO-17: the VAT of a category is its taxable
amount times its rate, not the sum of per-line VAT).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, get_args

from billing.errors import BillingError
from billing.money import LINE_ROUNDING
from devices.model import Customer, PostalAddress

__all__ = [
    "BillingPeriod",
    "DeliverTo",
    "ElectronicAddress",
    "Invoice",
    "InvoiceError",
    "InvoiceLine",
    "LegalNotes",
    "LineTrace",
    "OperationCategory",
    "Party",
    "PaymentInstructions",
    "PrecedingInvoice",
    "SellerSettings",
    "TypeCode",
    "VatBreakdown",
    "VatCategory",
    "credit_note_for",
]

TypeCode = Literal["380", "381"]  # BT-3, UNTDID 1001: commercial invoice, credit note
OperationCategory = Literal["B1", "S1", "M1"]  # BT-23 (France): goods, services, mixed
VatCategory = Literal["S", "Z", "E", "AE", "K", "G", "O"]  # BT-151, UNTDID 5305 (the codes France accepts)
BarTreatment = Literal["B2B", "B2BINT", "B2C", "B2CINT"]

OPERATION_CATEGORIES: tuple[OperationCategory, ...] = get_args(OperationCategory)
VAT_CATEGORIES: tuple[VatCategory, ...] = get_args(VatCategory)

_CENT = Decimal("0.01")
# BR-FR-01/02: document numbers of at most 35 characters from this alphabet.
_NUMBER = re.compile(r"^[A-Za-z0-9+\-_/]{1,35}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_UNIT = re.compile(r"^[A-Z0-9]{2,3}$")  # UN/ECE Rec 20 common codes: KWH, KWT, MTQ, KMT, DAY, MON, C62...
_SIREN = re.compile(r"^\d{9}$")
_SIRET = re.compile(r"^\d{14}$")
# Categories whose rate is 0 and that need an exemption reason (BR-E-10, BR-AE-10, BR-IC-10, BR-G-10, BR-O-10).
_EXEMPT: frozenset[str] = frozenset({"E", "AE", "K", "G", "O"})
_QUANTITY_PLACES = 4  # BR-FR-DEC-02
_PRICE_PLACES = 6  # BR-FR-DEC-03


class InvoiceError(BillingError, ValueError):
    """An invoice document that EN 16931 (or the French rules) would refuse; the message says which field."""


def _cents(amount: Decimal) -> Decimal:
    # EN 16931 documents carry amounts in cents; the rounding rule is the project's one
    # (billing/money.py), so an invoice line and a `meterbill rate` line round alike.
    return amount.quantize(_CENT, rounding=LINE_ROUNDING)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True)
class ElectronicAddress:
    """Where the e-invoice is delivered (BT-34 seller, BT-49 buyer): a value and its EAS scheme.

    France: ``0225`` (SIREN-based address in the public directory, e.g. ``"123456789_FACTURES"``) for
    businesses, ``EM`` (an e-mail address) for consumers.
    """

    value: str
    scheme: str

    def __post_init__(self) -> None:
        if not self.value.strip() or not self.scheme.strip():
            raise InvoiceError("electronic address (BT-34/BT-49): value and scheme (EAS code) are both required")
        if self.scheme == "0225" and not re.fullmatch(r"[A-Za-z0-9+\-_.]{1,125}", self.value):
            raise InvoiceError(
                f"electronic address {self.value!r} with scheme 0225 may use only letters, digits and + - _ . "
                "(BR-FR-23), at most 125 characters"
            )


@dataclass(frozen=True)
class Party:
    """A seller (BG-4) or buyer (BG-7).

    ``siren`` is the legal registration id (BT-30/BT-47, scheme 0002), ``siret`` the establishment id
    (BT-29/BT-46, scheme 0009, starts with the SIREN), ``vat_id`` the VAT identifier (BT-31/BT-48).
    A party without SIREN and VAT id is a consumer. ``legal_info`` is the seller's additional legal
    information (BT-33: legal form, share capital, registry).
    """

    name: str
    address: PostalAddress
    siren: str | None = None
    siret: str | None = None
    vat_id: str | None = None
    electronic_address: ElectronicAddress | None = None
    trading_name: str | None = None
    legal_info: str | None = None
    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvoiceError("party name (BT-27/BT-44) must not be empty")
        if not self.address.country:
            raise InvoiceError(f"party {self.name}: the address needs an ISO 3166-1 country code (BT-40/BT-55)")
        if self.siren is not None and not _SIREN.match(self.siren):
            raise InvoiceError(f"party {self.name}: SIREN {self.siren!r} must be 9 digits (BR-FR-10/BR-FR-32)")
        if self.siret is not None and not (_SIRET.match(self.siret) and self.siret[:9] == (self.siren or "")):
            raise InvoiceError(
                f"party {self.name}: SIRET {self.siret!r} must be 14 digits starting with the SIREN (BR-FR-09)"
            )

    @property
    def is_business(self) -> bool:
        return self.siren is not None or self.vat_id is not None

    @classmethod
    def from_customer(cls, customer: Customer, electronic_address: ElectronicAddress | None = None) -> Party:
        """The buyer as the registry knows it; consumers are reached by e-mail (scheme EM) by default."""
        if electronic_address is None and customer.email is not None:
            electronic_address = ElectronicAddress(customer.email, "EM")
        return cls(
            name=customer.name,
            address=customer.address,
            siren=customer.siren,
            vat_id=customer.vat_id,
            electronic_address=electronic_address,
            email=customer.email,
        )


@dataclass(frozen=True)
class PaymentInstructions:
    """How to pay (BG-16, BT-20): SEPA credit transfer (58) to an IBAN, or SEPA direct debit (59).

    ``due_days`` gives the due date (BT-9) from the issue date; ``terms`` is the payment terms text (BT-20).
    For direct debit, ``mandate_reference`` (BT-89) and ``creditor_id`` (BT-90) are required.
    """

    iban: str
    bic: str | None = None
    account_name: str | None = None
    means_code: Literal["58", "59", "30"] = "58"
    due_days: int = 14
    terms: str = "Payable within 14 days of the invoice date by SEPA credit transfer."
    mandate_reference: str | None = None
    creditor_id: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", self.iban.replace(" ", "")):
            raise InvoiceError(f"IBAN {self.iban!r} is not an IBAN (two letters, two digits, then 10-30 characters)")
        if self.due_days < 0:
            raise InvoiceError("payment due_days must be >= 0")
        if self.means_code == "59" and not (self.mandate_reference and self.creditor_id):
            raise InvoiceError("SEPA direct debit (59) needs mandate_reference (BT-89) and creditor_id (BT-90)")

    @property
    def iban_compact(self) -> str:
        return self.iban.replace(" ", "")


@dataclass(frozen=True)
class LegalNotes:
    """The three notes French invoices must carry once each (BR-FR-05/06), with their subject codes."""

    recovery_fee: str  # PMT: fixed indemnity for recovery costs
    late_penalties: str  # PMD: late payment penalties
    discount: str  # AAB: early payment discount, or that there is none

    @classmethod
    def french(cls, *, business: bool) -> LegalNotes:
        """The usual wording; the 40 EUR indemnity (Code de commerce L441-10) applies to professionals."""
        if business:
            recovery = "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 EUR."
            penalties = (
                "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain de l'échéance."
            )
        else:
            recovery = "Indemnité forfaitaire pour frais de recouvrement : sans objet (client non professionnel)."
            penalties = "En cas de retard de paiement, des pénalités au taux d'intérêt légal peuvent être appliquées."
        return cls(recovery, penalties, "Pas d'escompte pour paiement anticipé.")

    def coded(self) -> tuple[tuple[str, str], ...]:
        """(subject code BT-21, text BT-22) pairs, in document order."""
        return (("PMT", self.recovery_fee), ("PMD", self.late_penalties), ("AAB", self.discount))


@dataclass(frozen=True)
class SellerSettings:
    """What the supplier configures once: its party, how to be paid, its legal notes and dispute route."""

    party: Party
    payment: PaymentInstructions
    dispute: str = ""  # how a customer disputes a line, in plain words (printed on the PDF)
    customer_service: str = ""


@dataclass(frozen=True)
class BillingPeriod:
    """A period of dates, both inclusive, as EN 16931 states them (BG-14, BG-26)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvoiceError(f"period end {self.end} is before its start {self.start} (BR-29/BR-30)")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class DeliverTo:
    """The supply point (BG-13/BG-15): where energy is delivered or the vehicle insured.

    ``location_id`` is its identifier (BT-71): the electricity PDL, the gas PCE or the vehicle id.
    """

    name: str | None
    address: PostalAddress
    location_id: str | None = None


@dataclass(frozen=True)
class PrecedingInvoice:
    """The invoice a credit note refers to (BG-3): its number (BT-25) and issue date (BT-26)."""

    number: str
    issue_date: date


@dataclass(frozen=True)
class LineTrace:
    """Where a line comes from, so a customer can re-rate it: tariff version, band/tier, readings.

    ``estimated_share`` is the fraction of the line's quantity from estimated readings [1], 0..1.
    """

    tariff_id: str
    tariff_version: int
    band: str | None = None
    tier: int | None = None
    first_interval: datetime | None = None
    last_interval: datetime | None = None
    interval_count: int = 0
    estimated_share: Decimal = Decimal(0)
    devices: tuple[str, ...] = ()  # the meters or vehicle measured, in time order (two across a meter exchange)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.estimated_share <= Decimal(1):
            raise InvoiceError(f"trace estimated_share {self.estimated_share} must be within 0..1")

    def as_mapping(self) -> Mapping[str, str]:
        """The trace as text, e.g. for the PDF and the evidence bundle."""
        out = {"tariff": f"{self.tariff_id} v{self.tariff_version}"}
        if self.band is not None:
            out["band"] = self.band
        if self.tier is not None:
            out["tier"] = str(self.tier)
        if self.first_interval is not None and self.last_interval is not None:
            out["intervals"] = f"{self.first_interval.isoformat()} .. {self.last_interval.isoformat()}"
        out["interval_count"] = str(self.interval_count)
        out["estimated_share"] = format(self.estimated_share, "f")
        if self.devices:
            out["devices"] = ", ".join(self.devices)
        return out


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line (BG-25).

    ``quantity`` [unit] (BT-129) in a UN/ECE Rec 20 ``unit`` (BT-130); ``net_price`` [currency/unit]
    (BT-146) is never negative (a deduction is a negative quantity; a correction is a credit note);
    ``net_amount`` (BT-131) is ``quantity * net_price`` rounded to the cent. ``vat_rate`` is in
    percent (BT-152). ``object_id`` (BT-128) names the metered thing: the PDL/PCE of a meter
    (scheme ``MG``, UNTDID 1153 meter unit number) or a vehicle (``ABZ``, vehicle licence number).
    """

    line_id: str
    code: str  # seller's item id (BT-155), e.g. the tariff component code
    description: str  # item name (BT-153)
    quantity: Decimal
    unit: str
    net_price: Decimal
    net_amount: Decimal
    vat_category: VatCategory
    vat_rate: Decimal
    period: BillingPeriod | None = None
    object_id: str | None = None
    object_scheme: str | None = None
    exemption_reason: str | None = None  # BT-120, for exempt categories
    exemption_code: str | None = None  # BT-121, VATEX code
    explanation: str = ""  # line note (BT-127): how the quantity and price were arrived at
    trace: LineTrace | None = None

    def __post_init__(self) -> None:
        where = f"line {self.line_id}"
        if not self.line_id.strip() or not self.description.strip():
            raise InvoiceError(f"{where}: line id (BT-126) and description (BT-153) are required")
        if not _UNIT.match(self.unit):
            raise InvoiceError(f"{where}: unit {self.unit!r} is not a UN/ECE Rec 20 code such as KWH, DAY, KMT")
        if (self.object_scheme is not None) and self.object_id is None:
            raise InvoiceError(f"{where}: object_scheme given without object_id")
        self._check_amounts(where)
        self._check_vat(where)

    def _check_amounts(self, where: str) -> None:
        for name, value in (
            ("quantity", self.quantity),
            ("net_price", self.net_price),
            ("net_amount", self.net_amount),
        ):
            if not isinstance(value, Decimal) or not value.is_finite():
                raise InvoiceError(f"{where}: {name} must be a finite Decimal, got {value!r}")
        if _places(self.quantity) > _QUANTITY_PLACES:
            raise InvoiceError(f"{where}: quantity {self.quantity} has more than 4 decimals (BR-FR-DEC-02)")
        if self.net_price < 0 or _places(self.net_price) > _PRICE_PLACES:
            raise InvoiceError(f"{where}: net price {self.net_price} must be >= 0 with at most 6 decimals (BR-27)")
        if _places(self.net_amount) > 2:
            raise InvoiceError(f"{where}: net amount {self.net_amount} must be in cents")
        if abs(self.quantity * self.net_price - self.net_amount) >= _CENT:
            raise InvoiceError(
                f"{where}: net amount {self.net_amount} is not quantity x price ({self.quantity} x {self.net_price})"
            )

    def _check_vat(self, where: str) -> None:
        if self.vat_category not in VAT_CATEGORIES:
            raise InvoiceError(f"{where}: VAT category {self.vat_category!r} is not one of {', '.join(VAT_CATEGORIES)}")
        if self.vat_category in _EXEMPT or self.vat_category == "Z":
            if self.vat_rate != 0:
                raise InvoiceError(f"{where}: VAT category {self.vat_category} has rate 0, not {self.vat_rate}")
        elif self.vat_rate <= 0:
            raise InvoiceError(f"{where}: standard-rated (S) lines need a rate > 0")
        if self.vat_category in _EXEMPT and not (self.exemption_reason or self.exemption_code):
            raise InvoiceError(f"{where}: VAT category {self.vat_category} needs an exemption reason or VATEX code")

    @classmethod
    def priced(
        cls,
        line_id: str,
        code: str,
        description: str,
        quantity: Decimal,
        unit: str,
        net_price: Decimal,
        vat_category: VatCategory,
        vat_rate: Decimal,
        **extra: object,
    ) -> InvoiceLine:
        """A line whose net amount is ``quantity * net_price`` rounded half-up to the cent."""
        amount = _cents(quantity * net_price)
        return cls(line_id, code, description, quantity, unit, net_price, amount, vat_category, vat_rate, **extra)  # type: ignore[arg-type]

    @property
    def vat_key(self) -> tuple[str, Decimal, str | None, str | None]:
        return (self.vat_category, self.vat_rate, self.exemption_code, self.exemption_reason)

    @property
    def estimated(self) -> bool:
        return self.trace is not None and self.trace.estimated_share > 0


@dataclass(frozen=True)
class VatBreakdown:
    """One row of the VAT breakdown (BG-23): per category, rate and exemption reason."""

    category: str  # BT-118
    rate: Decimal  # BT-119 [%]
    taxable_amount: Decimal  # BT-116
    exemption_code: str | None = None  # BT-121
    exemption_reason: str | None = None  # BT-120

    @property
    def tax_amount(self) -> Decimal:  # BT-117 (BR-CO-17)
        return _cents(self.taxable_amount * self.rate / 100)


@dataclass(frozen=True)
class Invoice:
    """An invoice (380) or credit note (381) with everything EN 16931 and the French rules need.

    ``buyer_reference`` (BT-10) is the customer's or contract reference that the buyer routes
    invoices with; ``contract_reference`` is BT-12. ``vat_on_debits`` (BT-8) states that the seller
    pays VAT on invoicing ("option pour les débits") instead of on payment.
    """

    number: str
    type_code: TypeCode
    issue_date: date
    seller: Party
    buyer: Party
    payment: PaymentInstructions
    period: BillingPeriod
    lines: tuple[InvoiceLine, ...]
    operation_category: OperationCategory
    notes: LegalNotes
    due_date: date | None = None
    currency: str = "EUR"
    deliver_to: DeliverTo | None = None
    preceding: PrecedingInvoice | None = None
    vat_on_debits: bool = False
    buyer_reference: str | None = None
    contract_reference: str | None = None
    free_notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        where = f"invoice {self.number}"
        if not _NUMBER.match(self.number):
            raise InvoiceError(f"{where}: number must be 1-35 letters, digits or + - _ / (BR-FR-01/02)")
        if self.type_code not in ("380", "381"):
            raise InvoiceError(f"{where}: type code {self.type_code!r} must be 380 (invoice) or 381 (credit note)")
        if self.type_code == "381" and self.preceding is None:
            raise InvoiceError(f"{where}: a credit note must reference the invoice it credits (BT-25/BT-26)")
        if self.preceding is not None and not _NUMBER.match(self.preceding.number):
            raise InvoiceError(f"{where}: preceding invoice number {self.preceding.number!r} is not valid")
        if not _CURRENCY.match(self.currency):
            raise InvoiceError(f"{where}: currency {self.currency!r} must be an ISO 4217 code such as EUR")
        if not self.lines:
            raise InvoiceError(f"{where}: an invoice needs at least one line (BR-16)")
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise InvoiceError(f"{where}: line ids must be unique, got {ids}")
        if self.operation_category not in OPERATION_CATEGORIES:
            raise InvoiceError(f"{where}: operation category must be one of {', '.join(OPERATION_CATEGORIES)} (BT-23)")
        if self.due_date is not None and self.due_date < self.issue_date:
            raise InvoiceError(f"{where}: due date {self.due_date} is before the issue date (BR-FR-CO-07)")
        if self.seller.siren is None:
            raise InvoiceError(f"{where}: the seller needs its SIREN (BT-30, BR-FR-10)")
        if self.seller.electronic_address is None or self.buyer.electronic_address is None:
            raise InvoiceError(f"{where}: seller and buyer need an electronic address (BT-34/BT-49, BR-FR-12/13)")
        if self.bar_treatment == "B2B" and self.buyer.siren is None:
            raise InvoiceError(f"{where}: a French business buyer needs its SIREN (BT-47, BR-FR-11)")

    # -- derived amounts (never stored) --------------------------------------------------------

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == "381"

    @property
    def line_total(self) -> Decimal:  # BT-106
        return sum((line.net_amount for line in self.lines), Decimal("0.00"))

    @property
    def tax_exclusive(self) -> Decimal:  # BT-109 (no document-level allowances or charges)
        return self.line_total

    @property
    def vat_breakdown(self) -> tuple[VatBreakdown, ...]:  # BG-23, one row per category/rate/reason
        groups: dict[tuple[str, Decimal, str | None, str | None], Decimal] = {}
        for line in self.lines:
            groups[line.vat_key] = groups.get(line.vat_key, Decimal("0.00")) + line.net_amount
        rows = [VatBreakdown(cat, rate, amount, code, reason) for (cat, rate, code, reason), amount in groups.items()]
        return tuple(sorted(rows, key=lambda row: (row.category, -row.rate)))

    @property
    def vat_total(self) -> Decimal:  # BT-110
        return sum((row.tax_amount for row in self.vat_breakdown), Decimal("0.00"))

    @property
    def tax_inclusive(self) -> Decimal:  # BT-112
        return self.tax_exclusive + self.vat_total

    @property
    def amount_due(self) -> Decimal:  # BT-115 (nothing prepaid)
        return self.tax_inclusive

    @property
    def bar_treatment(self) -> BarTreatment:
        """The French processing category (note subject BAR): who the buyer is and where."""
        domestic = self.buyer.address.country == "FR"
        if self.buyer.is_business:
            return "B2B" if domestic else "B2BINT"
        return "B2C" if domestic else "B2CINT"

    @property
    def estimated_lines(self) -> tuple[InvoiceLine, ...]:
        return tuple(line for line in self.lines if line.estimated)


def credit_note_for(
    invoice: Invoice,
    number: str,
    issue_date: date,
    *,
    lines: tuple[InvoiceLine, ...] | None = None,
    reason: str | None = None,
) -> Invoice:
    """A credit note (381) for ``invoice``: all its lines (a full credit) or the ``lines`` given.

    The credit note carries the same parties, period and VAT treatment, references the invoice
    (BT-25/BT-26), and with all lines sums back to the invoice to the cent.
    """
    if invoice.is_credit_note:
        raise InvoiceError(f"{invoice.number} is a credit note; credit the invoice itself")
    credited = invoice.lines if lines is None else lines
    known = {line.line_id: line for line in invoice.lines}
    for line in credited:
        original = known.get(line.line_id)
        if original is None or line.quantity > original.quantity or line.net_price != original.net_price:
            raise InvoiceError(
                f"credit note {number}: line {line.line_id} does not credit (part of) a line of {invoice.number}"
            )
    notes = (*invoice.free_notes, reason) if reason else invoice.free_notes
    return replace(
        invoice,
        number=number,
        type_code="381",
        issue_date=issue_date,
        due_date=issue_date,
        lines=credited,
        preceding=PrecedingInvoice(invoice.number, invoice.issue_date),
        free_notes=notes,
    )
