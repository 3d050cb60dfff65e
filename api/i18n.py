"""The web pages' languages: English and French catalogs, the choice of language, and local formats.

A page's language comes from the ``mb_lang`` cookie (set by the switcher, ``/lang/{code}``), else
from the browser's ``Accept-Language`` (RFC 9110 §12.5.4: the highest ``q`` we speak), else English.
Messages are looked up by key; a key missing from the French catalog falls back to English (a test
keeps the two catalogs' keys equal, so that never happens in practice). Numbers, amounts and dates
are formatted the local way (``1,234.56`` / ``1 234,56``); the JSON API is never localised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Literal

from api.i18n_catalog import CATALOGS

__all__ = ["DEFAULT_LANG", "LANGUAGES", "LANG_COOKIE", "Lang", "Translator", "negotiate", "translator"]

Lang = Literal["en", "fr"]
LANGUAGES: tuple[Lang, ...] = ("en", "fr")
DEFAULT_LANG: Lang = "en"
LANG_COOKIE = "mb_lang"
LANGUAGE_NAMES: Mapping[Lang, str] = {"en": "English", "fr": "Français"}  # each in its own language

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
_NARROW_NBSP = "\u202f"  # French thousands separator (and before the currency sign)


def _as_lang(code: str) -> Lang | None:
    primary = code.strip().lower().split("-", 1)[0].split("_", 1)[0]
    for lang in LANGUAGES:
        if primary == lang:
            return lang
    return None


def negotiate(cookie: str | None, accept_language: str | None) -> Lang:
    """The page language: the cookie when it names one we speak, else the best Accept-Language match."""
    if cookie and (chosen := _as_lang(cookie)) is not None:
        return chosen
    best: tuple[float, int, Lang] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        lang = _as_lang(tag) if tag.strip() not in ("", "*") else None
        if lang is None:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (q, -position) > (best[0], best[1])):
            best = (q, -position, lang)
    return best[2] if best is not None else DEFAULT_LANG


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one language; templates call it as ``t("key", name=...)``."""

    lang: Lang

    def __call__(self, key: str, /, **params: object) -> str:
        text = CATALOGS[self.lang].get(key) or CATALOGS[DEFAULT_LANG].get(key)
        if text is None:
            raise KeyError(f"message {key!r} is in no catalog (api/i18n_catalog.py)")
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in CATALOGS[DEFAULT_LANG]

    def number(self, value: Decimal | float | int | str | None, places: int = 2) -> str:
        """``1234.5`` -> ``1,234.50`` (en) or ``1 234,50`` (fr); an empty string for None."""
        if value is None or value == "":
            return ""
        try:
            exact = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        text = f"{exact:,.{places}f}"
        if self.lang == "fr":
            text = text.replace(",", _NARROW_NBSP).replace(".", ",")
        return text.replace("-", "\u2212")  # a real minus sign reads better and screen readers say "minus"

    def money(self, amount: Decimal | str | None, currency: str) -> str:
        """An amount with its currency: ``€1,234.56`` (en), ``1 234,56 €`` (fr)."""
        if amount is None or amount == "":
            return ""
        figure = self.number(amount, 2)
        symbol = _SYMBOLS.get(currency, currency)
        if self.lang == "fr":
            return f"{figure}{_NARROW_NBSP}{symbol}"
        if figure.startswith("\u2212"):
            return f"\u2212{symbol}{figure[1:]}"
        return f"{symbol}{figure}" if len(symbol) == 1 else f"{symbol} {figure}"

    def unit(self, code: str) -> str:
        """A UN/ECE Rec 20 unit code (``KWH``, ``MON``) as people write it (``kWh``, ``month``)."""
        key = f"unit.{code}"
        return self(key) if self.has(key) else code

    def percent(self, share: Decimal | float | str | None, places: int = 0) -> str:
        """A share 0..1 as a percentage: ``0.125`` -> ``12.5 %`` style, local separators."""
        if share is None or share == "":
            return ""
        figure = self.number(Decimal(str(share)) * 100, places)
        return f"{figure}{_NARROW_NBSP}%" if self.lang == "fr" else f"{figure}%"

    def date(self, value: date | str | None) -> str:
        """``12 Jan 2026`` (en) or ``12 janv. 2026`` (fr)."""
        if value is None or value == "":
            return ""
        day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        if isinstance(day, datetime):
            day = day.date()
        month = self(f"month.short.{day.month}")
        return f"{day.day} {month} {day.year}"

    def month(self, period: str) -> str:
        """A billing period ``2026-01`` as ``January 2026`` / ``janvier 2026``."""
        year, _, month = period.partition("-")
        if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
            return period
        return f"{self(f'month.long.{int(month)}')} {year}"

    def datetime(self, value: datetime | str | None, tz: tzinfo | None = None) -> str:
        """A date and a 24-hour time, in ``tz`` when given (the contract's zone), else as stored."""
        if value is None or value == "":
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if tz is not None and moment.tzinfo is not None:
            moment = moment.astimezone(tz)
        zone = moment.strftime("%Z") if moment.tzinfo is not None else ""
        return f"{self.date(moment.date())} {moment:%H:%M}" + (f" {zone}" if zone else "")


_TRANSLATORS: Mapping[Lang, Translator] = {lang: Translator(lang) for lang in LANGUAGES}


def translator(lang: Lang) -> Translator:
    return _TRANSLATORS[lang]
