"""Small helpers shared by the XML writers: number formats and element building with lxml."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

__all__ = ["amount", "day102", "iso_day", "percent", "price", "quantity", "sub"]


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child ``tag`` (Clark notation) with optional text and attributes; return it."""
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def amount(value: Decimal) -> str:
    """Money with exactly two decimals (BR-DEC-*, BR-FR-DEC-01): ``12.30``."""
    return format(value.quantize(Decimal("0.01")), "f")


def quantity(value: Decimal) -> str:
    """A quantity without trailing zeros, at most 4 decimals (BR-FR-DEC-02): ``412.5``."""
    return _plain(value)


def price(value: Decimal) -> str:
    """A unit price without trailing zeros, at most 6 decimals (BR-FR-DEC-03): ``0.2516``."""
    return _plain(value)


def percent(value: Decimal) -> str:
    """A VAT rate as France lists them (BR-FR-16): ``20``, ``5.5``, ``0``."""
    return _plain(value)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E-0") else text


def day102(value: date) -> str:
    """UN/CEFACT date format 102: ``YYYYMMDD``."""
    return value.strftime("%Y%m%d")


def iso_day(value: date) -> str:
    return value.isoformat()
