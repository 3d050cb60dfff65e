"""Money: ``Decimal`` end to end, one named rounding rule, rounded once per line.

**Rounding policy ``LINE_ROUNDING = ROUND_HALF_UP``** (commercial rounding: halves away from
zero, as EN 16931 implementations and French and German invoicing practice round). A line's
amount is ``quantity x unit price`` computed exactly and rounded *once* to the currency's minor
unit; a VAT amount is its base x rate rounded once per rate and period (EN 16931 BR-CO-17); every
total is a plain sum of rounded lines, so totals never need rounding and always add up.

Quantities come from the rating kernels as float64 [canonical unit]; they become ``Decimal`` here,
at their display precision (:data:`QUANTITY_PLACES`, 0.001 kWh = 1 Wh), before any price touches
them, so the printed quantity times the printed price is the printed amount.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final

from billing.errors import MoneyError

__all__ = [
    "LINE_ROUNDING",
    "QUANTITY_PLACES",
    "line_amount",
    "minor_unit",
    "quantity_decimal",
    "quantize_money",
    "sum_money",
]

LINE_ROUNDING: Final = ROUND_HALF_UP
# Quantities are measurements, not money: their display rounding is half-even (no bias in sums).
QUANTITY_ROUNDING: Final = ROUND_HALF_EVEN
QUANTITY_PLACES: Final = 3

# ISO 4217 minor units of the currencies meterbill bills in (digits after the decimal point).
_MINOR_DIGITS: Final[dict[str, int]] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "CNY": 2,
    "ZAR": 2,
    "SGD": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "JOD": 3,
}

# Enough digits for any price x quantity exactly (prices have <= 10 decimals, quantities 3).
_EXACT = Context(prec=50)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal('0.01')`` for EUR, ``Decimal('1')`` for JPY."""
    digits = _MINOR_DIGITS.get(currency)
    if digits is None:
        raise MoneyError(
            f"currency {currency!r} is not one meterbill knows the minor unit of; "
            f"known: {', '.join(sorted(_MINOR_DIGITS))}"
        )
    return Decimal(1).scaleb(-digits)


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise MoneyError(f"{what} must be a Decimal (money is never a float), got {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise MoneyError(f"{what} must be finite, got {result}")
    return result


def quantize_money(value: Decimal, currency: str) -> Decimal:
    """``value`` rounded once to the minor unit of ``currency`` with :data:`LINE_ROUNDING`."""
    return _decimal(value, "amount").quantize(minor_unit(currency), rounding=LINE_ROUNDING)


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """``quantity x unit_price`` computed exactly, rounded once to the currency's minor unit."""
    with localcontext(_EXACT):
        exact = _decimal(quantity, "quantity") * _decimal(unit_price, "unit price")
    return quantize_money(exact, currency)


def sum_money(amounts: list[Decimal], currency: str) -> Decimal:
    """The exact sum of rounded amounts (no rounding: they share the currency's exponent); 0.00 when empty."""
    with localcontext(_EXACT):
        return sum((_decimal(a, "amount") for a in amounts), Decimal(0).quantize(minor_unit(currency)))


def quantity_decimal(value: float, places: int = QUANTITY_PLACES) -> Decimal:
    """A kernel quantity [canonical unit] as a ``Decimal`` with ``places`` decimals (half-even).

    Goes through the float's shortest repr, so 0.1 becomes exactly ``0.100``.
    """
    if not math.isfinite(value):
        raise MoneyError(f"quantity must be finite, got {value!r}")
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=QUANTITY_ROUNDING)
