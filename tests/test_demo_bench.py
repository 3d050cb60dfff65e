"""bench/e2e_bench.py stays runnable: a tiny run, checking only the shape of its output (never timings)."""

from __future__ import annotations

from tests.bench.support import run_bench
from tests.fix_broker import mosquitto_binary


def test_e2e_bench_prints_its_figures_as_json(pg_admin_url: str) -> None:
    mosquitto = mosquitto_binary()
    figures = run_bench(
        "e2e_bench.py",
        *("--meters", "40", "--warmup", "3", "--duration", "4", "--speed", "900", "--sample-every", "2"),
        *("--mosquitto", mosquitto, "--pg-url", pg_admin_url, "--mqtt-url", ""),
        timeout=180,
    )
    for key in ("committed_readings_per_s", "offered_readings_per_s", "rss_start_mib", "rss_end_mib"):
        assert figures[key] > 0, key
    assert figures["lag_samples"] > 0 and figures["p99_lag_s"] >= figures["p50_lag_s"] > 0
    assert figures["meters"] == 40 and isinstance(figures["rss_growth_ok"], bool)
