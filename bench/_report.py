"""What every benchmark script shares: progress on stderr, the failure that voids a run, the ``--pg-url``
option, and the run itself: measured on a throw-away database, reported as a printed table, then every
figure as one JSON object on the last line of stdout (what the tests and CI read).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from _pg import throwaway_database  # bench/_pg.py: the script's own folder is on sys.path

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


class BenchFailure(RuntimeError):
    """A run lost, doubled or refused data, got a wrong result or did not finish: the figures would be meaningless."""


def log(msg: str) -> None:
    """Progress to stderr: stdout holds only the report and its closing JSON line."""
    print(msg, file=sys.stderr, flush=True)


def add_pg_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MB_TEST_PG_URL", DEFAULT_URL),
        help="server to create the throw-away database on (default: $MB_TEST_PG_URL or %(default)s)",
    )


def measure_and_report(
    admin_url: str,
    measure: Callable[[str], dict[str, Any]],
    report: Callable[[dict[str, Any], float], dict[str, Any]],
    *,
    t_start: float,
) -> int:
    """``measure(conninfo)`` on a throw-away database, then ``report(raw, total_s)`` and its JSON line.

    Returns the script's exit status: 1 (after logging why) when the run raised :class:`BenchFailure`.
    """
    try:
        with throwaway_database(admin_url, log) as url:
            raw = measure(url)
    except BenchFailure as exc:
        log(f"FAILED: {exc}")
        return 1
    summary = report(raw, time.perf_counter() - t_start)
    print(json.dumps(summary), flush=True)
    return 0


def print_machine(busy: float | None, total_s: float) -> dict[str, Any]:
    """The closing lines of a report: cores busy before the run (when known), and the total run time [s].

    Returns the same as figures for the JSON line.
    """
    if busy is not None:
        print(
            f"cores busy before the run: {busy:.2f} of {os.cpu_count()}{'  (figures disturbed)' if busy > 0.25 else ''}"
        )
    print(f"total run time: {total_s:.1f} s")
    return {
        "cores": os.cpu_count(),
        "busy_cores_before": None if busy is None else round(busy, 2),
        "total_s": round(total_s, 1),
    }
