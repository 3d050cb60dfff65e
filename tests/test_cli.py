"""The ``meterbill`` command line, run as a user runs it: a subprocess with MB_* variables."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from gateway.mqtt import BrokerAddress
from tests.fix_cli import meterbill


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_db_upgrade_twice(backend: str, env: dict[str, str], request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        env["MB_STORE_URL"] = request.getfixturevalue("pg_url")
    first = meterbill("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    second = meterbill("db", "upgrade", env=env)
    assert second.returncode == 0, second.stderr
    assert "applied" not in second.stdout
    assert "already up to date" in second.stdout


def test_bad_configuration_exits_2_naming_the_variable(env: dict[str, str]) -> None:
    env["MB_API_PORT"] = "not-a-port"
    result = meterbill("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "MB_API_PORT" in result.stderr


def test_demo_once_serves_health_and_exits_0(env: dict[str, str]) -> None:
    result = meterbill("demo", "--once", "--meters", "7", "--vehicles", "2", "--days", "2", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"GET /health\s*│\s*200", result.stdout), result.stdout
    assert re.search(r"meterbill API: http://127\.0\.0\.1:\d+", result.stdout)
    assert "embedded mqtt://127.0.0.1:" in result.stdout
    # The simulated fleets went through the embedded broker and the gateway into the store.
    stored = re.search(r"readings stored\s*│\s*([\d,]+)", result.stdout)
    assert stored and int(stored[1].replace(",", "")) > 500, result.stdout


def test_api_run_serves_until_sigterm(env: dict[str, str]) -> None:
    assert meterbill("db", "upgrade", env=env).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterbill", "api", "run", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        url = match[1]
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert "meterbill_store_up" in httpx.get(f"{url}/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is not None, "api run did not stop on SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_demo_once_simulates_fleets_through_a_real_broker(env: dict[str, str], mqtt_broker: BrokerAddress) -> None:
    env["MB_MQTT_URL"] = f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}"
    result = meterbill(
        "demo",
        "--once",
        "--meters",
        "7",
        "--vehicles",
        "2",
        "--days",
        "2",
        "--seed",
        "3",
        "--faults",
        "garbage=0.2",
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    stored = re.search(r"readings stored\s*│\s*([\d,]+)", result.stdout)
    assert stored and int(stored[1].replace(",", "")) > 500, result.stdout
    injected = re.search(r"faults injected\s*│\s*garbage (\d+)", result.stdout)
    rejected = re.findall(r"(malformed_json|not_utf8) (\d+)", result.stdout)
    assert injected, result.stdout
    # Every injected garbage message ends as a dead letter, and nothing else does.
    assert sum(int(n) for _, n in rejected) == int(injected[1]), result.stdout
