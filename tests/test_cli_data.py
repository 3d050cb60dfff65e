"""Dead letters, conflicts, reviews and the readings export through the CLI, as an operator runs them."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.model import Device
from devices.readings import Reading, ReadingReview
from gateway.pipeline import Message, Reject, process
from meterbill.settings import load_settings
from meterbill.wiring import open_store
from store.contract import Batch, Store
from tests.fix_cli import meterbill

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
# Floats whose shortest decimal form is long, tiny or huge: a lossy export would change them.
TRICKY = [0.1 + 0.2, 1 / 3, 2 / 3, 1e-17, 123456.78901234567, 0.0, 2.5e-7, 9007199254740993.0]


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    assert meterbill("db", "upgrade", env=env).returncode == 0
    return env


@pytest.fixture(params=["sqlite", "postgres"])
def backend_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    """The CLI's environment on each store backend, migrated."""
    if request.param == "postgres":
        env = {**env, "MB_STORE_URL": request.getfixturevalue("pg_url")}
    upgraded = meterbill("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return env


OpenStore = Callable[[dict[str, str]], Store]


@pytest.fixture
def store_of() -> Iterator[OpenStore]:
    """Opens the store a CLI environment names, in this process, for setup and checks; closes it after."""
    opened: list[Store] = []

    def open_(env: dict[str, str]) -> Store:
        opened.append(open_store(load_settings(store_url=env["MB_STORE_URL"])))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


def _reading(device: str, register: str, ts: datetime, value: float, kind: str = "interval") -> Reading:
    unit = "m^3" if device.startswith("g-") else "kWh"
    return Reading(device, register, ts, value, unit, kind, "actual", T0)  # type: ignore[arg-type]


def _dead_letter(store: Store, topic: str, payload: bytes, at: datetime) -> int:
    """Refuse a message as the gateway does (the same pipeline) and keep it as a dead letter."""
    decision = process(Message(1, topic, payload, at), at, store.device)
    assert isinstance(decision, Reject), decision
    return store.add_dead_letter(
        topic=topic,
        payload=decision.payload,
        reason=decision.reason,
        detail=decision.detail,
        device_id=decision.device_id,
        received_at=at,
    )


# -- dead letters -------------------------------------------------------------------------
def test_dead_letters_listed_and_shown_safely_even_when_binary(migrated: dict[str, str], store_of: OpenStore) -> None:
    store = store_of(migrated)
    store.add_devices([Device.new("m-1", "electricity_meter", "S1")])
    at = datetime.now(UTC) - timedelta(minutes=5)
    text_payload = b'{"device": "m-9", "readings": []}'
    binary = b"\x00\x01\xff\x1b[2J\x1b[31m[bold]boom[/bold]" + bytes(range(256))
    text_id = _dead_letter(store, "meters/m-9/readings", text_payload, at)
    binary_id = _dead_letter(store, "meters/m-1/readings", binary, at + timedelta(seconds=1))

    table = meterbill("deadletters", "list", env=migrated)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout
    assert "unknown_device" in table.stdout and "not_utf8" in table.stdout
    assert "meters/m-9/readings" in table.stdout

    listed = json.loads(meterbill("deadletters", "list", "--format", "json", env=migrated).stdout)
    assert [x["id"] for x in listed] == [binary_id, text_id]  # most recent first
    by_id = {x["id"]: x for x in listed}
    assert base64.b64decode(by_id[binary_id]["payload_base64"]) == binary
    assert by_id[binary_id]["payload_text"] is None
    assert by_id[text_id]["payload_text"] == text_payload.decode()
    assert by_id[text_id]["device_id"] == "m-9" and by_id[text_id]["replayed"] is False
    assert by_id[text_id]["occurrences"] == 1

    only = json.loads(meterbill("deadletters", "list", "--device", "m-1", "--format", "json", env=migrated).stdout)
    assert [x["id"] for x in only] == [binary_id]
    assert (
        len(json.loads(meterbill("deadletters", "list", "--limit", "1", "--format", "json", env=migrated).stdout)) == 1
    )

    shown = meterbill("deadletters", "show", str(binary_id), env=migrated)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x00" not in shown.stdout
    assert f"payload:        {len(binary)} bytes, not UTF-8 (hex dump, first 256 shown)" in shown.stdout
    assert "00000000  00 01 ff 1b 5b 32 4a 1b 5b 33 31 6d 5b 62 6f 6c  ....[2J.[31m[bol" in shown.stdout
    assert "reason:         not_utf8" in shown.stdout

    text = meterbill("deadletters", "show", str(text_id), env=migrated)
    assert text.returncode == 0 and text_payload.decode() in text.stdout
    assert "device m-9 is not registered" in text.stdout

    missing = meterbill("deadletters", "show", "999", env=migrated)
    assert missing.returncode == 2 and "no dead letter 999" in missing.stderr


def test_replay_stores_a_provisioned_devices_readings_and_keeps_the_still_bad_pending(
    backend_env: dict[str, str], store_of: OpenStore
) -> None:
    env = backend_env
    store = store_of(env)
    started = datetime.now(UTC)
    at = started.replace(second=0, microsecond=0) - timedelta(hours=3)
    quarters = [at + i * QUARTER for i in range(3)]

    def native(device: str, values: list[float]) -> bytes:
        rows = [
            {"ts": ts.isoformat(), "register": "1-0:1.8.0", "value": v, "unit": "kWh", "kind": "interval"}
            for ts, v in zip(quarters, values, strict=False)
        ]
        return json.dumps({"device": device, "readings": rows}).encode()

    first = _dead_letter(store, "meters/m-new/readings", native("m-new", [0.1, 0.2505]), at)
    second = _dead_letter(store, "meters/m-new/readings", native("m-new", [0, 0, 0.33325])[:-2], at)
    garbage = _dead_letter(store, "meters/m-new/readings", b"\xff\xfe not json", at + timedelta(minutes=1))
    ghost = _dead_letter(store, "meters/m-ghost/readings", native("m-ghost", [1.0]), at + timedelta(minutes=2))
    assert store.dead_letter(second) is not None and store.dead_letter(second).reason == "unknown_device"  # type: ignore[union-attr]

    none = meterbill("deadletters", "replay", env=env)
    assert none.returncode == 2 and "--all-pending" in none.stderr
    provisioned = meterbill("devices", "add", "m-new", "--kind", "electricity_meter", "--serial", "N1", env=env)
    assert provisioned.returncode == 0, provisioned.stderr

    replay = meterbill("deadletters", "replay", "--all-pending", env=env)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "replayed 1:" in replay.stdout  # `second` has a broken JSON tail: still refused
    # The garbage was refused as from an unknown device; now the device exists it is refused as not UTF-8.
    assert "still rejected 3 (malformed_json 1, not_utf8 1, unknown_device 1)" in replay.stdout
    assert f"#{ghost} meters/m-ghost/readings: unknown_device: device m-ghost is not registered" in replay.stdout
    assert f"#{garbage} meters/m-new/readings: not_utf8:" in replay.stdout

    stored = store.readings(device_ids=["m-new"])
    assert [(r.ts, r.value, r.unit) for r in stored] == [(quarters[0], 0.1, "kWh"), (quarters[1], 0.2505, "kWh")]
    assert all(r.received_at >= started for r in stored)  # stamped when they entered the store
    device = store.device("m-new")
    assert device is not None and device.status == "active"
    letters = {x.id: x for x in store.dead_letters(limit=10)}
    assert len(letters) == 4  # no new dead letter for those refused again
    assert letters[first].replayed_at is not None
    assert all(letters[i].replayed_at is None and letters[i].occurrences == 1 for i in (second, garbage, ghost))
    pending = json.loads(meterbill("deadletters", "list", "--pending", "--format", "json", env=env).stdout)
    assert sorted(x["id"] for x in pending) == sorted([second, garbage, ghost])

    again = meterbill("deadletters", "replay", str(first), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"#{first} was already replayed" in again.stdout and "nothing to replay" in again.stdout
    assert len(store.readings(device_ids=["m-new"])) == 2
    assert meterbill("deadletters", "replay", "4242", env=env).returncode == 2


def test_replay_by_device_exits_0_when_everything_is_replayed(migrated: dict[str, str], store_of: OpenStore) -> None:
    store = store_of(migrated)
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    payload = json.dumps(
        {
            "device": "g-1",
            "readings": [
                {"ts": at.isoformat(), "register": "7-0:3.0.0", "value": 12.5, "unit": "L", "kind": "cumulative"}
            ],
        }
    ).encode()
    _dead_letter(store, "meters/g-1/readings", payload, at)
    _dead_letter(store, "meters/m-other/readings", payload, at)
    store.add_devices([Device.new("g-1", "gas_meter", "G1")])
    replay = meterbill("deadletters", "replay", "--device", "g-1", env=migrated)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replayed 1: 1 readings stored" in replay.stdout and "still rejected" not in replay.stdout
    [stored] = store.readings(device_ids=["g-1"])
    assert stored.value == pytest.approx(0.0125)
    assert (stored.unit, stored.kind) == ("m^3", "cumulative")
    assert len(store.dead_letters(pending_only=True)) == 1  # m-other's was not selected


# -- conflicts and reviews ----------------------------------------------------------------
def test_conflicts_and_reviews_listed(migrated: dict[str, str], store_of: OpenStore) -> None:
    store = store_of(migrated)
    store.add_devices([Device.new("m-1", "electricity_meter", "S1")])
    store.insert_readings([_reading("m-1", "1-0:1.8.0", T0, 1.5)])
    assert store.insert_readings([_reading("m-1", "1-0:1.8.0", T0, 2.5)]).conflicts == 1
    spike = _reading("m-1", "1-0:1.8.0", T0 + QUARTER, 99.0)
    store.commit_batch(
        Batch(readings=[spike], reviews=[ReadingReview("m-1", "1-0:1.8.0", spike.ts, "implausible_value", "too much")])
    )

    conflicts = json.loads(meterbill("conflicts", "list", "--format", "json", env=migrated).stdout)
    assert conflicts == [
        {
            "device_id": "m-1",
            "register": "1-0:1.8.0",
            "ts": "2026-01-01T00:00:00+00:00",
            "stored_value": 1.5,
            "offered_value": 2.5,
            "unit": "kWh",
            "offered_quality": "actual",
            "received_at": "2026-01-01T00:00:00+00:00",
        }
    ]
    table = meterbill("conflicts", "list", env=migrated)
    assert table.returncode == 0 and "m-1" in table.stdout and "2.5" in table.stdout

    reviews = json.loads(meterbill("reviews", "list", "--format", "json", env=migrated).stdout)
    assert reviews == [
        {
            "device_id": "m-1",
            "register": "1-0:1.8.0",
            "ts": "2026-01-01T00:15:00+00:00",
            "reason": "implausible_value",
            "detail": "too much",
            "value": 99.0,
            "unit": "kWh",
        }
    ]
    listed = meterbill("reviews", "list", "--limit", "5", env=migrated)
    assert listed.returncode == 0 and "implausible_value" in listed.stdout and "99.0" in listed.stdout
    assert meterbill("reviews", "list", "--limit", "0", env=migrated).returncode == 2


# -- readings export ----------------------------------------------------------------------
def _rows(text: str) -> list[tuple[str, datetime, float, str]]:
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == ["device_id", "ts", "value", "unit"]
    return [(d, datetime.fromisoformat(ts), float(v), u) for d, ts, v, u in reader]


def test_export_round_trips_values_exactly_and_derives_cumulative_registers(
    backend_env: dict[str, str], store_of: OpenStore, tmp_path: Path
) -> None:
    env = backend_env
    store = store_of(env)
    store.add_devices(
        [
            Device.new("m-1", "electricity_meter", "S1"),
            Device.new("m-2", "electricity_meter", "S2"),
            Device.new("g-1", "gas_meter", "G1"),
        ]
    )
    m1 = [_reading("m-1", "1-0:1.8.0", T0 + i * QUARTER, v) for i, v in enumerate(TRICKY)]
    m1_export = [_reading("m-1", "1-0:2.8.0", T0 + i * QUARTER, 0.7 * i) for i in range(2)]
    m2 = [_reading("m-2", "1-0:1.8.0", T0 + i * QUARTER, 1 / (i + 7)) for i in range(3)]
    # Gas indexes, hourly, wrapping at the register's 1e5 m^3: consumption 1.25 each hour, then 1.125.
    indexes = [99998.25, 99999.5, 0.75, 2.0, 3.125]
    g1 = [_reading("g-1", "7-0:3.0.0", T0 + timedelta(hours=i), v, "cumulative") for i, v in enumerate(indexes)]
    store.insert_readings(m1 + m1_export + m2 + g1)
    gas = [99999.5 - 99998.25, (100000.0 - 99999.5) + 0.75, 2.0 - 0.75, 3.125 - 2.0]

    everything = meterbill("readings", "export", "--all-registers", env=env)
    assert everything.returncode == 0, everything.stderr
    expected = (
        [("g-1", T0 + timedelta(hours=i), v, "m^3") for i, v in enumerate(gas)]
        + [(r.device_id, r.ts, r.value, r.unit) for r in m1 + m1_export + m2]  # per device, register, ts
    )
    assert _rows(everything.stdout) == expected  # float == float: exact
    assert "m-1,2026-01-01T00:00:00+00:00,0.30000000000000004,kWh" in everything.stdout
    assert "exported 17 intervals (4 derived from cumulative indexes)" in everything.stderr
    assert "1 device(s) have several registers" in everything.stderr and "--register" in everything.stderr

    # By device, register and time: --from as epoch seconds, --to with another offset (00:30Z .. 01:30Z).
    window = meterbill(
        "readings",
        "export",
        "--device",
        "m-1",
        "--device",
        "m-2",
        "--register",
        "1-0:1.8.0",
        "--from",
        str(int((T0 + 2 * QUARTER).timestamp())),
        "--to",
        "2026-01-01T02:30:00+01:00",
        env=env,
    )
    assert window.returncode == 0, window.stderr
    assert _rows(window.stdout) == [(r.device_id, r.ts, r.value, r.unit) for r in m1[2:6] + m2[2:]]
    assert "several registers" not in window.stderr

    # A cumulative-only register cut by --to: the last interval is closed by the first index after it.
    cut = meterbill(
        "readings",
        "export",
        "--device",
        "g-1",
        "--from",
        "2026-01-01T01:00:00+01:00",
        "--to",
        "2026-01-01T02:30:00Z",
        env=env,
    )
    assert cut.returncode == 0, cut.stderr
    assert _rows(cut.stdout) == [("g-1", T0 + timedelta(hours=i), gas[i], "m^3") for i in range(3)]

    target = tmp_path / "out.json"
    as_json = meterbill("readings", "export", "--device", "m-1", "--format", "json", "--output", str(target), env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == "" and not list(tmp_path.glob(".out.json*"))
    objects = json.loads(target.read_text())
    assert objects[0] == {"device_id": "m-1", "ts": "2026-01-01T00:00:00+00:00", "value": TRICKY[0], "unit": "kWh"}
    # By default only the billing register (1-0:1.8.0): the export register 1-0:2.8.0 is left out.
    assert [(o["ts"], o["value"]) for o in objects] == [(r.ts.isoformat(), r.value) for r in m1]


def test_export_refuses_naive_times_and_bad_options(migrated: dict[str, str]) -> None:
    naive = meterbill("readings", "export", "--from", "2026-01-01T00:00:00", env=migrated)
    assert naive.returncode == 2
    assert "--from" in naive.stderr and "no UTC offset" in naive.stderr
    assert naive.stdout == ""
    backwards = meterbill(
        "readings", "export", "--from", "2026-02-01T00:00Z", "--to", "2026-01-01T00:00Z", env=migrated
    )
    assert backwards.returncode == 2 and "must be before --to" in backwards.stderr
    assert meterbill("readings", "export", "--to", "yesterday", env=migrated).returncode == 2
    assert meterbill("readings", "export", "--format", "xml", env=migrated).returncode == 2
    unknown = meterbill("readings", "export", "--device", "m-nobody", env=migrated)
    assert unknown.returncode == 2 and "m-nobody is not registered" in unknown.stderr
    empty = meterbill("readings", "export", "--format", "json", env=migrated)
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
