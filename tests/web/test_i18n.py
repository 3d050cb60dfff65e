"""The page catalogs and the language choice (api/i18n.py)."""

from __future__ import annotations

import string
from decimal import Decimal

import pytest

from api.i18n import negotiate, translator
from api.i18n_catalog import CATALOGS


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_hold_the_same_keys_and_placeholders() -> None:
    en, fr = CATALOGS["en"], CATALOGS["fr"]
    assert set(en) == set(fr)
    for key in en:
        assert _fields(en[key]) == _fields(fr[key]), key


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "fr-CA,fr;q=0.9", "fr"),
        (None, "de-DE,de;q=0.9,fr;q=0.5,en;q=0.3", "fr"),
        (None, "en;q=0.2, fr;q=0.8", "fr"),
        (None, "fr;q=0, en", "en"),
        ("en", "fr", "en"),
        ("xx", "fr", "fr"),
        (None, "*", "en"),
    ],
)
def test_negotiation(cookie: str | None, header: str | None, expected: str) -> None:
    assert negotiate(cookie, header) == expected


def test_local_formats() -> None:
    en, fr = translator("en"), translator("fr")
    assert en.money(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert fr.money(Decimal("1234.5"), "EUR") == "1\u202f234,50\u202f€"
    assert en.money("-3.10", "EUR") == "\u2212€3.10"
    assert fr.number(1234.5, 1) == "1\u202f234,5"
    assert en.percent("0.125", 1) == "12.5%"
    assert fr.month("2026-02") == "février 2026" and en.month("2026-02") == "February 2026"
    assert en.date("2026-01-31") == "31 Jan 2026" and fr.date("2026-01-31") == "31 janv. 2026"
    assert fr.unit("MON") == "mois" and en.unit("XYZ") == "XYZ"
