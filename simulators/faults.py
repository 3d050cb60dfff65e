"""Faults on demand: what goes wrong between a device and the gateway, injected and written down.

``--faults dup=0.05,reorder=0.02,gap=0.01,skew=0.01,garbage=0.001,spoof=0.001`` gives, per message,
the probability of each fault; a message suffers at most one (so the probabilities add up to at
most 1). What each sends, what the gateway should make of it, and what is lost:

- ``dup``: the message, then the same bytes again. Stored once; nothing lost.
- ``reorder``: the message later, overtaken by 1 to 3 later messages of its device (and by any later one
  held back too). Stored; nothing lost.
- ``gap``: nothing. The gateway never hears of it; its records are lost.
- ``skew``: the message with every timestamp a year or more ahead (a device clock gone wrong).
  Dead letter ``future_timestamp``; its records are lost.
- ``garbage``: instead of the message, random bytes (dead letter ``not_utf8``) or the message cut
  short (dead letter ``malformed_json``); its records are lost.
- ``spoof``: the message, then a copy on the device's own topic claiming another device's id.
  Dead letter ``device_mismatch``; nothing lost.

Every fault is written to a :class:`FaultLedger` with the original message and the bytes sent for
it, so that a test can account for every dead letter (:meth:`FaultLedger.dead_letters`) and every
missing record (:meth:`FaultLedger.lost`). Pure and seeded: the same messages and seed give the
same faults.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal, get_args

import numpy as np

from simulators.errors import FaultSpecError
from simulators.payloads import Outgoing, claim_device, shift_times

__all__ = ["FAULTS", "FaultInjector", "FaultLedger", "FaultName", "FaultSpec", "InjectedFault"]

FaultName = Literal["dup", "reorder", "gap", "skew", "garbage", "spoof"]
FAULTS: tuple[FaultName, ...] = get_args(FaultName)

_YEAR_S = 365 * 86_400
_MAX_REORDER = 3  # a reordered message is overtaken by 1 to this many later messages of its device


@dataclass(frozen=True)
class FaultSpec:
    """The probability of each fault per message [0..1]; they add up to at most 1."""

    dup: float = 0.0
    reorder: float = 0.0
    gap: float = 0.0
    skew: float = 0.0
    garbage: float = 0.0
    spoof: float = 0.0

    def __post_init__(self) -> None:
        given = ",".join(f"{name}={getattr(self, name)!r}" for name in FAULTS)
        for name in FAULTS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise FaultSpecError(f"fault {name}: probability {value!r} is outside [0, 1]", spec=given, item=name)
        if self.total > 1.0 + 1e-12:
            raise FaultSpecError(
                f"fault probabilities add up to {self.total:g}, more than 1: a message suffers at most one fault",
                spec=given,
            )

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """``"dup=0.05,gap=0.01"``; empty or ``"none"`` for no faults. The error names the bad item."""
        text = spec.strip()
        if text.lower() in ("", "none"):
            return cls()
        known = ", ".join(FAULTS)
        values: dict[str, float] = {}
        for position, raw in enumerate(text.split(","), start=1):
            item = raw.strip()
            name, sep, number = item.partition("=")
            name, number = name.strip(), number.strip()
            if not item:
                raise FaultSpecError(f"faults {spec!r}: item {position} is empty", spec=spec, item=item)
            if not sep or not number:
                raise FaultSpecError(
                    f"faults {spec!r}: {item!r} is not NAME=PROBABILITY (e.g. dup=0.05)", spec=spec, item=item
                )
            if name not in FAULTS:
                raise FaultSpecError(f"faults {spec!r}: unknown fault {name!r}; known: {known}", spec=spec, item=item)
            if name in values:
                raise FaultSpecError(f"faults {spec!r}: {name} is given twice", spec=spec, item=item)
            try:
                probability = float(number)
            except ValueError:
                raise FaultSpecError(
                    f"faults {spec!r}: {name}={number!r} is not a number; give a probability in [0, 1]",
                    spec=spec,
                    item=item,
                ) from None
            if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                raise FaultSpecError(
                    f"faults {spec!r}: {name}={number} is outside [0, 1]; it is a probability per message",
                    spec=spec,
                    item=item,
                )
            values[name] = probability
        try:
            return cls(**values)
        except FaultSpecError as exc:
            raise FaultSpecError(f"faults {spec!r}: {exc}", spec=spec) from None

    @property
    def total(self) -> float:
        """The probability that a message suffers some fault [1]."""
        return float(sum(getattr(self, name) for name in FAULTS))

    def __bool__(self) -> bool:
        return self.total > 0

    def __str__(self) -> str:
        given = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name)]
        return ",".join(given) or "none"


@dataclass(frozen=True)
class InjectedFault:
    """One fault done to one message.

    ``key``/``device_id``/``topic``/``original``: the message the device meant to send. ``sent``: the
    bytes that went on the wire because of the fault, beyond or instead of the original (the copy of
    a dup or spoof, the skewed or garbage replacement; nothing for gap and reorder).
    ``dead_letter``: the reason the gateway gives for ``sent`` (None when it accepts or never sees
    it). ``lost_records``: the original's records that will not be stored. ``detail`` says what
    was done, for people.
    """

    fault: FaultName
    key: str
    device_id: str
    topic: str
    original: bytes = field(repr=False)
    sent: tuple[bytes, ...] = field(default=(), repr=False)
    dead_letter: str | None = None
    lost_records: int = 0
    detail: str = ""


@dataclass
class FaultLedger:
    """Every fault injected, in the order decided (a reorder is recorded when its message goes out)."""

    entries: list[InjectedFault] = field(default_factory=list)
    messages: int = 0  # messages the injector saw

    def record(self, entry: InjectedFault) -> None:
        self.entries.append(entry)

    def counts(self) -> dict[FaultName, int]:
        """Faults injected, per fault (every fault named, 0 when none)."""
        seen = Counter(e.fault for e in self.entries)
        return {name: seen[name] for name in FAULTS}

    def dead_letters(self) -> list[tuple[str, bytes, str]]:
        """What the gateway should dead-letter: (topic, payload, reason), one per injected message."""
        return [(e.topic, payload, e.dead_letter) for e in self.entries if e.dead_letter for payload in e.sent]

    def lost(self) -> list[InjectedFault]:
        """The faults whose original message will never be stored (gap, skew, garbage)."""
        return [e for e in self.entries if e.lost_records]

    def lost_records(self) -> int:
        return sum(e.lost_records for e in self.entries)

    def as_dicts(self) -> list[dict[str, object]]:
        """The ledger as JSON-ready objects (payloads as text where they are text, else hex)."""
        return [
            {
                "fault": e.fault,
                "key": e.key,
                "device_id": e.device_id,
                "topic": e.topic,
                "dead_letter": e.dead_letter,
                "lost_records": e.lost_records,
                "detail": e.detail,
                "original": _text(e.original),
                "sent": [_text(p) for p in e.sent],
            }
            for e in self.entries
        ]


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + payload.hex()


class FaultInjector:
    """Applies a :class:`FaultSpec` to a stream of messages, recording each fault in ``ledger``.

    ``device_ids`` are the fleet's ids, among which a spoofed message picks the one it claims to be.
    """

    def __init__(
        self,
        spec: FaultSpec,
        *,
        seed: int,
        device_ids: Sequence[str] = (),
        ledger: FaultLedger | None = None,
    ) -> None:
        self.spec = spec
        self.ledger = ledger if ledger is not None else FaultLedger()
        self._rng = np.random.default_rng([seed, 0xFA0175])
        self._device_ids = list(device_ids)
        self._thresholds = np.cumsum([getattr(spec, name) for name in FAULTS]).tolist()

    def _choose(self) -> FaultName | None:
        u = float(self._rng.random())
        for name, threshold in zip(FAULTS, self._thresholds, strict=True):
            if u < threshold:
                return name
        return None

    def apply(self, messages: Iterable[Outgoing]) -> Iterator[Outgoing]:
        """The messages as they go on the wire, faults included, lazily."""
        held: dict[str, list[_Held]] = {}  # device -> its messages held back, in the order they were
        for message in messages:
            self.ledger.messages += 1
            fault = self._choose() if self.spec else None
            if fault == "reorder":
                held.setdefault(message.device_id, []).append(
                    _Held(message, int(self._rng.integers(1, _MAX_REORDER + 1)))
                )
                continue
            out = self._inject(fault, message)
            yield from out
            if out and message.device_id in held:
                yield from self._release(message.device_id, held, overtaken=True)
        for device_id in list(held):  # the end of the stream: what is still held goes now
            yield from self._release(device_id, held, overtaken=False)

    def _release(self, device_id: str, held: dict[str, list[_Held]], *, overtaken: bool) -> list[Outgoing]:
        """Count one later message past the held messages of ``device_id`` (or flush them); send those due."""
        released: list[Outgoing] = []
        waiting = held[device_id]
        for slot in list(waiting):
            slot.remaining = slot.remaining - 1 if overtaken else 0
            if slot.remaining <= 0:
                waiting.remove(slot)
                message = slot.message
                released.append(message)
                how = "overtaken by later messages of its device" if overtaken else "sent last, at the end of the run"
                self.ledger.record(
                    InjectedFault("reorder", message.key, device_id, message.topic, message.payload, detail=how)
                )
        if not waiting:
            del held[device_id]
        return released

    def _inject(self, fault: FaultName | None, message: Outgoing) -> list[Outgoing]:
        ledger, rng = self.ledger, self._rng
        base = (message.key, message.device_id, message.topic, message.payload)
        if fault is None:
            return [message]
        if fault == "dup":
            ledger.record(InjectedFault("dup", *base, sent=(message.payload,), detail="sent twice"))
            return [message, message]
        if fault == "gap":
            ledger.record(InjectedFault("gap", *base, lost_records=message.records, detail="never sent"))
            return []
        if fault == "skew":
            shift_s = _YEAR_S + int(rng.integers(0, 30 * 86_400))
            payload = shift_times(message.payload, shift_s)
            ledger.record(
                InjectedFault(
                    "skew",
                    *base,
                    sent=(payload,),
                    dead_letter="future_timestamp",
                    lost_records=message.records,
                    detail=f"timestamps moved {shift_s} s ({shift_s / 86_400:.1f} days) ahead",
                )
            )
            return [_replace(message, payload)]
        if fault == "garbage":
            if rng.random() < 0.5:
                # 0xFF never occurs in UTF-8: the gateway refuses it before trying JSON.
                payload = b"\xff" + rng.integers(0, 256, int(rng.integers(8, 200)), dtype=np.uint8).tobytes()
                reason, detail = "not_utf8", f"{len(payload)} random bytes"
            else:
                # A strict prefix of a JSON object never closes it, so it is never valid JSON.
                cut = int(rng.integers(1, len(message.payload)))
                payload, reason, detail = message.payload[:cut], "malformed_json", f"cut after {cut} bytes"
            ledger.record(
                InjectedFault(
                    "garbage", *base, sent=(payload,), dead_letter=reason, lost_records=message.records, detail=detail
                )
            )
            return [_replace(message, payload)]
        # spoof: the message goes through, and a copy claiming to be another device follows it.
        others = [d for d in self._device_ids if d != message.device_id]
        claimed = others[int(rng.integers(0, len(others)))] if others else f"{message.device_id}-spoof"
        payload = claim_device(message.payload, claimed)
        ledger.record(
            InjectedFault("spoof", *base, sent=(payload,), dead_letter="device_mismatch", detail=f"claims {claimed}")
        )
        return [message, _replace(message, payload)]


@dataclass
class _Held:
    """A reordered message and how many later messages of its device must still overtake it."""

    message: Outgoing
    remaining: int


def _replace(message: Outgoing, payload: bytes) -> Outgoing:
    return Outgoing(
        message.topic, payload, message.device_id, message.family, message.send_at, message.key, message.records
    )
