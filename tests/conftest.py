"""Shared fixtures: real databases (tests/fix_db.py) and a real MQTT broker (tests/fix_broker.py).

Tests that use a real service are marked by the fixture they use, and the run ends with a line
per service saying how many of its tests passed, failed or were skipped, so a CI log shows at a
glance that PostgreSQL, SQLite and MQTT were really exercised.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest_plugins = ["tests.fix_db", "tests.fix_broker", "tests.fix_cli"]

# fixture that proves the service -> marker name
_SERVICE_FIXTURES = {"pg_admin_url": "postgres", "mqtt_broker": "mqtt", "secured_broker": "mqtt"}
_outcomes: Counter[tuple[str, str]] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against a real PostgreSQL server")
    config.addinivalue_line("markers", "sqlite: runs against the embedded SQLite store")
    config.addinivalue_line("markers", "mqtt: runs against a real MQTT broker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _SERVICE_FIXTURES.items():
            if fixture in fixtures:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("empty_store") if callspec else None
        if backend == "sqlite" or (callspec and callspec.params.get("backend") == "sqlite"):
            item.add_marker("sqlite")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for marker in ("postgres", "sqlite", "mqtt"):
            if marker in report.keywords:
                _outcomes[(marker, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.section("real services exercised")
    for marker in ("postgres", "sqlite", "mqtt"):
        counts = ", ".join(f"{_outcomes[(marker, o)]} {o}" for o in ("passed", "failed", "skipped"))
        terminalreporter.write_line(f"{marker}: {counts}")
