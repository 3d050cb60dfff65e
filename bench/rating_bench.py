"""Rating throughput against the memory-bandwidth bound, NumPy, pure Python and NREL SAM, in one run.

Run from the repository root::

    python bench/rating_bench.py            # 10 million and 100 million readings (needs ~6 GB of memory)
    python bench/rating_bench.py --quick    # 10 million readings (under a minute on 2 cores)

Workload: 15-minute interval readings [kWh] of 100,000 meters (100 readings each at 10 million:
one day and a bit, starting 2026-03-02 in Europe/Paris), sorted by meter then time, rated against a
tariff with TOU energy (3 bands, different on weekdays and weekends) with 2 chronological tiers per
billing month, plus a 15-minute demand charge with 2 TOU bands. Inputs are the engine's four arrays:
device int32, start int64 [s], length int32 [s], quantity float64 [kWh]: 24 bytes per reading.

Measured in the same process (best of a few runs, calendar built once, untimed):

- memory bandwidth: NumPy copy of a 1 GiB array, (read + written bytes) / s;
- the Numba engine (``rating.kernels.sweep_intervals``, energy + demand in one pass) on all threads
  and on 1 thread;
- a NumPy-vectorised reference of the same quantities (checked equal to the engine's);
- a pure-Python loop of the same algorithm on a sample of meters, extrapolated per reading;
- NREL SAM Utilityrate5 (``nrel-pysam``) on one meter-year of 15-minute data with the same kind of
  tariff (TOU + tiers + demand), in intervals per second on one core (null without nrel-pysam);
- the cold start of ``meterbill rate`` on a small CSV, with an empty Numba cache and with a warm one.

Prints the figures and ratios; the last line is one JSON object of them. Targets (issue 5): the engine
on all cores >= 150 M readings/s, >= 10x NumPy, >= 20x SAM per interval, >= 15% of the bandwidth bound
(bound = bandwidth / 24 bytes per reading).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rating.calendar import SlotCalendar, build_calendar  # noqa: E402
from rating.kernels import (  # noqa: E402
    DemandSpec,
    IntervalArrays,
    QuantitySpec,
    device_offsets,
    set_threads,
    sweep_intervals,
    threads,
)
from rating.schedule import Schedule  # noqa: E402

METERS = 100_000
BYTES_PER_READING = 4 + 8 + 4 + 8
ZONE = ZoneInfo("Europe/Paris")
START_S = int(datetime(2026, 3, 2, tzinfo=ZONE).timestamp())
TIER_LIMITS = np.asarray([12.0])  # [kWh per month]: 2 tiers, crossed within the run
WEEKDAY = tuple(tuple(0 if h < 7 or h >= 22 else (2 if 17 <= h < 20 else 1) for h in range(24)) for _ in range(12))
WEEKEND = tuple(tuple(0 if h < 9 or h >= 21 else 1 for h in range(24)) for _ in range(12))
ENERGY_SCHEDULE = Schedule(weekday=WEEKDAY, weekend=WEEKEND)
DEMAND_SCHEDULE = Schedule(
    weekday=tuple(tuple(int(7 <= h < 22) for h in range(24)) for _ in range(12)),
    weekend=tuple(tuple(0 for _ in range(24)) for _ in range(12)),
)


def best_of(runs: int, func: Callable[[], object]) -> float:
    """Best wall time [s] of ``runs`` calls."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def make_readings(n: int) -> IntervalArrays:
    per_meter = n // METERS
    rng = np.random.default_rng(5)
    device = np.repeat(np.arange(METERS, dtype=np.int32), per_meter)
    start = np.tile(START_S + 900 * np.arange(per_meter, dtype=np.int64), METERS)
    quantity = rng.gamma(2.0, 0.15, size=device.shape[0])
    return IntervalArrays(device, start, np.full(device.shape[0], 900, dtype=np.int32), quantity)


