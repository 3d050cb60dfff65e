"""SenML (RFC 8428) JSON packs of meter readings.

A pack is a JSON array of records. Base fields (``bn`` name, ``bt`` time, ``bu`` unit, ``bv`` value,
``bs`` sum, ``bver`` version) apply to the record that carries them and to every later record until
replaced (RFC 8428 section 4.1). Per record, after applying them:

- name = bn + n. meterbill reads it as the device of the topic followed by the register, in one of
  three forms: ``urn:dev:mbid:{device_id}:{register}``, ``{device_id}:{register}`` or
  ``{device_id}/{register}``, e.g. ``bn: "urn:dev:mbid:m-0001:", n: "1-0:1.8.0"``. The prefix is
  matched against the topic's id (which may itself contain ``:``), so the register is everything
  after it; a name of another device is ``device_mismatch``. (``mbid``, "meterbill id", is our own
  name space, not one registered for ``urn:dev`` by RFC 9039.)
- time = bt + t [s]; a time below 2**28 is relative to ``now`` (0 is "now", -60 a minute ago),
  otherwise it is epoch seconds (RFC 8428 section 4.5.3).
- ``v`` (+ bv) is an interval value, kind ``interval``; ``s`` (+ bs) a sum, kind ``cumulative``,
  i.e. a register index. A sum in a rate unit (``W``, ``m3/s``) is integrated over seconds as the
  RFC defines (W -> W*s = J); a sum already in energy, volume or distance (``kWh``) is taken as is,
  as meters send it. A record with both ``v`` and ``s`` is refused: meterbill keeps one reading per
  register and time. ``vs``, ``vb`` and ``vd`` (string, boolean, data) are not readings: refused.
- unit = u, else bu; converted to the canonical unit. SenML's ``m3`` means m^3.
- quality is always ``actual``: SenML has no notion of estimated values.

A record with no value and no sum that only carries base fields is allowed (a header record). A
field name ending in ``_`` must be understood (RFC 8428 section 4.4): we understand none, so such a
pack is refused. Other unknown fields are ignored, as the RFC requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.codecs._common import (
    DEFAULT_LIMITS,
    DecodedReadings,
    DecodeLimits,
    Invalid,
    as_identifier,
    as_number,
    as_object,
    as_text,
    check_count,
    epoch_to_utc,
    json_type,
    load_json,
    quantity,
    shown,
    wrong_type,
)
from devices.codecs.reasons import Rejection, RejectReason
from devices.readings import Reading, ReadingKind

__all__ = ["decode_senml"]

SENML_VERSION = 10  # RFC 8428; a pack with a higher bver may hold fields we must understand
_RELATIVE_BELOW = 2**28  # [s] RFC 8428 section 4.5.3: smaller times are relative to now
_URN_PREFIX = "urn:dev:mbid:"
# RFC 8428 section 4.5.1: the characters of a resolved name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")
# SenML's unit registry (RFC 8428 section 12.1) spells some units in ways pint does not read.
_UNIT_ALIASES = {"m3": "m^3", "m3/s": "m^3/s", "l/s": "L/s"}
_NOT_NUMBERS = {"vs": "string", "vb": "boolean", "vd": "data"}


@dataclass(slots=True)
class _Base:
    """The base fields in force at the current record (mutable: later records replace them)."""

    name: str = ""
    time: float = 0.0
    unit: str | None = None
    value: float = 0.0
    sum: float = 0.0


def decode_senml(
    payload: bytes,
    *,
    device_id: str,
    received_at: datetime,
    now: datetime,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> DecodedReadings | Rejection:
    """The readings of a SenML JSON pack published by ``device_id`` (from the topic), or why not.

    ``now`` (aware UTC) resolves relative times; ``received_at`` is stamped on every reading. A
    redelivered message with relative times resolves to other instants if ``now`` differs, so the
    store cannot recognise it as a duplicate: devices with a clock should send absolute times.
    Never raises on bad input.
    """
    try:
        return _decode(payload, device_id, received_at, now, limits)
    except Invalid as refused:
        return refused.rejection


def _decode(
    payload: bytes, device_id: str, received_at: datetime, now: datetime, limits: DecodeLimits
) -> DecodedReadings:
    pack = load_json(payload, limits)
    if not isinstance(pack, list):
        raise Invalid(RejectReason.BAD_SENML, f"payload: a SenML pack is an array of records, got {json_type(pack)}")
    check_count(pack, "payload", limits)
    prefixes = (f"{_URN_PREFIX}{device_id}:", f"{device_id}:", f"{device_id}/")
    base = _Base()
    readings: list[Reading] = []
    for i, item in enumerate(pack):
        path = f"[{i}]"
        record = as_object(item, path, reason=RejectReason.BAD_SENML)
        _check_fields(record, path)
        _apply_base(record, path, base)
        if "v" not in record and "s" not in record:
            if any(key in record for key in ("n", "u", "t")):
                raise Invalid(RejectReason.BAD_SENML, f"{path}: a record with neither a value (v) nor a sum (s)")
            continue  # a header record: base fields only
        if "v" in record and "s" in record:
            raise Invalid(
                RejectReason.BAD_SENML,
                f"{path}: both a value (v) and a sum (s); meterbill keeps one reading per register and time, "
                "so send them as two records with different names",
            )
        register = _register(record, path, base, prefixes, device_id, limits)
        ts = _time(record, path, base, now)
        kind, value, unit = _value(record, path, base, limits)
        readings.append(Reading(device_id, register, ts, value, unit, kind, "actual", received_at))
    return DecodedReadings(device_id, None, tuple(readings))


def _check_fields(record: dict[str, object], path: str) -> None:
    for key in record:
        if key.endswith("_"):
            raise Invalid(
                RejectReason.BAD_SENML,
                f"{path}.{shown(key)}: a must-understand field (name ending in _, RFC 8428 section 4.4) "
                "that meterbill does not know",
            )
    for key, what in _NOT_NUMBERS.items():
        if key in record:
            raise Invalid(
                RejectReason.WRONG_TYPE, f"{path}.{key}: a {what} value is not a meter reading; send a number in v or s"
            )


def _apply_base(record: dict[str, object], path: str, base: _Base) -> None:
    if "bver" in record:
        version = record["bver"]
        if type(version) is not int:
            raise wrong_type(version, f"{path}.bver", "an integer")
        if not 1 <= version <= SENML_VERSION:
            raise Invalid(
                RejectReason.BAD_SENML,
                f"{path}.bver: version {version} is not one meterbill reads (1 to {SENML_VERSION}, RFC 8428)",
            )
    if "bn" in record:
        base.name = as_text(record["bn"], f"{path}.bn")
    if "bt" in record:
        base.time = as_number(record["bt"], f"{path}.bt")
    if "bu" in record:
        base.unit = as_text(record["bu"], f"{path}.bu")
    if "bv" in record:
        base.value = as_number(record["bv"], f"{path}.bv")
    if "bs" in record:
        base.sum = as_number(record["bs"], f"{path}.bs")


def _register(
    record: dict[str, object],
    path: str,
    base: _Base,
    prefixes: tuple[str, ...],
    device_id: str,
    limits: DecodeLimits,
) -> str:
    name = base.name + (as_text(record["n"], f"{path}.n") if "n" in record else "")
    if not name:
        raise Invalid(RejectReason.MISSING_FIELD, f"{path}.n: missing, and no base name (bn) names the record")
    if not _NAME.fullmatch(name):
        raise Invalid(
            RejectReason.BAD_SENML,
            f"{path}: name {shown(name)} (bn + n) is not a SenML name: letters, digits and - : . / _, "
            "starting with a letter or digit (RFC 8428 section 4.5.1)",
        )
    for prefix in prefixes:
        if name.startswith(prefix):
            register = name[len(prefix) :]
            if not register:
                raise Invalid(RejectReason.MISSING_FIELD, f"{path}.n: missing: name {shown(name)} has no register")
            return as_identifier(register, f"{path}.n", limits)
    raise Invalid(
        RejectReason.DEVICE_MISMATCH,
        f"{path}: name {shown(name)} (bn + n) is not of the topic's device {device_id!r}; names are "
        f"'{_URN_PREFIX}{device_id}:', '{device_id}:' or '{device_id}/' followed by the register",
    )


def _time(record: dict[str, object], path: str, base: _Base, now: datetime) -> datetime:
    seconds = base.time + (as_number(record["t"], f"{path}.t") if "t" in record else 0.0)
    if seconds >= _RELATIVE_BELOW:
        return epoch_to_utc(seconds, f"{path}.t")
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        raise Invalid(
            RejectReason.BAD_TIMESTAMP, f"{path}.t: {seconds!r} seconds from now is outside the years 1 to 9999"
        ) from None


def _value(record: dict[str, object], path: str, base: _Base, limits: DecodeLimits) -> tuple[ReadingKind, float, str]:
    if "u" in record:
        unit, unit_path = as_text(record["u"], f"{path}.u"), f"{path}.u"
    elif base.unit is not None:
        unit, unit_path = base.unit, f"{path}.u (base unit bu)"
    else:
        raise Invalid(RejectReason.MISSING_FIELD, f"{path}.u: missing, and no base unit (bu); a reading needs a unit")
    unit = _UNIT_ALIASES.get(unit, unit)
    if "v" in record:
        value_path = f"{path}.v"
        raw = base.value + as_number(record["v"], value_path)
        value, canonical = quantity(raw, unit, value_path=value_path, unit_path=unit_path, limits=limits)
        return "interval", value, canonical
    value_path = f"{path}.s"
    raw = base.sum + as_number(record["s"], value_path)
    try:
        value, canonical = quantity(raw, unit, value_path=value_path, unit_path=unit_path, limits=limits)
    except Invalid as refused:
        if refused.reason is not RejectReason.WRONG_DIMENSION:
            raise
        # RFC 8428: a sum is in the record's unit multiplied by seconds (W -> W*s = J).
        try:
            value, canonical = quantity(raw, f"({unit})*s", value_path=value_path, unit_path=unit_path, limits=limits)
        except Invalid:
            raise refused from None
    if value < 0:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{value_path}: {raw!r} is negative, and a cumulative index is >= 0")
    return "cumulative", value, canonical
