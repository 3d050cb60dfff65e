"""What every payload codec does the same way: bytes to JSON, then typed fields read with their path.

Each helper either returns a typed value or raises :class:`Invalid` carrying the reason code and a
detail that starts with the field's path (``readings[3].value: ...``). The public decoders catch
``Invalid`` once and return its :class:`Rejection`, so their bodies read as straight-line code while
never raising to the caller. ``Invalid`` is private to the codecs and never escapes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from devices.codecs.reasons import Rejection, RejectReason
from devices.errors import UnitError
from devices.readings import Reading
from devices.units import CANONICAL, Dimension, canonicalize, to_canonical

T = TypeVar("T")

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeLimits",
    "DecodedReadings",
    "Invalid",
    "as_array",
    "as_choice",
    "as_identifier",
    "as_number",
    "as_object",
    "as_text",
    "as_timestamp",
    "check_count",
    "check_device",
    "epoch_to_utc",
    "field_path",
    "json_type",
    "load_json",
    "member",
    "quantity",
    "shown",
    "wrong_type",
]


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What one message may carry; beyond it the message is refused, never truncated.

    ``max_bytes`` [bytes] of payload; ``max_readings`` records (readings, SenML records or events)
    per message; ``max_abs_value`` the largest magnitude of a value [canonical unit, after
    conversion]; ``max_identifier_length`` [characters] of a register or trip id.
    """

    max_bytes: int = 256 * 1024
    max_readings: int = 10_000
    max_abs_value: float = 1e12
    max_identifier_length: int = 128


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class DecodedReadings:
    """The readings of one accepted message, in canonical units, for the device of the topic.

    ``seq`` is the device's message counter when it sends one (native format), else None.
    """

    device_id: str
    seq: int | None
    readings: tuple[Reading, ...]


class Invalid(Exception):  # a control-flow signal inside the codecs, hence not ...Error
    """A payload is refused; raised by the helpers, turned into a :class:`Rejection` by the decoders."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    @property
    def rejection(self) -> Rejection:
        return Rejection(self.reason, self.detail)


class NonFinite:
    """What a JSON ``NaN``/``Infinity``/``-Infinity`` literal parses to.

    ``json.loads`` accepts these literals, which JSON does not define. Parsing them to this marker
    instead of a float keeps them out of every value, and lets the field that holds one be named in
    the rejection (``readings[3].value: NaN is not a finite number``).
    """

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return self.literal


_SHOWN = 40  # characters of a device's text quoted back in a detail


def shown(text: str) -> str:
    """``text`` quoted for a detail, cut so that a 200 KB string does not become a 200 KB dead letter."""
    return repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."


def field_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# json.loads(..., parse_constant=...) builds a new decoder on every call (~1.5 us a message): one is kept.
_DECODER = json.JSONDecoder(parse_constant=NonFinite)


def load_json(payload: bytes, limits: DecodeLimits) -> object:
    """The JSON value of ``payload``, checked for size, emptiness and encoding first."""
    if len(payload) > limits.max_bytes:
        raise Invalid(
            RejectReason.PAYLOAD_TOO_LARGE,
            f"payload: {len(payload)} bytes, over the limit of {limits.max_bytes}; send fewer records per message",
        )
    if not payload.strip():
        raise Invalid(RejectReason.EMPTY_PAYLOAD, "payload: empty")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(RejectReason.NOT_UTF8, f"payload: byte {exc.start} is not UTF-8 ({exc.reason})") from None
    try:
        if text[:1] == "\ufeff":  # json.loads' own refusal of a BOM, which a bare decoder words differently
            return json.loads(text, parse_constant=NonFinite)
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise Invalid(
            RejectReason.MALFORMED_JSON, f"payload: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise Invalid(RejectReason.MALFORMED_JSON, "payload: JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits; the advice that follows is for Python users
        raise Invalid(RejectReason.MALFORMED_JSON, f"payload: {str(exc).split(':', 1)[0]}") from None


_JSON_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    NonFinite: "a non-finite number",
}


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as details say it."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def wrong_type(value: object, path: str, expected: str) -> Invalid:
    """The refusal of ``value`` where ``expected`` was needed (a non-finite literal gets its own reason)."""
    if isinstance(value, NonFinite):
        return Invalid(RejectReason.NON_FINITE, f"{path}: {value.literal} is not a finite number")
    return Invalid(RejectReason.WRONG_TYPE, f"{path}: expected {expected}, got {json_type(value)}")


def member(obj: dict[str, object], key: str, path: str) -> object:
    """``obj[key]``, or a missing_field refusal naming ``path.key``."""
    try:
        return obj[key]
    except KeyError:
        raise Invalid(RejectReason.MISSING_FIELD, f"{field_path(path, key)}: missing") from None


def as_object(value: object, path: str, *, reason: RejectReason = RejectReason.WRONG_TYPE) -> dict[str, object]:
    if isinstance(value, dict):
        return value
    error = wrong_type(value, path, "an object")
    if error.reason is RejectReason.WRONG_TYPE:
        error = Invalid(reason, error.detail)
    raise error


def as_array(value: object, path: str) -> list[object]:
    if isinstance(value, list):
        return value
    raise wrong_type(value, path, "an array")


def as_text(value: object, path: str) -> str:
    if isinstance(value, str):
        return value
    raise wrong_type(value, path, "a string")


def as_number(value: object, path: str) -> float:
    """A finite float; JSON true/false are not numbers."""
    kind = type(value)  # exact types: bool is a subclass of int, and is not a number here
    if kind is float:
        number: float = value  # type: ignore[assignment]
        if math.isfinite(number):
            return number
        # json.loads turns a literal too large for a double (1e400) into inf
        raise Invalid(RejectReason.NON_FINITE, f"{path}: {number!r} is not a finite number")
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise Invalid(RejectReason.OUT_OF_RANGE, f"{path}: integer too large for a float") from None
    raise wrong_type(value, path, "a number")


def as_identifier(value: object, path: str, limits: DecodeLimits) -> str:
    """A register or trip id: 1 to ``max_identifier_length`` printable characters, no spaces.

    Control characters, NUL and lone surrogates are refused here because the stores cannot hold
    them in text columns, and spaces because ``"1.8.0 "`` would silently be another register.
    """
    text = as_text(value, path)
    if 0 < len(text) <= limits.max_identifier_length and text.isprintable() and " " not in text:
        return text
    raise Invalid(
        RejectReason.BAD_IDENTIFIER,
        f"{path}: {shown(text)} is not an identifier: 1 to {limits.max_identifier_length} printable "
        "characters without spaces",
    )


def as_choice(value: object, path: str, choices: Mapping[str, T], reason: RejectReason) -> T:
    """One of the ``choices`` (a mapping from the text to its typed value, e.g. a Literal)."""
    text = as_text(value, path)
    try:
        return choices[text]
    except KeyError:
        raise Invalid(reason, f"{path}: {shown(text)} is not one of {', '.join(choices)}") from None


def epoch_to_utc(seconds: float, path: str) -> datetime:
    """Epoch seconds [s] as an aware UTC datetime (microsecond resolution)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        hint = "; milliseconds? send seconds" if abs(seconds) > 1e11 else ""
        raise Invalid(
            RejectReason.BAD_TIMESTAMP, f"{path}: {seconds!r} epoch seconds is outside the years 1 to 9999{hint}"
        ) from None