def memory_bandwidth_gb_per_s() -> float:
    """NumPy copy of a 1 GiB array: (bytes read + bytes written) / s [GB/s]."""
    src = np.ones(1 << 27)  # 1 GiB of float64
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch of dst's pages is not a bandwidth figure
    return 2 * src.nbytes / best_of(5, lambda: np.copyto(dst, src)) / 1e9


def specs(calendar: SlotCalendar) -> tuple[QuantitySpec, DemandSpec]:
    q = QuantitySpec(calendar.bands(ENERGY_SCHEDULE, ("off", "mid", "peak")), 3, TIER_LIMITS)
    d = DemandSpec(calendar.bands(DEMAND_SCHEDULE, ("off", "day")), 2, 900)
    return q, d


def numpy_reference(
    r: IntervalArrays, cal: SlotCalendar, q: QuantitySpec, d: DemandSpec
) -> tuple[np.ndarray, np.ndarray]:
    """The same quantities with NumPy array operations (no per-reading Python)."""
    n_periods = len(cal.periods)
    slot = (r.start_s - cal.t0_s) // cal.slot_s
    period = cal.period[slot].astype(np.int64)
    band = q.slot_band[slot].astype(np.int64)
    group = r.device.astype(np.int64) * n_periods + period
    cum = np.cumsum(r.quantity)
    first = np.r_[True, group[1:] != group[:-1]]
    base = np.maximum.accumulate(np.where(first, cum - r.quantity, 0.0))
    after = cum - base
    before = after - r.quantity
    cell = (group * q.n_bands + band) * 2
    n_cells = METERS * n_periods * q.n_bands * 2
    lower_tier = np.clip(np.minimum(after, TIER_LIMITS[0]) - before, 0.0, None)
    out = np.bincount(cell, weights=lower_tier, minlength=n_cells)
    out += np.bincount(cell + 1, weights=r.quantity - lower_tier, minlength=n_cells)
    window = (r.start_s - cal.window_origin_s(d.window_s)) // d.window_s
    starts = np.flatnonzero(np.r_[True, (window[1:] != window[:-1]) | (r.device[1:] != r.device[:-1])])
    power = np.add.reduceat(r.quantity, starts) * (3600.0 / d.window_s)
    w_slot = (cal.window_origin_s(d.window_s) + window[starts] * d.window_s - cal.t0_s) // cal.slot_s
    peaks = np.zeros(METERS * n_periods * d.n_bands)
    np.maximum.at(
        peaks,
        (r.device[starts].astype(np.int64) * n_periods + cal.period[w_slot]) * d.n_bands + d.slot_band[w_slot],
        power,
    )
    return out.reshape(METERS, n_periods, q.n_bands, 2), peaks.reshape(METERS, n_periods, d.n_bands)


