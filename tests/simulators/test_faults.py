"""Fault injection (simulators/faults.py): the --faults grammar and its refusals, the rates, and a ledger
that accounts for every dead letter and every missing record when the traffic goes through the real
gateway pipeline."""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devices.codecs import DecodedReadings, decode_events, decode_readings, decode_trip
from devices.model import Device
from devices.trips import Trip
from gateway.pipeline import Accept, Message, Reject, process
from simulators.errors import FaultSpecError
from simulators.faults import FAULTS, FaultInjector, FaultLedger, FaultSpec
from simulators.meters import MeterFleet, MeterFleetConfig
from simulators.payloads import Outgoing, topic_for
from simulators.vehicles import VehicleFleet, VehicleFleetConfig

START = datetime(2026, 2, 2, tzinfo=UTC)
SPEC = "dup=0.05,reorder=0.02,gap=0.01,skew=0.01,garbage=0.001,spoof=0.001"


# -- the grammar -------------------------------------------------------------------------------------------
def test_a_spec_parses_and_prints_back() -> None:
    spec = FaultSpec.parse(SPEC)
    assert (spec.dup, spec.reorder, spec.gap, spec.skew, spec.garbage, spec.spoof) == (
        0.05,
        0.02,
        0.01,
        0.01,
        0.001,
        0.001,
    )
    assert str(spec) == SPEC and FaultSpec.parse(str(spec)) == spec
    assert FaultSpec.parse(" gap = 1 ") == FaultSpec(gap=1.0)
    assert not FaultSpec.parse("") and not FaultSpec.parse("none") and str(FaultSpec()) == "none"


