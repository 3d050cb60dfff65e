"""The layer rules of DESIGN.md, enforced: import-linter contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("meterbill", "api", "gateway", "simulators", "store", "billing", "rating", "devices")


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "Pure cores import no I/O library KEPT" in result.stdout


def test_the_graph_sees_driver_imports_so_the_contracts_can_fail() -> None:
    # A forbidden contract that never sees stdlib or third-party imports would pass vacuously.
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True)
    assert graph.direct_import_exists(importer="store.sqlite", imported="sqlite3")
    assert graph.direct_import_exists(importer="store.postgres", imported="psycopg")
    assert graph.direct_import_exists(importer="gateway.embedded_broker", imported="amqtt")
