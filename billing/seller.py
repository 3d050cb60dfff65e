"""The seller's own settings (its party, how it is paid, how to dispute), read from a plain mapping.

A deployment keeps them in a TOML or JSON file (``meterbill bill --seller FILE``; docs/billing.md has
an example); :data:`DEVELOPMENT_SELLER` is a made-up supplier used only when ``MB_ENV=development``
and no file is given, so a demo bills without configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.documents import from_data
from billing.errors import BillingError
from billing.invoice import ElectronicAddress, Party, PaymentInstructions, SellerSettings
from devices.model import PostalAddress

__all__ = ["DEVELOPMENT_SELLER", "seller_from_mapping"]

DEVELOPMENT_SELLER = SellerSettings(
    party=Party(
        name="Meterbill Énergies SAS (development)",
        address=PostalAddress(("1 rue de l'Exemple",), city="Paris", postcode="75001", country="FR"),
        siren="732829320",
        siret="73282932000074",
        vat_id="FR44732829320",
        electronic_address=ElectronicAddress("732829320_FACTURES", "0225"),
        legal_info="SAS au capital de 10 000 EUR - RCS Paris 732 829 320 (development data)",
        email="factures@meterbill.invalid",
    ),
    payment=PaymentInstructions(iban="FR7630006000011234567890189", bic="AGRIFRPPXXX", account_name="Meterbill"),
    dispute="To dispute a line, reply to this invoice within 30 days quoting its number and the line.",
    customer_service="billing@meterbill.invalid",
)


def seller_from_mapping(data: Mapping[str, Any], *, source: str = "seller settings") -> SellerSettings:
    """Seller settings from parsed TOML/JSON: ``party`` (with ``address``), ``payment``, ``dispute``.

    The keys are the fields of :class:`~billing.invoice.SellerSettings`, :class:`~billing.invoice.Party`
    and :class:`~billing.invoice.PaymentInstructions`; errors name the file and what is missing.
    """
    for key in ("party", "payment"):
        if not isinstance(data.get(key), Mapping):
            raise BillingError(f"{source}: a [{key}] table is required (see docs/billing.md)")
    party = data["party"]
    if not isinstance(party.get("address"), Mapping):
        raise BillingError(f"{source}: party.address (lines, city, postcode, country) is required")
    try:
        return from_data(SellerSettings, dict(data))
    except (TypeError, KeyError) as exc:
        raise BillingError(f"{source}: {exc}") from None