def python_readings_per_s(r: IntervalArrays, cal: SlotCalendar, q: QuantitySpec, d: DemandSpec, meters: int) -> float:
    """A plain Python loop of the engine's algorithm on the first ``meters`` meters [readings/s]."""
    n = int(np.searchsorted(r.device, meters))
    device, start, qty = r.device[:n].tolist(), r.start_s[:n].tolist(), r.quantity[:n].tolist()
    slot_period, q_band, d_band = cal.period.tolist(), q.slot_band.tolist(), d.slot_band.tolist()
    limit, t0, slot_s, window_s = float(TIER_LIMITS[0]), cal.t0_s, cal.slot_s, d.window_s
    origin = cal.window_origin_s(window_s)

    def run() -> None:
        out: dict[tuple[int, int, int, int], float] = {}
        peaks: dict[tuple[int, int, int], float] = {}
        running, last_key, window, acc, w_key = 0.0, None, None, 0.0, None
        for i in range(n):
            dev, ts, x = device[i], start[i], qty[i]
            slot = (ts - t0) // slot_s
            p = slot_period[slot]
            if (dev, p) != last_key:
                running, last_key = 0.0, (dev, p)
            low = min(max(limit - running, 0.0), x)
            key = (dev, p, q_band[slot])
            out[(*key, 0)] = out.get((*key, 0), 0.0) + low
            out[(*key, 1)] = out.get((*key, 1), 0.0) + x - low
            running += x
            w = (dev, (ts - origin) // window_s)
            if w != window:
                if w_key is not None:
                    peaks[w_key] = max(peaks.get(w_key, 0.0), acc * 3600.0 / window_s)
                window, acc, w_key = w, 0.0, (dev, p, d_band[slot])
            acc += x
        if w_key is not None:
            peaks[w_key] = max(peaks.get(w_key, 0.0), acc * 3600.0 / window_s)

    return n / best_of(2, run)


def sam_intervals_per_s() -> float | None:
    """NREL SAM Utilityrate5 on one meter-year of 15-minute load with TOU + tiers + demand [intervals/s]."""
    try:
        import PySAM.Utilityrate5 as ur  # type: ignore[import-untyped]
        import PySAM.UtilityRateTools as urt  # type: ignore[import-untyped]
    except ImportError:
        return None
    schedule = [list(row) for row in WEEKDAY]
    rate = {
        "energyratestructure": [[{"rate": 0.1 + 0.05 * b, "max": 12.0}, {"rate": 0.12 + 0.05 * b}] for b in range(3)],
        "energyweekdayschedule": schedule,
        "energyweekendschedule": [list(row) for row in WEEKEND],
        "demandratestructure": [[{"rate": 0.0}], [{"rate": 9.5}]],
        "demandweekdayschedule": [[int(7 <= h < 22) for h in range(24)] for _ in range(12)],
        "demandweekendschedule": [[0] * 24 for _ in range(12)],
    }
    load = (np.random.default_rng(1).gamma(2.0, 0.15, size=35040) * 4).tolist()  # [kW] per 15 minutes

    def run() -> None:
        model = ur.new()
        model.ElectricityRates.assign(urt.URDBv8_to_ElectricityRates(json.loads(json.dumps(rate))))
        model.Load.load = load
        model.SystemOutput.gen = [0.0] * len(load)
        model.Lifetime.analysis_period = 1
        model.Lifetime.system_use_lifetime_output = 0
        model.Lifetime.inflation_rate = 0
        model.SystemOutput.degradation = [0]
        model.ElectricityRates.rate_escalation = [0]
        model.execute()

    return len(load) / best_of(5, run)


def cold_start_s(cache_dir: Path, csv: Path, tariff: Path) -> float:
    """Wall time [s] of one ``meterbill rate`` process with ``cache_dir`` as the Numba cache."""
    probe = [sys.executable, "-m", "meterbill", "rate", "--help"]
    registered = subprocess.run(probe, capture_output=True, cwd=ROOT, check=False).returncode == 0
    if registered:
        command = [sys.executable, "-m", "meterbill", "rate"]
    else:  # not yet registered in meterbill/cli.py: the same command function through typer
        command = [
            sys.executable,
            "-c",
            "import sys, typer; from meterbill.cli_rate import rate; app = typer.Typer(); "
            "app.command('rate')(rate); app.command('x')(lambda: None); app(sys.argv[1:])",
            "rate",
        ]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    start = time.perf_counter()
    subprocess.run(
        [*command, "--tariff", str(tariff), "--readings", str(csv), "--format", "json"],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
    )
    return time.perf_counter() - start


def cold_starts() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "readings.csv"
        rows = ["device_id,ts,value,unit"] + [f"m-1,{START_S + 900 * i},0.25,kWh" for i in range(96 * 31)]
        csv.write_text("\n".join(rows) + "\n")
        tariff = ROOT / "rating/examples/us_commercial_tou_demand.json"
        cache = Path(tmp) / "numba-cache"
        without = cold_start_s(cache, csv, tariff)  # empty cache: compiles
        with_cache = cold_start_s(cache, csv, tariff)  # the cache the first run wrote
        return without, with_cache


def engine(n: int, results: dict[str, float | None], label: str) -> None:
    r = make_readings(n)
    cal = build_calendar(ZONE, int(r.start_s.min()), int((r.start_s + r.length_s).max()) - 1)
    q, d = specs(cal)
    offsets = device_offsets(r.device, METERS)
    all_threads = threads()
    sweep_intervals(r, offsets, cal, q, d)  # compile or load from cache, warm the pages
    parallel = n / best_of(5, lambda: sweep_intervals(r, offsets, cal, q, d))
    set_threads(1)
    single = n / best_of(3, lambda: sweep_intervals(r, offsets, cal, q, d))
    set_threads(all_threads)
    print(
        f"[{label}] numba engine: {parallel / 1e6:8.1f} M readings/s on {all_threads} threads, "
        f"{single / 1e6:8.1f} M readings/s on 1 thread ({parallel / single:.2f}x)"
    )
    results[f"numba_parallel_readings_per_s_{label}"] = parallel
    results[f"numba_1thread_readings_per_s_{label}"] = single
    if label == "10M":
        got, peaks = sweep_intervals(r, offsets, cal, q, d)
        assert got is not None and peaks is not None
        start = time.perf_counter()
        ref_out, ref_peaks = numpy_reference(r, cal, q, d)
        numpy_rate = n / (time.perf_counter() - start)
        np.testing.assert_allclose(got.by_band_tier, ref_out, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(peaks, ref_peaks, rtol=1e-12)
        results["numpy_readings_per_s"] = numpy_rate
        results["python_readings_per_s"] = python_readings_per_s(r, cal, q, d, meters=2_000)
        results["numba_parallel_readings_per_s"] = parallel
        results["numba_1thread_readings_per_s"] = single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 million readings only (under a minute)")
    args = parser.parse_args()
    results: dict[str, float | None] = {}
    bandwidth = memory_bandwidth_gb_per_s()
    bound = bandwidth * 1e9 / BYTES_PER_READING
    print(
        f"memory bandwidth (NumPy copy, read + write): {bandwidth:.1f} GB/s -> bound {bound / 1e6:.0f} M readings/s "
        f"at {BYTES_PER_READING} bytes per reading"
    )
    engine(10_000_000, results, "10M")
    if not args.quick:
        engine(100_000_000, results, "100M")
    sam = sam_intervals_per_s()
    without_cache, with_cache = cold_starts()
    parallel = float(results["numba_parallel_readings_per_s"] or 0.0)
    numpy_rate = float(results["numpy_readings_per_s"] or 1.0)
    python_rate = float(results["python_readings_per_s"] or 1.0)
    print(
        f"numpy reference: {numpy_rate / 1e6:.1f} M readings/s; pure Python (sample, extrapolated): "
        f"{python_rate / 1e6:.2f} M readings/s"
    )
    print(f"NREL SAM Utilityrate5: {'absent' if sam is None else f'{sam / 1e6:.2f} M intervals/s on one core'}")
    print(
        f"ratios: engine / numpy {parallel / numpy_rate:.1f}x, engine / python {parallel / python_rate:.0f}x"
        + ("" if sam is None else f", engine / SAM {parallel / sam:.0f}x")
        + f"; fraction of the bandwidth bound {parallel / bound:.1%}"
    )
    print(f"meterbill rate cold start: {without_cache:.2f} s with an empty Numba cache, {with_cache:.2f} s with it")
    results.update(
        sam_intervals_per_s=sam,
        memory_bandwidth_gb_per_s=bandwidth,
        bandwidth_bound_readings_per_s=bound,
        bandwidth_fraction=parallel / bound,
        numpy_ratio=parallel / numpy_rate,
        python_ratio=parallel / python_rate,
        sam_ratio=None if sam is None else parallel / sam,
        cold_start_no_cache_s=without_cache,
        cold_start_cached_s=with_cache,
        threads=float(threads()),
    )
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