_MAX_TIMESTAMP_TEXT = 64


def as_timestamp(value: object, path: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 string with offset (or Z), or from epoch seconds."""
    if isinstance(value, str):
        if len(value) <= _MAX_TIMESTAMP_TEXT:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.utcoffset() is None:
                    raise Invalid(
                        RejectReason.BAD_TIMESTAMP, f"{path}: {shown(value)} has no UTC offset; end it with Z or +01:00"
                    )
                try:
                    return parsed.astimezone(UTC)
                except OverflowError:
                    raise Invalid(RejectReason.BAD_TIMESTAMP, f"{path}: {shown(value)} is out of range") from None
        raise Invalid(
            RejectReason.BAD_TIMESTAMP,
            f"{path}: {shown(value)} is not an ISO 8601 date-time such as 2026-01-01T00:15:00Z",
        )
    if type(value) is int or type(value) is float:
        return epoch_to_utc(as_number(value, path), path)
    raise wrong_type(value, path, "an ISO 8601 string or epoch seconds")


def check_device(obj: dict[str, object], device_id: str) -> None:
    """The payload's ``device`` must be the device of the topic: a device speaks only for itself."""
    claimed = as_text(member(obj, "device", ""), "device")
    if claimed != device_id:
        raise Invalid(
            RejectReason.DEVICE_MISMATCH,
            f"device: {shown(claimed)} is not the device of the topic, {device_id!r}; "
            "a device publishes only under its own id",
        )


def check_count(items: list[object], path: str, limits: DecodeLimits) -> None:
    if len(items) > limits.max_readings:
        raise Invalid(
            RejectReason.TOO_MANY_RECORDS,
            f"{path}: {len(items)} records, over the limit of {limits.max_readings}; split them into several messages",
        )


def quantity(
    raw: float,
    unit: str,
    *,
    value_path: str,
    unit_path: str,
    limits: DecodeLimits,
    dimension: Dimension | None = None,
) -> tuple[float, str]:
    """``raw`` [``unit``] as ``(value, canonical unit)``, of ``dimension`` if given, within the limits."""
    try:
        if dimension is None:
            value, canonical = canonicalize(raw, unit)
        else:
            value, canonical = to_canonical(raw, unit, dimension), CANONICAL[dimension]
    except UnitError as exc:
        reason = RejectReason.UNKNOWN_UNIT if exc.found is None else RejectReason.WRONG_DIMENSION
        raise Invalid(reason, f"{unit_path}: {exc}") from None
    if not abs(value) <= limits.max_abs_value:  # also refuses inf, from a finite value in a huge unit
        converted = "" if unit == canonical else f" ({raw!r} {unit})"  # a unit pint parsed is short
        limit = f"{limits.max_abs_value:g} {canonical}"
        raise Invalid(
            RejectReason.OUT_OF_RANGE, f"{value_path}: {value!r} {canonical}{converted} is beyond the limit of {limit}"
        )
    return value, canonical
