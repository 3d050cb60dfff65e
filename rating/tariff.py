"""The tariff model: versioned data with a time zone, a currency and components.

Pydantic validates at the file boundary (:mod:`rating.tariff_file` loads JSON or TOML and turns
pydantic's errors into ``field.path: reason``); the models are frozen, so a loaded tariff is a value.
Prices are ``Decimal`` [currency per unit]; limits and caps are floats in canonical units
(kWh, m^3, km, kW) because kernels compare them with float quantities.

Components (each becomes invoice lines in ``billing.lines``):

- standing charges per day or per month, prorated by the days of the billing period;
- quantity charges on energy [kWh], volume [m^3] or distance [km]: flat, time-of-use bands,
  inclining or declining blocks (tiers) that reset each billing period, optional daily cap;
- demand charges: maximum average power [kW] over a fixed 10/15/30/60-minute window;
- a minimum charge per billing period; pay-as-you-drive trip fees, event surcharges and a
  risk-score discount; taxes: per-unit excise lines and VAT rates per line category.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rating.schedule import Schedule

__all__ = [
    "FORMAT_VERSION",
    "LINE_CATEGORIES",
    "Band",
    "Billing",
    "Contract",
    "DemandCharge",
    "EventSurcharge",
    "Excise",
    "GasConversion",
    "Holidays",
    "LineCategory",
    "MinimumCharge",
    "Payd",
    "QuantityCharge",
    "QuantityUnit",
    "RiskBand",
    "RiskDiscount",
    "StandingCharge",
    "Tariff",
    "Taxes",
    "Vat",
]

FORMAT_VERSION = 1

Price = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,39}$", description="line code, e.g. ENERGY_HP")]
Limit = Annotated[float, Field(gt=0, allow_inf_nan=False)]
QuantityUnit = Literal["kWh", "m^3", "km"]
LineCategory = Literal[
    "standing", "energy", "volume", "distance", "demand", "minimum", "trip", "surcharge", "discount", "excise"
]
LINE_CATEGORIES: tuple[LineCategory, ...] = (
    "standing",
    "energy",
    "volume",
    "distance",
    "demand",
    "minimum",
    "trip",
    "surcharge",
    "discount",
    "excise",
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Band(BaseModel):
    """One time-of-use band and its price per tier: ``price`` (one tier) or ``prices`` (one per tier)."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    description: str = ""
    price: Price | None = Field(default=None, description="[currency per unit] when the charge has no tiers")
    prices: tuple[Price, ...] | None = Field(
        default=None, description="[currency per unit] one per tier, lowest tier first"
    )

    @model_validator(mode="after")
    def _one_price_form(self) -> Band:
        if (self.price is None) == (self.prices is None):
            raise ValueError("give either price or prices (one per tier)")
        if self.prices is not None and not self.prices:
            raise ValueError("@prices|must list at least one price")
        return self

    @property
    def tier_prices(self) -> tuple[Decimal, ...]:
        """Price per tier [currency per unit]."""
        return self.prices if self.prices is not None else (self.price,)  # type: ignore[return-value]


def _check_bands(bands: tuple[Band, ...], schedule: Schedule | None, tier_limits: tuple[float, ...]) -> None:
    """Cross-field checks shared by quantity and demand charges; errors carry their sub-path."""
    names = [b.name for b in bands]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ValueError(f"@bands[{i}].name|duplicate band name {name!r}")
    for i, band in enumerate(bands):
        if len(band.tier_prices) != len(tier_limits) + 1:
            raise ValueError(
                f"@bands[{i}].{'prices' if band.prices is not None else 'price'}|needs {len(tier_limits) + 1} "
                f"price(s), one per tier (tier_limits has {len(tier_limits)} limit(s))"
            )
    if any(b <= a for a, b in pairwise(tier_limits)):
        raise ValueError("@tier_limits|must be strictly increasing")
    if schedule is None:
        if len(bands) != 1:
            raise ValueError("@schedule|required when there is more than one band")
        return
    for sub, name in schedule.band_names_used():
        if name not in names:
            raise ValueError(f"@schedule.{sub}|unknown band {name!r} (bands: {', '.join(names)})")
    top = schedule.max_index()
    if top is not None and top[1] >= len(bands):
        raise ValueError(f"@schedule.{top[0]}|band index {top[1]} is out of range (there are {len(bands)} bands)")