@pytest.mark.parametrize(
    ("text", "item", "words"),
    [
        ("bogus=0.1", "bogus=0.1", "unknown fault 'bogus'; known: dup, reorder, gap, skew, garbage, spoof"),
        ("dup=1.5", "dup=1.5", r"dup=1.5 is outside \[0, 1\]"),
        ("gap=-0.01", "gap=-0.01", r"gap=-0.01 is outside \[0, 1\]"),
        ("skew=nan", "skew=nan", r"outside \[0, 1\]"),
        ("dup=often", "dup=often", "'often' is not a number"),
        ("dup", "dup", "is not NAME=PROBABILITY"),
        ("dup=", "dup=", "is not NAME=PROBABILITY"),
        ("dup=0.1,,gap=0.1", "", "item 2 is empty"),
        ("dup=0.1,dup=0.2", "dup=0.2", "dup is given twice"),
        ("dup=0.6,gap=0.5", None, "add up to 1.1, more than 1"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_item(text: str, item: str | None, words: str) -> None:
    with pytest.raises(FaultSpecError, match=words) as caught:
        FaultSpec.parse(text)
    assert caught.value.item == item and caught.value.spec == text
    assert isinstance(caught.value, ValueError)


def test_a_probability_outside_the_unit_interval_is_refused_when_built_directly() -> None:
    with pytest.raises(FaultSpecError, match=r"spoof: probability 2 is outside \[0, 1\]"):
        FaultSpec(spoof=2)


# -- rates -------------------------------------------------------------------------------------------------
def _synthetic(n: int, devices: int = 50) -> list[Outgoing]:
    messages = []
    for i in range(n):
        device = f"d-{i % devices:03d}"
        payload = json.dumps(
            {"device": device, "seq": i, "readings": [{"ts": "2026-02-02T00:00:00Z", "register": "r", "value": i}]}
        ).encode()
        messages.append(Outgoing(topic_for("readings", device), payload, device, "readings", i, f"{device}#{i}", 1))
    return messages


def test_faults_come_at_the_rates_asked_for() -> None:
    n = 60_000
    spec = FaultSpec(dup=0.05, reorder=0.02, gap=0.01, skew=0.01, garbage=0.005, spoof=0.005)
    ledger = FaultLedger()
    out = list(
        FaultInjector(spec, seed=11, device_ids=[f"d-{i:03d}" for i in range(50)], ledger=ledger).apply(_synthetic(n))
    )
    counts = ledger.counts()
    assert ledger.messages == n
    for name in FAULTS:
        p = getattr(spec, name)
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 4.5 * sigma, (name, counts[name], n * p)
    # what went out: one per message, plus the copies of dup and spoof, less the gaps
    assert len(out) == n + counts["dup"] + counts["spoof"] - counts["gap"]


def test_the_same_seed_injects_the_same_faults() -> None:
    spec = FaultSpec.parse("dup=0.1,reorder=0.1,gap=0.1,skew=0.1,garbage=0.1,spoof=0.1")
    runs = []
    for seed in (5, 5, 6):
        ledger = FaultLedger()
        out = [
            m.payload
            for m in FaultInjector(spec, seed=seed, device_ids=["a", "b"], ledger=ledger).apply(_synthetic(2000))
        ]
        runs.append((out, [(e.fault, e.key, e.sent) for e in ledger.entries]))
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_no_faults_passes_everything_through_untouched() -> None:
    messages = _synthetic(500)
    ledger = FaultLedger()
    assert list(FaultInjector(FaultSpec(), seed=1, ledger=ledger).apply(messages)) == messages
    assert ledger.entries == [] and ledger.messages == 500


# -- the ledger against the real gateway pipeline ----------------------------------------------------------
def _world() -> tuple[list[Outgoing], dict[str, Device]]:
    meters = MeterFleet(
        MeterFleetConfig(count=14, start=START, duration=timedelta(days=2), upload="interval", style="register", seed=2)
    )
    vehicles = VehicleFleet(
        VehicleFleetConfig(count=10, start=START, duration=timedelta(days=7), seed=2, live_events_fraction=0.5)
    )
    messages = list(heapq.merge(meters.messages(), vehicles.messages(), key=lambda m: m.send_at))
    registry = {d.id: d for d in [*meters.devices(), *vehicles.devices()]}
    return messages, registry


def _records(message: Outgoing, received: datetime) -> set[tuple[object, ...]]:
    """What a message would put in the store: reading, trip and event keys."""
    if message.family == "readings":
        decoded = decode_readings(message.payload, device_id=message.device_id, received_at=received)
        assert isinstance(decoded, DecodedReadings)
        return {("reading", r.device_id, r.register, r.ts, r.value) for r in decoded.readings}
    if message.family == "trips":
        trip = decode_trip(message.payload, device_id=message.device_id, received_at=received)
        assert isinstance(trip, Trip)
        inside = {("event", e.device_id, e.ts, e.type) for e in trip.events}
        return {("trip", trip.device_id, trip.trip_id), *inside}
    events = decode_events(message.payload, device_id=message.device_id, received_at=received)
    assert isinstance(events, tuple)
    return {("event", e.device_id, e.ts, e.type) for e in events}


def test_the_ledger_accounts_for_every_dead_letter_and_every_missing_record() -> None:
    messages, registry = _world()
    now = START + timedelta(days=7, hours=6)
    spec = FaultSpec.parse("dup=0.08,reorder=0.08,gap=0.04,skew=0.04,garbage=0.04,spoof=0.04")
    ledger = FaultLedger()
    sent = list(FaultInjector(spec, seed=9, device_ids=list(registry), ledger=ledger).apply(messages))
    assert ledger.messages == len(messages)
    assert all(n >= 5 for n in ledger.counts().values()), ledger.counts()

    stored: set[tuple[object, ...]] = set()
    rejected: Counter[tuple[str, bytes, str]] = Counter()
    accepted = 0
    for n, message in enumerate(sent):
        decision = process(Message(n, message.topic, message.payload, now), now, registry.get)
        if isinstance(decision, Reject):
            rejected[(message.topic, message.payload, decision.reason)] += 1
        else:
            assert isinstance(decision, Accept)
            accepted += 1
            stored |= _records(message, now)

    # every dead letter is an injected fault, and every injected fault that should be one is one
    assert rejected == Counter(ledger.dead_letters())
    # what is stored is exactly what was generated, less the records of the messages lost
    everything = set().union(*(_records(m, now) for m in messages))
    lost = set().union(*(_records(o, now) for o in _originals(ledger, messages)))
    assert lost and stored == everything - lost
    counts = ledger.counts()
    assert accepted == len(messages) - counts["gap"] - counts["skew"] - counts["garbage"] + counts["dup"]
    assert sum(e.lost_records for e in ledger.entries) == sum(m.records for m in _originals(ledger, messages))


def _originals(ledger: FaultLedger, messages: list[Outgoing]) -> list[Outgoing]:
    by_key = {m.key: m for m in messages}
    return [by_key[e.key] for e in ledger.lost()]


def test_a_reordered_message_is_overtaken_by_later_messages_of_its_device() -> None:
    messages, registry = _world()
    ledger = FaultLedger()
    sent = list(FaultInjector(FaultSpec(reorder=0.1), seed=4, device_ids=list(registry), ledger=ledger).apply(messages))
    assert sorted(m.key for m in sent) == sorted(m.key for m in messages)  # nothing lost, nothing added
    position = {m.key: i for i, m in enumerate(sent)}
    original = {m.key: i for i, m in enumerate(messages)}
    reordered = [e for e in ledger.entries if e.fault == "reorder"]
    assert len(reordered) > 20
    for entry in reordered:
        later_of_device = [
            m.key for m in messages if m.device_id == entry.device_id and original[m.key] > original[entry.key]
        ]
        if "end of the run" in entry.detail:
            assert position[entry.key] > max((position[k] for k in later_of_device), default=-1)
        else:
            overtaken_by = sum(position[k] < position[entry.key] for k in later_of_device)
            also_held = sum(e.device_id == entry.device_id for e in reordered) - 1  # released ones overtake too
            assert 1 <= overtaken_by <= 3 + also_held


def test_each_fault_sends_what_its_ledger_entry_says() -> None:
    messages = _synthetic(3000, devices=5)
    spec = FaultSpec.parse("dup=0.1,gap=0.1,skew=0.1,garbage=0.1,spoof=0.1")
    ledger = FaultLedger()
    sent = Counter(
        m.payload for m in FaultInjector(spec, seed=3, device_ids=["d-000", "d-001"], ledger=ledger).apply(messages)
    )
    for entry in ledger.entries:
        original = json.loads(entry.original)
        if entry.fault == "dup":
            assert sent[entry.original] == 2 and entry.dead_letter is None
        elif entry.fault == "gap":
            assert sent[entry.original] == 0 and entry.sent == () and entry.lost_records == 1
        elif entry.fault == "skew":
            (payload,) = entry.sent
            shifted = datetime.fromisoformat(json.loads(payload)["readings"][0]["ts"])
            assert shifted - datetime.fromisoformat(original["readings"][0]["ts"]) >= timedelta(days=365)
            assert sent[entry.original] == 0 and entry.dead_letter == "future_timestamp"
        elif entry.fault == "garbage":
            (payload,) = entry.sent
            assert sent[entry.original] == 0 and entry.dead_letter in ("not_utf8", "malformed_json")
            assert payload.startswith(b"\xff") == (entry.dead_letter == "not_utf8")
        else:
            (payload,) = entry.sent
            claimed = json.loads(payload)["device"]
            assert claimed != entry.device_id and claimed in ("d-000", "d-001")
            assert sent[entry.original] == 1 and entry.dead_letter == "device_mismatch"
    assert json.loads(json.dumps(ledger.as_dicts()))  # the --ledger file is plain JSON
