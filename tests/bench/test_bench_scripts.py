"""Every benchmark stays runnable: a tiny run, checking only the shape of its output (never timings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.bench.support import ROOT, run_bench
from tests.fix_broker import mosquitto_binary


def test_store_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    figures = run_bench(
        "store_bench.py",
        *("--rows", "4000", "--executemany-rows", "2000", "--batch", "1000", "--devices", "50"),
        *("--pg-url", pg_admin_url),
        timeout=120,
    )
    for key in ("copy_rows_per_s", "executemany_rows_per_s", "half_duplicate_rows_per_s", "plain_copy_rows_per_s"):
        assert figures[key] > 0, key
    assert figures["rows"] == 4000


def test_ingest_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    mosquitto = mosquitto_binary()
    figures = run_bench(
        "ingest_bench.py",
        *("--single-messages", "200", "--batched-messages", "20", "--meters", "20"),
        *("--latency-seconds", "0.5", "--batch-max-delay-ms", "20"),
        *("--mosquitto", mosquitto, "--pg-url", pg_admin_url),
        timeout=180,
    )
    for key in ("batched_readings_per_s", "single_msgs_per_s", "ceiling_msgs_per_s", "p99_commit_latency_s"):
        assert figures[key] > 0, key
    assert figures["single_messages"] == 200
    assert figures["batched_messages"] == 20
    assert isinstance(figures["all_targets_met"], bool)


def test_billing_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    figures = run_bench(
        "billing_bench.py",
        *("--contracts", "12", "--sample", "3", "--cii-sample", "4", "--pdf-sample", "1"),
        *("--pg-url", pg_admin_url),
        timeout=180,
    )
    for key in ("contracts_per_s", "rating_vs_reference", "cii_docs_per_s", "facturx_docs_per_s", "ms_rate"):
        assert figures[key] > 0, key
    assert (figures["contracts"], figures["sample"], figures["pdf_docs"]) == (12, 3, 1)
    assert figures["readings"] == 12 * 31 * 96


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*_bench.py")))
def test_every_bench_takes_quick(script: str) -> None:
    # The convention of bench/: a --quick mode (under a minute) and a JSON object as the last line.
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout, f"{script} must take --quick"


def test_consumption_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    figures = run_bench(
        "consumption_bench.py",
        *("--requests", "3", "--baseline-requests", "1", "--pg-url", pg_admin_url),
        timeout=180,
    )
    for key in ("p50_ms", "p99_ms", "no_tariff_p50_ms", "no_tariff_p99_ms", "baseline_p50_ms", "baseline_p99_ms"):
        assert figures[key] > 0, key
    assert figures["readings"] == 35_040
    assert figures["requests"] == 3
    assert figures["bucket"] == "day"
    assert isinstance(figures["meets_target"], bool)