class QuantityCharge(BaseModel):
    """A charge on a metered quantity [``unit``]: flat, TOU bands, tiers per billing period, daily cap."""

    model_config = _FROZEN

    code: Code
    description: str
    unit: QuantityUnit = "kWh"
    bands: tuple[Band, ...] = Field(min_length=1)
    schedule: Schedule | None = None
    tier_limits: tuple[Limit, ...] = Field(
        default=(), description="upper limit of each tier but the last [unit per billing period], strictly increasing"
    )
    tier_basis: Literal["chronological", "pro_rata"] = Field(
        default="chronological",
        description="chronological: readings fill tiers in time order; pro_rata: tiers on the period total, "
        "shared among bands in proportion to their quantity (NREL SAM / URDB semantics)",
    )
    daily_cap: Limit | None = Field(default=None, description="[unit per local day] quantity above it that day is free")

    @model_validator(mode="after")
    def _consistent(self) -> QuantityCharge:
        _check_bands(self.bands, self.schedule, self.tier_limits)
        return self

    @property
    def category(self) -> LineCategory:
        """The line category of this charge's lines."""
        return {"kWh": "energy", "m^3": "volume", "km": "distance"}[self.unit]  # type: ignore[return-value]


class DemandCharge(BaseModel):
    """Maximum average power [kW] over fixed windows in the billing period, per band, priced per kW."""

    model_config = _FROZEN

    code: Code
    description: str
    window_minutes: Literal[10, 15, 30, 60] = 15
    bands: tuple[Band, ...] = Field(min_length=1)
    schedule: Schedule | None = None
    tier_limits: tuple[Limit, ...] = Field(default=(), description="upper limit of each demand tier but the last [kW]")

    @model_validator(mode="after")
    def _consistent(self) -> DemandCharge:
        _check_bands(self.bands, self.schedule, self.tier_limits)
        return self


class StandingCharge(BaseModel):
    """A fixed charge per day or per month, prorated by the days of the billing period."""

    model_config = _FROZEN

    code: Code
    description: str
    price: Price = Field(description="[currency per day or per month]")
    per: Literal["day", "month"]


class MinimumCharge(BaseModel):
    """If the period's lines (before taxes) sum to less than ``amount``, a top-up line makes up the difference."""

    model_config = _FROZEN

    code: Code = "MINIMUM"
    description: str = "Minimum charge top-up"
    amount: Price = Field(description="[currency per billing period]")
    per: Literal["month", "day"] = "month"


class EventSurcharge(BaseModel):
    """A price per telematics event of one type (``harsh_brake``, ``speeding``, ``phone_use``...)."""

    model_config = _FROZEN

    event: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    code: Code
    description: str
    price: Price = Field(description="[currency per event]")


class RiskBand(BaseModel):
    """Discount ``percent`` for a risk score up to ``max_score`` (None: any score)."""

    model_config = _FROZEN

    max_score: Annotated[float, Field(ge=0)] | None = None
    percent: Annotated[Decimal, Field(ge=0, le=100)]


class RiskDiscount(BaseModel):
    """Discount on distance lines by risk score = sum(weight x events) per 100 km in the period."""

    model_config = _FROZEN

    code: Code = "RISK_DISCOUNT"
    description: str = "Safe-driving discount"
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(description="weight per event type")
    bands: tuple[RiskBand, ...] = Field(min_length=1, description="ascending max_score; the last has none")

    @model_validator(mode="after")
    def _ascending(self) -> RiskDiscount:
        scores = [b.max_score for b in self.bands]
        if scores[-1] is not None:
            raise ValueError(f"@bands[{len(scores) - 1}].max_score|the last band must have no max_score")
        if any(s is None for s in scores[:-1]):
            raise ValueError("@bands|only the last band may omit max_score")
        finite = [s for s in scores[:-1] if s is not None]
        if any(b <= a for a, b in pairwise(finite)):
            raise ValueError("@bands|max_score must be strictly increasing")
        return self


class Payd(BaseModel):
    """Pay-as-you-drive extras; per-km rates by time band are quantity charges with unit ``km``."""

    model_config = _FROZEN

    trip_fee: Price | None = Field(default=None, description="[currency per trip]; one distance reading is one trip")
    trip_code: Code = "TRIP_FEE"
    trip_description: str = "Trip fee"
    event_surcharges: tuple[EventSurcharge, ...] = ()
    risk_discount: RiskDiscount | None = None


class Excise(BaseModel):
    """A per-unit excise duty on the quantities of some charges, its own line (category ``excise``)."""

    model_config = _FROZEN

    code: Code
    description: str
    price: Price = Field(description="[currency per `per`]")
    per: Literal["kWh", "MWh", "m^3", "km"]
    applies_to: tuple[Code, ...] = Field(min_length=1, description="codes of the quantity charges it taxes")


