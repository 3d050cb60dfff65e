"""Running ``meterbill`` as a user does: a subprocess with its own MB_* environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def meterbill(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meterbill", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    clean["MB_STORE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    clean["COLUMNS"] = "200"  # rich wraps at the terminal width; keep URLs on one line
    return clean
