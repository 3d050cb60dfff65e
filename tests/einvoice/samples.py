"""Realistic documents for the e-invoice tests: what a French supplier of energy and PAYD insurance bills.

Figures are plausible, not official tariffs. VAT: until 31 July 2025 the standing charge of a
household electricity or gas supply (<= 36 kVA) was taxed at the reduced 5.5 % rate and energy at
20 %; from 1 August 2025 everything is at 20 %. The July 2025 electricity invoice therefore has two
VAT rates, which EN 16931 states as two rows of the VAT breakdown (BG-23), one per rate, each with its
taxable amount and VAT computed on that amount (BR-CO-17, BR-S-8). Insurance premiums are exempt
from VAT (CGI art. 261 C 2°, VAT directive art. 135(1)(a)): category E with reason code
VATEX-FR-CGI261C-2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

from billing.einvoice.render import DailyUsage, PageExtras
from billing.invoice import (
    BillingPeriod,
    DeliverTo,
    ElectronicAddress,
    Invoice,
    InvoiceLine,
    LegalNotes,
    LineTrace,
    Party,
    PaymentInstructions,
    credit_note_for,
)
from devices.model import Customer, PostalAddress
from devices.units import unece_code

# UN/ECE Rec 20 codes from the canonical units the readings are stored in; the rest are fixed codes.
KWH = unece_code("kWh")
KMT = unece_code("km")

SELLER = Party(
    name="Volta Énergies SAS",
    address=PostalAddress(("18 quai de la Gare",), city="Paris", postcode="75013", country="FR"),
    siren="732829320",
    siret="73282932000074",
    vat_id="FR44732829320",
    electronic_address=ElectronicAddress("732829320_FACTURES", "0225"),
    trading_name="Volta Énergies",
    legal_info="SAS au capital de 2 500 000 EUR - RCS Paris 732 829 320",
    email="factures@volta-energies.example",
    phone="+33 1 84 00 00 00",
)
PAYMENT = PaymentInstructions(
    iban="FR76 3000 6000 0112 3456 7890 189",
    bic="AGRIFRPPXXX",
    account_name="Volta Energies SAS",
    due_days=14,
    terms="Paiement à 14 jours par virement SEPA, en indiquant le numéro de facture.",
)
CONSUMER = Party.from_customer(
    Customer(
        "c-0001",
        "Camille Martin",
        email="camille.martin@example.fr",
        address=PostalAddress(("12 rue des Lilas", "Bâtiment B"), city="Lyon", postcode="69003", country="FR"),
    )
)
BUSINESS = Party.from_customer(
    Customer(
        "c-0042",
        "Boulangerie Dupain SARL",
        email="compta@dupain.example",
        address=PostalAddress(("5 place du Marché",), city="Rennes", postcode="35000", country="FR"),
        siren="418279361",
        vat_id="FR20418279361",
    ),
    ElectronicAddress("418279361_FACTURATION", "0225"),
)

PDL = "30001234567890"  # electricity delivery point (Point de livraison), 14 digits
PCE = "GI123456789012"  # gas delivery point (Point de comptage et d'estimation)
VEHICLE = "FR-AB-123-CD"

JULY_2025 = BillingPeriod(date(2025, 7, 1), date(2025, 7, 31))
JANUARY_2026 = BillingPeriod(date(2026, 1, 1), date(2026, 1, 31))


def _trace(band: str | None, first: datetime, count: int, estimated: str = "0", tier: int | None = None) -> LineTrace:
    return LineTrace(
        tariff_id="VOLTA-HPHC",
        tariff_version=3,
        band=band,
        tier=tier,
        first_interval=first,
        last_interval=datetime(first.year, first.month, 31, 23, 45, tzinfo=UTC),
        interval_count=count,
        estimated_share=D(estimated),
    )


def electricity_b2c() -> Invoice:
    """Household electricity, peak/off-peak, July 2025: standing charge at 5.5 %, energy and excise at 20 %."""
    start = datetime(2025, 7, 1, tzinfo=UTC)
    lines = (
        InvoiceLine.priced(
            "1",
            "STANDING",
            "Abonnement 6 kVA Heures pleines / Heures creuses",
            D(31),
            "DAY",
            D("0.519355"),
            "S",
            D("5.5"),
            period=JULY_2025,
            object_id=PDL,
            object_scheme="MG",
            explanation=(
                "Abonnement mensuel de 16,10 EUR réparti sur 31 jours (TVA réduite à 5,5 % jusqu'au 31/07/2025)."
            ),
            trace=LineTrace("VOLTA-HPHC", 3),
        ),
        InvoiceLine.priced(
            "2",
            "ENERGY-HP",
            "Électricité consommée en heures pleines",
            D("212.418"),
            KWH,
            D("0.27"),
            "S",
            D(20),
            period=JULY_2025,
            object_id=PDL,
            object_scheme="MG",
            explanation="Heures pleines 6h-22h : 212,418 kWh relevés sur 1 984 quarts d'heure, dont 2 jours estimés.",
            trace=_trace("HP", start, 1984, "0.0625"),
        ),
        InvoiceLine.priced(
            "3",
            "ENERGY-HC",
            "Électricité consommée en heures creuses",
            D("187.25"),
            KWH,
            D("0.2068"),
            "S",
            D(20),
            period=JULY_2025,
            object_id=PDL,
            object_scheme="MG",
            explanation="Heures creuses 22h-6h : 187,250 kWh relevés sur 992 quarts d'heure.",
            trace=_trace("HC", start, 992),
        ),
        InvoiceLine.priced(
            "4",
            "EXCISE-ELEC",
            "Accise sur l'électricité",
            D("399.668"),
            KWH,
            D("0.0337"),
            "S",
            D(20),
            period=JULY_2025,
            object_id=PDL,
            object_scheme="MG",
            explanation="33,70 EUR/MWh sur toute l'énergie consommée (399,668 kWh).",
        ),
    )
    return Invoice(
        number="FA-2025-000731",
        type_code="380",
        issue_date=date(2025, 8, 5),
        due_date=date(2025, 8, 19),
        seller=SELLER,
        buyer=CONSUMER,
        payment=PAYMENT,
        period=JULY_2025,
        lines=lines,
        operation_category="B1",
        notes=LegalNotes.french(business=False),
        deliver_to=DeliverTo("Camille Martin", CONSUMER.address, PDL),
        buyer_reference="CTR-E-0001",
        contract_reference="CTR-E-0001",
    )


def electricity_b2b() -> Invoice:
    """A bakery's 36 kVA supply, January 2026: standing charge per month, demand in kW, energy by band."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = (
        InvoiceLine.priced(
            "1",
            "STANDING",
            "Abonnement professionnel 36 kVA",
            D(1),
            "MON",
            D("48.2"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PDL,
            object_scheme="MG",
            explanation="Abonnement mensuel, mois complet.",
            trace=LineTrace("VOLTA-PRO", 2),
        ),
        InvoiceLine.priced(
            "2",
            "DEMAND",
            "Puissance maximale appelée",
            D("31.6"),
            "KWT",
            D("2.85"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PDL,
            object_scheme="MG",
            explanation="Plus forte puissance moyenne sur 10 minutes : 31,6 kW le 14/01 à 06:40.",
            trace=LineTrace("VOLTA-PRO", 2, band="demand", interval_count=4464),
        ),
        InvoiceLine.priced(
            "3",
            "ENERGY-HP",
            "Électricité heures pleines",
            D("3120.5"),
            KWH,
            D("0.1912"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PDL,
            object_scheme="MG",
            explanation="Heures pleines : 3 120,5 kWh.",
            trace=LineTrace("VOLTA-PRO", 2, "HP", None, start, datetime(2026, 1, 31, 23, 45, tzinfo=UTC), 1984),
        ),
        InvoiceLine.priced(
            "4",
            "ENERGY-HC",
            "Électricité heures creuses",
            D("1840.25"),
            KWH,
            D("0.1498"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PDL,
            object_scheme="MG",
            explanation="Heures creuses : 1 840,25 kWh.",
            trace=LineTrace("VOLTA-PRO", 2, "HC", None, start, datetime(2026, 1, 31, 23, 45, tzinfo=UTC), 992),
        ),
        InvoiceLine.priced(
            "5",
            "EXCISE-ELEC",
            "Accise sur l'électricité",
            D("4960.75"),
            KWH,
            D("0.02598"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PDL,
            object_scheme="MG",
            explanation="25,98 EUR/MWh sur 4 960,75 kWh.",
        ),
    )
    return Invoice(
        number="FA-2026-000142",
        type_code="380",
        issue_date=date(2026, 2, 3),
        due_date=date(2026, 3, 5),
        seller=SELLER,
        buyer=BUSINESS,
        payment=PAYMENT,
        period=JANUARY_2026,
        lines=lines,
        operation_category="B1",
        notes=LegalNotes.french(business=True),
        deliver_to=DeliverTo("Boulangerie Dupain", BUSINESS.address, PDL),
        vat_on_debits=True,
        buyer_reference="PO-2026-17",
        contract_reference="CTR-E-0042",
    )


def gas_b2c() -> Invoice:
    """Household gas, January 2026: metered in m^3, billed in kWh with the conversion explained."""
    lines = (
        InvoiceLine.priced(
            "1",
            "STANDING",
            "Abonnement gaz naturel B1",
            D(31),
            "DAY",
            D("0.742903"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PCE,
            object_scheme="MG",
            explanation="Abonnement annuel de 271,16 EUR, 31 jours.",
        ),
        InvoiceLine.priced(
            "2",
            "GAS",
            "Gaz naturel consommé",
            D("1245.6"),
            KWH,
            D("0.1021"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PCE,
            object_scheme="MG",
            explanation=(
                "113,04 m³ relevés (index 4 512,31 -> 4 625,35 m³) x coefficient de correction 1,0197 "
                "x pouvoir calorifique 10,806 kWh/m³ = 1 245,6 kWh."
            ),
            trace=LineTrace(
                "VOLTA-GAZ",
                1,
                None,
                None,
                datetime(2026, 1, 1, tzinfo=UTC),
                datetime(2026, 1, 31, 23, tzinfo=UTC),
                744,
                D("0"),
            ),
        ),
        InvoiceLine.priced(
            "3",
            "EXCISE-GAS",
            "Accise sur le gaz naturel",
            D("1245.6"),
            KWH,
            D("0.01054"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=PCE,
            object_scheme="MG",
            explanation="10,54 EUR/MWh sur 1 245,6 kWh.",
        ),
    )
    return Invoice(
        number="FG-2026-000057",
        type_code="380",
        issue_date=date(2026, 2, 4),
        due_date=date(2026, 2, 18),
        seller=SELLER,
        buyer=CONSUMER,
        payment=PAYMENT,
        period=JANUARY_2026,
        lines=lines,
        operation_category="B1",
        notes=LegalNotes.french(business=False),
        deliver_to=DeliverTo("Camille Martin", CONSUMER.address, PCE),
        buyer_reference="CTR-G-0001",
    )


def payd_insurance() -> Invoice:
    """Pay-as-you-drive insurance, January 2026: exempt premium per km, taxable telematics service (S1)."""
    lines = (
        InvoiceLine.priced(
            "1",
            "PAYD-KM",
            "Assurance auto au kilomètre",
            D("843.2"),
            KMT,
            D("0.062"),
            "E",
            D(0),
            period=JANUARY_2026,
            object_id=VEHICLE,
            object_scheme="ABZ",
            exemption_code="VATEX-FR-CGI261C-2",
            exemption_reason="Exonération de TVA - article 261 C 2° du CGI (opérations d'assurance)",
            explanation="843,2 km parcourus en 47 trajets (dont 112,4 km la nuit) x 0,062 EUR/km.",
            trace=LineTrace("VOLTA-PAYD", 1, band="all", interval_count=47),
        ),
        InvoiceLine.priced(
            "2",
            "PAYD-BONUS",
            "Bonus conduite souple",
            D(-1),
            "C62",
            D("5"),
            "E",
            D(0),
            period=JANUARY_2026,
            object_id=VEHICLE,
            object_scheme="ABZ",
            exemption_code="VATEX-FR-CGI261C-2",
            exemption_reason="Exonération de TVA - article 261 C 2° du CGI (opérations d'assurance)",
            explanation="Aucun freinage brusque ni excès de vitesse relevé sur le mois : 5 EUR déduits de la prime.",
        ),
        InvoiceLine.priced(
            "3",
            "TELEMATICS",
            "Service télématique (boîtier connecté et données)",
            D(1),
            "MON",
            D("4.99"),
            "S",
            D(20),
            period=JANUARY_2026,
            object_id=VEHICLE,
            object_scheme="ABZ",
            explanation="Abonnement mensuel au boîtier connecté.",
        ),
    )
    return Invoice(
        number="FI-2026-000009",
        type_code="380",
        issue_date=date(2026, 2, 2),
        due_date=date(2026, 2, 16),
        seller=SELLER,
        buyer=CONSUMER,
        payment=PAYMENT,
        period=JANUARY_2026,
        lines=lines,
        operation_category="S1",
        notes=LegalNotes.french(business=False),
        deliver_to=DeliverTo("Camille Martin", CONSUMER.address, VEHICLE),
        buyer_reference="POL-0001",
    )


def credit_note() -> Invoice:
    """A full credit of the B2B invoice (type 381), referencing it (BT-25/BT-26)."""
    return credit_note_for(
        electricity_b2b(),
        "AV-2026-000003",
        date(2026, 2, 10),
        reason="Annulation de la facture FA-2026-000142 : index de relève erroné ; une facture rectifiée suit.",
    )


ALL = {
    "electricity_b2c": electricity_b2c,
    "electricity_b2b": electricity_b2b,
    "gas_b2c": gas_b2c,
    "payd_insurance": payd_insurance,
    "credit_note": credit_note,
}


def daily_usage_july_2025() -> tuple[DailyUsage, ...]:
    """Per-day peak/off-peak consumption for the chart, summing to the invoice's lines [kWh]."""
    days = []
    peak_total, off_total = D("212.418"), D("187.25")
    weights = [D(10) + D((day * 7) % 5) + (D(3) if date(2025, 7, day).weekday() >= 5 else D(0)) for day in range(1, 32)]
    scale = sum(weights)
    peak_left, off_left = peak_total, off_total
    for index, weight in enumerate(weights):
        last = index == len(weights) - 1
        peak = peak_left if last else (peak_total * weight / scale).quantize(D("0.001"))
        off = off_left if last else (off_total * weight / scale).quantize(D("0.001"))
        peak_left -= peak
        off_left -= off
        days.append(DailyUsage(date(2025, 7, index + 1), {"HP": peak, "HC": off}, estimated=index + 1 in (14, 15)))
    return tuple(days)


def extras_electricity_b2c() -> PageExtras:
    return PageExtras(
        tariff_in_words=(
            "Option Heures pleines / Heures creuses, 6 kVA (tarif VOLTA-HPHC, version 3).",
            "Heures creuses chaque jour de 22h à 6h : 0,2068 EUR/kWh HT ; heures pleines : 0,2700 EUR/kWh HT.",
            "Abonnement : 16,10 EUR HT par mois, facturé au jour.",
        ),
        daily_usage=daily_usage_july_2025(),
        how_to_dispute=(
            "Une ligne vous semble inexacte ? Répondez dans les 2 mois à litiges@volta-energies.example ou au "
            "01 84 00 00 00 en citant le numéro de facture et la ligne. Téléchargez vos relevés et le tarif "
            "depuis votre espace client pour recalculer chaque ligne. Sans réponse satisfaisante sous 2 mois, "
            "vous pouvez saisir gratuitement le Médiateur national de l'énergie (energie-mediateur.fr)."
        ),
        customer_service="Service client : 01 84 00 00 00 (lun.-ven. 8h-20h) - client@volta-energies.example",
        band_labels={"HP": "Heures pleines", "HC": "Heures creuses"},
    )
