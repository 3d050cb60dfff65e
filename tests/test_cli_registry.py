"""Provisioning through the CLI, as an operator runs it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devices.credentials import verify_mosquitto_hash
from meterbill.settings import load_settings
from meterbill.wiring import open_store
from tests.fix_cli import meterbill


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    assert meterbill("db", "upgrade", env=env).returncode == 0
    return env


def _csv(n: int, bad: dict[int, str] | None = None) -> str:
    rows = ["device_id,kind,serial"]
    for i in range(n):
        rows.append((bad or {}).get(i, f"m-{i:05d},electricity_meter,SN-{i:05d}"))
    return "\n".join(rows) + "\n"


def test_import_of_10000_with_3_bad_rows_imports_nothing_then_all(
    migrated: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bad = {
        17: "m-00017,toaster,SN-00017",  # unknown kind
        4242: "m-00001,electricity_meter,SN-x",  # id repeats line 3
        9998: "m/09998,electricity_meter,SN-09998",  # '/' in an id would break topics
    }
    source = tmp_path / "fleet.csv"
    source.write_text(_csv(10_000, bad))
    result = meterbill("devices", "import", str(source), env=migrated)
    assert result.returncode == 1
    reported = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert len(reported) == 3, result.stdout
    assert reported[0].startswith("line 19 (m-00017): kind 'toaster'")
    assert reported[1].startswith("line 4244 (m-00001): device_id repeats line 3")
    assert reported[2].startswith("line 10000 (m/09998):") and "not a valid id" in reported[2]
    assert "nothing imported: 3 bad row(s)" in result.stderr
    assert not (tmp_path / "fleet-secrets.csv").exists()
    store = open_store(load_settings(store_url=migrated["MB_STORE_URL"]))
    try:
        assert store.devices() == []

        source.write_text(_csv(10_000))
        result = meterbill("devices", "import", str(source), env=migrated)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "imported 10000 devices" in result.stdout
        devices = store.devices()
        assert len(devices) == 10_000
        secrets_file = tmp_path / "fleet-secrets.csv"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        secrets = dict(line.split(",") for line in secrets_file.read_text().splitlines()[1:])
        assert len(secrets) == 10_000
        sample = store.device("m-04321")
        assert sample is not None and sample.secret_hash is not None
        assert verify_mosquitto_hash(secrets["m-04321"], sample.secret_hash)

        again = meterbill("devices", "import", str(source), "--secrets-out", str(tmp_path / "s2.csv"), env=migrated)
        assert again.returncode == 1
        assert "line 2 (m-00000): device_id already registered" in again.stdout
        assert not (tmp_path / "s2.csv").exists()
    finally:
        store.close()


def test_add_rotate_list_export(migrated: dict[str, str], tmp_path: Path) -> None:
    added = meterbill("devices", "add", "m-1", "--kind", "electricity_meter", "--serial", "S1", env=migrated)
    assert added.returncode == 0, added.stderr
    first_secret = added.stdout.splitlines()[-1]
    rotated = meterbill("devices", "rotate-secret", "m-1", env=migrated)
    assert rotated.returncode == 0
    secret = rotated.stdout.splitlines()[-1]
    assert len(secret) == 43 and secret != first_secret

    store = open_store(load_settings(store_url=migrated["MB_STORE_URL"]))
    try:
        device = store.device("m-1")
        assert device is not None and device.secret_hash is not None
        assert verify_mosquitto_hash(secret, device.secret_hash)
        assert not verify_mosquitto_hash(first_secret, device.secret_hash)
    finally:
        store.close()

    listed = json.loads(meterbill("devices", "list", "--format", "json", env=migrated).stdout)
    assert [(d["id"], d["kind"], d["status"], d["has_secret"]) for d in listed] == [
        ("m-1", "electricity_meter", "provisioned", True)
    ]
    assert "secret_hash" not in listed[0] and device.secret_hash not in json.dumps(listed)
    plain = meterbill("devices", "list", env=migrated).stdout.splitlines()
    assert plain == ["m-1\telectricity_meter\tS1\tprovisioned"]

    assert meterbill("customers", "add", "c-1", "--name", "Alice", "--country", "FR", env=migrated).returncode == 0
    customers = json.loads(meterbill("customers", "list", "--format", "json", env=migrated).stdout)
    assert [(c["id"], c["name"]) for c in customers] == [("c-1", "Alice")]
    contract = meterbill(
        "contracts",
        "add",
        "k-1",
        "--customer",
        "c-1",
        "--tariff",
        "fr-base",
        "--start",
        "2026-01-01",
        "--device",
        "m-1",
        env=migrated,
    )
    assert contract.returncode == 0, contract.stderr

    exported = meterbill("broker", "export-auth", str(tmp_path / "auth"), env=migrated)
    assert exported.returncode == 0, exported.stderr
    passwd = (tmp_path / "auth" / "passwd").read_text().splitlines()
    assert passwd[0].startswith("meterbill-gateway:$7$101$")
    assert passwd[1] == f"m-1:{device.secret_hash}"
    acl = (tmp_path / "auth" / "acl").read_text()
    assert "user m-1\ntopic write meters/m-1/#\ntopic write devices/m-1/status" in acl
    gateway_password = exported.stdout.splitlines()[-1]
    assert verify_mosquitto_hash(gateway_password, passwd[0].split(":", 1)[1])


def test_bad_status_transition_is_a_clear_error(migrated: dict[str, str]) -> None:
    assert meterbill("devices", "add", "m-1", "--kind", "gas_meter", "--serial", "G", env=migrated).returncode == 0
    assert meterbill("devices", "set-status", "m-1", "retired", env=migrated).returncode == 0
    result = meterbill("devices", "set-status", "m-1", "active", env=migrated)
    assert result.returncode == 2
    assert "cannot go from retired to active" in result.stderr