class Vat(BaseModel):
    """A VAT rate [%] on the lines of some categories, computed once per period on their sum."""

    model_config = _FROZEN

    code: Code
    description: str = "VAT"
    rate_percent: Annotated[Decimal, Field(ge=0, le=100)]
    categories: tuple[LineCategory, ...] = Field(min_length=1)


class Taxes(BaseModel):
    model_config = _FROZEN

    excise: tuple[Excise, ...] = ()
    vat: tuple[Vat, ...] = ()


class GasConversion(BaseModel):
    """Volume [m^3] to energy [kWh]: volume x correction_factor x calorific value [MJ/m^3] / 3.6."""

    model_config = _FROZEN

    calorific_value_mj_per_m3: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    correction_factor: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0

    @property
    def kwh_per_m3(self) -> float:
        """Energy per metered volume [kWh/m^3]."""
        return self.correction_factor * self.calorific_value_mj_per_m3 / 3.6


class Holidays(BaseModel):
    """Public holidays of a country (``holidays`` package) plus extra local dates."""

    model_config = _FROZEN

    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None
    extra: tuple[date, ...] = ()


class Billing(BaseModel):
    """Billing periods: from local midnight of ``cycle_day`` of each month to the same day next month."""

    model_config = _FROZEN

    cycle_day: Annotated[int, Field(ge=1, le=28)] = 1


class Contract(BaseModel):
    """Contract dates (local): periods are clipped to [start, end); standing charges prorated."""

    model_config = _FROZEN

    start: date | None = None
    end: date | None = Field(default=None, description="first local day no longer covered")

    @model_validator(mode="after")
    def _ordered(self) -> Contract:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("@end|must be after start")
        return self


class Tariff(BaseModel):
    """A versioned tariff: time zone, currency and components (see docs/tariff-format.md)."""

    model_config = _FROZEN

    format_version: Literal[1] = Field(default=1, description="version of this file format")
    id: str = Field(min_length=1)
    version: str = Field(min_length=1, description="version of this tariff, e.g. its effective date")
    name: str = ""
    timezone: str = Field(description="IANA time zone of the tariff's clock, e.g. Europe/Paris")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    holidays: Holidays | None = None
    billing: Billing = Billing()
    contract: Contract | None = None
    gas_conversion: GasConversion | None = None
    standing_charges: tuple[StandingCharge, ...] = ()
    energy_charges: tuple[QuantityCharge, ...] = ()
    demand_charges: tuple[DemandCharge, ...] = ()
    minimum_charge: MinimumCharge | None = None
    payd: Payd | None = None
    taxes: Taxes = Taxes()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Paris or UTC") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Tariff:
        seen: dict[str, str] = {}
        for path, code in self._codes():
            if code in seen:
                raise ValueError(f"@{path}|duplicate line code {code!r} (also at {seen[code]})")
            seen[code] = path
        quantity_codes = {c.code for c in self.energy_charges}
        for i, excise in enumerate(self.taxes.excise):
            for j, code in enumerate(excise.applies_to):
                if code not in quantity_codes:
                    raise ValueError(f"@taxes.excise[{i}].applies_to[{j}]|no energy charge has code {code!r}")
        taxed: dict[str, int] = {}
        for i, vat in enumerate(self.taxes.vat):
            for j, category in enumerate(vat.categories):
                if category in taxed:
                    raise ValueError(
                        f"@taxes.vat[{i}].categories[{j}]|{category!r} already taxed by vat[{taxed[category]}]"
                    )
                taxed[category] = i
        if not (self.energy_charges or self.demand_charges or self.standing_charges or self.payd):
            raise ValueError("a tariff needs at least one charge")
        return self

    def _codes(self) -> list[tuple[str, str]]:
        codes = [(f"standing_charges[{i}].code", c.code) for i, c in enumerate(self.standing_charges)]
        codes += [(f"energy_charges[{i}].code", c.code) for i, c in enumerate(self.energy_charges)]
        codes += [(f"demand_charges[{i}].code", c.code) for i, c in enumerate(self.demand_charges)]
        codes += [(f"taxes.excise[{i}].code", c.code) for i, c in enumerate(self.taxes.excise)]
        if self.minimum_charge is not None:
            codes.append(("minimum_charge.code", self.minimum_charge.code))
        if self.payd is not None:
            if self.payd.trip_fee is not None:
                codes.append(("payd.trip_code", self.payd.trip_code))
            codes += [(f"payd.event_surcharges[{i}].code", s.code) for i, s in enumerate(self.payd.event_surcharges)]
            if self.payd.risk_discount is not None:
                codes.append(("payd.risk_discount.code", self.payd.risk_discount.code))
        return codes

    @property
    def zone(self) -> ZoneInfo:
        """The tariff's time zone."""
        return ZoneInfo(self.timezone)
