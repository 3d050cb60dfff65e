"""bench/e2e_bench.py stays runnable: a tiny run, checking only the shape of its output (never timings)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_e2e_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        pytest.skip("the end-to-end bench needs a mosquitto binary")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "e2e_bench.py"),
            *("--meters", "40", "--warmup", "3", "--duration", "4", "--speed", "900", "--sample-every", "2"),
            *("--mosquitto", mosquitto, "--pg-url", pg_admin_url, "--mqtt-url", ""),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("committed_readings_per_s", "offered_readings_per_s", "rss_start_mib", "rss_end_mib"):
        assert figures[key] > 0, key
    assert figures["lag_samples"] > 0 and figures["p99_lag_s"] >= figures["p50_lag_s"] > 0
    assert figures["meters"] == 40 and isinstance(figures["rss_growth_ok"], bool)
